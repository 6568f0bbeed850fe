"""Hidden test cases of assignment A1 (instructor only: never part of the coursekit package).

One function per hidden test cell, named after its nbgrader grade_id; each
returns the check's cases as a list of (description, inputs), inputs being a
dict of NumPy arrays.  The grader imports this file from the course root
(``coursekit grade --course-root``, $COURSEKIT_COURSE_ROOT or the repository)
when it grades; the sandboxed student code never sees it, only the arrays.
The call and the judge of each check live in coursekit/_grader/checks.py.
"""
import numpy as np

from coursekit._grader.checks import _strided


def _vector_cases(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    wide = _strided(rng.standard_normal(6), rng)
    return [(f"random size {n}", {"s": rng.standard_normal(n)}),
            ("a vector of length 1", {"s": rng.standard_normal(1)}),
            ("large entries (|s| up to 1000)", {"s": 1000 * rng.standard_normal(5)}),
            ("a non-contiguous s", {"s_wide": wide})]


def tanh_jacobian_hidden():
    return _vector_cases(30)


def softmax_jacobian_hidden():
    return _vector_cases(32)


def linear_jacobian_hidden():
    rng = np.random.default_rng(31)
    shapes = [tuple(int(v) for v in rng.integers(1, 8, size=2)), (1, 5), (6, 1)]
    cases = []
    for m, d in shapes:
        cases.append((f"W ({m}, {d})", {"W": rng.standard_normal((m, d)), "x": rng.standard_normal(d),
                                       "b": rng.standard_normal(m)}))
    cases.append(("a non-contiguous W", {"W_t": rng.standard_normal((4, 3)),
                                         "x": rng.standard_normal(4), "b": rng.standard_normal(3)}))
    return cases


def softmax_vjp_hidden():
    rng = np.random.default_rng(33)
    wide = _strided(rng.standard_normal((4, 6)), rng)
    return [
        ("a batch of 1", {"s": rng.standard_normal((1, 7)), "g": rng.standard_normal((1, 7))}),
        ("large logits", {"s": 500 * rng.standard_normal((3, 6)), "g": rng.standard_normal((3, 6))}),
        ("non-contiguous s", {"s_wide": wide, "g": rng.standard_normal((4, 6))}),
        # a C x C Jacobian here would need 3.2 GB: only a real VJP fits the memory limit
        ("C = 20000 classes", {"s": rng.standard_normal((2, 20000)), "g": rng.standard_normal((2, 20000))}),
    ]


def tensor_hidden():
    rng = np.random.default_rng(34)
    shapes = [tuple(int(v) for v in rng.integers(1, 6, size=2)), (1, 4), (3, 1)]
    return [(f"W ({m}, {d})", {"W": rng.standard_normal((m, d)), "x": rng.standard_normal(d),
                               "y": rng.standard_normal(m)}) for m, d in shapes]
