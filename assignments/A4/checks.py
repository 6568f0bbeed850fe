"""Checks of assignment A4: initialisation and optimisers.

Released with the notebook: each part says which of your functions are called,
on which visible cases, and how the results are judged.  The hidden cases are
not here (they are graded by your instructor).

Initialisers are graded by the statistics of their draws (mean, variance,
normality, reproducibility), not by exact values.  Update rules are graded by
their iterates: several steps from the same start, compared with the
instructor's solution, so any formulation with the same iterates passes (a
velocity stored with the opposite sign, eps inside the square root at the
tested gradient scale, |g| >= 0.2, eps = 1e-8).  The experiment gives credit
only for learning, measured from the untrained start (steps = 0).
"""
import numpy as np

from coursekit.grading.compare import describe_mismatch
from coursekit.grading.spec import Assignment, Case, DictOf, Helper, Integer, Student, call

A4 = Assignment("A4")

VAR_RTOL, KURTOSIS_TOL = 0.05, 0.3


def as_shape(shape):
    """The (fan_out, fan_in) tuple an initialiser takes."""
    return tuple(int(v) for v in shape)


def rng(seed):
    return np.random.default_rng(int(seed))


def draws(fname):
    """Three calls: a seed, the same seed again, another seed."""
    return [call(fname, Helper(as_shape, ("shape",)), Helper(rng, ("seed",)), returns="W"),
            call(fname, Helper(as_shape, ("shape",)), Helper(rng, ("seed",)), returns="W_same_seed"),
            call(fname, Helper(as_shape, ("shape",)), Helper(rng, ("other_seed",)), returns="W_other_seed")]


def statistics_of(variance):
    """A judge: W has the shape, is reproducible, and its entries look like N(0, variance(shape))."""
    def judge(inputs, outputs, expected):
        shape = as_shape(inputs["shape"])
        W = outputs.get("W")
        if W is None or np.shape(W) != shape:
            return [f"W: expected an array of shape {shape}, got {None if W is None else np.shape(W)}"]
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
        var, n = variance(*shape), W.size
        m2, mean = float(np.mean(W * W)), float(np.mean(W))
        if abs(mean) > 6 * np.sqrt(var / n):
            problems.append(f"the mean of the entries is {mean:.2e}, too far from 0 for {n} draws")
        if abs(m2 / var - 1) > VAR_RTOL:
            problems.append(f"the variance of the entries is {m2 / var:.2f} times the one the formula asks "
                            f"for (tolerance {VAR_RTOL:.0%}); check the fan-in/fan-out and the factor")
        kurtosis = float(np.mean(W**4)) / m2**2 if m2 > 0 else float("nan")
        if not abs(kurtosis - 3.0) <= KURTOSIS_TOL:
            problems.append(f"E[w^4]/E[w^2]^2 = {kurtosis:.2f}, but a normal distribution has 3: "
                            "draw from a normal (Gaussian) distribution")
        return ["; ".join(problems)] if problems else []
    return judge


def init_case(seed):
    return Case("shape (300, 200)", code=f"""
        shape = np.array([300, 200])
        seed, other_seed = {seed}, {seed + 1000}
        """)


A4.part("xavier", title="Xavier initialisation", calls=draws("xavier_normal"),
        record=("W", "W_same_seed", "W_other_seed"),
        judge=statistics_of(lambda fan_out, fan_in: 2.0 / (fan_in + fan_out)), visible=[init_case(400)])
A4.part("he", title="He initialisation", calls=draws("he_normal"),
        record=("W", "W_same_seed", "W_other_seed"),
        judge=statistics_of(lambda fan_out, fan_in: 2.0 / fan_in), visible=[init_case(500)])


# ---------------------------------------------------------------------------
# update rules, by their trajectories
# ---------------------------------------------------------------------------
def trajectory(update, case):
    """Iterates w_1..w_T of ``update`` from case['w0']: (T,) + w.shape.

    The gradients are case['G'][t] (a fixed sequence) or a * w (the quadratic
    1/2 sum(a w^2), evaluated where the rule went); the state starts as the
    case's hyper-parameters (h_lr, h_momentum, ...) or {} to test the defaults.
    """
    w = np.array(case["w0"], copy=True)
    state = {} if bool(case["defaults"]) else {k[2:]: float(v) for k, v in case.items() if k.startswith("h_")}
    steps = case["G"].shape[0] if "G" in case else int(case["steps"])
    path = []
    for t in range(steps):
        dw = np.array(case["G"][t], copy=True) if "G" in case else case["a"] * w
        result = update(w, dw, state)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError("an update rule must return (w, state)")
        w, state = result
        path.append(np.array(w, dtype=np.float64, copy=True))
    return np.stack(path)


def iterates(fname):
    """A judge: the iterates equal the solution's; if not, when they part and a likely cause."""
    def judge(inputs, outputs, expected):
        path, want = outputs.get("path"), expected["path"]
        problem = describe_mismatch("iterates w_1..w_T", path, want)
        if problem is None:
            return []
        if np.shape(path) != want.shape or not np.all(np.isfinite(path)):
            return [problem]
        first = next(t for t in range(want.shape[0]) if describe_mismatch("w", path[t], want[t])) + 1
        hint = ""
        if first == 1:
            w0 = inputs["w0"]
            g = inputs["G"][0] if "G" in inputs else inputs["a"] * w0
            if np.all(np.sign(path[0] - w0) == np.sign(g)):
                hint = " -- it moved up the gradient: check the sign of the step"
            elif fname == "adam_update":
                hint = " -- with zero initial moments, the first bias-corrected Adam step moves every coordinate by about lr"
            else:
                hint = " -- check the very first update from the initial (zero) state"
        when = ("the iterates differ from the very first step" if first == 1 else
                f"the iterates agree for {first - 1} steps, then differ from step {first} on")
        return [f"{when}{hint} ({problem})"]
    return judge


def rule_case(seed, hyper):
    settings = "".join(f"h_{k} = {v!r}\n" for k, v in hyper.items())
    return Case("8 steps on a fixed gradient sequence", code=f"""rng = np.random.default_rng({seed})
w0 = rng.choice([-1.0, 1.0], size=(3, 4)) * rng.uniform(1.0, 3.0, size=(3, 4))
G = rng.choice([-1.0, 1.0], size=(8, 3, 4)) * rng.uniform(0.2, 3.0, size=(8, 3, 4))
defaults = False
{settings}""")


for _fname, _part, _title, _seed, _hyper in (
        ("momentum_update", "momentum", "Momentum", 600, {"lr": 0.05, "momentum": 0.9}),
        ("rmsprop_update", "rmsprop", "RMSProp", 700, {"lr": 0.01, "rho": 0.9, "eps": 1e-8}),
        ("adam_update", "adam", "Adam", 800, {"lr": 0.02, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8})):
    A4.part(_part, title=_title,
            calls=[call(trajectory, Student(_fname), DictOf(prefix=""), returns="path")],
            record=("path",), judge=iterates(_fname), visible=[rule_case(_seed, _hyper)])


# ---------------------------------------------------------------------------
# the experiment: credit only for learning, from the untrained start
# ---------------------------------------------------------------------------
ADAM_LOSS = 0.25  # the solution's Adam ends at 0.09-0.11 (seeds 0-5)
SGD_DROP = 0.1  # plain SGD at lr 0.01 goes from about 2.4 to 1.9-2.1 in 100 steps
SGD_LOSS = 1.0
PARAMS = ("W1", "b1", "W2", "b2")


def network_loss(params, X, y):
    """Mean cross-entropy of ReLU(X W1^T + b1) W2^T + b2 (the forward pass the notebook gives)."""
    h = np.maximum(X @ params["W1"].T + params["b1"], 0.0)
    s = h @ params["W2"].T + params["b2"]
    s = s - s.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y]))


def sgd_update(w, dw, state):
    """The grader's plain gradient descent."""
    return w - state.get("lr", 1e-2) * dw, state


def rule(adam, which):
    """The student's Adam (which = 0) or the grader's plain SGD (which = 1)."""
    return adam if int(which) == 0 else sgd_update


def hyper(lr):
    return {"lr": float(lr)}


def loss_of(outputs, prefix, inputs):
    params = {k: outputs.get(f"{prefix}.{k}") for k in PARAMS}
    if any(v is None for v in params.values()):
        return None, f"the returned dict lacks {', '.join(k for k, v in params.items() if v is None)}"
    params = {k: v.astype(np.float64) for k, v in params.items()}
    with np.errstate(all="ignore"):
        try:
            loss = network_loss(params, inputs["X"], inputs["y"])
        except (ValueError, TypeError) as exc:
            return None, f"the returned parameters do not form the network 64-64-10: {exc}"
    return (loss if np.isfinite(loss) else float("inf")), ""


def learning(inputs, outputs, expected):
    start, problem = loss_of(outputs, "start", inputs)
    end, problem2 = loss_of(outputs, "params", inputs)
    if problem or problem2:
        return [problem or problem2]
    steps = int(inputs["steps"])
    if int(inputs["rule"]) == 0 and not end <= ADAM_LOSS:
        return [f"with your Adam the training loss after {steps} steps is {end:.3f} (untrained: {start:.3f}), "
                f"above the required {ADAM_LOSS}"]
    if int(inputs["rule"]) == 1:
        if not end <= start - SGD_DROP:
            return [f"with the grader's plain SGD rule the loss went from {start:.3f} to {end:.3f} in {steps} "
                    "steps: train_network must apply the update rule it is given, at every step"]
        if not end >= SGD_LOSS:
            return [f"with the grader's plain SGD rule at lr 0.01 the loss fell to {end:.3f} in {steps} steps: "
                    "too good -- apply the rule exactly `steps` times, with the given learning rate"]
    return []


A4.part(
    "experiment", title="Which rule trains faster?",
    calls=[call("train_network", Helper(rule, (Student("adam_update"), "rule")), Helper(hyper, ("lr",)),
                "X", "y", Integer("no_steps"), Integer("seed"), returns="start"),
           call("train_network", Helper(rule, (Student("adam_update"), "rule")), Helper(hyper, ("lr",)),
                "X", "y", Integer("steps"), Integer("seed"), returns="params")],
    record=("start", "params"), judge=learning, time_limit=20.0,
    visible=[Case("Adam, lr 0.01, 100 steps", code="""
        from coursekit.grading import digits_split
        X, y, _, _ = digits_split(seed=0)
        rule, lr, steps, no_steps, seed = 0, 0.01, 100, 0, 0
        """), Case("the grader's plain SGD, lr 0.01, 100 steps", code="""
        from coursekit.grading import digits_split
        X, y, _, _ = digits_split(seed=0)
        rule, lr, steps, no_steps, seed = 1, 0.01, 100, 0, 0
        """)],
)
