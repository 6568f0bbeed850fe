"""Checks of assignment A4: initialisation and optimisers.

Same three-part design as :mod:`coursekit._grader.checks` (``cases`` /
``call`` next to the student's code / ``judge`` with coursekit's reference);
the cases of the hidden checks are in the instructor's ``solutions/_hidden/A4.py``.

Initialisers are graded statistically.  ``call`` draws one large matrix
(n >= 60,000 entries) with a Generator seeded by the grader; ``judge``
compares the mean of the squared entries with the variance formula.  For n
independent N(0, s^2) draws, sum(w^2) / s^2 is chi-square with n degrees of
freedom, so the estimate has relative standard deviation sqrt(2/n) <= 0.0058.
Laurent & Massart's bound P(|chi2_n / n - 1| >= 2 sqrt(x/n) + 2x/n) <= 2 e^-x
with n = 60,000 and a relative tolerance of 5 % (x = 35) gives a false-failure
probability below 2e-15 for a correct initialiser, while a factor-2 mistake is
a 50-100 % error: it fails every time.  The mean (tolerance 6 s / sqrt(n),
normal tail 2e-9) and the kurtosis E[w^4] / E[w^2]^2 = 3 of a normal
distribution (sample sd sqrt(24/n) <= 0.02 by the delta method; tolerance 0.3,
15 sd; a uniform draw gives 1.8) are checked too.  Note that He drawn with the
Xavier variance, 2/(fan_in + fan_out), is off by a factor 2 only for square
matrices; for a wide one (fan_out << fan_in) the two formulas nearly agree,
so the hidden cases include a square and a tall shape.

Update rules are graded by their trajectories: several steps from the same
start and state, on a fixed gradient sequence and on a quadratic (whose
gradient depends on where the rule went).  Any formulation that produces the
same iterates passes (e.g. a velocity stored with the opposite sign).
eps: the reference adds it outside the square root, w - lr g / (sqrt(r) + eps).
Decision: eps inside, g / sqrt(r + eps), is accepted as an equivalent
formulation at the tested scale.  Every case uses eps = 1e-8, gradients with
|g| >= 0.2 and rho <= 0.95, so r >= (1 - rho) g^2 >= 2e-3 (Adam's
bias-corrected r_hat is an average of g^2 >= 0.04), and the two forms of one
step differ by at most eps / (2 r) + eps / sqrt(r) < 3e-6 relative: in the
iterates that stays below the tolerance rtol = 1e-6 (measured: at most 3e-8
on the graded cases; rho = 0.99 already gave 6e-6).  With a larger eps or
tiny gradients the forms really differ, so the assignment asks for eps
outside and the grader does not test that regime.
"""
from __future__ import annotations

import contextlib
import types

import numpy as np

from coursekit import functional as F
from coursekit import optim
from coursekit._grader.checks import Check, HiddenCases, register
from coursekit.grading import describe_mismatch, digits_split

A = "A4"
VAR_RTOL = 0.05
KURTOSIS_TOL = 0.3


# ---------------------------------------------------------------------------
# Parts 1-2: Xavier and He initialisers
# ---------------------------------------------------------------------------
def _init_cases_visible(seed: int):
    return [("shape (300, 200)", {"shape": np.array([300, 200]), "seed": np.array(seed)})]


class ReferenceUseError(RuntimeError):
    """Raised by a coursekit.init initialiser while a student's initialiser is being checked.

    The grader reports an error of this name as "uses coursekit's reference implementation".
    """


REFERENCE_INITIALISERS = ("normal", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform",
                          "orthogonal")


@contextlib.contextmanager
def _reference_initialisers_disabled():
    """Make coursekit.init's initialisers raise, however the student imported them.

    The grader's sandbox switches coursekit.init off with the other reference
    modules (coursekit._grader.child); this guard does the same for the
    duration of the call, so the in-notebook check (a student's own kernel, where
    nothing is switched off) says so too.  It swaps the functions' code objects,
    which reaches every alias, e.g. ``from coursekit.init import he_normal as h``.
    """
    from coursekit import init

    def trap(*args, **kwargs):
        raise ReferenceUseError("calls coursekit's reference initialiser (coursekit.init): "
                                "write the initialiser with the Generator's own methods")

    saved = {}
    for name in REFERENCE_INITIALISERS:
        func = getattr(init, name, None)
        if isinstance(func, types.FunctionType) and func.__closure__ is None:
            saved[func] = func.__code__
            func.__code__ = trap.__code__.replace(co_name=name)
            func.__globals__.setdefault("ReferenceUseError", ReferenceUseError)
    try:
        yield
    finally:
        for func, code in saved.items():
            func.__code__ = code


def _init_call_for(fname):
    def call(fns, inputs):
        shape = tuple(int(v) for v in inputs["shape"])
        seed = int(inputs["seed"])
        with _reference_initialisers_disabled():
            first = fns[fname](shape, np.random.default_rng(seed))
            again = fns[fname](shape, np.random.default_rng(seed))
            other = fns[fname](shape, np.random.default_rng(seed + 1000))
        return {"W": first, "W_same_seed": again, "W_other_seed": other}
    return call


def init_variance(fname: str, shape) -> float:
    """The variance the initialiser must have: Xavier 2/(fan_in+fan_out), He 2/fan_in."""
    fan_out, fan_in = shape
    return 2.0 / (fan_in + fan_out) if fname == "xavier_normal" else 2.0 / fan_in


def _init_judge_for(fname):
    def judge(inputs, outputs):
        shape = tuple(int(v) for v in inputs["shape"])
        W = outputs.get("W")
        if W is None or np.shape(W) != shape:
            return [f"W: expected an array of shape {shape}, got {None if W is None else np.shape(W)}"]
        W = np.asarray(W)
        if W.dtype != np.float64:
            return [f"W: wrong dtype {W.dtype}, expected float64"]
        if not np.all(np.isfinite(W)):
            return ["W contains NaN or inf"]
        problems = []
        if not np.array_equal(W, outputs.get("W_same_seed")):
            problems.append("two calls with Generators of the same seed gave different weights: "
                            "draw every number from the rng argument")
        if np.array_equal(W, outputs.get("W_other_seed")):
            problems.append("Generators with different seeds gave the same weights")
        var = init_variance(fname, shape)
        n = W.size
        m2 = float(np.mean(W * W))
        mean = float(np.mean(W))
        if abs(mean) > 6 * np.sqrt(var / n):
            problems.append(f"the mean of the entries is {mean:.2e}, too far from 0 for {n} draws")
        if abs(m2 / var - 1) > VAR_RTOL:
            problems.append(f"the variance of the entries is {m2 / var:.2f} times the one the formula asks "
                            f"for (tolerance {VAR_RTOL:.0%}); check the fan-in/fan-out and the factor")
        kurt = float(np.mean(W**4)) / m2**2 if m2 > 0 else float("nan")
        if not abs(kurt - 3.0) <= KURTOSIS_TOL:
            problems.append(f"E[w^4]/E[w^2]^2 = {kurt:.2f}, but a normal distribution has 3: "
                            "draw from a normal (Gaussian) distribution")
        # one problem per case: the grader's partial credit counts failing cases
        return ["; ".join(problems)] if problems else []
    return judge


for _fname, _part, _seed in (("xavier_normal", "xavier", 400), ("he_normal", "he", 500)):
    register(Check(A, f"{_part}_visible", (_fname,), (lambda s=_seed: _init_cases_visible(s)),
                   _init_call_for(_fname), _init_judge_for(_fname)))
    register(Check(A, f"{_part}_hidden", (_fname,), HiddenCases(A, f"{_part}_hidden"),
                   _init_call_for(_fname), _init_judge_for(_fname)))


# ---------------------------------------------------------------------------
# Parts 3-5: momentum, RMSProp, Adam -- trajectories against coursekit.optim
# ---------------------------------------------------------------------------
HYPER = {"momentum_update": ("lr", "momentum"),
         "rmsprop_update": ("lr", "rho", "eps"),
         "adam_update": ("lr", "beta1", "beta2", "eps")}
REFERENCE = {"momentum_update": optim.momentum_update, "rmsprop_update": optim.rmsprop_update,
             "adam_update": optim.adam_update}


def _gradients(rng, steps, shape):
    """Random gradients with |g| between 0.2 and 3 (the scale the eps argument above assumes)."""
    return rng.choice([-1.0, 1.0], size=(steps,) + shape) * rng.uniform(0.2, 3.0, size=(steps,) + shape)


def _rule_case(rng, kind, hyper: dict, shape=(3, 4), steps=8, defaults=False):
    case = {"w0": rng.choice([-1.0, 1.0], size=shape) * rng.uniform(1.0, 3.0, size=shape),
            "defaults": np.array(defaults)}
    if kind == "sequence":
        case["G"] = _gradients(rng, steps, shape)
    else:  # quadratic f(w) = 1/2 sum(a w^2): gradient a * w, evaluated where the rule went
        case["a"] = rng.uniform(0.5, 2.0, size=shape)
        case["steps"] = np.array(steps)
    case.update({f"h_{k}": np.array(float(v)) for k, v in hyper.items()})
    return case


RULE_SEEDS = {"momentum_update": 600, "rmsprop_update": 700, "adam_update": 800}  # hidden: seed + 1
BASE_HYPER = {"momentum_update": {"lr": 0.05, "momentum": 0.9},
              "rmsprop_update": {"lr": 0.01, "rho": 0.9, "eps": 1e-8},
              "adam_update": {"lr": 0.02, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}}


def _rule_cases_visible(fname):
    rng = np.random.default_rng(RULE_SEEDS[fname])
    return [("8 steps on a fixed gradient sequence", _rule_case(rng, "sequence", BASE_HYPER[fname]))]


def run_trajectory(update, inputs) -> np.ndarray:
    """Iterates w_1..w_T of ``update`` from inputs['w0'] (shape (T,) + w.shape)."""
    w = inputs["w0"].copy()
    state = {} if bool(inputs["defaults"]) else \
        {k[2:]: float(v) for k, v in inputs.items() if k.startswith("h_")}
    steps = inputs["G"].shape[0] if "G" in inputs else int(inputs["steps"])
    path = []
    for t in range(steps):
        dw = inputs["G"][t].copy() if "G" in inputs else inputs["a"] * w
        result = update(w, dw, state)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError("an update rule must return (w, state)")
        w, state = result
        w = np.asarray(w, dtype=np.float64)
        path.append(np.array(w, copy=True))
    return np.stack(path)


def _rule_call_for(fname):
    def call(fns, inputs):
        return {"path": run_trajectory(fns[fname], inputs)}
    return call


def _rule_judge_for(fname):
    def judge(inputs, outputs):
        expected = run_trajectory(REFERENCE[fname], inputs)
        path = outputs.get("path")
        problem = describe_mismatch("iterates w_1..w_T", path, expected)
        if problem is None:
            return []
        if np.shape(path) == expected.shape and np.all(np.isfinite(path)):
            rows = [t for t in range(expected.shape[0])
                    if describe_mismatch("w", path[t], expected[t]) is not None]
            first = rows[0] + 1
            hint = ""
            if first == 1:
                w0 = inputs["w0"]
                g = inputs["G"][0] if "G" in inputs else inputs["a"] * w0
                if np.all(np.sign(path[0] - w0) == np.sign(g)):
                    hint = " -- it moved up the gradient: check the sign of the step"
                elif fname == "adam_update":
                    hint = (" -- with zero initial moments, the first bias-corrected Adam step moves "
                            "every coordinate by about lr")
                else:
                    hint = " -- check the very first update from the initial (zero) state"
            when = ("the iterates differ from the very first step" if first == 1 else
                    f"the iterates agree for {first - 1} steps, then differ from step {first} on")
            return [f"{when}{hint} ({problem})"]
        return [problem]
    return judge


for _fname, _part in (("momentum_update", "momentum"), ("rmsprop_update", "rmsprop"),
                      ("adam_update", "adam")):
    register(Check(A, f"{_part}_visible", (_fname,), (lambda f=_fname: _rule_cases_visible(f)),
                   _rule_call_for(_fname), _rule_judge_for(_fname)))
    register(Check(A, f"{_part}_hidden", (_fname,), HiddenCases(A, f"{_part}_hidden"),
                   _rule_call_for(_fname), _rule_judge_for(_fname)))


# ---------------------------------------------------------------------------
# Part 6: the experiment -- Adam trains the digits network, plain SGD does not yet
# ---------------------------------------------------------------------------
STEPS = 100
ADAM_LOSS = 0.25  # a correct Adam ends at 0.09-0.11 (seeds 0-5)
SGD_LOSS = 1.0  # plain SGD at lr 0.01 is still at 1.9-2.1 after 100 steps
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def network_loss_reference(params: dict, X, y) -> float:
    """Mean cross-entropy of ReLU(X W1^T + b1) W2^T + b2 (no penalty)."""
    h, _ = F.relu_forward(F.linear_forward(X, params["W1"], params["b1"])[0])
    return float(F.softmax_cross_entropy(F.linear_forward(h, params["W2"], params["b2"])[0], y)[0])


def _experiment_cases():
    X_train, y_train, _, _ = digits_split(seed=0)
    return [("Adam, lr 0.01, 100 steps", {"X": X_train, "y": y_train, "rule": np.array(0)}),
            ("plain SGD (the grader's rule), lr 0.01, 100 steps",
             {"X": X_train, "y": y_train, "rule": np.array(1)})]


def _sgd(w, dw, state):
    return w - state["lr"] * dw, state


def _experiment_call(fns, inputs):
    rule = fns["adam_update"] if int(inputs["rule"]) == 0 else _sgd
    params = fns["train_network"](rule, {"lr": 0.01}, inputs["X"], inputs["y"], STEPS, 0)
    if not isinstance(params, dict):
        raise TypeError(f"train_network must return a dict of parameters, got {type(params).__name__}")
    return {k: params[k] for k in PARAM_NAMES if k in params}


def _experiment_judge(inputs, outputs):
    missing = [k for k in PARAM_NAMES if k not in outputs]
    if missing:
        return [f"the returned dict lacks {', '.join(missing)}"]
    params = {k: np.asarray(outputs[k], dtype=np.float64) for k in PARAM_NAMES}
    if not all(np.all(np.isfinite(p)) for p in params.values()):
        return ["the parameters contain NaN or inf"]
    try:
        loss = network_loss_reference(params, inputs["X"], inputs["y"])
    except (ValueError, TypeError, FloatingPointError) as exc:
        return [f"the returned parameters do not form the network 64-64-10: {exc}"]
    if int(inputs["rule"]) == 0 and not loss <= ADAM_LOSS:
        return [f"with Adam the training loss after {STEPS} steps is {loss:.3f}, above the required "
                f"{ADAM_LOSS}"]
    if int(inputs["rule"]) == 1 and not loss >= SGD_LOSS:
        return [f"with the plain SGD rule the training loss after {STEPS} steps is {loss:.3f}: that is "
                "too good -- train_network must apply the update rule it is given, "
                f"exactly {STEPS} times"]
    return []


# the student's initialiser may delegate to coursekit.init here (that is graded, and
# penalised, by the xavier/he checks only): this grades the training
register(Check(A, "experiment", ("train_network", "adam_update"), _experiment_cases,
               _experiment_call, _experiment_judge, time_limit=20.0, allowed_modules=("coursekit.init",)))
