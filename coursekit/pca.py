"""Principal component analysis, as derived in the lectures.

With N examples x_n in R^D (rows of X), mean xbar and covariance

    S = (1/N) sum_n (x_n - xbar)(x_n - xbar)^T          (D, D)

the k principal directions u_1..u_k are the eigenvectors of S with the k
largest eigenvalues lambda_1 >= ... >= lambda_k.  Projecting on them keeps the
most variance (lambda_i is the variance along u_i), and the mean squared
reconstruction error ("distortion") is the sum of the discarded eigenvalues:

    J = (1/N) sum_n ||x_n - xtilde_n||^2 = sum_{i > k} lambda_i.

The N < D trick: with Xc the centred data (N, D), S = Xc^T Xc / N is D x D, but
the N x N matrix K = Xc Xc^T / N has the same non-zero eigenvalues.  If K v = lambda v
then S (Xc^T v) = lambda (Xc^T v), so u = Xc^T v / sqrt(N lambda) is a unit
eigenvector of S, found by diagonalising an N x N matrix instead of a D x D one.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks


class PCAResult(NamedTuple):
    """components: (k, D), orthonormal rows u_i; eigenvalues: (k,), decreasing;
    mean: (D,); total_variance: trace of S (the sum of all D eigenvalues)."""

    components: np.ndarray
    eigenvalues: np.ndarray
    mean: np.ndarray
    total_variance: float


def pca(X, k: int, method: str = "auto") -> PCAResult:
    """The k leading principal components of X: (N, D).

    method: "covariance" diagonalises S (D x D); "gram" diagonalises
    Xc Xc^T / N (N x N), the N < D trick; "auto" picks the smaller matrix.
    Signs are fixed so that each component's largest-magnitude entry is positive
    (eigenvectors are only defined up to sign).
    """
    where = "pca"
    X = _checks.batch(X, "X", where).astype(np.float64)
    n, d = X.shape
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
        raise ValueError(f"{where}: k must be an integer in [1, {d}] (the data has D = {d}), got {k!r}")
    if method == "auto":
        method = "gram" if n < d else "covariance"
    if method not in ("covariance", "gram"):
        raise ValueError(f"{where}: method must be 'auto', 'covariance' or 'gram', got {method!r}")

    mean = X.mean(axis=0)
    Xc = X - mean
    total = float((Xc**2).sum() / n)
    if method == "covariance":
        S = Xc.T @ Xc / n
        lam, U = np.linalg.eigh(S)  # ascending
        lam, U = lam[::-1][:k], U[:, ::-1][:, :k]
    else:
        K = Xc @ Xc.T / n
        lam, V = np.linalg.eigh(K)
        lam, V = lam[::-1][:k], V[:, ::-1][:, :k]
        tiny = 1e-12 * max(float(lam[0]), 1e-300)
        if k > n or np.any(lam <= tiny):
            rank = int(np.sum(lam > tiny))
            raise ValueError(
                f"{where}: method='gram' finds only the {rank} directions with non-zero variance "
                f"(N = {n} centred points span at most N - 1); asked for k = {k}. "
                "Use a smaller k or method='covariance'"
            )
        U = Xc.T @ V / np.sqrt(n * lam)  # u = Xc^T v / sqrt(N lambda)
    lam = np.clip(lam, 0.0, None)  # rounding can give -1e-17 for a zero eigenvalue
    components = U.T.copy()
    rows = np.arange(k)
    signs = np.sign(components[rows, np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    return PCAResult(components, lam, mean, total)


def project(X, result: PCAResult) -> np.ndarray:
    """Coordinates on the components, z_n = U^T (x_n - xbar).  X: (N, D) -> Z: (N, k)."""
    X = _checks.batch(X, "X", "project", features=result.mean.shape[0])
    return (X - result.mean) @ result.components.T


def reconstruct(Z, result: PCAResult) -> np.ndarray:
    """Back to input space, xtilde_n = xbar + U z_n.  Z: (N, k) -> (N, D)."""
    Z = _checks.batch(Z, "Z", "reconstruct", features=result.components.shape[0])
    return result.mean + Z @ result.components


def distortion(X, result: PCAResult) -> float:
    """Mean squared reconstruction error (1/N) sum_n ||x_n - xtilde_n||^2.

    On the data the components were fitted on, it equals
    result.total_variance - result.eigenvalues.sum() (the discarded eigenvalues).
    """
    X = _checks.batch(X, "X", "distortion", features=result.mean.shape[0])
    error = X - reconstruct(project(X, result), result)
    return float((error**2).sum() / X.shape[0])
