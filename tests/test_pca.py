"""coursekit.pca against numpy's SVD, and the lectures' distortion formula."""
import numpy as np
import pytest

from coursekit.pca import PCAResult, distortion, pca, project, reconstruct


def correlated_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    scales = np.geomspace(5.0, 0.1, d)  # distinct variances, so the components are unique
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return rng.normal(size=(n, d)) * scales @ Q.T + rng.normal(size=d)


def svd_reference(X, k):
    """Eigenvalues s^2 / N and right singular vectors of the centred data."""
    Xc = X - X.mean(axis=0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    return (s**2 / X.shape[0])[:k], Vt[:k]


def assert_same_components(ours, ref):
    """Equal up to the sign of each row (eigenvectors are defined up to sign)."""
    signs = np.sign(np.sum(ours * ref, axis=1))
    np.testing.assert_allclose(ours, ref * signs[:, None], atol=1e-8)


@pytest.mark.parametrize("method,n,d", [("covariance", 200, 6), ("gram", 200, 6),
                                        ("covariance", 15, 40), ("gram", 15, 40), ("auto", 15, 40)])
def test_matches_svd(method, n, d):
    X = correlated_data(n, d)
    k = 4
    result = pca(X, k, method=method)
    lam, V = svd_reference(X, k)
    np.testing.assert_allclose(result.eigenvalues, lam, rtol=1e-9)
    assert_same_components(result.components, V)
    np.testing.assert_allclose(result.mean, X.mean(axis=0))
    np.testing.assert_allclose(result.components @ result.components.T, np.eye(k), atol=1e-10)
    assert result.total_variance == pytest.approx(np.var(X, axis=0).sum())


def test_gram_trick_and_covariance_agree_exactly_in_sign():
    X = correlated_data(12, 30, seed=3)
    a, b = pca(X, 5, method="gram"), pca(X, 5, method="covariance")
    np.testing.assert_allclose(a.components, b.components, atol=1e-8)
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-9)
    # the sign rule: the largest-magnitude entry of each component is positive
    rows = np.arange(5)
    assert np.all(a.components[rows, np.abs(a.components).argmax(axis=1)] > 0)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_distortion_is_the_sum_of_the_discarded_eigenvalues(k):
    X = correlated_data(300, 8, seed=1)
    all_lam, _ = svd_reference(X, 8)
    result = pca(X, k)
    assert distortion(X, result) == pytest.approx(all_lam[k:].sum(), rel=1e-9, abs=1e-12)
    assert distortion(X, result) == pytest.approx(result.total_variance - result.eigenvalues.sum(),
                                                  rel=1e-9, abs=1e-12)


def test_projection_variances_are_the_eigenvalues_and_full_reconstruction_is_exact():
    X = correlated_data(250, 5, seed=2)
    result = pca(X, 5)
    Z = project(X, result)
    np.testing.assert_allclose(Z.var(axis=0), result.eigenvalues, rtol=1e-9)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(reconstruct(Z, result), X, atol=1e-10)


def test_bad_input():
    X = correlated_data(10, 20)
    with pytest.raises(ValueError, match="k must be"):
        pca(X, 0)
    with pytest.raises(ValueError, match="k must be"):
        pca(X, 21)
    with pytest.raises(ValueError, match="method='covariance'"):
        pca(X, 12, method="gram")  # 10 centred points span at most 9 directions
    with pytest.raises(ValueError, match="method must be"):
        pca(X, 2, method="svd")
    with pytest.raises(TypeError, match="float"):
        pca(np.arange(12).reshape(4, 3), 1)
    result = pca(X, 2)
    assert isinstance(result, PCAResult)
    with pytest.raises(ValueError, match=r"\(N, 20\)"):
        project(np.ones((3, 5)), result)
