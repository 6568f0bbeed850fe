"""Losses: forward(scores, y) -> float, then backward() -> dJ/dscores.

The batch mean is taken here, in the loss (so gradients already carry the 1/N).
A loss is a subclass of :class:`Loss` that implements one method,
``loss_and_gradient(scores, y) -> (J, dJ/dscores)``, usually a function of
coursekit.functional; forward and backward come from the base class.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import numpy as np

from . import functional as F
from ._types import Array, ArrayLike


class Loss(ABC):
    """Base class: forward returns J and remembers dJ/dscores for backward().

    A subclass must implement ``loss_and_gradient``; without it the class cannot be
    instantiated (the TypeError names the missing method).
    """

    def __init__(self) -> None:
        self._grad: Array | None = None

    @abstractmethod
    def loss_and_gradient(self, scores: ArrayLike, y: ArrayLike) -> tuple[float, Array]:
        """(J, dJ/dscores) for a batch: the mean loss and its gradient, of the shape of scores."""

    def forward(self, scores: ArrayLike, y: ArrayLike) -> float:
        """The mean loss J over the batch; remembers dJ/dscores for backward()."""
        loss, self._grad = self.loss_and_gradient(scores, y)
        return loss

    def backward(self) -> Array:
        """dJ/dscores of the last forward, (N, C)."""
        if self._grad is None:
            raise RuntimeError(f"{self!r}.backward was called before forward(scores, y)")
        return self._grad

    def __call__(self, scores: ArrayLike, y: ArrayLike) -> float:
        return self.forward(scores, y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    """J = (1/N) sum_n -log softmax(s_n)[y_n];  dJ/ds = (P - Y) / N.

    scores: (N, C), y: (N,) integer labels.  See functional.softmax_cross_entropy.
    """

    def loss_and_gradient(self, scores: ArrayLike, y: ArrayLike) -> tuple[float, Array]:
        return F.softmax_cross_entropy(scores, y)


class MSE(Loss):
    """J = (1/N) sum_n ||yhat_n - y_n||^2;  dJ/dyhat = 2 (Yhat - Y) / N.

    scores (predictions) and y (targets): (N, K), the same shape.
    """

    def loss_and_gradient(self, scores: ArrayLike, y: ArrayLike) -> tuple[float, Array]:
        return F.mse(scores, y)


def l2_penalty(params: Mapping[str, Array], lam: float) -> tuple[float, dict[str, Array]]:
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
