"""coursekit.preprocessing: statistics from the training rows only, and three whitenings."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import data
from coursekit import preprocessing as P
from coursekit.pca import pca

METHODS = sorted(P.WHITENING_METHODS)


def correlated(n, d, seed=0, offset=3.0):
    """Rows with distinct variances, strong correlations and a non-zero mean."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) * np.geomspace(3.0, 0.3, d)
    return rng.normal(size=(n, d)) @ A.T + offset * rng.normal(size=d)


def random_covariance(seed, d):
    """A symmetric positive definite matrix with eigenvalues between 0.1 and 10."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (Q * np.geomspace(10.0, 0.1, d)) @ Q.T


# ----------------------------------------------------------------------------
# centre, standardise, min_max_scale
# ----------------------------------------------------------------------------
def test_centre_uses_the_training_mean_for_every_split():
    X_tr, X_te = correlated(40, 3, seed=1), correlated(10, 3, seed=2)
    C_tr, C_te, mu = P.centre(X_tr, X_te)
    np.testing.assert_allclose(mu, X_tr.mean(axis=0))
    np.testing.assert_allclose(C_tr.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(C_te, X_te - X_tr.mean(axis=0))
    assert not np.allclose(C_te.mean(axis=0), 0), "the test rows must not be centred with their own mean"


def test_standardise_is_the_data_module_function():
    assert P.standardise is data.standardise


def test_min_max_maps_training_rows_onto_the_unit_interval():
    X_tr = correlated(50, 4, seed=3)
    X_tr[:, 2] = 7.0  # a constant feature
    X_te = correlated(20, 4, seed=4) * 2
    Z_tr, Z_te, lo, hi = P.min_max_scale(X_tr, X_te)
    np.testing.assert_allclose(lo, X_tr.min(axis=0))
    np.testing.assert_allclose(hi, X_tr.max(axis=0))
    varying = [0, 1, 3]
    np.testing.assert_allclose(Z_tr[:, varying].min(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(Z_tr[:, varying].max(axis=0), 1, atol=1e-15)
    np.testing.assert_array_equal(Z_tr[:, 2], 0.0)  # constant: 0, not 0/0
    assert np.isfinite(Z_te).all()
    assert Z_te.min() < 0 or Z_te.max() > 1, "test rows wider than the training rows leave [0, 1]"
    np.testing.assert_allclose(Z_te, (X_te - lo) / np.where(hi > lo, hi - lo, 1.0))


def test_fitted_statistics_ignore_the_other_splits():
    X_tr = correlated(30, 3, seed=5)
    for fn in (P.centre, P.min_max_scale):
        a = fn(X_tr, correlated(5, 3, seed=6))
        b = fn(X_tr, 100 * correlated(9, 3, seed=7))
        np.testing.assert_array_equal(a[0], b[0])  # training rows transformed identically
        for stat_a, stat_b in zip(a[2:], b[2:]):
            np.testing.assert_array_equal(stat_a, stat_b)
    w1 = P.fit_whitening(X_tr)
    assert np.array_equal(w1.mean, X_tr.mean(axis=0))


@pytest.mark.parametrize("fn", [P.centre, P.min_max_scale])
def test_scalers_reject_bad_input(fn):
    name = fn.__name__
    with pytest.raises(ValueError, match=f"{name}.*shape \\(N, D\\)"):
        fn(np.ones(5))
    with pytest.raises(ValueError, match=f"{name}.*\\(N, 3\\)"):
        fn(np.ones((4, 3)), np.ones((2, 4)))
    with pytest.raises(TypeError, match=f"{name}.*float"):
        fn(np.ones((4, 3), dtype=int))


# ----------------------------------------------------------------------------
# Whitening matrices
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_whitened_training_data_has_identity_covariance(method):
    X = correlated(400, 5, seed=8)
    w = P.fit_whitening(X, method=method, eps=0.0)
    Y = P.whiten(X, w)
    np.testing.assert_allclose(Y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(P.covariance(Y), np.eye(5), atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 6), eps=st.sampled_from([0.0, 1e-3, 0.1, 1.0]),
       method=st.sampled_from(METHODS))
def test_every_method_whitens_sigma_plus_eps(seed, d, eps, method):
    """W (Sigma + eps I) W^T = I, so Cov(Wx) = W Sigma W^T = I - eps W W^T, and W^T W = (Sigma + eps I)^-1."""
    S = random_covariance(seed, d)
    W = P.whitening_matrix(S, method=method, eps=eps)
    I = np.eye(d)
    np.testing.assert_allclose(W @ (S + eps * I) @ W.T, I, atol=1e-9)
    np.testing.assert_allclose(W @ S @ W.T, I - eps * W @ W.T, atol=1e-9)
    np.testing.assert_allclose(W.T @ W, np.linalg.inv(S + eps * I), rtol=1e-8, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 6))
def test_whitenings_differ_by_a_rotation_and_zca_is_closest(seed, d):
    """Every whitening is Q Sigma^{-1/2} with Q orthogonal; Q = I (ZCA) minimises E||x - Wx||^2."""
    S = random_covariance(seed, d)
    Ws = {m: P.whitening_matrix(S, method=m, eps=0.0) for m in METHODS}
    Z = Ws["zca"]
    for m, W in Ws.items():
        Q = W @ np.linalg.inv(Z)
        np.testing.assert_allclose(Q @ Q.T, np.eye(d), atol=1e-8, err_msg=m)
    # E||x - W x||^2 = tr((I - W) S (I - W)^T) for zero-mean x with covariance S
    distance = {m: np.trace((np.eye(d) - W) @ S @ (np.eye(d) - W).T) for m, W in Ws.items()}
    rng = np.random.default_rng(seed)
    Q_random, _ = np.linalg.qr(rng.normal(size=(d, d)))
    W_random = Q_random @ Z
    distance["random"] = np.trace((np.eye(d) - W_random) @ S @ (np.eye(d) - W_random).T)
    for m, value in distance.items():
        assert distance["zca"] <= value + 1e-9, (m, distance)


def test_zca_is_the_symmetric_inverse_square_root():
    S = random_covariance(1, 4)
    W = P.zca_whitening(S, eps=0.0)
    np.testing.assert_array_equal(W, W.T)
    np.testing.assert_allclose(W @ W @ S, np.eye(4), atol=1e-10)
    assert np.all(np.linalg.eigvalsh(W) > 0)


def test_cholesky_whitening_is_lower_triangular_with_positive_diagonal():
    S = random_covariance(2, 5)
    W = P.cholesky_whitening(S, eps=0.01)
    np.testing.assert_array_equal(W, np.tril(W))
    assert np.all(np.diag(W) > 0)
    L = np.linalg.cholesky(S + 0.01 * np.eye(5))
    np.testing.assert_allclose(W @ L, np.eye(5), atol=1e-12)
    # output k depends on inputs 1..k only: the first output is x_1 / sqrt(S_11 + eps)
    np.testing.assert_allclose(W[0, 0], 1 / np.sqrt(S[0, 0] + 0.01))


def test_pca_whitening_rows_are_the_scaled_principal_directions():
    X = correlated(300, 5, seed=9)
    W = P.fit_whitening(X, method="pca", eps=1e-3).matrix
    result = pca(X, 5)
    np.testing.assert_allclose(W * np.sqrt(result.eigenvalues + 1e-3)[:, None], result.components, atol=1e-9)
    Y = P.whiten(X, P.fit_whitening(X, method="pca", eps=0.0))
    C = P.covariance(Y)
    np.testing.assert_allclose(C, np.eye(5), atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_every_whitening_gives_the_mahalanobis_norm(method):
    X = correlated(200, 4, seed=10)
    w = P.fit_whitening(X, method=method, eps=0.0)
    Xc = X - X.mean(axis=0)
    S_inv = np.linalg.inv(P.covariance(X))
    np.testing.assert_allclose(np.sum(P.whiten(X, w) ** 2, axis=1),
                               np.einsum("ni,ij,nj->n", Xc, S_inv, Xc), rtol=1e-9)


def test_eps_shrinks_the_low_variance_directions_by_lambda_over_lambda_plus_eps():
    X = correlated(500, 4, seed=11)
    lam = np.linalg.eigvalsh(P.covariance(X))[::-1]
    eps = lam[-1]  # the smallest direction gets half its variance
    Y = P.whiten(X, P.fit_whitening(X, method="pca", eps=eps))
    np.testing.assert_allclose(np.diag(P.covariance(Y)), lam / (lam + eps), rtol=1e-9)
    assert abs(P.covariance(Y)[-1, -1] - 0.5) < 1e-9


def test_whitening_is_fitted_on_the_training_rows_only():
    X_tr, X_te = correlated(300, 3, seed=12), correlated(300, 3, seed=13, offset=0.0)
    w = P.fit_whitening(X_tr, method="zca", eps=0.0)
    np.testing.assert_allclose(P.covariance(P.whiten(X_tr, w)), np.eye(3), atol=1e-10)
    Y_te = P.whiten(X_te, w)
    np.testing.assert_allclose(Y_te, (X_te - X_tr.mean(axis=0)) @ w.matrix.T)
    assert not np.allclose(P.covariance(Y_te), np.eye(3), atol=0.05), "test rows are not whitened exactly"


def test_whitening_rejects_bad_input_with_clear_messages():
    S = random_covariance(3, 3)
    with pytest.raises(ValueError, match="pca_whitening: cov must be a square"):
        P.pca_whitening(np.ones((2, 3)))
    with pytest.raises(ValueError, match="zca_whitening: cov must be symmetric"):
        P.zca_whitening(S + np.triu(np.ones((3, 3)), 1))
    with pytest.raises(ValueError, match="cholesky_whitening: eps must be >= 0, got -1"):
        P.cholesky_whitening(S, eps=-1)
    with pytest.raises(ValueError, match="whitening_matrix: method must be one of"):
        P.whitening_matrix(S, method="mahalanobis")
    singular = np.diag([1.0, 1.0, 0.0])
    for method in METHODS:
        with pytest.raises(ValueError, match=f"{method}_whitening: .*eps"):
            P.whitening_matrix(singular, method=method, eps=0.0)
        W = P.whitening_matrix(singular, method=method, eps=1e-3)  # eps makes it finite
        assert np.isfinite(W).all()
    w = P.fit_whitening(correlated(20, 3))
    with pytest.raises(ValueError, match="whiten: expected X of shape \\(N, 3\\)"):
        P.whiten(np.ones((5, 4)), w)


def test_digits_need_eps():
    X, _ = data.digits()
    with pytest.raises(ValueError, match="singular"):
        P.fit_whitening(X, method="zca", eps=0.0)
    Y = P.whiten(X, P.fit_whitening(X, method="zca", eps=1e-2))
    assert np.isfinite(Y).all()


# ----------------------------------------------------------------------------
# Augmentation
# ----------------------------------------------------------------------------
def test_shift_images_moves_pixels_and_fills_with_zeros():
    img = np.arange(1.0, 17.0).reshape(1, 16)
    out = P.shift_images(img, dy=1, dx=-1, image_shape=(4, 4)).reshape(4, 4)
    expected = np.zeros((4, 4))
    expected[1:, :3] = img.reshape(4, 4)[:3, 1:]
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(P.shift_images(img, 0, 0, (4, 4)), img)
    np.testing.assert_array_equal(P.shift_images(img, 4, 0, (4, 4)), 0 * img)


def test_shift_and_shift_back_restore_an_image_with_an_empty_border():
    X, _ = data.digits()
    X = X[:50]
    border = np.ones((8, 8), bool)
    border[1:-1, 1:-1] = False
    interior = X * ~border.ravel()
    back = P.shift_images(P.shift_images(interior, 1, -1), -1, 1)
    np.testing.assert_array_equal(back, interior)
    np.testing.assert_allclose(P.shift_images(interior, -1, 1).sum(axis=1), interior.sum(axis=1))


def test_random_shifts_are_reproducible_and_each_is_one_of_the_allowed_shifts():
    X, _ = data.digits()
    X = X[:40]
    a, b = P.random_shifts(X, 1, rng=3), P.random_shifts(X, 1, rng=3)
    np.testing.assert_array_equal(a, b)
    candidates = np.stack([P.shift_images(X, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    matches = np.all(candidates == a[None], axis=2)  # (9, N)
    assert matches.any(axis=0).all(), "every image must be one of the nine shifts"
    assert len({int(np.argmax(col)) for col in matches.T}) > 3, "the shifts must vary between images"
    np.testing.assert_array_equal(P.random_shifts(X, 0, rng=1), X)


def test_shifts_reject_bad_input():
    with pytest.raises(ValueError, match="shift_images: image_shape \\(8, 8\\) has 64 pixels"):
        P.shift_images(np.ones((2, 63)), 1, 1)
    with pytest.raises(ValueError, match="random_shifts: max_shift must be an integer >= 0"):
        P.random_shifts(np.ones((2, 64)), -1)
    with pytest.raises(ValueError, match="random_shifts: max_shift must be an integer >= 0"):
        P.random_shifts(np.ones((2, 64)), 1.5)
