"""What the assignments' test cells call, and the comparisons behind their messages.

In a student's notebook, ``grading.check("linear_visible")`` runs the visible
cases of a part (declared in the assignment's ``checks.py``, next to the
notebook) on the student's functions and compares the results with the
instructor's solution's outputs on the same cases (``visible_expected.npz``,
released with the notebook).  A failing case says which array is wrong, by
how much, and how to rebuild its inputs and call the function on them.

The grade an instructor records is computed elsewhere: ``coursekit grade``
(or nbgrader with the course's configuration) runs the notebook in a sandbox
and judges every check -- visible and hidden -- in its own process.  There,
``check`` raises :class:`GradingDeferred`.

Hidden cases are written inside nbgrader's hidden-test blocks of the
instructor's notebook (``@grading.hidden_cases("linear_hidden")``), so they
are never released.  Run anywhere but in the instructor's source folder --
for instance by ``nbgrader autograde`` with a configuration that does not use
the sandbox -- they refuse loudly instead of grading in the student's kernel.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from coursekit import data
from coursekit.grading.compare import GradingError, assert_close, assert_gradients, describe_mismatch, relative_errors
from coursekit.grading.local import SOURCE_MARKER, load_checks, run_visible, smoke_test_hidden

__all__ = [
    "GradingError",
    "GradingDeferred",
    "HiddenCheckRefused",
    "describe_mismatch",
    "assert_close",
    "assert_gradients",
    "relative_errors",
    "digits_split",
    "check",
    "hidden_cases",
]

SANDBOX_ENV = "COURSEKIT_GRADER_SANDBOX"


class GradingDeferred(Exception):
    """Raised by :func:`check` inside the grader's sandbox: the grader decides, not the notebook.

    A test cell that finishes *without* this exception there had its helpers
    replaced, which the grader reports as tampering.
    """


class HiddenCheckRefused(RuntimeError):
    """A hidden check was about to run in a kernel that may hold a student's code."""


def digits_split(seed: int = 0, n_val: int = 500):
    """scikit-learn's 8x8 handwritten digits (``coursekit.data.digits``), split at random.

    Returns X_train: (N - n_val, 64), y_train: (N - n_val,), X_val: (n_val, 64),
    y_val: (n_val,) with N = 1797 and pixels in [0, 1]; the same ``seed`` gives
    the same split.  The data ship inside scikit-learn: nothing is downloaded.
    """
    X, y = data.digits()
    order = np.random.default_rng(seed).permutation(len(y))
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]


def _caller_globals(depth: int = 2) -> dict:
    return sys._getframe(depth).f_globals


def check(name: str, namespace: dict | None = None) -> None:
    """Run the visible check ``name`` (a test cell's grade id) on the functions of the notebook.

    ``namespace`` defaults to the calling notebook's globals.  Raises
    :class:`GradingError` naming every failing case; prints one line on success.
    """
    if os.environ.get(SANDBOX_ENV) == "1":
        raise GradingDeferred(f"{name}: checked by the grader outside this notebook")
    namespace = _caller_globals() if namespace is None else namespace
    verdict = run_visible(name, namespace, os.getcwd())
    if not verdict.passed:
        raise GradingError(verdict.message())
    print(verdict.message())


def hidden_cases(name: str):
    """Decorator of the hidden cases of the test cell ``name``, inside a hidden-test block.

    The grader reads the block from the instructor's notebook and calls the
    decorated function in its own process.  Run in a kernel, the block is
    allowed only in the instructor's source folder (next to ``solutions/``'s
    marker file), where it runs the cases on the instructor's solution as a
    smoke test; anywhere else it stops the kernel with a message for the
    instructor, so that no grade is recorded from a student's kernel.
    """
    def decorate(make_cases):
        folder = os.path.dirname(os.getcwd())
        if not os.path.exists(os.path.join(folder, SOURCE_MARKER)):
            refuse(name)
        namespace = _caller_globals()
        namespace.setdefault("checks", load_checks(os.getcwd())[1])  # as the grader gives a hidden block
        print(smoke_test_hidden(name, make_cases(), namespace, os.getcwd()))
        return make_cases
    return decorate


REFUSAL = """
coursekit: the hidden test {name!r} was run inside the notebook's own kernel.
Hidden tests of coursekit assignments are graded only by the course's grader,
which runs student code in a sandbox and judges it outside. This looks like
`nbgrader autograde` with a configuration that does not use it, so this
submission is stopped instead of being given a grade.
Grade with the course configuration: run nbgrader from the course folder
(its nbgrader_config.py), or use `coursekit grade {assignment}`.
"""


def refuse(name: str) -> None:
    """Tell the instructor loudly, then end this kernel: a student's kernel must not grade."""
    message = REFUSAL.format(name=name, assignment=os.path.basename(os.getcwd()) or "ASSIGNMENT")
    try:
        os.write(2, message.encode())
    finally:
        os._exit(86)  # nbgrader records a failed submission (no score), not a grade
    raise HiddenCheckRefused(message)  # unreachable, for readers and type checkers

