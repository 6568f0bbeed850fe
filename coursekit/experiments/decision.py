"""A classifier's predicted class on a grid over 2-D data (the numbers behind a decision-region figure).

Used by chapters 1 and 4.
"""
from __future__ import annotations

import numpy as np


def _predict_labels(predict, points: np.ndarray) -> np.ndarray:
    """Class labels from a predict function (labels or scores) or a model with forward()."""
    if hasattr(predict, "forward") and not callable(getattr(predict, "predict", None)):
        out = predict.forward(points, train=False)
    elif callable(getattr(predict, "predict", None)):
        out = predict.predict(points)
    else:
        out = predict(points)
    out = np.asarray(out)
    if out.ndim == 2:
        return out.argmax(axis=1)
    if out.shape != (points.shape[0],):
        raise ValueError(
            f"decision_grid: predict must return labels (M,) or scores (M, C) for M = {points.shape[0]} "
            f"points, got shape {out.shape}"
        )
    return out.astype(int)


def decision_grid(predict, X, resolution: int = 150, margin: float = 0.5):
    """Predicted class on a grid covering the 2-D data X: (N, 2).

    predict: a function (M, 2) -> labels (M,) or scores (M, C), or a model with
    forward(x, train=False).  Returns (xs: (R,), ys: (R,), labels: (R, R)) with
    labels[i, j] the class at (xs[j], ys[i]).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_grid: X must have shape (N, 2), got {X.shape}")
    xs = np.linspace(X[:, 0].min() - margin, X[:, 0].max() + margin, resolution)
    ys = np.linspace(X[:, 1].min() - margin, X[:, 1].max() + margin, resolution)
    XX, YY = np.meshgrid(xs, ys)
    labels = _predict_labels(predict, np.column_stack([XX.ravel(), YY.ravel()]))
    return xs, ys, labels.reshape(XX.shape)
