"""Argument checks of the gradient checkers, in the style of coursekit._checks."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _checks
from .._types import Array


def step(h: Any, where: str) -> float:
    """The finite-difference step h as a positive, finite float."""
    try:
        h = float(h)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: h must be a positive float step, got {h!r}") from None
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"{where}: h must be a positive, finite step, got {h}")
    return float(h)


def count(n: Any, name: str, where: str) -> int:
    """A positive int (k coordinates, a number of directions)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {n!r}")
    return int(n)


def writable_array(x: Any, name: str, where: str) -> Array:
    """x is perturbed in place, so it must already be a writable float ndarray."""
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{where}: {name} must be a numpy float array (it is perturbed in place), "
            f"got {type(x).__name__}; use np.asarray({name}, dtype=np.float64)"
        )
    _checks.float_array(x, name, where)
    if not x.flags.writeable:
        raise ValueError(f"{where}: {name} must be writable (it is perturbed in place and restored)")
    return x


def scalar(value: Any, where: str, what: str = "f") -> float:
    """The value of a loss: a Python float, from anything of dimension 0."""
    if np.ndim(value) != 0:
        raise ValueError(
            f"{where}: {what} must return a scalar (a loss), got an array of shape {np.shape(value)}"
        )
    return float(value)
