"""PCA figures: projection on two components, the spectrum, reconstructions (chapter 10)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import pca as _pca
from ._style import CLASS_COLOURS


def plot_pca_projection(X, y=None, result: _pca.PCAResult | None = None,
                        title: str = "PCA") -> Figure:
    """Left: the data projected on the first two principal components, one colour per class.
    Right: the eigenvalues lambda_i and the distortion sum_{i>k} lambda_i for each k.

    X: (N, D), y: (N,) int labels or None.  Axes: [projection, spectrum].
    """
    X = np.asarray(X, dtype=np.float64)
    if result is None:
        result = _pca.pca(X, min(X.shape[1], max(2, min(X.shape) - 1)))
    Z = _pca.project(X, _pca.PCAResult(result.components[:2], result.eigenvalues[:2],
                                       result.mean, result.total_variance))
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax, ax_spec = fig.subplots(1, 2)
    if y is None:
        ax.scatter(Z[:, 0], Z[:, 1], s=8, label="data")
    else:
        y = np.asarray(y)
        for c in np.unique(y):
            ax.scatter(Z[y == c, 0], Z[y == c, 1], s=8, color=CLASS_COLOURS[int(c) % len(CLASS_COLOURS)],
                       label=f"class {c}")
    ax.set_xlabel("z1 = u1 . (x - mean)")
    ax.set_ylabel("z2 = u2 . (x - mean)")
    ax.set_title(f"{title}: projection on the first two components")
    ax.legend(fontsize=7, markerscale=2, ncol=2)
    k = np.arange(1, len(result.eigenvalues) + 1)
    ax_spec.bar(k, result.eigenvalues, color="tab:blue", label="eigenvalue lambda_k")
    ax_spec.plot(k, result.total_variance - np.cumsum(result.eigenvalues), "o-", color="tab:red",
                 markersize=3, label="distortion: sum of lambda_i, i > k")
    ax_spec.set_xlabel("k (number of components)")
    ax_spec.set_ylabel("variance")
    ax_spec.set_title("eigenvalues and distortion")
    ax_spec.legend(fontsize=8)
    return fig


def plot_pca_reconstructions(X, ks=(1, 2, 5, 10, 20), n_examples: int = 5, image_shape=None,
                             title: str = "PCA reconstructions") -> Figure:
    """Originals (first column) and their reconstructions from k components (other columns).

    X: (N, D) with D = prod(image_shape) (default: a square image).  Row r shows
    example X[r]; column k shows mean + U_k U_k^T (x - mean) with the first k components
    of one PCA fitted on X.  Axes: n_examples x (1 + len(ks)) images.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    if image_shape is None:
        side = int(round(np.sqrt(d)))
        if side * side != d:
            raise ValueError(f"plot_pca_reconstructions: D = {d} is not square; pass image_shape")
        image_shape = (side, side)
    if int(np.prod(image_shape)) != d:
        raise ValueError(f"plot_pca_reconstructions: image_shape {image_shape} does not hold D = {d} values")
    ks = [int(k) for k in ks]
    full = _pca.pca(X, max(ks))
    examples = X[:n_examples]
    fig = Figure(figsize=(1.3 * (1 + len(ks)), 1.35 * len(examples) + 0.5), layout="constrained")
    axes = fig.subplots(len(examples), 1 + len(ks), squeeze=False)
    columns = [("original", examples)]
    for k in ks:
        part = _pca.PCAResult(full.components[:k], full.eigenvalues[:k], full.mean, full.total_variance)
        columns.append((f"k = {k}", _pca.reconstruct(_pca.project(examples, part), part)))
    lo, hi = X.min(), X.max()
    for col, (name, images) in enumerate(columns):
        for row in range(len(examples)):
            ax = axes[row, col]
            ax.imshow(images[row].reshape(image_shape), cmap="gray_r", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle(title)
    return fig
