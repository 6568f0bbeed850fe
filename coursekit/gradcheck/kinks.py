"""Why does a finite difference fail, if not because the gradient is wrong?

ReLU, leaky ReLU, max and abs are not differentiable everywhere: a central
difference whose interval [x - h, x + h] holds such a kink is wrong even for a
correct gradient.  And on a smooth but strongly curved function the truncation
error of the step h can dominate.  ``explain_failure`` tells the three apart with
the one-sided slopes

    s_-2, s_-1, s_+1, s_+2  =  (J(x-t) - J(x-2t))/t, (J(x) - J(x-t))/t, ...

for the steps t = h, h/10, h/100.  On a smooth function their successive changes
are all about t J'' (even, within KINK_SPREAD, and proportional to t); at a kink
they are not.  A wrong gradient is never excused: it does not agree with a
shorter step, nor with the slope of a smooth side.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._numeric import relative_errors
from .._types import Array
from ._probe import Difference, Location, Probe, difference
from .report import Thresholds

KINK_SPREAD = 0.1
"""On a smooth function the successive changes of the one-sided slopes s_-2, s_-1,
s_+1, s_+2 are all about h f'' (they differ only by O(h^2) times the third derivative).
They are called uneven, a sign of a kink, when their spread exceeds this fraction
of the largest change (plus rounding noise); one kink gives a spread of at least
half the jump in slope."""

KINK, CURVED = "kink", "curved"


class Level(NamedTuple):
    """The differences with step t = h / shrink and the one-sided slopes around x."""

    shrink: float
    near: Difference  # at +-t
    slopes: Array  # s_-2, s_-1, s_+1, s_+2


def one_sided_slopes(f0: float, near: Difference, far: Difference) -> Array:
    """s_-2, s_-1, s_+1, s_+2 from J at -2t, -t, 0, +t, +2t (near: +-t, far: +-2t)."""
    return np.array([(near.f_minus - far.f_minus) / (near.t_minus - far.t_minus),
                     (f0 - near.f_minus) / -near.t_minus,
                     (near.f_plus - f0) / near.t_plus,
                     (far.f_plus - near.f_plus) / (far.t_plus - near.t_plus)])


def _level(probe: Probe, f0: float, arr: Array, loc: Location, h: float, grad: Array,
           shrink: float, near: Difference | None = None) -> Level:
    """Four more evaluations of J (two if the differences at +-h/shrink are given)."""
    t = h / shrink
    near = near if near is not None else difference(probe, arr, loc, t, grad)
    far = difference(probe, arr, loc, 2 * t, grad)
    return Level(shrink, near, one_sided_slopes(f0, near, far))


def _smooth(first: Level, tenth: Level, slope_noise: float) -> bool:
    """The slope changes are even at step h and shrink tenfold at h/10: no kink nearby."""
    changes = np.diff(first.slopes)
    largest = np.abs(changes).max()
    if np.ptp(changes) > KINK_SPREAD * largest + slope_noise:
        return False
    scaled = np.abs(np.diff(tenth.slopes) - changes / 10)
    return bool(scaled.max() <= KINK_SPREAD * largest / 10 + 10 * slope_noise)


def _excused_as_kink(level: Level, floor: float, slope_noise: float,
                     thresholds: Thresholds) -> bool:
    """Accept the gradient at this step if (a) the shorter central difference agrees
    with it (a kink near x but not at it), or (b) one side of x is smooth and the
    gradient equals that side's slope (at a kink the gradient is a one-sided derivative)."""
    a = level.near.analytic
    if level.shrink > 1:
        err = relative_errors(np.array(a), np.array(level.near.numerical), floor * level.shrink)
        if err < thresholds.pass_below:
            return True
    c_left, _, c_right = np.abs(np.diff(level.slopes))
    tol = slope_noise * level.shrink
    clean = KINK_SPREAD * np.abs(np.diff(level.slopes)).max()
    s_left, s_right = level.slopes[1], level.slopes[2]
    return bool((c_left <= clean and abs(a - s_left) <= c_left + tol)
                or (c_right <= clean and abs(a - s_right) <= c_right + tol))


def explain_failure(probe: Probe, f0: float, arr: Array, loc: Location, h: float, grad: Array,
                    first: Difference, noise: float, floor: float,
                    thresholds: Thresholds) -> str | None:
    """KINK when [x - h, x + h] holds a kink, CURVED when J is smooth but so curved
    that h is too large (the step h/10 agrees), or None: the gradient is wrong.

    1. Smooth (slope changes even and proportional to t): a genuine error, unless the
       central difference with h/10 agrees (CURVED).  Costs 6 evaluations.
    2. Otherwise KINK if, at t = h, h/10 or h/100, _excused_as_kink holds.  Costs 10.
    Several kinks within h can put the gradient outside the range of the slopes with
    step h, so that range alone cannot reject it; the shorter steps decide.
    """
    slope_noise = 4 * noise  # a difference of two one-sided slopes, each with noise 2 * noise
    levels = [_level(probe, f0, arr, loc, h, grad, 1.0, near=first),
              _level(probe, f0, arr, loc, h, grad, 10.0)]
    if _smooth(levels[0], levels[1], slope_noise):
        near = levels[1].near
        err = relative_errors(np.array(near.analytic), np.array(near.numerical), floor * 10)
        return CURVED if err < thresholds.pass_below else None
    levels.append(_level(probe, f0, arr, loc, h, grad, 100.0))
    if any(_excused_as_kink(level, floor, slope_noise, thresholds) for level in levels):
        return KINK
    return None
