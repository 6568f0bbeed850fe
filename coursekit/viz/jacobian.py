"""A Jacobian as a heat map (chapters 2 and 4)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


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
                ax.text(j, i, f"{J[i, j]:.2g}", ha="center", va="center", fontsize=9,
                        color="white" if abs(J[i, j]) > 0.6 * limit else "black")
    if d <= 20:
        ax.set_xticks(range(d))
    if m <= 20:
        ax.set_yticks(range(m))
    return fig
