"""Helpers that the assignments' test cells call, and their messages to students.

Every comparison reports what a student can act on -- the name of the wrong
array (``dx``, ``dW`` or ``db``), its shape and dtype against the expected ones,
the largest relative error and where it occurs -- and never the expected
values themselves, so a failing test does not hand out the answer.

    >>> import numpy as np
    >>> describe_mismatch("dW", np.zeros((2, 3)), np.ones((2, 3)))
    'dW: wrong values, max relative error 1.0e+00 at index (0, 0), 6 of 6 entries wrong (tolerance rtol=1e-06, atol=1e-09)'

The relative error of one entry is |a - e| / max(|a| + |e|, tiny), as in a
gradient check: 0 for equal entries, 1 when one of them is 0 and the other not.

The test cells of an assignment call :func:`check`, which runs a named check
(inputs, calls to the student's functions, comparisons) inside the notebook.
That in-notebook verdict helps the student while they work; the grade an
instructor records is recomputed outside the student's process by
``coursekit grade`` (see ``coursekit/_grader``), so patching this module, numpy
or the notebook's display cannot change a grade.
"""
from __future__ import annotations

import functools
import os

import numpy as np

__all__ = [
    "GradingError",
    "GradingDeferred",
    "describe_mismatch",
    "assert_close",
    "assert_gradients",
    "relative_errors",
    "digits_split",
    "check",
]

RTOL = 1e-6
ATOL = 1e-9


class GradingError(AssertionError):
    """A test of an assignment failed; the message says what to fix."""


class GradingDeferred(Exception):
    """Raised by :func:`check` inside the grader's sandbox: the grader decides, not the notebook.

    A test cell that finishes *without* this exception there has had its test
    helpers replaced, which the grader reports as tampering.
    """


SANDBOX_ENV = "COURSEKIT_GRADER_SANDBOX"


def relative_errors(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Entry-wise |a - e| / max(|a| + |e|, tiny); same shape as the inputs."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    denom = np.maximum(np.abs(a) + np.abs(e), np.finfo(np.float64).tiny)
    return np.abs(a - e) / denom


def _as_numeric(value):
    """``value`` as an ndarray if it is numeric, else None."""
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - any failure means "not an array"
        return None
    if arr.dtype.kind not in "biuf":
        return None
    return arr


def describe_mismatch(name: str, actual, expected, rtol: float = RTOL, atol: float = ATOL,
                      check_dtype: bool = True) -> str | None:
    """Why ``actual`` does not match ``expected``, or None when it does.

    Checks, in order: numeric type, shape, dtype (floating kind and precision),
    NaN/inf, then values with ``|a - e| <= atol + rtol |e|`` entry-wise.  The
    message names ``name`` and gives shapes, dtypes and the largest relative
    error with its index, but never an expected value.
    """
    exp = np.asarray(expected)
    act = _as_numeric(actual)
    if act is None:
        return f"{name}: expected a numeric array of shape {exp.shape}, got {type(actual).__name__}"
    if act.shape != exp.shape:
        return f"{name}: wrong shape {act.shape}, expected {exp.shape}"
    if check_dtype and exp.dtype.kind == "f" and act.dtype != exp.dtype:
        return f"{name}: wrong dtype {act.dtype}, expected {exp.dtype}"
    if act.dtype.kind == "f" and not np.all(np.isfinite(act)):
        bad = np.argwhere(~np.isfinite(act))
        where = tuple(int(i) for i in bad[0]) if act.ndim else ()
        return f"{name}: contains NaN or inf (first at index {where})"
    a = act.astype(np.float64)
    e = exp.astype(np.float64)
    close = np.abs(a - e) <= atol + rtol * np.abs(e)
    if np.all(close):
        return None
    rel = relative_errors(a, e)
    rel_masked = np.where(close, 0.0, rel)
    idx = np.unravel_index(int(np.argmax(rel_masked)), rel.shape) if rel.ndim else ()
    idx = tuple(int(i) for i in idx)
    n_wrong = int(np.size(close) - np.count_nonzero(close))
    more = f", {n_wrong} of {np.size(close)} entries wrong" if np.size(close) > 1 else ""
    return (f"{name}: wrong values, max relative error {float(rel_masked[idx]):.1e} "
            f"at index {idx}{more} (tolerance rtol={rtol:g}, atol={atol:g})")


def assert_close(name: str, actual, expected, rtol: float = RTOL, atol: float = ATOL,
                 check_dtype: bool = True) -> None:
    """Raise :class:`GradingError` with :func:`describe_mismatch`'s message if they differ."""
    problem = describe_mismatch(name, actual, expected, rtol, atol, check_dtype)
    if problem is not None:
        raise GradingError(problem)


def assert_gradients(actual: dict, expected: dict, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Compare dicts of gradients (``{"dx": ..., "dW": ..., "db": ...}``) key by key.

    The message lists every wrong gradient by name, and says which are right,
    so the student knows which formula to revisit.
    """
    problems, right = [], []
    for key, exp in expected.items():
        if key not in actual:
            problems.append(f"{key}: missing")
            continue
        problem = describe_mismatch(key, actual[key], exp, rtol, atol)
        (problems.append(problem) if problem else right.append(key))
    if problems:
        ok = f" (correct: {', '.join(right)})" if right else ""
        raise GradingError("; ".join(problems) + ok)


def digits_split(seed: int = 0, n_val: int = 500):
    """scikit-learn's 8x8 handwritten digits, scaled to [0, 1], split at random.

    Returns X_train: (N - n_val, 64), y_train: (N - n_val,), X_val: (n_val, 64),
    y_val: (n_val,) with N = 1797; the same ``seed`` gives the same split.
    The data ship inside scikit-learn, so nothing is downloaded.
    """
    X, y = _digits()
    order = np.random.default_rng(seed).permutation(len(y))
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]


@functools.lru_cache(maxsize=1)
def _digits():
    """(X, y) of load_digits, read from the CSV file scikit-learn ships.

    Reading the file directly avoids importing sklearn.datasets (about 0.7 s),
    which matters when a grader runs this for every submission; the result is
    identical to ``load_digits()`` (checked in tests/test_grading.py).
    """
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",")
    X = table[:, :-1] / 16.0
    y = table[:, -1].astype(np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def check(assignment: str, name: str, namespace: dict) -> None:
    """Run the check ``name`` of ``assignment`` on the functions in ``namespace``.

    ``namespace`` is the notebook's ``globals()``.  Raises :class:`GradingError`
    naming every failing case, and prints one line on success.  Inside the
    grader's sandbox it raises :class:`GradingDeferred` instead: there the
    grader, not the notebook, decides.
    """
    if os.environ.get(SANDBOX_ENV) == "1":
        raise GradingDeferred(f"{assignment} {name}: checked by the grader outside this notebook")
    from coursekit._grader import checks

    spec = checks.get(assignment, name)
    problems = checks.run_in_process(spec, namespace)
    if problems:
        raise GradingError(f"{assignment} {name}: " + " | ".join(problems))
    print(f"{assignment} {name}: passed")
