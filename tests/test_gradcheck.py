"""Tests of coursekit.gradcheck.

1. The building blocks: numerical_gradient restores x, numerical_jacobian of a
   linear map is its matrix, relative_error's properties.
2. Correct implementations pass: every functional op and every layer of coursekit,
   in all three modes.
3. Planted bugs are caught in all three modes: a transposed weight gradient (square
   W, so the shapes still match), a missing 1/N, a missing regularisation gradient,
   a batch-norm backward without the mean term, a sign error.

   Why no mode misses these bugs (not just with the seeds used here): each one
   corrupts (almost) every entry of the gradient, by an amount comparable to the
   entry.  A "sparse" check of k coordinates misses a bug confined to b of n
   entries with probability C(n-b, k) / C(n, k); here b is n (or n minus the
   diagonal of a square W for the transpose), so the probability is 0 once k exceeds
   the unaffected entries.  A "directional" check with direction u misses an error
   vector e only if |e.u| < t (|g.u| + |(g+e).u|) with t = WARN_THRESHOLD = 1e-4;
   for a random unit u, e.u and g.u are (nearly) jointly Gaussian, and the chance
   that e.u is that small is about (2/pi) * 2t * |g| / |e_perp| (e_perp: the part of
   e not parallel to g), i.e. ~1e-4 per direction for an error as large as the
   gradient; with 5 directions that is ~1e-20.  What the sparse mode *does* miss is
   a bug in one entry: see
   test_sparse_mode_can_miss_a_single_entry_bug_that_directional_catches and the
   benchmark's table.
4. Kinks: ReLU inputs within h of 0 give KINK, not FAIL; a wrong gradient near a kink
   still FAILs.
5. Warnings (float32, bad h), errors for bad input, the report's table and HTML,
   and that a check leaves the layer or model exactly as it found it.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coursekit import functional as F
from coursekit import gradcheck as gc
from coursekit import layers as L
from coursekit import losses
from planted_bugs import (
    NoMeanTermBatchNorm,
    SignErrorReLU,
    SignErrorTanh,
    SumNotMeanCrossEntropy,
    TransposedLinear,
    penalty_without_gradient,
)

MODES = gc.MODES


def rand(shape, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal(shape)


def away_from_zero(shape, seed=0, margin=1e-2):
    """Inputs for kinked layers that stay well away from the kink at 0."""
    x = rand(shape, seed)
    return np.where(np.abs(x) < margin, margin * np.sign(x + 1e-300) * 3, x)


# ----------------------------------------------------------------------------
# 1. Building blocks
# ----------------------------------------------------------------------------
def test_numerical_gradient_of_a_quadratic_matches_the_formula():
    A = rand((4, 4), 1)
    A = A @ A.T
    x = rand(4, 2)
    g = gc.numerical_gradient(lambda v: 0.5 * v @ A @ v, x)
    assert gc.relative_error(g, A @ x) < 1e-8


def test_numerical_gradient_restores_x_bitwise():
    x = rand((3, 5), 3)
    before = x.copy()
    gc.numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    assert np.array_equal(x, before)


def test_numerical_gradient_restores_x_even_when_f_raises():
    x = rand((2, 3), 4)
    before = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 4:  # raise while x[0, 1] is perturbed
            raise RuntimeError("boom")
        return float(v.sum())

    with pytest.raises(RuntimeError, match="boom"):
        gc.numerical_gradient(f, x)
    assert np.array_equal(x, before)


def test_numerical_gradient_rejects_bad_input_with_clear_messages():
    with pytest.raises(TypeError, match="numerical_gradient.*numpy float array"):
        gc.numerical_gradient(lambda v: 0.0, [1.0, 2.0])
    with pytest.raises(TypeError, match="numerical_gradient.*float32 or float64.*int64"):
        gc.numerical_gradient(lambda v: 0.0, np.arange(3))
    with pytest.raises(ValueError, match="numerical_gradient: h must be a positive"):
        gc.numerical_gradient(lambda v: 0.0, np.zeros(3), h=0.0)
    with pytest.raises(ValueError, match="numerical_gradient: f must return a scalar.*\\(3,\\)"):
        gc.numerical_gradient(lambda v: v * 2, np.zeros(3))


def test_numerical_jacobian_of_a_linear_map_is_its_matrix():
    A = rand((3, 5), 5)
    x = rand(5, 6)
    J = gc.numerical_jacobian(lambda v: A @ v, x)
    assert J.shape == (3, 5)
    np.testing.assert_allclose(J, A, rtol=1e-9, atol=1e-10)


def test_numerical_jacobian_layout_for_matrix_inputs_and_outputs():
    # f(X) = X W^T on a (2, 3) input with W (4, 3): out (2, 4), Jacobian (8, 6) with
    # d out[n, i] / d X[m, j] = W[i, j] if n == m.  Numerator layout, C order.
    W = rand((4, 3), 7)
    X = rand((2, 3), 8)
    J = gc.numerical_jacobian(lambda v: v @ W.T, X)
    expected = np.kron(np.eye(2), W)
    np.testing.assert_allclose(J, expected, rtol=1e-9, atol=1e-10)
    # the vector-Jacobian product J^T dout is what linear_backward computes
    dout = rand((2, 4), 9)
    _, cache = F.linear_forward(X, W, np.zeros(4))
    dx, _, _ = F.linear_backward(dout, cache)
    np.testing.assert_allclose((J.T @ dout.ravel()).reshape(X.shape), dx, rtol=1e-8)


def test_numerical_jacobian_of_softmax_is_diag_p_minus_ppT():
    s = rand((1, 4), 10)
    J = gc.numerical_jacobian(lambda v: F.softmax_forward(v)[0], s)
    p = F.softmax_forward(s)[0].ravel()
    np.testing.assert_allclose(J, np.diag(p) - np.outer(p, p), atol=1e-10)


finite_arrays = hnp.arrays(np.float64, st.integers(1, 6),
                           elements=st.floats(-1e3, 1e3, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(finite_arrays, st.data())
def test_relative_error_properties(a, data):
    b = data.draw(hnp.arrays(np.float64, a.shape, elements=st.floats(-1e3, 1e3)))
    c = data.draw(st.floats(1e-3, 1e3) | st.floats(-1e3, -1e-3))
    e = gc.relative_error(a, b)
    assert 0.0 <= e <= 1.0
    assert e == gc.relative_error(b, a)  # symmetric
    assert gc.relative_error(a, a) == 0.0
    if np.any(a != b):
        assert e > 0
    # invariant under a common scaling (the tiny floor never matters here)
    if np.all(np.abs(a) + np.abs(b) > 1e-200) or e == 0:
        assert gc.relative_error(c * a, c * b) == pytest.approx(e, rel=1e-9, abs=1e-15)


def test_relative_error_formula_and_floor():
    a, b = np.array([1.0, 0.0, -2.0]), np.array([1.1, 0.0, 2.0])
    assert gc.relative_error(a, b) == 1.0  # the sign error dominates
    assert gc.relative_error(a[:1], b[:1]) == pytest.approx(0.1 / 2.1)
    # with a floor, tiny entries are judged by their absolute error
    assert gc.relative_error([1e-12], [2e-12], floor=1e-6) == pytest.approx(1e-6)
    with pytest.raises(ValueError, match="relative_error: a and b must have the same shape"):
        gc.relative_error(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(TypeError, match="relative_error.*int64"):
        gc.relative_error(np.arange(3), np.zeros(3))


# ----------------------------------------------------------------------------
# 2. Correct implementations pass, in every mode
# ----------------------------------------------------------------------------
N, D, M = 5, 4, 3


def op_cases():
    """(name, forward, backward, inputs): every functional op of coursekit."""
    x = rand((N, D), 11)
    xk = away_from_zero((N, D), 12)
    W, b = rand((M, D), 13), rand(M, 14)
    gamma, beta = rand(D, 15) + 2.0, rand(D, 16)
    rmean, rvar = rand(D, 17), np.abs(rand(D, 18)) + 0.5
    return [
        ("linear", F.linear_forward, F.linear_backward, {"x": x, "W": W, "b": b}),
        ("relu", F.relu_forward, F.relu_backward, {"x": xk}),
        ("leaky_relu", lambda v: F.leaky_relu_forward(v, 0.1), F.leaky_relu_backward, {"x": xk}),
        ("elu", lambda v: F.elu_forward(v, 1.3), F.elu_backward, {"x": xk}),
        ("sigmoid", F.sigmoid_forward, F.sigmoid_backward, {"x": 3 * x}),
        ("tanh", F.tanh_forward, F.tanh_backward, {"x": x}),
        ("swish", lambda v: F.swish_forward(v, 1.7), F.swish_backward, {"x": x}),
        ("softmax", F.softmax_forward, F.softmax_backward, {"s": 2 * x}),
        ("batchnorm-train", lambda v, g, bb: F.batchnorm_forward(v, g, bb, train=True),
         F.batchnorm_backward, {"x": x, "gamma": gamma, "beta": beta}),
        ("batchnorm-test", lambda v, g, bb: F.batchnorm_forward(
            v, g, bb, train=False, running_mean=rmean, running_var=rvar),
         F.batchnorm_backward, {"x": x, "gamma": gamma, "beta": beta}),
        # a fresh generator with a fixed seed: every forward draws the same mask
        ("dropout-fixed-mask", lambda v: F.dropout_forward(v, 0.4, np.random.default_rng(3)),
         F.dropout_backward, {"x": x}),
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", op_cases(), ids=lambda c: c[0])
def test_every_functional_op_passes(case, mode):
    name, forward, backward, inputs = case
    report = gc.check_op(forward, backward, inputs, mode=mode, k=6, directions=6, rng=1)
    assert report.passed, str(report)
    assert all(row.verdict == gc.PASS for row in report.rows), str(report)
    assert [row.name for row in report.rows] == list(inputs)


@pytest.mark.parametrize("mode", MODES)
def test_losses_pass(mode):
    scores = rand((N, M), 20, scale=3.0)
    y = np.array([0, 2, 1, 1, 0])
    r1 = gc.check_function(lambda s: F.softmax_cross_entropy(s, y)[0], scores,
                           lambda s: F.softmax_cross_entropy(s, y)[1], mode=mode, rng=0)
    target = rand((N, M), 21)
    r2 = gc.check_function(lambda p: F.mse(p, target)[0], scores,
                           lambda p: F.mse(p, target)[1], mode=mode, rng=0)
    for report in (r1, r2):
        assert report.worst.verdict == gc.PASS, str(report)


def layer_cases():
    return [
        (L.Linear(D, M, rng=0), rand((N, D), 30)),
        (L.ReLU(), away_from_zero((N, D), 31)),
        (L.LeakyReLU(0.2), away_from_zero((N, D), 32)),
        (L.ELU(0.7), away_from_zero((N, D), 33)),
        (L.Sigmoid(), rand((N, D), 34)),
        (L.Tanh(), rand((N, D), 35)),
        (L.Swish(1.5), rand((N, D), 36)),
        (L.BatchNorm(D), rand((N, D), 37, scale=2.0)),
        (L.Dropout(0.3, rng=5), rand((N, D), 38)),
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", layer_cases(), ids=lambda c: repr(c[0]))
def test_every_layer_passes(case, mode):
    layer, x = case
    report = gc.check_layer(layer, x, mode=mode, k=8, directions=6, rng=2)
    assert report.passed and report.worst.verdict == gc.PASS, str(report)
    assert [row.name for row in report.rows] == ["x", *layer.params]


@pytest.mark.parametrize("mode", MODES)
def test_batchnorm_test_mode_passes(mode):
    bn = L.BatchNorm(D)
    for seed in range(3):  # give the running statistics non-trivial values
        bn.forward(rand((8, D), seed, scale=3.0) + 1.0)
    report = gc.check_layer(bn, rand((N, D), 40), mode=mode, train=False, rng=0)
    assert report.worst.verdict == gc.PASS, str(report)


def small_model(seed=0, bn=True, act=L.Tanh):
    parts = [L.Linear(6, 8, rng=seed), act()]
    if bn:
        parts.append(L.BatchNorm(8))
    parts.append(L.Linear(8, 3, rng=seed + 1))
    return L.Sequential(*parts)


@pytest.mark.parametrize("mode", MODES)
def test_whole_model_with_both_losses_and_l2_passes(mode):
    X = rand((10, 6), 50)
    y = np.random.default_rng(51).integers(0, 3, 10)
    r1 = gc.check_model(small_model(), losses.SoftmaxCrossEntropy(), X, y, l2=0.05,
                        mode=mode, rng=3)
    r2 = gc.check_model(small_model(1, act=L.Sigmoid), losses.MSE(), X, rand((10, 3), 52),
                        l2=0.3, mode=mode, rng=3)
    for report in (r1, r2):
        assert report.passed and report.worst.verdict == gc.PASS, str(report)
        assert [r.name for r in report.rows] == ["0.W", "0.b", "2.gamma", "2.beta", "3.W", "3.b"]


def test_model_with_dropout_is_checked_with_a_fixed_mask():
    model = L.Sequential(L.Linear(6, 8, rng=0), L.Tanh(), L.Dropout(0.5, rng=9),
                         L.Linear(8, 3, rng=1))
    X = rand((10, 6), 53)
    y = np.arange(10) % 3
    report = gc.check_model(model, losses.SoftmaxCrossEntropy(), X, y, mode="full")
    assert report.worst.verdict == gc.PASS, str(report)


# ----------------------------------------------------------------------------
# 3. Planted bugs are caught, in every mode
# ----------------------------------------------------------------------------










def failing_rows(report):
    return {row.name for row in report.rows if row.verdict == gc.FAIL}


@pytest.mark.parametrize("mode", MODES)
def test_transposed_weight_gradient_is_caught(mode):
    report = gc.check_layer(TransposedLinear(5, 5, rng=0), rand((N, 5), 60), mode=mode,
                            k=10, directions=5, rng=1)
    assert not report.passed
    assert failing_rows(report) == {"W"}, str(report)
    assert report.worst.name == "W"


@pytest.mark.parametrize("mode", MODES)
def test_transposed_weight_gradient_is_caught_inside_a_model(mode):
    model = L.Sequential(L.Linear(6, 6, rng=0), L.Tanh(), TransposedLinear(6, 6, rng=1))
    X, y = rand((10, 6), 61), np.arange(10) % 6
    report = gc.check_model(model, losses.SoftmaxCrossEntropy(), X, y, mode=mode, k=10,
                            directions=5, rng=1)
    assert failing_rows(report) == {"2.W"}, str(report)


@pytest.mark.parametrize("mode", MODES)
def test_missing_one_over_n_is_caught(mode):
    X, y = rand((10, 6), 62), np.arange(10) % 3
    report = gc.check_model(small_model(), SumNotMeanCrossEntropy(), X, y, mode=mode, k=5,
                            directions=5, rng=1)
    assert failing_rows(report) == {r.name for r in report.rows}, str(report)
    # the gradient is N = 10 times too big: relative error (10 - 1) / (10 + 1)
    assert report.worst.max_error == pytest.approx(9 / 11, rel=1e-3)


@pytest.mark.parametrize("mode", MODES)
def test_missing_regularisation_gradient_is_caught(mode):
    X, y = rand((10, 6), 63), np.arange(10) % 3
    report = gc.check_model(small_model(), losses.SoftmaxCrossEntropy(), X, y, l2=0.1,
                            penalty=penalty_without_gradient, mode=mode, k=5, directions=5,
                            rng=1)
    # only the weight matrices are penalised, so only they are wrong
    assert failing_rows(report) == {"0.W", "3.W"}, str(report)
    good = gc.check_model(small_model(), losses.SoftmaxCrossEntropy(), X, y, l2=0.1,
                          mode=mode, k=5, directions=5, rng=1)
    assert good.passed and good.worst.verdict == gc.PASS, str(good)


@pytest.mark.parametrize("mode", MODES)
def test_batchnorm_backward_without_the_mean_term_is_caught(mode):
    report = gc.check_layer(NoMeanTermBatchNorm(D), rand((8, D), 64, scale=2.0) + 1.0,
                            mode=mode, k=10, directions=5, rng=1)
    assert failing_rows(report) == {"x"}, str(report)  # dgamma and dbeta are right


@pytest.mark.parametrize("mode", MODES)
def test_sign_error_is_caught_in_a_layer_and_in_a_model(mode):
    report = gc.check_layer(SignErrorTanh(), rand((N, D), 65), mode=mode, k=5, directions=5,
                            rng=1)
    assert failing_rows(report) == {"x"}, str(report)
    model = L.Sequential(L.Linear(6, 8, rng=0), SignErrorTanh(), L.Linear(8, 3, rng=1))
    X, y = rand((10, 6), 66), np.arange(10) % 3
    report = gc.check_model(model, losses.SoftmaxCrossEntropy(), X, y, mode=mode, k=5,
                            directions=5, rng=1)
    # the sign flips dJ/ds of the first layer only: its W and b are wrong, the last layer's not
    assert failing_rows(report) == {"0.W", "0.b"}, str(report)


def test_sparse_mode_can_miss_a_single_entry_bug_that_directional_catches():
    class OneWrongBias(L.Linear):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["b"] = self.grads["b"].copy()
            self.grads["b"][7] *= -1.0
            return dx

    layer, x = OneWrongBias(4, 40, rng=0), rand((N, 4), 67)
    full = gc.check_layer(layer, x, mode="full")
    assert failing_rows(full) == {"b"} and full["b"].where == (7,)
    # 5 of 40 entries: the wrong one is drawn with probability 5/40 only
    seeds_missing = [s for s in range(8)
                     if gc.check_layer(layer, x, mode="sparse", k=5, rng=s)["b"].verdict == gc.PASS]
    assert seeds_missing, "with these seeds sparse mode should miss the single wrong entry"
    directional = gc.check_layer(layer, x, mode="directional", directions=5, rng=0)
    assert failing_rows(directional) == {"b"}, str(directional)


# ----------------------------------------------------------------------------
# 4. Kinks
# ----------------------------------------------------------------------------
def kinked_input():
    x = away_from_zero((N, D), 70)
    x[0, 0] = 0.0  # exactly at the kink
    x[1, 2] = 3e-6  # within h = 1e-5 on the right
    x[3, 1] = -6e-6  # within h on the left
    return x


@pytest.mark.parametrize("layer", [L.ReLU(), L.LeakyReLU(0.1)], ids=repr)
@pytest.mark.parametrize("mode", ["full", "sparse"])
def test_relu_inputs_within_h_of_zero_give_kink_not_fail(layer, mode):
    report = gc.check_layer(layer, kinked_input(), mode=mode, k=N * D, rng=0)
    row = report["x"]
    assert row.verdict == gc.KINK, str(report)
    assert set(row.kinks) == {(0, 0), (1, 2), (3, 1)}
    assert report.passed
    assert gc.KINK_MESSAGE in str(report)
    assert row.max_error < gc.PASS_THRESHOLD  # the other coordinates are verified


@pytest.mark.parametrize("layer", [L.ReLU(), L.LeakyReLU(0.1)], ids=repr)
def test_directional_mode_with_an_input_exactly_at_the_kink(layer):
    # every direction moves x[0, 0] = 0 across the kink, so no direction is clean:
    # the row says KINK (not FAIL) and that nothing was verified away from the kink
    report = gc.check_layer(layer, kinked_input(), mode="directional", directions=5, rng=0)
    row = report["x"]
    assert row.verdict == gc.KINK and report.passed, str(report)
    assert len(row.kinks) == 5 and "nothing was verified" in row.note


def test_kinks_inside_a_relu_model_in_every_mode():
    X = rand((16, 8), 71)
    y = np.arange(16) % 3
    model = L.Sequential(L.Linear(8, 10, rng=0), L.ReLU(), L.Linear(10, 3, rng=1))
    s = X @ model[0].params["W"].T
    # put two hidden pre-activations of example 3 within h of the kink
    model[0].params["b"][[2, 5]] = -s[3, [2, 5]] + np.array([2e-6, -1e-6])
    for mode in MODES:
        report = gc.check_model(model, losses.SoftmaxCrossEntropy(), X, y, mode=mode, k=40,
                                directions=10, rng=0)
        assert report.passed, str(report)
        assert report["0.b"].verdict == gc.KINK or report["0.b"].verdict == gc.PASS
        assert report["2.W"].verdict == gc.PASS and report["2.b"].verdict == gc.PASS
    full = gc.check_model(model, losses.SoftmaxCrossEntropy(), X, y, mode="full")
    assert {(2,), (5,)} <= set(full["0.b"].kinks)




@pytest.mark.parametrize("mode", MODES)
def test_a_wrong_gradient_near_a_kink_is_still_caught(mode):
    report = gc.check_layer(SignErrorReLU(), kinked_input(), mode=mode, k=10, directions=5, rng=0)
    assert report["x"].verdict == gc.FAIL, str(report)
    if mode != "directional":
        assert report["x"].where not in report["x"].kinks


def test_abs_and_max_kinks_in_plain_functions():
    x = np.array([0.5, -1.0, 2e-6, 3.0])
    r = gc.check_function(lambda v: np.abs(v).sum(), x, np.sign(x))
    assert r["x"].verdict == gc.KINK and r["x"].kinks == [(2,)]
    v = np.array([1.0, 1.0 + 3e-6, -2.0])
    r = gc.check_function(lambda z: z.max(), v, np.array([0.0, 1.0, 0.0]))
    assert r["x"].verdict == gc.KINK and r["x"].kinks == [(0,), (1,)]
    # a wrong gradient of max (the first of the tied pair) is a one-sided derivative
    # too, but the third coordinate's wrong entry still fails
    r = gc.check_function(lambda z: z.max(), v, np.array([0.0, 1.0, 0.5]))
    assert r["x"].verdict == gc.FAIL and r["x"].where == (2,)


def test_smooth_function_with_a_wrong_gradient_is_not_called_a_kink():
    x = rand(6, 72)
    r = gc.check_function(lambda v: np.sum(v ** 3), x, 3 * x ** 2 * 1.001)
    assert r["x"].verdict == gc.FAIL and r["x"].kinks == []


# ----------------------------------------------------------------------------
# 5. Warnings, errors, the report, no side effects
# ----------------------------------------------------------------------------
def test_float32_warns_and_recommends_float64():
    layer = L.Linear(4, 3, rng=0, dtype=np.float32)
    x = rand((N, 4), 80).astype(np.float32)
    with pytest.warns(gc.GradCheckWarning, match="float32.*float64"):
        report = gc.check_layer(layer, x, h=1e-2, rng=0)
    assert report.dtype == "float32" and report.thresholds == gc.FLOAT32_THRESHOLDS
    assert any("float32" in w for w in report.warnings)
    assert report.passed, str(report)  # a correct layer still passes the looser thresholds


def test_badly_chosen_step_warns_with_the_reason():
    x = rand((N, D), 81)
    with pytest.warns(gc.GradCheckWarning, match="too small"):
        gc.check_layer(L.Tanh(), 1e6 * x, h=1e-5)
    with pytest.warns(gc.GradCheckWarning, match="too large"):
        gc.check_layer(L.Tanh(), 1e-4 * x, h=1e-5)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a well-chosen step on float64: no warning
        gc.check_layer(L.Tanh(), x)


def test_bad_arguments_name_the_function_and_the_values():
    layer, x = L.Tanh(), rand((N, D), 82)
    with pytest.raises(ValueError, match="check_layer: mode must be one of .*'fulll'"):
        gc.check_layer(layer, x, mode="fulll")
    with pytest.raises(ValueError, match="check_layer: h must be a positive.*-1"):
        gc.check_layer(layer, x, h=-1.0)
    with pytest.raises(ValueError, match="check_layer: k must be a positive integer, got 0"):
        gc.check_layer(layer, x, k=0)
    with pytest.raises(TypeError, match="check_layer: x must be a float32 or float64.*int64"):
        gc.check_layer(layer, np.ones((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="check_layer: expected a layer"):
        gc.check_layer(object(), x)
    with pytest.raises(ValueError, match=r"check_gradients: expected grads\['a'\] of shape \(3,\)"):
        gc.check_gradients(lambda: 0.0, {"a": np.zeros(3)}, {"a": np.zeros(4)})
    with pytest.raises(ValueError, match="check_model: l2 must be >= 0"):
        gc.check_model(small_model(), losses.MSE(), rand((4, 6)), rand((4, 3)), l2=-1)


def test_report_table_html_and_programmatic_access():
    report = gc.check_layer(TransposedLinear(4, 4, rng=0), rand((N, 4), 83), rng=0)
    text = str(report)
    lines = text.splitlines()
    assert "FAILED" in lines[0]
    header = lines[1]
    for column in ("array", "shape", "max rel. error", "at", "verdict"):
        assert column in header
    # aligned: every row starts its verdict in the header's verdict column
    col = header.index("verdict")
    for line in lines[3:6]:
        assert line[col:col + 4] in {"PASS", "FAIL"}
    assert [r.name for r in report.rows] == ["x", "W", "b"]
    assert report.worst is report["W"] and report.worst.verdict == gc.FAIL
    assert not report.passed
    html = report._repr_html_()
    assert html.count("<tr>") == 1 + 3 and "FAIL" in html and "<table>" in html
    with pytest.raises(KeyError, match="no row named 'gamma'"):
        report["gamma"]


def test_verdicts_follow_the_named_thresholds():
    t = gc.FLOAT64_THRESHOLDS
    assert (t.pass_below, t.warn_below) == (gc.PASS_THRESHOLD, gc.WARN_THRESHOLD) == (1e-7, 1e-4)
    assert t.verdict(0.5e-7) == gc.PASS
    assert t.verdict(1e-6) == gc.WARN
    assert t.verdict(1e-3) == gc.FAIL
    assert t.verdict(float("nan")) == gc.FAIL
    # a relative error of 1e-6 in the gradient gives a WARN row
    x = rand(5, 84) + 3.0
    r = gc.check_function(lambda v: np.sum(v ** 2), x, 2 * x * (1 + 1e-6))
    assert r["x"].verdict == gc.WARN and r.passed


def test_checks_leave_layers_and_models_unchanged():
    bn = L.BatchNorm(D)
    bn.forward(rand((8, D), 90) + 2.0)
    state = (bn.running_mean.copy(), bn.running_var.copy(), bn.params["gamma"].copy())
    gc.check_layer(bn, rand((N, D), 91), mode="full")
    assert np.array_equal(bn.running_mean, state[0]) and np.array_equal(bn.running_var, state[1])
    assert np.array_equal(bn.params["gamma"], state[2])

    drop = L.Dropout(0.5, rng=4)
    before = drop.rng.bit_generator.state
    gc.check_layer(drop, rand((N, D), 92))
    assert drop.rng.bit_generator.state == before

    model = small_model()
    X, y = rand((6, 6), 93), np.arange(6) % 3
    params = {k: v.copy() for k, v in model.params.items()}
    x_before = X.copy()
    gc.check_model(model, losses.SoftmaxCrossEntropy(), X, y, l2=0.1, mode="sparse", rng=0)
    assert all(np.array_equal(model.params[k], v) for k, v in params.items())
    assert np.array_equal(X, x_before)


def test_directional_cost_is_two_passes_per_direction_per_array():
    model = small_model()
    X, y = rand((6, 6), 94), np.arange(6) % 3
    report = gc.check_model(model, losses.SoftmaxCrossEntropy(), X, y, mode="directional",
                            directions=7, rng=0)
    assert report.evaluations == 1 + 2 * 7 * len(model.params)
    assert all(row.checked == 7 for row in report.rows)


def test_a_copied_parameter_is_reported_as_not_changing_j():
    class CopyingLinear(L.Linear):
        """Bug: params holds copies, so perturbing them does not change the forward pass."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._live = {k: v.copy() for k, v in self.params.items()}

        def forward(self, x, train=True):
            s, self._cache = F.linear_forward(x, self._live["W"], self._live["b"])
            return s

    report = gc.check_layer(CopyingLinear(3, 2, rng=0), rand((4, 3), 95), mode="sparse", k=3)
    assert report["W"].verdict == gc.FAIL
    assert "did not change" in report["W"].note and "copy" in str(report)


def test_empty_arrays_are_skipped():
    x = np.zeros(0)
    report = gc.check_gradients(lambda: 1.0, {"e": x}, {"e": np.zeros(0)})
    assert report.passed and report["e"].checked == 0


def test_a_step_too_large_for_the_curvature_is_recognised_not_failed():
    # J = sum sin(300 x): the truncation error h^2 f'''/6 ~ 4.5e-4 against f' ~ 300 makes
    # the difference with h = 1e-5 miss by ~1e-6 (WARN); with h/10 it agrees
    x = rand(6, 96)
    with pytest.warns(gc.GradCheckWarning, match="too large for the curvature"):
        report = gc.check_function(lambda v: np.sum(np.sin(300 * v)), x, 300 * np.cos(300 * x))
    row = report["x"]
    assert row.curved and row.verdict in (gc.PASS, gc.KINK) and not row.kinks, str(report)
    assert report.passed and "truncation" in row.note
    # a gradient that is wrong by 0.1% does not get better with h/10: still caught
    wrong = gc.check_function(lambda v: np.sum(np.sin(300 * v)), x, 300 * np.cos(300 * x) * 1.001)
    assert wrong["x"].verdict == gc.FAIL and not wrong["x"].curved and not wrong.warnings
    # and a smaller h removes the problem altogether
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        good = gc.check_function(lambda v: np.sum(np.sin(300 * v)), x, 300 * np.cos(300 * x),
                                 h=1e-6)
    assert good["x"].verdict == gc.PASS and not good["x"].curved


def test_numerical_jacobian_restores_x_and_rejects_changing_shapes():
    x = rand((2, 3), 97)
    before = x.copy()
    gc.numerical_jacobian(np.tanh, x)
    assert np.array_equal(x, before)
    with pytest.raises(ValueError, match="numerical_jacobian: f must return arrays of one shape"):
        gc.numerical_jacobian(lambda v: v[v > 0.0], np.array([0.0, 1.0]))
    assert np.array_equal(x, before)


LAYER_MAKERS = {
    "Linear": lambda d: L.Linear(d, 3, rng=0),
    "LeakyReLU": lambda d: L.LeakyReLU(0.05),
    "ELU": lambda d: L.ELU(1.0),
    "Sigmoid": lambda d: L.Sigmoid(),
    "Tanh": lambda d: L.Tanh(),
    "Swish": lambda d: L.Swish(1.0),
    "BatchNorm": lambda d: L.BatchNorm(d),
    "Dropout": lambda d: L.Dropout(0.5, rng=1),
    "ReLU": lambda d: L.ReLU(),
}


@pytest.mark.filterwarnings("ignore::coursekit.gradcheck.GradCheckWarning")  # random scales
@settings(max_examples=25, deadline=None)
@given(st.sampled_from(sorted(LAYER_MAKERS)), st.integers(1, 5), st.integers(1, 4),
       st.sampled_from(MODES), st.integers(0, 2**31))
def test_correct_layers_never_fail_on_random_shapes(name, n, d, mode, seed):
    # ReLU-type inputs are Gaussian: a value within h = 1e-5 of the kink is rare and, if
    # it happens, gives KINK.  No correct layer may ever FAIL.  Batch norm may WARN: with
    # N = 2 and two nearly equal values in a column, x - mean cancels, J is computed
    # less accurately than eps * scale and the difference is off by ~1e-7 (a long-double
    # computation confirms the analytic gradient then); every other layer must PASS.
    layer = LAYER_MAKERS[name](d)
    x = rand((n, d), seed, scale=2.0)
    report = gc.check_layer(layer, x, mode=mode, k=4, directions=3, rng=seed)
    assert report.passed, str(report)
    if name != "BatchNorm":
        assert report.worst.verdict in (gc.PASS, gc.KINK), str(report)


# ----------------------------------------------------------------------------
# 6. The teaching checker and the package's names
# ----------------------------------------------------------------------------
def test_teaching_checker_passes_a_right_gradient_and_rejects_a_wrong_one():
    x = rand((3, 4), 101)
    err = gc.check_gradient(lambda v: np.sum(np.tanh(v)), x, 1 - np.tanh(x) ** 2)
    assert err < 1e-8
    with pytest.raises(AssertionError, match="check_gradient: relative error .* is not below 1e-07"):
        gc.check_gradient(lambda v: np.sum(np.tanh(v)), x, np.tanh(x) ** 2 - 1)
    np.testing.assert_array_equal(x, rand((3, 4), 101))  # x restored


def test_relative_errors_is_entrywise_and_relative_error_its_maximum():
    a, b = np.array([1.0, 0.0, -2.0, 3.0]), np.array([1.1, 0.0, 2.0, 3.0])
    entrywise = gc.relative_errors(a, b)
    np.testing.assert_allclose(entrywise, [0.1 / 2.1, 0.0, 1.0, 0.0])
    assert gc.relative_error(a, b) == entrywise.max()
    # not normalised by the array's largest entry: a 10% error in a tiny entry shows fully
    big_and_small, off = np.array([1e6, 1e-3]), np.array([1e6, 1.1e-3])
    assert gc.relative_error(big_and_small, off) == pytest.approx(0.1 / 2.1)


def test_the_teaching_module_is_short_and_the_package_keeps_every_name():
    import inspect

    from coursekit.gradcheck import simple
    for fn in (simple.numerical_gradient, simple.relative_error, simple.check_gradient):
        assert len(inspect.getsource(fn).splitlines()) <= 35, fn.__name__
    api = ["numerical_gradient", "numerical_jacobian", "relative_error", "check_function",
           "check_op", "check_layer", "check_model", "check_gradients", "GradCheckReport",
           "GradCheckRow", "GradCheckWarning", "Thresholds", "FLOAT64_THRESHOLDS", "MODES"]
    assert all(hasattr(gc, name) for name in api)
    assert gc.numerical_gradient is simple.numerical_gradient  # one formula in one place


def test_zero_gradient_entries_pass_despite_rounding_noise():
    """The bias of a layer followed by batch norm has gradient exactly 0: the central
    difference is pure rounding noise.  The noise floor judges such entries by their
    absolute error, so the check passes at once, with no kink or curvature excuse."""
    rng = np.random.default_rng(0)
    model = L.Sequential(L.Linear(3, 4, rng=1), L.BatchNorm(4), L.Tanh(), L.Linear(4, 2, rng=2))
    x, y = rng.normal(size=(6, 3)), np.array([0, 1, 1, 0, 1, 0])
    report = gc.check_model(model, losses.SoftmaxCrossEntropy(), x, y, mode="full")
    row = report["0.b"]
    assert report.passed and row.verdict == gc.PASS and np.isfinite(row.max_error), str(report)
    assert not row.curved and not row.kinks and not report.warnings, str(report)
