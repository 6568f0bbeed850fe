"""Input checks shared by every coursekit function.

Each check either returns a clean array or raises an exception whose message
names *where* the problem was found (the function or layer), what was expected
and what was received.  NumPy would often "work" on wrong input by broadcasting
silently; these checks stop that early, with a message a student can act on.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._types import Array

FLOAT_DTYPES = (np.float32, np.float64)


def float_array(x: Any, name: str, where: str) -> Array:
    """Return ``x`` as an ndarray, requiring a float32 or float64 dtype.

    Integers would truncate gradients and float16 loses too many digits for a
    gradient check, so both are refused instead of being converted silently.
    """
    arr = np.asarray(x)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{where}: {name} must be a float32 or float64 array, got dtype {arr.dtype}"
            + (" (convert with .astype(np.float64))" if arr.dtype.kind in "iub" else "")
        )
    return arr


def batch(x: Any, name: str, where: str, features: int | None = None) -> Array:
    """Return ``x`` as a float batch of shape (N, D), optionally with D == ``features``."""
    arr = float_array(x, name, where)
    if arr.ndim != 2:
        hint = " (for a single example use x.reshape(1, -1))" if arr.ndim == 1 else ""
        raise ValueError(
            f"{where}: {name} must be a batch of shape (N, D), one example per row; "
            f"got a {arr.ndim}-D array of shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{where}: {name} is an empty batch (shape {arr.shape})")
    if features is not None and arr.shape[1] != features:
        raise ValueError(
            f"{where}: expected {name} of shape (N, {features}), got {arr.shape}"
        )
    return arr


def shape(x: Any, expected: tuple[int, ...], name: str, where: str) -> Array:
    """Return ``x`` (a float array) after checking it has exactly ``expected`` shape."""
    arr = float_array(x, name, where)
    if arr.shape != tuple(expected):
        raise ValueError(
            f"{where}: expected {name} of shape {tuple(expected)}, got {arr.shape}"
        )
    return arr


def weights_fit_batch(x: Array, W: Array, where: str) -> None:
    """Raise, naming both shapes and the likely cause, unless x: (N, d) and W: (m, d) agree on d.

    The product is S = x W^T (W stored as (out, in)), so d = x.shape[1] must equal W.shape[1].
    Reporting only "expected x of shape (N, d)" would blame x when, more often, W is transposed.
    """
    d, d_w = x.shape[1], W.shape[1]
    if d == d_w:
        return
    if d == W.shape[0]:
        cause = (f"W looks transposed: coursekit stores W as (out, in) = (m, d), so with d = {d} "
                 f"features W should have shape ({d_w}, {d}); pass W.T")
    elif x.shape[0] == d_w:
        cause = "x looks transposed: a batch has one example per row, shape (N, d); pass x.T"
    else:
        cause = "W is (out, in) = (m, d) and x is (N, d): check which layer or data each came from"
    raise ValueError(
        f"{where}: x of shape {x.shape} and W of shape {W.shape} do not fit S = x W^T + b: x has {d} "
        f"features per row but W takes {d_w} inputs. {cause}"
    )


def finite(x: Array, name: str, where: str) -> Array:
    """Raise if ``x`` holds NaN or inf (a loss of NaN teaches nothing)."""
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise FloatingPointError(
            f"{where}: {name} contains NaN or inf (first at index {tuple(int(i) for i in bad)}, "
            f"value {x[tuple(bad)]}); check the learning rate and the layers before this one"
        )
    return x


def labels(y: Any, n: int, num_classes: int, where: str) -> Array:
    """Return integer class labels of shape (n,) with values in [0, num_classes)."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape == (n, num_classes):
        raise ValueError(
            f"{where}: labels y of shape {arr.shape} look one-hot (one column per class); coursekit "
            f"takes class indices of shape ({n},): convert with coursekit.data.from_one_hot(y)"
        )
    if arr.dtype.kind not in "iu":
        whole = arr.dtype.kind == "f" and arr.size > 0 and bool(np.all(np.mod(arr, 1) == 0))
        raise TypeError(
            f"{where}: labels y must be an integer array of class indices, got dtype {arr.dtype}"
            + (" (its values are whole numbers: use y.astype(int))" if whole else "")
        )
    if arr.shape != (n,):
        raise ValueError(
            f"{where}: expected labels y of shape ({n},), one per row of the scores, got {arr.shape}"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"{where}: labels y must lie in [0, {num_classes - 1}] for {num_classes} classes, "
            f"got values from {arr.min()} to {arr.max()}"
        )
    return arr


def probability(p: float, name: str, where: str, allow_one: bool = False) -> float:
    """Return ``p`` as a float after checking 0 <= p < 1 (or <= 1 when ``allow_one``)."""
    p = float(p)
    upper_ok = p <= 1.0 if allow_one else p < 1.0
    if not (0.0 <= p and upper_ok):
        bound = "]" if allow_one else ")"
        raise ValueError(f"{where}: {name} must lie in [0, 1{bound}, got {p}")
    return p


def same_shape(a: Array, b: Array, names: tuple[str, str], where: str) -> None:
    """Raise unless ``a`` and ``b`` have identical shapes (no broadcasting)."""
    if a.shape != b.shape:
        raise ValueError(
            f"{where}: {names[0]} and {names[1]} must have the same shape, "
            f"got {a.shape} and {b.shape}"
        )
