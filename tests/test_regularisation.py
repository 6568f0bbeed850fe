"""coursekit.experiments.regularisation: L1/L2, conditioning, leaks, early stopping, FGSM."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import data, optim
from coursekit import layers as L
from coursekit.experiments import regularisation as R
from coursekit.gradcheck import numerical_gradient
from coursekit.losses import SoftmaxCrossEntropy
from coursekit.preprocessing import fit_whitening, whiten
from coursekit.train import evaluate
from coursekit.viz import regularisation as RV


def regression(n=80, d=10, seed=0, relevant=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = np.zeros(d)
    w[:relevant] = rng.uniform(1, 3, relevant) * rng.choice([-1, 1], relevant)
    return X, X @ w + 0.1 * rng.standard_normal(n), w


# ----------------------------------------------------------------------------
# L1 and L2
# ----------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(v=st.floats(-5, 5), t=st.floats(0, 3))
def test_soft_threshold_is_the_proximal_operator_of_the_l1_norm(v, t):
    grid = np.linspace(-6, 6, 120_001)
    brute = grid[np.argmin(0.5 * (grid - v) ** 2 + t * np.abs(grid))]
    assert abs(R.soft_threshold(v, t) - brute) <= 1e-4
    if abs(v) <= t:
        assert R.soft_threshold(v, t) == 0.0


def test_soft_threshold_rejects_a_negative_threshold():
    with pytest.raises(ValueError, match="soft_threshold: the threshold t must be >= 0"):
        R.soft_threshold(np.ones(3), -0.1)


def test_lasso_solution_satisfies_the_optimality_conditions_and_is_sparse():
    X, y, w_true = regression()
    lam = 0.3
    run = R.lasso_ista(X, y, lam, steps=2000)
    assert np.all(np.diff(run.cost) <= 1e-12), "ISTA with step 1/L never increases the cost"
    grad = 2 * X.T @ (X @ run.w - y) / len(y)
    active = run.w != 0
    np.testing.assert_allclose(grad[active], -lam * np.sign(run.w[active]), atol=1e-6)
    assert np.all(np.abs(grad[~active]) <= lam + 1e-6)
    assert np.sum(~active) >= 5 and np.all(active[w_true != 0])


def test_ridge_solution_zeroes_the_gradient_and_shrinks():
    X, y, _ = regression(seed=1)
    for lam in (0.0, 0.1, 10.0):
        w = R.ridge_solution(X, y, lam)
        np.testing.assert_allclose(2 * X.T @ (X @ w - y) / len(y) + 2 * lam * w, 0, atol=1e-10)
    norms = [np.linalg.norm(R.ridge_solution(X, y, lam)) for lam in (0.0, 0.1, 1.0, 10.0)]
    assert norms == sorted(norms, reverse=True)


def test_least_squares_inputs_are_checked():
    with pytest.raises(ValueError, match="ridge_solution: expected targets y of shape \\(5,\\)"):
        R.ridge_solution(np.ones((5, 2)), np.ones(4), 0.1)


# ----------------------------------------------------------------------------
# Conditioning
# ----------------------------------------------------------------------------
def test_gradient_descent_needs_at_most_the_predicted_steps():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((100, 2)) * [5.0, 0.5]
    y = X @ [1.0, -2.0]
    run = R.gradient_descent_run(X, y, tol=1e-6, max_steps=5000)
    h = np.linalg.eigvalsh(2 * X.T @ X / 100)
    assert abs(run.kappa - h[-1] / h[0]) < 1e-9 * run.kappa
    assert run.steps is not None and run.steps <= run.bound
    np.testing.assert_allclose(run.path[-1], run.w_star, atol=1e-5 * np.linalg.norm(run.w_star))
    white = whiten(X, fit_whitening(X, method="zca", eps=0.0))
    run_white = R.gradient_descent_run(white - white.mean(axis=0), y - y.mean())
    assert abs(run_white.kappa - 1) < 1e-9 and run_white.steps == 1, "whitened: one step reaches w*"


def test_gradient_descent_reports_failure_within_max_steps():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 2)) * [100.0, 0.1]
    run = R.gradient_descent_run(X, X @ [1.0, 1.0], max_steps=10)
    assert run.steps is None and len(run.path) == 11


def test_softmax_regression_steps_decreases_the_loss():
    X, y = data.digits()
    steps, losses = R.softmax_regression_steps(X[:300], y[:300], lr=0.5, target_loss=1.0, max_steps=500)
    assert steps is not None and losses[-1] <= 1.0 < losses[0]
    np.testing.assert_allclose(losses[0], np.log(10))


# ----------------------------------------------------------------------------
# Leaks, noise, labels
# ----------------------------------------------------------------------------
def test_selection_leak_inflates_the_validation_accuracy():
    result = R.selection_leak(n_train=40, n_val=40, d=500, k=10, repeats=10, rng=0)
    assert abs(result.honest.mean() - 0.5) < 0.1
    assert result.leaky.mean() > 0.7


def test_nearest_centroid_accuracy_on_separated_clusters():
    X = np.array([[0.0, 0], [0, 1], [10, 10], [10, 11]])
    y = np.array([0, 0, 1, 1])
    assert R.nearest_centroid_accuracy(X, y, X, y) == 1.0
    assert R.nearest_centroid_accuracy(X, y, X, 1 - y) == 0.0


def test_noisy_copies_approach_the_ridge_solution():
    X, y, _ = regression(n=40, d=4, seed=4)
    target = R.ridge_solution(X, y, 0.5**2)
    errors = [np.linalg.norm(R.noisy_copies_solution(X, y, 0.5, c, rng=1) - target) for c in (1, 30, 1000)]
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < 0.02 * np.linalg.norm(target)


def test_corrupt_labels_changes_exactly_the_flipped_labels():
    y = np.arange(1000) % 10
    y_noisy, flipped = R.corrupt_labels(y, 0.3, rng=0)
    assert np.all(y_noisy[flipped] != y[flipped]) and np.all(y_noisy[~flipped] == y[~flipped])
    assert abs(flipped.mean() - 0.3) < 0.05 and y_noisy.min() >= 0 and y_noisy.max() <= 9
    with pytest.raises(ValueError, match="corrupt_labels: fraction must lie in"):
        R.corrupt_labels(y, 1.5)


# ----------------------------------------------------------------------------
# Networks: early stopping, augmentation
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_split():
    X, y = data.digits()
    return data.train_val_test_split(X, y, rng=0)


def test_digits_mlp_layers():
    model = R.digits_mlp((20, 10), dropout=0.5, input_dropout=0.2, batchnorm=True, rng=0)
    assert isinstance(model, L.Sequential)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dropout", "Linear", "BatchNorm", "ReLU", "Dropout",
                     "Linear", "BatchNorm", "ReLU", "Dropout", "Linear"]
    assert model.layers[0].p == 0.2 and model.layers[4].p == 0.5


def test_early_stopping_keeps_the_best_validation_parameters(digits_split):
    X_tr, y_tr, X_va, y_va, _, _ = digits_split
    loss = SoftmaxCrossEntropy()
    model = R.digits_mlp((30,), rng=0)
    result = R.fit_early_stopping(model, loss, optim.SGD(lr=0.5), X_tr[:200], y_tr[:200], X_va, y_va,
                                  epochs=12, batch_size=50, monitor="val_loss", rng=0)
    losses = result.history.val_loss
    assert result.best_epoch == int(np.argmin(losses)) + 1 and result.best_score == min(losses)
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, result.best_params[name])
    assert abs(evaluate(model, loss, X_va, y_va)[0] - min(losses)) < 1e-12
    if result.best_epoch != result.stopped_at:
        assert any(not np.array_equal(result.last_params[k], result.best_params[k]) for k in model.params)


def test_early_stopping_patience_stops_after_that_many_epochs_without_improvement(digits_split):
    X_tr, y_tr, X_va, y_va, _, _ = digits_split
    model = R.digits_mlp((10,), rng=1)
    # a step size of 0 never improves on the first epoch's score
    result = R.fit_early_stopping(model, SoftmaxCrossEntropy(), optim.SGD(lr=0.0), X_tr[:50], y_tr[:50],
                                  X_va, y_va, epochs=20, patience=3, rng=0)
    assert result.best_epoch == 1 and result.stopped_at == 4 and len(result.history) == 4
    with pytest.raises(ValueError, match="monitor must be"):
        R.fit_early_stopping(model, SoftmaxCrossEntropy(), optim.SGD(lr=0.1), X_tr, y_tr, X_va, y_va,
                             monitor="accuracy")


def test_fit_epochs_applies_the_augmentation_to_every_batch(digits_split):
    X_tr, y_tr, X_va, y_va, _, _ = digits_split
    seen = []

    def augment(Xb, gen):
        seen.append(len(Xb))
        return Xb

    history = R.fit_epochs(R.digits_mlp((10,), rng=0), SoftmaxCrossEntropy(), optim.SGD(lr=0.1),
                           X_tr[:100], y_tr[:100], X_va, y_va, epochs=2, batch_size=40, augment=augment, rng=0)
    assert seen == [40, 40, 20, 40, 40, 20] and len(history) == 2 and len(history.val_acc) == 2


# ----------------------------------------------------------------------------
# Adversarial examples
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(digits_split):
    X_tr, y_tr, _, _, X_te, y_te = digits_split
    model = R.digits_mlp((50,), rng=0)
    loss = SoftmaxCrossEntropy()
    R.fit_epochs(model, loss, optim.Adam(lr=3e-3), X_tr, y_tr, epochs=8, batch_size=64, rng=0)
    return model, loss, X_te[:100], y_te[:100]


def test_input_gradient_matches_finite_differences(trained):
    model, loss, X, y = trained
    X = X[:3].copy()
    analytic = R.input_gradient(model, loss, X, y[:3])
    numeric = numerical_gradient(lambda Z: loss.forward(model.forward(Z, train=False), y[:3]), X.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("eps", [0.01, 0.05, 0.2])
def test_fgsm_stays_in_the_ball_and_raises_the_loss(trained, eps):
    model, loss, X, y = trained
    X_adv = R.fgsm(model, loss, X, y, eps)
    assert np.abs(X_adv - X).max() <= eps + 1e-12
    assert X_adv.min() >= 0 and X_adv.max() <= 1
    clean = loss.forward(model.forward(X, train=False), y)
    attacked = loss.forward(model.forward(X_adv, train=False), y)
    rng = np.random.default_rng(0)
    noisy = loss.forward(model.forward(np.clip(X + eps * rng.choice([-1.0, 1.0], X.shape), 0, 1),
                                       train=False), y)
    assert attacked > clean and attacked > noisy


def test_attack_accuracy_falls_faster_for_fgsm_than_for_random_signs(trained):
    model, loss, X, y = trained
    eps = [0.0, 0.1, 0.2]
    fgsm_acc = R.attack_accuracy(model, loss, X, y, eps)
    random_acc = R.attack_accuracy(model, loss, X, y, eps, attack="random", rng=0)
    assert fgsm_acc[0] == random_acc[0] and np.all(np.diff(fgsm_acc) <= 0)
    assert fgsm_acc[2] < random_acc[2] - 0.2
    with pytest.raises(ValueError, match="attack must be"):
        R.attack_accuracy(model, loss, X, y, eps, attack="pgd")
    with pytest.raises(ValueError, match="fgsm: eps must be >= 0"):
        R.fgsm(model, loss, X, y, -0.1)


def test_adversarial_training_makes_the_network_harder_to_attack(digits_split, trained):
    X_tr, y_tr, _, _, _, _ = digits_split
    _, loss, X, y = trained
    robust = R.digits_mlp((50,), rng=0)
    history = R.adversarial_fit(robust, loss, optim.Adam(lr=3e-3), X_tr, y_tr, eps=0.1, epochs=8, rng=0)
    assert len(history) == 8
    plain_model = trained[0]
    assert R.attack_accuracy(robust, loss, X, y, [0.1])[0] > R.attack_accuracy(plain_model, loss, X, y, [0.1])[0]


# ----------------------------------------------------------------------------
# Figures draw what they are given
# ----------------------------------------------------------------------------
def test_figures_draw_the_given_numbers():
    X, y, w = regression(n=50, d=2, seed=5, relevant=2)
    run = R.gradient_descent_run(X, y)
    fig = RV.plot_gd_paths({"a": run})
    assert len(fig.axes) == 1
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xydata(), run.path)
    with pytest.raises(ValueError, match="plot_gd_paths"):
        RV.plot_gd_paths({})
    fig = RV.plot_coefficients(w, {"fit": np.array([0.0, 1.0])})
    assert any("fit: 1 exact zeros" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    fig = RV.plot_image_rows({"a": np.ones((3, 64)), "b": -np.ones((2, 64))}, captions={"a": ["x", "y", "z"]})
    assert len(fig.axes) == 2 and [t.get_text() for t in fig.axes[0].texts] == ["x", "y", "z"]
    mosaic = RV.image_mosaic(np.array([[0.0, 2.0, 4.0, 1.0], [-1.0, 1.0, 0.0, 0.5]]), image_shape=(2, 2))
    assert mosaic.shape == (2, 5)
    np.testing.assert_allclose(mosaic[:, :2], [[0.0, 0.5], [1.0, 0.25]])  # own scale, 0 black
    np.testing.assert_allclose(mosaic[:, 2], 1.0)  # the white gap
    np.testing.assert_allclose(mosaic[:, 3:], [[0.0, 1.0], [0.5, 0.75]])  # symmetric: 0 grey
    fig = RV.plot_attack_accuracy([0, 0.1], {"m": [1.0, 0.5]})
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [1.0, 0.5])
    fig = RV.plot_grouped_bars(["clean", "shifted"], {"m": [0.9, 0.5]})
    assert len(fig.axes[0].patches) == 2
    fig = RV.plot_whitening_spectrum(np.array([1.0, 0.1]), {0.1: np.array([1 / 1.1, 0.5])})
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), [1 / 1.1, 0.5])
