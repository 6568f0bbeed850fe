"""PCA figures (chapter 10): projection and spectrum, explained variance, eigen-images,
reconstructions from M components.  The numbers come from coursekit.pca."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import pca as _pca
from ._style import CLASS_COLOURS


def _image_shape(d: int, image_shape, where: str) -> tuple:
    """image_shape, or a square (side, side) with side^2 = d."""
    if image_shape is None:
        side = int(round(np.sqrt(d)))
        if side * side != d:
            raise ValueError(f"{where}: D = {d} is not square; pass image_shape")
        return (side, side)
    if int(np.prod(image_shape)) != d:
        raise ValueError(f"{where}: image_shape {image_shape} does not hold D = {d} values")
    return tuple(image_shape)


def _blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_pca_projection(X, y=None, result: _pca.PCAResult | None = None,
                        title: str = "PCA") -> Figure:
    """Left: the data projected on the first two principal components, one colour per class.
    Right: the eigenvalues lambda_i and the distortion sum_{i>k} lambda_i for each k.

    X: (N, D), y: (N,) int labels or None.  Axes: [projection, spectrum].
    """
    X = np.asarray(X, dtype=np.float64)
    if result is None:
        result = _pca.pca(X, min(X.shape[1], max(2, min(X.shape) - 1)))
    Z = _pca.project(X, _pca.truncate(result, 2))
    fig = Figure(figsize=(7.2, 3.6), layout="constrained")
    ax, ax_spec = fig.subplots(1, 2)
    if y is None:
        ax.scatter(Z[:, 0], Z[:, 1], s=6, label="data")
    else:
        y = np.asarray(y)
        for c in np.unique(y):
            ax.scatter(Z[y == c, 0], Z[y == c, 1], s=6, color=CLASS_COLOURS[int(c) % len(CLASS_COLOURS)],
                       label=f"class {c}")
    ax.set_xlabel("z1 = u1 . (x - mean)")
    ax.set_ylabel("z2 = u2 . (x - mean)")
    ax.set_title(f"{title}: first two components", fontsize=10)
    ax.legend(fontsize=9, markerscale=2, ncol=2, handletextpad=0.1, columnspacing=0.5)
    k = np.arange(1, len(result.eigenvalues) + 1)
    ax_spec.bar(k, result.eigenvalues, color="tab:blue", label="eigenvalue lambda_k")
    ax_spec.plot(k, result.total_variance - np.cumsum(result.eigenvalues), "o-", color="tab:red",
                 markersize=3, label="distortion, sum over i > k")
    ax_spec.set_xlabel("k (number of components)")
    ax_spec.set_ylabel("variance")
    ax_spec.set_title("eigenvalues and distortion", fontsize=10)
    ax_spec.legend(fontsize=9)
    return fig


def plot_explained_variance(spectra: dict, marks=(0.9, 0.95), title: str = "") -> Figure:
    """Cumulative explained variance sum_{i<=M} lambda_i / sum_i lambda_i against M.

    spectra: name -> all D eigenvalues of one data set (decreasing), e.g.
    pca(X, D).eigenvalues.  Horizontal lines at the fractions in ``marks``.
    One axis; one line per data set (line data = the cumulative fractions).
    """
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    for name, lam in spectra.items():
        lam = np.asarray(lam, dtype=np.float64)
        ax.plot(np.arange(1, len(lam) + 1), np.cumsum(lam) / lam.sum(), label=name)
    for q in marks:
        ax.axhline(q, color="0.6", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("M (number of components)")
    ax.set_ylabel("fraction of the variance kept")
    ax.set_ylim(0, 1.02)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def plot_eigenimages(result: _pca.PCAResult, n: int = 5, image_shape=None,
                     title: str = "") -> Figure:
    """The mean image and the first n components u_1..u_n as images, eigenvalues in the titles.

    result: a PCAResult fitted on images of D = prod(image_shape) pixels.  Axes: 1 + n
    images in one row; the components use a diverging map centred at 0 (their sign is
    arbitrary: -u_i is as good an eigenvector as u_i).
    """
    d = result.mean.shape[0]
    shape = _image_shape(d, image_shape, "plot_eigenimages")
    n = min(int(n), result.components.shape[0])
    fig = Figure(figsize=(1.3 * (1 + n), 1.75), layout="constrained")
    axes = fig.subplots(1, 1 + n, squeeze=False)[0]
    axes[0].imshow(result.mean.reshape(shape), cmap="gray_r")
    axes[0].set_title("mean", fontsize=9)
    for i in range(n):
        u = result.components[i]
        lim = np.abs(u).max()
        axes[1 + i].imshow(u.reshape(shape), cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[1 + i].set_title(f"u{i + 1}: {result.eigenvalues[i]:.3g}", fontsize=9)
    for ax in axes:
        _blank(ax)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_pca_reconstructions(X, ks=(1, 2, 5, 10, 20), n_examples: int = 5, image_shape=None,
                             title: str = "PCA reconstructions") -> Figure:
    """Originals (first column) and their reconstructions from k components (other columns).

    X: (N, D) with D = prod(image_shape) (default: a square image).  Row r shows
    example X[r]; column k shows mean + U_k U_k^T (x - mean) with the first k components
    of one PCA fitted on X.  Axes: n_examples x (1 + len(ks)) images.
    """
    X = np.asarray(X, dtype=np.float64)
    shape = _image_shape(X.shape[1], image_shape, "plot_pca_reconstructions")
    ks = [int(k) for k in ks]
    full = _pca.pca(X, max(ks))
    examples = X[:n_examples]
    fig = Figure(figsize=(0.95 * (1 + len(ks)), 0.95 * len(examples) + 0.45), layout="constrained")
    axes = fig.subplots(len(examples), 1 + len(ks), squeeze=False)
    columns = [("original", examples)]
    for k in ks:
        part = _pca.truncate(full, k)
        columns.append((f"k = {k}", _pca.reconstruct(_pca.project(examples, part), part)))
    lo, hi = X.min(), X.max()
    for col, (name, images) in enumerate(columns):
        for row in range(len(examples)):
            ax = axes[row, col]
            ax.imshow(images[row].reshape(shape), cmap="gray_r", vmin=lo, vmax=hi)
            _blank(ax)
            if row == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig
