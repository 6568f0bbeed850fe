"""The initialisation experiment: activations and gradients layer by layer in a deep plain network.

Used by chapter 6 (initialisation) and chapter 8 (optimisation).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .. import init as initialisers
from .. import layers as L
from .._rng import as_generator
from .activations import ACTIVATIONS, check_activation


class LayerStats(NamedTuple):
    """Per-layer statistics of a list of arrays, each of shape (L,).

    mean[l] and std[l] are over every entry of array l; norm[l] is its Frobenius
    norm sqrt(sum of squares).
    """

    mean: np.ndarray
    std: np.ndarray
    norm: np.ndarray


def layer_statistics(arrays) -> LayerStats:
    """Mean, standard deviation and norm of each array in ``arrays`` (a list, one per layer)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    if not arrays:
        raise ValueError("layer_statistics: expected a non-empty list of arrays, one per layer")
    return LayerStats(np.array([a.mean() for a in arrays]),
                      np.array([a.std() for a in arrays]),
                      np.array([np.sqrt((a**2).sum()) for a in arrays]))


@dataclass
class DeepNetRun:
    """One forward and backward pass through a deep plain network.

    activations[l]:      h_l = f(W_l h_{l-1} + b_l), (N, width), l = 1..depth
    activation_grads[l]: dJ/dh_l, (N, width)
    weight_grads[l]:     dJ/dW_l, (width, fan_in)
    x: (N, width) the input; weights[l]: W_l; upstream: G = dJ/dh_depth, the random
    gradient sent into the last layer (so J = sum(G * h_depth))
    config:              the arguments of deep_network_run
    """

    activations: list
    activation_grads: list
    weight_grads: list
    x: np.ndarray
    weights: list
    upstream: np.ndarray
    config: dict = field(default_factory=dict)


def _scaled_initialiser(init, scale: float):
    """W for the experiment: "normal" draws N(0, scale^2); other schemes are multiplied by scale."""
    if init == "normal":
        return lambda shape, rng=None: initialisers.normal(shape, std=scale, rng=rng)
    base = initialisers.get(init)
    return lambda shape, rng=None: scale * base(shape, rng=rng)


def _flush_subnormals(a: np.ndarray) -> np.ndarray:
    """Set numbers below 2.2e-308 (subnormals) to 0.

    Saturated or vanishing layers produce them; they carry no information at this
    scale but make every later matrix product 10-100 times slower.
    """
    a[np.abs(a) < np.finfo(a.dtype).tiny] = 0.0
    return a


def deep_network_run(depth: int = 10, width: int = 500, activation: str = "tanh",
                     init: str = "normal", scale: float | None = None, n: int = 1000,
                     rng=0) -> DeepNetRun:
    """The lectures' initialisation experiment.

    Builds ``depth`` layers Linear(width, width) + activation (biases 0), feeds
    X ~ N(0, 1) of shape (n, width) forward, then sends a random upstream gradient
    G ~ N(0, 1) / n into the last layer and backpropagates it, recording every
    layer's activations and gradients.
    init: "normal" gives W ~ N(0, scale^2) (the lectures' 0.01 and 1.0 cases);
    any other name from coursekit.init ("xavier_normal", "he_normal", ...) draws
    that scheme and multiplies it by ``scale``.
    scale: None (the default) means each scheme as published: 0.01 for "normal"
    (the lecture's small random weights), 1.0 for every other scheme.
    """
    where = "deep_network_run"
    check_activation(activation, where)
    if int(depth) < 1 or int(width) < 1 or int(n) < 1:
        raise ValueError(f"{where}: depth, width and n must be positive, got {depth}, {width}, {n}")
    gen = as_generator(rng)
    act_class = ACTIVATIONS[activation]
    if scale is None:
        scale = 0.01 if init == "normal" else 1.0
    draw = _scaled_initialiser(init, float(scale))
    layers = []
    for _ in range(int(depth)):
        layers += [L.Linear(width, width, init=draw, rng=gen), act_class()]
    x = x0 = gen.normal(size=(int(n), int(width)))

    activations = []
    for layer in layers:
        x = _flush_subnormals(layer.forward(x))
        if not isinstance(layer, L.Linear):
            activations.append(x)
    dy = upstream = gen.normal(size=x.shape) / x.shape[0]
    activation_grads, weight_grads = [], []
    for layer in reversed(layers):
        if not isinstance(layer, L.Linear):
            activation_grads.append(dy)
        dy = _flush_subnormals(layer.backward(dy))
        if isinstance(layer, L.Linear):
            weight_grads.append(layer.grads["W"])
    config = dict(depth=int(depth), width=int(width), activation=activation, init=init,
                  scale=float(scale), n=int(n))
    weights = [layer.params["W"] for layer in layers if isinstance(layer, L.Linear)]
    return DeepNetRun(activations, activation_grads[::-1], weight_grads[::-1], x0, weights,
                      upstream, config)
