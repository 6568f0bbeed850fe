"""Hidden test cases of assignment A4 (instructor only: never part of the coursekit package).

One function per hidden test cell, named after its nbgrader grade_id; each
returns the check's cases as a list of (description, inputs), inputs being a
dict of NumPy arrays.  The grader imports this file from the course root
(``coursekit grade --course-root``, $COURSEKIT_COURSE_ROOT or the repository)
when it grades; the sandboxed student code never sees it, only the arrays.
The call and the judge of each check live in coursekit/_grader/checks_a4.py,
whose docstring explains the statistical tolerances and the eps decision.
"""
import numpy as np

from coursekit._grader.checks_a4 import BASE_HYPER, RULE_SEEDS, _rule_case


def _init_cases(seed):
    # a square and a tall shape: He with the Xavier variance is off by a factor 2
    # only for square matrices (see checks_a4)
    return [("a tall shape (2000, 30)", {"shape": np.array([2000, 30]), "seed": np.array(seed + 1)}),
            ("a wide shape (30, 2000)", {"shape": np.array([30, 2000]), "seed": np.array(seed + 2)}),
            ("a square shape (250, 250)", {"shape": np.array([250, 250]), "seed": np.array(seed + 3)})]


def xavier_hidden():
    return _init_cases(400)


def he_hidden():
    return _init_cases(500)


OTHER_HYPER = {"momentum_update": {"lr": 0.1, "momentum": 0.5},
               "rmsprop_update": {"lr": 0.02, "rho": 0.95, "eps": 1e-8},
               "adam_update": {"lr": 0.05, "beta1": 0.8, "beta2": 0.99, "eps": 1e-8}}


def _rule_cases(fname):
    rng = np.random.default_rng(RULE_SEEDS[fname] + 1)
    base, other = BASE_HYPER[fname], OTHER_HYPER[fname]
    return [("20 steps on the quadratic 1/2 sum(a w^2)", _rule_case(rng, "quadratic", base, (5,), 20)),
            ("other hyper-parameters, 12 steps", _rule_case(rng, "sequence", other, (2, 3), 12)),
            ("a parameter of size 1", _rule_case(rng, "sequence", base, (1,), 6)),
            ("state = {} uses the stated defaults", _rule_case(rng, "sequence", {}, (4,), 6, defaults=True))]


def momentum_hidden():
    return _rule_cases("momentum_update")


def rmsprop_hidden():
    return _rule_cases("rmsprop_update")


def adam_hidden():
    return _rule_cases("adam_update")
