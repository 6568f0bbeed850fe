"""Gradient checking as the book teaches it: central differences and a relative error.

Read this beside chapter 3.  The gradient of a scalar function f at x is
approximated one coordinate at a time by the central difference

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)

whose error is O(h^2) from truncation plus O(eps |f| / h) from rounding, and an
analytic gradient a is compared with the numerical one n by the relative error

    max_i |a_i - n_i| / max(|a_i| + |n_i|, floor).

The robust engine beside this module (check_function, check_layer, check_model)
adds what a real check needs: a noise floor, kinks, modes, reports.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _checks
from .._numeric import TINY, relative_errors
from .._types import Array, ArrayLike
from ._validate import scalar, step, writable_array

DEFAULT_H = 1e-5
"""Default step: about cbrt(eps) for float64, where truncation (h^2) and rounding (eps/h) balance."""



def numerical_gradient(f: Callable[[Array], Any], x: Array, h: float = DEFAULT_H) -> Array:
    """Gradient of a scalar function f at x by central differences.

    f(x) -> float (f may also ignore its argument and read x through a closure).
    x: float ndarray of any shape, changed in place one entry at a time and restored
    exactly afterwards, even if f raises.  Returns g (float64, x's shape) with
        g[i] = (f(x + h e_i) - f(x - h e_i)) / (2h).
    The denominator is the step actually taken, (x_i + h) - (x_i - h) after rounding.
    Cost: 2 * x.size evaluations of f.
    """
    x, h = writable_array(x, "x", "numerical_gradient"), step(h, "numerical_gradient")
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        try:
            x[i] = old + h
            up, f_up = x[i], scalar(f(x), "numerical_gradient")
            x[i] = old - h
            down, f_down = x[i], scalar(f(x), "numerical_gradient")
        finally:
            x[i] = old
        grad[i] = (f_up - f_down) / (float(up) - float(down))
    return grad


def numerical_jacobian(f: Callable[[Array], Any], x: Array, h: float = DEFAULT_H) -> Array:
    """Jacobian of f: array -> array by central differences, in numerator layout.

    x: float ndarray of any shape, restored afterwards; f(x): an array of any shape.
    Returns Jac of shape (f(x).size, x.size), flattened in C order:
        Jac[i, j] = d f(x)_i / d x_j ~ (f(x + h e_j)_i - f(x - h e_j)_i) / (2h)
    One row per output, one column per input: for f(x) = A x the result is A, and
    the vector-Jacobian product dJ/dx = Jac^T dJ/dout.  Cost: 2 * x.size evaluations.
    """
    where = "numerical_jacobian"
    x, h = writable_array(x, "x", where), step(h, where)
    out_shape = np.shape(f(x))
    jac = np.zeros((int(np.prod(out_shape)), x.size))
    for j, i in enumerate(np.ndindex(x.shape)):
        old = x[i]
        try:
            x[i] = old + h
            up, f_up = x[i], np.array(f(x), dtype=np.float64)  # a copy: f may reuse a buffer
            x[i] = old - h
            down, f_down = x[i], np.array(f(x), dtype=np.float64)
        finally:
            x[i] = old
        if f_up.shape != out_shape or f_down.shape != out_shape:
            raise ValueError(f"{where}: f must return arrays of one shape; got {out_shape} at x, "
                             f"{f_up.shape} and {f_down.shape} after perturbing x{list(i)}")
        jac[:, j] = (f_up - f_down).ravel() / (float(up) - float(down))
    return jac


def relative_error(a: ArrayLike, b: ArrayLike, floor: float | None = None) -> float:
    """The largest entry-wise relative error between two arrays of the same shape:

        relative_error(a, b) = max_i |a_i - b_i| / max(|a_i| + |b_i|, floor)

    One number in [0, 1]: 0 when equal, 1 when an entry differs in sign or one side
    is 0.  Symmetric, and unchanged when both are multiplied by a non-zero constant
    (while the floor does not matter).  floor defaults to the smallest normal float64,
    which only avoids 0/0; pass a larger one (the rounding noise of the finite
    difference) to judge entries at the noise level by their absolute error.
    relative_errors(a, b, floor) gives the entry-wise array.
    """
    where = "relative_error"
    a_arr = np.asarray(a, dtype=np.float64) if np.ndim(a) == 0 else _checks.float_array(a, "a", where)
    b_arr = np.asarray(b, dtype=np.float64) if np.ndim(b) == 0 else _checks.float_array(b, "b", where)
    _checks.same_shape(a_arr, b_arr, ("a", "b"), where)
    floor = TINY if floor is None else float(floor)
    if not floor > 0:
        raise ValueError(f"{where}: floor must be positive, got {floor}")
    if a_arr.size == 0:
        return 0.0
    return float(np.max(relative_errors(a_arr.astype(np.float64), b_arr.astype(np.float64), floor)))


def check_gradient(f: Callable[[Array], Any], x: Array, grad: ArrayLike, h: float = DEFAULT_H,
                   tol: float = 1e-7, floor: float | None = None) -> float:
    """Compare an analytic gradient ``grad`` of f at x with numerical_gradient(f, x, h).

    Returns the relative error; raises AssertionError when it is tol or more.
    A correct float64 gradient typically gives 1e-9 or less, a wrong one 1e-2 or more.
    Entries that are 0 on both sides up to rounding need a floor (see relative_error).
    """
    error = relative_error(grad, numerical_gradient(f, x, h), floor)
    if not error < tol:
        raise AssertionError(f"check_gradient: relative error {error:.2e} is not below {tol:g}: "
                             "the analytic gradient disagrees with central differences")
    return error
