"""Evaluating J with one array displaced: the finite differences the engine takes."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._types import Array
from ._validate import scalar

Location = Any
"""An index tuple (full and sparse modes) or a unit direction, an array (directional mode)."""


class Probe:
    """Evaluates J, counting the evaluations; ``at`` displaces an array and restores it exactly."""

    def __init__(self, J: Callable[[], Any], where: str) -> None:
        self.J, self.where, self.evaluations = J, where, 0

    def __call__(self) -> float:
        self.evaluations += 1
        return scalar(self.J(), self.where, "the checked function")

    def at(self, arr: Array, idx: Any, delta: Any) -> tuple[float, Array]:
        """J with arr[idx] += delta; returns (J, the displacement actually applied)."""
        old = np.copy(arr[idx])
        try:
            arr[idx] = old + delta
            moved = np.asarray(arr[idx], dtype=np.float64) - np.asarray(old, dtype=np.float64)
            return self(), moved
        finally:
            arr[idx] = old


class Difference(NamedTuple):
    """J at +t and -t along one location, the signed distances actually moved
    (after rounding of x + t) and the analytic derivative along the same displacement."""

    f_plus: float
    f_minus: float
    t_plus: float
    t_minus: float
    analytic: float

    @property
    def numerical(self) -> float:
        """The central difference (J(+t) - J(-t)) / (t_plus - t_minus)."""
        return (self.f_plus - self.f_minus) / (self.t_plus - self.t_minus)


def difference(probe: Probe, arr: Array, loc: Location, t: float, grad: Array) -> Difference:
    """Evaluate J at +t and -t along ``loc`` (an index tuple or a unit direction)."""
    if isinstance(loc, np.ndarray):  # a direction u: the whole array moves
        f_plus, d_plus = probe.at(arr, Ellipsis, t * loc.astype(arr.dtype))
        f_minus, d_minus = probe.at(arr, Ellipsis, -t * loc.astype(arr.dtype))
        # the analytic side uses the displacement actually applied
        analytic = float(np.sum(grad * (d_plus - d_minus))) / (2 * t)
        return Difference(f_plus, f_minus, t, -t, analytic)
    f_plus, d_plus = probe.at(arr, loc, t)
    f_minus, d_minus = probe.at(arr, loc, -t)
    return Difference(f_plus, f_minus, float(d_plus), float(d_minus), float(grad[loc]))
