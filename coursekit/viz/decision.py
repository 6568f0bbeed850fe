"""Decision regions of a classifier over 2-D data (chapters 1 and 4).

The grid of predicted classes comes from coursekit.experiments.decision.decision_grid.
"""
from __future__ import annotations

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from ..experiments.decision import decision_grid
from ._style import CLASS_COLOURS


def plot_decision_boundary(predict, X, y, resolution: int = 150, title: str = "Decision regions",
                           ax=None) -> Figure:
    """Coloured decision regions of ``predict`` with the data points on top.

    X: (N, 2), y: (N,) int labels.  The regions are an image whose array is the
    ``labels`` of decision_grid; one scatter per class, labelled "class c".
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    xs, ys, grid = decision_grid(predict, X, resolution)
    classes = np.unique(np.concatenate([np.unique(y), np.unique(grid)])).astype(int)
    n_colours = max(int(classes.max()) + 1, 1)
    cmap = ListedColormap([CLASS_COLOURS[c % len(CLASS_COLOURS)] for c in range(n_colours)])
    norm = BoundaryNorm(np.arange(-0.5, n_colours + 0.5), n_colours)
    if ax is None:
        fig = Figure(figsize=(5.5, 4.8), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    ax.imshow(grid, origin="lower", extent=(xs[0], xs[-1], ys[0], ys[-1]), cmap=cmap, norm=norm,
              alpha=0.3, interpolation="nearest", aspect="auto")
    for c in np.unique(y).astype(int):
        pts = X[y == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=14, color=CLASS_COLOURS[c % len(CLASS_COLOURS)],
                   edgecolors="k", linewidths=0.3, label=f"class {c}")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    ax.legend(fontsize=9)
    return fig
