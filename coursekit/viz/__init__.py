"""Figures for the book: each function draws data you can inspect and returns a
matplotlib ``Figure`` (it never calls ``plt.show()``).

Figures are made with ``matplotlib.figure.Figure`` directly, not through
``pyplot``: they are not registered with pyplot, so a notebook shows a returned
figure once (no duplicate from the inline backend), nothing needs closing, and
everything runs headless.

The numbers behind each figure come from coursekit.experiments (deep_network_run,
run_trajectories, batchnorm_run, activation_curves, decision_grid), from
coursekit.pca, or from graph_layout here, so the book can assert on the same
numbers it plots.  viz imports experiments, never the reverse.

Module        figures                                                    chapter
jacobian      plot_jacobian                                              2, 4
decision      plot_decision_boundary                                     1, 4
graphs        graph_layout, graph_to_dot, draw_graph, graph_arrows       3
history       history_series, plot_history                               4-8
activations   plot_activation                                            5
histograms    plot_activation_histograms, plot_gradient_flow,
              plot_network_health                                        6
batchnorm     plot_batchnorm                                             7
surfaces      plot_trajectories                                          8
pca           plot_pca_projection, plot_explained_variance,
              plot_eigenimages, plot_pca_reconstructions                 10
autoencoders  plot_autoencoder_training, plot_codes,
              plot_reconstruction_rows                                   10
regularisation  plot_gd_paths, plot_image_rows, plot_early_stopping,
              plot_attack_accuracy, ... (as the module: .regularisation)  9
"""
from __future__ import annotations

import warnings
from typing import Any

from .. import experiments as _experiments
from . import regularisation
from ._style import CLASS_COLOURS
from .activations import plot_activation
from .autoencoders import plot_autoencoder_training, plot_codes, plot_reconstruction_rows
from .batchnorm import plot_batchnorm
from .decision import plot_decision_boundary
from .graphs import GraphLayout, draw_graph, graph_arrows, graph_layout, graph_to_dot, graphviz_available
from .histograms import plot_activation_histograms, plot_gradient_flow, plot_network_health
from .history import history_series, plot_history
from .jacobian import plot_jacobian
from .pca import plot_eigenimages, plot_explained_variance, plot_pca_projection, plot_pca_reconstructions
from .surfaces import plot_trajectories

__all__ = [
    "regularisation",
    "CLASS_COLOURS",
    "plot_activation",
    "plot_autoencoder_training", "plot_codes", "plot_reconstruction_rows",
    "plot_batchnorm",
    "plot_decision_boundary",
    "GraphLayout", "draw_graph", "graph_arrows", "graph_layout", "graph_to_dot", "graphviz_available",
    "plot_activation_histograms", "plot_gradient_flow", "plot_network_health",
    "history_series", "plot_history",
    "plot_jacobian",
    "plot_eigenimages", "plot_explained_variance", "plot_pca_projection", "plot_pca_reconstructions",
    "plot_trajectories",
]


def __getattr__(name: str) -> Any:
    """Deprecation shim: the computations moved from coursekit.viz to coursekit.experiments."""
    if name in _experiments.__all__:
        warnings.warn(f"coursekit.viz.{name} moved to coursekit.experiments.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(_experiments, name)
    raise AttributeError(f"module 'coursekit.viz' has no attribute {name!r}")
