"""Checks of assignment A2: backpropagation for a two-layer network.

Released with the notebook: each part says which of your functions are called,
on which visible cases, and what is compared with the instructor's solution.
The hidden cases are not here (they are graded by your instructor).
"""
import numpy as np

from coursekit.grading.spec import Assignment, Case, Helper, Integer, Scalar, call, dict_of

A2 = Assignment("A2")

A2.part(
    "linear", title="Linear layer, for batches and sequences",
    calls=[call("linear_forward", "x", "W", "b", returns=("out", "cache")),
           call("linear_backward", "dout", "cache", returns=("dx", "dW", "db"))],
    compare=("out", "dx", "dW", "db"),
    visible=[Case("x (4, 3), W (5, 3)", code="""
        rng = np.random.default_rng(0)
        x = rng.standard_normal((4, 3))
        W = rng.standard_normal((5, 3))
        b = rng.standard_normal(5)
        dout = rng.standard_normal((4, 5))
        """), Case("a batch of sequences x (2, 3, 4), W (5, 4)", code="""
        rng = np.random.default_rng(6)
        x = rng.standard_normal((2, 3, 4))
        W = rng.standard_normal((5, 4))
        b = rng.standard_normal(5)
        dout = rng.standard_normal((2, 3, 5))
        """)],
)

A2.part(
    "prelu", title="A ReLU with a learned slope",
    calls=[call("prelu_forward", "x", "a", returns=("out", "cache")),
           call("prelu_backward", "dout", "cache", returns=("dx", "da"))],
    compare=("out", "dx", "da"),
    visible=[Case("x (4, 5), a (5,)", code="""
        rng = np.random.default_rng(1)
        x = rng.standard_normal((4, 5))
        a = rng.uniform(0.05, 0.5, size=5)
        dout = rng.standard_normal((4, 5))
        """)],
)

A2.part(
    "softmax", title="Softmax cross-entropy with label smoothing",
    calls=[call("softmax_cross_entropy", "scores", "y", Scalar("smoothing"), returns=("loss", "dscores"))],
    compare=("loss", "dscores"),
    visible=[Case("scores (5, 4), smoothing 0.1", code="""
        rng = np.random.default_rng(2)
        scores = rng.standard_normal((5, 4))
        y = rng.integers(0, 4, size=5)
        smoothing = 0.1
        """)],
)

PARAMS = ("W1", "b1", "W2", "b2")

A2.part(
    "two_layer", title="The two-layer network",
    calls=[call("two_layer_loss", dict_of(*PARAMS), "X", "y", Scalar("lam"), Scalar("smoothing"),
                returns=("loss", "grads"))],
    compare=("loss", "grads"),
    visible=[Case("N=5, D=4, H=6, C=3, lam=0.1, smoothing=0.1", code="""
        rng = np.random.default_rng(3)
        X = rng.standard_normal((5, 4))
        y = rng.integers(0, 3, size=5)
        W1 = 0.5 * rng.standard_normal((6, 4))
        b1 = 0.1 * rng.standard_normal(6)
        W2 = 0.5 * rng.standard_normal((3, 6))
        b2 = 0.1 * rng.standard_normal(3)
        lam = 0.1
        smoothing = 0.1
        """)],
)


def smooth_test_function(A, B, c):
    """f(x) = sum(softplus(A * x + B)) + c/2 * sum(x ** 2): a scalar function of an array x.

    Its central differences at a large step h differ from its exact gradient
    by O(h^2), so an answer that matches them was computed by central
    differences with that h.
    """
    def f(x):
        z = A * x + B
        return float(np.sum(np.logaddexp(0.0, z)) + 0.5 * c * np.sum(x * x))
    return f


def x_restored(inputs, outputs, expected):
    """numerical_gradient must leave every entry of x exactly as it found it."""
    after = outputs.get("x_after")
    if after is None or np.shape(after) != np.shape(inputs["x"]) or not np.array_equal(after, inputs["x"]):
        return ["x was changed: numerical_gradient must restore every entry of x it perturbs"]
    return []


A2.part(
    "numgrad", title="Gradient check",
    calls=[call("numerical_gradient", Helper(smooth_test_function, ("A", "B", Scalar("c"))), "x",
                h=Scalar("h"), returns="grad")],
    compare=("grad",),
    record=(("x_after", "x"),),
    extra_judge=x_restored,
    visible=[Case("x (5,), h = 0.01", code="""
        rng = np.random.default_rng(4)
        x = rng.standard_normal(5)
        A = 2 * rng.standard_normal(5)
        B = rng.standard_normal(5)
        c = 0.5
        h = 0.01
        """), Case("x (3, 2), h = 0.05", code="""
        rng = np.random.default_rng(5)
        x = rng.standard_normal((3, 2))
        A = 2 * rng.standard_normal((3, 2))
        B = rng.standard_normal((3, 2))
        c = 1.0
        h = 0.05
        """)],
)


REQUIRED_ACCURACY = 0.90
# An untrained network (any of the usual initialisations) classifies about 1 digit in 10;
# the required accuracy is only reached by learning (tests/test_assignment_checks.py shows
# that untrained networks stay below 0.3).


def validation_accuracy(params, X, y):
    """Fraction of rows of X whose arg-max score ReLU(X W1^T + b1) W2^T + b2 equals y."""
    h = np.maximum(X @ params["W1"].T + params["b1"], 0.0)
    return float(np.mean(np.argmax(h @ params["W2"].T + params["b2"], axis=1) == y))


def trained_enough(inputs, outputs, expected):
    params = {k: outputs.get(f"params.{k}") for k in PARAMS}
    missing = [k for k, v in params.items() if v is None]
    if missing:
        return [f"the returned dict lacks {', '.join(missing)}"]
    d, c = inputs["X_train"].shape[1], 10
    h = params["W1"].shape[0] if params["W1"].ndim == 2 else -1
    want = {"W1": (h, d), "b1": (h,), "W2": (c, h), "b2": (c,)}
    bad = [f"{k} has shape {params[k].shape}, expected {want[k]}" for k in PARAMS if params[k].shape != want[k]]
    if bad:
        return ["; ".join(bad)]
    params = {k: v.astype(np.float64) for k, v in params.items()}
    if not all(np.all(np.isfinite(p)) for p in params.values()):
        return ["the parameters contain NaN or inf (learning rate too large?)"]
    acc = validation_accuracy(params, inputs["X_val"], inputs["y_val"])
    if acc < REQUIRED_ACCURACY:
        return [f"validation accuracy {acc:.3f} is below the required {REQUIRED_ACCURACY:.2f}"]
    return []


A2.part(
    "training", title="Training on digits",
    calls=[call("train_two_layer", "X_train", "y_train", "X_val", "y_val", Integer("seed"),
                returns="params")],
    record=("params",),
    judge=trained_enough,
    time_limit=40.0,
    visible=[Case("digits, seed 0", code="""
        from coursekit.grading import digits_split
        X_train, y_train, X_val, y_val = digits_split(seed=0)
        seed = 0
        """)],
)
