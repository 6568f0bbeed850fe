"""Type aliases shared by the library's annotations (no runtime behaviour)."""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
"""A NumPy array (float32 or float64 unless a docstring says otherwise)."""

ArrayLike = npt.ArrayLike
"""Anything np.asarray accepts; the functions check dtype and shape themselves."""

Seed = np.random.Generator | int | None
"""What every function that draws random numbers takes as ``rng``."""
