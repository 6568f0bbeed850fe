"""Tests of coursekit.optim: hand-computed steps, Adam's bias correction,
convergence on an ill-conditioned quadratic, the classes, schedules and errors.

The hand computations use w0 = [1, -2] and small, round gradients; the arithmetic
is written next to each expected value.
"""
import numpy as np
import pytest

from coursekit import layers, optim

W0 = np.array([1.0, -2.0])


def two_steps(rule, state, g1, g2):
    """Apply ``rule`` twice from W0; return (w1, w2, final state)."""
    w1, state = rule(W0, np.array(g1), state)
    w2, state = rule(w1, np.array(g2), state)
    return w1, w2, state


# ----------------------------------------------------------------------------
# Values at t = 1 and t = 2, derived by hand
# ----------------------------------------------------------------------------
def test_sgd_by_hand():
    # lr = 0.1, g1 = [0.5, 1], g2 = [-1, 2]
    # w1 = [1 - 0.1*0.5, -2 - 0.1*1]      = [0.95, -2.1]
    # w2 = [0.95 - 0.1*(-1), -2.1 - 0.1*2] = [1.05, -2.3]
    w1, w2, state = two_steps(optim.sgd_update, {"lr": 0.1}, [0.5, 1.0], [-1.0, 2.0])
    np.testing.assert_allclose(w1, [0.95, -2.1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(w2, [1.05, -2.3], rtol=0, atol=1e-12)
    assert state == {"lr": 0.1}


def test_momentum_by_hand():
    # lr = 0.1, momentum = 0.5, g1 = [0.5, 1], g2 = [-1, 2]
    # t=1: v = 0.5*0 - 0.1*[0.5, 1] = [-0.05, -0.1];   w1 = [0.95, -2.1]
    # t=2: v = 0.5*[-0.05, -0.1] - 0.1*[-1, 2] = [-0.025 + 0.1, -0.05 - 0.2] = [0.075, -0.25]
    #      w2 = [0.95 + 0.075, -2.1 - 0.25] = [1.025, -2.35]
    w1, w2, state = two_steps(optim.momentum_update, {"lr": 0.1, "momentum": 0.5},
                              [0.5, 1.0], [-1.0, 2.0])
    np.testing.assert_allclose(w1, [0.95, -2.1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(w2, [1.025, -2.35], rtol=0, atol=1e-12)
    np.testing.assert_allclose(state["v"], [0.075, -0.25], rtol=0, atol=1e-12)


def test_nesterov_by_hand():
    # lr = 0.1, momentum = 0.5, g1 = [0.5, 1], g2 = [-1, 2]; w <- w + mu*v_new - lr*g
    # t=1: v = [-0.05, -0.1];  w1 = [1 + 0.5*(-0.05) - 0.05, -2 + 0.5*(-0.1) - 0.1] = [0.925, -2.15]
    # t=2: v = 0.5*[-0.05, -0.1] - 0.1*[-1, 2] = [0.075, -0.25]
    #      w2 = [0.925 + 0.0375 + 0.1, -2.15 - 0.125 - 0.2] = [1.0625, -2.475]
    w1, w2, state = two_steps(optim.nesterov_update, {"lr": 0.1, "momentum": 0.5},
                              [0.5, 1.0], [-1.0, 2.0])
    np.testing.assert_allclose(w1, [0.925, -2.15], rtol=0, atol=1e-12)
    np.testing.assert_allclose(w2, [1.0625, -2.475], rtol=0, atol=1e-12)
    np.testing.assert_allclose(state["v"], [0.075, -0.25], rtol=0, atol=1e-12)


def test_nesterov_equals_the_other_written_form():
    # w - mu*v_old + (1 + mu)*v_new, the form found in CS231n's notes
    rng = np.random.default_rng(0)
    w, state = rng.standard_normal(5), {"lr": 0.05, "momentum": 0.8}
    for _ in range(4):
        g = rng.standard_normal(5)
        v_old = state.get("v", np.zeros(5))
        w_next, state = optim.nesterov_update(w, g, state)
        np.testing.assert_allclose(w_next, w - 0.8 * v_old + 1.8 * state["v"], atol=1e-12)
        w = w_next


def test_adagrad_by_hand():
    # lr = 0.1, g1 = [3, 4], g2 = [4, -3]; eps = 1e-8 changes the results by < 1e-9
    # t=1: r = [9, 16], sqrt(r) = [3, 4];  w1 = [1 - 0.1*3/3, -2 - 0.1*4/4] = [0.9, -2.1]
    # t=2: r = [9 + 16, 16 + 9] = [25, 25], sqrt(r) = [5, 5]
    #      w2 = [0.9 - 0.1*4/5, -2.1 + 0.1*3/5] = [0.82, -2.04]
    w1, w2, state = two_steps(optim.adagrad_update, {"lr": 0.1}, [3.0, 4.0], [4.0, -3.0])
    np.testing.assert_allclose(w1, [0.9, -2.1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(w2, [0.82, -2.04], rtol=0, atol=1e-9)
    np.testing.assert_allclose(state["r"], [25.0, 25.0], rtol=0, atol=1e-12)


def test_rmsprop_by_hand():
    # lr = 0.1, rho = 0.75, g1 = [3, 4], g2 = [4, -3]
    # t=1: r = 0.25*[9, 16] = [2.25, 4], sqrt(r) = [1.5, 2]
    #      w1 = [1 - 0.1*3/1.5, -2 - 0.1*4/2] = [0.8, -2.2]
    # t=2: r = 0.75*[2.25, 4] + 0.25*[16, 9] = [1.6875 + 4, 3 + 2.25] = [5.6875, 5.25]
    #      w2 = [0.8 - 0.1*4/sqrt(5.6875), -2.2 + 0.1*3/sqrt(5.25)]
    #         = [0.8 - 0.1677256..., -2.2 + 0.1309307...] = [0.6322744..., -2.0690693...]
    # (eps = 1e-8 moves these by about lr * eps / sqrt(r) < 2e-9: hence atol 1e-8)
    w1, w2, state = two_steps(optim.rmsprop_update, {"lr": 0.1, "rho": 0.75},
                              [3.0, 4.0], [4.0, -3.0])
    np.testing.assert_allclose(w1, [0.8, -2.2], rtol=0, atol=1e-8)
    np.testing.assert_allclose(w2, [0.8 - 0.4 / np.sqrt(5.6875), -2.2 + 0.3 / np.sqrt(5.25)],
                               rtol=0, atol=1e-8)
    np.testing.assert_allclose(w2, [0.6322744, -2.0690693], rtol=0, atol=1e-7)
    np.testing.assert_allclose(state["r"], [5.6875, 5.25], rtol=0, atol=1e-12)


def test_adam_by_hand():
    # lr = 0.1, beta1 = 0.5, beta2 = 0.75, g1 = [3, 4], g2 = [-1, 2]
    # t=1: s = 0.5*g1 = [1.5, 2],  r = 0.25*g1^2 = [2.25, 4]
    #      s_hat = s/(1 - 0.5) = [3, 4],  r_hat = r/(1 - 0.75) = [9, 16]
    #      w1 = [1 - 0.1*3/3, -2 - 0.1*4/4] = [0.9, -2.1]
    # t=2: s = 0.5*[1.5, 2] + 0.5*[-1, 2] = [0.25, 2]
    #      r = 0.75*[2.25, 4] + 0.25*[1, 4] = [1.9375, 4]
    #      s_hat = s/(1 - 0.25) = [1/3, 8/3],  r_hat = r/(1 - 0.5625) = [31/7, 64/7]
    #      w2 = [0.9 - 0.1*(1/3)/sqrt(31/7), -2.1 - 0.1*(8/3)/(8/sqrt(7))]
    #         = [0.9 - 0.0158397..., -2.1 - 0.0881917...] = [0.8841603..., -2.1881917...]
    w1, w2, state = two_steps(optim.adam_update, {"lr": 0.1, "beta1": 0.5, "beta2": 0.75},
                              [3.0, 4.0], [-1.0, 2.0])
    np.testing.assert_allclose(w1, [0.9, -2.1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(w2, [0.9 - 0.1 / 3 / np.sqrt(31 / 7), -2.1 - 0.1 * np.sqrt(7) / 3],
                               rtol=0, atol=1e-8)
    np.testing.assert_allclose(w2, [0.8841603, -2.1881917], rtol=0, atol=1e-7)
    np.testing.assert_allclose(state["s"], [0.25, 2.0], atol=1e-12)
    np.testing.assert_allclose(state["r"], [1.9375, 4.0], atol=1e-12)
    assert state["t"] == 2


def test_adam_first_step_moves_each_coordinate_by_lr_times_sign():
    # Without bias correction the first step would be lr * 0.1 g / (sqrt(0.001) |g|),
    # about 3.16 lr; with it, s_hat = g and r_hat = g^2, so the step is lr * sign(g).
    g = np.array([1e-3, -0.5, 20.0, -3e2, 7.0])
    w = np.arange(5.0)
    w1, _ = optim.adam_update(w, g, {"lr": 0.01})
    np.testing.assert_allclose(w1 - w, -0.01 * np.sign(g), rtol=1e-4)


@pytest.mark.parametrize("rule", [optim.sgd_update, optim.momentum_update, optim.nesterov_update,
                                  optim.adagrad_update, optim.rmsprop_update, optim.adam_update])
def test_rules_are_pure_and_fill_in_defaults(rule):
    w, g = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.5, -0.5], [1.0, 2.0]])
    w_before, g_before, state = w.copy(), g.copy(), {}
    w1, new_state = rule(w, g, state)
    assert state == {}, "the state passed in must not be modified"
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(g, g_before)
    assert w1.shape == w.shape and w1 is not w
    assert "lr" in new_state and new_state["lr"] > 0
    # the same input gives the same output (nothing hidden was changed)
    np.testing.assert_array_equal(rule(w, g, {})[0], w1)


@pytest.mark.parametrize("rule", [optim.sgd_update, optim.momentum_update, optim.adam_update])
def test_float32_stays_float32(rule):
    w, g = np.ones(3, np.float32), np.full(3, 0.5, np.float32)
    w1, state = rule(w, g, {})
    w2, _ = rule(w1, g, state)
    assert w2.dtype == np.float32


# ----------------------------------------------------------------------------
# Convergence on f(w) = 1/2 w^T diag(1, 100) w, minimum at 0, condition number 100
# ----------------------------------------------------------------------------
CURVATURE = np.array([1.0, 100.0])


def descend(rule, state, steps, schedule=None):
    """Run ``steps`` steps from w = [1, 1]; return max |w_i| after each step."""
    w, state, path = np.array([1.0, 1.0]), dict(state), []
    for k in range(steps):
        if schedule is not None:
            state["lr"] = schedule(k)
        w, state = rule(w, CURVATURE * w, state)  # gradient of f is diag(1, 100) w
        path.append(np.abs(w).max())
    return np.array(path)


@pytest.mark.parametrize("rule, state, steps", [
    (optim.sgd_update, {"lr": 0.019}, 400),          # rate 1 - 0.019 per step along w1
    (optim.momentum_update, {"lr": 0.01, "momentum": 0.9}, 200),
    (optim.nesterov_update, {"lr": 0.01, "momentum": 0.9}, 200),
    (optim.adagrad_update, {"lr": 0.1}, 400),
    (optim.adam_update, {"lr": 0.05}, 200),
])
def test_each_rule_reaches_1e_3_on_the_ill_conditioned_quadratic(rule, state, steps):
    path = descend(rule, state, steps)
    assert path[-1] < 1e-3, f"{rule.__name__}: max|w| = {path[-1]:.2e} after {steps} steps"


def test_sgd_learning_rate_above_2_over_curvature_diverges():
    # along w2 the step multiplies w2 by (1 - 100 lr): |1 - 100*0.021| = 1.1 > 1
    assert descend(optim.sgd_update, {"lr": 0.021}, 100)[-1] > 1e3


def test_momentum_beats_sgd_with_the_same_learning_rate():
    # lr = 0.01: SGD shrinks w1 by 0.99 per step, 0.99^200 = 0.134; momentum 0.9
    # shrinks it by about sqrt(0.9) = 0.949 per step (complex eigenvalues of modulus sqrt(mu)).
    sgd = descend(optim.sgd_update, {"lr": 0.01}, 200)
    heavy_ball = descend(optim.momentum_update, {"lr": 0.01, "momentum": 0.9}, 200)
    np.testing.assert_allclose(sgd[-1], 0.99**200, rtol=1e-9)
    assert heavy_ball[-1] < 1e-4 < 0.1 < sgd[-1]


def test_rmsprop_with_constant_lr_stalls_and_decay_fixes_it():
    # RMSProp's steps have size about lr whatever the gradient, so with a constant lr it
    # ends up bouncing around the minimum at amplitude about lr / 2 ...
    constant = descend(optim.rmsprop_update, {"lr": 0.01}, 400)
    assert constant[-1] < 1e-2
    assert constant[300:].max() > 1e-3
    # ... while a decaying learning rate lets it settle.
    decayed = descend(optim.rmsprop_update, {"lr": 0.01}, 400,
                      schedule=lambda k: optim.linear_decay(0.01, k, tau=300))
    assert decayed[-1] < 1e-3


# ----------------------------------------------------------------------------
# Optimiser classes
# ----------------------------------------------------------------------------
CLASSES = [(optim.SGD, optim.sgd_update), (optim.Momentum, optim.momentum_update),
           (optim.Nesterov, optim.nesterov_update), (optim.AdaGrad, optim.adagrad_update),
           (optim.RMSProp, optim.rmsprop_update), (optim.Adam, optim.adam_update)]


@pytest.mark.parametrize("cls, rule", CLASSES)
def test_class_updates_the_model_in_place_and_matches_the_rule(cls, rule):
    model = layers.Sequential(layers.Linear(3, 4, rng=0), layers.ReLU(), layers.Linear(4, 2, rng=1))
    params = model.params
    ids = {k: id(v) for k, v in params.items()}
    expected = {k: v.copy() for k, v in params.items()}
    states = {k: {"lr": 0.05} for k in params}
    opt = cls(lr=0.05)
    rng = np.random.default_rng(0)
    for _ in range(3):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        opt.step(model.params, grads)
        for k in params:
            expected[k], states[k] = rule(expected[k], grads[k], states[k])
    for k, v in model.params.items():
        assert id(v) == ids[k], f"{cls.__name__} replaced the array {k} instead of updating it"
        np.testing.assert_allclose(v, expected[k], rtol=1e-12, atol=1e-15)


def test_class_learning_rate_can_change_between_steps():
    w = np.array([1.0])
    opt = optim.SGD(lr=0.5)
    opt.step({"w": w}, {"w": np.array([1.0])})   # 1 - 0.5 = 0.5
    opt.lr = 0.25
    opt.step({"w": w}, {"w": np.array([1.0])})   # 0.5 - 0.25 = 0.25
    np.testing.assert_allclose(w, [0.25])
    assert "lr=0.25" in repr(opt)


def test_class_errors():
    with pytest.raises(ValueError, match="learning_rate"):
        optim.SGD(learning_rate=0.1)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.Adam(lr=-1)
    with pytest.raises(ValueError, match="running"):
        optim.Momentum(v=1.0)
    with pytest.raises(TypeError, match="abstract .*rule"):
        optim.Optimizer(lr=0.1)
    opt = optim.SGD()
    with pytest.raises(ValueError, match=r"no gradient for parameter\(s\) \['b'\]"):
        opt.step({"W": np.ones((2, 2)), "b": np.ones(2)}, {"W": np.ones((2, 2))})
    with pytest.raises(ValueError, match="'W'.*shape of w \\(2, 2\\), got \\(2,\\)"):
        opt.step({"W": np.ones((2, 2))}, {"W": np.ones(2)})
    with pytest.raises(TypeError, match="numpy array"):
        opt.step({"W": [1.0, 2.0]}, {"W": np.ones(2)})
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -0.1


def test_an_optimizer_without_a_rule_fails_when_defined():
    with pytest.raises(TypeError, match=r"NoRule: an Optimizer subclass must set its update rule"):
        class NoRule(optim.Optimizer):
            pass

    class Halving(optim.Optimizer):
        rule = staticmethod(optim.sgd_update)

    w = np.ones(2)
    Halving(lr=0.5).step({"w": w}, {"w": np.ones(2)})
    np.testing.assert_array_equal(w, [0.5, 0.5])


# ----------------------------------------------------------------------------
# Errors of the rules, and schedules
# ----------------------------------------------------------------------------
def test_rule_errors():
    w = np.ones(3)
    with pytest.raises(ValueError, match=r"sgd_update: the gradient dw must have the shape of w \(3,\), got \(1,\)"):
        optim.sgd_update(w, np.ones(1), {})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['momentum'\]"):
        optim.sgd_update(w, w, {"momentum": 0.9})
    with pytest.raises(ValueError, match="lr must be >= 0, got -0.1"):
        optim.momentum_update(w, w, {"lr": -0.1})
    with pytest.raises(ValueError, match="beta1 must lie in"):
        optim.adam_update(w, w, {"beta1": 1.0})
    with pytest.raises(ValueError, match="eps must be > 0"):
        optim.rmsprop_update(w, w, {"eps": 0.0})
    with pytest.raises(ValueError, match=r"state\['v'\] has shape \(2,\)"):
        optim.momentum_update(w, w, {"v": np.zeros(2)})
    with pytest.raises(TypeError, match="float32 or float64"):
        optim.sgd_update(np.ones(3, dtype=int), w, {})
    with pytest.raises(TypeError, match="lr must be a number"):
        optim.sgd_update(w, w, {"lr": "0.1"})
    with pytest.raises(ValueError, match="step count"):
        optim.adam_update(w, w, {"t": -1})


def test_step_decay():
    # lr0 = 0.1 halved every 10 epochs
    assert [optim.step_decay(0.1, k) for k in (0, 9, 10, 19, 20, 35)] == \
        pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125])
    with pytest.raises(ValueError):
        optim.step_decay(0.1, 3, drop=0.0)


def test_linear_decay():
    # lr0 = 1, lr_end = 0.01 (default 1%), tau = 4: alpha = k/4
    # k=2: 0.5*1 + 0.5*0.01 = 0.505;  k >= 4: 0.01
    assert [optim.linear_decay(1.0, k, tau=4) for k in (0, 2, 4, 10)] == \
        pytest.approx([1.0, 0.505, 0.01, 0.01])
    assert optim.linear_decay(1.0, 1, tau=4, lr_end=0.0) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        optim.linear_decay(1.0, 1, tau=0)


@pytest.mark.parametrize("rule", [optim.sgd_update, optim.momentum_update, optim.nesterov_update,
                                  optim.adagrad_update, optim.rmsprop_update, optim.adam_update])
def test_out_writes_the_same_values_into_w(rule):
    rng = np.random.default_rng(0)
    w, dw = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    expected, state = rule(w, dw, {})
    target = w.copy()
    result, state_out = rule(target, dw, {}, out=target)
    assert result is target
    np.testing.assert_array_equal(target, expected)
    assert state_out.keys() == state.keys()
