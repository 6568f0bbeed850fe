"""Preprocessing: statistics fitted on the training split, applied to every split.

Every function here follows one rule: the numbers that define a transformation
(a mean, a standard deviation, a minimum and a range, a whitening matrix) are
computed from the *training* rows only, and the same numbers are then applied
to the validation and test rows.  Fitting them on all the data would let the
held-out rows shape their own preprocessing, and the held-out score would no
longer measure what happens to a new example.

Rows are examples, X: (N, D).  In the lectures' column notation a whitening
matrix W maps one centred example to y = W (x - mu); for a batch that is
Y = (X - mu) W^T.  With the covariance

    Sigma = (1/N) sum_n (x_n - mu)(x_n - mu)^T        (D, D), divided by N

W whitens when Cov(Y) = W Sigma W^T = I, i.e. when W^T W = Sigma^{-1}.  With a
small eps > 0 added to the variances (Sigma + eps I instead of Sigma) every
method below satisfies W (Sigma + eps I) W^T = I exactly, so the output
covariance is I - eps W W^T: slightly below I, most in the directions of
smallest variance.

Augmentation of image rows (random shifts) lives here too: like preprocessing
it transforms inputs, and it touches nothing but the data.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks
from ._rng import as_generator
from .data import standardise
from .pca import covariance

__all__ = [
    "WHITENING_METHODS",
    "Whitening",
    "centre",
    "cholesky_whitening",
    "covariance",
    "fit_whitening",
    "min_max_scale",
    "pca_whitening",
    "random_shifts",
    "shift_images",
    "standardise",
    "whiten",
    "whitening_matrix",
    "zca_whitening",
]


# ----------------------------------------------------------------------------
# Per-feature scaling, fitted on the training rows
# ----------------------------------------------------------------------------
def _train_and_others(X_train, others, where: str):
    """Check X_train: (N, D) and each of ``others``: (M, D) (an empty array is allowed)."""
    X_train = _checks.batch(X_train, "X_train", where)
    checked = [_checks.batch(X, f"others[{i}]", where, features=X_train.shape[1])
               if len(X) else np.asarray(X)
               for i, X in enumerate(others)]
    return X_train, checked


def centre(X_train, *others):
    """Subtract the training mean from every split.

        mu = (1/N) sum_n x_n   (over the rows of X_train),   Xc = X - mu

    X_train: (N, D); others: arrays (M, D).
    Returns Xc_train, *Xc_others, mu   (mu: (D,)).
    """
    X_train, others = _train_and_others(X_train, others, "centre")
    mu = X_train.mean(axis=0)
    return (*[X - mu for X in (X_train, *others)], mu)


def min_max_scale(X_train, *others):
    """Map every feature of the training set onto [0, 1].

        lo = min_n x_n,  hi = max_n x_n   (per feature, over the rows of X_train)
        Z = (X - lo) / (hi - lo)

    The training rows land in [0, 1]; validation and test rows can fall outside
    it (they were not used to find lo and hi).  A feature that is constant on
    the training set gets the range 1, so it becomes 0 instead of 0/0.
    X_train: (N, D); others: arrays (M, D).
    Returns Z_train, *Z_others, lo, hi   (lo, hi: (D,)).
    """
    X_train, others = _train_and_others(X_train, others, "min_max_scale")
    lo, hi = X_train.min(axis=0), X_train.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (*[(X - lo) / span for X in (X_train, *others)], lo, hi)


# ----------------------------------------------------------------------------
# Whitening matrices from a covariance matrix
# ----------------------------------------------------------------------------
def _covariance_and_eps(cov, eps, where: str) -> tuple[np.ndarray, float]:
    cov = _checks.float_array(cov, "cov", where).astype(np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"{where}: cov must be a square (D, D) covariance matrix, got shape {cov.shape}")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(cov).max()))):
        raise ValueError(f"{where}: cov must be symmetric (a covariance matrix); cov - cov.T reaches "
                         f"{float(np.abs(cov - cov.T).max()):.3g}")
    eps = float(eps)
    if not eps >= 0:
        raise ValueError(f"{where}: eps must be >= 0, got {eps}")
    return cov, eps


def _eigen_descending(cov, eps, where: str):
    """Eigenvalues of Sigma, decreasing, and the orthonormal eigenvectors (columns of U).

    Signs as in coursekit.pca: each eigenvector's largest-magnitude entry is
    positive.  Raises when some lambda_i + eps is not positive (a singular
    covariance needs eps > 0).
    """
    lam, U = np.linalg.eigh(cov)
    lam, U = lam[::-1], U[:, ::-1]
    lam = np.clip(lam, 0.0, None)  # rounding gives -1e-17 for a zero eigenvalue
    floor = 1e-12 * max(float(lam[0]), 1e-300)
    if lam[-1] + eps <= floor:
        raise ValueError(
            f"{where}: the covariance is singular (smallest eigenvalue {lam[-1]:.3g}, "
            f"{int(np.sum(lam <= floor))} of {len(lam)} directions without variance) and eps = {eps}: "
            "pass eps > 0 (e.g. 1e-5), or drop the constant features"
        )
    rows = np.arange(U.shape[1])
    signs = np.sign(U[np.abs(U).argmax(axis=0), rows])
    return lam, U * np.where(signs == 0, 1.0, signs)


def pca_whitening(cov, eps: float = 1e-5) -> np.ndarray:
    """PCA whitening: rotate onto the principal axes, then divide by the standard deviations.

        Sigma = U Lambda U^T  (eigenvalues decreasing),   W = (Lambda + eps I)^{-1/2} U^T

    Row i of W is the i-th principal direction u_i^T divided by sqrt(lambda_i + eps),
    so y_i = u_i^T (x - mu) / sqrt(lambda_i + eps).  cov: (D, D) -> W: (D, D).
    """
    cov, eps = _covariance_and_eps(cov, eps, "pca_whitening")
    lam, U = _eigen_descending(cov, eps, "pca_whitening")
    return U.T / np.sqrt(lam + eps)[:, None]


def zca_whitening(cov, eps: float = 1e-5) -> np.ndarray:
    """ZCA (Mahalanobis) whitening: the symmetric inverse square root of the covariance.

        W = (Sigma + eps I)^{-1/2} = U (Lambda + eps I)^{-1/2} U^T

    PCA whitening followed by the rotation U back to the original axes.  Of all
    whitening matrices it changes the data least (it minimises E||x - W x||^2),
    and ||W x||^2 = x^T (Sigma + eps I)^{-1} x is the squared Mahalanobis norm.
    cov: (D, D) -> W: (D, D), symmetric.
    """
    cov, eps = _covariance_and_eps(cov, eps, "zca_whitening")
    lam, U = _eigen_descending(cov, eps, "zca_whitening")
    W = (U / np.sqrt(lam + eps)) @ U.T
    return (W + W.T) / 2  # symmetric to the last bit


def cholesky_whitening(cov, eps: float = 1e-5) -> np.ndarray:
    """Cholesky whitening: the inverse of the covariance's Cholesky factor.

        Sigma + eps I = L L^T  (L lower-triangular, positive diagonal),   W = L^{-1}

    W is lower-triangular too, so output y_k depends on the inputs x_1..x_k only:
    the features are decorrelated one after the other, in their given order
    (Gram-Schmidt on the features).  cov: (D, D) -> W: (D, D), lower-triangular.
    """
    cov, eps = _covariance_and_eps(cov, eps, "cholesky_whitening")
    try:
        L = np.linalg.cholesky(cov + eps * np.eye(len(cov)))
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(cov)[0])
        raise ValueError(
            f"cholesky_whitening: Sigma + eps I is not positive definite (smallest eigenvalue of "
            f"Sigma {smallest:.3g}, eps = {eps}): pass a larger eps, or drop the constant features"
        ) from None
    return np.tril(np.linalg.solve(L, np.eye(len(cov))))


WHITENING_METHODS = {"pca": pca_whitening, "zca": zca_whitening, "cholesky": cholesky_whitening}


def whitening_matrix(cov, method: str = "zca", eps: float = 1e-5) -> np.ndarray:
    """The whitening matrix of ``method`` ("pca", "zca" or "cholesky") for the covariance cov: (D, D).

    Each satisfies W (Sigma + eps I) W^T = I; see the three functions for the formulas.
    """
    if method not in WHITENING_METHODS:
        raise ValueError(f"whitening_matrix: method must be one of {sorted(WHITENING_METHODS)}, got {method!r}")
    return WHITENING_METHODS[method](cov, eps)


# ----------------------------------------------------------------------------
# Fitting on the training split, applying to any split
# ----------------------------------------------------------------------------
class Whitening(NamedTuple):
    """A fitted whitening: y = W (x - mean) for each example, Y = (X - mean) W^T for a batch.

    matrix: W (D, D); mean: (D,), the training mean; method and eps as fitted.
    """

    matrix: np.ndarray
    mean: np.ndarray
    method: str
    eps: float


def fit_whitening(X_train, method: str = "zca", eps: float = 1e-5) -> Whitening:
    """Mean and whitening matrix of the training rows X_train: (N, D).

    Sigma is the covariance of X_train divided by N (coursekit.pca.covariance).
    """
    X_train = _checks.batch(X_train, "X_train", "fit_whitening").astype(np.float64)
    W = whitening_matrix(covariance(X_train), method=method, eps=eps)
    return Whitening(W, X_train.mean(axis=0), method, float(eps))


def whiten(X, whitening: Whitening) -> np.ndarray:
    """Apply a fitted whitening: Y = (X - mean) W^T.  X: (M, D) -> Y: (M, D)."""
    X = _checks.batch(X, "X", "whiten", features=len(whitening.mean))
    return (X - whitening.mean) @ whitening.matrix.T


# ----------------------------------------------------------------------------
# Augmentation: shifted copies of image rows
# ----------------------------------------------------------------------------
def _images(X, image_shape, where: str) -> tuple[np.ndarray, tuple[int, int]]:
    X = _checks.batch(X, "X", where)
    h, w = (int(v) for v in image_shape)
    if h * w != X.shape[1]:
        raise ValueError(f"{where}: image_shape {tuple(image_shape)} has {h * w} pixels, "
                         f"but the rows of X have {X.shape[1]}")
    return X.reshape(len(X), h, w), (h, w)


def _shift_stack(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Shift image n by (dy[n], dx[n]) pixels (down, right), filling with zeros."""
    n, h, w = images.shape
    rows = np.arange(h)[None, :] - dy[:, None]  # source row of each target row
    cols = np.arange(w)[None, :] - dx[:, None]
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    source = images[np.arange(n)[:, None, None], np.clip(rows, 0, h - 1)[:, :, None],
                    np.clip(cols, 0, w - 1)[:, None, :]]
    return np.where(inside, source, 0.0)


def shift_images(X, dy: int, dx: int, image_shape=(8, 8)) -> np.ndarray:
    """Every image moved dy pixels down and dx pixels right; pixels shifted in are 0.

    X: (N, H*W), rows are images read row by row -> (N, H*W).
    out[n, i, j] = X[n, i - dy, j - dx] where that pixel exists, else 0.
    """
    images, (h, w) = _images(X, image_shape, "shift_images")
    n = len(images)
    out = _shift_stack(images, np.full(n, int(dy)), np.full(n, int(dx)))
    return out.reshape(n, h * w)


def random_shifts(X, max_shift: int = 1, image_shape=(8, 8), rng=None) -> np.ndarray:
    """Each image moved by its own random (dy, dx), drawn uniformly from {-max_shift, ..., max_shift}^2.

    The augmentation of the lectures' "translating the training images a few
    pixels".  X: (N, H*W) -> (N, H*W); rng: Generator, int seed or None.
    """
    where = "random_shifts"
    if not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"{where}: max_shift must be an integer >= 0, got {max_shift!r}")
    images, (h, w) = _images(X, image_shape, where)
    gen = as_generator(rng)
    dy, dx = gen.integers(-max_shift, max_shift + 1, size=(2, len(images)))
    return _shift_stack(images, dy, dx).reshape(len(images), h * w)
