"""Autoencoder figures (chapter 10): training curves, 2-D codes, reconstructions side by side.

The numbers come from coursekit.experiments.autoencoders and coursekit.pca.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..experiments.autoencoders import AutoencoderHistory
from ._style import CLASS_COLOURS
from .pca import _blank, _image_shape


def plot_autoencoder_training(history: AutoencoderHistory, reference: float | None = None,
                              excess: bool = False, reference_name: str = "reference",
                              tracked_label: str = "", title: str = "") -> Figure:
    """Left: the reconstruction error per recorded epoch (training, and validation if any),
    with a dashed line at ``reference`` (e.g. PCA's distortion, reference_name="PCA").  With excess=True the
    left panel shows error - reference on a log scale instead (how far above PCA),
    which must then be positive.  Right, when the history tracked a quantity: that
    quantity on a log scale (e.g. a principal angle).  Axes: [error] or [error, tracked].
    """
    tracked = np.asarray(history.tracked, dtype=np.float64)
    curves = {"training": np.asarray(history.train_error, dtype=np.float64)}
    if history.val_error:
        curves["validation"] = np.asarray(history.val_error, dtype=np.float64)
    if excess:
        if reference is None:
            raise ValueError("plot_autoencoder_training: excess=True needs a reference")
        curves = {name: c - reference for name, c in curves.items()}
        if any(np.any(c <= 0) for c in curves.values()):
            raise ValueError("plot_autoencoder_training: excess=True needs errors above the "
                             f"reference {reference}; plot with excess=False")
    panels = 2 if tracked.size else 1
    fig = Figure(figsize=(3.6 * panels, 3.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, panels))
    ax = axes[0]
    for name, c in curves.items():
        ax.plot(history.epochs, c, label=name)
    if excess:
        ax.set_yscale("log")
        ax.set_ylabel(f"J minus {reference_name}")
    else:
        if reference is not None:
            ax.axhline(reference, color="k", ls="--", lw=1, label=reference_name)
        ax.set_ylabel("reconstruction error J")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    if panels == 2:
        axes[1].semilogy(history.epochs, tracked, color="tab:red")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel(tracked_label or "tracked")
        axes[1].grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_codes(codes: dict, y, title: str = "") -> Figure:
    """Scatter plots of 2-D codes, one panel per entry of ``codes`` (at most three).

    codes: name -> Z: (N, 2), the codes of the same N examples; y: (N,) integer labels
    (one colour per class).  Each class's points form one collection labelled "class c";
    the first panel carries the legend.
    """
    if not 1 <= len(codes) <= 3:
        raise ValueError(f"plot_codes: expected 1 to 3 sets of codes, got {len(codes)}")
    y = np.asarray(y)
    for name, Z in codes.items():
        if np.shape(Z) != (len(y), 2):
            raise ValueError(f"plot_codes: codes {name!r} must have shape ({len(y)}, 2), got {np.shape(Z)}")
    fig = Figure(figsize=(3.5 * len(codes), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(codes)))
    for ax, (name, Z) in zip(axes, codes.items()):
        Z = np.asarray(Z)
        for c in np.unique(y):
            ax.scatter(Z[y == c, 0], Z[y == c, 1], s=5, color=CLASS_COLOURS[int(c) % len(CLASS_COLOURS)],
                       label=f"class {c}")
            centre = np.median(Z[y == c], axis=0)
            ax.annotate(str(c), centre, fontsize=11, weight="bold", ha="center", va="center")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_reconstruction_rows(X, reconstructions: dict, n_examples: int = 8, image_shape=None,
                             title: str = "") -> Figure:
    """Row 0: the first ``n_examples`` images of X; then one row per entry of
    ``reconstructions`` (name -> Xhat: (N, D), the same examples reconstructed),
    labelled with its name.  Axes: (1 + len(reconstructions)) x n_examples images.
    """
    X = np.asarray(X, dtype=np.float64)
    shape = _image_shape(X.shape[1], image_shape, "plot_reconstruction_rows")
    rows = [("original", X)] + list(reconstructions.items())
    for name, Xhat in rows[1:]:
        if np.shape(Xhat)[1:] != X.shape[1:] or len(Xhat) < n_examples:
            raise ValueError(f"plot_reconstruction_rows: {name!r} must have shape (>= {n_examples}, "
                             f"{X.shape[1]}), got {np.shape(Xhat)}")
    fig = Figure(figsize=(0.7 * n_examples + 1.2, 0.75 * len(rows) + 0.3), layout="constrained")
    axes = fig.subplots(len(rows), n_examples, squeeze=False)
    lo, hi = X.min(), X.max()
    for r, (name, images) in enumerate(rows):
        for c in range(n_examples):
            axes[r, c].imshow(np.asarray(images[c]).reshape(shape), cmap="gray_r", vmin=lo, vmax=hi)
            _blank(axes[r, c])
        axes[r, 0].set_ylabel(name, fontsize=9, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
