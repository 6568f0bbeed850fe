"""Data sets and the small tools that prepare them for training.

Toy sets in the plane (for pictures of decision boundaries), each returning
``X: (N, 2) float64`` and ``y: (N,) int64``, rows shuffled, classes balanced
(their sizes differ by at most one):

    xor          four noisy clusters at the corners of the unit square, y = x1 XOR x2
    two_spirals  two interleaved spirals
    circles      two concentric circles
    blobs        K Gaussian clusters

and one real set, ``digits()``: scikit-learn's 1,797 handwritten 8x8 digits,
shipped inside the scikit-learn wheel (no download).

Then: ``train_val_test_split``, ``standardise``, ``one_hot``/``from_one_hot`` and
the mini-batch iterator ``minibatches``.  Every function that draws random numbers
takes ``rng`` (a numpy Generator, an int seed or None): the same seed gives the
same data.
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import os

import numpy as np

from . import _checks
from ._rng import as_generator


# ----------------------------------------------------------------------------
# Toy data sets in the plane
# ----------------------------------------------------------------------------
def _check_toy(n: int, noise: float, num_classes: int, where: str) -> int:
    n = int(n)
    if n < num_classes:
        raise ValueError(f"{where}: need at least {num_classes} points (one per class), got n={n}")
    if not noise >= 0:
        raise ValueError(f"{where}: noise is a standard deviation and must be >= 0, got {noise}")
    return n


def _balanced_labels(n: int, num_classes: int) -> np.ndarray:
    """Labels 0, 1, ..., K-1, 0, 1, ... : class sizes differ by at most one."""
    return np.arange(n) % num_classes


def _shuffled(X: np.ndarray, y: np.ndarray, gen: np.random.Generator):
    order = gen.permutation(len(y))
    return X[order], y[order].astype(np.int64)


def xor(n: int = 200, noise: float = 0.1, rng=None):
    """The XOR problem: points around the corners of the unit square.

    A point is drawn around corner (a, b), a, b in {0, 1}, with Gaussian noise of
    standard deviation ``noise`` per coordinate; its label is y = a XOR b.  No
    straight line separates the classes.  With noise=0 the rows are exactly the
    four rows of the XOR truth table.
    Returns X: (n, 2) float64, y: (n,) int64, n/2 points per class (up to one).
    """
    n = _check_toy(n, noise, 2, "xor")
    gen = as_generator(rng)
    corner = np.arange(n) % 4  # 0..3, the bits of the corner
    a, b = corner // 2, corner % 2
    X = np.column_stack([a, b]).astype(np.float64) + noise * gen.standard_normal((n, 2))
    return _shuffled(X, a ^ b, gen)


def two_spirals(n: int = 200, noise: float = 0.1, turns: float = 1.5, rng=None):
    """Two interleaved spirals, one per class.

    A point of class k at "time" t ~ U(0, 1) lies at radius r = t and angle
    theta = 2 pi turns t + k pi (the second spiral is the first rotated by 180 deg),
    plus Gaussian noise of standard deviation ``noise``.
    Returns X: (n, 2) float64 (inside [-1, 1]^2 apart from the noise), y: (n,) int64.
    """
    n = _check_toy(n, noise, 2, "two_spirals")
    if not turns > 0:
        raise ValueError(f"two_spirals: turns must be > 0, got {turns}")
    gen = as_generator(rng)
    y = _balanced_labels(n, 2)
    t = gen.uniform(0.0, 1.0, n)
    theta = 2 * np.pi * turns * t + np.pi * y
    X = t[:, None] * np.column_stack([np.cos(theta), np.sin(theta)])
    X += noise * gen.standard_normal((n, 2))
    return _shuffled(X, y, gen)


def circles(n: int = 200, noise: float = 0.05, factor: float = 0.5, rng=None):
    """Two concentric circles: class 0 on radius 1, class 1 on radius ``factor``.

    Angles are uniform on [0, 2 pi); Gaussian noise of standard deviation
    ``noise`` is added to each coordinate.
    Returns X: (n, 2) float64, y: (n,) int64.
    """
    n = _check_toy(n, noise, 2, "circles")
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor (inner radius / outer radius) must lie in (0, 1), got {factor}")
    gen = as_generator(rng)
    y = _balanced_labels(n, 2)
    radius = np.where(y == 0, 1.0, factor)
    angle = gen.uniform(0.0, 2 * np.pi, n)
    X = radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    X += noise * gen.standard_normal((n, 2))
    return _shuffled(X, y, gen)


def blobs(n: int = 300, num_classes: int = 3, noise: float = 1.0, centers=None, rng=None):
    """Gaussian clusters, one per class: x ~ N(c_k, noise^2 I) for class k.

    centers: (K, 2) array; by default K = num_classes points spread evenly on a
    circle of radius 4, c_k = 4 (cos(2 pi k / K), sin(2 pi k / K)).
    Returns X: (n, 2) float64, y: (n,) int64 in [0, K).
    """
    if centers is None:
        k = int(num_classes)
        if k < 1:
            raise ValueError(f"blobs: num_classes must be >= 1, got {num_classes}")
        angle = 2 * np.pi * np.arange(k) / k
        centers = 4.0 * np.column_stack([np.cos(angle), np.sin(angle)])
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or centers.shape[1] != 2 or len(centers) < 1:
        raise ValueError(f"blobs: centers must have shape (K, 2), got {centers.shape}")
    n = _check_toy(n, noise, len(centers), "blobs")
    gen = as_generator(rng)
    y = _balanced_labels(n, len(centers))
    X = centers[y] + noise * gen.standard_normal((n, 2))
    return _shuffled(X, y, gen)


# ----------------------------------------------------------------------------
# A real data set, bundled with scikit-learn
# ----------------------------------------------------------------------------
def digits():
    """scikit-learn's handwritten digits: 1,797 grey-scale 8x8 images of 0-9.

    Returns X: (1797, 64) float64 in [0, 1] (pixel intensity / 16; row n is the
    image read row by row, ``X[n].reshape(8, 8)``), y: (1797,) int64 in [0, 9].
    The data ship inside the scikit-learn package: nothing is downloaded.
    Fresh writable copies on every call.
    """
    X, y = _digits_table()
    return X.copy(), y.copy()


@functools.lru_cache(maxsize=1)
def _digits_table():
    """(X, y) of ``sklearn.datasets.load_digits``, read from the CSV file scikit-learn ships.

    Reading the file directly avoids importing sklearn.datasets (seconds on a
    cold start), which matters to a grader that loads the data for every
    submission; tests/test_data.py checks that the result equals load_digits().
    """
    spec = importlib.util.find_spec("sklearn")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",")
    X = table[:, :-1] / 16.0
    y = table[:, -1].astype(np.int64)
    X.flags.writeable = y.flags.writeable = False
    return X, y


# ----------------------------------------------------------------------------
# Splitting and preprocessing
# ----------------------------------------------------------------------------
def _check_xy(X, y, where: str):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 1 or y.ndim < 1 or len(X) != len(y):
        raise ValueError(
            f"{where}: X and y need one row per example and the same number of rows, "
            f"got X of shape {X.shape} and y of shape {y.shape}"
        )
    return X, y


def _split_sizes(n: int, fractions) -> list[int]:
    """Sizes of the parts of n items: rounded cumulative fractions, so they sum to n."""
    edges = np.rint(np.cumsum(fractions) * n).astype(int)
    edges[-1] = n
    return list(np.diff(np.concatenate([[0], edges])))


def train_val_test_split(X, y, fractions=(0.7, 0.15, 0.15), rng=None, stratify: bool = True):
    """Split (X, y) at random into training, validation and test sets.

    fractions: three numbers >= 0 summing to 1 (a fraction may be 0: that set is empty).
    stratify: split each class separately with the same fractions, so every set
    keeps the class proportions of y (needs integer labels).
    Every row lands in exactly one set.  Rows within each set are shuffled.
    Returns X_train, y_train, X_val, y_val, X_test, y_test.
    """
    where = "train_val_test_split"
    X, y = _check_xy(X, y, where)
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (3,) or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(
            f"{where}: fractions must be three numbers >= 0 (train, val, test) summing to 1, "
            f"got {fractions.tolist()}"
        )
    gen = as_generator(rng)
    if stratify:
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise TypeError(
                f"{where}: stratify=True needs integer class labels y of shape (N,), "
                f"got dtype {y.dtype} and shape {y.shape} (pass stratify=False for other targets)"
            )
        groups = [np.flatnonzero(y == c) for c in np.unique(y)]
    else:
        groups = [np.arange(len(y))]
    parts: list[list[np.ndarray]] = [[], [], []]
    for rows in groups:
        rows = gen.permutation(rows)
        start = 0
        for part, size in zip(parts, _split_sizes(len(rows), fractions)):
            part.append(rows[start:start + size])
            start += size
    out = []
    for part in parts:
        rows = gen.permutation(np.concatenate(part))
        out += [X[rows], y[rows]]
    return tuple(out)


def standardise(X_train, *others):
    """Standardise every feature with the training set's statistics.

        mu = mean of X_train over rows,  sigma = standard deviation (1/N),
        Z = (X - mu) / sigma            for X_train and for each of ``others``

    The statistics come from the training set only (using the validation or test
    set would leak information into training).  A feature that is constant on the
    training set gets sigma = 1, so it becomes 0 instead of 0/0.
    X_train: (N, D); others: arrays (M, D).
    Returns Z_train, *Z_others, mu, sigma   (mu, sigma: (D,)).
    """
    where = "standardise"
    X_train = _checks.batch(X_train, "X_train", where)
    others = [_checks.batch(X, f"others[{i}]", where, features=X_train.shape[1])
              if len(X) else np.asarray(X)  # an empty validation set is allowed
              for i, X in enumerate(others)]
    constant = np.ptp(X_train, axis=0) == 0
    mu = X_train.mean(axis=0)
    mu[constant] = X_train[0, constant]  # exactly the constant, so Z is exactly 0
    sigma = X_train.std(axis=0)
    sigma[constant] = 1.0
    transformed = [(X - mu) / sigma for X in (X_train, *others)]
    return (*transformed, mu, sigma)


def one_hot(y, num_classes: int | None = None) -> np.ndarray:
    """One-hot encoding: Y[n, c] = 1 if y[n] == c else 0.

    y: (N,) integer labels in [0, C); num_classes C defaults to max(y) + 1.
    Returns Y: (N, C) float64, each row with a single 1 (the lecture's vector y).
    """
    where = "one_hot"
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{where}: expected labels y of shape (N,), got {y.shape}")
    if num_classes is None:
        if y.size == 0:
            raise ValueError(f"{where}: cannot infer num_classes from an empty y; pass it")
        num_classes = int(np.max(y)) + 1
    y = _checks.labels(y, len(y), int(num_classes), where)
    Y = np.zeros((len(y), int(num_classes)))
    Y[np.arange(len(y)), y] = 1.0
    return Y


def from_one_hot(Y) -> np.ndarray:
    """Inverse of one_hot: y[n] = argmax_c Y[n, c].  Y: (N, C) -> y: (N,) int64."""
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[1] == 0:
        raise ValueError(f"from_one_hot: expected Y of shape (N, C), got {Y.shape}")
    return Y.argmax(axis=1).astype(np.int64)


def minibatches(X, y, batch_size: int, rng=None, shuffle: bool = True):
    """Iterate over (X_batch, y_batch) pairs covering every row exactly once.

    X: (N, ...), y: (N, ...).  Batches have ``batch_size`` rows, except the last,
    which holds the remaining N mod batch_size rows when that is not 0.
    shuffle=True visits the rows in a fresh random order drawn from ``rng``
    (one epoch of mini-batch SGD); shuffle=False keeps the original order.
    """
    where = "minibatches"
    X, y = _check_xy(X, y, where)
    if isinstance(batch_size, (bool, np.bool_)) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive integer, got {batch_size!r}")
    order = as_generator(rng).permutation(len(y)) if shuffle else np.arange(len(y))
    # Checked above, iterated below: bad input fails at the call, not at the first batch.
    return _batches(X, y, order, int(batch_size))


def _batches(X, y, order, batch_size):
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        yield X[rows], y[rows]
