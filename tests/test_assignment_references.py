"""The solutions' answers to the parts that have no coursekit reference, against HIPS autograd.

The grader compares students with the instructor's solution; where the library
holds the same operation, tests/test_assignments.py checks the solution against
it.  The parts that ask for a close relative of what the book derives (Mish,
log-softmax, a tanh layer's tensor, PReLU, label smoothing, layer norm) are
checked here against an independent automatic differentiation, on every visible
and hidden case.
"""
from __future__ import annotations

import os

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, jacobian

from coursekit.grading import source
from test_assignments import SOLUTIONS, solution_functions


def cases(assignment: str, part: str) -> list:
    src = source.find(SOLUTIONS, assignment)
    found = src.cases(src.test_cells())
    return [inputs for gid in (f"{part}_visible", f"{part}_hidden") for _, inputs in found.get(gid, [])]


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-7, atol=1e-10)


def log_softmax(s, axis=-1):
    m = anp.max(s, axis=axis, keepdims=True)
    return s - m - anp.log(anp.sum(anp.exp(s - m), axis=axis, keepdims=True))


def smoothed_cross_entropy(S, y, alpha):
    n, c = S.shape
    q = np.full((n, c), alpha / c)
    q[np.arange(n), y] += 1 - alpha
    return -anp.sum(q * log_softmax(S)) / n


def layer_norm(x, gamma, beta, eps=1e-5):
    mu = anp.mean(x, axis=1, keepdims=True)
    v = anp.mean((x - mu) ** 2, axis=1, keepdims=True)
    return gamma * (x - mu) / anp.sqrt(v + eps) + beta


@pytest.fixture(scope="module")
def a1():
    return solution_functions("A1")


def test_a1_jacobians(a1):
    mish = lambda s: s * anp.tanh(anp.logaddexp(0.0, s))
    for c in cases("A1", "mish_jacobian"):
        close(a1["mish_jacobian"](c["s"]), jacobian(mish)(np.array(c["s"], dtype=float)))
    for c in cases("A1", "layer_jacobian"):
        W, x, b = (np.array(c[k], dtype=float) for k in ("W", "x", "b"))
        close(a1["layer_jacobian_x"](c["W"], c["x"], c["b"]),
              jacobian(lambda v, W=W, b=b: anp.tanh(anp.dot(W, v) + b))(x))
        close(a1["layer_jacobian_b"](c["W"], c["x"], c["b"]),
              jacobian(lambda v, W=W, x=x: anp.tanh(anp.dot(W, x) + v))(b))
    for c in cases("A1", "log_softmax_jacobian"):
        close(a1["log_softmax_jacobian"](c["s"]), jacobian(log_softmax)(np.array(c["s"], dtype=float)))


def test_a1_vector_jacobian_product_and_tensor(a1):
    for c in cases("A1", "log_softmax_vjp"):
        s, g = np.array(c["s"], dtype=float), c["g"]
        ref = grad(lambda z, g=g: anp.sum(g * log_softmax(z, axis=1)))(s)
        close(a1["log_softmax_vjp"](c["s"], c["g"]), ref)
    for c in cases("A1", "tensor"):
        W, x, y = (np.array(c[k], dtype=float) for k in ("W", "x", "y"))
        close(a1["dh_dW_tensor"](c["W"], c["x"]), jacobian(lambda V, x=x: anp.tanh(anp.dot(V, x)))(W))
        close(a1["squared_loss_grad_W"](c["W"], c["x"], c["y"]),
              grad(lambda V, x=x, y=y: 0.5 * anp.sum((y - anp.tanh(anp.dot(V, x))) ** 2))(W))


def test_a2_layers_and_losses():
    a2 = solution_functions("A2")
    for c in cases("A2", "linear"):
        x, W, b, G = (np.array(c[k], dtype=float) for k in ("x", "W", "b", "dout"))
        J = lambda x, W, b, G=G: anp.sum(G * (anp.dot(x, W.T) + b))
        dx, dW, db = a2["linear_backward"](c["dout"], a2["linear_forward"](c["x"], c["W"], c["b"])[1])
        close(dx, grad(J, 0)(x, W, b))
        close(dW, grad(J, 1)(x, W, b))
        close(db, grad(J, 2)(x, W, b))
    for c in cases("A2", "prelu"):
        x, a, G = (np.array(c[k], dtype=float) for k in ("x", "a", "dout"))
        dx, da = a2["prelu_backward"](c["dout"], a2["prelu_forward"](c["x"], c["a"])[1])
        close(da, grad(lambda x, a, G=G: anp.sum(G * anp.where(x > 0, x, a * x)), 1)(x, a))
        close(dx, G * np.where(x > 0, 1.0, a))  # the subgradient at 0 is the left slope, as stated
    for c in cases("A2", "softmax"):
        S, alpha = np.array(c["scores"], dtype=float), float(c["smoothing"])
        loss, dS = a2["softmax_cross_entropy"](c["scores"], c["y"], alpha)
        assert loss == pytest.approx(float(smoothed_cross_entropy(S, c["y"], alpha)), rel=1e-9)
        close(dS, grad(smoothed_cross_entropy)(S, c["y"], alpha))


def test_a2_two_layer_network():
    a2 = solution_functions("A2")
    for c in cases("A2", "two_layer"):
        params = {k: np.array(c[k], dtype=float) for k in ("W1", "b1", "W2", "b2")}
        lam, alpha = float(c["lam"]), float(c["smoothing"])

        def J(p, c=c, lam=lam, alpha=alpha):
            h = anp.maximum(anp.dot(c["X"], p["W1"].T) + p["b1"], 0)
            scores = anp.dot(h, p["W2"].T) + p["b2"]
            return smoothed_cross_entropy(scores, c["y"], alpha) + lam * (anp.sum(p["W1"] ** 2) + anp.sum(p["W2"] ** 2))
        _, grads = a2["two_layer_loss"](params, c["X"], c["y"], lam, alpha)
        ref = grad(J)(params)
        for key in params:
            close(grads[key], ref[key])


def test_a3_layer_norm():
    a3 = solution_functions("A3")
    rng = np.random.default_rng(0)
    for part in ("ln_forward", "ln_backward"):
        for c in cases("A3", part):
            x, gamma, beta = (np.array(c[k], dtype=float) for k in ("x", "gamma", "beta"))
            G = np.array(c["dout"], dtype=float) if "dout" in c else rng.standard_normal(x.shape)
            out, cache = a3["layernorm_forward"](c["x"], c["gamma"], c["beta"])
            close(out, layer_norm(x, gamma, beta))
            J = lambda x, g, b, G=G: anp.sum(G * layer_norm(x, g, b))
            dx, dgamma, dbeta = a3["layernorm_backward"](G, cache)
            close(dx, grad(J, 0)(x, gamma, beta))
            close(dgamma, grad(J, 1)(x, gamma, beta))
            close(dbeta, grad(J, 2)(x, gamma, beta))


assert os.path.isdir(SOLUTIONS)
