"""Activation functions as data: the curves f(s) and f'(s), with dead and saturated regions.

Used by chapter 5 (activations) and by the deep-network experiments of chapters 6 and 8.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import functional as F
from .. import layers as L

# name -> (layer class, functional forward, functional backward)
ACTIVATIONS = {
    "tanh": (L.Tanh, F.tanh_forward, F.tanh_backward),
    "sigmoid": (L.Sigmoid, F.sigmoid_forward, F.sigmoid_backward),
    "relu": (L.ReLU, F.relu_forward, F.relu_backward),
    "leaky_relu": (L.LeakyReLU, F.leaky_relu_forward, F.leaky_relu_backward),
    "elu": (L.ELU, F.elu_forward, F.elu_backward),
    "swish": (L.Swish, F.swish_forward, F.swish_backward),
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
    _, forward, backward = ACTIVATIONS[name]
    s = np.linspace(-6, 6, 601) if s is None else np.asarray(s, dtype=np.float64)
    h, cache = forward(s, **hyper)
    dh = backward(np.ones_like(s), cache)
    dead = dh == 0
    saturated = (~dead) & (np.abs(dh) < threshold)
    return ActivationCurves(s, h, dh, dead, saturated)
