"""The relative error of two arrays, shared by the gradient checker and the grader.

It lives here, not in ``gradcheck``, because the grader's sandbox holds no
``gradcheck`` (an assignment may ask students to write one), while both need
the same formula.
"""
from __future__ import annotations

import numpy as np

from ._types import Array

TINY = float(np.finfo(np.float64).tiny)
"""The smallest normal float64: as a floor it only avoids 0/0."""


def relative_errors(a: Array, b: Array, floor: float = TINY) -> Array:
    """Entry-wise |a - b| / max(|a| + |b|, floor), for two arrays of one shape.

    0 for equal entries, 1 when they differ in sign or one of them is 0.
    """
    errors: Array = np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)
    return errors
