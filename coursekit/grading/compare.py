"""Comparing a student's arrays with the expected ones, and saying what is wrong.

Every message names the array (``dx``, ``dW``, ``grads['W1']``), compares its
shape and dtype with the expected ones and gives the largest relative error
and where it occurs -- never an expected value, so a failing hidden test does
not hand out the answer.

    >>> import numpy as np
    >>> print(describe_mismatch("dW", np.zeros((2, 3)), np.ones((2, 3))))
    dW: wrong values, max relative error 1.0e+00 at index (0, 0), 6 of 6 entries wrong (tolerance
    rtol=1e-06, atol=1e-09)

(printed here on two lines; the message is one line).

The relative error of one entry is |a - e| / max(|a| + |e|, tiny), as in a
gradient check: 0 for equal entries, 1 when one of them is 0 and the other not.
"""
from __future__ import annotations

import numpy as np

from coursekit import _numeric

RTOL = 1e-6
ATOL = 1e-9


class GradingError(AssertionError):
    """A test of an assignment failed; the message says what to fix."""


def relative_errors(actual, expected) -> np.ndarray:
    """Entry-wise |a - e| / max(|a| + |e|, tiny) in float64; same shape as the inputs."""
    return _numeric.relative_errors(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64))


def as_numeric(value) -> np.ndarray | None:
    """``value`` as an ndarray if it holds numbers (bool, int, float), else None."""
    try:
        arr = np.asarray(value)
    except Exception:  # anything that is not an array is "not numeric"
        return None
    return arr if arr.dtype.kind in "biuf" else None


def describe_mismatch(name: str, actual, expected, rtol: float = RTOL, atol: float = ATOL,
                      check_dtype: bool = True) -> str | None:
    """Why ``actual`` does not match ``expected``, or None when it does.

    Checks, in order: numeric type, shape, dtype (floating kind and precision),
    NaN/inf, then values with ``|a - e| <= atol + rtol |e|`` entry-wise.
    """
    exp = np.asarray(expected)
    act = as_numeric(actual)
    if act is None:
        return f"{name}: expected a numeric array of shape {exp.shape}, got {type(actual).__name__}"
    if act.shape != exp.shape:
        return f"{name}: wrong shape {act.shape}, expected {exp.shape}" + _shape_hint(act.shape, exp.shape)
    if check_dtype and exp.dtype.kind == "f" and act.dtype != exp.dtype:
        return f"{name}: wrong dtype {act.dtype}, expected {exp.dtype}"
    if act.dtype.kind == "f" and not np.all(np.isfinite(act)):
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(act))[0]) if act.ndim else ()
        return f"{name}: contains NaN or inf (first at index {first})"
    a, e = act.astype(np.float64), exp.astype(np.float64)
    close = np.abs(a - e) <= atol + rtol * np.abs(e)
    if np.all(close):
        return None
    rel = np.where(close, 0.0, relative_errors(a, e))
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(rel)), rel.shape)) if rel.ndim else ()
    n_wrong = int(close.size - np.count_nonzero(close))
    more = f", {n_wrong} of {close.size} entries wrong" if close.size > 1 else ""
    return (f"{name}: wrong values, max relative error {float(rel[idx]):.1e} at index {idx}{more} "
            f"(tolerance rtol={rtol:g}, atol={atol:g})")


def _shape_hint(got: tuple, want: tuple) -> str:
    """A likely cause of a shape mismatch: a transpose, a missing axis or keepdims."""
    if len(got) == 2 and got == want[::-1]:
        return " -- the transpose of what is expected (check the order of the matrix product)"
    if got == tuple(d for d in want if d != 1) or want == tuple(d for d in got if d != 1):
        return " -- the same entries with an axis of length 1 added or dropped (keepdims? reshape?)"
    return ""


def assert_close(name: str, actual, expected, rtol: float = RTOL, atol: float = ATOL,
                 check_dtype: bool = True) -> None:
    """Raise :class:`GradingError` with :func:`describe_mismatch`'s message if they differ."""
    problem = describe_mismatch(name, actual, expected, rtol, atol, check_dtype)
    if problem is not None:
        raise GradingError(problem)


def mismatches(pairs, rtol: float = RTOL, atol: float = ATOL) -> list:
    """``pairs``: [(name, actual, expected)] -> at most one problem naming every wrong array.

    The message also lists the arrays that are right, so a student knows which
    formula to revisit.
    """
    problems, right = [], []
    for name, actual, expected in pairs:
        problem = describe_mismatch(name, actual, expected, rtol, atol)
        (problems.append(problem) if problem else right.append(name))
    if not problems:
        return []
    ok = f" (correct: {', '.join(right)})" if right else ""
    return ["; ".join(problems) + ok]


def assert_gradients(actual: dict, expected: dict, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Compare dicts of gradients key by key; raise naming every wrong one and the right ones."""
    missing = [f"{key}: missing" for key in expected if key not in actual]
    found = [(key, actual[key], value) for key, value in expected.items() if key in actual]
    problems = mismatches(found, rtol, atol)
    if missing or problems:
        raise GradingError("; ".join(missing + problems))
