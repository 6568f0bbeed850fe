"""A small training loop: mini-batch gradient descent, one epoch at a time.

    history = fit(model, SoftmaxCrossEntropy(), Adam(lr=1e-3), X_train, y_train,
                  X_val, y_val, epochs=20, batch_size=64, lam=1e-4, rng=0)

One step of ``fit`` is the lecture's mini-batch SGD step:

    scores = model.forward(X_batch)                     forward pass
    J      = loss(scores, y_batch) + lam * sum ||W||^2  cost (L2 on weights only)
    grads  = model.backward(dJ/dscores) + 2 lam W       backward pass
    optimizer.step(params, grads)                       update, in place

After each epoch the cost, loss and accuracy on the whole training set (and on
the validation set, when given) are measured in test mode (train=False: dropout
off, batch norm on its running statistics) and stored in a History.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ._rng import as_generator
from .data import minibatches
from .layers import Layer
from .losses import l2_penalty


@dataclass
class History:
    """Per-epoch measurements; entry e of every list is taken after epoch e + 1.

    train_cost: training loss + lam * sum ||W||^2 (the J that was minimised)
    train_loss, val_loss: mean loss without the penalty (comparable with each other)
    train_acc, val_acc: fraction classified correctly (val lists stay empty without X_val)
    lr: the learning rate used during the epoch
    """
    train_cost: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)

    def __len__(self):
        return len(self.train_loss)

    def table(self, every: int = 1) -> str:
        """The learning curves as a text table, one row every ``every`` epochs (and the last)."""
        has_val = bool(self.val_loss)
        head = f"{'epoch':>5} {'train loss':>10} {'train acc':>9}"
        head += f" {'val loss':>9} {'val acc':>8}" if has_val else ""
        rows = [head]
        for e in range(len(self)):
            if (e + 1) % every and e != len(self) - 1:
                continue
            row = f"{e + 1:>5} {self.train_loss[e]:>10.4f} {self.train_acc[e]:>9.3f}"
            row += f" {self.val_loss[e]:>9.4f} {self.val_acc[e]:>8.3f}" if has_val else ""
            rows.append(row)
        return "\n".join(rows)


def accuracy(scores, y) -> float:
    """Fraction of rows whose highest score is the true class.

    scores: (N, C) with C >= 2; y: (N,) integer labels, or (N, C) one-hot targets.
    """
    scores, y = np.asarray(scores), np.asarray(y)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"accuracy: scores must have shape (N, C) with C >= 2 classes, got {scores.shape}")
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if y.shape != (scores.shape[0],):
        raise ValueError(f"accuracy: expected labels of shape ({scores.shape[0]},), got {y.shape}")
    return float(np.mean(scores.argmax(axis=1) == y))


def predict(model, X, batch_size: int = 1024) -> np.ndarray:
    """Predicted classes argmax_c s_c in test mode.  X: (N, D) -> (N,) int64."""
    scores = np.concatenate([model.forward(X[i:i + batch_size], train=False)
                             for i in range(0, len(X), batch_size)])
    return scores.argmax(axis=1).astype(np.int64)


def evaluate(model, loss, X, y, batch_size: int = 1024) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on (X, y), in test mode (train=False).

    Runs in chunks of ``batch_size`` rows to bound memory; the mean over chunks is
    weighted by their sizes, so it equals the mean over all N rows.
    Accuracy is nan when the model has a single output (regression).
    """
    total_loss, correct = 0.0, 0.0
    for Xb, yb in minibatches(X, y, batch_size, shuffle=False):
        scores = model.forward(Xb, train=False)
        total_loss += loss.forward(scores, yb) * len(Xb)
        correct += accuracy(scores, yb) * len(Xb) if scores.shape[1] > 1 else np.nan
    return total_loss / len(X), correct / len(X)


def train_step(model, loss, optimizer, Xb, yb, lam: float = 0.0) -> None:
    """One mini-batch step: forward, loss, backward (+ 2 lam W), optimizer.step, in place."""
    loss.forward(model.forward(Xb, train=True), yb)
    if isinstance(model, Layer):  # dJ/dX of the data is never used: skip it
        model.backward_params(loss.backward())
    else:  # any model with backward(dy), as in the API
        model.backward(loss.backward())
    grads = model.grads
    if lam > 0:
        for name, g in l2_penalty(model.params, lam)[1].items():
            grads[name] = grads[name] + g
    optimizer.step(model.params, grads)


def _record(history: History, model, loss, optimizer, lam: float, X_train, y_train,
            X_val=None, y_val=None) -> dict:
    """Append one epoch's measurements (test mode) to history; return them for the progress bar."""
    train_loss, train_acc = evaluate(model, loss, X_train, y_train)
    history.train_cost.append(train_loss + l2_penalty(model.params, lam)[0])
    history.train_loss.append(train_loss)
    history.train_acc.append(train_acc)
    history.lr.append(optimizer.lr)
    summary = {"loss": f"{train_loss:.3f}", "acc": f"{train_acc:.3f}"}
    if X_val is not None:
        val_loss, val_acc = evaluate(model, loss, X_val, y_val)
        history.val_loss.append(val_loss)
        history.val_acc.append(val_acc)
        summary.update(val_loss=f"{val_loss:.3f}", val_acc=f"{val_acc:.3f}")
    return summary


def fit(model, loss, optimizer, X_train, y_train, X_val=None, y_val=None, epochs: int = 10,
        batch_size: int = 64, lam: float = 0.0, rng=None, progress: bool = True,
        lr_schedule=None) -> History:
    """Train ``model`` with mini-batch gradient descent and return its History.

    model: a Sequential (forward/backward, params/grads); loss: SoftmaxCrossEntropy or MSE;
    optimizer: from coursekit.optim (SGD, Adam, ...), updates the model in place.
    X_train: (N, D), y_train: (N,) labels (or (N, K) targets for MSE); X_val, y_val likewise.
    lam: L2 strength, J = loss + lam * sum ||W||^2 over weight matrices.
    rng: seed or Generator for the order of the mini-batches (shuffled every epoch).
    lr_schedule: optional function epoch -> learning rate (epochs counted from 0),
        e.g. ``lambda k: coursekit.optim.step_decay(0.1, k)``.
    progress: show a progress bar over the epochs (tqdm; terminal or notebook).
    """
    if (X_val is None) != (y_val is None):
        raise ValueError("fit: give both X_val and y_val, or neither")
    if int(epochs) < 1:
        raise ValueError(f"fit: epochs must be >= 1, got {epochs}")
    if lam < 0:
        raise ValueError(f"fit: the L2 strength lam must be >= 0, got {lam}")
    gen = as_generator(rng)
    history = History()
    bar = tqdm(range(int(epochs)), desc="fit", unit="epoch", disable=not progress)
    for epoch in bar:
        if lr_schedule is not None:
            optimizer.lr = lr_schedule(epoch)
        for Xb, yb in minibatches(X_train, y_train, batch_size, rng=gen):
            train_step(model, loss, optimizer, Xb, yb, lam)
        bar.set_postfix(_record(history, model, loss, optimizer, lam, X_train, y_train, X_val, y_val))
    return history
