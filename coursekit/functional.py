"""Pure forward/backward pairs: the mathematics of every layer, without state.

Every operation ``op`` comes as two functions::

    out, cache = op_forward(x, ...)        # cache: a small named tuple
    dx         = op_backward(dout, cache)  # or a tuple (dx, dparam, ...)

``dout`` is the upstream gradient dJ/d(out), with the shape of ``out``; the
backward pass returns dJ/dx with the shape of ``x``.  These are vector-Jacobian
products: the Jacobian d(out)/dx is never formed.

Notation follows the lectures: a layer computes s = W x + b with W of shape
(m, d).  A batch stacks examples as rows, X: (N, d), so the batch version is
S = X W^T + b, of shape (N, m).

Arrays may be float32 or float64; outputs keep the input's dtype.
"""
from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from . import _checks
from ._rng import as_generator
from ._types import Array, ArrayLike, Seed


def _upstream(dout: ArrayLike, expected_shape: tuple[int, ...], where: str) -> Array:
    """Check that the upstream gradient has the shape of the forward output."""
    dout = _checks.float_array(dout, "dout", where)
    if dout.shape != expected_shape:
        raise ValueError(
            f"{where}: dout must have the shape of the forward output {expected_shape}, "
            f"got {dout.shape}"
        )
    return dout


# ----------------------------------------------------------------------------
# Linear: S = X W^T + b
# ----------------------------------------------------------------------------
class LinearCache(NamedTuple):
    x: Array  # (N, d) input
    W: Array  # (m, d) weights


def linear_forward(x: ArrayLike, W: ArrayLike, b: ArrayLike) -> tuple[Array, LinearCache]:
    """Affine layer, S = X W^T + b.

    x: (N, d) batch, W: (m, d), b: (m,)  ->  s: (N, m).
    Row n of S is the lecture's s = W x_n + b.
    """
    where = "linear_forward"
    W = _checks.float_array(W, "W", where)
    if W.ndim != 2:
        raise ValueError(f"{where}: W must have shape (m, d), got {W.shape}")
    x = _checks.batch(x, "x", where)
    _checks.weights_fit_batch(x, W, where)
    b = _checks.shape(b, (W.shape[0],), "b", where)
    s = x @ W.T
    s += b
    return s, LinearCache(x, W)


def linear_backward(dout: ArrayLike, cache: LinearCache,
                    input_grad: bool = True) -> tuple[Array | None, Array, Array]:
    """Gradients of S = X W^T + b.

    dout: (N, m) = dJ/dS  ->  dx: (N, d), dW: (m, d), db: (m,)
        dx = dout W          (each example: dJ/dx = W^T g)
        dW = dout^T X        (the sum over n of g_n x_n^T)
        db = sum_n dout_n
    input_grad=False returns dx = None: the first layer of a network does not
    need dJ/dX (X is data), and skipping it saves a third of this layer's work.
    """
    x, W = cache
    dout = _upstream(dout, (x.shape[0], W.shape[0]), "linear_backward")
    dx = dout @ W if input_grad else None
    dW = dout.T @ x
    db = dout.sum(axis=0)
    return dx, dW, db


# ----------------------------------------------------------------------------
# Element-wise activations: h = f(s), dJ/ds = dJ/dh * f'(s)
# (the Jacobian is diag f'(s), so the product is element-wise)
# ----------------------------------------------------------------------------
class ReluCache(NamedTuple):
    x: Array


def relu_forward(x: ArrayLike) -> tuple[Array, ReluCache]:
    """ReLU, h = max(0, s), element-wise; any shape."""
    x = _checks.float_array(x, "x", "relu_forward")
    # against a row of zeros NumPy runs its vectorised loop: twice as fast as a scalar 0
    zeros = np.zeros(x.shape[-1:], dtype=x.dtype)
    return np.maximum(x, zeros), ReluCache(x)


def relu_backward(dout: ArrayLike, cache: ReluCache) -> Array:
    """dJ/ds = dJ/dh * 1[s > 0].  At s = 0 we use the subgradient 0."""
    dout = _upstream(dout, cache.x.shape, "relu_backward")
    return dout * (cache.x > 0)


class LeakyReluCache(NamedTuple):
    x: Array
    alpha: float


def leaky_relu_forward(x: ArrayLike, alpha: float = 0.01) -> tuple[Array, LeakyReluCache]:
    """Leaky ReLU, h = s if s > 0 else alpha * s, element-wise."""
    x = _checks.float_array(x, "x", "leaky_relu_forward")
    return np.where(x > 0, x, alpha * x), LeakyReluCache(x, float(alpha))


def leaky_relu_backward(dout: ArrayLike, cache: LeakyReluCache) -> Array:
    """dJ/ds = dJ/dh * (1 if s > 0 else alpha)."""
    dout = _upstream(dout, cache.x.shape, "leaky_relu_backward")
    ds: Array = dout * np.where(cache.x > 0, 1.0, cache.alpha).astype(dout.dtype)
    return ds


class EluCache(NamedTuple):
    x: Array
    out: Array
    alpha: float


def elu_forward(x: ArrayLike, alpha: float = 1.0) -> tuple[Array, EluCache]:
    """ELU, h = s if s > 0 else alpha * (exp(s) - 1), element-wise.

    expm1 keeps accuracy for small |s|; clipping at 0 keeps exp from overflowing
    on the branch that np.where discards.
    """
    x = _checks.float_array(x, "x", "elu_forward")
    out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, EluCache(x, out, float(alpha))


def elu_backward(dout: ArrayLike, cache: EluCache) -> Array:
    """dJ/ds = dJ/dh * (1 if s > 0 else alpha * exp(s)), and alpha*exp(s) = h + alpha."""
    dout = _upstream(dout, cache.x.shape, "elu_backward")
    return dout * np.where(cache.x > 0, 1.0, cache.out + cache.alpha)


def sigmoid(x: ArrayLike) -> Array:
    """sigma(s) = 1 / (1 + exp(-s)), computed without overflow for any s.

    For s < 0 the equivalent form exp(s) / (1 + exp(s)) is used, so exp never
    sees a large positive argument.
    """
    s = np.asarray(x)
    e = np.exp(-np.abs(s))
    sig: Array = np.where(s >= 0, 1 / (1 + e), e / (1 + e))
    return sig


class SigmoidCache(NamedTuple):
    out: Array


def sigmoid_forward(x: ArrayLike) -> tuple[Array, SigmoidCache]:
    """Logistic sigmoid, h = sigma(s), element-wise."""
    x = _checks.float_array(x, "x", "sigmoid_forward")
    out = sigmoid(x)
    return out, SigmoidCache(out)


def sigmoid_backward(dout: ArrayLike, cache: SigmoidCache) -> Array:
    """dJ/ds = dJ/dh * sigma(s) (1 - sigma(s))."""
    dout = _upstream(dout, cache.out.shape, "sigmoid_backward")
    ds: Array = dout * cache.out * (1 - cache.out)
    return ds


class TanhCache(NamedTuple):
    out: Array


def tanh_forward(x: ArrayLike) -> tuple[Array, TanhCache]:
    """Hyperbolic tangent, h = tanh(s), element-wise."""
    x = _checks.float_array(x, "x", "tanh_forward")
    out = np.tanh(x)
    return out, TanhCache(out)


def tanh_backward(dout: ArrayLike, cache: TanhCache) -> Array:
    """dJ/ds = dJ/dh * (1 - tanh(s)^2)."""
    dout = _upstream(dout, cache.out.shape, "tanh_backward")
    ds: Array = dout * (1 - cache.out**2)
    return ds


class SwishCache(NamedTuple):
    x: Array
    sig: Array  # sigma(beta * s)
    beta: float


def swish_forward(x: ArrayLike, beta: float = 1.0) -> tuple[Array, SwishCache]:
    """Swish, h = s * sigma(beta s), element-wise."""
    x = _checks.float_array(x, "x", "swish_forward")
    sig = sigmoid(beta * x)
    return x * sig, SwishCache(x, sig, float(beta))


def swish_backward(dout: ArrayLike, cache: SwishCache) -> Array:
    """dJ/ds = dJ/dh * (sigma(beta s) + beta s sigma(beta s) (1 - sigma(beta s)))."""
    x, sig, beta = cache
    dout = _upstream(dout, x.shape, "swish_backward")
    ds: Array = dout * (sig + beta * x * sig * (1 - sig))
    return ds


# ----------------------------------------------------------------------------
# Softmax and the losses
# ----------------------------------------------------------------------------
def _log_softmax(s: Array) -> Array:
    """log p = s - max(s) - log sum exp(s - max(s)), row-wise: never overflows."""
    shifted = s - s.max(axis=1, keepdims=True)
    log_p: Array = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return log_p


class SoftmaxCache(NamedTuple):
    p: Array  # (N, C)


def softmax_forward(s: ArrayLike) -> tuple[Array, SoftmaxCache]:
    """Row-wise softmax, p = exp(s) / 1^T exp(s).

    s: (N, C) scores -> p: (N, C), each row non-negative and summing to 1.
    """
    s = _checks.batch(s, "s", "softmax_forward")
    p = np.exp(_log_softmax(s))
    return p, SoftmaxCache(p)


def softmax_backward(dout: ArrayLike, cache: SoftmaxCache) -> Array:
    """Multiply by the softmax Jacobian dp/ds = diag(p) - p p^T, row by row.

    dout: (N, C) = dJ/dp  ->  dJ/ds = p * (dout - <dout, p>)   (N, C)
    """
    p = cache.p
    dout = _upstream(dout, p.shape, "softmax_backward")
    ds: Array = p * (dout - (dout * p).sum(axis=1, keepdims=True))
    return ds


def softmax_cross_entropy(scores: ArrayLike, y: ArrayLike) -> tuple[float, Array]:
    """Mean cross-entropy of the softmax of ``scores`` against integer labels.

    scores: (N, C), y: (N,) ints in [0, C).
        J = (1/N) sum_n -log p_{n, y_n},   p_n = softmax(s_n)
        dJ/ds_n = (p_n - onehot(y_n)) / N      (the lecture's (p - y)^T)
    Returns (loss: float, dscores: (N, C)).  Stable for scores of any size.
    """
    where = "softmax_cross_entropy"
    scores = _checks.batch(scores, "scores", where)
    _checks.finite(scores, "scores", where)
    n, c = scores.shape
    y = _checks.labels(y, n, c, where)
    log_p = _log_softmax(scores)
    rows = np.arange(n)
    loss = -log_p[rows, y].sum() / n
    dscores = np.exp(log_p)
    dscores[rows, y] -= 1
    dscores /= n
    return float(loss), dscores


class MseCache(NamedTuple):
    diff: Array  # (N, K) prediction - target


def mse_forward(pred: ArrayLike, target: ArrayLike) -> tuple[float, MseCache]:
    """Mean squared error over the batch, J = (1/N) sum_n ||yhat_n - y_n||^2.

    pred, target: (N, K) with identical shapes (no broadcasting).
    """
    where = "mse_forward"
    pred = _checks.batch(pred, "pred", where)
    target = _checks.float_array(target, "target", where)
    _checks.same_shape(pred, target, ("pred", "target"), where)
    _checks.finite(pred, "pred", where)
    _checks.finite(target, "target", where)
    diff = pred - target
    loss = float((diff**2).sum() / pred.shape[0])
    return loss, MseCache(diff)


def mse_backward(dout: float, cache: MseCache | None = None, *,
                 dloss: float | None = None) -> Array:
    """dJ/dyhat = dout * 2 (yhat - y) / N.

    dout: the upstream gradient dJ/d(loss), a scalar (1 when the MSE is the cost
    itself; 0.5 for E = mse / 2).  cache: from mse_forward.  Returns (N, K).
    (The old order mse_backward(cache, dloss=1.0) still works, with a DeprecationWarning.)
    """
    if isinstance(dout, MseCache):
        dout, cache = _old_mse_backward_order(dout, cache, dloss)
    if not isinstance(cache, MseCache):
        raise TypeError(f"mse_backward: cache must be the MseCache from mse_forward, "
                        f"got {type(cache).__name__}")
    if np.ndim(dout) != 0:
        raise ValueError(f"mse_backward: dout = dJ/d(loss) must be a scalar (the loss is one), "
                         f"got shape {np.shape(dout)}")
    diff = cache.diff
    dpred: Array = (float(dout) * 2 / diff.shape[0]) * diff
    return dpred


def _old_mse_backward_order(cache: MseCache, dout: Any, dloss: float | None
                            ) -> tuple[float, MseCache]:
    """mse_backward(cache, dloss=1.0), the order before every backward became (dout, cache)."""
    warnings.warn("mse_backward(cache, dloss) is deprecated: call mse_backward(dout, cache), "
                  "in the (dout, cache) order of every backward function",
                  DeprecationWarning, stacklevel=3)
    if dloss is not None:
        return float(dloss), cache
    return (1.0 if dout is None else float(dout)), cache


def mse(pred: ArrayLike, target: ArrayLike) -> tuple[float, Array]:
    """MSE as one call: returns (loss, dpred); see mse_forward."""
    loss, cache = mse_forward(pred, target)
    return loss, mse_backward(1.0, cache)


# ----------------------------------------------------------------------------
# Batch normalisation
# ----------------------------------------------------------------------------
class BatchnormCache(NamedTuple):
    xhat: Array  # (N, D) normalised input
    gamma: Array  # (D,)
    inv_std: Array  # (D,) 1 / sqrt(var + eps)
    train: bool
    mean: Array  # (D,) statistics used (batch in training, running in test)
    var: Array  # (D,)


def batchnorm_forward(x: ArrayLike, gamma: ArrayLike, beta: ArrayLike, eps: float = 1e-5,
                      train: bool = True, running_mean: ArrayLike | None = None,
                      running_var: ArrayLike | None = None) -> tuple[Array, BatchnormCache]:
    """Batch normalisation of each feature (column).

    x: (N, D), gamma, beta: (D,) -> out: (N, D)
    Training mode uses the batch statistics (biased variance, as in the lecture):
        mu = (1/N) sum_n x_n,  v = (1/N) sum_n (x_n - mu)^2
        xhat = (x - mu) / sqrt(v + eps),   out = gamma * xhat + beta
    Test mode uses ``running_mean`` and ``running_var`` instead of mu and v.
    The cache carries the statistics used, so a layer can update running averages.
    A constant feature gives v = 0; eps keeps the output finite (it becomes beta).
    """
    where = "batchnorm_forward"
    x = _checks.batch(x, "x", where)
    d = x.shape[1]
    gamma = _checks.shape(gamma, (d,), "gamma", where)
    beta = _checks.shape(beta, (d,), "beta", where)
    if train:
        mean = x.mean(axis=0)
        centred = x - mean
        var = (centred**2).mean(axis=0)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{where}: test mode (train=False) needs running_mean and running_var")
        mean = _checks.shape(running_mean, (d,), "running_mean", where)
        var = _checks.shape(running_var, (d,), "running_var", where)
        centred = x - mean
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = centred * inv_std
    out = gamma * xhat + beta
    return out, BatchnormCache(xhat, gamma, inv_std, bool(train), mean, var)


def batchnorm_backward(dout: ArrayLike, cache: BatchnormCache) -> tuple[Array, Array, Array]:
    """Gradients of batch normalisation.

    dout: (N, D) -> dx: (N, D), dgamma: (D,), dbeta: (D,)
        dgamma = sum_n dout_n * xhat_n,   dbeta = sum_n dout_n,   g = dout * gamma
    Training mode (mu and v depend on every x_n), the compact form of the lecture's
    derivation through dJ/dv and dJ/dmu:
        dx = inv_std / N * (N g - sum_n g_n - xhat * sum_n (g_n * xhat_n))
    Test mode (constant statistics): dx = g * inv_std.
    """
    xhat, gamma, inv_std, train = cache.xhat, cache.gamma, cache.inv_std, cache.train
    dout = _upstream(dout, xhat.shape, "batchnorm_backward")
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    g = dout * gamma
    if not train:
        return g * inv_std, dgamma, dbeta
    n = xhat.shape[0]
    dx = (inv_std / n) * (n * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0))
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------
# Dropout (inverted)
# ----------------------------------------------------------------------------
class DropoutCache(NamedTuple):
    mask: Array | None  # kept / (1 - p), or None in test mode


def dropout_forward(x: ArrayLike, p: float, rng: Seed = None,
                    train: bool = True) -> tuple[Array, DropoutCache]:
    """Inverted dropout: drop each unit with probability p, scale survivors by 1/(1-p).

    x: any shape.  E[out] = x, so test mode is the identity and needs no rescaling.
    rng: a Generator (its stream advances: coursekit.layers.Dropout passes its own),
    an int seed (the same mask every call) or None.
    """
    where = "dropout_forward"
    x = _checks.float_array(x, "x", where)
    p = _checks.probability(p, "p (the drop probability)", where)
    if not train or p == 0.0:
        return x.copy(), DropoutCache(None)
    keep = as_generator(rng).random(x.shape) >= p
    mask = keep.astype(x.dtype) / x.dtype.type(1 - p)
    return x * mask, DropoutCache(mask)


def dropout_backward(dout: ArrayLike, cache: DropoutCache) -> Array:
    """dJ/dx = dJ/dout * mask (the same units are dropped as in the forward pass)."""
    dout = _checks.float_array(dout, "dout", "dropout_backward")
    if cache.mask is None:
        return np.array(dout, copy=True)
    if dout.shape != cache.mask.shape:
        raise ValueError(
            f"dropout_backward: dout must have the shape of the forward output "
            f"{cache.mask.shape}, got {dout.shape}"
        )
    return dout * cache.mask
