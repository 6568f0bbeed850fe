"""Figures of chapters 1-4 drawn at the book's column width (coursekit.viz).

draw_graph(compact=True) packs a graph so that a six-layer graph fits a 7-inch
page; stop_at= cuts a large graph into parts that together hold every node.
"""
from __future__ import annotations

from coursekit import autodiff, viz
from coursekit.autodiff import Value


def small_network():
    """A 2-2-1 sigmoid network and its squared error, after backward()."""
    x = [1.0, 0.0]
    v = [[Value(0.1, label=f"v{j}{i}") for i in range(3)] for j in range(2)]
    w = [Value(0.1, label=f"w{j}") for j in range(3)]
    hidden = [(v[j][0] + v[j][1] * x[0] + v[j][2] * x[1]).sigmoid() for j in range(2)]
    o = (w[0] + w[1] * hidden[0] + w[2] * hidden[1]).sigmoid()
    loss = 0.5 * (o - 0.9) ** 2
    loss.backward()
    return hidden, o, loss


def test_stop_at_draws_the_given_nodes_as_leaves():
    hidden, o, loss = small_network()
    layout = viz.graph_layout(o, stop_at=hidden)
    ids = {id(v) for v in layout.nodes}
    assert all(id(h) in ids for h in hidden)
    children_of_hidden = [e for e in layout.edges
                          if id(layout.nodes[e[1]]) in {id(h) for h in hidden}]
    assert children_of_hidden == [], "nothing above a stop_at node may be drawn"
    depth_of = dict(zip((id(v) for v in layout.nodes), layout.positions[:, 0]))
    assert all(depth_of[id(h)] == 0 for h in hidden), "stop_at nodes are leaves"
    # the parts together hold the whole graph, each node once
    parts = [viz.graph_layout(h).nodes for h in hidden]
    parts += [layout.nodes, viz.graph_layout(loss, stop_at=[o]).nodes]
    assert {id(v) for p in parts for v in p} == {id(v) for v in autodiff.topological_order(loss)}


def test_compact_graph_fits_the_column_and_keeps_9pt_text():
    hidden, o, _ = small_network()
    wide = viz.draw_graph(o, backend="matplotlib", stop_at=hidden)
    compact = viz.draw_graph(o, backend="matplotlib", stop_at=hidden, compact=True)
    assert compact.get_size_inches()[0] <= 7.0 < wide.get_size_inches()[0]
    sizes = [t.get_fontsize() for ax in compact.axes for t in ax.texts]
    assert sizes and min(sizes) >= 9
    texts = [t.get_text() for ax in compact.axes for t in ax.texts]
    assert any(text.startswith("w1\n0.1\n(") for text in texts), texts
    assert len(viz.graph_arrows(compact)) == len(viz.graph_layout(o, stop_at=hidden).edges)
