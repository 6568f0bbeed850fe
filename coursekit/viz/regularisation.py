"""Figures of chapter 9 (regularisation and preprocessing).

The numbers come from coursekit.experiments.regularisation and
coursekit.preprocessing; every function only draws.  Sized for the book's column
(about 6.5 in wide, at most three panels per row, text of at least 9 pt).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..experiments.regularisation import GDRun

_FONT = 9


def _blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _box(ax, xy, text, colour="#fef3e0"):
    return ax.text(*xy, text, ha="center", va="center", fontsize=_FONT,
                   bbox=dict(boxstyle="round,pad=0.35", fc=colour, ec="0.3"))


def _connect(ax, a, b, colour="0.35", rad=0.0) -> None:
    """An arrow from text box a to text box b, clipped at both boxes."""
    ax.annotate("", xy=b.get_position(), xytext=a.get_position(),
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.0, shrinkA=1, shrinkB=1,
                                patchA=a.get_bbox_patch(), patchB=b.get_bbox_patch(),
                                connectionstyle=f"arc3,rad={rad}"))


def plot_penalty_graph(data_grad: float, penalty_grad: float, lam: float) -> Figure:
    """The graph of a cost with weight decay, seen from one weight w.

    Forward (grey, straight): w feeds the prediction and the loss, and separately the
    penalty R = sum w^2, scaled by lam; both meet in J.  Backward (red, curved): the
    gradient that reaches w along each path, data_grad and penalty_grad = 2 lam w;
    the box of w shows their sum.
    """
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(-0.6, 5.3)
    ax.set_ylim(-0.55, 1.75)
    ax.set_axis_off()
    box = {
        "w": _box(ax, (0.0, 0.5), f"w\ngrad {data_grad + penalty_grad:.3g}", "#e8f0fe"),
        "x": _box(ax, (0.0, 1.45), "x (data)", "#e8f0fe"),
        "s": _box(ax, (1.6, 1.15), "prediction\ns = w x + ..."),
        "loss": _box(ax, (3.1, 1.15), "loss l(s, y)"),
        "R": _box(ax, (1.6, -0.15), "penalty\nR = sum w^2"),
        "lamR": _box(ax, (3.1, -0.15), f"lambda R\n(lambda = {lam:g})"),
        "J": _box(ax, (4.6, 0.5), "J = l + lambda R"),
    }
    fig.canvas.draw()  # the boxes need their size before arrows are clipped at them
    for a, b in (("x", "s"), ("w", "s"), ("s", "loss"), ("loss", "J"), ("w", "R"), ("R", "lamR"),
                 ("lamR", "J")):
        _connect(ax, box[a], box[b])
    _connect(ax, box["s"], box["w"], colour="tab:red", rad=-0.3)
    _connect(ax, box["R"], box["w"], colour="tab:red", rad=0.3)
    ax.text(1.25, 0.72, f"data path: {data_grad:.3g}", color="tab:red", fontsize=_FONT,
            ha="left", va="center")
    ax.text(1.25, 0.3, f"penalty path: 2 lambda w = {penalty_grad:.3g}", color="tab:red",
            fontsize=_FONT, ha="left", va="center")
    return fig


def plot_coefficients(w_true, fits: dict, title: str = "") -> Figure:
    """Each coefficient w_j against its index j: the true weights and one marker series per fit.

    w_true: (D,); fits: name -> (D,) weights.  One axis; exact zeros of a fit are drawn
    hollow, so a sparse solution is visible at a glance.
    """
    w_true = np.asarray(w_true, dtype=np.float64)
    j = np.arange(len(w_true))
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.bar(j, w_true, color="0.8", label="true weights")
    markers = ["o", "s", "^", "D"]
    for k, (name, w) in enumerate(fits.items()):
        w = np.asarray(w, dtype=np.float64)
        zero = w == 0
        colour = f"C{k}"
        ax.plot(j[~zero], w[~zero], markers[k % 4], color=colour, ms=4, label=f"{name}: {np.sum(zero)} exact zeros")
        ax.plot(j[zero], w[zero], markers[k % 4], mfc="none", color=colour, ms=4)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("feature j", fontsize=_FONT)
    ax.set_ylabel("weight w_j", fontsize=_FONT)
    ax.tick_params(labelsize=_FONT)
    ax.legend(fontsize=_FONT)
    if title:
        ax.set_title(title, fontsize=_FONT + 1)
    return fig


def _quadratic_contours(ax, run: GDRun, half_width: np.ndarray) -> None:
    """Contours of J(w) - J(w*) = (1/2)(w - w*)^T H (w - w*) around w*."""
    c = run.w_star
    xs = np.linspace(c[0] - half_width[0], c[0] + half_width[0], 200)
    ys = np.linspace(c[1] - half_width[1], c[1] + half_width[1], 200)
    XX, YY = np.meshgrid(xs, ys)
    D = np.stack([XX - c[0], YY - c[1]], axis=-1)
    gap = 0.5 * np.einsum("...i,ij,...j->...", D, run.hessian, D)
    ax.contour(XX, YY, gap + 1e-12, levels=np.geomspace(gap.max() * 1e-4, gap.max(), 12),
               cmap="viridis", linewidths=0.7)


def plot_gd_paths(runs: dict, title: str = "") -> Figure:
    """Gradient-descent paths on the contours of a 2-D least-squares cost, one panel per run.

    runs: name -> GDRun with 2 weights (at most three).  Each panel shows the path from
    w = 0 to w*, on equal axes, with kappa and the number of steps in its title.
    """
    if not 1 <= len(runs) <= 3 or any(r.path.shape[1] != 2 for r in runs.values()):
        raise ValueError("plot_gd_paths: give one to three runs with two weights each")
    fig = Figure(figsize=(6.6, 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(runs)))
    for ax, (name, run) in zip(axes, runs.items()):
        points = np.vstack([run.path, run.w_star, np.zeros(2)])
        half = 1.15 * np.max(np.abs(points - run.w_star), axis=0) + 1e-9
        half[:] = half.max()  # equal axes: a narrow valley looks narrow
        _quadratic_contours(ax, run, half)
        ax.plot(run.path[:, 0], run.path[:, 1], ".-", color="tab:red", ms=2, lw=0.8)
        ax.plot(*run.w_star, "k*", ms=9)
        ax.set_aspect("equal")
        steps = run.steps if run.steps is not None else f"more than {len(run.path) - 1}"
        ax.set_title(f"{name}\nkappa = {run.kappa:.3g}, steps: {steps}", fontsize=_FONT)
        ax.set_xlabel("w1", fontsize=_FONT)
        ax.tick_params(labelsize=_FONT - 1)
    axes[0].set_ylabel("w2", fontsize=_FONT)
    if title:
        fig.suptitle(title, fontsize=_FONT + 1)
    return fig


def _tile(img: np.ndarray) -> np.ndarray:
    """An image on its own grey scale in [0, 1]: 0 maps to black for a non-negative
    image and to mid-grey for an image with negative pixels (symmetric about 0)."""
    lim = float(np.abs(img).max()) or 1.0
    return img / lim if img.min() >= 0 else (img / lim + 1) / 2


def image_mosaic(images, image_shape=(8, 8), gap: int = 1) -> np.ndarray:
    """Images side by side, each on its own grey scale, separated by ``gap`` white columns.

    images: (n, H*W) -> (H, n*W + (n-1)*gap) with values in [0, 1].
    """
    h, w = image_shape
    tiles = [_tile(np.asarray(img, dtype=np.float64).reshape(h, w)) for img in images]
    row = np.ones((h, len(tiles) * (w + gap) - gap))
    for c, tile in enumerate(tiles):
        row[:, c * (w + gap): c * (w + gap) + w] = tile
    return row


def plot_image_rows(rows: dict, image_shape=(8, 8), captions: dict | None = None,
                    title: str = "") -> Figure:
    """A grid of images: one row per entry of ``rows`` (label -> (n, H*W)), side by side.

    Each image gets its own grey scale (symmetric about 0, mid-grey, when it has
    negative pixels, as whitened images do), white = large, black = small.
    captions: label -> n short strings written above that row's images.
    One axis per row, whose image is image_mosaic(rows[label]).
    """
    labels = list(rows)
    h, w = image_shape
    height = 0.8 * len(labels) + 0.3 + (0.2 * len(captions) if captions else 0.0)
    fig = Figure(figsize=(6.4, height), layout="constrained")
    axes = fig.subplots(len(labels), 1, squeeze=False)[:, 0]
    for ax, label in zip(axes, labels):
        ax.imshow(image_mosaic(rows[label], image_shape), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        _blank(ax)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, fontsize=_FONT, rotation=0, ha="right", va="center")
        if captions and label in captions:
            for c, text in enumerate(captions[label]):
                ax.text(c * (w + 1) + (w - 1) / 2, -0.8, text, ha="center", va="bottom",
                        fontsize=_FONT - 1)
    if title:
        fig.suptitle(title, fontsize=_FONT + 1)
    return fig


def plot_whitening_spectrum(eigenvalues, output_variances: dict) -> Figure:
    """Variance of each whitened principal direction against the original variance lambda_i.

    eigenvalues: (D,) lambda_i; output_variances: eps -> (D,) measured variances of the
    whitened data along u_i.  Lines: the predicted lambda / (lambda + eps); markers: measured.
    Directions without variance (lambda_i <= 1e-12 lambda_max, constant features) cannot
    be drawn on the log axis and are left out.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    keep = lam > 1e-12 * lam.max()
    lam = lam[keep]
    output_variances = {eps: np.asarray(var)[keep] for eps, var in output_variances.items()}
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    grid = np.geomspace(lam.min() / 3, lam.max() * 3, 200)
    for k, (eps, var) in enumerate(output_variances.items()):
        ax.plot(grid, grid / (grid + eps), color=f"C{k}", lw=1, label=f"eps = {eps:g}: lambda / (lambda + eps)")
        ax.plot(lam, var, "o", color=f"C{k}", ms=3)
    ax.set_xscale("log")
    ax.set_xlabel("variance lambda_i of principal direction i (before)", fontsize=_FONT)
    ax.set_ylabel("variance after whitening", fontsize=_FONT)
    ax.axhline(1, color="0.5", lw=0.6, ls="--")
    ax.tick_params(labelsize=_FONT)
    ax.legend(fontsize=_FONT)
    return fig


def plot_early_stopping(history, best_epoch: int, train_label: str = "train") -> Figure:
    """Loss and accuracy per epoch (training vs validation) with the kept epoch marked.

    history: a coursekit.train.History with validation series; best_epoch: 1-based.
    Axes: [loss, accuracy].
    """
    epochs = np.arange(1, len(history.train_loss) + 1)
    fig = Figure(figsize=(6.6, 3.0), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, what, tr, va in ((axes[0], "loss", history.train_loss, history.val_loss),
                             (axes[1], "accuracy", history.train_acc, history.val_acc)):
        ax.plot(epochs, tr, label=train_label)
        ax.plot(epochs, va, label="validation")
        ax.axvline(best_epoch, color="k", lw=0.8, ls="--", label=f"kept: epoch {best_epoch}")
        ax.set_xlabel("epoch", fontsize=_FONT)
        ax.set_ylabel(what, fontsize=_FONT)
        ax.tick_params(labelsize=_FONT)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=_FONT)
    return fig


def plot_runs(histories: dict, series=("train_acc", "val_acc"), labels=("train", "validation")) -> Figure:
    """One panel per series (e.g. training and validation accuracy), one line per run.

    histories: name -> coursekit.train.History.
    """
    fig = Figure(figsize=(6.6, 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(series), sharey=True))
    for ax, key, label in zip(axes, series, labels):
        for k, (name, h) in enumerate(histories.items()):
            values = getattr(h, key)
            ax.plot(np.arange(1, len(values) + 1), values, color=f"C{k}", label=name)
        ax.set_title(label, fontsize=_FONT)
        ax.set_xlabel("epoch", fontsize=_FONT)
        ax.tick_params(labelsize=_FONT)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy", fontsize=_FONT)
    axes[-1].legend(fontsize=_FONT)
    return fig


def plot_grouped_bars(groups, values: dict, ylabel: str = "accuracy") -> Figure:
    """Bars for several conditions (groups) and models: values maps model -> (len(groups),)."""
    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(groups))
    width = 0.8 / len(values)
    for k, (name, v) in enumerate(values.items()):
        bars = ax.bar(x + (k - (len(values) - 1) / 2) * width, v, width, label=name, color=f"C{k}")
        ax.bar_label(bars, fmt="%.2f", fontsize=_FONT - 1)
    ax.set_xticks(x, groups, fontsize=_FONT)
    ax.set_ylabel(ylabel, fontsize=_FONT)
    ax.set_ylim(0, 1.1)
    ax.tick_params(labelsize=_FONT)
    ax.legend(fontsize=_FONT, loc="upper right")
    return fig


def plot_attack_accuracy(eps_values, curves: dict, chance: float | None = 0.1) -> Figure:
    """Accuracy against the perturbation size eps: one line per (model, attack).

    curves: name -> (len(eps_values),) accuracies.
    """
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    styles = ["o-", "s--", "^-", "D:"]
    for k, (name, acc) in enumerate(curves.items()):
        ax.plot(eps_values, acc, styles[k % 4], ms=4, label=name)
    if chance is not None:
        ax.axhline(chance, color="0.5", lw=0.8, ls=":", label="chance")
    ax.set_xlabel("eps (largest change of any pixel; pixels lie in [0, 1])", fontsize=_FONT)
    ax.set_ylabel("test accuracy", fontsize=_FONT)
    ax.set_ylim(-0.02, 1.02)
    ax.tick_params(labelsize=_FONT)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=_FONT)
    return fig
