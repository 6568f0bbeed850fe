"""An activation and its derivative with the dead and saturated regions shaded (chapter 5).

The curves come from coursekit.experiments.activations.activation_curves.
Sized for the book's column (7 in wide, text of at least 9 pt).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..experiments.activations import activation_curves


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
    fig = Figure(figsize=(7.0, 3.3), layout="constrained")
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
        ax.legend(fontsize=9, loc="upper left")
    ax_f.set_ylabel("h = f(s)")
    ax_f.set_title(f"{name}: the function")
    ax_d.set_ylabel("f'(s) = dh/ds")
    ax_d.set_title(f"{name}: its derivative")
    return fig
