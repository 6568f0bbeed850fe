"""Regularisation and preprocessing experiments (chapter 9): they compute, viz draws.

Least-squares conventions, as coursekit.losses.MSE: for X: (N, D), y: (N,)

    J(w) = (1/N) ||X w - y||^2 + lambda R(w),    Hessian of the data term H = (2/N) X^T X

so ridge (R = ||w||^2) has the closed form w = (X^T X / N + lambda I)^{-1} X^T y / N, and
Gaussian input noise of variance sigma^2 adds sigma^2 ||w||^2 to the expected cost.

Contents: soft_threshold, lasso_ista, ridge_solution (L1 vs L2); gradient_descent_run,
softmax_regression_steps (conditioning); nearest_centroid_accuracy, selection_leak
(statistics fitted on the training split only); noisy_copies_solution (input noise);
corrupt_labels, digits_mlp, fit_epochs, fit_early_stopping, load_params (over-fitting, early
stopping, dropout, augmentation); input_gradient, fgsm, attack_accuracy,
adversarial_fit (adversarial examples).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .. import _checks
from .. import functional as F
from .. import layers as L
from .._rng import as_generator
from ..data import minibatches
from ..train import History, evaluate, fit


# ----------------------------------------------------------------------------
# L1 and L2 on least squares
# ----------------------------------------------------------------------------
def soft_threshold(v, t: float) -> np.ndarray:
    """The proximal operator of t ||.||_1, element-wise:

        prox(v) = argmin_w  (1/2) (w - v)^2 + t |w|  =  sign(v) max(|v| - t, 0)

    Entries with |v| <= t become exactly 0 (the reason L1 gives sparse weights).
    """
    t = float(t)
    if t < 0:
        raise ValueError(f"soft_threshold: the threshold t must be >= 0, got {t}")
    v = np.asarray(v, dtype=np.float64)
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


def _least_squares_data(X, y, where: str):
    X = _checks.batch(X, "X", where).astype(np.float64)
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (len(X),):
        raise ValueError(f"{where}: expected targets y of shape ({len(X)},), got {y.shape}")
    return X, y


def ridge_solution(X, y, lam: float) -> np.ndarray:
    """argmin (1/N)||Xw - y||^2 + lam ||w||^2 = (X^T X / N + lam I)^{-1} X^T y / N.  X: (N, D) -> w: (D,)."""
    X, y = _least_squares_data(X, y, "ridge_solution")
    n, d = X.shape
    return np.linalg.solve(X.T @ X / n + float(lam) * np.eye(d), X.T @ y / n)


class LassoRun(NamedTuple):
    """w: (D,) the final weights; cost: (steps + 1,) J after each step; lr: the step size 1/L."""

    w: np.ndarray
    cost: np.ndarray
    lr: float


def lasso_ista(X, y, lam: float, steps: int = 500) -> LassoRun:
    """Proximal gradient descent (ISTA) on J(w) = (1/N)||Xw - y||^2 + lam ||w||_1, from w = 0:

        w <- soft_threshold(w - eta grad, eta lam),   grad = (2/N) X^T (X w - y),  eta = 1 / L

    with L = the largest eigenvalue of the Hessian (2/N) X^T X.  The cost never increases.
    """
    X, y = _least_squares_data(X, y, "lasso_ista")
    n, d = X.shape
    lr = 1.0 / np.linalg.eigvalsh(2 * X.T @ X / n)[-1]
    w = np.zeros(d)

    def cost(w):
        return float(np.sum((X @ w - y) ** 2) / n + lam * np.abs(w).sum())

    costs = [cost(w)]
    for _ in range(int(steps)):
        grad = 2 * X.T @ (X @ w - y) / n
        w = soft_threshold(w - lr * grad, lr * lam)
        costs.append(cost(w))
    return LassoRun(w, np.array(costs), float(lr))


# ----------------------------------------------------------------------------
# Conditioning: gradient descent on least squares and softmax regression
# ----------------------------------------------------------------------------
class GDRun(NamedTuple):
    """path: (steps + 1, D) the weights; w_star: (D,) the minimiser; hessian: (D, D);
    kappa: its condition number; lr: 2 / (L + mu); steps: how many steps until
    ||w - w*|| <= tol ||w0 - w*|| (None if never within max_steps); bound: the
    steps the contraction (kappa - 1) / (kappa + 1) per step guarantees."""

    path: np.ndarray
    w_star: np.ndarray
    hessian: np.ndarray
    kappa: float
    lr: float
    steps: int | None
    bound: int


def gradient_descent_run(X, y, tol: float = 1e-6, max_steps: int = 1000) -> GDRun:
    """Gradient descent on J(w) = (1/N)||Xw - y||^2 from w = 0 with the best constant step.

    H = (2/N) X^T X has eigenvalues mu = h_min <= ... <= h_max = L; the step eta = 2/(L + mu)
    shrinks the error w - w* by at least (kappa - 1)/(kappa + 1) per step, kappa = L / mu.
    """
    X, y = _least_squares_data(X, y, "gradient_descent_run")
    n, d = X.shape
    H = 2 * X.T @ X / n
    h = np.linalg.eigvalsh(H)
    if h[0] <= 1e-12 * h[-1]:
        raise ValueError("gradient_descent_run: X^T X is singular, the minimiser is not unique")
    kappa, lr = float(h[-1] / h[0]), float(2 / (h[-1] + h[0]))
    w_star = np.linalg.solve(X.T @ X, X.T @ y)
    w, path, steps = np.zeros(d), [np.zeros(d)], None
    start = np.linalg.norm(w_star)
    for k in range(1, int(max_steps) + 1):
        w = w - lr * 2 * X.T @ (X @ w - y) / n
        path.append(w)
        if np.linalg.norm(w - w_star) <= tol * start:
            steps = k
            break
    rate = (kappa - 1) / (kappa + 1)
    bound = 1 if rate == 0 else int(np.ceil(np.log(tol) / np.log(rate)))
    return GDRun(np.array(path), w_star, H, kappa, lr, steps, bound)


def softmax_regression_steps(X, y, lr: float, target_loss: float, max_steps: int = 1000,
                             num_classes: int = 10) -> tuple[int | None, np.ndarray]:
    """Full-batch gradient descent on softmax regression (scores X W^T + b, W = 0 at the start).

    Returns (the first step at which the mean cross-entropy is <= target_loss, or None;
    the losses of every step, (steps + 1,)).
    """
    X = _checks.batch(X, "X", "softmax_regression_steps")
    W, b = np.zeros((num_classes, X.shape[1])), np.zeros(num_classes)
    losses = []
    for k in range(int(max_steps) + 1):
        scores, cache = F.linear_forward(X, W, b)
        loss, dscores = F.softmax_cross_entropy(scores, y)
        losses.append(loss)
        if loss <= target_loss:
            return k, np.array(losses)
        _, dW, db = F.linear_backward(dscores, cache)
        W -= lr * dW
        b -= lr * db
    return None, np.array(losses)


# ----------------------------------------------------------------------------
# Statistics from the training split only: a leak that shows
# ----------------------------------------------------------------------------
def nearest_centroid_accuracy(X_train, y_train, X_test, y_test) -> float:
    """Accuracy of the nearest-class-mean classifier fitted on (X_train, y_train)."""
    classes = np.unique(y_train)
    centroids = np.stack([X_train[y_train == c].mean(axis=0) for c in classes])
    distances = ((X_test[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    return float(np.mean(classes[distances.argmin(axis=1)] == y_test))


class LeakResult(NamedTuple):
    """honest, leaky: (repeats,) validation accuracies; chance: 1 / number of classes."""

    honest: np.ndarray
    leaky: np.ndarray
    chance: float


def _top_correlated(X, y, k: int) -> np.ndarray:
    """Indices of the k features with the largest |correlation| with the labels y in {0, 1}."""
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    corr = Xc.T @ yc / (np.linalg.norm(Xc, axis=0) * np.linalg.norm(yc) + 1e-300)
    return np.argsort(-np.abs(corr))[:k]


def selection_leak(n_train: int = 50, n_val: int = 50, d: int = 2000, k: int = 20,
                   repeats: int = 20, rng=None) -> LeakResult:
    """Pure noise X ~ N(0, I) with random labels y in {0, 1}: nothing can be learned.

    A "preprocessing" step keeps the k features most correlated with the labels, then a
    nearest-centroid classifier is fitted on the training rows.  Honest: the
    correlations come from the training rows only.  Leaky: from training and
    validation rows together.  Returns both validation accuracies per repeat.
    """
    gen = as_generator(rng)
    honest: list[float] = []
    leaky: list[float] = []
    for _ in range(int(repeats)):
        X = gen.standard_normal((n_train + n_val, d))
        y = gen.integers(0, 2, n_train + n_val)
        tr, va = slice(0, n_train), slice(n_train, None)
        for keep, out in ((_top_correlated(X[tr], y[tr], k), honest),
                          (_top_correlated(X, y, k), leaky)):
            out.append(nearest_centroid_accuracy(X[tr][:, keep], y[tr], X[va][:, keep], y[va]))
    return LeakResult(np.array(honest), np.array(leaky), 0.5)


# ----------------------------------------------------------------------------
# Input noise as an L2 penalty
# ----------------------------------------------------------------------------
def noisy_copies_solution(X, y, sigma: float, copies: int, rng=None) -> np.ndarray:
    """Least squares on `copies` noisy replicas of the data, x + e with e ~ N(0, sigma^2 I).

    As copies grows this tends to ridge_solution(X, y, sigma^2), because
    E_e (w^T (x + e) - y)^2 = (w^T x - y)^2 + sigma^2 ||w||^2.
    """
    X, y = _least_squares_data(X, y, "noisy_copies_solution")
    gen = as_generator(rng)
    X_big = np.tile(X, (int(copies), 1))
    X_big = X_big + float(sigma) * gen.standard_normal(X_big.shape)
    return np.linalg.lstsq(X_big, np.tile(y, int(copies)), rcond=None)[0]


# ----------------------------------------------------------------------------
# Networks on the digits: over-fitting, early stopping, dropout, augmentation
# ----------------------------------------------------------------------------
def corrupt_labels(y, fraction: float, num_classes: int = 10, rng=None):
    """Replace a random `fraction` of the labels with a different, random class.

    Returns (y_noisy, flipped) with flipped: (N,) bool, True where the label was changed.
    """
    fraction = _checks.probability(fraction, "fraction", "corrupt_labels", allow_one=True)
    gen = as_generator(rng)
    y = np.asarray(y)
    flipped = gen.random(len(y)) < fraction
    offset = gen.integers(1, num_classes, size=len(y))  # never 0: the new class differs
    y_noisy = np.where(flipped, (y + offset) % num_classes, y)
    return y_noisy.astype(y.dtype), flipped


def digits_mlp(hidden=(100,), dropout: float = 0.0, input_dropout: float = 0.0,
               batchnorm: bool = False, in_features: int = 64, num_classes: int = 10, rng=None):
    """Linear -> [BatchNorm] -> ReLU -> [Dropout(dropout)] per hidden layer, then Linear.

    input_dropout > 0 puts a Dropout on the inputs too.  p is the DROP probability.
    He initialisation in the hidden layers, Xavier in the output layer.
    """
    gen = as_generator(rng)
    layers: list[L.Layer] = []
    d = int(in_features)
    if input_dropout:
        layers.append(L.Dropout(input_dropout, rng=gen))
    for width in hidden:
        layers.append(L.Linear(d, width, init="he_normal", rng=gen))
        if batchnorm:
            layers.append(L.BatchNorm(width))
        layers.append(L.ReLU())
        if dropout:
            layers.append(L.Dropout(dropout, rng=gen))
        d = width
    layers.append(L.Linear(d, num_classes, init="xavier_normal", rng=gen))
    return L.Sequential(*layers)


def _append(history: History, epoch: History) -> None:
    for name in ("train_cost", "train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        getattr(history, name).extend(getattr(epoch, name))


def fit_epochs(model, loss, optimizer, X_train, y_train, X_val=None, y_val=None, epochs: int = 10,
               batch_size: int = 64, augment: Callable | None = None, on_epoch: Callable | None = None,
               rng=None) -> History:
    """coursekit.train.fit, one epoch at a time, with two hooks.

    augment(X_batch, gen) -> X_batch' transforms every training batch afresh (data
    augmentation, input noise); on_epoch(epoch, history) runs after each epoch (epochs
    counted from 1) and may return True to stop.  Returns the History of all epochs.
    """
    gen = as_generator(rng)
    history = History()
    for epoch in range(1, int(epochs) + 1):
        if augment is None:
            _append(history, fit(model, loss, optimizer, X_train, y_train, X_val, y_val, epochs=1,
                                 batch_size=batch_size, rng=gen, progress=False))
        else:
            _augmented_epoch(model, loss, optimizer, X_train, y_train, batch_size, augment, gen)
            _record(history, model, loss, optimizer, X_train, y_train, X_val, y_val)
        if on_epoch is not None and on_epoch(epoch, history):
            break
    return history


def _augmented_epoch(model, loss, optimizer, X, y, batch_size, augment, gen) -> None:
    for Xb, yb in minibatches(X, y, batch_size, rng=gen):
        loss.forward(model.forward(augment(Xb, gen), train=True), yb)
        _backward_params(model, loss.backward())
        optimizer.step(model.params, model.grads)


def _backward_params(model, dscores) -> None:
    """Backward pass for the parameters' gradients; a Sequential skips dJ/dX of the data."""
    if isinstance(model, L.Sequential):
        model.backward(dscores, input_grad=False)
    else:
        model.backward(dscores)


def _record(history, model, loss, optimizer, X, y, X_val, y_val) -> None:
    """Measure the epoch as coursekit.train.fit does: on the clean sets, in test mode."""
    train_loss, train_acc = evaluate(model, loss, X, y)
    history.train_cost.append(train_loss)
    history.train_loss.append(train_loss)
    history.train_acc.append(train_acc)
    history.lr.append(optimizer.lr)
    if X_val is not None:
        val_loss, val_acc = evaluate(model, loss, X_val, y_val)
        history.val_loss.append(val_loss)
        history.val_acc.append(val_acc)


class EarlyStopping(NamedTuple):
    """history: every epoch that ran; best_epoch: 1-based epoch of the best validation score;
    best_score: that score; best_params: copies of the parameters after that epoch
    (also written back into the model); last_params: copies of the parameters after
    the last epoch that ran (what training without early stopping would return);
    stopped_at: the last epoch that ran."""

    history: History
    best_epoch: int
    best_score: float
    best_params: dict
    last_params: dict
    stopped_at: int


def fit_early_stopping(model, loss, optimizer, X_train, y_train, X_val, y_val, epochs: int = 100,
                       patience: int | None = None, monitor: str = "val_acc", batch_size: int = 64,
                       augment: Callable | None = None, rng=None) -> EarlyStopping:
    """Train, keeping a copy of the parameters whenever the validation score improves.

    monitor: "val_acc" (higher is better) or "val_loss" (lower is better).  With
    patience, stop after that many epochs without improvement.  At the end the best
    parameters are copied back into the model (the lectures' early stopping).
    """
    if monitor not in ("val_acc", "val_loss"):
        raise ValueError(f"fit_early_stopping: monitor must be 'val_acc' or 'val_loss', got {monitor!r}")
    sign = 1.0 if monitor == "val_acc" else -1.0
    # the best epoch so far, its score (signed so that higher is better) and a copy of its parameters
    best_epoch, best_score = 0, -np.inf
    best_params = {k: v.copy() for k, v in model.params.items()}

    def keep_best(epoch, history):
        nonlocal best_epoch, best_score, best_params
        score = sign * getattr(history, monitor)[-1]
        if score > best_score:
            best_epoch, best_score = epoch, score
            best_params = {k: v.copy() for k, v in model.params.items()}
        return patience is not None and epoch - best_epoch >= patience

    history = fit_epochs(model, loss, optimizer, X_train, y_train, X_val, y_val, epochs=epochs,
                         batch_size=batch_size, augment=augment, on_epoch=keep_best, rng=rng)
    last = {k: v.copy() for k, v in model.params.items()}
    load_params(model, best_params)
    return EarlyStopping(history, best_epoch, sign * best_score, best_params, last, len(history))


def load_params(model, params: dict) -> None:
    """Copy saved arrays into the model's parameters, in place (the optimiser keeps its references)."""
    for name, value in params.items():
        model.params[name][...] = value


# ----------------------------------------------------------------------------
# Adversarial examples
# ----------------------------------------------------------------------------
def input_gradient(model, loss, X, y) -> np.ndarray:
    """dJ/dX of the mean loss, in test mode (dropout off, batch norm on running averages).

    X: (N, D) -> (N, D).  Row n is (1/N) times the gradient of example n's own loss.
    """
    loss.forward(model.forward(X, train=False), y)
    return model.backward(loss.backward())


def fgsm(model, loss, X, y, eps: float, clip=(0.0, 1.0)) -> np.ndarray:
    """Fast gradient sign method: X' = clip(X + eps sign(dJ/dX)).

    The step of L-infinity size eps that increases the linearised loss the most.
    clip=(lo, hi) keeps pixels valid (None: no clipping).  X: (N, D) -> (N, D).
    """
    eps = float(eps)
    if eps < 0:
        raise ValueError(f"fgsm: eps must be >= 0, got {eps}")
    X = _checks.batch(X, "X", "fgsm")
    X_adv = X + eps * np.sign(input_gradient(model, loss, X, y))
    return X_adv if clip is None else np.clip(X_adv, *clip)


def attack_accuracy(model, loss, X, y, eps_values, attack: str = "fgsm", clip=(0.0, 1.0),
                    rng=None) -> np.ndarray:
    """Test-mode accuracy on X perturbed by each eps: "fgsm", or "random" signs of the same size."""
    if attack not in ("fgsm", "random"):
        raise ValueError(f"attack_accuracy: attack must be 'fgsm' or 'random', got {attack!r}")
    gen = as_generator(rng)
    accuracies = []
    for eps in eps_values:
        if attack == "fgsm":
            X_eps = fgsm(model, loss, X, y, eps, clip)
        else:
            X_eps = np.clip(X + eps * gen.choice([-1.0, 1.0], size=X.shape), *clip)
        accuracies.append(float(np.mean(model.forward(X_eps, train=False).argmax(axis=1) == y)))
    return np.array(accuracies)


def adversarial_fit(model, loss, optimizer, X_train, y_train, eps: float, alpha: float = 0.5,
                    epochs: int = 10, batch_size: int = 64, X_val=None, y_val=None, rng=None) -> History:
    """Adversarial training (Goodfellow et al.): minimise, per batch,

        alpha J(X, y) + (1 - alpha) J(fgsm(X), y)

    with the adversarial batch recomputed from the current weights at every step.
    """
    gen = as_generator(rng)
    history = History()
    for _ in range(int(epochs)):
        for Xb, yb in minibatches(X_train, y_train, batch_size, rng=gen):
            X_adv = fgsm(model, loss, Xb, yb, eps)
            grads: dict[str, np.ndarray] = {}
            for weight, inputs in ((alpha, Xb), (1 - alpha, X_adv)):
                loss.forward(model.forward(inputs, train=True), yb)
                _backward_params(model, weight * loss.backward())
                for name, g in model.grads.items():
                    grads[name] = grads.get(name, 0.0) + g
            optimizer.step(model.params, grads)
        _record(history, model, loss, optimizer, X_train, y_train, X_val, y_val)
    return history
