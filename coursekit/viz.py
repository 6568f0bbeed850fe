"""Figures for the book: every function computes from data you can inspect and
returns a matplotlib ``Figure`` (it never calls ``plt.show()``).

Figures are made with ``matplotlib.figure.Figure`` directly, not through
``pyplot``: they are not registered with pyplot, so a notebook shows a returned
figure once (no duplicate from the inline backend), nothing needs closing, and
everything runs headless.

The numbers behind each figure come from a separate function (``layer_statistics``,
``deep_network_run``, ``run_trajectories``, ``decision_grid``, ``batchnorm_run``,
``graph_layout``, ``coursekit.pca.pca``), so the book can assert on the same numbers
it plots.

Contents
    deep networks     deep_network_run, layer_statistics, plot_activation_histograms,
                      plot_gradient_flow, plot_network_health
    training          plot_history
    optimisers        Surface, SURFACES, run_trajectories, plot_trajectories
    Jacobians         plot_jacobian
    classifiers       decision_grid, plot_decision_boundary
    PCA               plot_pca_projection, plot_pca_reconstructions
    autodiff graphs   graph_layout, graph_to_dot, draw_graph
    activations       activation_curves, plot_activation
    batch norm        batchnorm_run, plot_batchnorm
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import MaxNLocator

from . import functional as F
from . import init as initialisers
from . import layers as L
from . import optim
from . import pca as _pca
from ._rng import as_generator

CLASS_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
                 "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]

# name -> (layer class, functional forward, functional backward)
ACTIVATIONS = {
    "tanh": (L.Tanh, F.tanh_forward, F.tanh_backward),
    "sigmoid": (L.Sigmoid, F.sigmoid_forward, F.sigmoid_backward),
    "relu": (L.ReLU, F.relu_forward, F.relu_backward),
    "leaky_relu": (L.LeakyReLU, F.leaky_relu_forward, F.leaky_relu_backward),
    "elu": (L.ELU, F.elu_forward, F.elu_backward),
    "swish": (L.Swish, F.swish_forward, F.swish_backward),
}


def _activation_name(name: str, where: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"{where}: unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return name


# ============================================================================
# Deep networks: activations and gradients layer by layer
# ============================================================================
class LayerStats(NamedTuple):
    """Per-layer statistics of a list of arrays, each of shape (L,).

    mean[l] and std[l] are over every entry of array l; norm[l] is its Frobenius
    norm sqrt(sum of squares).
    """

    mean: np.ndarray
    std: np.ndarray
    norm: np.ndarray


def layer_statistics(arrays) -> LayerStats:
    """Mean, standard deviation and norm of each array in ``arrays`` (a list, one per layer)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    if not arrays:
        raise ValueError("layer_statistics: expected a non-empty list of arrays, one per layer")
    return LayerStats(np.array([a.mean() for a in arrays]),
                      np.array([a.std() for a in arrays]),
                      np.array([np.sqrt((a**2).sum()) for a in arrays]))


@dataclass
class DeepNetRun:
    """One forward and backward pass through a deep plain network.

    activations[l]:      h_l = f(W_l h_{l-1} + b_l), (N, width), l = 1..depth
    activation_grads[l]: dJ/dh_l, (N, width)
    weight_grads[l]:     dJ/dW_l, (width, fan_in)
    x: (N, width) the input; weights[l]: W_l; upstream: G = dJ/dh_depth, the random
    gradient sent into the last layer (so J = sum(G * h_depth))
    config:              the arguments of deep_network_run
    """

    activations: list
    activation_grads: list
    weight_grads: list
    x: np.ndarray
    weights: list
    upstream: np.ndarray
    config: dict = field(default_factory=dict)


def _scaled_initialiser(init, scale: float):
    """W for the experiment: "normal" draws N(0, scale^2); other schemes are multiplied by scale."""
    if init == "normal":
        return lambda shape, rng=None: initialisers.normal(shape, std=scale, rng=rng)
    base = initialisers.get(init)
    return lambda shape, rng=None: scale * base(shape, rng=rng)


def _flush_subnormals(a: np.ndarray) -> np.ndarray:
    """Set numbers below 2.2e-308 (subnormals) to 0.

    Saturated or vanishing layers produce them; they carry no information at this
    scale but make every later matrix product 10-100 times slower.
    """
    a[np.abs(a) < np.finfo(a.dtype).tiny] = 0.0
    return a


def deep_network_run(depth: int = 10, width: int = 500, activation: str = "tanh",
                     init: str = "normal", scale: float | None = None, n: int = 1000,
                     rng=0) -> DeepNetRun:
    """The lectures' initialisation experiment.

    Builds ``depth`` layers Linear(width, width) + activation (biases 0), feeds
    X ~ N(0, 1) of shape (n, width) forward, then sends a random upstream gradient
    G ~ N(0, 1) / n into the last layer and backpropagates it, recording every
    layer's activations and gradients.
    init: "normal" gives W ~ N(0, scale^2) (the lectures' 0.01 and 1.0 cases);
    any other name from coursekit.init ("xavier_normal", "he_normal", ...) draws
    that scheme and multiplies it by ``scale``.
    scale: None (the default) means each scheme as published: 0.01 for "normal"
    (the lecture's small random weights), 1.0 for every other scheme.
    """
    where = "deep_network_run"
    _activation_name(activation, where)
    if int(depth) < 1 or int(width) < 1 or int(n) < 1:
        raise ValueError(f"{where}: depth, width and n must be positive, got {depth}, {width}, {n}")
    gen = as_generator(rng)
    act_class = ACTIVATIONS[activation][0]
    if scale is None:
        scale = 0.01 if init == "normal" else 1.0
    draw = _scaled_initialiser(init, float(scale))
    layers = []
    for _ in range(int(depth)):
        layers += [L.Linear(width, width, init=draw, rng=gen), act_class()]
    x = x0 = gen.normal(size=(int(n), int(width)))

    activations = []
    for layer in layers:
        x = _flush_subnormals(layer.forward(x))
        if not isinstance(layer, L.Linear):
            activations.append(x)
    dy = upstream = gen.normal(size=x.shape) / x.shape[0]
    activation_grads, weight_grads = [], []
    for layer in reversed(layers):
        if not isinstance(layer, L.Linear):
            activation_grads.append(dy)
        dy = _flush_subnormals(layer.backward(dy))
        if isinstance(layer, L.Linear):
            weight_grads.append(layer.grads["W"])
    config = dict(depth=int(depth), width=int(width), activation=activation, init=init,
                  scale=float(scale), n=int(n))
    weights = [layer.params["W"] for layer in layers if isinstance(layer, L.Linear)]
    return DeepNetRun(activations, activation_grads[::-1], weight_grads[::-1], x0, weights,
                      upstream, config)


def _common_edges(arrays, bins: int, limits=None) -> np.ndarray:
    """Histogram bin edges shared by all layers, so shrinking or saturation is visible."""
    if limits is None:
        lo = min(float(np.min(a)) for a in arrays)
        hi = max(float(np.max(a)) for a in arrays)
    else:
        lo, hi = limits
    if not hi > lo:
        half = max(abs(lo), 1e-12)
        lo, hi = lo - half, hi + half
    return np.linspace(lo, hi, bins + 1)


def _histogram_row(fig, gs, row: int, arrays, bins: int, quantity: str, colour: str,
                   limits=None, log_count: bool = False):
    """One histogram per layer in row ``row`` of the grid spec; returns the axes."""
    edges = _common_edges(arrays, bins, limits)
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


# ============================================================================
# Training curves
# ============================================================================
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
    fig = Figure(figsize=(10 if has_acc else 5.5, 3.8), layout="constrained")
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
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


# ============================================================================
# Optimisers on 2-D surfaces
# ============================================================================
@dataclass(frozen=True)
class Surface:
    """A 2-D test function f(x, y) with its gradient.

    value(x, y) and gradient(x, y) -> (df/dx, df/dy) work element-wise on arrays
    (for contour grids); start is a default starting point, minimum the location of
    a minimum, xlim/ylim the plotting window, log_levels whether contours are log-spaced.
    """

    name: str
    value: Callable
    gradient: Callable
    start: tuple
    minimum: tuple
    xlim: tuple
    ylim: tuple
    formula: str
    log_levels: bool = False

    def f(self, w) -> float:
        """f at the point w = (x, y)."""
        return float(self.value(w[0], w[1]))

    def grad(self, w) -> np.ndarray:
        """The gradient at w = (x, y), shape (2,)."""
        gx, gy = self.gradient(w[0], w[1])
        return np.array([gx, gy], dtype=np.float64)


def _quadratic(x, y):
    return 0.5 * (x**2 + 20.0 * y**2)


def _quadratic_grad(x, y):
    return x, 20.0 * y


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100.0 * (y - x**2) ** 2


def _rosenbrock_grad(x, y):
    return -2 * (1 - x) - 400.0 * x * (y - x**2), 200.0 * (y - x**2)


def _saddle(x, y):
    return 0.5 * x**2 - 0.5 * y**2 + 0.25 * y**4


def _saddle_grad(x, y):
    return x, -y + y**3


def _softplus(z):
    return np.logaddexp(0.0, z)


def _cliff(x, y):
    # a smooth ramp of slope 10 between x = 1 and x = 2.5 (height 15) on a gentle bowl
    x = np.asarray(x)
    ramp = 10.0 * (_softplus(20.0 * (x - 1.0)) - _softplus(20.0 * (x - 2.5))) / 20.0
    return 0.05 * x**2 + 0.5 * y**2 + ramp


def _cliff_grad(x, y):
    x = np.asarray(x)
    return 0.1 * x + 10.0 * (F.sigmoid(20.0 * (x - 1.0)) - F.sigmoid(20.0 * (x - 2.5))), y


SURFACES = {
    "quadratic": Surface("ill-conditioned quadratic", _quadratic, _quadratic_grad,
                         start=(-4.5, 1.5), minimum=(0.0, 0.0), xlim=(-5, 5), ylim=(-2.5, 2.5),
                         formula="f = (x^2 + 20 y^2) / 2  (condition number 20)", log_levels=True),
    "rosenbrock": Surface("Rosenbrock", _rosenbrock, _rosenbrock_grad,
                          start=(-1.2, 1.0), minimum=(1.0, 1.0), xlim=(-2, 2), ylim=(-1, 3),
                          formula="f = (1 - x)^2 + 100 (y - x^2)^2", log_levels=True),
    "saddle": Surface("saddle", _saddle, _saddle_grad,
                      start=(2.0, 0.01), minimum=(0.0, 1.0), xlim=(-2.5, 2.5), ylim=(-1.8, 1.8),
                      formula="f = x^2/2 - y^2/2 + y^4/4  (saddle at 0, minima at (0, +-1))"),
    "cliff": Surface("cliff", _cliff, _cliff_grad,
                     start=(4.5, 1.0), minimum=(0.0, 0.0), xlim=(-6, 6), ylim=(-2, 2),
                     formula="f = x^2/20 + y^2/2 + a cliff of slope 10 on 1 < x < 2.5"),
}


def get_surface(surface) -> Surface:
    """A Surface, or the one named ``surface`` in SURFACES."""
    if isinstance(surface, Surface):
        return surface
    try:
        return SURFACES[surface]
    except (KeyError, TypeError):
        raise ValueError(f"unknown surface {surface!r}; choose one of {sorted(SURFACES)}") from None


RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def rule_hyperparameters(rule: str) -> dict:
    """The hyper-parameters (with defaults) that coursekit.optim's ``rule`` accepts."""
    update = _rule(rule)
    _, state = update(np.zeros(1), np.zeros(1), {})
    return {k: v for k, v in state.items() if k not in ("v", "r", "s", "t")}


def _rule(rule: str):
    if rule not in RULES:
        raise ValueError(f"unknown update rule {rule!r}; choose one of {list(RULES)}")
    return getattr(optim, f"{rule}_update")


class Trajectory(NamedTuple):
    """points: (T+1, 2) iterates w_0..w_T; values: (T+1,) f(w_t); diverged: stopped early."""

    points: np.ndarray
    values: np.ndarray
    diverged: bool


def run_trajectories(surface, rules, steps: int = 100, start=None, clip: float | None = None,
                     bound: float = 1e6) -> dict:
    """Run update rules of coursekit.optim from one start point on a surface.

    rules: a list of rule names (defaults of coursekit.optim), or a dict
    label -> hyper-parameters, e.g. {"sgd": {"lr": 0.05}, "adam": {"lr": 0.1}};
    a dict may name its rule with "rule" ({"sgd, small lr": {"rule": "sgd", "lr": 0.01}}).
    Hyper-parameters the rule does not take are ignored, so one dict of shared
    settings can be given to all rules.
    clip: if given, the gradient g is rescaled to norm ``clip`` when ||g|| > clip
    (gradient clipping, the cure for cliffs).
    A run stops early (diverged=True) when w leaves the ball of radius ``bound``
    or becomes NaN.  Returns {label: Trajectory}.
    """
    surf = get_surface(surface)
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, dict):
        rules = {name: {} for name in rules}
    w0 = np.asarray(surf.start if start is None else start, dtype=np.float64)
    if w0.shape != (2,):
        raise ValueError(f"run_trajectories: start must be a point (x, y), got shape {w0.shape}")
    out = {}
    for label, hyper in rules.items():
        hyper = dict(hyper or {})
        name = hyper.pop("rule", label)
        update = _rule(name)
        known = rule_hyperparameters(name)
        state = {k: v for k, v in hyper.items() if k in known}
        w, points, diverged = w0.copy(), [w0.copy()], False
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(int(steps)):
                g = surf.grad(w)
                if clip is not None:
                    norm = np.linalg.norm(g)
                    if norm > clip:
                        g = g * (clip / norm)
                w, state = update(w, g, state)
                if not np.all(np.isfinite(w)) or np.abs(w).max() > bound:
                    diverged = True
                    break
                points.append(w.copy())
            points = np.array(points)
            values = np.array([surf.f(p) for p in points])
        out[label] = Trajectory(points, values, diverged)
    return out


def surface_gap(surface, values) -> np.ndarray:
    """f(w_t) - f(w*), clipped below at 1e-16 so it can be drawn on a log scale."""
    surf = get_surface(surface)
    return np.maximum(np.asarray(values) - surf.f(surf.minimum), 1e-16)


def _draw_surface(ax, surf: Surface, resolution: int):
    """Contours of the surface (log-spaced levels of f - min f for the narrow valleys)."""
    xs = np.linspace(*surf.xlim, resolution)
    ys = np.linspace(*surf.ylim, resolution)
    XX, YY = np.meshgrid(xs, ys)
    Z = surf.value(XX, YY)
    if surf.log_levels:
        gap = Z - Z.min() + 1e-3
        levels = np.geomspace(gap.min(), gap.max(), 25)
        ax.contour(XX, YY, gap, levels=levels, cmap="viridis", linewidths=0.7)
    else:
        ax.contour(XX, YY, Z, levels=25, cmap="viridis", linewidths=0.7)
    ax.plot(*surf.minimum, marker="*", color="k", markersize=12, linestyle="none", label="minimum")
    ax.set_xlim(surf.xlim)
    ax.set_ylim(surf.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def plot_trajectories(surface, trajectories: dict, title: str | None = None,
                      resolution: int = 200, side_by_side: bool = False) -> Figure:
    """Trajectories on the contour plot of the surface, and f(w_t) - f(w*) per step.

    trajectories: {label: Trajectory} from run_trajectories.
    side_by_side=False: Axes [contours with one line per rule (x = points[:, 0],
    y = points[:, 1]), gap f - f* per step on a log scale].
    side_by_side=True: one contour panel per rule (titled with its label), then the
    gap panel: Axes [rule 1, ..., rule R, gap].
    """
    surf = get_surface(surface)
    labelled = []
    for label, traj in trajectories.items():
        labelled.append((label + (" (diverged)" if traj.diverged else ""), traj))
    if side_by_side and trajectories:
        n = len(trajectories)
        fig = Figure(figsize=(3.6 * n + 4.2, 3.8), layout="constrained")
        axes = list(fig.subplots(1, n + 1, gridspec_kw={"width_ratios": [1.2] * n + [1]}))
        path_axes, ax_loss = axes[:-1], axes[-1]
        for ax, (label, _) in zip(path_axes, labelled):
            _draw_surface(ax, surf, resolution)
            ax.set_title(label, fontsize=9)
    else:
        fig = Figure(figsize=(11, 4.5), layout="constrained")
        ax, ax_loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
        _draw_surface(ax, surf, resolution)
        ax.set_title(f"{surf.name}: {surf.formula}", fontsize=9)
        path_axes = [ax] * len(trajectories)
    for i, ((label, traj), ax) in enumerate(zip(labelled, path_axes)):
        colour = CLASS_COLOURS[i % len(CLASS_COLOURS)]
        ax.plot(traj.points[:, 0], traj.points[:, 1], ".-", color=colour, markersize=3,
                linewidth=1.2, label=label)
        ax.plot(*traj.points[0], "ko", markersize=5)
        ax_loss.plot(np.arange(len(traj.values)), surface_gap(surf, traj.values), color=colour,
                     label=label)
    for ax in set(path_axes) or {fig.axes[0]}:
        ax.legend(fontsize=8, loc="best")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step t")
    ax_loss.set_ylabel("f(w_t) - f(w*)")
    ax_loss.set_title("distance to the minimum value")
    if trajectories:
        ax_loss.legend(fontsize=8)
    ax_loss.grid(alpha=0.3)
    if side_by_side and trajectories:
        title = f"{surf.name}: {surf.formula}" + (f"; {title}" if title else "")
    if title:
        fig.suptitle(title)
    return fig


# ============================================================================
# Jacobians
# ============================================================================
def plot_jacobian(J, title: str = "Jacobian", output_name: str = "output",
                  input_name: str = "input", annotate: bool | None = None) -> Figure:
    """Heat map of a Jacobian J: (m, d), J[i, j] = d out_i / d in_j.

    Diverging colour map centred at 0 (colour limits -max|J|, +max|J|), rows are
    output indices, columns input indices; a colour bar shows the scale.  Small
    matrices (<= 12 x 12 by default) get their entries written in the cells.
    """
    J = np.asarray(J, dtype=np.float64)
    if J.ndim != 2:
        raise ValueError(f"plot_jacobian: J must be a 2-D array (m outputs, d inputs), got shape {J.shape}")
    m, d = J.shape
    limit = float(np.abs(J).max()) or 1.0
    fig = Figure(figsize=(min(2 + 0.5 * d, 10), min(1.5 + 0.45 * m, 9)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(J, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest", aspect="auto")
    fig.colorbar(image, ax=ax, label=f"d {output_name}_i / d {input_name}_j")
    ax.set_xlabel(f"{input_name} index j")
    ax.set_ylabel(f"{output_name} index i")
    ax.set_title(title)
    if annotate is None:
        annotate = m <= 12 and d <= 12
    if annotate:
        for i in range(m):
            for j in range(d):
                ax.text(j, i, f"{J[i, j]:.2g}", ha="center", va="center", fontsize=8,
                        color="white" if abs(J[i, j]) > 0.6 * limit else "black")
    if d <= 20:
        ax.set_xticks(range(d))
    if m <= 20:
        ax.set_yticks(range(m))
    return fig


# ============================================================================
# Decision boundaries
# ============================================================================
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
    from matplotlib.colors import BoundaryNorm, ListedColormap

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
    ax.legend(fontsize=8)
    return fig


# ============================================================================
# PCA
# ============================================================================
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


# ============================================================================
# Computational graphs (autodiff)
# ============================================================================
class GraphLayout(NamedTuple):
    """nodes: Values in topological order; edges: (parent index, child index, local derivative);
    positions: (len(nodes), 2) with x = topological depth, y = spread within a depth."""

    nodes: list
    edges: list
    positions: np.ndarray


def graph_layout(root) -> GraphLayout:
    """Layered layout of the graph ending at ``root`` (a coursekit.autodiff.Value).

    depth(leaf) = 0, depth(node) = 1 + max depth of its parents; nodes of one depth
    are spread evenly around y = 0 in topological order.
    """
    from .autodiff import topological_order

    nodes = topological_order(root)
    index = {id(v): i for i, v in enumerate(nodes)}
    depth = np.zeros(len(nodes), dtype=int)
    edges = []
    for i, v in enumerate(nodes):
        for parent, local in zip(v.parents, v.local_grads):
            depth[i] = max(depth[i], depth[index[id(parent)]] + 1)
            edges.append((index[id(parent)], i, local))
    positions = np.zeros((len(nodes), 2))
    for level in np.unique(depth):
        members = np.flatnonzero(depth == level)
        positions[members, 0] = level
        positions[members, 1] = (len(members) - 1) / 2 - np.arange(len(members))  # first on top
    return GraphLayout(nodes, edges, positions)


def _node_text(v, show_grad: bool) -> str:
    head = v.label or (v.op if v.op not in ("", "const") else "input")
    if v.label and v.op and v.op != "const":
        head = f"{v.label} = {v.op}"
    text = f"{head}\nvalue {v.data:.4g}"
    if show_grad:
        text += f"\ngrad {v.grad:.4g}"
    return text


def graph_to_dot(root, show_grad: bool = True, edge_labels: bool = True) -> str:
    """The graph as Graphviz DOT source (left to right; edges labelled with local derivatives)."""
    lay = graph_layout(root)
    lines = ["digraph G {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];']
    for i, v in enumerate(lay.nodes):
        label = _node_text(v, show_grad).replace('"', "'").replace("\n", "\\n")
        lines.append(f'  n{i} [label="{label}"];')
    for p, c, local in lay.edges:
        attr = f' [label="{local:.4g}"]' if edge_labels else ""
        lines.append(f"  n{p} -> n{c}{attr};")
    lines.append("}")
    return "\n".join(lines)


def graphviz_available() -> bool:
    """True when the python ``graphviz`` package and the ``dot`` program are both installed."""
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def draw_graph(root, backend: str = "auto", show_grad: bool = True, edge_labels: bool = True):
    """Draw the computational graph of ``root`` with each node's op, value and grad.

    backend: "graphviz" (a graphviz.Source, needs the graphviz package and the dot
    program), "matplotlib" (a Figure, always available), or "auto" (graphviz when
    installed, else matplotlib).  Edges point from inputs to outputs and carry the
    local derivative d(child)/d(parent); call root.backward() first to show grads.
    """
    if backend not in ("auto", "graphviz", "matplotlib"):
        raise ValueError(f"draw_graph: backend must be 'auto', 'graphviz' or 'matplotlib', got {backend!r}")
    if backend == "graphviz" or (backend == "auto" and graphviz_available()):
        if not graphviz_available():
            raise RuntimeError("draw_graph: backend='graphviz' needs `pip install graphviz` and the "
                               "Graphviz `dot` program; use backend='matplotlib' instead")
        import graphviz

        return graphviz.Source(graph_to_dot(root, show_grad, edge_labels))
    return _draw_graph_matplotlib(root, show_grad, edge_labels)


def _draw_graph_matplotlib(root, show_grad: bool, edge_labels: bool) -> Figure:
    lay = graph_layout(root)
    pos = lay.positions
    width = pos[:, 0].max() + 1
    height = np.ptp(pos[:, 1]) + 1 + 0.25 * width  # room for the bent edges
    fig = Figure(figsize=(max(2.6 * width, 4), max(1.4 * height, 2.5)), layout="constrained")
    ax = fig.subplots()
    sx, sy = 2.6, 1.4  # data units between layers / between nodes of one layer
    half_box = np.array([0.6, 0.4])  # about half a node box, in data units (1 unit ~ 1 inch)
    label_ys = [pos[:, 1] * sy]
    for p, c, local in lay.edges:
        start, end = pos[p] * (sx, sy), pos[c] * (sx, sy)
        # a quadratic Bezier curve in data coordinates; an edge that skips a layer
        # bends more, to pass around the nodes in between
        bend = 0.08 if pos[c, 0] - pos[p, 0] <= 1 else 0.3
        dx, dy = end - start
        control = 0.5 * (start + end) + bend * np.array([dy, -dx])
        t = np.linspace(0, 1, 60)[:, None]
        curve = (1 - t) ** 2 * start + 2 * t * (1 - t) * control + t**2 * end
        outside = np.all([np.any(np.abs(curve - q) > half_box, axis=1) for q in (start, end)], axis=0)
        curve = curve[outside]
        if len(curve) >= 2:
            ax.add_patch(FancyArrowPatch(path=MplPath(curve), arrowstyle="-|>", mutation_scale=12,
                                         color="0.35", linewidth=1.0))
        label_at = 0.25 * start + 0.5 * control + 0.25 * end  # the curve at t = 1/2
        label_ys.append([label_at[1]])
        if edge_labels:
            ax.text(label_at[0], label_at[1], f"{local:.3g}", fontsize=8, color="tab:red",
                    ha="center", va="center", bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
    for i, v in enumerate(lay.nodes):
        x, y = pos[i] * (sx, sy)
        colour = "#e8f0fe" if not v.parents else "#fef3e0"
        ax.text(x, y, _node_text(v, show_grad), ha="center", va="center", fontsize=9,
                family="monospace", bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="0.3"))
    ax.set_xlim(-0.8 * sx, (width - 1) * sx + 0.8 * sx)
    ys = np.concatenate(label_ys)
    ax.set_ylim(ys.min() - 0.9, ys.max() + 0.9)
    ax.set_axis_off()
    title = "computational graph: value (forward) and grad = d out / d node (backward)"
    ax.set_title(title + ("; edges: local derivatives" if edge_labels else ""), fontsize=9)
    return fig


def graph_arrows(fig: Figure) -> list:
    """The arrows (one per edge) of a figure made by draw_graph."""
    return [p for ax in fig.axes for p in ax.patches if isinstance(p, FancyArrowPatch)]


# ============================================================================
# Activation functions
# ============================================================================
class ActivationCurves(NamedTuple):
    """s: (M,) grid; h = f(s); dh = f'(s); dead = (f'(s) == 0); saturated = 0 < |f'(s)| < threshold."""

    s: np.ndarray
    h: np.ndarray
    dh: np.ndarray
    dead: np.ndarray
    saturated: np.ndarray


def activation_curves(name: str, s=None, threshold: float = 0.05, **hyper) -> ActivationCurves:
    """f and f' of an activation from coursekit.functional on a grid s (default [-6, 6]).

    f' is the functional backward pass with upstream gradient 1 (the diagonal of the
    Jacobian), so the figure shows the same derivative backprop uses.
    hyper: alpha (leaky_relu, elu) or beta (swish).
    """
    _activation_name(name, "activation_curves")
    _, forward, backward = ACTIVATIONS[name]
    s = np.linspace(-6, 6, 601) if s is None else np.asarray(s, dtype=np.float64)
    h, cache = forward(s, **hyper)
    dh = backward(np.ones_like(s), cache)
    dead = dh == 0
    saturated = (~dead) & (np.abs(dh) < threshold)
    return ActivationCurves(s, h, dh, dead, saturated)


def _runs(mask: np.ndarray):
    """(start, stop) index pairs of the runs of True in a boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[::2], changes[1::2] - 1))


def plot_activation(name: str, threshold: float = 0.05, s=None, **hyper) -> Figure:
    """An activation f (left) and its derivative f' (right), with the regions where
    learning stalls shaded: dead (f' = 0, red) and saturated (|f'| < threshold, orange).

    Axes: [f, f']; the shaded spans are the runs of ActivationCurves.dead / .saturated.
    """
    c = activation_curves(name, s=s, threshold=threshold, **hyper)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_f, ax_d = fig.subplots(1, 2, sharex=True)
    ax_f.plot(c.s, c.h, color="tab:blue", label=f"{name}(s)")
    ax_d.plot(c.s, c.dh, color="tab:green", label=f"{name}'(s)")
    for ax in (ax_f, ax_d):
        for mask, colour, text in ((c.dead, "tab:red", "dead: f' = 0"),
                                   (c.saturated, "tab:orange", f"saturated: |f'| < {threshold:g}")):
            for k, (i, j) in enumerate(_runs(mask)):
                ax.axvspan(c.s[i], c.s[j], color=colour, alpha=0.15, label=text if k == 0 else None)
        ax.axhline(0, color="0.6", linewidth=0.6)
        ax.set_xlabel("s (pre-activation)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    ax_f.set_ylabel("h = f(s)")
    ax_f.set_title(f"{name}: the function")
    ax_d.set_ylabel("f'(s) = dh/ds")
    ax_d.set_title(f"{name}: its derivative (what backprop multiplies by)")
    return fig


# ============================================================================
# Batch normalisation
# ============================================================================
class BatchNormRun(NamedTuple):
    """x: (B, 1) a fresh batch; out_train: normalised with its own statistics;
    out_test: normalised with the running averages; running_mean, running_var: (steps+1,)
    the averages after each training batch; true_mean, true_var: of the input distribution."""

    x: np.ndarray
    out_train: np.ndarray
    out_test: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    true_mean: float
    true_var: float


def batchnorm_run(mean: float = 3.0, std: float = 2.0, batch_size: int = 32, momentum: float = 0.9,
                  steps: int = 50, rng=0) -> BatchNormRun:
    """Feed ``steps`` training batches x ~ N(mean, std^2) through a coursekit BatchNorm(1),
    recording its running averages running <- momentum * running + (1 - momentum) * batch,
    then normalise one fresh batch in train mode (batch statistics) and in test mode
    (running averages).  gamma = 1, beta = 0, so a well-estimated output has mean 0, std 1.
    """
    gen = as_generator(rng)
    bn = L.BatchNorm(1, momentum=momentum)
    means, variances = [bn.running_mean[0]], [bn.running_var[0]]
    for _ in range(int(steps)):
        bn.forward(gen.normal(mean, std, size=(int(batch_size), 1)), train=True)
        means.append(bn.running_mean[0])
        variances.append(bn.running_var[0])
    x = gen.normal(mean, std, size=(int(batch_size), 1))
    # the functional form does not touch the layer's running averages
    out_train, _ = F.batchnorm_forward(x, bn.params["gamma"], bn.params["beta"], eps=bn.eps, train=True)
    out_test = bn.forward(x, train=False)
    return BatchNormRun(x, out_train, out_test, np.array(means), np.array(variances),
                        float(mean), float(std) ** 2)


def plot_batchnorm(run: BatchNormRun, bins: int = 20, title: str | None = None) -> Figure:
    """Three panels: the input batch; its batch-norm output in train and test mode;
    the running mean and variance per training step against the true values.

    Axes: [input histogram, output histograms (train, test), running averages].
    """
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    ax_in, ax_out, ax_run = fig.subplots(1, 3)
    ax_in.hist(run.x.ravel(), bins=bins, color="tab:gray")
    ax_in.set_title(f"before: mean {run.x.mean():.2f}, std {run.x.std():.2f}")
    ax_in.set_xlabel("x")
    ax_in.set_ylabel("count")
    edges = _common_edges([run.out_train, run.out_test], bins)
    ax_out.hist(run.out_train.ravel(), bins=edges, alpha=0.6, color="tab:blue",
                label=f"train mode: mean {run.out_train.mean():.2f}, std {run.out_train.std():.2f}")
    ax_out.hist(run.out_test.ravel(), bins=edges, alpha=0.6, color="tab:orange",
                label=f"test mode: mean {run.out_test.mean():.2f}, std {run.out_test.std():.2f}")
    ax_out.set_title("after batch norm")
    ax_out.set_xlabel("(x - mu) / sqrt(var + eps)")
    ax_out.set_ylabel("count")
    ax_out.legend(fontsize=8)
    t = np.arange(len(run.running_mean))
    ax_run.plot(t, run.running_mean, color="tab:blue", label="running mean")
    ax_run.plot(t, run.running_var, color="tab:red", label="running variance")
    ax_run.axhline(run.true_mean, color="tab:blue", linestyle="--", label="true mean")
    ax_run.axhline(run.true_var, color="tab:red", linestyle="--", label="true variance")
    ax_run.set_xlabel("training step")
    ax_run.set_ylabel("value")
    ax_run.set_title("running averages")
    ax_run.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
