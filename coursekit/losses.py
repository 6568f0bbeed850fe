"""Losses: forward(scores, y) -> float, then backward() -> dJ/dscores.

The batch mean is taken here, in the loss (so gradients already carry the 1/N).
"""
from __future__ import annotations

import numpy as np

from . import functional as F


class Loss:
    """Base class: remembers the gradient of the last forward for backward()."""

    def __init__(self):
        self._grad = None

    def __call__(self, scores, y) -> float:
        return self.forward(scores, y)

    def __repr__(self):
        return f"{type(self).__name__}()"

    def backward(self) -> np.ndarray:
        if self._grad is None:
            raise RuntimeError(f"{self!r}.backward was called before forward(scores, y)")
        return self._grad


class SoftmaxCrossEntropy(Loss):
    """J = (1/N) sum_n -log softmax(s_n)[y_n];  dJ/ds = (P - Y) / N.

    scores: (N, C), y: (N,) integer labels.  See functional.softmax_cross_entropy.
    """

    def forward(self, scores, y) -> float:
        loss, self._grad = F.softmax_cross_entropy(scores, y)
        return loss


class MSE(Loss):
    """J = (1/N) sum_n ||yhat_n - y_n||^2;  dJ/dyhat = 2 (Yhat - Y) / N.

    scores (predictions) and y (targets): (N, K), the same shape.
    """

    def forward(self, scores, y) -> float:
        loss, self._grad = F.mse(scores, y)
        return loss


def l2_penalty(params: dict, lam: float):
    """L2 penalty on the weight matrices, lambda * sum ||W||^2 (Frobenius).

    params: name -> array.  Only arrays with 2 or more dimensions (weight
    matrices) are penalised; biases and batch-norm's gamma and beta are not.
    Returns (value, grads) where grads maps each penalised name to 2 lambda W,
    so a training step adds it: ``grads[k] += g`` for k, g in l2_grads.items().
    """
    lam = float(lam)
    if lam < 0:
        raise ValueError(f"l2_penalty: lambda must be >= 0, got {lam}")
    weights = {k: w for k, w in params.items() if np.ndim(w) >= 2}
    value = lam * sum(float(np.sum(w * w)) for w in weights.values())
    grads = {k: 2 * lam * w for k, w in weights.items()}
    return value, grads
