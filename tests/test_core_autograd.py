"""Every functional op, loss and layer of coursekit against HIPS autograd.

autograd is an independent reverse-mode differentiator: each forward is written
again here in autograd.numpy (a second, independent implementation of the
formula), and autograd's vector-Jacobian product of that forward is the oracle
for coursekit's hand-written backward.  Shapes and data are drawn by hypothesis
(few examples, so the file runs in seconds).

Agreement is required to a relative error of 1e-10 per entry, with the floor of
the relative error (the denominator's minimum) at FLOOR = 1e-4 times the
gradient's scale: the largest entry of the oracle or, where terms cancel, the size
of those terms (batch norm's dx: |gamma dy| / sqrt(v + eps); with N = 2 the
normalised output is almost constant and dx almost 0; in a model, the largest
gradient of any parameter).  Entries that cancel to almost nothing are then judged
by an absolute error of 1e-14 times that scale (~50 units in the last place),
which is all that rounding leaves of them; any real bug is far above it.
"""
from __future__ import annotations

import os

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import functional as F
from coursekit import gradcheck as gc
from coursekit import layers as L
from coursekit import losses

TOL = 1e-10
FLOOR = 1e-4
# CK_EXAMPLES=500 pytest tests/test_core_autograd.py runs a longer search
SETTINGS = settings(max_examples=int(os.environ.get("CK_EXAMPLES", 25)), deadline=None)

dims = st.integers(1, 6)
seeds = st.integers(0, 2**32 - 1)


def assert_close(actual, oracle, what, scale=0.0):
    """Relative error < TOL, with the floor at FLOOR * max(|oracle|, scale).

    scale: the size of the terms a gradient is the difference of, when they can
    cancel (batch norm's dx): rounding error is relative to them, not to the result.
    """
    actual, oracle = np.asarray(actual, dtype=np.float64), np.asarray(oracle, dtype=np.float64)
    assert actual.shape == oracle.shape, f"{what}: shape {actual.shape}, autograd {oracle.shape}"
    floor = FLOOR * max(float(np.max(np.abs(oracle), initial=0.0)), scale, 1e-300)
    err = gc.relative_error(actual, oracle, floor=floor)
    assert err < TOL, f"{what}: relative error {err:.2e} against autograd"


def vjp(fun, args, dout):
    """autograd's dJ/d(args[i]) for J = sum(dout * fun(*args)), for every i."""
    def J(*a):
        return anp.sum(dout * fun(*a))
    return [grad(J, i)(*args) for i in range(len(args))]


def data(seed, *shapes, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(s) for s in shapes]


# ----------------------------------------------------------------------------
# The forwards, written again in autograd.numpy
# ----------------------------------------------------------------------------
def ag_linear(x, W, b):
    return anp.dot(x, W.T) + b


def ag_relu(x):
    return anp.where(x > 0, x, 0.0 * x)


def ag_leaky_relu(x, alpha):
    return anp.where(x > 0, x, alpha * x)


def ag_elu(x, alpha):
    return anp.where(x > 0, x, alpha * (anp.exp(anp.minimum(x, 0.0)) - 1.0))


def ag_sigmoid(x):
    return 1.0 / (1.0 + anp.exp(-x))


def ag_swish(x, beta):
    return x * ag_sigmoid(beta * x)


def ag_log_softmax(s):
    m = anp.max(s, axis=1, keepdims=True)
    return s - m - anp.log(anp.sum(anp.exp(s - m), axis=1, keepdims=True))


def ag_softmax(s):
    return anp.exp(ag_log_softmax(s))


def ag_cross_entropy(s, y):
    return -anp.mean(ag_log_softmax(s)[np.arange(len(y)), y])


def ag_mse(p, t):
    return anp.sum((p - t) ** 2) / p.shape[0]


def ag_batchnorm_train(x, gamma, beta, eps=1e-5):
    mu = anp.mean(x, axis=0)
    var = anp.mean((x - mu) ** 2, axis=0)
    return gamma * (x - mu) / anp.sqrt(var + eps) + beta


def ag_batchnorm_test(x, gamma, beta, mean, var, eps=1e-5):
    return gamma * (x - mean) / anp.sqrt(var + eps) + beta


ELEMENTWISE = {
    # name: (coursekit forward, coursekit backward, autograd forward)
    "relu": (F.relu_forward, F.relu_backward, ag_relu),
    "leaky_relu": (lambda x: F.leaky_relu_forward(x, 0.07), F.leaky_relu_backward,
                   lambda x: ag_leaky_relu(x, 0.07)),
    "elu": (lambda x: F.elu_forward(x, 1.4), F.elu_backward, lambda x: ag_elu(x, 1.4)),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward, ag_sigmoid),
    "tanh": (F.tanh_forward, F.tanh_backward, anp.tanh),
    "swish": (lambda x: F.swish_forward(x, 0.8), F.swish_backward, lambda x: ag_swish(x, 0.8)),
    "softmax": (F.softmax_forward, F.softmax_backward, ag_softmax),
}


# ----------------------------------------------------------------------------
# Functional ops
# ----------------------------------------------------------------------------
@SETTINGS
@given(dims, dims, dims, seeds)
def test_linear(n, d, m, seed):
    x, W, b, dout = data(seed, (n, d), (m, d), (m,), (n, m))
    out, cache = F.linear_forward(x, W, b)
    assert_close(out, ag_linear(x, W, b), "linear_forward")
    for name, mine, oracle in zip("x W b".split(), F.linear_backward(dout, cache),
                                  vjp(ag_linear, (x, W, b), dout)):
        assert_close(mine, oracle, f"linear_backward d{name}")


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@SETTINGS
@given(n=dims, d=dims, seed=seeds)
def test_elementwise_and_softmax(name, n, d, seed):
    forward, backward, oracle = ELEMENTWISE[name]
    x, dout = data(seed, (n, d), (n, d), scale=2.0)
    out, cache = forward(x)
    assert_close(out, oracle(x), f"{name}_forward")
    assert_close(backward(dout, cache), vjp(oracle, (x,), dout)[0], f"{name}_backward")


@SETTINGS
@given(dims, st.integers(2, 6), seeds)
def test_softmax_cross_entropy(n, c, seed):
    (s,) = data(seed, (n, c), scale=3.0)
    y = np.random.default_rng(seed).integers(0, c, n)
    loss, ds = F.softmax_cross_entropy(s, y)
    assert loss == pytest.approx(float(ag_cross_entropy(s, y)), rel=TOL)
    assert_close(ds, grad(ag_cross_entropy)(s, y), "softmax_cross_entropy dscores")


@SETTINGS
@given(dims, dims, seeds)
def test_mse(n, k, seed):
    p, t = data(seed, (n, k), (n, k))
    loss, dp = F.mse(p, t)
    assert loss == pytest.approx(float(ag_mse(p, t)), rel=TOL)
    assert_close(dp, grad(ag_mse)(p, t), "mse dpred")
    _, cache = F.mse_forward(p, t)
    assert_close(F.mse_backward(0.3, cache), 0.3 * grad(ag_mse)(p, t), "mse_backward dloss")


@SETTINGS
@given(st.integers(2, 6), dims, seeds)
def test_batchnorm_train(n, d, seed):
    x, gamma, beta, dout = data(seed, (n, d), (d,), (d,), (n, d))
    x = 2.0 * x + 1.0
    out, cache = F.batchnorm_forward(x, gamma, beta, train=True)
    assert_close(out, ag_batchnorm_train(x, gamma, beta), "batchnorm_forward (train)")
    scale = float(np.max(np.abs(dout * gamma) / np.sqrt(x.var(axis=0) + 1e-5)))
    for name, mine, oracle in zip(("x", "gamma", "beta"), F.batchnorm_backward(dout, cache),
                                  vjp(ag_batchnorm_train, (x, gamma, beta), dout)):
        assert_close(mine, oracle, f"batchnorm_backward (train) d{name}", scale=scale)


@SETTINGS
@given(dims, dims, seeds)
def test_batchnorm_test(n, d, seed):
    x, gamma, beta, mean, var, dout = data(seed, (n, d), (d,), (d,), (d,), (d,), (n, d))
    var = np.abs(var) + 0.1
    out, cache = F.batchnorm_forward(x, gamma, beta, train=False, running_mean=mean,
                                     running_var=var)

    def oracle(x_, g_, b_):
        return ag_batchnorm_test(x_, g_, b_, mean, var)

    assert_close(out, oracle(x, gamma, beta), "batchnorm_forward (test)")
    for name, mine, ref in zip(("x", "gamma", "beta"), F.batchnorm_backward(dout, cache),
                               vjp(oracle, (x, gamma, beta), dout)):
        assert_close(mine, ref, f"batchnorm_backward (test) d{name}")


@SETTINGS
@given(dims, dims, st.floats(0.0, 0.9), seeds)
def test_dropout_with_a_fixed_mask(n, d, p, seed):
    x, dout = data(seed, (n, d), (n, d))
    out, cache = F.dropout_forward(x, p, np.random.default_rng(seed), train=True)
    # the mask, recovered independently: the same draw, kept / (1 - p)
    keep = np.random.default_rng(seed).random((n, d)) >= p if p > 0 else np.ones((n, d), bool)
    mask = keep / (1 - p)

    def oracle(x_):
        return x_ * mask

    assert_close(out, oracle(x), "dropout_forward")
    assert_close(F.dropout_backward(dout, cache), vjp(oracle, (x,), dout)[0], "dropout_backward")
    test_out, test_cache = F.dropout_forward(x, p, np.random.default_rng(seed), train=False)
    assert_close(F.dropout_backward(dout, test_cache), dout, "dropout_backward (test mode)")


# ----------------------------------------------------------------------------
# Layers, losses and a whole model
# ----------------------------------------------------------------------------
LAYERS = {
    "ReLU": (L.ReLU, ag_relu),
    "LeakyReLU": (lambda: L.LeakyReLU(0.2), lambda x: ag_leaky_relu(x, 0.2)),
    "ELU": (lambda: L.ELU(0.6), lambda x: ag_elu(x, 0.6)),
    "Sigmoid": (L.Sigmoid, ag_sigmoid),
    "Tanh": (L.Tanh, anp.tanh),
    "Swish": (lambda: L.Swish(1.3), lambda x: ag_swish(x, 1.3)),
}


@pytest.mark.parametrize("name", list(LAYERS))
@SETTINGS
@given(n=dims, d=dims, seed=seeds)
def test_activation_layers(name, n, d, seed):
    make, oracle = LAYERS[name]
    layer = make()
    x, dy = data(seed, (n, d), (n, d), scale=2.0)
    assert_close(layer.forward(x), oracle(x), f"{name}.forward")
    assert_close(layer.backward(dy), vjp(oracle, (x,), dy)[0], f"{name}.backward")


@SETTINGS
@given(dims, dims, dims, seeds)
def test_linear_layer(n, d, m, seed):
    layer = L.Linear(d, m, rng=seed)
    layer.params["b"][:] = data(seed + 1, (m,))[0]
    x, dy = data(seed, (n, d), (n, m))
    W, b = layer.params["W"], layer.params["b"]
    assert_close(layer.forward(x), ag_linear(x, W, b), "Linear.forward")
    dx = layer.backward(dy)
    ref = vjp(ag_linear, (x, W, b), dy)
    assert_close(dx, ref[0], "Linear.backward dx")
    assert_close(layer.grads["W"], ref[1], "Linear.grads['W']")
    assert_close(layer.grads["b"], ref[2], "Linear.grads['b']")


@pytest.mark.parametrize("train", [True, False])
@SETTINGS
@given(n=st.integers(2, 6), d=dims, seed=seeds)
def test_batchnorm_layer(train, n, d, seed):
    layer = L.BatchNorm(d)
    x, dy, gamma, beta, warm = data(seed, (n, d), (n, d), (d,), (d,), (n, d))
    layer.params["gamma"][:], layer.params["beta"][:] = gamma, beta
    layer.forward(3.0 * warm + 1.0)  # move the running statistics away from (0, 1)
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    if train:
        def oracle(x_, g_, b_):
            return ag_batchnorm_train(x_, g_, b_)
    else:
        def oracle(x_, g_, b_):
            return ag_batchnorm_test(x_, g_, b_, mean, var)
    assert_close(layer.forward(x, train=train), oracle(x, gamma, beta), f"BatchNorm.forward({train=})")
    dx = layer.backward(dy)
    ref = vjp(oracle, (x, gamma, beta), dy)
    used_var = x.var(axis=0) if train else var
    assert_close(dx, ref[0], "BatchNorm.backward dx",
                 scale=float(np.max(np.abs(dy * gamma) / np.sqrt(used_var + 1e-5))))
    assert_close(layer.grads["gamma"], ref[1], "BatchNorm.grads['gamma']")
    assert_close(layer.grads["beta"], ref[2], "BatchNorm.grads['beta']")


@SETTINGS
@given(dims, dims, st.floats(0.05, 0.9), seeds)
def test_dropout_layer(n, d, p, seed):
    x, dy = data(seed, (n, d), (n, d))
    layer = L.Dropout(p, rng=seed)
    out = layer.forward(x)
    mask = np.random.default_rng(seed).random((n, d)) >= p  # the layer's first draw
    assert_close(out, x * mask / (1 - p), "Dropout.forward")
    assert_close(layer.backward(dy), vjp(lambda x_: x_ * mask / (1 - p), (x,), dy)[0],
                 "Dropout.backward")


@SETTINGS
@given(st.integers(4, 8), dims, st.integers(2, 5), st.floats(0.0, 0.5), seeds)
def test_model_with_losses_and_l2_penalty(n, d, c, lam, seed):
    """Sequential(Linear, Tanh, BatchNorm, Linear) + cross-entropy + L2, end to end."""
    h = 4
    model = L.Sequential(L.Linear(d, h, rng=seed), L.Tanh(), L.BatchNorm(h),
                         L.Linear(h, c, rng=seed + 1))
    x, = data(seed, (n, d))
    y = np.random.default_rng(seed).integers(0, c, n)
    names = list(model.params)

    def ag_loss(W0, b0, g2, be2, W3, b3):
        s = ag_linear(ag_batchnorm_train(anp.tanh(ag_linear(x, W0, b0)), g2, be2), W3, b3)
        return ag_cross_entropy(s, y) + lam * (anp.sum(W0 ** 2) + anp.sum(W3 ** 2))

    args = [model.params[k].copy() for k in names]
    loss = losses.SoftmaxCrossEntropy()
    value = loss.forward(model.forward(x), y)
    penalty, pgrads = losses.l2_penalty(model.params, lam)
    assert value + penalty == pytest.approx(float(ag_loss(*args)), rel=TOL)
    model.backward(loss.backward())
    oracle = [grad(ag_loss, i)(*args) for i in range(len(names))]
    scale = max(float(np.max(np.abs(g))) for g in oracle)  # BN makes some gradients cancel
    for name, ref in zip(names, oracle):
        mine = model.grads[name] + pgrads.get(name, 0.0)
        assert_close(mine, ref, f"model gradient {name}", scale=scale)


@SETTINGS
@given(dims, dims, seeds)
def test_mse_loss_class(n, k, seed):
    p, t = data(seed, (n, k), (n, k))
    loss = losses.MSE()
    assert loss.forward(p, t) == pytest.approx(float(ag_mse(p, t)), rel=TOL)
    assert_close(loss.backward(), grad(ag_mse)(p, t), "MSE.backward")
