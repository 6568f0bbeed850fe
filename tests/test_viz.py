"""coursekit.viz: each figure holds the numbers it claims to show (read back from the Axes)."""
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle, StepPatch
from matplotlib.text import Text

from coursekit import autodiff as ad
from coursekit import experiments, optim, viz
from coursekit import layers as L
from coursekit.pca import pca, project, reconstruct
from coursekit.viz.histograms import RIDGE_HEIGHT, ridge_baseline


def lines(ax):
    return [line for line in ax.get_lines()]


def step_patches(ax):
    return [p for p in ax.patches if isinstance(p, StepPatch)]


def bars(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


# ============================================================================
# Deep networks
# ============================================================================
def test_layer_statistics_matches_numpy():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(i, i + 1, size=(50, 7)) for i in range(3)]
    stats = experiments.layer_statistics(arrays)
    np.testing.assert_allclose(stats.mean, [a.mean() for a in arrays])
    np.testing.assert_allclose(stats.std, [a.std() for a in arrays])
    np.testing.assert_allclose(stats.norm, [np.linalg.norm(a) for a in arrays])
    with pytest.raises(ValueError, match="non-empty"):
        experiments.layer_statistics([])


def test_deep_network_run_reproduces_the_lecture_experiments():
    small = experiments.deep_network_run(depth=10, width=100, n=100, init="normal", scale=0.01, rng=0)
    std = experiments.layer_statistics(small.activations).std
    assert np.all(np.diff(std) < 0), "with N(0, 0.01^2) weights the activations shrink layer by layer"
    assert std[-1] < 1e-6
    large = experiments.deep_network_run(depth=10, width=100, n=100, init="normal", scale=1.0, rng=0)
    saturated = [np.mean(np.abs(h) > 0.99) for h in large.activations]
    assert min(saturated) > 0.7, "with N(0, 1) weights most tanh units saturate at +-1"
    xavier = experiments.deep_network_run(depth=10, width=100, n=100, init="xavier_normal", scale=1.0, rng=0)
    std = experiments.layer_statistics(xavier.activations).std
    assert 0.15 < std.min() and std.max() < 0.8, "Xavier keeps tanh activations in a healthy range"


def test_deep_network_run_gradients_match_finite_differences():
    run = experiments.deep_network_run(depth=3, width=4, n=5, activation="tanh", init="xavier_normal",
                               scale=1.0, rng=1)

    def objective(weights):
        h = run.x
        for W in weights:
            h = np.tanh(h @ W.T)  # biases are 0
        return np.sum(run.upstream * h)

    weights = [W.copy() for W in run.weights]
    eps = 1e-6
    for l in range(3):
        numeric = np.zeros_like(weights[l])
        for idx in np.ndindex(weights[l].shape):
            old = weights[l][idx]
            weights[l][idx] = old + eps
            up = objective(weights)
            weights[l][idx] = old - eps
            down = objective(weights)
            weights[l][idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(run.weight_grads[l], numeric, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(run.activation_grads[-1], run.upstream)
    for h in run.activations:
        assert h.shape == (5, 4)


def test_deep_network_run_rejects_unknown_settings():
    with pytest.raises(ValueError, match="unknown activation"):
        experiments.deep_network_run(activation="softsign")
    with pytest.raises(ValueError, match="unknown initialiser"):
        experiments.deep_network_run(init="glorot", depth=1, width=3, n=2)


def ridge_counts(ax, arrays):
    """Check a ridgeline panel: one StepPatch per layer ("layer l"), on shared bins,
    standing on ridge_baseline(l) with heights proportional to np.histogram's counts."""
    depth = len(arrays)
    patches = {p.get_label(): p for p in step_patches(ax)}
    assert sorted(patches) == sorted(f"layer {l}" for l in range(1, depth + 1))
    edges = None
    for l, a in enumerate(arrays, start=1):
        heights, patch_edges, baseline = patches[f"layer {l}"].get_data()
        if edges is None:
            edges = patch_edges
        np.testing.assert_array_equal(patch_edges, edges, err_msg="all layers share bins")
        assert baseline == ridge_baseline(l, depth), "layer 1 on top, one unit apart"
        counts, _ = np.histogram(a, bins=edges)
        assert counts.sum() == np.size(a), "every value falls in a bin"
        np.testing.assert_allclose(heights - baseline, RIDGE_HEIGHT * counts / counts.max())


def check_fits_the_column(fig):
    """Book figures: at most 7 in wide (690 px at 100 dpi) and no text below 9 pt."""
    assert fig.get_figwidth() <= 7.0
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    assert min(sizes) >= 9, f"text of {min(sizes)} pt is unreadable at the displayed width"


def test_activation_histograms_show_the_statistics():
    run = experiments.deep_network_run(depth=4, width=30, n=40, rng=0, scale=0.5)
    fig = viz.plot_activation_histograms(run.activations, bins=25)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3, "mean, std and one panel with every layer's histogram"
    stats = experiments.layer_statistics(run.activations)
    ax_mean, ax_std, ax_hist = fig.axes
    np.testing.assert_allclose(lines(ax_mean)[0].get_ydata(), stats.mean)
    np.testing.assert_allclose(lines(ax_std)[0].get_ydata(), stats.std)
    np.testing.assert_array_equal(lines(ax_mean)[0].get_xdata(), [1, 2, 3, 4])
    assert ax_mean.get_title() and ax_mean.get_xlabel() == "layer" and ax_std.get_ylabel()
    ridge_counts(ax_hist, run.activations)
    assert [t.get_text() for t in ax_hist.get_yticklabels()] == ["layer 1", "layer 2", "layer 3", "layer 4"]
    assert fig._suptitle.get_text()
    check_fits_the_column(fig)


def test_ridgeline_labels_at_most_ten_layers():
    run = experiments.deep_network_run(depth=20, width=10, n=12, rng=0, scale=0.5)
    fig = viz.plot_activation_histograms(run.activations)
    ridge_counts(fig.axes[2], run.activations)
    labels = [t.get_text() for t in fig.axes[2].get_yticklabels()]
    assert labels[0] == "layer 1" and len(labels) == 10, "20 layers: every second one is named"


def test_gradient_flow_bars_are_the_norms():
    run = experiments.deep_network_run(depth=5, width=20, n=30, rng=2, init="he_normal", scale=1.0,
                               activation="relu")
    fig = viz.plot_gradient_flow(run.weight_grads)
    assert len(fig.axes) == 3
    stats = experiments.layer_statistics(run.weight_grads)
    heights = [b.get_height() for b in bars(fig.axes[0])]
    np.testing.assert_allclose(heights, stats.norm)
    np.testing.assert_allclose(lines(fig.axes[1])[0].get_ydata(), stats.std)
    assert "dJ/dW" in fig.axes[0].get_ylabel()
    assert fig.axes[0].get_yscale() == ("log" if stats.norm.max() > 10 * stats.norm.min() else "linear")
    ridge_counts(fig.axes[2], run.weight_grads)
    assert fig.axes[2].get_xlabel() == "dJ/dW"
    check_fits_the_column(fig)


def test_network_health_figure():
    run = experiments.deep_network_run(depth=3, width=10, n=20, rng=0)
    fig = viz.plot_network_health(run)
    assert len(fig.axes) == 6
    act, gh, gw = (experiments.layer_statistics(a) for a in (run.activations, run.activation_grads, run.weight_grads))
    np.testing.assert_allclose(lines(fig.axes[0])[0].get_ydata(), act.mean)
    np.testing.assert_allclose(lines(fig.axes[1])[0].get_ydata(), act.std)
    ridge_counts(fig.axes[2], run.activations)
    np.testing.assert_allclose(lines(fig.axes[3])[0].get_ydata(), gh.std)
    np.testing.assert_allclose(lines(fig.axes[4])[0].get_ydata(), gw.norm)
    ridge_counts(fig.axes[5], run.activation_grads)
    assert "3 layers x 10 tanh" in fig._suptitle.get_text()
    check_fits_the_column(fig)


# ============================================================================
# Training curves
# ============================================================================
CURVES = {"train_loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7],
          "train_acc": [0.5, 0.7, 0.8], "val_acc": [0.4, 0.6, 0.65]}


def check_history_figure(fig):
    ax_loss, ax_acc = fig.axes
    (train, val) = lines(ax_loss)
    np.testing.assert_allclose(train.get_ydata(), CURVES["train_loss"])
    np.testing.assert_allclose(val.get_ydata(), CURVES["val_loss"])
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(lines(ax_acc)[0].get_ydata(), CURVES["train_acc"])
    np.testing.assert_allclose(lines(ax_acc)[1].get_ydata(), CURVES["val_acc"])
    legend = [t.get_text() for t in ax_loss.get_legend().get_texts()]
    assert legend == ["train", "validation"]
    assert ax_loss.get_xlabel() == "epoch" and ax_loss.get_ylabel() == "loss"
    assert ax_acc.get_ylabel() == "accuracy"
    check_fits_the_column(fig)


def test_plot_history_accepts_dicts_lists_and_objects():
    check_history_figure(viz.plot_history(CURVES))
    per_epoch = [{k: v[e] for k, v in CURVES.items()} for e in range(3)]
    check_history_figure(viz.plot_history(per_epoch))
    check_history_figure(viz.plot_history(SimpleNamespace(**CURVES)))


def test_plot_history_with_coursekit_train_history():
    train = pytest.importorskip("coursekit.train")
    history = train.History()
    for key, values in CURVES.items():
        getattr(history, key).extend(values)
    check_history_figure(viz.plot_history(history))


def test_plot_history_without_validation_or_accuracy():
    fig = viz.plot_history({"train_loss": [3.0, 2.0]})
    assert len(fig.axes) == 1
    assert len(lines(fig.axes[0])) == 1
    with pytest.raises(ValueError, match="no loss series"):
        viz.plot_history({"lr": [0.1]})


# ============================================================================
# Optimisers on surfaces
# ============================================================================
@pytest.mark.parametrize("name", sorted(experiments.SURFACES))
def test_surface_gradients_match_finite_differences(name):
    surf = experiments.SURFACES[name]
    rng = np.random.default_rng(0)
    h = 1e-6
    for _ in range(5):
        w = np.array([rng.uniform(*surf.xlim), rng.uniform(*surf.ylim)])
        numeric = [(surf.f(w + h * e) - surf.f(w - h * e)) / (2 * h) for e in np.eye(2)]
        np.testing.assert_allclose(surf.grad(w), numeric, rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(surf.grad(np.array(surf.minimum))) < 1e-5, "the minimum is stationary"


def test_sgd_on_the_quadratic_follows_the_closed_form():
    lr, steps = 0.04, 30
    traj = experiments.run_trajectories("quadratic", {"sgd": {"lr": lr}}, steps=steps)["sgd"]
    t = np.arange(steps + 1)[:, None]
    w0 = np.array(experiments.SURFACES["quadratic"].start)
    # w_t = (1 - lr * lambda)^t w_0 with curvatures lambda = (1, 20)
    expected = (1 - lr * np.array([1.0, 20.0])) ** t * w0
    np.testing.assert_allclose(traj.points, expected, rtol=1e-12)
    np.testing.assert_allclose(traj.values, 0.5 * (expected[:, 0] ** 2 + 20 * expected[:, 1] ** 2))
    assert not traj.diverged


def test_trajectories_use_coursekit_optim_rules():
    surf = experiments.SURFACES["rosenbrock"]
    shared = {"lr": 0.01, "momentum": 0.8, "beta1": 0.8}
    trajs = experiments.run_trajectories(surf, {"adam": shared, "slow sgd": {"rule": "sgd", "lr": 1e-4}}, steps=20)
    w, state = np.array(surf.start), {"lr": 0.01, "beta1": 0.8}
    for t in range(20):
        w, state = optim.adam_update(w, surf.grad(w), state)
        np.testing.assert_allclose(trajs["adam"].points[t + 1], w)
    assert trajs["slow sgd"].points.shape == (21, 2)


def test_divergence_is_detected_and_clipping_bounds_the_step():
    traj = experiments.run_trajectories("quadratic", {"sgd": {"lr": 0.2}}, steps=500)["sgd"]
    assert traj.diverged and len(traj.points) < 500, "|1 - 0.2 * 20| = 3 > 1 must diverge"
    clipped = experiments.run_trajectories("cliff", {"sgd": {"lr": 0.5}}, steps=40, clip=1.0)["sgd"]
    steps = np.linalg.norm(np.diff(clipped.points, axis=0), axis=1)
    assert steps.max() <= 0.5 + 1e-12
    free = experiments.run_trajectories("cliff", {"sgd": {"lr": 0.5}}, steps=40)["sgd"]
    assert np.linalg.norm(np.diff(free.points, axis=0), axis=1).max() > 3, "the cliff catapults"
    with pytest.raises(ValueError, match="unknown update rule"):
        experiments.run_trajectories("quadratic", ["lbfgs"])
    with pytest.raises(ValueError, match="unknown surface"):
        experiments.run_trajectories("banana", ["sgd"])


def test_plot_trajectories_draws_each_path_and_its_gap():
    trajs = experiments.run_trajectories("saddle", {"sgd": {"lr": 0.1}, "momentum": {"lr": 0.05}}, steps=60)
    fig = viz.plot_trajectories("saddle", trajs)
    ax, ax_gap = fig.axes[:2]
    by_label = {line.get_label(): line for line in lines(ax)}
    for label, traj in trajs.items():
        np.testing.assert_allclose(by_label[label].get_xdata(), traj.points[:, 0])
        np.testing.assert_allclose(by_label[label].get_ydata(), traj.points[:, 1])
    gaps = {line.get_label(): line.get_ydata() for line in lines(ax_gap)}
    for label, traj in trajs.items():
        np.testing.assert_allclose(gaps[label], experiments.surface_gap("saddle", traj.values))
    assert ax_gap.get_yscale() == "log"
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y" and "saddle" in ax.get_title()
    assert len(ax.collections) > 0, "contours are drawn"
    check_fits_the_column(fig)


@pytest.mark.parametrize("name", sorted(experiments.SURFACES))
def test_plot_trajectories_titles_stay_inside_the_figure(name):
    """The explorer saves the PNG without a tight bounding box: a title wider
    than the figure would be cut off (the formula goes on its own line)."""
    trajs = experiments.run_trajectories(name, {"sgd": {"lr": 0.01}}, steps=5)
    fig = viz.plot_trajectories(name, trajs)
    fig.canvas.draw()
    for ax in fig.axes:
        box = ax.title.get_window_extent()
        assert box.x0 >= 0 and box.x1 <= fig.bbox.x1, ax.get_title()


def test_plot_trajectories_side_by_side_three_panels_per_row():
    rules = {name: {"lr": 0.05} for name in experiments.RULES}
    trajs = experiments.run_trajectories("saddle", rules, steps=20)
    fig = viz.plot_trajectories("saddle", trajs, side_by_side=True, title="lr = 0.05")
    *path_axes, ax_gap = fig.axes
    assert [ax.get_title() for ax in path_axes] == list(rules)
    columns = {round(ax.get_position().x0, 3) for ax in path_axes}
    assert len(columns) == 3, "six rules: two rows of three"
    for ax, traj in zip(path_axes, trajs.values()):
        (path,) = [line for line in lines(ax) if line.get_label() in rules]
        np.testing.assert_allclose(path.get_xdata(), traj.points[:, 0])
    assert {line.get_label() for line in lines(ax_gap)} == set(rules)
    check_fits_the_column(fig)


# ============================================================================
# Jacobians, decision boundaries
# ============================================================================
def test_jacobian_heatmap():
    J = np.array([[1.0, -3.0, 0.5], [0.0, 2.0, -0.25]])
    fig = viz.plot_jacobian(J, title="dh/dx")
    ax = fig.axes[0]
    (image,) = ax.images
    np.testing.assert_array_equal(image.get_array(), J)
    assert image.get_clim() == (-3.0, 3.0), "diverging map centred at 0"
    assert image.get_cmap().name == "RdBu_r"
    assert "input" in ax.get_xlabel() and "output" in ax.get_ylabel()
    assert ax.get_title() == "dh/dx"
    assert [t.get_text() for t in ax.texts] == [f"{v:.2g}" for v in J.ravel()]
    assert len(fig.axes) == 2, "the heat map and its colour bar"
    with pytest.raises(ValueError, match="2-D"):
        viz.plot_jacobian(np.ones(3))


def test_decision_boundary_regions_are_the_predictions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    predict = lambda P: (P[:, 0] + P[:, 1] > 0).astype(int)
    xs, ys, grid = experiments.decision_grid(predict, X, resolution=40)
    XX, YY = np.meshgrid(xs, ys)
    np.testing.assert_array_equal(grid, (XX + YY > 0).astype(int))
    fig = viz.plot_decision_boundary(predict, X, y, resolution=40)
    ax = fig.axes[0]
    (image,) = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    np.testing.assert_array_equal(image.get_array(), grid)
    offsets = {c.get_label(): c.get_offsets() for c in ax.collections}
    np.testing.assert_allclose(offsets["class 0"], X[y == 0])
    np.testing.assert_allclose(offsets["class 1"], X[y == 1])
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_decision_grid_accepts_models_and_scores():
    model = L.Sequential(L.Linear(2, 3, rng=0))
    X = np.random.default_rng(1).normal(size=(10, 2))
    _, _, from_model = experiments.decision_grid(model, X, resolution=15)
    _, _, from_scores = experiments.decision_grid(lambda P: model.forward(P, train=False), X, resolution=15)
    np.testing.assert_array_equal(from_model, from_scores)
    assert set(np.unique(from_model)) <= {0, 1, 2}
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        experiments.decision_grid(model, np.ones((4, 3)))


# ============================================================================
# PCA
# ============================================================================
def digits_like(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = rng.normal(0, 3, size=(3, 16))
    return centres[y] + rng.normal(size=(n, 16)), y


def test_pca_projection_plot():
    X, y = digits_like()
    fig = viz.plot_pca_projection(X, y)
    ax, ax_spec = fig.axes
    result = pca(X, 15)
    Z = project(X, result)[:, :2]
    for c in range(3):
        (scatter,) = [s for s in ax.collections if s.get_label() == f"class {c}"]
        np.testing.assert_allclose(scatter.get_offsets(), Z[y == c], atol=1e-9)
    np.testing.assert_allclose([b.get_height() for b in bars(ax_spec)], result.eigenvalues)
    (distortion_line,) = lines(ax_spec)
    np.testing.assert_allclose(distortion_line.get_ydata(),
                               result.total_variance - np.cumsum(result.eigenvalues))
    assert "z1" in ax.get_xlabel() and ax.get_legend() is not None


def test_pca_reconstruction_plot():
    X, _ = digits_like()
    ks = (1, 4)
    fig = viz.plot_pca_reconstructions(X, ks=ks, n_examples=3, image_shape=(4, 4))
    assert len(fig.axes) == 3 * (1 + len(ks))
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert titles == ["original", "k = 1", "k = 4"]
    full = pca(X, 4)
    for row in range(3):
        np.testing.assert_allclose(fig.axes[3 * row].images[0].get_array(), X[row].reshape(4, 4))
        for col, k in enumerate(ks, start=1):
            part = full._replace(components=full.components[:k], eigenvalues=full.eigenvalues[:k])
            expected = reconstruct(project(X[row:row + 1], part), part).reshape(4, 4)
            np.testing.assert_allclose(fig.axes[3 * row + col].images[0].get_array(), expected, atol=1e-10)
    with pytest.raises(ValueError, match="not square"):
        viz.plot_pca_reconstructions(np.ones((5, 7)) + np.arange(7))


# ============================================================================
# Computational graphs
# ============================================================================
def lecture_graph():
    a, b = ad.Value(4.0, label="a"), ad.Value(3.0, label="b")
    c = a + b
    c.label = "c"
    d = a * c
    d.label = "d"
    d.backward()
    return a, b, c, d


def test_graph_layout_of_the_lecture_example():
    a, b, c, d = lecture_graph()
    lay = viz.graph_layout(d)
    assert [v.label for v in lay.nodes] == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(lay.positions[:, 0], [0, 0, 1, 2], err_msg="x = topological depth")
    assert lay.positions[0, 1] > lay.positions[1, 1], "first input on top"
    assert sorted((p, c_, g) for p, c_, g in lay.edges) == [(0, 2, 1.0), (0, 3, 7.0), (1, 2, 1.0), (2, 3, 4.0)]


def test_draw_graph_matplotlib_shows_values_grads_and_edges():
    *_, d = lecture_graph()
    fig = viz.draw_graph(d, backend="matplotlib")
    assert isinstance(fig, Figure)
    texts = [t.get_text() for t in fig.axes[0].texts]
    node_texts = [t for t in texts if "value" in t]
    assert len(node_texts) == 4
    assert any("value 4" in t and "grad 11" in t for t in node_texts), "a: value 4, grad 11"
    assert any("value 3" in t and "grad 4" in t for t in node_texts), "b: value 3, grad 4"
    assert any("d = *" in t and "value 28" in t and "grad 1" in t for t in node_texts)
    assert len(viz.graph_arrows(fig)) == 4
    edge_texts = sorted(t for t in texts if "value" not in t)
    assert edge_texts == ["1", "1", "4", "7"], "edges carry the local derivatives"
    fig.canvas.draw()  # renders headless


def test_graph_to_dot_and_graphviz_backend():
    *_, d = lecture_graph()
    dot = viz.graph_to_dot(d)
    assert dot.startswith("digraph") and dot.count("->") == 4
    assert "grad 11" in dot and 'label="7"' in dot
    if viz.graphviz_available():
        source = viz.draw_graph(d, backend="graphviz")
        assert "grad 11" in source.source
    else:
        with pytest.raises(RuntimeError, match="matplotlib"):
            viz.draw_graph(d, backend="graphviz")
        assert isinstance(viz.draw_graph(d), Figure), "auto falls back to matplotlib"
    with pytest.raises(ValueError, match="backend"):
        viz.draw_graph(d, backend="svg")


# ============================================================================
# Activations and batch norm
# ============================================================================
def test_activation_curves_and_regions():
    c = experiments.activation_curves("tanh")
    np.testing.assert_allclose(c.h, np.tanh(c.s))
    np.testing.assert_allclose(c.dh, 1 - np.tanh(c.s) ** 2)
    np.testing.assert_array_equal(c.saturated, 1 - np.tanh(c.s) ** 2 < 0.05)
    r = experiments.activation_curves("relu")
    np.testing.assert_array_equal(r.dead, r.s <= 0)
    assert not r.saturated.any()
    leaky = experiments.activation_curves("leaky_relu", alpha=0.2)
    np.testing.assert_allclose(leaky.dh, np.where(leaky.s > 0, 1.0, 0.2))
    assert not leaky.dead.any()


@pytest.mark.parametrize("name,dead_spans,saturated_spans", [("tanh", 0, 2), ("relu", 1, 0), ("sigmoid", 0, 2)])
def test_plot_activation(name, dead_spans, saturated_spans):
    fig = viz.plot_activation(name)
    ax_f, ax_d = fig.axes
    c = experiments.activation_curves(name)
    np.testing.assert_allclose(lines(ax_f)[0].get_ydata(), c.h)
    np.testing.assert_allclose(lines(ax_d)[0].get_ydata(), c.dh)
    spans = [p for p in ax_d.patches]
    assert len(spans) == dead_spans + saturated_spans
    assert ax_f.get_ylabel() and ax_d.get_ylabel() and name in ax_f.get_title()
    check_fits_the_column(fig)


def test_batchnorm_run_and_plot():
    run = experiments.batchnorm_run(mean=3.0, std=2.0, batch_size=64, momentum=0.5, steps=60, rng=0)
    assert run.running_mean.shape == (61,) and run.running_mean[0] == 0 and run.running_var[0] == 1
    assert abs(run.running_mean[-1] - 3.0) < 0.6 and abs(run.running_var[-1] - 4.0) < 1.5
    assert abs(run.out_train.mean()) < 1e-12 and abs(run.out_train.std() - 1) < 1e-3
    np.testing.assert_allclose(run.out_test, (run.x - run.running_mean[-1]) / np.sqrt(run.running_var[-1] + 1e-5))
    slow = experiments.batchnorm_run(momentum=0.99, steps=20, rng=0)
    assert abs(slow.out_test.mean()) > 0.5, "running averages that lag make test mode biased"
    fig = viz.plot_batchnorm(run)
    ax_in, ax_out, ax_run = fig.axes
    assert sum(b.get_height() for b in bars(ax_in)) == 64
    running = {line.get_label(): line.get_ydata() for line in lines(ax_run)}
    np.testing.assert_allclose(running["running mean"], run.running_mean)
    np.testing.assert_allclose(running["running variance"], run.running_var)
    assert "train mode" in ax_out.get_legend().get_texts()[0].get_text()
    check_fits_the_column(fig)


def test_deep_network_run_default_scale_is_each_scheme_as_published():
    """No scale given: N(0, 0.01^2) for "normal", the published variance for the others."""
    small = experiments.deep_network_run(depth=1, width=400, n=5, init="normal", rng=0)
    he = experiments.deep_network_run(depth=1, width=400, n=5, init="he_normal", rng=0)
    assert small.config["scale"] == 0.01 and he.config["scale"] == 1.0
    assert abs(small.weights[0].std() - 0.01) < 0.001
    assert abs(he.weights[0].var() - 2 / 400) < 0.1 * 2 / 400
