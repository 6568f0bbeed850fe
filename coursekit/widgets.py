"""Interactive explorers (ipywidgets) built on coursekit.experiments and coursekit.viz.

Each explorer comes in two forms that show the same view:

    init_explorer()                 a widget: controls + the figure, redrawn on change
    init_explorer_figure(...)       a plain function returning the static Figure

The ``*_figure`` twins take exactly the explorer's control names as keyword
arguments, so a notebook executed headless (or the static HTML book) can show any
setting with the same code: ``init_explorer_figure(init="xavier_normal", scale=1.0)``.

The explorer renders the figure to PNG inside an ``ipywidgets.Image``: it needs no
interactive matplotlib backend, its last picture survives in saved widget state, and
it can be driven programmatically (``explorer.controls["lr"].value = 0.1`` redraws;
``explorer.set(lr=0.1, steps=50)`` changes several controls and redraws once).
A setting that the library refuses (say a learning rate that makes Adam's state
non-finite) shows the error message under the controls instead of raising.

The controls wrap: they sit in a flex box (``flex_flow="row wrap"``), each
CONTROL_WIDTH of the row (two per row in the book's 690 px column, one per row
below MIN_CONTROL_WIDTH each), so no control is ever cut off on the right.
The picture is rendered at 100 dpi, the book's figures are 7 in wide: 700 px,
scaled down to the width of the output area.
"""
from __future__ import annotations

import html
import io

import ipywidgets as widgets
from matplotlib.figure import Figure

from . import experiments, viz

INIT_SCHEMES = ("normal", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "orthogonal")
CONTROL_WIDTH = "48%"        # two controls per row, with room for the gap between them
MIN_CONTROL_WIDTH = "260px"  # below this a slider's track is too short to use: wrap instead


def _control_box(controls) -> widgets.Box:
    """The controls in rows that wrap at the output area's width."""
    for control in controls:
        control.layout.width = CONTROL_WIDTH
        control.layout.min_width = MIN_CONTROL_WIDTH
    return widgets.Box(list(controls), layout=widgets.Layout(
        display="flex", flex_flow="row wrap", justify_content="space-between",
        align_items="center", width="100%"))


class Explorer(widgets.VBox):
    """Controls, a rendered figure and a status line; any control change redraws.

    controls: name -> widget; each name is a keyword of ``figure_function``.
    figure: the last Figure drawn (None if the last setting failed); error: its message.
    """

    def __init__(self, title: str, figure_function, controls: dict, dpi: int = 100,
                 fixed: dict | None = None):
        super().__init__()
        self.figure_function = figure_function
        self.controls = dict(controls)
        self.fixed = dict(fixed or {})
        self.dpi = dpi
        self.figure: Figure | None = None
        self.error: str | None = None
        self.redraws = 0
        self._holding = False  # True while set() changes several controls
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%",
                                                                       height="auto"))
        self.status = widgets.HTML()
        box = _control_box(self.controls.values())
        self.children = [widgets.HTML(f"<b>{title}</b>"), box, self.status, self.image]
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.redraw()

    def values(self) -> dict:
        """The current control values, as keyword arguments of the figure function."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values):
        """Set several controls at once (keyword = control name) and redraw once."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"Explorer.set: unknown control(s) {unknown}; "
                             f"the controls are {list(self.controls)}")
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self.redraw()

    def _on_change(self, change):
        if not self._holding:
            self.redraw()

    def redraw(self):
        """Recompute and re-render the figure for the current control values."""
        try:
            fig = self.figure_function(**self.fixed, **self.values())
        except (ValueError, TypeError, FloatingPointError) as err:
            self.figure, self.error = None, str(err)
            message = html.escape(f"{type(err).__name__}: {err}")
            self.status.value = f"<span style='color:#b00020'>{message}</span>"
            return
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=self.dpi)
        self.image.value = buffer.getvalue()
        self.figure, self.error = fig, None
        self.status.value = ""
        self.redraws += 1


def _slider(kind, description: str, value, **kwargs):
    """A slider that redraws on release (not on every pixel of a drag)."""
    return kind(value=value, description=description, continuous_update=False,
                style={"description_width": "initial"}, **kwargs)


def _dropdown(description: str, options, value):
    return widgets.Dropdown(options=list(options), value=value, description=description,
                            style={"description_width": "initial"})


# ----------------------------------------------------------------------------
# Initialisation
# ----------------------------------------------------------------------------
def init_explorer_figure(depth: int = 10, width: int = 200, activation: str = "tanh",
                         init: str = "normal", scale: float = 0.01, n: int = 300,
                         rng=0) -> Figure:
    """Activations and gradients, layer by layer, of a deep plain network at initialisation.

    One forward and backward pass of experiments.deep_network_run (depth x width units,
    X ~ N(0, 1) of shape (n, width)), drawn by viz.plot_network_health.
    init "normal" draws W ~ N(0, scale^2); other schemes are multiplied by scale.
    """
    run = experiments.deep_network_run(depth=depth, width=width, activation=activation, init=init,
                               scale=scale, n=n, rng=rng)
    return viz.plot_network_health(run)


def init_explorer(depth: int = 10, width: int = 200, activation: str = "tanh",
                  init: str = "normal", scale: float = 0.01, n: int = 300, rng=0) -> Explorer:
    """Widget version of init_explorer_figure: depth, width, activation, scheme and scale."""
    controls = {
        "depth": _slider(widgets.IntSlider, "layers", depth, min=1, max=20),
        "width": _slider(widgets.IntSlider, "units per layer", width, min=10, max=500, step=10),
        "activation": _dropdown("activation", experiments.ACTIVATIONS, activation),
        "init": _dropdown("init scheme", INIT_SCHEMES, init),
        "scale": _slider(widgets.FloatLogSlider, "scale", scale, base=10, min=-3, max=1, step=0.1),
    }
    return Explorer("Initialisation explorer: activations and gradients per layer",
                    init_explorer_figure, controls, fixed={"n": n, "rng": rng})


# ----------------------------------------------------------------------------
# Optimisers
# ----------------------------------------------------------------------------
def optimizer_playground_figure(surface: str = "rosenbrock", rules=("sgd", "momentum", "adam"),
                                lr: float = 2e-3, momentum: float = 0.9, rho: float = 0.9,
                                beta1: float = 0.9, beta2: float = 0.999, steps: int = 200,
                                clip: float = 0.0, side_by_side: bool = False) -> Figure:
    """Trajectories of several coursekit.optim rules from the surface's start point,
    and f(w_t) - f(w*) against the step t (experiments.run_trajectories, viz.plot_trajectories).

    Every rule gets the same lr; momentum applies to momentum and nesterov, rho to
    rmsprop, beta1 and beta2 to adam.  clip > 0 clips the gradient norm to clip.
    side_by_side: one contour panel per rule instead of all paths on one panel.
    """
    if not rules:
        raise ValueError("optimizer_playground: choose at least one update rule")
    shared = {"lr": lr, "momentum": momentum, "rho": rho, "beta1": beta1, "beta2": beta2}
    trajectories = experiments.run_trajectories(surface, {name: shared for name in rules}, steps=steps,
                                        clip=clip if clip > 0 else None)
    return viz.plot_trajectories(surface, trajectories, title=f"lr = {lr:.3g}",
                                 side_by_side=side_by_side)


def optimizer_playground(surface: str = "rosenbrock", rules=("sgd", "momentum", "adam"),
                         lr: float = 2e-3, momentum: float = 0.9, rho: float = 0.9,
                         beta1: float = 0.9, beta2: float = 0.999, steps: int = 200,
                         clip: float = 0.0, side_by_side: bool = False) -> Explorer:
    """Widget version of optimizer_playground_figure."""
    controls = {
        "surface": _dropdown("surface", experiments.SURFACES, surface),
        "rules": widgets.SelectMultiple(options=list(experiments.RULES), value=tuple(rules),
                                        description="rules", rows=len(experiments.RULES)),
        "lr": _slider(widgets.FloatLogSlider, "learning rate", lr, base=10, min=-4, max=0, step=0.1),
        "momentum": _slider(widgets.FloatSlider, "momentum", momentum, min=0.0, max=0.99, step=0.01),
        "rho": _slider(widgets.FloatSlider, "rho (RMSProp)", rho, min=0.0, max=0.999, step=0.001),
        "beta1": _slider(widgets.FloatSlider, "beta1 (Adam)", beta1, min=0.0, max=0.99, step=0.01),
        "beta2": _slider(widgets.FloatSlider, "beta2 (Adam)", beta2, min=0.9, max=0.9999, step=0.0001,
                         readout_format=".4f"),
        "steps": _slider(widgets.IntSlider, "steps", steps, min=10, max=1000, step=10),
        "clip": _slider(widgets.FloatSlider, "clip norm (0 = off)", clip, min=0.0, max=10.0, step=0.1),
        "side_by_side": widgets.Checkbox(value=side_by_side, description="one panel per rule",
                                         indent=False),
    }
    return Explorer("Optimiser playground", optimizer_playground_figure, controls)


# ----------------------------------------------------------------------------
# Batch normalisation
# ----------------------------------------------------------------------------
def batchnorm_explorer_figure(mean: float = 3.0, std: float = 2.0, batch_size: int = 32,
                              momentum: float = 0.9, steps: int = 50, rng=0) -> Figure:
    """Batch norm before/after, train vs test mode, and the running averages (experiments.batchnorm_run)."""
    run = experiments.batchnorm_run(mean=mean, std=std, batch_size=batch_size, momentum=momentum,
                            steps=steps, rng=rng)
    return viz.plot_batchnorm(run, title=f"batch size {batch_size}, momentum {momentum:g}, "
                                         f"{steps} training steps")


def batchnorm_explorer(mean: float = 3.0, std: float = 2.0, batch_size: int = 32,
                       momentum: float = 0.9, steps: int = 50, rng=0) -> Explorer:
    """Widget version of batchnorm_explorer_figure."""
    controls = {
        "mean": _slider(widgets.FloatSlider, "input mean", mean, min=-10.0, max=10.0, step=0.5),
        "std": _slider(widgets.FloatSlider, "input std", std, min=0.1, max=5.0, step=0.1),
        "batch_size": _slider(widgets.IntSlider, "batch size", batch_size, min=2, max=256),
        "momentum": _slider(widgets.FloatSlider, "running-average momentum", momentum,
                            min=0.0, max=0.999, step=0.001, readout_format=".3f"),
        "steps": _slider(widgets.IntSlider, "training steps", steps, min=0, max=500),
    }
    return Explorer("Batch-norm explorer", batchnorm_explorer_figure, controls, fixed={"rng": rng})


# ----------------------------------------------------------------------------
# Activation functions
# ----------------------------------------------------------------------------
def activation_explorer_figure(name: str = "tanh", alpha: float = 0.1, beta: float = 1.0,
                               threshold: float = 0.05) -> Figure:
    """An activation and its derivative with dead and saturated regions shaded.

    alpha is used by leaky_relu and elu, beta by swish; the others ignore them.
    """
    hyper = {}
    if name in ("leaky_relu", "elu"):
        hyper["alpha"] = alpha
    elif name == "swish":
        hyper["beta"] = beta
    return viz.plot_activation(name, threshold=threshold, **hyper)


def activation_explorer(name: str = "tanh", alpha: float = 0.1, beta: float = 1.0,
                        threshold: float = 0.05) -> Explorer:
    """Widget version of activation_explorer_figure."""
    controls = {
        "name": _dropdown("activation", experiments.ACTIVATIONS, name),
        "alpha": _slider(widgets.FloatSlider, "alpha (leaky ReLU, ELU)", alpha, min=0.0, max=2.0, step=0.01),
        "beta": _slider(widgets.FloatSlider, "beta (swish)", beta, min=0.1, max=5.0, step=0.1),
        "threshold": _slider(widgets.FloatLogSlider, "saturation threshold", threshold,
                             base=10, min=-4, max=-0.5, step=0.1),
    }
    return Explorer("Activation explorer", activation_explorer_figure, controls)


__all__ = [
    "INIT_SCHEMES",
    "Explorer",
    "activation_explorer",
    "activation_explorer_figure",
    "batchnorm_explorer",
    "batchnorm_explorer_figure",
    "init_explorer",
    "init_explorer_figure",
    "optimizer_playground",
    "optimizer_playground_figure",
]
