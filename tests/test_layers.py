"""Layers, losses and Sequential: gradients, state, and errors that name the layer."""
import numpy as np
import pytest

from coursekit import layers as L
from coursekit import losses
from coursekit.gradcheck import numerical_gradient
from test_functional import TOL, away_from_zero, rel_err


def layer_gradients_match(layer, x, rng, train=True):
    """Check dx and every parameter gradient of ``layer`` with J = sum(G * layer(x))."""
    G = rng.normal(size=layer.forward(x, train=train).shape)
    dx = layer.backward(G)
    errors = {"dx": rel_err(dx, numerical_gradient(lambda z: np.sum(G * layer.forward(z, train=train)), x.copy()))}
    layer.forward(x, train=train)
    layer.backward(G)
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    for name, p in layer.params.items():
        # numerical_gradient perturbs p in place, which is the parameter the layer reads
        numeric = numerical_gradient(lambda _: np.sum(G * layer.forward(x, train=train)), p)
        errors[name] = rel_err(analytic[name], numeric)
    return errors


LAYERS = {
    "Linear": lambda rng: L.Linear(5, 4, rng=rng),
    "ReLU": lambda rng: L.ReLU(),
    "LeakyReLU": lambda rng: L.LeakyReLU(0.2),
    "ELU": lambda rng: L.ELU(0.7),
    "Sigmoid": lambda rng: L.Sigmoid(),
    "Tanh": lambda rng: L.Tanh(),
    "Swish": lambda rng: L.Swish(1.5),
    "BatchNorm": lambda rng: L.BatchNorm(5),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("seed", range(2))
def test_layer_gradients(name, seed):
    rng = np.random.default_rng(seed)
    layer = LAYERS[name](rng)
    if name == "BatchNorm":
        layer.params["gamma"][:] = rng.normal(size=5)
        layer.params["beta"][:] = rng.normal(size=5)
    x = away_from_zero(rng, (int(rng.integers(2, 8)), 5))
    for key, err in layer_gradients_match(layer, x, rng).items():
        assert err < TOL, f"{name}: gradient of {key} has relative error {err:.2e}"


def test_dropout_layer_mask_scale_and_gradient():
    """The mask comes from an independent draw with the layer's seed, not from the output."""
    p, x = 0.3, np.random.default_rng(1).normal(size=(40, 6))
    kept = np.random.default_rng(0).random(x.shape) >= p  # what Dropout(p, rng=0) draws first
    layer = L.Dropout(p, rng=0)
    y = layer.forward(x)
    np.testing.assert_allclose(y, np.where(kept, x / (1 - p), 0.0), rtol=1e-15)
    G = np.random.default_rng(2).normal(size=y.shape)
    np.testing.assert_allclose(layer.backward(G), np.where(kept, G / (1 - p), 0.0), rtol=1e-15)
    # the next forward draws a new mask from the same stream
    assert not np.array_equal(layer.forward(x) == 0, y == 0)


def test_relu_layer_passes_no_gradient_at_zero():
    x = np.array([[0.0, -1.0, 2.0]])
    layer = L.ReLU()
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("seed", range(2))
def test_batchnorm_test_mode_gradients_use_gamma_and_running_statistics(seed):
    rng = np.random.default_rng(seed)
    layer = L.BatchNorm(5)
    layer.forward(rng.normal(2.0, 3.0, size=(16, 5)))  # running averages away from (0, 1)
    layer.params["gamma"][:] = rng.normal(size=5) * 3
    layer.params["beta"][:] = rng.normal(size=5)
    x = rng.normal(size=(6, 5))
    for key, err in layer_gradients_match(layer, x, rng, train=False).items():
        assert err < TOL, f"BatchNorm, test mode: gradient of {key} has relative error {err:.2e}"
    out = layer.forward(x, train=False)
    expected = layer.params["gamma"] * (x - layer.running_mean) / np.sqrt(layer.running_var + layer.eps)
    np.testing.assert_allclose(out, expected + layer.params["beta"], rtol=1e-12)


def test_sequential_gradients_and_flat_keys():
    rng = np.random.default_rng(3)
    model = L.Sequential(L.Linear(4, 6, rng=rng), L.BatchNorm(6), L.Tanh(), L.Linear(6, 3, rng=rng))
    assert list(model.params) == ["0.W", "0.b", "1.gamma", "1.beta", "3.W", "3.b"]
    assert all(model.params[k].shape == model.grads[k].shape for k in model.params)
    x, y = rng.normal(size=(7, 4)), rng.integers(0, 3, size=7)
    loss = losses.SoftmaxCrossEntropy()

    def J(_=None):
        return loss.forward(model.forward(x), y)

    J()
    model.backward(loss.backward())
    analytic = {k: g.copy() for k, g in model.grads.items()}
    for key, p in model.params.items():
        assert rel_err(analytic[key], numerical_gradient(J, p)) < TOL, key


def test_sequential_params_are_the_layers_arrays():
    model = L.Sequential(L.Linear(2, 2, rng=0))
    model.params["0.W"][...] = 7.0
    assert np.all(model.layers[0].params["W"] == 7.0)


def test_linear_shapes_and_init():
    layer = L.Linear(3, 5, init="zeros")
    assert layer.params["W"].shape == (5, 3) and layer.params["b"].shape == (5,)
    assert np.all(layer.params["W"] == 0)
    assert L.Linear(3, 5, dtype=np.float32).params["W"].dtype == np.float32


def test_linear_same_seed_same_weights():
    a, b = L.Linear(8, 4, rng=42), L.Linear(8, 4, rng=42)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])


def test_batchnorm_running_statistics_and_test_mode():
    rng = np.random.default_rng(0)
    bn = L.BatchNorm(3, momentum=0.8)
    batches = [rng.normal(4.0, 2.0, size=(32, 3)) for _ in range(3)]
    mean, var = np.zeros(3), np.ones(3)
    for xb in batches:
        bn.forward(xb, train=True)
        mean = 0.8 * mean + 0.2 * xb.mean(0)
        var = 0.8 * var + 0.2 * xb.var(0)
    np.testing.assert_allclose(bn.running_mean, mean)
    np.testing.assert_allclose(bn.running_var, var)
    x_test = rng.normal(size=(5, 3))
    before = bn.running_mean.copy()
    out = bn.forward(x_test, train=False)
    np.testing.assert_allclose(out, (x_test - mean) / np.sqrt(var + bn.eps))
    np.testing.assert_array_equal(bn.running_mean, before)  # test mode leaves them alone


def test_dropout_layer_is_identity_at_test_time_and_reproducible():
    x = np.ones((3, 4))
    np.testing.assert_array_equal(L.Dropout(0.5, rng=0).forward(x, train=False), x)
    np.testing.assert_array_equal(L.Dropout(0.5, rng=1).forward(x), L.Dropout(0.5, rng=1).forward(x))


def test_l2_penalty_covers_weights_not_biases():
    params = {"0.W": np.array([[1.0, 2.0]]), "0.b": np.array([5.0]), "1.gamma": np.array([3.0])}
    value, grads = losses.l2_penalty(params, 0.1)
    assert value == pytest.approx(0.1 * 5.0)
    assert list(grads) == ["0.W"]
    np.testing.assert_allclose(grads["0.W"], 2 * 0.1 * params["0.W"])
    numeric = numerical_gradient(lambda w: losses.l2_penalty({"W": w}, 0.1)[0], params["0.W"].copy())
    assert rel_err(grads["0.W"], numeric) < TOL


def test_mse_loss_class():
    mse = losses.MSE()
    pred, target = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 1.0]])
    assert mse(pred, target) == pytest.approx((1 + 4 + 1) / 2)
    np.testing.assert_allclose(mse.backward(), (pred - target))  # 2 (yhat - y) / N with N = 2


# --------------------------------------------------------------------------- bad input
def test_linear_names_itself_in_shape_errors():
    with pytest.raises(ValueError, match=r"Linear\(4, 2\)\.forward: .*expected x of shape \(N, 4\), got \(5, 3\)"):
        L.Linear(4, 2).forward(np.ones((5, 3)))


def test_linear_rejects_1d_batch():
    with pytest.raises(ValueError, match=r"Linear\(4, 2\)\.forward: .*1-D array of shape \(4,\)"):
        L.Linear(4, 2).forward(np.ones(4))


@pytest.mark.parametrize("make", [lambda: L.Linear(3, 2), L.ReLU, L.Sigmoid, lambda: L.BatchNorm(3),
                                  lambda: L.Dropout(0.5), lambda: L.Sequential(L.Linear(3, 2))])
def test_backward_before_forward(make):
    layer = make()
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        layer.backward(np.ones((2, 2)))


@pytest.mark.parametrize("loss", [losses.SoftmaxCrossEntropy(), losses.MSE()])
def test_loss_backward_before_forward(loss):
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        loss.backward()


def test_integer_input_to_layer():
    with pytest.raises(TypeError, match=r"Linear\(3, 2\)\.forward: .*float32 or float64 array, got dtype int64"):
        L.Linear(3, 2).forward(np.ones((4, 3), dtype=np.int64))
    with pytest.raises(TypeError, match=r"Tanh\(\)\.forward: .*got dtype float16"):
        L.Tanh().forward(np.ones((4, 3), dtype=np.float16))


def test_batchnorm_wrong_width():
    with pytest.raises(ValueError, match=r"BatchNorm\(3\)\.forward: .*expected x of shape \(N, 3\), got \(4, 2\)"):
        L.BatchNorm(3).forward(np.ones((4, 2)))


def test_loss_rejects_nan_scores_and_labels_out_of_range():
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        losses.SoftmaxCrossEntropy().forward(np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match=r"lie in \[0, 1\] for 2 classes"):
        losses.SoftmaxCrossEntropy().forward(np.zeros((1, 2)), np.array([2]))


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match="item 1 is a function"):
        L.Sequential(L.ReLU(), lambda x: x)


def test_training_backward_skips_the_input_gradient_but_not_the_weights():
    rng = np.random.default_rng(5)
    make = lambda: L.Sequential(L.Linear(4, 3, rng=1), L.ReLU(), L.Linear(3, 2, rng=2))
    full, lean = make(), make()
    x = rng.normal(size=(6, 4))
    G = rng.normal(size=(6, 2))
    full.forward(x), lean.forward(x)
    assert full.backward(G).shape == (6, 4)
    assert lean.backward(G, input_grad=False) is None
    for key in full.grads:
        np.testing.assert_array_equal(full.grads[key], lean.grads[key])


def test_training_backward_works_for_any_first_layer():
    """backward_params: a first layer without input_grad (here Tanh, or a user's layer) still fills grads."""
    rng = np.random.default_rng(6)

    class Square(L.Layer):  # a user's layer: backward(dy) only
        def forward(self, x, train=True):
            self._cache = x
            return x**2

        def backward(self, dy):
            return 2 * self._last_cache() * dy

    for first in (L.Tanh, Square):
        full, lean = (L.Sequential(first(), L.Linear(4, 2, rng=1)) for _ in range(2))
        x, G = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
        full.forward(x), lean.forward(x)
        full.backward(G)
        assert lean.backward(G, input_grad=False) is None
        np.testing.assert_array_equal(full.grads["1.W"], lean.grads["1.W"])


# --------------------------------------------------------------------------- interfaces
def test_a_layer_without_backward_cannot_be_built():
    class ForwardOnly(L.Layer):
        def forward(self, x, train=True):
            return x

    with pytest.raises(TypeError, match="ForwardOnly.*abstract method.*backward"):
        ForwardOnly()


def test_an_activation_must_name_its_functional_pair():
    from coursekit import functional as F

    with pytest.raises(TypeError, match=r"Softsign: an Activation subclass must set .*pair = FunctionalPair"):
        class Softsign(L.Activation):
            pass

    class Absolute(L.Activation):
        pair = L.FunctionalPair(lambda x: (np.abs(x), x), lambda dout, x: dout * np.sign(x))

    layer = Absolute()
    np.testing.assert_array_equal(layer.forward(np.array([-2.0, 3.0])), [2.0, 3.0])
    np.testing.assert_array_equal(layer.backward(np.array([1.0, 1.0])), [-1.0, 1.0])
    assert L.ReLU.pair == (F.relu_forward, F.relu_backward)


def test_a_loss_without_its_formula_cannot_be_built():
    class Nothing(losses.Loss):
        pass

    with pytest.raises(TypeError, match="Nothing.*abstract method.*loss_and_gradient"):
        Nothing()


def test_sequential_params_setter_copies_values_and_rejects_wrong_dicts():
    model = L.Sequential(L.Linear(2, 3, rng=0), L.ReLU(), L.Linear(3, 1, rng=1))
    W0 = model.layers[0].params["W"]
    new = {k: np.full(v.shape, 0.5) for k, v in model.params.items()}
    model.params = new
    assert model.layers[0].params["W"] is W0, "the layer keeps its array (optimisers hold it)"
    np.testing.assert_array_equal(W0, 0.5)
    with pytest.raises(ValueError, match=r"exactly the keys \['0.W', '0.b', '2.W', '2.b'\], got \[\]"):
        model.params = {}
    with pytest.raises(ValueError, match=r"got \['0.W'\]"):
        model.params = {"0.W": np.zeros((3, 2))}
    with pytest.raises(ValueError, match=r"'2.W' of shape \(1, 3\), got \(3, 1\)"):
        model.params = {**new, "2.W": np.zeros((3, 1))}
    np.testing.assert_array_equal(W0, 0.5)  # a rejected dict changes nothing
    with pytest.raises(AttributeError, match="Sequential.grads is computed by backward"):
        model.grads = {}


def test_sequential_passes_the_train_flag_to_every_layer():
    rng = np.random.default_rng(4)
    drop, bn = L.Dropout(0.5, rng=0), L.BatchNorm(6)
    model = L.Sequential(L.Linear(3, 6, rng=1), bn, drop, L.Linear(6, 2, rng=2))
    x = rng.normal(size=(8, 3))
    bn.forward(rng.normal(3.0, 2.0, size=(8, 6)))  # running statistics away from (0, 1)
    expected = x
    for layer in model.layers:
        expected = layer.forward(expected, train=False)
    np.testing.assert_array_equal(model.forward(x, train=False), expected)
    np.testing.assert_array_equal(model.forward_to(x, 2, train=False),
                                  bn.forward(model.layers[0].forward(x), train=False))


@pytest.mark.parametrize("loss", [losses.SoftmaxCrossEntropy(), losses.MSE()])
def test_loss_backward_belongs_to_the_last_forward(loss):
    rng = np.random.default_rng(5)
    y = np.array([0, 2, 1]) if isinstance(loss, losses.SoftmaxCrossEntropy) else rng.normal(size=(3, 3))
    first, second = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    loss.forward(first, y)
    g_first = loss.backward().copy()
    loss.forward(second, y)
    expected = loss.loss_and_gradient(second, y)[1]
    np.testing.assert_array_equal(loss.backward(), expected)
    assert not np.allclose(loss.backward(), g_first)
