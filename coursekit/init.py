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

import numpy as np

from ._rng import as_generator


def _fans(shape, where: str) -> tuple[int, int]:
    """Return (fan_in, fan_out) for a weight of shape (out, in)."""
    shape = tuple(shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"{where}: expected a weight shape (out, in) of positive sizes, got {shape}")
    fan_out, fan_in = shape
    return fan_in, fan_out


def zeros(shape, rng=None) -> np.ndarray:
    """All zeros, Var = 0.  Fine for biases; for weights it leaves every unit identical."""
    _fans(shape, "zeros")
    return np.zeros(shape)


def normal(shape, std: float = 0.01, rng=None) -> np.ndarray:
    """N(0, std^2) entries, Var = std^2."""
    _fans(shape, "normal")
    return as_generator(rng).normal(0.0, std, size=shape)


def xavier_normal(shape, rng=None, gain: float = 1.0) -> np.ndarray:
    """N(0, sigma^2) with sigma^2 = gain^2 * 2 / (fan_in + fan_out).

    The compromise between keeping forward variance (1/fan_in) and backward
    variance (1/fan_out) equal across layers.
    """
    fan_in, fan_out = _fans(shape, "xavier_normal")
    std = gain * np.sqrt(2.0 / (fan_in + fan_out))
    return as_generator(rng).normal(0.0, std, size=shape)


def xavier_uniform(shape, rng=None, gain: float = 1.0) -> np.ndarray:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)); Var = a^2/3 = gain^2 * 2/(fan_in + fan_out)."""
    fan_in, fan_out = _fans(shape, "xavier_uniform")
    a = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return as_generator(rng).uniform(-a, a, size=shape)


def he_normal(shape, rng=None) -> np.ndarray:
    """N(0, 2 / fan_in): the factor 2 makes up for ReLU zeroing half its inputs."""
    fan_in, _ = _fans(shape, "he_normal")
    return as_generator(rng).normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def he_uniform(shape, rng=None) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in); Var = a^2 / 3 = 2 / fan_in."""
    fan_in, _ = _fans(shape, "he_uniform")
    a = np.sqrt(6.0 / fan_in)
    return as_generator(rng).uniform(-a, a, size=shape)


def orthogonal(shape, rng=None, gain: float = 1.0) -> np.ndarray:
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


def lsuv(model, x, rng=None, tol: float = 0.05, max_iter: int = 10) -> list[float]:
    """Layer-sequential unit-variance initialisation (Mishkin & Matas, 2016).

    model: a Sequential; x: (N, d) a batch of real inputs.
    Every Linear layer gets an orthogonal W and a zero bias; then, from the first
    layer to the last, its W is divided by the standard deviation of its output
    s = x W^T + b on the batch until Var(s) is within ``tol`` of 1.
    Changes the model in place and returns the final output variance of each Linear.
    """
    from .layers import Linear  # local import: layers imports this module

    gen = as_generator(rng)
    linears = [i for i, layer in enumerate(model.layers) if isinstance(layer, Linear)]
    if not linears:
        raise ValueError("lsuv: the model has no Linear layer to initialise")
    variances = []
    for i in linears:
        layer = model.layers[i]
        W = layer.params["W"]
        W[...] = orthogonal(W.shape, gen)
        layer.params["b"][...] = 0.0
        var = float(model.forward_to(x, i + 1, train=False).var())
        for _ in range(max_iter):
            if abs(var - 1.0) < tol or var == 0.0:
                break
            W /= np.sqrt(var)  # Var(s) scales with the square of W
            var = float(model.forward_to(x, i + 1, train=False).var())
        variances.append(var)
    return variances


INITIALISERS = {
    "zeros": zeros,
    "normal": normal,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "orthogonal": orthogonal,
}


def get(init):
    """Return the initialiser named ``init`` (or ``init`` itself when it is callable)."""
    if callable(init):
        return init
    try:
        return INITIALISERS[init]
    except KeyError:
        raise ValueError(
            f"unknown initialiser {init!r}; choose one of {sorted(INITIALISERS)} or pass a function"
        ) from None
