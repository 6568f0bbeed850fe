"""Training curves: loss and accuracy per epoch, training vs validation (chapters 4-8).

Sized for the book's column (7 in wide, text of at least 9 pt).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

_SERIES_NAMES = {
    "train_loss": ("train_loss", "loss", "training_loss"),
    "val_loss": ("val_loss", "valid_loss", "validation_loss"),
    "train_acc": ("train_acc", "train_accuracy", "accuracy", "acc"),
    "val_acc": ("val_acc", "val_accuracy", "valid_acc", "validation_accuracy"),
}


def history_series(history) -> dict:
    """Per-epoch series from a History object, a dict of lists or a list of per-epoch dicts.

    Returns {"train_loss", "val_loss", "train_acc", "val_acc"} -> float arrays
    (missing or empty series are left out).
    """
    if isinstance(history, (list, tuple)):
        if history and not isinstance(history[0], dict):
            raise TypeError("history_series: a list history must hold one dict per epoch")
        keys = {k for row in history for k in row}
        history = {k: [row.get(k, np.nan) for row in history] for k in keys}
    out = {}
    for key, names in _SERIES_NAMES.items():
        for name in names:
            values = history.get(name) if isinstance(history, dict) else getattr(history, name, None)
            if values is not None and len(values) > 0:
                out[key] = np.asarray(values, dtype=np.float64)
                break
    if "train_loss" not in out and "val_loss" not in out:
        raise ValueError(
            "history_series: found no loss series; expected attributes or keys such as "
            "train_loss / val_loss / train_acc / val_acc"
        )
    return out


def plot_history(history, title: str | None = None) -> Figure:
    """Loss (and accuracy, when recorded) per epoch, training vs validation.

    history: coursekit.train.History, a dict of lists, or a list of per-epoch dicts.
    Axes: [loss] or [loss, accuracy]; lines labelled "train" and "validation".
    """
    series = history_series(history)
    has_acc = "train_acc" in series or "val_acc" in series
    fig = Figure(figsize=(7.0 if has_acc else 5.0, 3.2), layout="constrained")
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    panels = [("loss", "train_loss", "val_loss")]
    if has_acc:
        panels.append(("accuracy", "train_acc", "val_acc"))
    for ax, (what, train_key, val_key) in zip(axes, panels):
        for key, label, style in ((train_key, "train", "-"), (val_key, "validation", "--")):
            if key in series:
                y = series[key]
                ax.plot(np.arange(1, len(y) + 1), y, style, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(what)
        ax.set_title(f"{what}: train vs validation")
        ax.legend(fontsize=9)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig
