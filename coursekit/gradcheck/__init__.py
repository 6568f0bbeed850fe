"""Gradient checking: compare an analytic gradient with finite differences.

The teaching checker (coursekit.gradcheck.simple, read it beside chapter 3)
    numerical_gradient(f, x, h)   central differences of a scalar function, x restored
    numerical_jacobian(f, x, h)   the Jacobian of f: array -> array
    relative_error(a, b)          max_i |a_i - b_i| / max(|a_i| + |b_i|, floor)
    check_gradient(f, x, grad)    the two compared, AssertionError above a tolerance

The robust engine beside it, returning a GradCheckReport (one row per array with
the largest relative error, where, and a verdict PASS / WARN / FAIL / KINK):
    check_function(f, x, grad)              f: array -> scalar
    check_op(forward, backward, inputs)     a functional forward/backward pair
    check_layer(layer, x)                   dx and every parameter gradient
    check_model(model, loss, x, y, l2=...)  a whole model with its loss
    check_gradients(J, params, grads)       the engine all of them use
with modes "full", "sparse" and "directional" (engine), kinks told apart from
errors (kinks) and noise-aware thresholds (report).
"""
from .._numeric import relative_errors
from .checkers import LayerState, check_function, check_layer, check_model, check_op
from .engine import H_TOO_LARGE, H_TOO_SMALL, MODES, NOISE_SAFETY, GradCheckWarning, check_gradients
from .kinks import KINK_SPREAD
from .report import (
    FAIL,
    FLOAT32_THRESHOLDS,
    FLOAT64_THRESHOLDS,
    KINK,
    KINK_MESSAGE,
    PASS,
    PASS_THRESHOLD,
    WARN,
    WARN_THRESHOLD,
    GradCheckReport,
    GradCheckRow,
    Thresholds,
)
from .simple import DEFAULT_H, check_gradient, numerical_gradient, numerical_jacobian, relative_error

__all__ = [
    "numerical_gradient", "numerical_jacobian", "relative_error", "relative_errors", "check_gradient",
    "check_function", "check_op", "check_layer", "check_model", "check_gradients", "LayerState",
    "GradCheckReport", "GradCheckRow", "GradCheckWarning", "Thresholds",
    "FLOAT64_THRESHOLDS", "FLOAT32_THRESHOLDS", "PASS_THRESHOLD", "WARN_THRESHOLD",
    "KINK_SPREAD", "NOISE_SAFETY", "H_TOO_SMALL", "H_TOO_LARGE", "DEFAULT_H", "MODES",
    "PASS", "WARN", "FAIL", "KINK", "KINK_MESSAGE",
]
