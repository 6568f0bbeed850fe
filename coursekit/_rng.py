"""One rule for randomness: every function that draws numbers takes ``rng``."""
from __future__ import annotations

from typing import Any

import numpy as np


def as_generator(rng: Any) -> np.random.Generator:
    """Turn ``rng`` (a Generator, an int seed or None) into a numpy Generator.

    A Generator is used as it is, so the caller's stream advances; an int gives a
    fresh, reproducible stream; None gives fresh entropy.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
    )
