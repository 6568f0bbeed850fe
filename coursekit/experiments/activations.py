"""Activation functions as data: the curves f(s) and f'(s), with dead and saturated regions.

Used by chapter 5 (activations) and by the deep-network experiments of chapters 6 and 8.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import layers as L

# name -> layer class; its functional pair (forward, backward) is ACTIVATIONS[name].pair
ACTIVATIONS: dict[str, type[L.Activation]] = {
    "tanh": L.Tanh,
    "sigmoid": L.Sigmoid,
    "relu": L.ReLU,
    "leaky_relu": L.LeakyReLU,
    "elu": L.ELU,
    "swish": L.Swish,
}


def check_activation(name: str, where: str) -> str:
    """``name`` if it is a key of ACTIVATIONS, else a ValueError naming ``where``."""
    if name not in ACTIVATIONS:
        raise ValueError(f"{where}: unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return name


class ActivationCurves(NamedTuple):
    """s: (M,) grid; h = f(s); dh = f'(s); dead = (f'(s) == 0); saturated = 0 < |f'(s)| < threshold."""

    s: np.ndarray
    h: np.ndarray
    dh: np.ndarray
    dead: np.ndarray
    saturated: np.ndarray


def activation_curves(name: str, s=None, threshold: float = 0.05, **hyper) -> ActivationCurves:
    """f and f' of an activation from coursekit.functional on a grid s (default [-6, 6]).

    f' is the functional backward pass with upstream gradient 1 (the diagonal of the
    Jacobian), so the figure shows the same derivative backprop uses.
    hyper: alpha (leaky_relu, elu) or beta (swish).
    """
    check_activation(name, "activation_curves")
    forward, backward = ACTIVATIONS[name].pair
    s = np.linspace(-6, 6, 601) if s is None else np.asarray(s, dtype=np.float64)
    h, cache = forward(s, **hyper)
    dh = backward(np.ones_like(s), cache)
    dead = dh == 0
    saturated = (~dead) & (np.abs(dh) < threshold)
    return ActivationCurves(s, h, dh, dead, saturated)
