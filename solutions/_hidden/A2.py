"""Hidden test cases of assignment A2 (instructor only: never part of the coursekit package).

One function per hidden test cell, named after its nbgrader grade_id; each
returns the check's cases as a list of (description, inputs), inputs being a
dict of NumPy arrays.  The grader imports this file from the course root
(``coursekit grade --course-root``, $COURSEKIT_COURSE_ROOT or the repository)
when it grades; the sandboxed student code never sees it, only the arrays.
The call and the judge of each check live in coursekit/_grader/checks.py.
"""
import numpy as np

from coursekit._grader.checks import _linear_case, _strided, _two_layer_case


def linear_hidden():
    rng = np.random.default_rng(20)
    cases = []
    for _ in range(3):
        n, d, m = (int(v) for v in rng.integers(1, 9, size=3))
        cases.append((f"random shapes N={n}, d={d}, m={m}", _linear_case(rng, n, d, m)))
    cases.append(("a batch of 1", _linear_case(rng, 1, 6, 2)))
    cases.append(("non-contiguous x and W", _linear_case(rng, 5, 4, 3, contiguous=False)))
    return cases


def relu_hidden():
    rng = np.random.default_rng(21)
    zeros = rng.integers(-2, 3, size=(6, 7)).astype(np.float64)  # many entries exactly 0
    wide = _strided(rng.standard_normal((3, 4)), rng)
    return [
        ("inputs exactly at 0", {"x": zeros, "dout": rng.standard_normal((6, 7))}),
        ("a batch of 1", {"x": rng.standard_normal((1, 9)), "dout": rng.standard_normal((1, 9))}),
        ("a 3-D input", {"x": rng.standard_normal((2, 3, 4)), "dout": rng.standard_normal((2, 3, 4))}),
        ("non-contiguous x", {"x_wide": wide, "dout": rng.standard_normal((3, 4))}),
    ]


def softmax_hidden():
    rng = np.random.default_rng(22)
    wide = _strided(rng.standard_normal((4, 5)), rng)
    return [
        ("large logits (about 1000)", {"scores": 1000 + 400 * rng.standard_normal((6, 5)),
                                       "y": rng.integers(0, 5, size=6)}),
        ("large negative logits", {"scores": -3000 + 300 * rng.standard_normal((3, 7)),
                                   "y": rng.integers(0, 7, size=3)}),
        ("a batch of 1", {"scores": rng.standard_normal((1, 3)), "y": np.array([2])}),
        ("non-contiguous scores", {"scores_wide": wide, "y": rng.integers(0, 5, size=4)}),
    ]


def two_layer_hidden():
    rng = np.random.default_rng(23)
    cases = []
    for lam in (0.0, 0.05):
        n, d, h, c = (int(v) for v in rng.integers(2, 9, size=4))
        cases.append((f"random shapes N={n}, D={d}, H={h}, C={c}, lam={lam}",
                      _two_layer_case(rng, n, d, h, c, lam)))
    cases.append(("a batch of 1, lam=0.3", _two_layer_case(rng, 1, 5, 4, 3, 0.3)))
    return cases


def numgrad_hidden():
    rng = np.random.default_rng(24)
    wide = _strided(rng.standard_normal((3, 4)), rng)
    return [
        ("a 2-D x (3, 4)", {"x": rng.standard_normal((3, 4)), "A": rng.standard_normal((3, 4)),
                           "c": np.array(2.0)}),
        ("a non-contiguous x", {"x_wide": wide, "A": rng.standard_normal((3, 4)), "c": np.array(1.0)}),
    ]
