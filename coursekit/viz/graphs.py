"""Computational graphs of coursekit.autodiff: a layered layout, Graphviz DOT, and a drawing (chapter 3)."""
from __future__ import annotations

import importlib.util
import shutil
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path as MplPath

from ..autodiff import topological_order


class GraphLayout(NamedTuple):
    """nodes: Values in topological order; edges: (parent index, child index, local derivative);
    positions: (len(nodes), 2) with x = topological depth, y = spread within a depth."""

    nodes: list
    edges: list
    positions: np.ndarray


def _nodes_above(root, stop_at) -> list:
    """Nodes of the graph ending at ``root``, in topological order, not looking
    behind the nodes of ``stop_at`` (they become leaves of the drawing)."""
    if not stop_at:
        return topological_order(root)
    stop = {id(v) for v in stop_at}
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
            continue
        if id(v) in seen:
            continue
        seen.add(id(v))
        stack.append((v, True))
        if id(v) not in stop:
            stack.extend((p, False) for p in reversed(v.parents) if id(p) not in seen)
    return order


def graph_layout(root, stop_at=()) -> GraphLayout:
    """Layered layout of the graph ending at ``root`` (a coursekit.autodiff.Value).

    depth(leaf) = 0, depth(node) = 1 + max depth of its parents; nodes of one depth
    are spread evenly around y = 0 in topological order.  Nodes in ``stop_at``
    are drawn as leaves: what computed them is left out (to draw a large graph
    in parts).
    """
    nodes = _nodes_above(root, stop_at)
    index = {id(v): i for i, v in enumerate(nodes)}
    stop = {id(v) for v in stop_at}
    depth = np.zeros(len(nodes), dtype=int)
    edges = []
    for i, v in enumerate(nodes):
        if id(v) in stop:
            continue
        for parent, local in zip(v.parents, v.local_grads):
            depth[i] = max(depth[i], depth[index[id(parent)]] + 1)
            edges.append((index[id(parent)], i, local))
    positions = np.zeros((len(nodes), 2))
    for level in np.unique(depth):
        members = np.flatnonzero(depth == level)
        positions[members, 0] = level
        positions[members, 1] = (len(members) - 1) / 2 - np.arange(len(members))  # first on top
    return GraphLayout(nodes, edges, positions)


def _node_text(v, show_grad: bool, compact: bool = False) -> str:
    head = v.label or (v.op if v.op not in ("", "const") else "input")
    if v.label and v.op and v.op != "const":
        head = f"{v.label} = {v.op}"
    if compact:  # three short lines: name, value, (grad)
        return f"{head}\n{v.data:.4g}" + (f"\n({v.grad:.3g})" if show_grad else "")
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
    return importlib.util.find_spec("graphviz") is not None and shutil.which("dot") is not None


def draw_graph(root, backend: str = "auto", show_grad: bool = True, edge_labels: bool = True,
               compact: bool = False, stop_at=()):
    """Draw the computational graph of ``root`` with each node's op, value and grad.

    backend: "graphviz" (a graphviz.Source, needs the graphviz package and the dot
    program), "matplotlib" (a Figure, always available), or "auto" (graphviz when
    installed, else matplotlib).  Edges point from inputs to outputs and carry the
    local derivative d(child)/d(parent); call root.backward() first to show grads.
    compact (matplotlib): nodes show name, value and (grad) on three short lines,
    packed closer, so a graph of six layers fits a 7-inch page width.
    stop_at (matplotlib): nodes drawn as leaves, to draw a large graph in parts.
    """
    if backend not in ("auto", "graphviz", "matplotlib"):
        raise ValueError(f"draw_graph: backend must be 'auto', 'graphviz' or 'matplotlib', got {backend!r}")
    if backend == "graphviz" or (backend == "auto" and graphviz_available()):
        if not graphviz_available():
            raise RuntimeError("draw_graph: backend='graphviz' needs `pip install graphviz` and the "
                               "Graphviz `dot` program; use backend='matplotlib' instead")
        import graphviz

        return graphviz.Source(graph_to_dot(root, show_grad, edge_labels))
    return _draw_graph_matplotlib(root, show_grad, edge_labels, compact, stop_at)


def _draw_graph_matplotlib(root, show_grad: bool, edge_labels: bool, compact: bool = False,
                           stop_at=()) -> Figure:
    lay = graph_layout(root, stop_at)
    pos = lay.positions
    width = pos[:, 0].max() + 1
    # room for the bent edges
    height = np.ptp(pos[:, 1]) + 1 + (0.1 if compact else 0.25) * width
    # data units between layers / between nodes of one layer (1 unit ~ 1 inch)
    sx, sy = (1.25, 0.85) if compact else (2.6, 1.4)
    fig = Figure(figsize=(max(sx * width, 4), max(sy * height, 2.5)), layout="constrained")
    ax = fig.subplots()
    half_box = np.array([0.45, 0.35]) if compact else np.array([0.6, 0.4])  # half a node box
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
        label_ys.append(label_at[1:2])
        if edge_labels:
            ax.text(label_at[0], label_at[1], f"{local:.3g}", fontsize=9, color="tab:red",
                    ha="center", va="center", bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
    for i, v in enumerate(lay.nodes):
        x, y = pos[i] * (sx, sy)
        colour = "#e8f0fe" if not v.parents else "#fef3e0"
        ax.text(x, y, _node_text(v, show_grad, compact), ha="center", va="center", fontsize=9,
                family="monospace", bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="0.3"))
    ax.set_xlim(-0.8 * sx, (width - 1) * sx + 0.8 * sx)
    ys = np.concatenate(label_ys)
    ax.set_ylim(ys.min() - 0.9, ys.max() + 0.9)
    ax.set_axis_off()
    title = ("computational graph: name, value, (d out / d node)" if compact else
             "computational graph: value (forward) and grad = d out / d node (backward)")
    ax.set_title(title + ("; edges: local derivatives" if edge_labels else ""), fontsize=9)
    return fig


def graph_arrows(fig: Figure) -> list:
    """The arrows (one per edge) of a figure made by draw_graph."""
    return [p for ax in fig.axes for p in ax.patches if isinstance(p, FancyArrowPatch)]
