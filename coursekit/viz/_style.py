"""Shared figure conventions: class colours and histogram bins."""
from __future__ import annotations

import numpy as np

CLASS_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
                 "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]


def common_edges(arrays, bins: int, limits=None) -> np.ndarray:
    """Histogram bin edges shared by all layers, so shrinking or saturation is visible."""
    if limits is None:
        lo = min(float(np.min(a)) for a in arrays)
        hi = max(float(np.max(a)) for a in arrays)
    else:
        lo, hi = limits
    if not hi > lo:
        half = max(abs(lo), 1e-12)
        lo, hi = lo - half, hi + half
    return np.linspace(lo, hi, bins + 1)
