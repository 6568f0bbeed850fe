"""coursekit.pca against numpy's SVD, the lectures' two derivations and the N < D trick."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.pca import (
    METHODS,
    PCAResult,
    covariance,
    distortion,
    gram_to_components,
    pca,
    principal_angles,
    project,
    reconstruct,
    truncate,
)


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
    np.testing.assert_allclose(ours, ref * signs[:, None], atol=1e-8,
                               err_msg="the components differ from the SVD's right singular vectors")


def test_covariance_divides_by_n():
    X = correlated_data(50, 4)
    loop = sum(np.outer(x - X.mean(0), x - X.mean(0)) for x in X) / 50
    np.testing.assert_allclose(covariance(X), loop, rtol=1e-12)
    np.testing.assert_allclose(covariance(X), np.cov(X.T, bias=True), rtol=1e-12)
    assert not np.allclose(covariance(X), np.cov(X.T)), "np.cov divides by N - 1; the lecture by N"


@pytest.mark.parametrize("method,n,d", [("eig", 200, 6), ("svd", 200, 6), ("gram", 200, 6),
                                        ("covariance", 15, 40), ("eig", 15, 40), ("svd", 15, 40),
                                        ("gram", 15, 40), ("auto", 15, 40), ("auto", 200, 6)])
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


def test_the_three_methods_agree_exactly_in_sign():
    X = correlated_data(12, 30, seed=3)
    results = [pca(X, 5, method=m) for m in METHODS]
    for other in results[1:]:
        np.testing.assert_allclose(other.components, results[0].components, atol=1e-8)
        np.testing.assert_allclose(other.eigenvalues, results[0].eigenvalues, rtol=1e-9)
    # the sign rule: the largest-magnitude entry of each component is positive
    rows = np.arange(5)
    comps = results[0].components
    assert np.all(comps[rows, np.abs(comps).argmax(axis=1)] > 0)


def test_svd_gives_more_components_than_examples_when_asked():
    X = correlated_data(10, 20, seed=10)      # 10 centred points span 9 directions
    by_svd, by_eig = pca(X, 12, method="svd"), pca(X, 12, method="eig")
    np.testing.assert_allclose(by_svd.eigenvalues, by_eig.eigenvalues, atol=1e-12)
    np.testing.assert_allclose(by_svd.eigenvalues[9:], 0, atol=1e-12)
    np.testing.assert_allclose(by_svd.components[:9], by_eig.components[:9], atol=1e-8)
    np.testing.assert_allclose(by_svd.components @ by_svd.components.T, np.eye(12), atol=1e-10)


def test_components_are_eigenvectors_of_the_covariance():
    """The maximum-variance derivation's stationarity condition S u = lambda u."""
    X = correlated_data(100, 7, seed=4)
    result = pca(X, 7)
    S = covariance(X)
    for u, lam in zip(result.components, result.eigenvalues):
        np.testing.assert_allclose(S @ u, lam * u, atol=1e-10)
        assert u @ S @ u == pytest.approx(lam)  # the variance of the codes along u


def test_no_unit_direction_has_more_variance_than_u1():
    X = correlated_data(300, 5, seed=5)
    result = pca(X, 1)
    S = covariance(X)
    directions = np.random.default_rng(0).normal(size=(2000, 5))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    variances = np.einsum("id,de,ie->i", directions, S, directions)
    assert variances.max() <= result.eigenvalues[0] * (1 + 1e-12)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_distortion_is_the_sum_of_the_discarded_eigenvalues(k):
    X = correlated_data(300, 8, seed=1)
    all_lam, _ = svd_reference(X, 8)
    result = pca(X, k)
    assert distortion(X, result) == pytest.approx(all_lam[k:].sum(), rel=1e-9, abs=1e-12)
    assert distortion(X, result) == pytest.approx(result.total_variance - result.eigenvalues.sum(),
                                                  rel=1e-9, abs=1e-12)


def test_any_other_orthonormal_basis_reconstructs_worse():
    """Minimum-error view: among k-dimensional subspaces, PCA's has the smallest distortion."""
    X = correlated_data(200, 6, seed=6)
    best = distortion(X, pca(X, 2))
    rng = np.random.default_rng(1)
    for _ in range(50):
        Q, _ = np.linalg.qr(rng.normal(size=(6, 2)))
        other = PCAResult(Q.T, np.zeros(2), X.mean(axis=0), 0.0)
        assert distortion(X, other) > best


def test_projection_variances_are_the_eigenvalues_and_full_reconstruction_is_exact():
    X = correlated_data(250, 5, seed=2)
    result = pca(X, 5)
    Z = project(X, result)
    np.testing.assert_allclose(Z.var(axis=0), result.eigenvalues, rtol=1e-9)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(reconstruct(Z, result), X, atol=1e-10)


def test_truncate_equals_refitting():
    X = correlated_data(80, 6, seed=7)
    small, cut = pca(X, 2), truncate(pca(X, 5), 2)
    np.testing.assert_allclose(cut.components, small.components, atol=1e-12)
    np.testing.assert_allclose(cut.eigenvalues, small.eigenvalues, rtol=1e-12)
    with pytest.raises(ValueError, match="truncate: k must be"):
        truncate(small, 3)


def test_gram_to_components_normalises_by_sqrt_n_lambda():
    X = correlated_data(10, 30, seed=8)
    Xc = X - X.mean(axis=0)
    lam, V = np.linalg.eigh(Xc @ Xc.T / 10)
    lam, V = lam[::-1][:3], V[:, ::-1][:, :3]
    U = gram_to_components(Xc, V, lam)
    np.testing.assert_allclose(np.linalg.norm(U, axis=0), 1.0, rtol=1e-10)
    np.testing.assert_allclose(covariance(X) @ U, U * lam, atol=1e-10)
    # without the normalisation the length is sqrt(N lambda), not 1
    np.testing.assert_allclose(np.linalg.norm(Xc.T @ V, axis=0), np.sqrt(10 * lam), rtol=1e-10)


def test_gram_to_components_refuses_a_zero_eigenvalue():
    X = correlated_data(6, 20, seed=9)
    Xc = X - X.mean(axis=0)
    ones = np.full((6, 1), 1 / np.sqrt(6))  # K 1 = 0 for centred data
    np.testing.assert_allclose(Xc.T @ ones, 0, atol=1e-12)
    with pytest.raises(ValueError, match="gram_to_components: every eigenvalue must be > 0"):
        gram_to_components(Xc, ones, [0.0])
    with pytest.raises(ValueError, match=r"gram_to_components: expected V of shape \(6, M\)"):
        gram_to_components(Xc, np.ones((5, 1)), [1.0])


def test_principal_angles_of_known_subspaces():
    e = np.eye(4)
    np.testing.assert_allclose(principal_angles(e[:, :2], e[:, :2]), [0, 0], atol=1e-7)
    np.testing.assert_allclose(principal_angles(e[:, :2], e[:, 2:]), [np.pi / 2] * 2)
    theta = 0.3  # the plane {e0, e1} against {e0, cos t e1 + sin t e2}
    B = np.column_stack([e[:, 0], np.cos(theta) * e[:, 1] + np.sin(theta) * e[:, 2]])
    np.testing.assert_allclose(principal_angles(e[:, :2], B), [0, theta], atol=1e-7)
    # a different (non-orthonormal) basis of the same span gives zero angles
    np.testing.assert_allclose(principal_angles(B, B @ np.array([[2.0, 1.0], [0.5, -3.0]])), 0, atol=1e-7)
    # a line inside a plane: one angle, zero
    np.testing.assert_allclose(principal_angles(e[:, :1] + e[:, 1:2], e[:, :2]), [0], atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.integers(1, 3))
def test_principal_angles_are_invariant_to_the_basis_and_symmetric(seed, p):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(6, p)), rng.normal(size=(6, p))
    mix = rng.normal(size=(p, p)) + 3 * np.eye(p)  # invertible: the same span
    angles = principal_angles(A, B)
    assert np.all((angles >= 0) & (angles <= np.pi / 2 + 1e-12)) and np.all(np.diff(angles) >= 0)
    np.testing.assert_allclose(principal_angles(A @ mix, B), angles, atol=1e-7)
    np.testing.assert_allclose(principal_angles(B, A), angles, atol=1e-7)


def test_principal_angles_bad_input():
    with pytest.raises(ValueError, match="principal_angles: the columns of B are linearly dependent"):
        principal_angles(np.eye(3)[:, :2], np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"principal_angles: A must be \(D, p\)"):
        principal_angles(np.ones(3), np.eye(3))
    with pytest.raises(ValueError, match="same number of rows D"):
        principal_angles(np.eye(3)[:, :2], np.eye(4)[:, :2])
    with pytest.raises(TypeError, match="float"):
        principal_angles(np.eye(3, dtype=int), np.eye(3))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 12), d=st.integers(2, 15))
def test_properties_of_any_data(seed, n, d):
    X = np.random.default_rng(seed).normal(size=(n, d)) * np.arange(1, d + 1)
    k = min(d, n - 1)
    result = pca(X, k, method="eig")
    assert np.all(np.diff(result.eigenvalues) <= 1e-12), "eigenvalues must be in decreasing order"
    np.testing.assert_allclose(result.components @ result.components.T, np.eye(k), atol=1e-9)
    discarded = result.total_variance - result.eigenvalues.sum()
    assert distortion(X, result) == pytest.approx(discarded, abs=1e-9 * max(1.0, result.total_variance))


def test_bad_input():
    X = correlated_data(10, 20)
    with pytest.raises(ValueError, match="k must be"):
        pca(X, 0)
    with pytest.raises(ValueError, match="k must be"):
        pca(X, 21)
    with pytest.raises(ValueError, match="k must be"):
        pca(X, True)
    with pytest.raises(ValueError, match="method='eig'"):
        pca(X, 12, method="gram")  # 10 centred points span at most 9 directions
    with pytest.raises(ValueError, match="method must be"):
        pca(X, 2, method="power")
    with pytest.raises(TypeError, match="float"):
        pca(np.arange(12).reshape(4, 3), 1)
    result = pca(X, 2)
    assert isinstance(result, PCAResult)
    with pytest.raises(ValueError, match=r"\(N, 20\)"):
        project(np.ones((3, 5)), result)
    with pytest.raises(ValueError, match=r"reconstruct: expected Z of shape \(N, 2\)"):
        reconstruct(np.ones((3, 5)), result)
