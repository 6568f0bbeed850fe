"""Principal component analysis, as derived in the lectures (chapter 10).

Convention.  With N examples x_n in R^D (the rows of X: (N, D)), the mean and
the covariance are

    xbar = (1/N) sum_n x_n                                          (D,)
    S    = (1/N) sum_n (x_n - xbar)(x_n - xbar)^T = Xc^T Xc / N      (D, D)

with Xc = X - xbar the centred data.  The divisor is N, not N - 1 (the
lecture's maximum-likelihood covariance): every eigenvalue below is a variance
computed with 1/N.

The M principal directions u_1..u_M are the eigenvectors of S with the M
largest eigenvalues lambda_1 >= ... >= lambda_M, stored as the ROWS of
``PCAResult.components`` (M, D), i.e. components = U^T with U = [u_1 .. u_M].

    codes            z_n = U^T (x_n - xbar)                     project
    reconstruction   xtilde_n = xbar + U z_n                    reconstruct
    distortion       J = (1/N) sum_n ||x_n - xtilde_n||^2
                       = sum_{i > M} lambda_i                   distortion

Three ways to get the same components (``pca(X, M, method=...)``):
    "eig"   eigendecomposition of S (D x D), O(D^3)
    "svd"   singular values of Xc = A Sigma V^T: u_i = v_i, lambda_i = sigma_i^2 / N
    "gram"  the N < D trick: eigenvectors v_i of K = Xc Xc^T / N (N x N), then
            u_i = Xc^T v_i / sqrt(N lambda_i)          (gram_to_components)

``principal_angles(A, B)`` measures how far apart two subspaces are (used to
compare a linear autoencoder's weights with the principal subspace).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks

METHODS = ("eig", "svd", "gram")
_ALIASES = {"covariance": "eig"}  # the name used before "eig"; still accepted


class PCAResult(NamedTuple):
    """components: (M, D), orthonormal rows u_i^T; eigenvalues: (M,), decreasing;
    mean: (D,); total_variance: trace of S (the sum of all D eigenvalues)."""

    components: np.ndarray
    eigenvalues: np.ndarray
    mean: np.ndarray
    total_variance: float


def covariance(X) -> np.ndarray:
    """The data covariance S = Xc^T Xc / N, with Xc = X - xbar.  X: (N, D) -> (D, D).

    Divided by N (not N - 1), as in the lecture and everywhere in coursekit.pca.
    """
    X = _checks.batch(X, "X", "covariance").astype(np.float64)
    Xc = X - X.mean(axis=0)
    return Xc.T @ Xc / X.shape[0]


def gram_to_components(Xc, V, eigenvalues) -> np.ndarray:
    """The N < D trick's last step: unit eigenvectors of S from those of K.

    Xc: (N, D) centred data; V: (N, M) unit eigenvectors v_i of K = Xc Xc^T / N
    (as columns); eigenvalues: (M,) their eigenvalues lambda_i > 0.
    Since S (Xc^T v) = lambda (Xc^T v) and ||Xc^T v||^2 = v^T Xc Xc^T v = N lambda,

        u_i = Xc^T v_i / sqrt(N lambda_i)        returns U: (D, M), unit columns.

    A zero eigenvalue has Xc^T v = 0, which is no eigenvector: it is refused.
    """
    where = "gram_to_components"
    Xc = _checks.batch(Xc, "Xc", where)
    n = Xc.shape[0]
    V = _checks.batch(V, "V", where)
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if V.shape[0] != n or lam.shape != (V.shape[1],):
        raise ValueError(f"{where}: expected V of shape ({n}, M) and eigenvalues of shape (M,), "
                         f"got V {V.shape} and eigenvalues {lam.shape}")
    if np.any(lam <= 0):
        raise ValueError(f"{where}: every eigenvalue must be > 0 (for lambda = 0, Xc^T v = 0 is no "
                         f"eigenvector of S), got {lam.tolist()}")
    return Xc.T @ V / np.sqrt(n * lam)


def pca(X, k: int, method: str = "auto") -> PCAResult:
    """The k leading principal components of X: (N, D) (k is the lecture's M).

    method: "eig" diagonalises S = Xc^T Xc / N (D x D); "svd" uses the singular
    value decomposition of Xc; "gram" diagonalises Xc Xc^T / N (N x N), the
    N < D trick; "auto" picks "gram" when N < D, else "eig".  ("covariance" is an
    older name for "eig".)  All three give the same result: eigenvalues are
    variances with divisor N; signs are fixed so that each component's
    largest-magnitude entry is positive (eigenvectors are only defined up to sign).
    """
    where = "pca"
    X = _checks.batch(X, "X", where).astype(np.float64)
    n, d = X.shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
        raise ValueError(f"{where}: k must be an integer in [1, {d}] (the data has D = {d}), got {k!r}")
    method = _ALIASES.get(method, method)
    if method == "auto":
        method = "gram" if n < d else "eig"
    if method not in METHODS:
        raise ValueError(f"{where}: method must be 'auto', 'eig', 'svd' or 'gram' "
                         f"('covariance' = 'eig'), got {method!r}")
    mean = X.mean(axis=0)
    Xc = X - mean
    lam, U = {"eig": _by_eig, "svd": _by_svd, "gram": _by_gram}[method](Xc, k)
    lam = np.clip(lam, 0.0, None)  # rounding can give -1e-17 for a zero eigenvalue
    return PCAResult(_fix_signs(U.T), lam, mean, float((Xc**2).sum() / n))


def _by_eig(Xc, k):
    """Top k eigenpairs of S = Xc^T Xc / N: (lambda: (k,), U: (D, k))."""
    lam, U = np.linalg.eigh(Xc.T @ Xc / Xc.shape[0])  # ascending order
    return lam[::-1][:k], U[:, ::-1][:, :k]


def _by_svd(Xc, k):
    """Xc = A Sigma V^T  =>  S = V (Sigma^2 / N) V^T: lambda_i = sigma_i^2 / N, u_i = v_i."""
    n, d = Xc.shape
    # with N < D and k > N the thin SVD has too few directions: take the full one
    _, sigma, Vt = np.linalg.svd(Xc, full_matrices=k > min(n, d))
    lam = np.zeros(d)
    lam[:len(sigma)] = sigma**2 / n
    return lam[:k], Vt[:k].T


def _by_gram(Xc, k):
    """The N < D trick: eigenpairs of K = Xc Xc^T / N, then u = Xc^T v / sqrt(N lambda)."""
    n = Xc.shape[0]
    lam, V = np.linalg.eigh(Xc @ Xc.T / n)
    lam, V = lam[::-1][:k], V[:, ::-1][:, :k]
    tiny = 1e-12 * max(float(lam[0]), 1e-300)
    if k > n or np.any(lam <= tiny):
        rank = int(np.sum(lam > tiny))
        raise ValueError(
            f"pca: method='gram' finds only the {rank} directions with non-zero variance "
            f"(N = {n} centred points span at most N - 1); asked for k = {k}. "
            "Use a smaller k or method='eig'"
        )
    return lam, gram_to_components(Xc, V, lam)


def _fix_signs(components):
    """Flip each row so that its largest-magnitude entry is positive."""
    rows = np.arange(components.shape[0])
    signs = np.sign(components[rows, np.abs(components).argmax(axis=1)])
    return components * np.where(signs == 0, 1.0, signs)[:, None]


def project(X, result: PCAResult) -> np.ndarray:
    """Codes on the components, z_n = U^T (x_n - xbar).  X: (N, D) -> Z: (N, M)."""
    X = _checks.batch(X, "X", "project", features=result.mean.shape[0])
    return (X - result.mean) @ result.components.T


def reconstruct(Z, result: PCAResult) -> np.ndarray:
    """Back to input space, xtilde_n = xbar + U z_n.  Z: (N, M) -> (N, D)."""
    Z = _checks.batch(Z, "Z", "reconstruct", features=result.components.shape[0])
    return result.mean + Z @ result.components


def distortion(X, result: PCAResult) -> float:
    """Mean squared reconstruction error J = (1/N) sum_n ||x_n - xtilde_n||^2.  X: (N, D).

    On the data the components were fitted on, J equals the sum of the discarded
    eigenvalues, sum_{i > M} lambda_i = result.total_variance - result.eigenvalues.sum().
    On other data (a test set) it is simply measured.
    """
    X = _checks.batch(X, "X", "distortion", features=result.mean.shape[0])
    error = X - reconstruct(project(X, result), result)
    return float((error**2).sum() / X.shape[0])


def truncate(result: PCAResult, k: int) -> PCAResult:
    """The first k components of a fitted PCA (the same as refitting with k)."""
    m = result.components.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= m:
        raise ValueError(f"truncate: k must be an integer in [1, {m}] (the result has M = {m}), got {k!r}")
    return result._replace(components=result.components[:k], eigenvalues=result.eigenvalues[:k])


def principal_angles(A, B) -> np.ndarray:
    """Principal angles (radians, ascending) between span(A) and span(B).

    A: (D, p), B: (D, q): the COLUMNS of each span a subspace of R^D (they need
    not be orthonormal, but must be linearly independent).  With orthonormal
    bases Q_A, Q_B of the two spans (from an SVD), the cosines of the min(p, q)
    angles are the singular values of Q_A^T Q_B:

        cos theta_i = sigma_i(Q_A^T Q_B),   0 <= theta_1 <= ... <= pi/2.

    The largest angle is 0 exactly when one span contains the other.  Angles
    below about 1e-8 rad are not resolved (the cosine rounds to 1).
    To compare with a PCAResult, pass result.components.T (its rows are the u_i).
    """
    where = "principal_angles"
    A = _orthonormal_basis(A, "A", where)
    B = _orthonormal_basis(B, "B", where)
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"{where}: A and B must have the same number of rows D, got A: {A.shape} "
                         f"and B: {B.shape} (pass subspace bases as columns)")
    cosines = np.linalg.svd(A.T @ B, compute_uv=False)
    return np.sort(np.arccos(np.clip(cosines, -1.0, 1.0)))


def _orthonormal_basis(A, name: str, where: str) -> np.ndarray:
    """Orthonormal columns spanning the columns of A: (D, p); refuses dependent columns."""
    A = _checks.float_array(A, name, where)
    if A.ndim != 2 or A.shape[1] == 0 or A.shape[1] > A.shape[0]:
        raise ValueError(f"{where}: {name} must be (D, p) with 1 <= p <= D, one basis vector per "
                         f"column; got shape {A.shape}")
    left, sigma, _ = np.linalg.svd(A, full_matrices=False)
    if sigma[-1] <= 1e-10 * sigma[0]:
        raise ValueError(f"{where}: the columns of {name} are linearly dependent (singular values "
                         f"{np.round(sigma, 12).tolist()}); they do not span a {A.shape[1]}-dimensional subspace")
    return left
