"""Invariants that must hold for every input (hypothesis draws the inputs)."""
import numpy as np
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


@SETTINGS
@given(arrays(np.float64, shapes, elements=moderate))
def test_relu_family_agrees_on_positive_inputs(x):
    pos = np.abs(x) + 0.5
    for forward in (F.relu_forward, F.leaky_relu_forward, F.elu_forward):
        np.testing.assert_array_equal(forward(pos)[0], pos)


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
    assert loss >= 0
    np.testing.assert_allclose(ds.sum(axis=1), 0.0, atol=1e-15)


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(0, 1000))
def test_linear_layer_is_affine(n, d, m, seed):
    rng = np.random.default_rng(seed)
    layer = L.Linear(d, m, rng=rng)
    layer.params["b"][:] = rng.normal(size=m)
    x1, x2 = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    f = layer.forward
    np.testing.assert_allclose(f(x1 + x2) - f(x2), f(x1) - f(np.zeros_like(x1)), atol=1e-12)
