"""coursekit.widgets: each explorer builds its controls, redraws when one changes, and
draws the same view as its static ``*_figure`` twin (figures read back from the Axes).

A redraw renders a PNG (0.2-0.7 s), so each explorer is redrawn for real once
(``Explorer.set`` changes several controls and redraws once); the wiring of *every*
control is then checked with a cheap stand-in figure function.
"""
import ipywidgets as ipw
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch

from coursekit import experiments, widgets


def line_data(fig):
    """Every line of every axes as (label, x, y), in drawing order."""
    return [(line.get_label(), np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
            for ax in fig.axes for line in ax.get_lines()]


def assert_same_view(fig_a, fig_b):
    """Two figures with the same panels, titles and plotted lines."""
    assert [ax.get_title() for ax in fig_a.axes] == [ax.get_title() for ax in fig_b.axes]
    a, b = line_data(fig_a), line_data(fig_b)
    assert len(a) == len(b) > 0
    for (label_a, xa, ya), (label_b, xb, yb) in zip(a, b):
        assert label_a == label_b
        np.testing.assert_allclose(xa, xb)
        np.testing.assert_allclose(ya, yb)


def check_slider(control, kind, lo, hi):
    assert isinstance(control, kind), f"{control.description}: expected {kind.__name__}, got {type(control).__name__}"
    assert (control.min, control.max) == pytest.approx((lo, hi))
    assert control.continuous_update is False, "sliders redraw on release, not on every pixel"
    assert control.description


def check_wiring(explorer, new_values):
    """Each control, set to a new value, calls the figure function with that keyword."""
    calls = []

    def record(**kwargs):
        calls.append(kwargs)
        return Figure(figsize=(1, 1))

    explorer.figure_function = record
    assert set(new_values) == set(explorer.controls), "test every control"
    for name, value in new_values.items():
        before = len(calls)
        explorer.controls[name].value = value
        assert len(calls) == before + 1, f"changing {name!r} must redraw once"
        assert calls[-1][name] == value
    assert explorer.error is None


# ----------------------------------------------------------------------------
# Generic behaviour of Explorer
# ----------------------------------------------------------------------------
def test_explorer_shows_errors_instead_of_raising_and_recovers():
    explorer = widgets.optimizer_playground(surface="quadratic", rules=("sgd",), lr=0.05, steps=20)
    assert explorer.error is None and isinstance(explorer.figure, Figure)
    png = bytes(explorer.image.value)
    assert png.startswith(b"\x89PNG")
    explorer.controls["rules"].value = ()
    assert explorer.figure is None and "at least one update rule" in explorer.error
    assert "ValueError" in explorer.status.value
    assert bytes(explorer.image.value) == png, "the last good picture stays"
    explorer.set(rules=("sgd",), lr=0.02)
    assert explorer.error is None and explorer.status.value == ""
    assert explorer.redraws == 2, "set() redraws once for several controls"
    assert bytes(explorer.image.value) != png
    with pytest.raises(ValueError, match="unknown control"):
        explorer.set(learning_rate=0.1)
    # the widget tree: title, controls, status line, image
    assert explorer.children[-1] is explorer.image and explorer.children[-2] is explorer.status
    assert set(explorer.children[1].children) == set(explorer.controls.values())


@pytest.mark.parametrize("make", [widgets.init_explorer, widgets.optimizer_playground,
                                  widgets.batchnorm_explorer, widgets.activation_explorer])
def test_controls_wrap_instead_of_overflowing(make, monkeypatch):
    """Every explorer's controls sit in a wrapping flex row, each a share (%) of the
    width with a minimum, so a narrow output area moves them to the next row."""
    monkeypatch.setattr(widgets.Explorer, "redraw", lambda self: None)   # layout only
    explorer = make()
    box = explorer.children[1]
    assert box.layout.display == "flex" and box.layout.flex_flow == "row wrap"
    assert box.layout.width == "100%"
    for control in box.children:
        assert control.layout.width.endswith("%"), control.description
        assert float(control.layout.width[:-1]) <= 50, "at most two controls per row"
        assert control.layout.min_width.endswith("px")
    assert explorer.image.layout.max_width == "100%", "the picture shrinks to the column"


# ----------------------------------------------------------------------------
# Initialisation explorer
# ----------------------------------------------------------------------------
SMALL_NET = dict(depth=4, width=20, n=30)


def test_init_explorer_controls_and_redraw():
    explorer = widgets.init_explorer(**SMALL_NET)
    c = explorer.controls
    assert list(c) == ["depth", "width", "activation", "init", "scale"]
    check_slider(c["depth"], ipw.IntSlider, 1, 20)
    check_slider(c["width"], ipw.IntSlider, 10, 500)
    check_slider(c["scale"], ipw.FloatLogSlider, -3, 1)  # 10^-3 .. 10
    assert isinstance(c["activation"], ipw.Dropdown) and list(c["activation"].options) == list(experiments.ACTIVATIONS)
    assert isinstance(c["init"], ipw.Dropdown) and list(c["init"].options) == list(widgets.INIT_SCHEMES)
    assert explorer.values() == {"depth": 4, "width": 20, "activation": "tanh", "init": "normal",
                                 "scale": pytest.approx(0.01)}
    assert len(explorer.figure.axes) == 6, "4 statistics panels + 2 histogram panels"

    png = bytes(explorer.image.value)
    explorer.set(depth=3, init="xavier_normal", scale=1.0)
    assert explorer.error is None and explorer.redraws == 2
    assert bytes(explorer.image.value) != png
    fig = explorer.figure
    assert len(fig.axes) == 6, "4 statistics panels + the activation and gradient histograms"
    run = experiments.deep_network_run(depth=3, width=20, n=30, activation="tanh", init="xavier_normal",
                               scale=1.0, rng=0)
    act, grad_h = experiments.layer_statistics(run.activations), experiments.layer_statistics(run.activation_grads)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), act.mean)
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), act.std)
    np.testing.assert_allclose(fig.axes[3].get_lines()[0].get_ydata(), grad_h.std)
    for ax, arrays in ((fig.axes[2], run.activations), (fig.axes[5], run.activation_grads)):
        patches = {p.get_label(): p for p in ax.patches if isinstance(p, StepPatch)}
        assert sorted(patches) == ["layer 1", "layer 2", "layer 3"]
        for l, a in enumerate(arrays, start=1):
            heights, edges, baseline = patches[f"layer {l}"].get_data()
            expected, _ = np.histogram(a, bins=edges)
            np.testing.assert_allclose((heights - baseline) / (heights - baseline).max(),
                                       expected / expected.max())
    assert "init xavier_normal" in fig._suptitle.get_text()
    assert_same_view(fig, widgets.init_explorer_figure(**{**SMALL_NET, **explorer.values()}))

    check_wiring(explorer, {"depth": 2, "width": 30, "activation": "relu", "init": "he_normal",
                            "scale": 0.5})


@pytest.mark.parametrize("init", widgets.INIT_SCHEMES)
def test_init_explorer_figure_accepts_every_scheme(init):
    fig = widgets.init_explorer_figure(depth=2, width=10, n=12, init=init, scale=1.0)
    run = experiments.deep_network_run(depth=2, width=10, n=12, init=init, scale=1.0, rng=0)
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(),
                               experiments.layer_statistics(run.activations).std)


# ----------------------------------------------------------------------------
# Optimiser playground
# ----------------------------------------------------------------------------
def test_optimizer_playground_controls_and_redraw():
    explorer = widgets.optimizer_playground(surface="quadratic", rules=("sgd", "momentum"), lr=0.05,
                                            steps=20)
    c = explorer.controls
    assert isinstance(c["surface"], ipw.Dropdown) and list(c["surface"].options) == list(experiments.SURFACES)
    assert set(experiments.SURFACES) == {"quadratic", "rosenbrock", "saddle", "cliff"}
    assert isinstance(c["rules"], ipw.SelectMultiple) and list(c["rules"].options) == list(experiments.RULES)
    assert c["rules"].value == ("sgd", "momentum")
    check_slider(c["lr"], ipw.FloatLogSlider, -4, 0)
    check_slider(c["momentum"], ipw.FloatSlider, 0.0, 0.99)
    check_slider(c["rho"], ipw.FloatSlider, 0.0, 0.999)
    check_slider(c["beta1"], ipw.FloatSlider, 0.0, 0.99)
    check_slider(c["beta2"], ipw.FloatSlider, 0.9, 0.9999)
    check_slider(c["steps"], ipw.IntSlider, 10, 1000)
    check_slider(c["clip"], ipw.FloatSlider, 0.0, 10.0)
    assert isinstance(c["side_by_side"], ipw.Checkbox) and c["side_by_side"].value is False

    png = bytes(explorer.image.value)
    explorer.set(lr=0.01, momentum=0.5)
    assert explorer.error is None and bytes(explorer.image.value) != png
    fig = explorer.figure
    ax, ax_gap = fig.axes[:2]
    expected = experiments.run_trajectories("quadratic", {"sgd": {"lr": 0.01},
                                                  "momentum": {"lr": 0.01, "momentum": 0.5}}, steps=20)
    paths = {line.get_label(): line for line in ax.get_lines()}
    gaps = {line.get_label(): line.get_ydata() for line in ax_gap.get_lines()}
    for label, traj in expected.items():
        np.testing.assert_allclose(paths[label].get_xdata(), traj.points[:, 0])
        np.testing.assert_allclose(paths[label].get_ydata(), traj.points[:, 1])
        np.testing.assert_allclose(gaps[label], experiments.surface_gap("quadratic", traj.values))
    assert len(ax.collections) > 0, "contours of the surface"
    assert ax_gap.get_xlabel() == "step t" and "lr = 0.01" in fig._suptitle.get_text()
    assert_same_view(fig, widgets.optimizer_playground_figure(**explorer.values()))

    check_wiring(explorer, {"surface": "saddle", "rules": ("adam",), "lr": 0.02, "momentum": 0.8,
                            "rho": 0.5, "beta1": 0.5, "beta2": 0.95, "steps": 30, "clip": 1.0,
                            "side_by_side": True})


@pytest.mark.parametrize("surface", sorted(experiments.SURFACES))
def test_optimizer_playground_figure_on_every_surface(surface):
    fig = widgets.optimizer_playground_figure(surface=surface, rules=("sgd", "adam"), lr=0.01, steps=15)
    ax = fig.axes[0]
    assert experiments.SURFACES[surface].name in ax.get_title()
    runs = experiments.run_trajectories(surface, {"sgd": {"lr": 0.01}, "adam": {"lr": 0.01}}, steps=15)
    labels = {line.get_label() for line in ax.get_lines()}
    for rule, traj in runs.items():
        assert (rule + " (diverged)" if traj.diverged else rule) in labels, "a diverged run says so"
    assert ax.get_xlim() == pytest.approx(experiments.SURFACES[surface].xlim)


def test_optimizer_playground_figure_clips_the_gradient():
    fig = widgets.optimizer_playground_figure(surface="cliff", rules=("sgd",), lr=0.5, steps=30, clip=1.0)
    (path,) = [line for line in fig.axes[0].get_lines() if line.get_label() == "sgd"]
    steps = np.hypot(np.diff(path.get_xdata()), np.diff(path.get_ydata()))
    assert steps.max() <= 0.5 + 1e-12, "a clipped gradient of norm 1 moves at most lr"


# ----------------------------------------------------------------------------
# Batch-norm explorer
# ----------------------------------------------------------------------------
def test_batchnorm_explorer_controls_and_redraw():
    explorer = widgets.batchnorm_explorer(steps=10)
    c = explorer.controls
    assert list(c) == ["mean", "std", "batch_size", "momentum", "steps"]
    check_slider(c["mean"], ipw.FloatSlider, -10, 10)
    check_slider(c["std"], ipw.FloatSlider, 0.1, 5)
    check_slider(c["batch_size"], ipw.IntSlider, 2, 256)
    check_slider(c["momentum"], ipw.FloatSlider, 0.0, 0.999)
    check_slider(c["steps"], ipw.IntSlider, 0, 500)

    png = bytes(explorer.image.value)
    explorer.controls["momentum"].value = 0.5
    assert explorer.error is None and bytes(explorer.image.value) != png
    ax_in, ax_out, ax_run = explorer.figure.axes
    run = experiments.batchnorm_run(mean=3.0, std=2.0, batch_size=32, momentum=0.5, steps=10, rng=0)
    running = {line.get_label(): line.get_ydata() for line in ax_run.get_lines()}
    np.testing.assert_allclose(running["running mean"], run.running_mean)
    np.testing.assert_allclose(running["running variance"], run.running_var)
    assert f"mean {run.x.mean():.2f}" in ax_in.get_title()
    legend = [t.get_text() for t in ax_out.get_legend().get_texts()]
    assert legend[0].startswith("train mode") and legend[1].startswith("test mode")
    assert f"std {run.out_test.std():.2f}" in legend[1]
    assert "momentum 0.5" in explorer.figure._suptitle.get_text()
    assert_same_view(explorer.figure, widgets.batchnorm_explorer_figure(**explorer.values()))

    check_wiring(explorer, {"mean": -2.0, "std": 0.5, "batch_size": 8, "momentum": 0.9, "steps": 5})


# ----------------------------------------------------------------------------
# Activation explorer
# ----------------------------------------------------------------------------
def test_activation_explorer_controls_and_redraw():
    explorer = widgets.activation_explorer(name="tanh")
    c = explorer.controls
    assert isinstance(c["name"], ipw.Dropdown) and list(c["name"].options) == list(experiments.ACTIVATIONS)
    check_slider(c["alpha"], ipw.FloatSlider, 0.0, 2.0)
    check_slider(c["beta"], ipw.FloatSlider, 0.1, 5.0)
    check_slider(c["threshold"], ipw.FloatLogSlider, -4, -0.5)

    png = bytes(explorer.image.value)
    explorer.set(name="leaky_relu", alpha=0.3)
    assert explorer.error is None and bytes(explorer.image.value) != png
    ax_f, ax_d = explorer.figure.axes
    c = experiments.activation_curves("leaky_relu", alpha=0.3)
    np.testing.assert_allclose(ax_f.get_lines()[0].get_ydata(), c.h)
    np.testing.assert_allclose(ax_d.get_lines()[0].get_ydata(), np.where(c.s > 0, 1.0, 0.3))
    assert not ax_d.patches, "leaky ReLU has neither dead nor saturated regions at alpha = 0.3"
    assert_same_view(explorer.figure, widgets.activation_explorer_figure(**explorer.values()))

    check_wiring(explorer, {"name": "swish", "alpha": 0.2, "beta": 2.0, "threshold": 0.01})


@pytest.mark.parametrize("name,dead,saturated", [("relu", 1, 0), ("tanh", 0, 2), ("elu", 0, 1)])
def test_activation_explorer_figure_shades_dead_and_saturated_regions(name, dead, saturated):
    fig = widgets.activation_explorer_figure(name=name, alpha=1.0, threshold=0.05)
    ax_f, ax_d = fig.axes
    c = experiments.activation_curves(name, threshold=0.05, **({"alpha": 1.0} if name == "elu" else {}))
    np.testing.assert_allclose(ax_d.get_lines()[0].get_ydata(), c.dh)
    assert len(ax_d.patches) == dead + saturated
    legend = " ".join(t.get_text() for t in ax_d.get_legend().get_texts())
    assert ("dead" in legend) == bool(dead) and ("saturated" in legend) == bool(saturated)


def test_optimizer_playground_figure_side_by_side():
    kwargs = dict(surface="saddle", rules=("sgd", "momentum", "adam"), lr=0.05, steps=25)
    fig = widgets.optimizer_playground_figure(side_by_side=True, **kwargs)
    overlaid = widgets.optimizer_playground_figure(**kwargs)
    assert len(fig.axes) == 3 + 1 and len(overlaid.axes) == 2
    runs = experiments.run_trajectories("saddle", {rule: {"lr": 0.05} for rule in kwargs["rules"]}, steps=25)
    for ax, (rule, traj) in zip(fig.axes[:3], runs.items()):
        assert ax.get_title() == rule and ax.get_xlabel() == "x" and len(ax.collections) > 0
        (path,) = [line for line in ax.get_lines() if line.get_label() == rule]
        np.testing.assert_allclose(path.get_xdata(), traj.points[:, 0])
        np.testing.assert_allclose(path.get_ydata(), traj.points[:, 1])
    gap_lines = {line.get_label(): line.get_ydata() for line in fig.axes[-1].get_lines()}
    assert set(gap_lines) == set(runs)
    for rule, traj in runs.items():
        np.testing.assert_allclose(gap_lines[rule], experiments.surface_gap("saddle", traj.values))
    assert "saddle" in fig._suptitle.get_text() and "lr = 0.05" in fig._suptitle.get_text()
