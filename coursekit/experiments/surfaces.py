"""Update rules of coursekit.optim run on 2-D test surfaces (quadratic, Rosenbrock, saddle, cliff).

Used by chapter 8 (optimisation) and the optimiser playground widget.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import functional as F
from .. import optim


@dataclass(frozen=True)
class Surface:
    """A 2-D test function f(x, y) with its gradient.

    value(x, y) and gradient(x, y) -> (df/dx, df/dy) work element-wise on arrays
    (for contour grids); start is a default starting point, minimum the location of
    a minimum, xlim/ylim the plotting window, log_levels whether contours are log-spaced.
    """

    name: str
    value: Callable[[Any, Any], Any]
    gradient: Callable[[Any, Any], tuple[Any, Any]]
    start: tuple[float, float]
    minimum: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    formula: str
    log_levels: bool = False

    def f(self, w) -> float:
        """f at the point w = (x, y)."""
        return float(self.value(w[0], w[1]))

    def grad(self, w) -> np.ndarray:
        """The gradient at w = (x, y), shape (2,)."""
        gx, gy = self.gradient(w[0], w[1])
        return np.array([gx, gy], dtype=np.float64)


def _quadratic(x, y):
    return 0.5 * (x**2 + 20.0 * y**2)


def _quadratic_grad(x, y):
    return x, 20.0 * y


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100.0 * (y - x**2) ** 2


def _rosenbrock_grad(x, y):
    return -2 * (1 - x) - 400.0 * x * (y - x**2), 200.0 * (y - x**2)


def _saddle(x, y):
    return 0.5 * x**2 - 0.5 * y**2 + 0.25 * y**4


def _saddle_grad(x, y):
    return x, -y + y**3


def _softplus(z):
    return np.logaddexp(0.0, z)


def _cliff(x, y):
    # a smooth ramp of slope 10 between x = 1 and x = 2.5 (height 15) on a gentle bowl
    x = np.asarray(x)
    ramp = 10.0 * (_softplus(20.0 * (x - 1.0)) - _softplus(20.0 * (x - 2.5))) / 20.0
    return 0.05 * x**2 + 0.5 * y**2 + ramp


def _cliff_grad(x, y):
    x = np.asarray(x)
    return 0.1 * x + 10.0 * (F.sigmoid(20.0 * (x - 1.0)) - F.sigmoid(20.0 * (x - 2.5))), y


SURFACES = {
    "quadratic": Surface("ill-conditioned quadratic", _quadratic, _quadratic_grad,
                         start=(-4.5, 1.5), minimum=(0.0, 0.0), xlim=(-5, 5), ylim=(-2.5, 2.5),
                         formula="f = (x^2 + 20 y^2) / 2  (condition number 20)", log_levels=True),
    "rosenbrock": Surface("Rosenbrock", _rosenbrock, _rosenbrock_grad,
                          start=(-1.2, 1.0), minimum=(1.0, 1.0), xlim=(-2, 2), ylim=(-1, 3),
                          formula="f = (1 - x)^2 + 100 (y - x^2)^2", log_levels=True),
    "saddle": Surface("saddle", _saddle, _saddle_grad,
                      start=(2.0, 0.01), minimum=(0.0, 1.0), xlim=(-2.5, 2.5), ylim=(-1.8, 1.8),
                      formula="f = x^2/2 - y^2/2 + y^4/4  (saddle at 0, minima at (0, +-1))"),
    "cliff": Surface("cliff", _cliff, _cliff_grad,
                     start=(4.5, 1.0), minimum=(0.0, 0.0), xlim=(-6, 6), ylim=(-2, 2),
                     formula="f = x^2/20 + y^2/2 + a cliff of slope 10 on 1 < x < 2.5"),
}


def get_surface(surface) -> Surface:
    """A Surface, or the one named ``surface`` in SURFACES."""
    if isinstance(surface, Surface):
        return surface
    try:
        return SURFACES[surface]
    except (KeyError, TypeError):
        raise ValueError(f"unknown surface {surface!r}; choose one of {sorted(SURFACES)}") from None


RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def rule_hyperparameters(rule: str) -> dict:
    """The hyper-parameters (with defaults) that coursekit.optim's ``rule`` accepts."""
    update = _rule(rule)
    _, state = update(np.zeros(1), np.zeros(1), {})
    return {k: v for k, v in state.items() if k not in ("v", "r", "s", "t")}


def _rule(rule: str):
    if rule not in RULES:
        raise ValueError(f"unknown update rule {rule!r}; choose one of {list(RULES)}")
    return getattr(optim, f"{rule}_update")


class Trajectory(NamedTuple):
    """points: (T+1, 2) iterates w_0..w_T; values: (T+1,) f(w_t); diverged: stopped early."""

    points: np.ndarray
    values: np.ndarray
    diverged: bool


def run_trajectories(surface, rules, steps: int = 100, start=None, clip: float | None = None,
                     bound: float = 1e6) -> dict:
    """Run update rules of coursekit.optim from one start point on a surface.

    rules: a list of rule names (defaults of coursekit.optim), or a dict
    label -> hyper-parameters, e.g. {"sgd": {"lr": 0.05}, "adam": {"lr": 0.1}};
    a dict may name its rule with "rule" ({"sgd, small lr": {"rule": "sgd", "lr": 0.01}}).
    Hyper-parameters the rule does not take are ignored, so one dict of shared
    settings can be given to all rules.
    clip: if given, the gradient g is rescaled to norm ``clip`` when ||g|| > clip
    (gradient clipping, the cure for cliffs).
    A run stops early (diverged=True) when w leaves the ball of radius ``bound``
    or becomes NaN.  Returns {label: Trajectory}.
    """
    surf = get_surface(surface)
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, dict):
        rules = {name: {} for name in rules}
    w0 = np.asarray(surf.start if start is None else start, dtype=np.float64)
    if w0.shape != (2,):
        raise ValueError(f"run_trajectories: start must be a point (x, y), got shape {w0.shape}")
    out = {}
    for label, hyper in rules.items():
        hyper = dict(hyper or {})
        name = hyper.pop("rule", label)
        update = _rule(name)
        known = rule_hyperparameters(name)
        state = {k: v for k, v in hyper.items() if k in known}
        w, points, diverged = w0.copy(), [w0.copy()], False
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(int(steps)):
                g = surf.grad(w)
                if clip is not None:
                    norm = np.linalg.norm(g)
                    if norm > clip:
                        g = g * (clip / norm)
                w, state = update(w, g, state)
                if not np.all(np.isfinite(w)) or np.abs(w).max() > bound:
                    diverged = True
                    break
                points.append(w.copy())
            path = np.array(points)
            values = np.array([surf.f(p) for p in path])
        out[label] = Trajectory(path, values, diverged)
    return out


def surface_gap(surface, values) -> np.ndarray:
    """f(w_t) - f(w*), clipped below at 1e-16 so it can be drawn on a log scale."""
    surf = get_surface(surface)
    return np.maximum(np.asarray(values) - surf.f(surf.minimum), 1e-16)
