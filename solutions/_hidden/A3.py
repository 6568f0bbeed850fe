"""Hidden test cases of assignment A3 (instructor only: never part of the coursekit package).

One function per hidden test cell, named after its nbgrader grade_id; each
returns the check's cases as a list of (description, inputs), inputs being a
dict of NumPy arrays.  The grader imports this file from the course root
(``coursekit grade --course-root``, $COURSEKIT_COURSE_ROOT or the repository)
when it grades; the sandboxed student code never sees it, only the arrays.
The call and the judge of each check live in coursekit/_grader/checks_a3.py,
whose docstring explains why the cases look the way they do.
"""
import numpy as np

from coursekit._grader.checks_a3 import _bn_case, _gc_case, _klayer_case, _test_case


def _bn_cases(seed):
    rng = np.random.default_rng(seed)
    n, d = (int(v) for v in rng.integers(3, 10, size=2))
    return [
        (f"random shapes N={n}, D={d}", _bn_case(rng, n, d)),
        ("a batch of 2", _bn_case(rng, 2, 5)),
        ("a constant feature (variance 0)", _bn_case(rng, 7, 3, constant=True)),
        ("large offset and scale (mean 1000, sd 50)", _bn_case(rng, 8, 4, offset=1000.0, scale=50.0)),
    ]


def bn_forward_hidden():
    return _bn_cases(120)


def bn_backward_hidden():
    return _bn_cases(122)


def bn_running_hidden():
    rng = np.random.default_rng(121)
    return [
        ("test mode with a batch of 1, momentum 0.5", _test_case(rng, 1, 6, 0.5)),
        ("momentum 0.99, N=9, D=2", _test_case(rng, 9, 2, 0.99)),
        ("momentum 0 (running = batch statistics)", _test_case(rng, 4, 3, 0.0)),
        ("running variance 0 and a constant feature", _test_case(rng, 3, 4, 0.8, constant=True)),
    ]


def klayer_hidden():
    rng = np.random.default_rng(123)
    return [
        ("k=2 without batch norm, lam=0", _klayer_case(rng, 5, [3, 6, 4], 0.0, False)),
        ("k=4 with batch norm, lam=0.05", _klayer_case(rng, 7, [5, 4, 6, 3, 3], 0.05, True)),
        ("k=3 with batch norm, a batch of 2", _klayer_case(rng, 2, [4, 3, 5, 2], 0.02, True)),
        ("k=1 (a linear classifier), lam=0.1", _klayer_case(rng, 4, [6, 3], 0.1, True)),
    ]


def gradcheck_hidden():
    rng = np.random.default_rng(124)
    shapes = {"W1": (8, 10), "gamma1": (2,), "W2": (1, 2)}
    return [("one wrong entry of dJ/dW1 (the max over entries, not the mean)",
             _gc_case(rng, shapes, wrong="W1", how="one_entry")),
            ("a 3-D parameter and a parameter of size 1",
             _gc_case(rng, {"K": (2, 2, 2), "c": (1,)}, wrong="c"))]
