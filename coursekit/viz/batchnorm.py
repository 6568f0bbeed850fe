"""Batch norm before and after, train vs test mode, and its running averages (chapter 7).

The numbers come from coursekit.experiments.batchnorm.batchnorm_run.
Sized for the book's column (7 in wide, text of at least 9 pt).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..experiments.batchnorm import BatchNormRun
from ._style import common_edges


def plot_batchnorm(run: BatchNormRun, bins: int = 20, title: str | None = None) -> Figure:
    """Three panels: the input batch (top left); its batch-norm output in train and test
    mode (top right); the running mean and variance per training step against the true
    values (bottom, full width).

    Axes: [input histogram, output histograms (train, test), running averages].
    """
    fig = Figure(figsize=(7.0, 5.4), layout="constrained")
    gs = fig.add_gridspec(2, 2)
    ax_in, ax_out = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    ax_run = fig.add_subplot(gs[1, :])
    ax_in.hist(run.x.ravel(), bins=bins, color="tab:gray")
    ax_in.set_title(f"before: mean {run.x.mean():.2f}, std {run.x.std():.2f}")
    ax_in.set_xlabel("x")
    ax_in.set_ylabel("count")
    edges = common_edges([run.out_train, run.out_test], bins).tolist()
    ax_out.hist(run.out_train.ravel(), bins=edges, alpha=0.6, color="tab:blue",
                label=f"train mode: mean {run.out_train.mean():.2f}, std {run.out_train.std():.2f}")
    ax_out.hist(run.out_test.ravel(), bins=edges, alpha=0.6, color="tab:orange",
                label=f"test mode: mean {run.out_test.mean():.2f}, std {run.out_test.std():.2f}")
    ax_out.set_title("after batch norm")
    ax_out.set_xlabel("(x - mu) / sqrt(var + eps)")
    ax_out.set_ylim(top=1.5 * ax_out.get_ylim()[1])  # room for the legend above the bars
    ax_out.legend(fontsize=9, loc="upper left")
    t = np.arange(len(run.running_mean))
    ax_run.plot(t, run.running_mean, color="tab:blue", label="running mean")
    ax_run.plot(t, run.running_var, color="tab:red", label="running variance")
    ax_run.axhline(run.true_mean, color="tab:blue", linestyle="--", label="true mean")
    ax_run.axhline(run.true_var, color="tab:red", linestyle="--", label="true variance")
    ax_run.set_xlabel("training step")
    ax_run.set_ylabel("value")
    ax_run.set_title("running averages")
    ax_run.legend(fontsize=9, ncols=2)
    ax_run.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig
