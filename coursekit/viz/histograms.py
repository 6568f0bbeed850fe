"""Deep networks layer by layer: activation histograms, gradient flow, the network-health view.

The numbers come from coursekit.experiments.deep_networks (deep_network_run,
layer_statistics).  Used by chapter 6 and the initialisation explorer.

The figures are sized for the book's column (7 in, about 690 px at 100 dpi) with
text of at least 9 pt.  All layers' histograms share one panel, a *ridgeline*:
the histogram of layer l stands on the horizontal line y = l, layer 1 at the top,
so a network of 20 layers is as readable as one of 3.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..experiments.deep_networks import DeepNetRun, layer_statistics
from ._style import common_edges

RIDGE_HEIGHT = 0.9  # a histogram's tallest bar, in units of the distance between layers


def ridge_baseline(layer: int, depth: int) -> int:
    """The y on which layer ``layer`` (1-based) stands in a ridgeline: layer 1 on top."""
    return depth - layer


def _ridgeline(ax, arrays, bins: int, quantity: str, colour: str, limits=None):
    """All layers' histograms in one panel, on shared bins (``limits`` or the overall range).

    Layer l is a filled StepPatch labelled "layer l" on the baseline
    ridge_baseline(l, L), its counts scaled so that the tallest bar is RIDGE_HEIGHT:
    the shape of each distribution is what matters, not its count.
    """
    depth = len(arrays)
    edges = common_edges(arrays, bins, limits)
    for l, a in enumerate(arrays, start=1):
        counts, _ = np.histogram(np.ravel(a), bins=edges)
        base = ridge_baseline(l, depth)
        heights = RIDGE_HEIGHT * counts / max(counts.max(), 1)
        ax.stairs(base + heights, edges, baseline=base, fill=True, color=colour,
                  alpha=0.75, label=f"layer {l}")
        ax.axhline(base, color="0.75", linewidth=0.5)
    step = max(1, int(np.ceil(depth / 10)))  # at most about 10 tick labels
    shown = list(range(1, depth + 1, step))
    ax.set_yticks([ridge_baseline(l, depth) for l in shown], [f"layer {l}" for l in shown])
    ax.set_ylim(-0.2, depth)
    ax.set_xlabel(quantity)
    ax.set_title(f"histograms of {quantity}, per layer")


def _line_panel(ax, values, title: str, ylabel: str, colour: str, log: bool = False):
    layers_idx = np.arange(1, len(values) + 1)
    ax.plot(layers_idx, values, "o-", color=colour, markersize=4)
    ax.set_title(title)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    _value_axis(ax, np.asarray(values), log)


def _value_axis(ax, values: np.ndarray, log: bool):
    """Log scale for values spanning more than a factor 10; otherwise plain
    3-digit tick labels (no '1e-5' multiplier floating over the title)."""
    if log and np.all(values > 0) and values.max() > 10 * values.min():
        ax.set_yscale("log")
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))


def _two_lines_and_ridge(figsize=(7.0, 4.4)):
    """A figure with two small panels on the left and one tall panel on the right."""
    fig = Figure(figsize=figsize, layout="constrained")
    gs = fig.add_gridspec(2, 2, width_ratios=[1, 1.3])
    return fig, fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[1, 0]), gs[:, 1]


def plot_activation_histograms(activations, bins: int = 40, title: str | None = None,
                               limits=None) -> Figure:
    """Per-layer activation histograms, with the mean and std of each layer.

    activations: list of arrays, one per layer (e.g. DeepNetRun.activations).
    Left: layer mean and layer std (the numbers of ``layer_statistics``); right: the
    histogram of every layer in one ridgeline panel, on shared bins.
    Axes: [mean, std, histograms].
    """
    stats = layer_statistics(activations)
    fig, ax_mean, ax_std, right = _two_lines_and_ridge()
    _line_panel(ax_mean, stats.mean, "layer mean", "mean of h", "tab:blue")
    _line_panel(ax_std, stats.std, "layer std", "std of h", "tab:red", log=True)
    _ridgeline(fig.add_subplot(right), activations, bins, "h", "tab:blue", limits)
    fig.suptitle(title or "Activations layer by layer")
    return fig


def plot_gradient_flow(grads, bins: int = 40, title: str | None = None,
                       quantity: str = "dJ/dW") -> Figure:
    """Per-layer gradient norms and histograms (how the gradient flows backwards).

    grads: list of arrays, one per layer (e.g. DeepNetRun.weight_grads).
    Left: bar chart of the norm ||g_l|| per layer (log scale when it spans more than
    a factor 10) and a line of the std per layer; right: every layer's histogram in
    one ridgeline panel.  Axes: [norm bars, std, histograms].
    """
    stats = layer_statistics(grads)
    depth = len(grads)
    fig, ax_norm, ax_std, right = _two_lines_and_ridge()
    ax_norm.bar(np.arange(1, depth + 1), stats.norm, color="tab:green")
    ax_norm.set_title(f"||{quantity}|| per layer")
    ax_norm.set_xlabel("layer")
    ax_norm.set_ylabel(f"||{quantity}||")
    ax_norm.xaxis.set_major_locator(MaxNLocator(integer=True))
    _value_axis(ax_norm, stats.norm, log=True)
    _line_panel(ax_std, stats.std, "gradient std per layer", f"std of {quantity}",
                "tab:purple", log=True)
    _ridgeline(fig.add_subplot(right), grads, bins, quantity, "tab:green")
    fig.suptitle(title or "Gradient flow layer by layer")
    return fig


def plot_network_health(run: DeepNetRun, bins: int = 30, title: str | None = None) -> Figure:
    """Activations (left column) and gradients (right column) of a DeepNetRun in one
    figure: the initialisation explorer's view.

    Rows: activation mean | std of dJ/dh; activation std | ||dJ/dW||;
    histograms of h | histograms of dJ/dh (ridgelines).
    Axes: [act mean, act std, act histograms, dJ/dh std, dJ/dW norm, dJ/dh histograms].
    """
    act, grad_h = layer_statistics(run.activations), layer_statistics(run.activation_grads)
    grad_w = layer_statistics(run.weight_grads)
    fig = Figure(figsize=(7.0, 7.4), layout="constrained")
    gs = fig.add_gridspec(3, 2, height_ratios=[1, 1, 2.1])
    _line_panel(fig.add_subplot(gs[0, 0]), act.mean, "activation mean", "mean of h", "tab:blue")
    _line_panel(fig.add_subplot(gs[1, 0]), act.std, "activation std", "std of h", "tab:red",
                log=True)
    _ridgeline(fig.add_subplot(gs[2, 0]), run.activations, bins, "h", "tab:blue")
    _line_panel(fig.add_subplot(gs[0, 1]), grad_h.std, "std of dJ/dh", "std of dJ/dh",
                "tab:purple", log=True)
    _line_panel(fig.add_subplot(gs[1, 1]), grad_w.norm, "||dJ/dW||", "||dJ/dW||",
                "tab:green", log=True)
    _ridgeline(fig.add_subplot(gs[2, 1]), run.activation_grads, bins, "dJ/dh", "tab:purple")
    c = run.config
    fig.suptitle(title or (f"{c.get('depth')} layers x {c.get('width')} {c.get('activation')} units, "
                           f"init {c.get('init')} x {c.get('scale'):g}"))
    return fig
