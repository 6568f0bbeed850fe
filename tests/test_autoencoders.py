"""Autoencoders from coursekit layers (coursekit.experiments.autoencoders) and their figures."""
import numpy as np
import pytest

from coursekit import gradcheck, optim, viz
from coursekit import layers as L
from coursekit.experiments import (
    Autoencoder,
    build_autoencoder,
    knn_accuracy,
    reconstruction_error,
    train_autoencoder,
)
from coursekit.losses import MSE
from coursekit.pca import distortion, pca, principal_angles


def low_rank_data(n=300, d=8, seed=0):
    """Data near a 2-D affine subspace with a clear eigen-gap (variances 4, 2.25, then 0.01)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.array([2.0, 1.5] + [0.1] * (d - 2))
    return (rng.normal(size=(n, d)) * scales) @ Q.T + 0.5  # an offset the biases must learn


def test_linear_autoencoder_shapes_and_code():
    ae = build_autoencoder(8, 3, rng=0)
    assert isinstance(ae, Autoencoder) and isinstance(ae, L.Sequential)
    assert [type(layer) for layer in ae.layers] == [L.Linear, L.Linear] and ae.code_index == 1
    assert ae.layers[0].params["W"].shape == (3, 8) and ae.layers[1].params["W"].shape == (8, 3)
    X = low_rank_data(5)
    Z = ae.encode(X)
    assert Z.shape == (5, 3) and ae.forward(X).shape == (5, 8)
    W1, b1 = ae.layers[0].params["W"], ae.layers[0].params["b"]
    np.testing.assert_allclose(Z, X @ W1.T + b1)
    np.testing.assert_allclose(ae.decode(Z), ae.forward(X, train=False))


def test_deep_autoencoder_layout():
    ae = build_autoencoder(10, 2, hidden=(6, 4), activation="relu", rng=0)
    kinds = [type(layer).__name__ for layer in ae.layers]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear",      # 10 -> 6 -> 4 -> 2 (code, linear)
                     "Linear", "ReLU", "Linear", "ReLU", "Linear"]      # 2 -> 4 -> 6 -> 10 (output, linear)
    widths = [layer.out_features for layer in ae.layers if isinstance(layer, L.Linear)]
    assert widths == [6, 4, 2, 4, 6, 10] and ae.code_index == 5
    assert ae.encode(np.ones((3, 10))).shape == (3, 2)


@pytest.mark.parametrize("hidden,activation", [((), "tanh"), ((5,), "tanh"), ((5,), "sigmoid")])
def test_gradients_of_the_reconstruction_loss(hidden, activation):
    X = low_rank_data(12, 6, seed=1)
    ae = build_autoencoder(6, 2, hidden=hidden, activation=activation, rng=2)
    report = gradcheck.check_model(ae, MSE(), X, X, mode="full", rng=0)
    assert report.passed, str(report)


def test_training_reduces_the_error_and_the_linear_ae_finds_the_pca_subspace():
    X = low_rank_data()
    ref = pca(X, 2)
    U = ref.components.T
    ae = build_autoencoder(8, 2, rng=0)
    before = reconstruction_error(ae, X)
    history = train_autoencoder(
        ae, X, optimizer=optim.Momentum(lr=0.02, momentum=0.9), epochs=400, every=50,
        track=lambda model: principal_angles(U, model.layers[1].params["W"]).max())
    assert history.epochs[-1] == 400 and len(history.train_error) == len(history.tracked) == 8
    assert history.train_error[-1] < 0.1 * before
    assert np.all(np.diff(history.train_error) <= 0), "full-batch descent should not go uphill here"
    angle = history.tracked[-1]
    assert angle < np.radians(0.5), f"decoder subspace is {np.degrees(angle):.2f} degrees from PCA's"
    assert reconstruction_error(ae, X) == pytest.approx(distortion(X, ref), rel=0.01)
    W2 = ae.layers[1].params["W"]
    assert not np.allclose(W2.T @ W2, np.eye(2), atol=0.05), "the weights need not be orthonormal"


def test_minibatch_training_with_validation_is_reproducible():
    X = low_rank_data(120, 8, seed=3)
    runs = []
    for _ in range(2):
        ae = build_autoencoder(8, 2, hidden=(4,), rng=1)
        runs.append(train_autoencoder(ae, X[:100], X[100:], optimizer=optim.Adam(lr=0.01),
                                      epochs=5, batch_size=16, rng=4))
    assert runs[0].val_error == runs[1].val_error and len(runs[0].val_error) == 5
    assert runs[0].val_error[-1] < runs[0].val_error[0]


def test_reconstruction_error_is_the_mse():
    X = low_rank_data(20)
    ae = build_autoencoder(8, 3, rng=0)
    Xhat = ae.forward(X, train=False)
    assert reconstruction_error(ae, X) == pytest.approx(np.sum((Xhat - X) ** 2) / 20)


def test_knn_accuracy():
    Z_train = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    y_train = np.array([0, 0, 1, 1])
    Z_test = np.array([[0.05, 0.1], [4.9, 5.2], [0.0, 0.2]])
    assert knn_accuracy(Z_train, y_train, Z_test, np.array([0, 1, 0]), k=1) == 1.0
    assert knn_accuracy(Z_train, y_train, Z_test, np.array([1, 1, 1]), k=1) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="knn_accuracy: k must be"):
        knn_accuracy(Z_train, y_train, Z_test, np.array([0, 1, 0]), k=5)


def test_bad_input():
    with pytest.raises(ValueError, match="build_autoencoder: need D >= 1, 1 <= M <= D"):
        build_autoencoder(4, 5)
    with pytest.raises(ValueError, match="build_autoencoder: activation must be one of"):
        build_autoencoder(4, 2, hidden=(3,), activation="softmax")
    ae = build_autoencoder(4, 2, rng=0)
    with pytest.raises(ValueError, match=r"train_autoencoder: expected X_val of shape \(N, 4\)"):
        train_autoencoder(ae, np.ones((5, 4)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="epochs and every must be >= 1"):
        train_autoencoder(ae, np.ones((5, 4)), epochs=0)
    with pytest.raises(TypeError, match="float"):
        reconstruction_error(ae, np.ones((5, 4), dtype=int))


# ----------------------------------------------------------------------------
# Figures: each draws exactly the numbers it is given
# ----------------------------------------------------------------------------
def test_plot_codes_draws_the_codes():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    codes = {"PCA": rng.normal(size=(30, 2)), "autoencoder": rng.normal(size=(30, 2))}
    fig = viz.plot_codes(codes, y)
    assert len(fig.axes) == 2
    for ax, Z in zip(fig.axes, codes.values()):
        for c in range(3):
            (points,) = [s for s in ax.collections if s.get_label() == f"class {c}"]
            np.testing.assert_allclose(points.get_offsets(), Z[y == c])
    with pytest.raises(ValueError, match=r"plot_codes: codes 'PCA' must have shape \(30, 2\)"):
        viz.plot_codes({"PCA": np.ones((30, 3))}, y)


def test_plot_autoencoder_training_and_reconstruction_rows():
    X = low_rank_data(40, 16)
    ae = build_autoencoder(16, 2, rng=0)
    history = train_autoencoder(ae, X[:30], X[30:], optimizer=optim.SGD(lr=0.01), epochs=4,
                                track=lambda model: 1.0)
    fig = viz.plot_autoencoder_training(history, reference=0.5, tracked_label="angle")
    ax, ax_tracked = fig.axes
    np.testing.assert_allclose(ax.lines[0].get_ydata(), history.train_error)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), history.val_error)
    assert ax.lines[2].get_ydata()[0] == 0.5 and ax_tracked.get_ylabel() == "angle"
    below = min(history.train_error + history.val_error) / 2
    fig = viz.plot_autoencoder_training(history, reference=below, excess=True)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(),
                               np.array(history.train_error) - below)
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="excess=True needs errors above the reference"):
        viz.plot_autoencoder_training(history, reference=10 * below, excess=True)
    Xhat = ae.forward(X, train=False)
    fig = viz.plot_reconstruction_rows(X, {"AE": Xhat}, n_examples=3, image_shape=(4, 4))
    assert len(fig.axes) == 6
    np.testing.assert_allclose(fig.axes[4].images[0].get_array(), Xhat[1].reshape(4, 4))


def test_plot_eigenimages_and_explained_variance():
    X = low_rank_data(60, 16)
    result = pca(X, 4)
    fig = viz.plot_eigenimages(result, n=3, image_shape=(4, 4))
    assert len(fig.axes) == 4
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), result.mean.reshape(4, 4))
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), result.components[1].reshape(4, 4))
    assert f"{result.eigenvalues[1]:.3g}" in fig.axes[2].get_title()
    lam = pca(X, 16).eigenvalues
    fig = viz.plot_explained_variance({"data": lam})
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), np.cumsum(lam) / lam.sum())
    with pytest.raises(ValueError, match="not square"):
        viz.plot_eigenimages(pca(np.random.default_rng(0).normal(size=(9, 7)), 2))
