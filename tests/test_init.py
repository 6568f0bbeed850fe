"""Initialisers: the empirical variance matches each docstring's formula."""
import numpy as np
import pytest

from coursekit import init
from coursekit import layers as L

SHAPE = (300, 500)  # (out, in): 150,000 draws, so the variance is known to within ~1%
FAN_IN, FAN_OUT = 500, 300
EXPECTED_VAR = {
    "xavier_normal": 2 / (FAN_IN + FAN_OUT),
    "xavier_uniform": 2 / (FAN_IN + FAN_OUT),
    "he_normal": 2 / FAN_IN,
    "he_uniform": 2 / FAN_IN,
    "orthogonal": 1 / max(FAN_IN, FAN_OUT),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_VAR))
def test_empirical_variance_matches_formula(name):
    W = init.get(name)(SHAPE, rng=0)
    assert W.shape == SHAPE
    # the sample variance of n draws has relative sd sqrt(2/n) ~ 0.4% here; 3% is > 7 sd
    assert W.var() == pytest.approx(EXPECTED_VAR[name], rel=0.03)
    assert abs(W.mean()) < 5 * np.sqrt(EXPECTED_VAR[name] / W.size)


def test_normal_uses_its_std_and_zeros_are_zero():
    assert init.normal(SHAPE, std=0.01, rng=1).std() == pytest.approx(0.01, rel=0.02)
    assert init.normal(SHAPE, std=0.7, rng=1).std() == pytest.approx(0.7, rel=0.02)
    assert not init.zeros((3, 4)).any()


def test_uniform_bounds():
    a = np.sqrt(6 / FAN_IN)
    W = init.he_uniform(SHAPE, rng=2)
    assert W.max() <= a and W.min() >= -a and W.max() > 0.99 * a


@pytest.mark.parametrize("shape", [(4, 9), (9, 4), (6, 6)])
def test_orthogonal_has_orthonormal_rows_or_columns(shape):
    Q = init.orthogonal(shape, rng=3)
    small = min(shape)
    gram = Q @ Q.T if shape[0] <= shape[1] else Q.T @ Q
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_same_seed_same_weights_and_rng_is_used():
    np.testing.assert_array_equal(init.he_normal((5, 5), rng=7), init.he_normal((5, 5), rng=7))
    gen = np.random.default_rng(0)
    assert not np.array_equal(init.he_normal((5, 5), rng=gen), init.he_normal((5, 5), rng=gen))


def test_lsuv_gives_unit_output_variance_per_layer():
    rng = np.random.default_rng(0)
    model = L.Sequential(L.Linear(20, 50, rng=rng), L.Tanh(), L.Linear(50, 50, rng=rng), L.ReLU(),
                         L.Linear(50, 10, rng=rng))
    x = rng.normal(3.0, 5.0, size=(256, 20))  # badly scaled inputs: LSUV must correct for them
    variances = init.lsuv(model, x, rng=rng, tol=0.02)
    assert len(variances) == 3
    for k in (1, 3, 5):
        assert model.forward_to(x, k, train=False).var() == pytest.approx(1.0, abs=0.02)


def test_bad_shapes_and_names():
    with pytest.raises(ValueError, match=r"xavier_normal: expected a weight shape \(out, in\)"):
        init.xavier_normal((3,), rng=0)
    with pytest.raises(ValueError, match="unknown initialiser 'kaiming'"):
        L.Linear(2, 2, init="kaiming")
