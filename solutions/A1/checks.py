"""Checks of assignment A1: Jacobians and the chain rule.

Released with the notebook: each part says which of your functions are called,
on which visible cases, and what is compared with the instructor's solution.
The hidden cases are not here (they are graded by your instructor).
"""
from coursekit.grading.spec import Assignment, Case, call

A1 = Assignment("A1")

A1.part(
    "mish_jacobian", title="An element-wise activation",
    calls=[call("mish_jacobian", "s", returns="J")],
    compare=("J",),
    visible=[Case("s (4,)", code="""
        rng = np.random.default_rng(10)
        s = 2 * rng.standard_normal(4)
        """)],
)

A1.part(
    "layer_jacobian", title="A layer, by the chain rule",
    calls=[call("layer_jacobian_x", "W", "x", "b", returns="J_x"),
           call("layer_jacobian_b", "W", "x", "b", returns="J_b")],
    compare=("J_x", "J_b"),
    visible=[Case("W (3, 4)", code="""
        rng = np.random.default_rng(11)
        W = rng.standard_normal((3, 4))
        x = rng.standard_normal(4)
        b = rng.standard_normal(3)
        """)],
)

A1.part(
    "log_softmax_jacobian", title="The log-softmax Jacobian",
    calls=[call("log_softmax_jacobian", "s", returns="J")],
    compare=("J",),
    visible=[Case("s (4,)", code="""
        rng = np.random.default_rng(12)
        s = rng.standard_normal(4)
        """)],
)

A1.part(
    "log_softmax_vjp", title="A vector-Jacobian product without the Jacobian",
    calls=[call("log_softmax_vjp", "s", "g", returns="ds")],
    compare=("ds",),
    visible=[Case("s (3, 5)", code="""
        rng = np.random.default_rng(13)
        s = rng.standard_normal((3, 5))
        g = rng.standard_normal((3, 5))
        """)],
)

A1.part(
    "tensor", title="A tensor derivative: the squared loss of a tanh layer",
    calls=[call("dh_dW_tensor", "W", "x", returns="dh_dW"),
           call("squared_loss_grad_W", "W", "x", "y", returns="dJ_dW")],
    compare=("dh_dW", "dJ_dW"),
    visible=[Case("W (2, 3)", code="""
        rng = np.random.default_rng(14)
        W = rng.standard_normal((2, 3))
        x = rng.standard_normal(3)
        y = rng.standard_normal(2)
        """)],
)
