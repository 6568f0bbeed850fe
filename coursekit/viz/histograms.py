"""Deep networks layer by layer: activation histograms, gradient flow, the network-health view.

The numbers come from coursekit.experiments.deep_networks (deep_network_run,
layer_statistics).  Used by chapter 6 and the initialisation explorer.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..experiments.deep_networks import DeepNetRun, layer_statistics
from ._style import common_edges


def _histogram_row(fig, gs, row: int, arrays, bins: int, quantity: str, colour: str,
                   limits=None, log_count: bool = False):
    """One histogram per layer in row ``row`` of the grid spec; returns the axes."""
    edges = common_edges(arrays, bins, limits)
    axes = []
    for l, a in enumerate(arrays):
        ax = fig.add_subplot(gs[row, l], sharex=axes[0] if axes else None)
        counts, _ = np.histogram(np.ravel(a), bins=edges)
        ax.stairs(counts, edges, fill=True, color=colour)  # one artist per histogram: fast
        ax.set_title(f"layer {l + 1}", fontsize=9)
        ax.set_xlabel(quantity, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])  # counts differ by layer; the shape is what matters
        if log_count:
            ax.set_yscale("log")
        if l == 0:
            ax.set_ylabel("frequency", fontsize=8)
        axes.append(ax)
    return axes


def _line_panel(ax, values, title: str, ylabel: str, colour: str, log: bool = False):
    layers_idx = np.arange(1, len(values) + 1)
    ax.plot(layers_idx, values, "o-", color=colour)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_xticks(layers_idx)
    values = np.asarray(values)
    if log and np.all(values > 0) and values.max() > 10 * values.min():
        ax.set_yscale("log")


def _grid(depth: int, rows: int, height_per_row: float = 1.9):
    cols = max(depth, 2)
    # fixed spacing instead of constrained layout: with 20+ axes the layout solver
    # would take most of a redraw's time
    fig = Figure(figsize=(max(1.5 * cols, 8), height_per_row * rows + 0.6))
    gs = fig.add_gridspec(rows, cols, left=0.08, right=0.99, bottom=0.07, top=0.9,
                          wspace=0.35, hspace=0.75)
    return fig, gs, cols


def plot_activation_histograms(activations, bins: int = 40, title: str | None = None,
                               limits=None) -> Figure:
    """Per-layer activation histograms, with the mean and std of each layer.

    activations: list of arrays, one per layer (e.g. DeepNetRun.activations).
    Top row: layer mean and layer std (the numbers of ``layer_statistics``);
    bottom row: one histogram per layer on shared bins (``limits`` or the overall range).
    Axes: [mean, std, hist layer 1, ..., hist layer L].
    """
    stats = layer_statistics(activations)
    depth = len(activations)
    fig, gs, cols = _grid(depth, 2)
    half = cols // 2
    _line_panel(fig.add_subplot(gs[0, :half]), stats.mean, "layer mean", "mean of h", "tab:blue")
    _line_panel(fig.add_subplot(gs[0, half:]), stats.std, "layer std", "std of h", "tab:red")
    _histogram_row(fig, gs, 1, activations, bins, "h", "tab:blue", limits)
    fig.suptitle(title or "Activations layer by layer")
    return fig


def plot_gradient_flow(grads, bins: int = 40, title: str | None = None,
                       quantity: str = "dJ/dW") -> Figure:
    """Per-layer gradient norms and histograms (how the gradient flows backwards).

    grads: list of arrays, one per layer (e.g. DeepNetRun.weight_grads).
    Top row: bar chart of the norm ||g_l|| per layer (log scale when all positive)
    and a line of the std per layer; bottom row: one histogram per layer.
    Axes: [norm bars, std, hist layer 1, ..., hist layer L].
    """
    stats = layer_statistics(grads)
    depth = len(grads)
    fig, gs, cols = _grid(depth, 2)
    half = cols // 2
    ax = fig.add_subplot(gs[0, :half])
    ax.bar(np.arange(1, depth + 1), stats.norm, color="tab:green")
    ax.set_title(f"gradient norm ||{quantity}|| per layer", fontsize=10)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"||{quantity}||")
    ax.set_xticks(np.arange(1, depth + 1))
    if np.all(stats.norm > 0) and stats.norm.max() > 10 * stats.norm.min():
        ax.set_yscale("log")
    _line_panel(fig.add_subplot(gs[0, half:]), stats.std, "gradient std per layer",
                f"std of {quantity}", "tab:purple", log=True)
    _histogram_row(fig, gs, 1, grads, bins, quantity, "tab:green", log_count=False)
    fig.suptitle(title or "Gradient flow layer by layer")
    return fig


def plot_network_health(run: DeepNetRun, bins: int = 30, title: str | None = None) -> Figure:
    """Activations and gradients of a DeepNetRun in one figure (the init explorer's view).

    Rows: activation mean/std; activation histograms; dJ/dh std and dJ/dW norm;
    dJ/dh histograms.  Axes: [act mean, act std, L act hists,
    dJ/dh std, dJ/dW norm, L gradient hists].
    """
    depth = len(run.activations)
    act, grad_h = layer_statistics(run.activations), layer_statistics(run.activation_grads)
    grad_w = layer_statistics(run.weight_grads)
    fig, gs, cols = _grid(depth, 4, height_per_row=1.7)
    half = cols // 2
    _line_panel(fig.add_subplot(gs[0, :half]), act.mean, "activation mean", "mean of h", "tab:blue")
    _line_panel(fig.add_subplot(gs[0, half:]), act.std, "activation std", "std of h", "tab:red")
    _histogram_row(fig, gs, 1, run.activations, bins, "h", "tab:blue")
    _line_panel(fig.add_subplot(gs[2, :half]), grad_h.std, "std of dJ/dh", "std of dJ/dh",
                "tab:purple", log=True)
    _line_panel(fig.add_subplot(gs[2, half:]), grad_w.norm, "||dJ/dW||", "||dJ/dW||",
                "tab:green", log=True)
    _histogram_row(fig, gs, 3, run.activation_grads, bins, "dJ/dh", "tab:purple")
    c = run.config
    fig.suptitle(title or (f"{c.get('depth')} layers x {c.get('width')} {c.get('activation')} units, "
                           f"init {c.get('init')} x {c.get('scale'):g}"))
    return fig
