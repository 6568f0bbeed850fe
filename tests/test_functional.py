"""The functional core: gradients against central differences, stability, bad input.

Every backward is checked as a vector-Jacobian product: with a random upstream
gradient G, the scalar J(x) = sum(G * forward(x)) has dJ/dx = backward(G).
"""
import numpy as np
import pytest

from coursekit import functional as F
from coursekit.gradcheck import numerical_gradient

TOL = 1e-7  # the bound for float64 central differences


def rel_err(a, b):
    """max |a - b| / max(|a| + |b|): the worst error relative to the array's own scale.

    The 1e-8 floor (as in CS231n) matters only for a gradient that is exactly zero,
    e.g. the bias of a layer followed by batch norm, where both sides are rounding noise.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-8))


def random_shape(rng, ndim=2):
    return tuple(int(v) for v in rng.integers(2, 7, size=ndim))


def away_from_zero(rng, shape, margin=0.1):
    """Normal draws pushed at least ``margin`` away from 0 (ReLU-family kinks)."""
    x = rng.normal(size=shape)
    return x + margin * np.sign(x)


def check_vjp(forward, backward, x, rng):
    """Compare backward(G) with the numerical gradient of sum(G * forward(x))."""
    out, cache = forward(x)
    G = rng.normal(size=out.shape)
    analytic = backward(G, cache)
    numeric = numerical_gradient(lambda z: np.sum(G * forward(z)[0]), x.copy())
    assert analytic.shape == x.shape
    return rel_err(analytic, numeric)


ELEMENTWISE = {
    "relu": (F.relu_forward, F.relu_backward),
    "leaky_relu": (lambda x: F.leaky_relu_forward(x, 0.1), F.leaky_relu_backward),
    "elu": (lambda x: F.elu_forward(x, 1.3), F.elu_backward),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward),
    "tanh": (F.tanh_forward, F.tanh_backward),
    "swish": (lambda x: F.swish_forward(x, 1.7), F.swish_backward),
    "softmax": (F.softmax_forward, F.softmax_backward),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("seed", range(3))
def test_activation_gradients(name, seed):
    rng = np.random.default_rng(seed)
    forward, backward = ELEMENTWISE[name]
    x = away_from_zero(rng, random_shape(rng))
    assert check_vjp(forward, backward, x, rng) < TOL


@pytest.mark.parametrize("seed", range(3))
def test_linear_gradients(seed):
    rng = np.random.default_rng(seed)
    n, d, m = (int(v) for v in rng.integers(1, 8, size=3))
    x, W, b = rng.normal(size=(n, d)), rng.normal(size=(m, d)), rng.normal(size=m)
    s, cache = F.linear_forward(x, W, b)
    np.testing.assert_allclose(s, np.stack([W @ xn + b for xn in x]))  # row n is W x_n + b
    G = rng.normal(size=s.shape)
    dx, dW, db = F.linear_backward(G, cache)
    J = lambda x_, W_, b_: np.sum(G * F.linear_forward(x_, W_, b_)[0])
    assert rel_err(dx, numerical_gradient(lambda z: J(z, W, b), x.copy())) < TOL
    assert rel_err(dW, numerical_gradient(lambda z: J(x, z, b), W.copy())) < TOL
    assert rel_err(db, numerical_gradient(lambda z: J(x, W, z), b.copy())) < TOL


@pytest.mark.parametrize("seed", range(3))
def test_softmax_cross_entropy_gradient(seed):
    rng = np.random.default_rng(seed)
    n, c = random_shape(rng)
    s, y = rng.normal(size=(n, c)) * 3, rng.integers(0, c, size=n)
    loss, ds = F.softmax_cross_entropy(s, y)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(n), y])), rel=1e-12)
    assert rel_err(ds, numerical_gradient(lambda z: F.softmax_cross_entropy(z, y)[0], s.copy())) < TOL


@pytest.mark.parametrize("seed", range(3))
def test_mse_gradient(seed):
    rng = np.random.default_rng(seed)
    pred, target = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    loss, dpred = F.mse(pred, target)
    assert loss == pytest.approx(np.sum((pred - target) ** 2) / 5, rel=1e-12)
    assert rel_err(dpred, numerical_gradient(lambda z: F.mse(z, target)[0], pred.copy())) < TOL


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_batchnorm_gradients(train, seed):
    rng = np.random.default_rng(seed)
    n, d = random_shape(rng)
    x = rng.normal(2.0, 3.0, size=(n, d))
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    stats = dict(running_mean=rng.normal(size=d), running_var=rng.uniform(0.5, 2, size=d))

    def forward(x_, g_, b_):
        return F.batchnorm_forward(x_, g_, b_, train=train, **stats)

    out, cache = forward(x, gamma, beta)
    G = rng.normal(size=out.shape)  # not all-ones: with ones the true dx is 0 in train mode
    dx, dgamma, dbeta = F.batchnorm_backward(G, cache)
    J = lambda x_, g_, b_: np.sum(G * forward(x_, g_, b_)[0])
    assert rel_err(dx, numerical_gradient(lambda z: J(z, gamma, beta), x.copy())) < TOL
    assert rel_err(dgamma, numerical_gradient(lambda z: J(x, z, beta), gamma.copy())) < TOL
    assert rel_err(dbeta, numerical_gradient(lambda z: J(x, gamma, z), beta.copy())) < TOL


def test_batchnorm_train_uses_batch_statistics_and_test_uses_running():
    rng = np.random.default_rng(0)
    x = rng.normal(5, 2, size=(50, 3))
    out, cache = F.batchnorm_forward(x, np.ones(3), np.zeros(3))
    np.testing.assert_allclose(cache.mean, x.mean(0))
    np.testing.assert_allclose(cache.var, x.var(0))  # biased, 1/N
    mu, var = np.array([1.0, 2.0, 3.0]), np.array([4.0, 1.0, 0.25])
    out, _ = F.batchnorm_forward(x, np.ones(3), np.zeros(3), train=False, running_mean=mu, running_var=var)
    np.testing.assert_allclose(out, (x - mu) / np.sqrt(var + 1e-5))


def test_dropout_gradient_uses_the_forward_mask():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5))
    out, cache = F.dropout_forward(x, 0.4, np.random.default_rng(1))
    G = rng.normal(size=out.shape)
    numeric = numerical_gradient(lambda z: np.sum(G * F.dropout_forward(z, 0.4, np.random.default_rng(1))[0]), x.copy())
    assert rel_err(F.dropout_backward(G, cache), numeric) < TOL
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.6)


def test_dropout_test_mode_is_identity():
    x = np.arange(6.0).reshape(2, 3)
    out, cache = F.dropout_forward(x, 0.5, np.random.default_rng(0), train=False)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(F.dropout_backward(np.ones_like(x), cache), np.ones_like(x))


# --------------------------------------------------------------------------- stability
def test_cross_entropy_finite_for_huge_logits():
    s = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    loss, ds = F.softmax_cross_entropy(s, np.array([1, 2]))
    assert np.isfinite(loss) and np.all(np.isfinite(ds))
    assert loss == pytest.approx(2e4 / 2)  # example 0 is off by 2e4 nats, example 1 is right
    p, _ = F.softmax_forward(s)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "swish", "elu"])
def test_activations_finite_for_large_inputs(name):
    forward, backward = ELEMENTWISE[name]
    x = np.array([[-1e3, -50.0, 0.0, 50.0, 1e3]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        out, cache = forward(x)
        dx = backward(np.ones_like(x), cache)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))


def test_sigmoid_values_at_extremes():
    out, _ = F.sigmoid_forward(np.array([-1e3, 0.0, 1e3]))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0])


def test_batchnorm_constant_feature_is_finite():
    x = np.column_stack([np.full(8, 3.0), np.arange(8.0)])
    out, cache = F.batchnorm_forward(x, np.ones(2), np.array([0.5, 0.0]))
    G = np.random.default_rng(0).normal(size=x.shape)
    dx, dgamma, dbeta = F.batchnorm_backward(G, cache)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(out[:, 0], 0.5)  # a constant feature becomes beta
    # its variance has zero derivative there, so dx = (g - mean g) / sqrt(eps): large but finite
    np.testing.assert_allclose(dx[:, 0], (G[:, 0] - G[:, 0].mean()) / np.sqrt(1e-5))
    beta = np.array([0.5, 0.0])
    numeric = numerical_gradient(lambda z: np.sum(G * F.batchnorm_forward(z, np.ones(2), beta)[0]), x.copy())
    assert rel_err(dx, numeric) < 1e-6


def test_float32_is_preserved():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    W, b = rng.normal(size=(2, 3)).astype(np.float32), np.zeros(2, np.float32)
    s, cache = F.linear_forward(x, W, b)
    assert s.dtype == np.float32
    assert all(g.dtype == np.float32 for g in F.linear_backward(np.ones_like(s), cache))
    for name, (forward, backward) in ELEMENTWISE.items():
        out, cache = forward(x)
        assert out.dtype == np.float32, name
        assert backward(np.ones_like(out), cache).dtype == np.float32, name


# --------------------------------------------------------------------------- bad input
def test_linear_rejects_wrong_columns_and_names_the_shapes():
    with pytest.raises(ValueError, match=r"linear_forward: expected x of shape \(N, 4\), got \(5, 3\)"):
        F.linear_forward(np.ones((5, 3)), np.ones((2, 4)), np.zeros(2))


def test_linear_rejects_1d_input():
    with pytest.raises(ValueError, match=r"batch of shape \(N, D\).*1-D.*reshape\(1, -1\)"):
        F.linear_forward(np.ones(4), np.ones((2, 4)), np.zeros(2))


def test_linear_rejects_bias_that_would_broadcast():
    with pytest.raises(ValueError, match=r"expected b of shape \(2,\), got \(1,\)"):
        F.linear_forward(np.ones((5, 4)), np.ones((2, 4)), np.zeros(1))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16, bool])
def test_non_float_dtypes_rejected(dtype):
    with pytest.raises(TypeError, match=f"float32 or float64.*got dtype {np.dtype(dtype)}"):
        F.relu_forward(np.ones((2, 2), dtype=dtype))


def test_backward_rejects_wrong_upstream_shape():
    _, cache = F.relu_forward(np.ones((2, 3)))
    message = r"relu_backward: dout must have the shape of the forward output \(2, 3\), got \(3, 2\)"
    with pytest.raises(ValueError, match=message):
        F.relu_backward(np.ones((3, 2)), cache)


@pytest.mark.parametrize("y, error, message", [
    (np.array([0, 3]), ValueError, r"labels y must lie in \[0, 2\] for 3 classes, got values from 0 to 3"),
    (np.array([0, -1]), ValueError, r"must lie in \[0, 2\]"),
    (np.array([0.0, 1.0]), TypeError, r"integer array of class indices, got dtype float64"),
    (np.array([0, 1, 1]), ValueError, r"expected labels y of shape \(2,\)"),
])
def test_cross_entropy_rejects_bad_labels(y, error, message):
    with pytest.raises(error, match=message):
        F.softmax_cross_entropy(np.zeros((2, 3)), y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_losses_reject_nan_and_inf(bad):
    s = np.zeros((2, 3))
    s[1, 2] = bad
    message = r"softmax_cross_entropy: scores contains NaN or inf \(first at index \(1, 2\)"
    with pytest.raises(FloatingPointError, match=message):
        F.softmax_cross_entropy(s, np.array([0, 1]))
    with pytest.raises(FloatingPointError, match="mse_forward: pred contains NaN or inf"):
        F.mse(s, np.zeros((2, 3)))


def test_mse_refuses_to_broadcast():
    with pytest.raises(ValueError, match=r"pred and target must have the same shape, got \(4, 1\) and \(4,\)"):
        F.mse(np.zeros((4, 1)), np.zeros(4))


def test_batchnorm_test_mode_needs_running_statistics():
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        F.batchnorm_forward(np.ones((3, 2)), np.ones(2), np.zeros(2), train=False)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_probability(p):
    with pytest.raises(ValueError, match=r"dropout_forward: p \(the drop probability\) must lie in \[0, 1\)"):
        F.dropout_forward(np.ones((2, 2)), p, np.random.default_rng(0))


# --------------------------------------------------------------------------- API.md's signatures
def test_mse_backward_takes_dout_first_and_scales_by_it():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    _, cache = F.mse_forward(pred, target)
    np.testing.assert_allclose(F.mse_backward(1.0, cache), 2 * (pred - target) / 4)
    np.testing.assert_allclose(F.mse_backward(-0.3, cache), -0.3 * 2 * (pred - target) / 4)
    with pytest.warns(DeprecationWarning, match=r"call mse_backward\(dout, cache\)"):
        old = F.mse_backward(cache, dloss=0.5)
    np.testing.assert_allclose(old, 0.5 * 2 * (pred - target) / 4)
    with pytest.raises(ValueError, match="mse_backward: dout = dJ/d\\(loss\\) must be a scalar"):
        F.mse_backward(np.ones((4, 3)), cache)


@pytest.mark.parametrize("rng", [0, None, np.random.default_rng(0)])
def test_dropout_forward_takes_any_rng(rng):
    x = np.ones((50, 40))
    out, cache = F.dropout_forward(x, 0.25, rng)
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    if isinstance(rng, int):  # a seed: the same mask every call
        np.testing.assert_array_equal(F.dropout_forward(x, 0.25, rng)[0], out)
