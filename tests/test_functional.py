"""The functional core: gradients against central differences, stability, bad input.

Every backward is checked as a vector-Jacobian product: with a random upstream
gradient G, the scalar J(x) = sum(G * forward(x)) has dJ/dx = backward(G).
"""
import numpy as np
import pytest

from coursekit import functional as F
from coursekit.gradcheck import numerical_gradient

TOL = 1e-7  # the bound for float64 central differences


FLOOR = 1e-3
"""Entries below FLOOR are judged by their absolute error: a central difference with
h = 1e-5 carries rounding noise of about eps * |J| / h ~ 1e-10, so a relative error of
1e-7 cannot be asked of an entry much smaller than 1e-10 / 1e-7 = 1e-3."""


def rel_err(a, b, floor=FLOOR):
    """max_i |a_i - b_i| / max(|a_i| + |b_i|, floor): entry by entry.

    Every entry is measured against its own size (not against the array's largest
    entry, which would let a wrong small entry hide behind a large one).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, f"shapes differ: {a.shape} and {b.shape}"
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor), initial=0.0))


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
def test_linear_rejects_wrong_columns_and_names_both_shapes():
    message = (r"linear_forward: x of shape \(5, 3\) and W of shape \(2, 4\) do not fit S = x W\^T \+ b: "
               r"x has 3 features per row but W takes 4 inputs")
    with pytest.raises(ValueError, match=message):
        F.linear_forward(np.ones((5, 3)), np.ones((2, 4)), np.zeros(2))


def test_linear_blames_a_transposed_w_or_x_when_that_is_the_likely_cause():
    x, W, b = np.ones((5, 4)), np.ones((3, 4)), np.zeros(3)
    transposed_w = r"W of shape \(4, 3\).*W looks transposed.*should have shape \(3, 4\); pass W\.T"
    with pytest.raises(ValueError, match=transposed_w):
        F.linear_forward(x, W.T, b)
    with pytest.raises(ValueError, match=r"x of shape \(4, 5\).*x looks transposed.*pass x\.T"):
        F.linear_forward(x.T, W, b)


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
    (np.array([0.0, 1.0]), TypeError, r"integer array of class indices, got dtype float64 \(its values are "
                                      r"whole numbers: use y\.astype\(int\)\)"),
    (np.array([0.5, 1.0]), TypeError, r"integer array of class indices, got dtype float64$"),
    (np.eye(3)[[0, 2]], ValueError, r"labels y of shape \(2, 3\) look one-hot.*class indices of shape \(2,\): "
                                    r"convert with coursekit\.data\.from_one_hot\(y\)"),
    (np.eye(3, dtype=int)[[0, 2]], ValueError, r"look one-hot"),
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


# --------------------------------------------------------------------------- conventions at the kinks
def test_relu_family_derivatives_at_exactly_zero():
    """The documented subgradients: relu'(0) = 0, leaky_relu'(0) = alpha (s > 0 is strict)."""
    x = np.array([[-1.0, 0.0, 2.0], [0.0, -0.0, 3.0]])
    dout = np.full(x.shape, 2.0)
    np.testing.assert_array_equal(F.relu_backward(dout, F.relu_forward(x)[1]), [[0, 0, 2], [0, 0, 2]])
    leaky = F.leaky_relu_backward(dout, F.leaky_relu_forward(x, 0.1)[1])
    np.testing.assert_allclose(leaky, [[0.2, 0.2, 2], [0.2, 0.2, 2]], rtol=1e-15)
    elu = F.elu_backward(dout, F.elu_forward(x, 0.5)[1])  # alpha * exp(0) = alpha at 0
    np.testing.assert_allclose(elu[:, 1], [1.0, 1.0], rtol=1e-15)


def test_inverted_dropout_scales_the_kept_units_by_one_over_one_minus_p():
    x = np.arange(1.0, 41.0).reshape(5, 8)
    p = 0.3
    kept = np.random.default_rng(7).random(x.shape) >= p  # the draw documented for a seed
    out, cache = F.dropout_forward(x, p, rng=7)
    np.testing.assert_allclose(out, np.where(kept, x / (1 - p), 0.0), rtol=1e-15)
    G = np.random.default_rng(8).normal(size=x.shape)
    np.testing.assert_allclose(F.dropout_backward(G, cache), np.where(kept, G / (1 - p), 0.0), rtol=1e-15)


# --------------------------------------------------------------------------- no input is changed
def _all_ops(rng):
    """(name, forward, inputs, backward-takes-cache) for every functional op."""
    x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=2)
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    ops = [("linear", F.linear_forward, (x, W, b)),
           ("batchnorm", F.batchnorm_forward, (x, gamma, beta)),
           ("softmax", F.softmax_forward, (x,)),
           ("dropout", lambda v: F.dropout_forward(v, 0.5, rng=0), (x,))]
    ops += [(name, forward, (x,)) for name, (forward, _) in ELEMENTWISE.items()]
    return ops


def test_no_forward_or_backward_changes_its_inputs():
    rng = np.random.default_rng(11)
    backward = {name: pair[1] for name, pair in ELEMENTWISE.items()}
    backward.update(linear=F.linear_backward, batchnorm=F.batchnorm_backward,
                    softmax=F.softmax_backward, dropout=F.dropout_backward)
    for name, forward, inputs in _all_ops(rng):
        before = [a.copy() for a in inputs]
        out, cache = forward(*inputs)
        out_before = out.copy()
        dout = rng.normal(size=out.shape)
        dout_before = dout.copy()
        backward[name](dout, cache)
        for a, a0 in zip(inputs, before):
            np.testing.assert_array_equal(a, a0, err_msg=f"{name} changed one of its inputs")
        np.testing.assert_array_equal(dout, dout_before, err_msg=f"{name}_backward changed dout")
        np.testing.assert_array_equal(out, out_before, err_msg=f"{name}_backward changed the output")
    s, y = rng.normal(size=(4, 3)), np.array([0, 2, 1, 1])
    s0 = s.copy()
    F.softmax_cross_entropy(s, y)
    F.mse(s, s0 + 1.0)
    np.testing.assert_array_equal(s, s0)


def test_mse_is_the_mean_over_examples_of_the_squared_norm():
    pred, target = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]]), np.zeros((2, 3))
    loss, cache = F.mse_forward(pred, target)
    assert loss == pytest.approx((1 + 4 + 9) / 2)  # N = 2 examples, not 6 entries
    np.testing.assert_allclose(F.mse_backward(1.0, cache), pred)  # 2 (yhat - y) / 2


def test_softmax_cross_entropy_by_hand():
    # s = [0, ln 3]: p = [1/4, 3/4]; y = 1: -ln(3/4); y = 0: -ln(1/4).  N = 2.
    s = np.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)]])
    loss, ds = F.softmax_cross_entropy(s, np.array([1, 0]))
    assert loss == pytest.approx((-np.log(0.75) - np.log(0.25)) / 2, rel=1e-14)
    np.testing.assert_allclose(ds, np.array([[0.25, -0.25], [-0.75, 0.75]]) / 2, rtol=1e-14)
