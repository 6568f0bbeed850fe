"""Weight initialisers.

Each takes the weight shape ``(out, in)`` = (m, d), as Linear stores W, and
``rng``; each docstring states the variance of every entry it draws.  With
fan_in = d and fan_out = m:

    normal          Var = std^2                        (the lecture's N(0, 0.01^2))
    xavier_normal   Var = 2 / (fan_in + fan_out)       (Glorot & Bengio)
    xavier_uniform  U(-a, a), a = sqrt(6 / (fan_in + fan_out)), Var = a^2 / 3
    he_normal       Var = 2 / fan_in                   (He et al., for ReLU)
    he_uniform      U(-a, a), a = sqrt(6 / fan_in),   Var = 2 / fan_in
    orthogonal      orthonormal rows (or columns),     Var = 1 / max(fan_in, fan_out)
    lsuv            orthogonal, then rescaled layer by layer on data (needs a model)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from ._rng import as_generator
from ._types import Array, ArrayLike, Seed

Shape = Sequence[int]


def _fans(shape: Shape, where: str) -> tuple[int, int]:
    """Return (fan_in, fan_out) for a weight of shape (out, in)."""
    dims = tuple(int(n) for n in shape)
    if len(dims) != 2 or min(dims) < 1:
        raise ValueError(f"{where}: expected a weight shape (out, in) of positive sizes, got {tuple(shape)}")
    fan_out, fan_in = dims
    return fan_in, fan_out


def zeros(shape: Shape, rng: Seed = None) -> Array:
    """All zeros, Var = 0.  Fine for biases; for weights it leaves every unit identical."""
    _fans(shape, "zeros")
    return np.zeros(shape)


def normal(shape: Shape, std: float = 0.01, rng: Seed = None) -> Array:
    """N(0, std^2) entries, Var = std^2."""
    _fans(shape, "normal")
    return as_generator(rng).normal(0.0, std, size=shape)


def xavier_normal(shape: Shape, rng: Seed = None, gain: float = 1.0) -> Array:
    """N(0, sigma^2) with sigma^2 = gain^2 * 2 / (fan_in + fan_out).

    The compromise between keeping forward variance (1/fan_in) and backward
    variance (1/fan_out) equal across layers.
    """
    fan_in, fan_out = _fans(shape, "xavier_normal")
    std = gain * np.sqrt(2.0 / (fan_in + fan_out))
    return as_generator(rng).normal(0.0, std, size=shape)


def xavier_uniform(shape: Shape, rng: Seed = None, gain: float = 1.0) -> Array:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)); Var = a^2/3 = gain^2 * 2/(fan_in + fan_out)."""
    fan_in, fan_out = _fans(shape, "xavier_uniform")
    a = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return as_generator(rng).uniform(-a, a, size=shape)


def he_normal(shape: Shape, rng: Seed = None) -> Array:
    """N(0, 2 / fan_in): the factor 2 makes up for ReLU zeroing half its inputs."""
    fan_in, _ = _fans(shape, "he_normal")
    return as_generator(rng).normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def he_uniform(shape: Shape, rng: Seed = None) -> Array:
    """U(-a, a) with a = sqrt(6 / fan_in); Var = a^2 / 3 = 2 / fan_in."""
    fan_in, _ = _fans(shape, "he_uniform")
    a = np.sqrt(6.0 / fan_in)
    return as_generator(rng).uniform(-a, a, size=shape)


def orthogonal(shape: Shape, rng: Seed = None, gain: float = 1.0) -> Array:
    """A (scaled) matrix with orthonormal rows (out <= in) or columns (out > in).

    Each row (or column) has unit norm, so Var = gain^2 / max(fan_in, fan_out).
    Made from the QR decomposition of a Gaussian matrix, with the signs of R's
    diagonal folded into Q so that the result is uniformly distributed.
    """
    fan_in, fan_out = _fans(shape, "orthogonal")
    gaussian = as_generator(rng).normal(size=(max(shape), min(shape)))
    q, r = np.linalg.qr(gaussian)
    q *= np.sign(np.diag(r))
    if fan_out < fan_in:
        q = q.T
    return gain * q.reshape(shape)


class LayeredModel(Protocol):
    """What lsuv needs of a model (coursekit.layers.Sequential has it): its layers,
    each with a ``params`` dict, and the output of its first k layers."""

    @property
    def layers(self) -> Sequence[Any]: ...

    def forward_to(self, x: ArrayLike, k: int, train: bool = True) -> Array: ...


def lsuv(model: LayeredModel, x: ArrayLike, rng: Seed = None, tol: float = 0.05,
         max_iter: int = 10) -> list[float]:
    """Layer-sequential unit-variance initialisation (Mishkin & Matas, 2016).

    model: a Sequential; x: (N, d) a batch of real inputs.
    Every layer with a weight matrix params["W"] (every Linear) gets an orthogonal W
    and a zero bias; then, from the first such layer to the last, its W is divided by
    the standard deviation of its output s = x W^T + b on the batch until Var(s) is
    within ``tol`` of 1.
    Changes the model in place and returns the final output variance of each of them.
    """
    gen = as_generator(rng)
    weighted = [i for i, layer in enumerate(model.layers) if np.ndim(layer.params.get("W")) == 2]
    if not weighted:
        raise ValueError("lsuv: the model has no layer with a weight matrix W (no Linear) to initialise")
    variances = []
    for i in weighted:
        params = model.layers[i].params
        W = params["W"]
        W[...] = orthogonal(W.shape, gen)
        if "b" in params:
            params["b"][...] = 0.0
        var = float(model.forward_to(x, i + 1, train=False).var())
        for _ in range(max_iter):
            if abs(var - 1.0) < tol or var == 0.0:
                break
            W /= np.sqrt(var)  # Var(s) scales with the square of W
            var = float(model.forward_to(x, i + 1, train=False).var())
        variances.append(var)
    return variances


Initialiser = Callable[..., Array]
"""(shape, rng=...) -> W: what Linear's ``init`` accepts besides a name."""

INITIALISERS: dict[str, Initialiser] = {
    "zeros": zeros,
    "normal": normal,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "orthogonal": orthogonal,
}


def get(init: str | Initialiser) -> Initialiser:
    """Return the initialiser named ``init`` (or ``init`` itself when it is callable)."""
    if callable(init):
        return init
    try:
        return INITIALISERS[init]
    except KeyError:
        raise ValueError(
            f"unknown initialiser {init!r}; choose one of {sorted(INITIALISERS)} or pass a function"
        ) from None
