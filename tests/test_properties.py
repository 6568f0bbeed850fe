"""Invariants that must hold for every input (hypothesis draws the inputs)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from coursekit import functional as F
from coursekit import layers as L

SETTINGS = settings(max_examples=40, deadline=None)
shapes = st.tuples(st.integers(1, 16), st.integers(1, 10))
moderate = st.floats(-50, 50, allow_nan=False, width=64)


@SETTINGS
@given(arrays(np.float64, shapes, elements=st.floats(-1e4, 1e4, allow_nan=False)))
def test_softmax_rows_are_probability_distributions(s):
    p, _ = F.softmax_forward(s)
    assert np.all(p >= 0) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@SETTINGS
@given(arrays(np.float64, shapes, elements=moderate), st.floats(-100, 100))
def test_softmax_is_shift_invariant(s, c):
    np.testing.assert_allclose(F.softmax_forward(s)[0], F.softmax_forward(s + c)[0], atol=1e-12)


@SETTINGS
@given(arrays(np.float64, st.tuples(st.integers(2, 64), st.integers(1, 8)),
              elements=st.floats(-1e3, 1e3, allow_nan=False)))
def test_batchnorm_output_has_zero_mean_unit_variance(x):
    eps = 1e-5
    out, _ = F.batchnorm_forward(x, np.ones(x.shape[1]), np.zeros(x.shape[1]), eps=eps)
    v = x.var(axis=0)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-9)
    # exactly v / (v + eps): 1 for any real spread, 0 for a constant feature
    np.testing.assert_allclose(out.var(axis=0), v / (v + eps), rtol=1e-7, atol=1e-9)
    assert np.all(out[:, v > 1.0].var(axis=0) > 1 - 1e-5)


@SETTINGS
@given(st.floats(0.0, 0.9), st.integers(0, 2**32 - 1))
def test_dropout_keeps_the_expectation(p, seed):
    x = np.full((200, 50), 3.0)
    out, _ = F.dropout_forward(x, p, np.random.default_rng(seed))
    # mean of 10,000 scaled Bernoulli draws: standard error 3*sqrt(p/(1-p)/1e4) <= 0.09
    assert abs(out.mean() - 3.0) < 6 * 3.0 * np.sqrt(max(p, 1e-9) / (1 - p) / x.size) + 1e-12
    kept = out != 0
    np.testing.assert_allclose(out[kept], 3.0 / (1 - p))


# negative inputs, positive inputs and exact zeros: where the ReLU family differs
signed = st.one_of(st.just(0.0), st.floats(-50, 50, allow_nan=False, width=64))


@SETTINGS
@given(arrays(np.float64, shapes, elements=signed), st.floats(0.01, 0.9))
def test_relu_family_on_every_sign(x, alpha):
    pos, neg = x > 0, x <= 0
    ones = np.ones_like(x)
    relu, c = F.relu_forward(x)
    np.testing.assert_array_equal(relu, np.where(pos, x, 0.0))
    np.testing.assert_array_equal(F.relu_backward(ones, c), pos.astype(float))
    leaky, c = F.leaky_relu_forward(x, alpha)
    np.testing.assert_allclose(leaky[neg], alpha * x[neg], rtol=1e-15)
    np.testing.assert_array_equal(leaky[pos], x[pos])
    np.testing.assert_allclose(F.leaky_relu_backward(ones, c), np.where(pos, 1.0, alpha), rtol=1e-15)
    elu, c = F.elu_forward(x, alpha)
    np.testing.assert_allclose(elu[neg], alpha * np.expm1(x[neg]), rtol=1e-14, atol=1e-300)
    np.testing.assert_array_equal(elu[pos], x[pos])
    # elu' = h + alpha = alpha exp(s) for s <= 0: the sum loses digits far below 0, hence atol
    np.testing.assert_allclose(F.elu_backward(ones, c), np.where(pos, 1.0, alpha * np.exp(x)),
                               rtol=1e-12, atol=1e-15)
    assert np.all(elu >= -alpha) and np.all(leaky <= np.maximum(x, 0.0))


@SETTINGS
@given(arrays(np.float64, shapes, elements=st.floats(-1e3, 1e3, allow_nan=False)))
def test_sigmoid_symmetry_and_tanh_relation(x):
    s = F.sigmoid_forward(x)[0]
    np.testing.assert_allclose(s + F.sigmoid_forward(-x)[0], 1.0, atol=1e-15)
    np.testing.assert_allclose(F.tanh_forward(x)[0], 2 * F.sigmoid_forward(2 * x)[0] - 1, atol=1e-14)


@SETTINGS
@given(arrays(np.float64, shapes, elements=moderate), st.integers(0, 1000))
def test_cross_entropy_gradient_rows_sum_to_zero(s, seed):
    y = np.random.default_rng(seed).integers(0, s.shape[1], size=s.shape[0])
    loss, ds = F.softmax_cross_entropy(s, y)
    # an independent formula: -log p_y = logsumexp(s) - s_y, with the max shifted out
    top = s.max(axis=1)
    per_example = top + np.log(np.exp(s - top[:, None]).sum(axis=1)) - s[np.arange(len(y)), y]
    assert loss == pytest.approx(per_example.mean(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(ds.sum(axis=1), 0.0, atol=1e-15)
    # each row of dscores is (p - onehot(y)) / N: -1/N < ds < 1/N, negative only at y
    n = len(y)
    assert np.all(ds[np.arange(n), y] <= 0) and np.all(np.abs(ds) < 1 / n + 1e-15)


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(0, 1000))
def test_linear_layer_is_affine(n, d, m, seed):
    rng = np.random.default_rng(seed)
    layer = L.Linear(d, m, rng=rng)
    layer.params["b"][:] = rng.normal(size=m)
    x1, x2 = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    f = layer.forward
    np.testing.assert_allclose(f(x1 + x2) - f(x2), f(x1) - f(np.zeros_like(x1)), atol=1e-12)
