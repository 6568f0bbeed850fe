"""Checks of assignment A3: batch normalisation, layer normalisation and a k-layer network.

Released with the notebook: each part says which of your functions are called,
on which visible cases, and what is compared with the instructor's solution.
The hidden cases are not here (they are graded by your instructor).

The upstream gradient ``dout`` of the backward checks is random, never all ones:
with dout = 1 the true dJ/dx of batch norm is exactly 0 (the output sums to a
constant), so a backward pass that forgets the mean path would pass.  The same
holds for layer norm with dout = 1 along a row.
"""
import numpy as np

from coursekit.grading.compare import mismatches
from coursekit.grading.spec import Assignment, Boolean, Case, DictOf, Helper, Integer, Scalar, bind, call

A3 = Assignment("A3")

A3.part(
    "bn_forward", title="Batch norm, training mode",
    calls=[call("batchnorm_forward", "x", "gamma", "beta", returns=("out", "cache"))],
    compare=("out",),
    visible=[Case("x (6, 4)", code="""
        rng = np.random.default_rng(100)
        x = rng.standard_normal((6, 4))
        gamma = 1 + 0.5 * rng.standard_normal(4)
        beta = rng.standard_normal(4)
        """)],
)

A3.part(
    "bn_running", title="Test mode and running averages",
    calls=[call("batchnorm_test_forward", "x", "gamma", "beta", "running_mean", "running_var", returns="out"),
           call("update_running_averages", "running_mean", "running_var", "x", Scalar("momentum"),
                returns=("new_mean", "new_var"))],
    compare=("out", "new_mean", "new_var"),
    visible=[Case("x (5, 3), momentum 0.9", code="""
        rng = np.random.default_rng(101)
        x = rng.standard_normal((5, 3))
        gamma = 1 + 0.5 * rng.standard_normal(3)
        beta = rng.standard_normal(3)
        running_mean = rng.standard_normal(3)
        running_var = rng.uniform(0.2, 3.0, size=3)
        momentum = 0.9
        """)],
)


def shared_error(axis, where, path):
    """A judge comparing dx, dgamma, dbeta that says so when dx's error is shared along ``axis``.

    A wrong term that goes through a statistic (a mean over ``axis``) is the
    same for every entry the statistic is shared by: every row of a column for
    batch norm (axis 0), every feature of an example for layer norm (axis 1).
    """
    def judge(inputs, outputs, expected):
        # the default tolerances: a tolerance scaled by the expected values would print their size
        atol = 1e-9
        problems = mismatches([(n, outputs.get(n), expected[n]) for n in ("dx", "dgamma", "dbeta")], 1e-6, atol)
        dx, want = outputs.get("dx"), expected["dx"]
        if problems and np.shape(dx) == want.shape and want.shape[axis] > 1:
            diff = np.asarray(dx, dtype=np.float64) - want
            first = diff[:1] if axis == 0 else diff[:, :1]
            if np.all(np.isfinite(diff)) and np.allclose(diff, first, rtol=1e-6, atol=atol) \
                    and not np.allclose(diff, 0, atol=atol):
                problems[0] += (f" -- the error in dx is the same for every {where}: a term shared by "
                                f"{path} is missing or wrong")
        return problems
    return judge


batch_shared_error = shared_error(0, "row of a column", "the whole batch (through the batch mean)")


A3.part(
    "bn_backward", title="Batch norm, backward pass",
    calls=[call("batchnorm_forward", "x", "gamma", "beta", returns=("out", "cache")),
           call("batchnorm_backward", "dout", "cache", returns=("dx", "dgamma", "dbeta"))],
    record=("dx", "dgamma", "dbeta"),
    judge=batch_shared_error,
    visible=[Case("x (6, 4), a random dout", code="""
        rng = np.random.default_rng(102)
        x = rng.standard_normal((6, 4))
        gamma = 1 + 0.5 * rng.standard_normal(4)
        beta = rng.standard_normal(4)
        dout = rng.standard_normal((6, 4))
        """)],
)

def batch_axis_hint(inputs, outputs, expected):
    """Layer norm's output compared with the solution's; a hint when the student normalised each
    feature over the batch (every column of (out - beta) / gamma has mean 0) instead of each example."""
    problems = mismatches([("out", outputs.get("out"), expected["out"])])
    out, x = outputs.get("out"), inputs["x"]
    gamma, beta = inputs["gamma"], inputs["beta"]
    if problems and np.shape(out) == x.shape and x.shape[0] > 1 and np.all(np.abs(gamma) > 1e-3):
        z = (np.asarray(out, dtype=np.float64) - beta) / gamma
        if np.all(np.isfinite(z)) and np.allclose(z.mean(axis=0), 0, atol=1e-8) \
                and not np.allclose(z.mean(axis=1), 0, atol=1e-8):
            problems[0] += (" -- every column of (out - beta) / gamma has mean 0: you normalised each feature "
                            "over the batch (batch norm); layer norm normalises each example over its features")
    return problems


A3.part(
    "ln_forward", title="Layer norm, forward pass",
    calls=[call("layernorm_forward", "x", "gamma", "beta", returns=("out", "cache"))],
    record=("out",),
    judge=batch_axis_hint,
    visible=[Case("x (5, 6)", code="""
        rng = np.random.default_rng(106)
        x = rng.standard_normal((5, 6))
        gamma = 1 + 0.5 * rng.standard_normal(6)
        beta = rng.standard_normal(6)
        """)],
)

A3.part(
    "ln_backward", title="Layer norm, backward pass",
    calls=[call("layernorm_forward", "x", "gamma", "beta", returns=("out", "cache")),
           call("layernorm_backward", "dout", "cache", returns=("dx", "dgamma", "dbeta"))],
    record=("dx", "dgamma", "dbeta"),
    judge=shared_error(1, "feature of an example", "all the features of an example (through its mean)"),
    visible=[Case("x (4, 6), a random dout", code="""
        rng = np.random.default_rng(107)
        x = rng.standard_normal((4, 6))
        gamma = 1 + 0.5 * rng.standard_normal(6)
        beta = rng.standard_normal(6)
        dout = rng.standard_normal((4, 6))
        """)],
)

A3.part(
    "klayer", title="A k-layer network with optional batch norm",
    calls=[call("klayer_loss", DictOf(prefix="p_"), "X", "y", Scalar("lam"), Boolean("batch_norm"),
                returns=("loss", "grads", "stats"))],
    compare=("loss", "grads", "stats"),
    visible=[Case("k=3 with batch norm, N=6, sizes 4-5-6-3, lam=0.01", code="""
        rng = np.random.default_rng(103)
        p_W1, p_b1 = rng.standard_normal((5, 4)) * 0.7, 0.1 * rng.standard_normal(5)
        p_gamma1, p_beta1 = 1 + 0.3 * rng.standard_normal(5), 0.3 * rng.standard_normal(5)
        p_W2, p_b2 = rng.standard_normal((6, 5)) * 0.6, 0.1 * rng.standard_normal(6)
        p_gamma2, p_beta2 = 1 + 0.3 * rng.standard_normal(6), 0.3 * rng.standard_normal(6)
        p_W3, p_b3 = rng.standard_normal((3, 6)) * 0.6, 0.1 * rng.standard_normal(3)
        X = rng.standard_normal((6, 4))
        y = rng.integers(0, 3, size=6)
        lam = 0.01
        batch_norm = True
        """)],
)


# ---------------------------------------------------------------------------
# Part 7: the gradient checker, graded by what it measures
# ---------------------------------------------------------------------------
RATIO = 3.0  # a relative error within this factor of the solution's (any denominator convention fits)


def softplus_loss(A, B, G):
    """loss_fn(params) = (sum_k sum(A_k * softplus(B_k * params_k)), G).

    G is the gradient under test, given as data: right or subtly wrong.  The
    function carries the loss's parameters and the gradient being checked, no
    flag saying which one is wrong.
    """
    def loss_fn(params):
        value = sum(float(np.sum(A[k] * np.logaddexp(0.0, B[k] * params[k]))) for k in A)
        return value, {k: np.array(g, copy=True) for k, g in G.items()}
    return loss_fn


def method_and_verdicts(inputs, outputs, expected):
    """The relative errors of central differences with the step h the case gives, within a
    factor 3 of the solution's: an answer that skips the finite differences (comparing with an
    exact gradient, say) cannot produce them, since at these steps central differences differ
    measurably from the exact derivative.  And params restored exactly."""
    problems = []
    for name in sorted(k[2:] for k in inputs if k.startswith("p_")):
        got, want = outputs.get(f"errors.{name}"), float(expected[f"errors.{name}"])
        if got is None or np.size(got) != 1 or not np.isfinite(np.asarray(got, dtype=np.float64)).all():
            problems.append(f"errors[{name!r}] is missing, not one number, or not finite")
            continue
        got = float(np.asarray(got, dtype=np.float64).reshape(()))
        if not want / RATIO <= got <= want * RATIO:
            verdict = "a wrong gradient" if want > 2.5e-4 else "a correct gradient"
            problems.append(f"errors[{name!r}] = {got:.1e} is not what central differences with "
                            f"h = {float(inputs['h']):g} give for {verdict}: perturb each entry by +h and -h")
        after = outputs.get(f"params.{name}")
        if after is None or not np.array_equal(after, inputs[f"p_{name}"]):
            problems.append(f"params[{name!r}] was changed: restore every entry after perturbing it")
    return ["; ".join(problems)] if problems else []


A3.part(
    "gradcheck", title="Gradient check",
    calls=[bind("params", DictOf(prefix="p_")),
           call("gradient_check", Helper(softplus_loss, (DictOf(prefix="A_"), DictOf(prefix="B_"),
                                                         DictOf(prefix="G_"))),
                "params", h=Scalar("h"), returns="errors")],
    record=("errors", "params"),
    judge=method_and_verdicts,
    visible=[Case("every gradient right, h = 0.01", code="""
        rng = np.random.default_rng(104)
        p_W, p_b = rng.standard_normal((3, 4)), rng.standard_normal(3)
        A_W, A_b = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, 3)
        B_W, B_b = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, 3)
        sig = lambda z: 1 / (1 + np.exp(-z))
        G_W, G_b = A_W * B_W * sig(B_W * p_W), A_b * B_b * sig(B_b * p_b)
        h = 0.01
        """), Case("dJ/db off by 1%, h = 0.01", code="""
        rng = np.random.default_rng(105)
        p_W, p_b = rng.standard_normal((3, 4)), rng.standard_normal(3)
        A_W, A_b = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, 3)
        B_W, B_b = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, 3)
        sig = lambda z: 1 / (1 + np.exp(-z))
        G_W, G_b = A_W * B_W * sig(B_W * p_W), 1.01 * A_b * B_b * sig(B_b * p_b)
        h = 0.01
        """)],
)


# ---------------------------------------------------------------------------
# Part 8: training -- credit only for learning, measured from the untrained start
# ---------------------------------------------------------------------------
SIZES = (64, 50, 50, 50, 50, 50, 10)
BN_ACCURACY, PLAIN_ACCURACY = 0.90, 0.85  # the solution: 0.95-0.97 and 0.92-0.94 (seeds 0-2)
UNTRAINED_AT_MOST = 0.3  # an untrained network of this recipe scores 0.09-0.11


def predict(params, running, X, batch_norm):
    """Test-mode scores of the k-layer network (batch norm with the running averages)."""
    k = len(SIZES) - 1
    h = X
    for layer in range(1, k):
        s = h @ params[f"W{layer}"].T + params[f"b{layer}"]
        if batch_norm:
            s = params[f"gamma{layer}"] * (s - running[f"mean{layer}"]) \
                / np.sqrt(running[f"var{layer}"] + 1e-5) + params[f"beta{layer}"]
        h = np.maximum(s, 0)
    return h @ params[f"W{k}"].T + params[f"b{k}"]


def accuracy_of(outputs, prefix, inputs, batch_norm):
    """(validation accuracy or None, problem) of the returned (params, running)."""
    params = {k.split(".", 1)[1]: v.astype(np.float64) for k, v in outputs.items() if k.startswith(prefix + "params.")}
    running = {k.split(".", 1)[1]: v.astype(np.float64) for k, v in outputs.items() if k.startswith(prefix + "running.")}
    want = [f"{p}{layer}" for layer in range(1, len(SIZES)) for p in ("W", "b")]
    want += [f"{p}{layer}" for layer in range(1, len(SIZES) - 1) for p in ("gamma", "beta")] if batch_norm else []
    missing = [n for n in want if n not in params]
    if missing:
        return None, f"params lacks {', '.join(missing[:4])}"
    with np.errstate(all="ignore"):
        try:
            scores = predict(params, running, inputs["X_val"], batch_norm)
        except (KeyError, ValueError) as exc:
            return None, f"the returned arrays do not fit the network {SIZES}: {exc}"
    if not np.all(np.isfinite(scores)):
        return 0.0, ""
    return float(np.mean(np.argmax(scores, axis=1) == inputs["y_val"])), ""


def learned(batch_norm, required):
    def judge(inputs, outputs, expected):
        start, problem = accuracy_of(outputs, "start_", inputs, batch_norm)
        end, problem2 = accuracy_of(outputs, "", inputs, batch_norm)
        if problem or problem2:
            return [problem or problem2]
        if start > UNTRAINED_AT_MOST:
            return [f"with epochs=0 (no training) the network already scores {start:.3f}: "
                    "train_klayer must return the untrained initial parameters then"]
        if end < required:
            return [f"validation accuracy {end:.3f} (test mode) after training is below the required "
                    f"{required:.2f} (untrained: {start:.3f})"]
        return []
    return judge


def training_part(name, title, batch_norm, lr, required):
    return A3.part(
        name, title=title,
        calls=[call("train_klayer", "X_train", "y_train", Boolean("batch_norm"), Scalar("lr"), Integer("seed"),
                    epochs=Integer("no_epochs"), returns=("start_params", "start_running")),
               call("train_klayer", "X_train", "y_train", Boolean("batch_norm"), Scalar("lr"), Integer("seed"),
                    epochs=Integer("epochs"), returns=("params", "running"))],
        record=("start_params", "start_running", "params", "running"),
        judge=learned(batch_norm, required), time_limit=30.0,
        visible=[Case(f"digits, batch_norm={batch_norm}, lr {lr}, 6 epochs", code=f"""
            from coursekit.grading import digits_split
            X_train, y_train, X_val, y_val = digits_split(seed=0)
            batch_norm, lr, seed, epochs, no_epochs = {batch_norm}, {lr}, 0, 6, 0
            """)])


training_part("training_bn", "Batch norm trains at a large step", True, 1.5, BN_ACCURACY)
training_part("training_plain", "The plain network at its own step", False, 0.2, PLAIN_ACCURACY)
