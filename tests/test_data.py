"""Tests of coursekit.data: toy sets, digits, splits, standardisation, one-hot, mini-batches."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import data

TOYS = [data.xor, data.two_spirals, data.circles, data.blobs]


# ----------------------------------------------------------------------------
# Toy sets
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", TOYS)
@pytest.mark.parametrize("n", [4, 101, 300])
def test_toy_shapes_dtypes_and_balance(make, n):
    X, y = make(n=n, rng=0)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1, f"{make.__name__}: unbalanced classes {counts}"
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("make", TOYS)
def test_toy_same_seed_same_data_other_seed_other_data(make):
    X1, y1 = make(rng=3)
    X2, y2 = make(rng=3)
    X3, _ = make(rng=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(X1, X3)
    # a Generator is used as it is: its stream advances
    gen = np.random.default_rng(0)
    assert not np.allclose(make(rng=gen)[0], make(rng=gen)[0])


def test_xor_without_noise_is_the_truth_table():
    X, y = data.xor(n=8, noise=0.0, rng=0)
    for (a, b), label in zip(X, y):
        assert label == int(a) ^ int(b)
    assert {tuple(row) for row in X} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_xor_noise_is_the_standard_deviation_around_the_corners():
    X, _ = data.xor(n=4000, noise=0.2, rng=0)
    offsets = X - np.rint(X)  # the nearest corner is the true one for this noise level
    assert abs(offsets.std() - 0.2) < 0.01


def test_circles_radii():
    X, y = data.circles(n=400, noise=0.0, factor=0.3, rng=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0)
    np.testing.assert_allclose(radius[y == 1], 0.3)


def test_two_spirals_are_point_reflections_of_each_other():
    # class 1 is class 0 rotated by pi: r = t, theta = 3 pi t (+ pi), so angle - 3 pi r is 0 or pi
    X, y = data.two_spirals(n=200, noise=0.0, turns=1.5, rng=0)
    r = np.hypot(X[:, 0], X[:, 1])
    phase = np.mod(np.arctan2(X[:, 1], X[:, 0]) - 3 * np.pi * r, 2 * np.pi)
    np.testing.assert_allclose(np.minimum(phase[y == 0], 2 * np.pi - phase[y == 0]), 0, atol=1e-9)
    np.testing.assert_allclose(phase[y == 1], np.pi, atol=1e-9)


def test_blobs_centres_and_spread():
    centres = np.array([[0.0, 0.0], [10.0, -5.0]])
    X, y = data.blobs(n=2000, centers=centres, noise=0.5, rng=1)
    for k, c in enumerate(centres):
        np.testing.assert_allclose(X[y == k].mean(axis=0), c, atol=0.06)
        np.testing.assert_allclose(X[y == k].std(axis=0), 0.5, atol=0.04)
    X, y = data.blobs(n=30, num_classes=5, rng=0)
    assert set(y) == set(range(5))


def test_toy_errors():
    with pytest.raises(ValueError, match="noise"):
        data.xor(noise=-0.1)
    with pytest.raises(ValueError, match="at least 2 points"):
        data.circles(n=1)
    with pytest.raises(ValueError, match="factor"):
        data.circles(factor=1.5)
    with pytest.raises(ValueError, match=r"centers must have shape \(K, 2\)"):
        data.blobs(centers=np.zeros((3, 3)))
    with pytest.raises(TypeError, match="rng"):
        data.xor(rng="seed")


# ----------------------------------------------------------------------------
# Digits
# ----------------------------------------------------------------------------
def test_digits():
    X, y = data.digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(y) == set(range(10))
    assert np.bincount(y).min() >= 170  # roughly 180 images of each digit
    # pixel values are multiples of 1/16 (the original intensities are 0..16)
    np.testing.assert_array_equal(X * 16, np.rint(X * 16))


def test_digits_equal_scikit_learn_and_are_fresh_copies():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X, y = data.digits()
    np.testing.assert_array_equal(X, bunch.data / 16.0)
    np.testing.assert_array_equal(y, bunch.target)
    X[0, 0] = 99.0  # a caller may change its copy ...
    assert data.digits()[0][0, 0] != 99.0  # ... without changing anyone else's


# ----------------------------------------------------------------------------
# Splits
# ----------------------------------------------------------------------------
def test_split_is_disjoint_covers_everything_and_keeps_pairs():
    X = np.arange(200.0).reshape(100, 2)          # row i is [2i, 2i + 1]
    y = np.repeat(np.arange(4), 25)
    Xtr, ytr, Xva, yva, Xte, yte = data.train_val_test_split(X, y, (0.6, 0.2, 0.2), rng=0)
    rows = np.concatenate([Xtr[:, 0], Xva[:, 0], Xte[:, 0]]) / 2
    np.testing.assert_array_equal(np.sort(rows), np.arange(100))
    assert (len(ytr), len(yva), len(yte)) == (60, 20, 20)
    for Xs, ys in [(Xtr, ytr), (Xva, yva), (Xte, yte)]:
        np.testing.assert_array_equal(ys, y[(Xs[:, 0] / 2).astype(int)])  # pairs stay together


def test_stratified_split_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 20)
    X = np.zeros((100, 3))
    _, ytr, _, yva, _, yte = data.train_val_test_split(X, y, (0.5, 0.25, 0.25), rng=1)
    assert np.bincount(ytr).tolist() == [40, 10]
    assert np.bincount(yva).tolist() == [20, 5]
    assert np.bincount(yte).tolist() == [20, 5]


def test_split_is_shuffled_and_deterministic():
    X, y = data.digits()
    a = data.train_val_test_split(X, y, rng=7)
    b = data.train_val_test_split(X, y, rng=7)
    c = data.train_val_test_split(X, y, rng=8)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])
    assert not np.all(np.diff(a[1]) >= 0), "training labels should not come sorted by class"


@given(n=st.integers(3, 60), f_train=st.floats(0.1, 0.8), stratify=st.booleans(),
       seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_split_partitions_any_data(n, f_train, stratify, seed):
    f_val = (1 - f_train) / 2
    X = np.arange(n, dtype=float)[:, None]
    y = np.arange(n) % 3
    Xtr, ytr, Xva, yva, Xte, yte = data.train_val_test_split(
        X, y, (f_train, f_val, 1 - f_train - f_val), rng=seed, stratify=stratify)
    together = np.concatenate([Xtr, Xva, Xte])[:, 0]
    np.testing.assert_array_equal(np.sort(together), np.arange(n))


def test_split_with_an_empty_validation_set():
    X, y = data.blobs(n=30, rng=0)
    Xtr, ytr, Xva, yva, Xte, yte = data.train_val_test_split(X, y, (0.8, 0.0, 0.2), rng=0)
    assert Xva.shape == (0, 2) and yva.shape == (0,)
    assert len(ytr) + len(yte) == 30


def test_split_errors():
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=int)
    with pytest.raises(ValueError, match="summing to 1"):
        data.train_val_test_split(X, y, (0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="three numbers"):
        data.train_val_test_split(X, y, (0.8, 0.2))
    with pytest.raises(ValueError, match=r"X of shape \(10, 2\) and y of shape \(9,\)"):
        data.train_val_test_split(X, y[:9])
    with pytest.raises(TypeError, match="stratify=False"):
        data.train_val_test_split(X, np.zeros(10), stratify=True)


# ----------------------------------------------------------------------------
# Standardisation
# ----------------------------------------------------------------------------
def test_standardise_uses_training_statistics():
    rng = np.random.default_rng(0)
    X_train = rng.normal([5.0, -3.0, 0.0], [2.0, 0.1, 10.0], size=(500, 3))
    X_test = rng.normal(size=(7, 3))
    Z_train, Z_test, mu, sigma = data.standardise(X_train, X_test)
    np.testing.assert_allclose(Z_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z_train.std(axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(mu, X_train.mean(axis=0))
    np.testing.assert_allclose(sigma, X_train.std(axis=0))
    np.testing.assert_allclose(Z_test, (X_test - mu) / sigma)
    assert not np.allclose(Z_test.mean(axis=0), 0, atol=0.05)  # not re-centred on itself


def test_standardise_constant_feature_becomes_zero():
    X = np.column_stack([np.full(6, 0.1), np.arange(6.0)])
    Z, Z_other, mu, sigma = data.standardise(X, np.array([[0.1, 2.5], [0.3, 0.0]]))
    assert np.all(np.isfinite(Z)) and np.all(Z[:, 0] == 0.0)
    assert sigma[0] == 1.0 and mu[0] == 0.1
    np.testing.assert_allclose(Z_other[:, 0], [0.0, 0.2])


def test_standardise_digits_has_no_nan():
    X, y = data.digits()  # several pixels are always 0
    Xtr, _, Xva, _, Xte, _ = data.train_val_test_split(X, y, rng=0)
    for Z in data.standardise(Xtr, Xva, Xte)[:3]:
        assert np.all(np.isfinite(Z))


def test_standardise_errors():
    with pytest.raises(ValueError, match=r"expected others\[0\] of shape \(N, 3\), got \(2, 2\)"):
        data.standardise(np.ones((4, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        data.standardise(np.ones(4))


# ----------------------------------------------------------------------------
# One-hot and mini-batches
# ----------------------------------------------------------------------------
def test_one_hot_values():
    np.testing.assert_array_equal(data.one_hot(np.array([2, 0, 1]), 4),
                                  [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    assert data.one_hot(np.array([0, 3])).shape == (2, 4)


@given(st.lists(st.integers(0, 9), min_size=1, max_size=50))
def test_one_hot_round_trip(labels):
    y = np.array(labels)
    Y = data.one_hot(y, 10)
    assert Y.shape == (len(y), 10) and Y.dtype == np.float64
    np.testing.assert_array_equal(Y.sum(axis=1), 1.0)
    np.testing.assert_array_equal(data.from_one_hot(Y), y)


def test_one_hot_errors():
    with pytest.raises(ValueError, match=r"lie in \[0, 2\]"):
        data.one_hot(np.array([0, 3]), 3)
    with pytest.raises(TypeError, match="integer"):
        data.one_hot(np.array([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        data.one_hot(np.zeros((2, 2), dtype=int), 2)
    with pytest.raises(ValueError, match=r"shape \(N, C\)"):
        data.from_one_hot(np.zeros(3))


def test_minibatches_cover_every_row_once():
    X = np.arange(23.0)[:, None]
    y = np.arange(23)
    batches = list(data.minibatches(X, y, 5, rng=0))
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb for _, yb in batches])
    np.testing.assert_array_equal(np.sort(seen), y)
    assert not np.array_equal(seen, y), "shuffle=True should change the order"
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], yb)  # rows stay paired


def test_minibatches_order_and_determinism():
    X, y = np.arange(10.0)[:, None], np.arange(10)
    in_order = np.concatenate([yb for _, yb in data.minibatches(X, y, 4, shuffle=False)])
    np.testing.assert_array_equal(in_order, y)
    first = [yb.tolist() for _, yb in data.minibatches(X, y, 4, rng=5)]
    again = [yb.tolist() for _, yb in data.minibatches(X, y, 4, rng=5)]
    assert first == again


def test_minibatches_errors_at_the_call():
    X, y = np.zeros((4, 2)), np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        data.minibatches(X, y, 0)
    with pytest.raises(ValueError, match="batch_size"):
        data.minibatches(X, y, 2.5)
    with pytest.raises(ValueError, match="same number of rows"):
        data.minibatches(X, y[:3], 2)
