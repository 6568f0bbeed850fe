"""Autoencoders built from coursekit layers, and a small loop that trains them (chapter 10).

An autoencoder maps x in R^D to a code z in R^M (M < D, the bottleneck) and back:

    z = encoder(x),   xhat = decoder(z),   J = (1/N) sum_n ||xhat_n - x_n||^2

(coursekit.losses.MSE with the input as its own target).  With no hidden layers
and no activations it is linear, xhat = W2 (W1 x + b1) + b2, and its optimum
spans the principal subspace of the data (compare with coursekit.pca).

Everything here returns models, arrays and histories; coursekit.viz draws them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import _checks, optim
from .. import layers as L
from .._rng import as_generator
from ..data import minibatches
from ..losses import MSE

ACTIVATION_LAYERS = {"tanh": L.Tanh, "relu": L.ReLU, "sigmoid": L.Sigmoid, "elu": L.ELU}


class Autoencoder(L.Sequential):
    """The encoder's layers followed by the decoder's, as one Sequential.

    forward(x) is the reconstruction xhat: (N, D); encode(x) the code z: (N, M)
    (the output of the encoder's last layer); decode(z) maps codes back to (N, D).
    params and grads are those of the Sequential ("0.W", "0.b", ...).
    """

    def __init__(self, encoder, decoder):
        super().__init__(*encoder, *decoder)
        self.code_index = len(encoder)

    def encode(self, X) -> np.ndarray:
        """z = encoder(x) in test mode.  X: (N, D) -> (N, M)."""
        return self.forward_to(X, self.code_index, train=False)

    def decode(self, Z) -> np.ndarray:
        """xhat = decoder(z) in test mode.  Z: (N, M) -> (N, D)."""
        for layer in self.layers[self.code_index:]:
            Z = layer.forward(Z, train=False)
        return Z


def build_autoencoder(D: int, M: int, hidden=(), activation: str = "tanh",
                      init: str = "xavier_normal", rng=None) -> Autoencoder:
    """A fully connected autoencoder D -> hidden... -> M -> ...reversed hidden -> D.

    hidden=() gives the linear autoencoder Linear(D, M), Linear(M, D) (weights W1: (M, D),
    W2: (D, M)).  Otherwise every hidden layer is Linear + activation ("tanh", "relu",
    "sigmoid" or "elu"); the code layer and the output layer stay linear, so the code
    can take any value and the output any pixel value.
    """
    where = "build_autoencoder"
    widths = [int(w) for w in hidden]
    if int(D) < 1 or not 1 <= int(M) <= int(D) or any(w < 1 for w in widths):
        raise ValueError(f"{where}: need D >= 1, 1 <= M <= D and positive hidden widths, "
                         f"got D = {D}, M = {M}, hidden = {tuple(hidden)}")
    if activation not in ACTIVATION_LAYERS:
        raise ValueError(f"{where}: activation must be one of {sorted(ACTIVATION_LAYERS)}, got {activation!r}")
    gen = as_generator(rng)
    act = ACTIVATION_LAYERS[activation]

    def stack(sizes):
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(L.Linear(a, b, init=init, rng=gen))
            if i < len(sizes) - 2:  # every layer but the last of the stack is hidden
                layers.append(act())
        return layers

    return Autoencoder(stack([int(D), *widths, int(M)]), stack([int(M), *widths[::-1], int(D)]))


def reconstruction_error(model, X) -> float:
    """J = (1/N) sum_n ||xhat_n - x_n||^2 in test mode (the MSE loss; PCA's distortion).  X: (N, D)."""
    X = _checks.batch(X, "X", "reconstruction_error")
    return MSE().forward(model.forward(X, train=False), X)


@dataclass
class AutoencoderHistory:
    """Measurements after each recorded epoch (epoch numbers in ``epochs``, from 1).

    train_error, val_error: reconstruction_error on the training and validation data
    (val_error stays empty without X_val); tracked: the values of ``track(model)``.
    """
    epochs: list = field(default_factory=list)
    train_error: list = field(default_factory=list)
    val_error: list = field(default_factory=list)
    tracked: list = field(default_factory=list)


def train_autoencoder(model, X_train, X_val=None, optimizer=None, epochs: int = 10,
                      batch_size: int | None = None, rng=None,
                      track: Callable | None = None, every: int = 1) -> AutoencoderHistory:
    """Minimise J = (1/N) sum_n ||model(x_n) - x_n||^2 by (mini-batch) gradient descent.

    model: an Autoencoder (any coursekit model whose output has X's shape).
    X_train: (N, D); X_val: (N_val, D) or None.  optimizer: from coursekit.optim
    (default SGD(lr=0.01)).  batch_size None = full-batch gradient descent (one step
    per epoch).  rng: the order of the mini-batches.  Every ``every`` epochs (and
    after the last) the errors are measured and ``track(model)`` (e.g. a principal
    angle) is recorded.  The model is updated in place.
    """
    where = "train_autoencoder"
    X_train = _checks.batch(X_train, "X_train", where)
    if X_val is not None:
        X_val = _checks.batch(X_val, "X_val", where, features=X_train.shape[1])
    if int(epochs) < 1 or int(every) < 1:
        raise ValueError(f"{where}: epochs and every must be >= 1, got epochs = {epochs}, every = {every}")
    optimizer = optimizer if optimizer is not None else optim.SGD(lr=0.01)
    size = len(X_train) if batch_size is None else int(batch_size)
    gen, loss, history = as_generator(rng), MSE(), AutoencoderHistory()
    for epoch in range(1, int(epochs) + 1):
        for Xb, _ in minibatches(X_train, X_train, size, rng=gen, shuffle=batch_size is not None):
            loss.forward(model.forward(Xb, train=True), Xb)
            model.backward(loss.backward(), input_grad=False)
            optimizer.step(model.params, model.grads)
        if epoch % int(every) == 0 or epoch == int(epochs):
            history.epochs.append(epoch)
            history.train_error.append(reconstruction_error(model, X_train))
            if X_val is not None:
                history.val_error.append(reconstruction_error(model, X_val))
            if track is not None:
                history.tracked.append(track(model))
    return history


def knn_accuracy(Z_train, y_train, Z_test, y_test, k: int = 5) -> float:
    """How well codes keep the classes apart: the accuracy of a k-nearest-neighbour vote.

    Each test code gets the most frequent label among its k nearest training codes
    (Euclidean distance; ties go to the smaller label).  Z_train: (N, M), y_train: (N,)
    integer labels, Z_test: (N_test, M), y_test: (N_test,).  Returns a fraction in [0, 1].
    """
    where = "knn_accuracy"
    Z_train = _checks.batch(Z_train, "Z_train", where)
    Z_test = _checks.batch(Z_test, "Z_test", where, features=Z_train.shape[1])
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.shape != (len(Z_train),) or y_test.shape != (len(Z_test),):
        raise ValueError(f"{where}: expected labels of shapes ({len(Z_train)},) and ({len(Z_test)},), "
                         f"got {y_train.shape} and {y_test.shape}")
    if not 1 <= int(k) <= len(Z_train):
        raise ValueError(f"{where}: k must be in [1, {len(Z_train)}], got {k}")
    squared = ((Z_test[:, None, :] - Z_train[None, :, :]) ** 2).sum(axis=2)
    nearest = y_train[np.argsort(squared, axis=1, kind="stable")[:, :int(k)]]
    votes = np.array([np.bincount(row, minlength=int(y_train.max()) + 1).argmax() for row in nearest])
    return float(np.mean(votes == y_test))
