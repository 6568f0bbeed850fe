"""Optimiser trajectories on the contours of a 2-D surface (chapter 8, optimiser playground).

The trajectories come from coursekit.experiments.surfaces.run_trajectories.
Sized for the book's column (7 in wide, at most three panels per row, text of at
least 9 pt).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..experiments.surfaces import Surface, get_surface, surface_gap
from ._style import CLASS_COLOURS


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


def _panel_grid(n_paths: int):
    """One contour panel per rule, three per row, then the gap panel, which takes
    the rest of the last row.  Returns (path axes, gap axes)."""
    rows = n_paths // 3 + 1
    fig = Figure(figsize=(7.0, 2.4 * rows + 0.5), layout="constrained")
    grid = fig.add_gridspec(rows, 3)
    path_axes = [fig.add_subplot(grid[i // 3, i % 3]) for i in range(n_paths)]
    return path_axes, fig.add_subplot(grid[rows - 1, n_paths % 3:])


def plot_trajectories(surface, trajectories: dict, title: str | None = None,
                      resolution: int = 200, side_by_side: bool = False) -> Figure:
    """Trajectories on the contour plot of the surface, and f(w_t) - f(w*) per step.

    trajectories: {label: Trajectory} from run_trajectories.
    side_by_side=False: Axes [contours with one line per rule (x = points[:, 0],
    y = points[:, 1]), gap f - f* per step on a log scale].
    side_by_side=True: one contour panel per rule (titled with its label), then the
    gap panel, three panels per row: Axes [rule 1, ..., rule R, gap].
    The gap panel's legend names the rules (colours are shared); a black star marks
    the minimum and a black dot the start.
    """
    surf = get_surface(surface)
    labelled = []
    for label, traj in trajectories.items():
        labelled.append((label + (" (diverged)" if traj.diverged else ""), traj))
    if side_by_side and trajectories:
        path_axes, ax_loss = _panel_grid(len(trajectories))
        fig = ax_loss.figure
        for ax, (label, _) in zip(path_axes, labelled):
            _draw_surface(ax, surf, resolution)
            ax.set_title(label)
    else:
        fig = Figure(figsize=(7.0, 3.4), layout="constrained")
        ax, ax_loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
        _draw_surface(ax, surf, resolution)
        # two lines: the formula alone is as wide as the panel
        ax.set_title(f"{surf.name}\n{surf.formula}", fontsize=9)
        path_axes = [ax] * len(trajectories)
    for i, ((label, traj), ax) in enumerate(zip(labelled, path_axes)):
        colour = CLASS_COLOURS[i % len(CLASS_COLOURS)]
        ax.plot(traj.points[:, 0], traj.points[:, 1], ".-", color=colour, markersize=3,
                linewidth=1.2, label=label)
        ax.plot(*traj.points[0], "ko", markersize=5)
        ax_loss.plot(np.arange(len(traj.values)), surface_gap(surf, traj.values), color=colour,
                     label=label)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step t")
    ax_loss.set_ylabel("f(w_t) - f(w*)")
    ax_loss.set_title("gap to the minimum value")
    if trajectories:
        ax_loss.legend(fontsize=9)
    ax_loss.grid(alpha=0.3)
    if side_by_side and trajectories:
        title = f"{surf.name}: {surf.formula}" + (f"; {title}" if title else "")
    if title:
        fig.suptitle(title)
    return fig
