"""Gradient checking: compare an analytic gradient with finite differences.

The building blocks
    numerical_gradient(f, x, h)    central differences of a scalar function
    numerical_jacobian(f, x, h)    the Jacobian of f: array -> array
    relative_error(a, b)           the error measure used everywhere below

and the checkers, which all return a :class:`GradCheckReport` (one row per
checked array, with the largest relative error, where it occurs and a verdict)
    check_function(f, x, grad)               f: array -> scalar
    check_op(forward, backward, inputs)      a functional forward/backward pair
    check_layer(layer, x)                    dx and every parameter gradient
    check_model(model, loss, x, y, l2=...)   a whole model with its loss
    check_gradients(J, params, grads)        the engine all of them use

Three modes decide which finite differences are taken (costs in forward passes,
i.e. evaluations of the loss):

``"full"``
    every coordinate of every array: 2 passes per coordinate, thorough but slow
    (a 100,000-parameter model needs 200,000 passes).
``"sparse"``
    ``k`` random coordinates per array: 2k passes per array.  A bug confined
    to a few entries (one wrong bias) is seen only if one of them is drawn:
    with ``b`` wrong entries out of ``n`` the chance of missing all of them is
    C(n-b, k) / C(n, k), about (1 - b/n)^k.
``"directional"``
    ``directions`` random unit vectors u per array (h is the length of the step
    along u).  The analytic directional derivative g.u is compared with the
    two-sided difference (J(theta + h u) - J(theta - h u)) / 2h.  Every entry of
    the array moves, so any error e in the gradient shows up as e.u, whatever
    its support.  The cost is 2 * directions passes per array, independent of
    the array's size: 20 directions on a model with 8 parameter arrays cost
    1 + 2 * 20 * 8 = 321 passes.  Perturbing all arrays jointly would cost only
    2 * directions passes, but a failure could not then be traced to an array;
    the report needs one row per array, so the directions are drawn per array.

Every check also costs 1 pass at the unperturbed point, plus 6 to 10 passes for
each coordinate or direction that does not pass and is examined (the kink
examination below; largest error first, stopping at the first genuine error).

Errors.  The relative error of one coordinate (or direction) is
    |a - n| / max(|a| + |n|, floor),    floor = noise / thresholds.pass_below,
with a the analytic and n the numerical value, and noise = NOISE_SAFETY * eps *
scale / h the rounding noise of a central difference of a function of size
``scale``.  A correct gradient, whose difference is off by rounding only,
therefore passes even where its entries are tiny; a wrong one fails as soon as
its absolute error exceeds (warn_below / pass_below) * noise.  A row reports the
largest error, where it occurs, and a verdict from the named thresholds
(FLOAT64_THRESHOLDS: PASS < 1e-7 <= WARN < 1e-4 <= FAIL).

Kinks.  ReLU, leaky ReLU, max and abs are not differentiable everywhere.  A
central difference whose interval [x - h, x + h] contains such a point is wrong
even for a correct gradient.  Every coordinate (or direction) that does not pass
is therefore re-examined: the one-sided slopes
    s_-2, s_-1, s_+1, s_+2   ((f(x-h)-f(x-2h))/h, (f(x)-f(x-h))/h, ...)
are compared, for the steps h, h/10 and h/100.  On a smooth function their
successive differences are all about h f'' (even, see ``KINK_SPREAD``, and
proportional to the step); at a kink they are not.  When they are not *and*
either a central difference with the shorter step h/10 or h/100 agrees with the
analytic value (the kink was within h of x but not at it) or the analytic value
equals the one-sided slope of a side of x that is smooth (the gradient is a
one-sided derivative there), the coordinate is set aside as a kink.  The row's
verdict is then decided by the other coordinates alone: ``KINK`` if they pass
(printed as "KINK: the difference straddles a non-differentiable point; not a
failure"), ``FAIL`` if they do not, so a truly wrong gradient is still caught
away from the kink.  A smooth function whose difference with h fails but with
h/10 agrees is so curved there that h is too large: that coordinate is set
aside too, with a warning (a wrong gradient does not improve with a shorter step).

Warnings (:class:`GradCheckWarning`, also listed in ``report.warnings``) are
raised for float32 arrays (finite differences are not trustworthy there; use
float64) and for a step h that is badly chosen for the data's scale (below
H_TOO_SMALL * max|x| or above H_TOO_LARGE * rms(x)) or for the curvature.
"""
from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import _checks
from ._rng import as_generator

__all__ = [
    "numerical_gradient", "numerical_jacobian", "relative_error",
    "check_function", "check_op", "check_layer", "check_model", "check_gradients",
    "GradCheckReport", "GradCheckRow", "GradCheckWarning", "Thresholds",
    "FLOAT64_THRESHOLDS", "FLOAT32_THRESHOLDS", "PASS_THRESHOLD", "WARN_THRESHOLD",
    "KINK_SPREAD", "NOISE_SAFETY", "H_TOO_SMALL", "H_TOO_LARGE", "DEFAULT_H", "MODES",
    "PASS", "WARN", "FAIL", "KINK", "KINK_MESSAGE",
]

# ----------------------------------------------------------------------------
# Named constants
# ----------------------------------------------------------------------------
DEFAULT_H = 1e-5
"""Default step: about cbrt(eps) for float64, where truncation (h^2) and rounding (eps/h) balance."""

MODES = ("full", "sparse", "directional")

PASS, KINK, WARN, FAIL = "PASS", "KINK", "WARN", "FAIL"
_SEVERITY = {PASS: 0, KINK: 1, WARN: 2, FAIL: 3}
KINK_MESSAGE = "KINK: the difference straddles a non-differentiable point; not a failure"


@dataclass(frozen=True)
class Thresholds:
    """Verdict thresholds on the relative error: PASS if err < pass_below,
    WARN if err < warn_below, FAIL otherwise."""

    pass_below: float
    warn_below: float

    def verdict(self, err: float) -> str:
        if err < self.pass_below:
            return PASS
        if err < self.warn_below:
            return WARN
        return FAIL  # NaN lands here too


FLOAT64_THRESHOLDS = Thresholds(pass_below=1e-7, warn_below=1e-4)
"""float64: a correct gradient typically gives 1e-9 or less; a wrong one 1e-2 or more."""
FLOAT32_THRESHOLDS = Thresholds(pass_below=1e-3, warn_below=1e-2)
"""float32: rounding alone gives ~1e-4..1e-3 with the best step (h ~ 1e-3)."""
PASS_THRESHOLD = FLOAT64_THRESHOLDS.pass_below
WARN_THRESHOLD = FLOAT64_THRESHOLDS.warn_below

NOISE_SAFETY = 4.0
"""The rounding noise of a central difference is estimated as NOISE_SAFETY * eps * scale / h,
where scale bounds the numbers J is summed from (measured errors of correct gradients
stay below about 1 * eps * scale / h; the factor leaves a margin)."""

KINK_SPREAD = 0.1
"""On a smooth function the successive changes of the one-sided slopes s_-2, s_-1,
s_+1, s_+2 are all about h f'' (they differ only by O(h^2) times the third derivative).
They are called uneven, a sign of a kink, when their spread exceeds this fraction
of the largest change (plus rounding noise); one kink gives a spread of at least
half the jump in slope."""

# h is badly chosen when it is below H_TOO_SMALL * max|x| (x + h then loses most of
# h's digits) or above H_TOO_LARGE * rms(x) (the step is no longer small against the
# data).  Keyed by the dtype's name.
H_TOO_SMALL = {"float64": 1e-8, "float32": 1e-4}
H_TOO_LARGE = {"float64": 1e-2, "float32": 1e-1}


class GradCheckWarning(UserWarning):
    """The check ran but its result is not trustworthy (float32, badly chosen h)."""


# ----------------------------------------------------------------------------
# Small validators in the style of coursekit._checks
# ----------------------------------------------------------------------------
def _step(h, where: str) -> float:
    try:
        h = float(h)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: h must be a positive float step, got {h!r}") from None
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"{where}: h must be a positive, finite step, got {h}")
    return h


def _mode(mode, where: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {MODES}, got {mode!r}")
    return mode


def _count(n, name: str, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {n!r}")
    return int(n)


def _writable_array(x, name: str, where: str) -> np.ndarray:
    """x is perturbed in place, so it must already be a writable float ndarray."""
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{where}: {name} must be a numpy float array (it is perturbed in place), "
            f"got {type(x).__name__}; use np.asarray({name}, dtype=np.float64)"
        )
    _checks.float_array(x, name, where)
    if not x.flags.writeable:
        raise ValueError(f"{where}: {name} must be writable (it is perturbed in place and restored)")
    return x


def _scalar(value, where: str, what: str = "f") -> float:
    if np.ndim(value) != 0:
        raise ValueError(
            f"{where}: {what} must return a scalar (a loss), got an array of shape {np.shape(value)}"
        )
    return float(value)


# ----------------------------------------------------------------------------
# The building blocks
# ----------------------------------------------------------------------------
def numerical_gradient(f: Callable, x: np.ndarray, h: float = DEFAULT_H) -> np.ndarray:
    """Gradient of a scalar function by central differences.

    f: callable, f(x) -> float (it may also ignore its argument and read x through a
       closure: x is modified in place, one entry at a time).
    x: float ndarray of any shape; every entry is restored exactly afterwards, even if
       f raises.
    Returns g (float64, shape of x) with
        g[i] = (f(x + h e_i) - f(x - h e_i)) / (2h)
    whose error is O(h^2) (truncation) + O(eps |f| / h) (rounding).  The step used is
    the one actually representable, (x_i + h) - (x_i - h), so rounding of x_i + h
    does not bias the result.  Cost: 2 * x.size evaluations of f.
    """
    where = "numerical_gradient"
    x = _writable_array(x, "x", where)
    h = _step(h, where)
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        try:
            x[idx] = old + h
            plus, fp = x[idx], _scalar(f(x), where)
            x[idx] = old - h
            minus, fm = x[idx], _scalar(f(x), where)
        finally:
            x[idx] = old
        grad[idx] = (fp - fm) / (float(plus) - float(minus))
    return grad


def numerical_jacobian(f: Callable, x: np.ndarray, h: float = DEFAULT_H) -> np.ndarray:
    """Jacobian of f: array -> array by central differences, in numerator layout.

    x: float ndarray of shape X (any), restored afterwards; f(x): array of shape Y.
    Returns Jac of shape (prod(Y), prod(X)) = (out.size, x.size):
        Jac[i, j] = d out_flat[i] / d x_flat[j]
                  ~ (f(x + h e_j)_flat[i] - f(x - h e_j)_flat[i]) / (2h)
    with both arrays flattened in C (row-major) order.  Numerator layout means one
    row per output and one column per input, so for a linear map f(x) = A x the
    result is A itself, and a vector-Jacobian product dJ/dx = Jac^T dJ/dout.
    Cost: 2 * x.size evaluations of f.
    """
    where = "numerical_jacobian"
    x = _writable_array(x, "x", where)
    h = _step(h, where)
    out_shape = np.shape(f(x))
    jac = np.zeros((int(np.prod(out_shape)), x.size), dtype=np.float64)
    for j, idx in enumerate(np.ndindex(*x.shape)):
        old = x[idx]
        try:
            x[idx] = old + h
            plus = x[idx]
            fp = np.array(f(x), dtype=np.float64)  # a copy: f may return a reused buffer
            x[idx] = old - h
            minus = x[idx]
            fm = np.array(f(x), dtype=np.float64)
        finally:
            x[idx] = old
        if fp.shape != out_shape or fm.shape != out_shape:
            raise ValueError(
                f"{where}: f must return arrays of one shape; got {out_shape} at x, "
                f"{fp.shape} and {fm.shape} after perturbing x{list(idx)}"
            )
        jac[:, j] = (fp - fm).ravel() / (float(plus) - float(minus))
    return jac


def _relative_errors(a: np.ndarray, b: np.ndarray, floor: float) -> np.ndarray:
    """Entry-wise |a - b| / max(|a| + |b|, floor)."""
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


def relative_error(a, b, floor: float | None = None) -> float:
    """Largest entry-wise relative error between two arrays of the same shape.

        relative_error(a, b) = max_i |a_i - b_i| / max(|a_i| + |b_i|, floor)

    It lies in [0, 1]: 0 when equal, 1 when an entry differs in sign or one side is 0
    (with the other above the floor).  It is symmetric in a and b and does not change
    when both are multiplied by the same non-zero constant (as long as the floor does
    not matter).  floor defaults to the smallest normal float64 (~2.2e-308), which
    only avoids 0/0; the checkers pass a larger floor, the rounding noise of the finite
    difference divided by the PASS threshold, so that entries whose size is at the
    noise level are judged by their absolute error.
    """
    where = "relative_error"
    a = np.asarray(a, dtype=np.float64) if np.ndim(a) == 0 else _checks.float_array(a, "a", where)
    b = np.asarray(b, dtype=np.float64) if np.ndim(b) == 0 else _checks.float_array(b, "b", where)
    _checks.same_shape(a, b, ("a", "b"), where)
    floor = np.finfo(np.float64).tiny if floor is None else float(floor)
    if not floor > 0:
        raise ValueError(f"{where}: floor must be positive, got {floor}")
    if a.size == 0:
        return 0.0
    return float(np.max(_relative_errors(a.astype(np.float64), b.astype(np.float64), floor)))


# ----------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------
@dataclass
class GradCheckRow:
    """One checked array.

    name: the array's name ("x" for the input gradient dx, "W", "0.W", ...)
    max_error: the largest relative error over the coordinates (or directions) that
        are not kinks; where: its index (a tuple) or "u[i]" for direction i;
    analytic, numerical: the two values compared at that place;
    kinks: indices set aside because the difference straddles a kink;
    curved: indices set aside because the function is so curved there that the step h
        is too large (the difference with h/10 agrees with the gradient);
    note: a sentence on either, for the table.
    """

    name: str
    shape: tuple
    mode: str
    checked: int
    max_error: float
    where: object
    analytic: float
    numerical: float
    verdict: str
    kinks: list = field(default_factory=list)
    note: str = ""
    curved: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.verdict != FAIL


@dataclass
class GradCheckReport:
    """The result of a gradient check: one row per checked array.

    .rows      list of GradCheckRow
    .passed    True when no row FAILs (PASS, KINK and WARN do not fail)
    .worst     the row with the most severe verdict (FAIL > WARN > KINK > PASS),
               ties broken by the larger error
    .warnings  why the check itself may not be trustworthy (float32, bad h)
    print(report) gives an aligned table; a notebook renders it as HTML.
    """

    title: str
    rows: list
    mode: str
    h: float
    dtype: str
    thresholds: Thresholds
    noise: float
    evaluations: int
    warnings: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def worst(self) -> GradCheckRow:
        def key(row):
            err = row.max_error
            if not np.isfinite(err):  # NaN: a FAIL of an undefined value, or nothing verified
                err = np.inf if row.verdict == FAIL else 0.0
            return (_SEVERITY[row.verdict], err)
        return max(self.rows, key=key)

    def __getitem__(self, name: str) -> GradCheckRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"GradCheckReport: no row named {name!r}; rows are {[r.name for r in self.rows]}")

    _HEADER = ("array", "shape", "checked", "max rel. error", "at", "analytic", "numerical", "verdict")

    def _cells(self, row: GradCheckRow) -> list[str]:
        unit = "dirs" if row.mode == "directional" else "coords"
        verdict = KINK_MESSAGE if row.verdict == KINK else row.verdict
        return [row.name, str(row.shape), f"{row.checked} {unit}", f"{row.max_error:.2e}",
                str(row.where), f"{row.analytic:+.6e}", f"{row.numerical:+.6e}", verdict]

    def _footer(self) -> list[str]:
        t = self.thresholds
        lines = [f"mode={self.mode}, h={self.h:g}, dtype={self.dtype}, {self.evaluations} function "
                 f"evaluations; PASS < {t.pass_below:g} <= WARN < {t.warn_below:g} <= FAIL; "
                 f"finite-difference rounding noise ~{self.noise:.1e}"]
        lines += [f"{row.name}: {row.note}" for row in self.rows if row.note]
        lines += [f"warning: {w}" for w in self.warnings]
        return lines

    def __str__(self) -> str:
        table = [list(self._HEADER)] + [self._cells(r) for r in self.rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(self._HEADER) - 1)]
        lines = [f"{self.title}: {'passed' if self.passed else 'FAILED'}"]
        for n, line in enumerate(table):
            lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1])
            if n == 0:
                lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 7)
        return "\n".join(lines + self._footer())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colours = {PASS: "#1b7f3b", KINK: "#5a5a9a", WARN: "#b36b00", FAIL: "#c0392b"}
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = []
        for row in self.rows:
            cells = self._cells(row)
            tds = "".join(f"<td><code>{html.escape(c)}</code></td>" for c in cells[:-1])
            tds += (f"<td style='color:{colours[row.verdict]};font-weight:bold'>"
                    f"{html.escape(cells[-1])}</td>")
            body.append(f"<tr>{tds}</tr>")
        status = "passed" if self.passed else "FAILED"
        notes = "".join(f"<li>{html.escape(line)}</li>" for line in self._footer())
        return (f"<div><p><b>{html.escape(self.title)}</b>: {status}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
                f"<ul style='font-size:smaller'>{notes}</ul></div>")


# ----------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------
class _Probe:
    """Evaluates J with one array displaced, restoring the array exactly afterwards."""

    def __init__(self, J: Callable, where: str):
        self.J, self.where, self.evaluations = J, where, 0

    def __call__(self) -> float:
        self.evaluations += 1
        return _scalar(self.J(), self.where, "the checked function")

    def at(self, arr: np.ndarray, idx, delta) -> tuple[float, np.ndarray]:
        """J with arr[idx] += delta; returns (J, the displacement actually applied)."""
        old = np.copy(arr[idx])
        try:
            arr[idx] = old + delta
            moved = np.asarray(arr[idx], dtype=np.float64) - np.asarray(old, dtype=np.float64)
            return self(), moved
        finally:
            arr[idx] = old


def _dtype_of(arrays) -> np.dtype:
    """The least precise float dtype among the arrays: it limits the check."""
    dtypes = [np.dtype(a.dtype) for a in arrays]
    return min(dtypes, key=lambda d: np.finfo(d).bits) if dtypes else np.dtype(np.float64)


def _input_warnings(where: str, params: dict, h: float) -> list[str]:
    """Reasons not to trust the check: float32 arrays, a step h badly chosen for the data."""
    out = []
    low = [k for k, a in params.items() if a.dtype == np.float32]
    if low:
        out.append(
            f"{where}: {', '.join(low)} {'is' if len(low) == 1 else 'are'} float32: finite differences "
            "are not trustworthy in float32 (rounding error ~1e-7 |J| / h); cast the model and data "
            "to float64 (.astype(np.float64)) for a meaningful check"
        )
    for name, a in params.items():
        if a.size == 0:
            continue
        kind = "float32" if a.dtype == np.float32 else "float64"
        biggest = float(np.max(np.abs(a)))
        rms = float(np.sqrt(np.mean(np.asarray(a, dtype=np.float64) ** 2)))
        if h < H_TOO_SMALL[kind] * biggest:
            out.append(
                f"{where}: h={h:g} is too small for {name} (max |{name}| = {biggest:.3g}): below "
                f"{H_TOO_SMALL[kind]:g} * max|{name}|, x + h loses most of h's digits; "
                f"use h ~ {np.cbrt(np.finfo(a.dtype).eps) * biggest:.1g}"
            )
        elif rms > 0 and h > H_TOO_LARGE[kind] * rms:
            out.append(
                f"{where}: h={h:g} is too large for {name} (rms |{name}| = {rms:.3g}): above "
                f"{H_TOO_LARGE[kind]:g} * rms|{name}|, the step is no longer small against the data; "
                f"use h ~ {np.cbrt(np.finfo(a.dtype).eps) * rms:.1g}"
            )
    return out


def _locations(arr: np.ndarray, mode: str, k: int, directions: int, rng) -> list:
    """Coordinates (index tuples) or directions (unit arrays) to probe."""
    if mode == "full":
        return list(np.ndindex(*arr.shape))
    if mode == "sparse":
        picks = rng.choice(arr.size, size=min(k, arr.size), replace=False)
        return [tuple(int(i) for i in np.unravel_index(p, arr.shape)) for p in np.sort(picks)]
    dirs = []
    for _ in range(directions):
        u = rng.standard_normal(arr.shape)
        dirs.append(u / np.linalg.norm(u))
    return dirs


def _differences(probe: _Probe, arr: np.ndarray, loc, step: float, grad: np.ndarray):
    """Evaluate J at +step and -step along ``loc`` (an index tuple or a unit direction).

    Returns (f_plus, f_minus, t_plus, t_minus, analytic): the two values, the signed
    distances actually moved (after rounding of x + step) and the analytic derivative
    along the same displacement.
    """
    if isinstance(loc, np.ndarray):  # a direction u: the whole array moves
        fp, dp = probe.at(arr, Ellipsis, step * loc.astype(arr.dtype))
        fm, dm = probe.at(arr, Ellipsis, -step * loc.astype(arr.dtype))
        # the analytic side uses the displacement actually applied
        analytic = float(np.sum(grad * (dp - dm))) / (2 * step)
        return fp, fm, step, -step, analytic
    fp, dp = probe.at(arr, loc, step)
    fm, dm = probe.at(arr, loc, -step)
    return fp, fm, float(dp), float(dm), float(grad[loc])


def _one_sided_slopes(f0: float, near: tuple, far: tuple) -> np.ndarray:
    """s_-2, s_-1, s_+1, s_+2 from J at -2t, -t, 0, +t, +2t (near: +-t, far: +-2t)."""
    fp, fm, tp, tm, _ = near
    fpp, fmm, tpp, tmm, _ = far
    return np.array([(fm - fmm) / (tm - tmm), (f0 - fm) / -tm,
                     (fp - f0) / tp, (fpp - fp) / (tpp - tp)])


_KINK, _CURVED = "kink", "curved"


def _explain_failure(probe: _Probe, f0: float, arr: np.ndarray, loc, h: float, grad: np.ndarray,
                     first: tuple, noise: float, floor: float, thresholds: Thresholds):
    """Why does the difference at ``loc`` fail, if not because the gradient is wrong?

    Returns "kink" when [x - h, x + h] holds a kink, "curved" when the function is
    smooth but so strongly curved that the step h is too large (the truncation error,
    h^2/6 times the third derivative, dominates, and the step h/10 agrees with the
    gradient), or None: the gradient is wrong.

    With the one-sided slopes s_-2, s_-1, s_+1, s_+2 for the steps t = h, h/10, h/100:
    1. On a smooth function the successive slope changes are all about t f'', so
       they are even (see KINK_SPREAD) and shrink tenfold from t = h to t = h/10.
       If they do both, the failure is a genuine error (6 extra passes), unless the
       central difference with h/10 agrees with the gradient: then h was too large
       for the curvature ("curved"; a wrong gradient does not improve with h/10).
    2. Otherwise the gradient is accepted at the first step t where either
       (a) the central difference with step t < h agrees with it (a kink near x but
           not at it: a step shorter than the distance no longer crosses it), or
       (b) one side of x is smooth (its two slopes change by less than KINK_SPREAD
           times the largest change: any kink is on the other side or at x) and the
           gradient equals that side's slope to within its change plus rounding
           noise: it is that side's derivative at x, as it must be (at a kink, the
           gradient is one of the one-sided derivatives).
    A wrong gradient passes none of these, so it is not excused as a kink; and the
    row's verdict comes from the coordinates that are not kinks anyway.
    (Several kinks within h can put the gradient outside the range of the slopes with
    step h, so that range alone cannot reject it.)
    Cost: 6 or 10 more passes.
    """
    a = first[4]
    slope_noise = 4 * noise  # a difference of two one-sided slopes, each with noise 2 * noise
    slopes = _one_sided_slopes(f0, first, _differences(probe, arr, loc, 2 * h, grad))
    changes = np.diff(slopes)
    even = np.ptp(changes) <= KINK_SPREAD * np.abs(changes).max() + slope_noise
    levels = [(1.0, first, slopes)]
    for shrink in (10.0, 100.0):
        near = _differences(probe, arr, loc, h / shrink, grad)
        far = _differences(probe, arr, loc, 2 * h / shrink, grad)
        levels.append((shrink, near, _one_sided_slopes(f0, near, far)))
        if shrink == 10.0 and even:
            scaled = np.abs(np.diff(levels[-1][2]) - changes / 10)
            if scaled.max() <= KINK_SPREAD * np.abs(changes).max() / 10 + 10 * slope_noise:
                # 1. smooth: the slopes change evenly and in proportion to t
                fp, fm, tp, tm, a_t = near
                err = _relative_errors(np.array(a_t), np.array((fp - fm) / (tp - tm)), floor * 10)
                return _CURVED if err < thresholds.pass_below else None
    for shrink, (fp, fm, tp, tm, a_t), slopes in levels:
        if shrink > 1:
            err = _relative_errors(np.array(a_t), np.array((fp - fm) / (tp - tm)), floor * shrink)
            if err < thresholds.pass_below:
                return _KINK  # 2(a)
        s_m2, s_m1, s_p1, s_p2 = slopes
        c_left, c_mid, c_right = np.abs(np.diff(slopes))
        tol = slope_noise * shrink
        clean = KINK_SPREAD * max(c_left, c_mid, c_right)
        if c_left <= clean and abs(a_t - s_m1) <= c_left + tol:
            return _KINK  # 2(b), the smooth left side
        if c_right <= clean and abs(a_t - s_p1) <= c_right + tol:
            return _KINK  # 2(b), the smooth right side
    return None


def _check_array(probe: _Probe, f0: float, name: str, arr: np.ndarray, grad: np.ndarray,
                 mode: str, h: float, k: int, directions: int, rng, noise: float,
                 thresholds: Thresholds) -> GradCheckRow:
    floor = noise / thresholds.pass_below
    directional = mode == "directional"
    if arr.size == 0:
        return GradCheckRow(name=name, shape=tuple(arr.shape), mode=mode, checked=0,
                            max_error=0.0, where="-", analytic=np.nan, numerical=np.nan,
                            verdict=PASS, note="empty array: nothing to check")
    locations = _locations(arr, mode, k, directions, rng)
    firsts = [_differences(probe, arr, loc, h, grad) for loc in locations]
    analytic = np.array([d[4] for d in firsts])
    numerical = np.array([(fp - fm) / (tp - tm) for fp, fm, tp, tm, _ in firsts])
    errors = _relative_errors(analytic, numerical, floor)

    # Re-examine the locations that do not pass, largest error first: a kink, or a step
    # too large?  The first genuine error decides the row (every later one is smaller),
    # so a wrong gradient costs only a few extra passes, not 6-10 per coordinate.
    reason = [None] * len(locations)
    failing = np.flatnonzero(~(errors < thresholds.pass_below))
    for i in failing[np.argsort(-np.nan_to_num(errors[failing], nan=np.inf), kind="stable")]:
        reason[i] = _explain_failure(probe, f0, arr, locations[i], h, grad, firsts[i], noise,
                                     floor, thresholds)
        if reason[i] is None:
            break
    kink = np.array([r == _KINK for r in reason], dtype=bool)
    curved = np.array([r == _CURVED for r in reason], dtype=bool)

    def label(i):
        return f"u[{i}]" if directional else locations[i]

    rest = np.flatnonzero(~kink & ~curved)
    if rest.size:
        # NaN counts as the worst error
        worst = rest[np.argmax(np.where(np.isnan(errors[rest]), np.inf, errors[rest]))]
        max_error, at = float(errors[worst]), label(worst)
        a_w, n_w = float(analytic[worst]), float(numerical[worst])
        verdict = thresholds.verdict(max_error)
    else:
        max_error, at, a_w, n_w, verdict = np.nan, "-", np.nan, np.nan, PASS
    kinks = [label(i) for i in np.flatnonzero(kink)]
    what = "directions" if directional else "coordinates"
    note = ""
    if curved.any():
        shown = ", ".join(str(label(i)) for i in np.flatnonzero(curved)[:3])
        note = (f"{int(curved.sum())} of {len(locations)} {what} fail with h={h:g} only through "
                f"truncation error (error up to {float(np.max(errors[curved])):.1e} at {shown}, "
                "...; the step h/10 agrees): the function is strongly curved there, use a "
                "smaller h. ")
    if kinks:
        shown = ", ".join(str(k) for k in kinks[:3]) + (", ..." if len(kinks) > 3 else "")
        kink_err = float(np.max(errors[kink]))
        note += (f"{len(kinks)} of {len(locations)} {what} straddle a kink (error there up to "
                 f"{kink_err:.1e}; at {shown}); the verdict uses the others")
        if rest.size == 0:
            note = (f"all {len(locations)} {what} straddle a kink or fail by truncation, so nothing "
                    "was verified away from one; check again with a smaller h, "
                    + ("or with mode='full' or 'sparse'" if directional else "or at another point"))
        if verdict == PASS:
            verdict = KINK
    unchanged = all(fp == f0 and fm == f0 for fp, fm, *_ in firsts)
    if locations and unchanged and np.any(analytic != 0):
        note = (f"J did not change at all when {name} was perturbed: is it the very array the "
                "forward pass reads (not a copy), and does the forward pass use it?")
    return GradCheckRow(name=name, shape=tuple(arr.shape), mode=mode, checked=len(locations),
                        max_error=max_error, where=at, analytic=a_w, numerical=n_w,
                        verdict=verdict, kinks=kinks, note=note.strip(),
                        curved=[label(i) for i in np.flatnonzero(curved)])


def check_gradients(J: Callable, params: dict, grads: dict, mode: str = "full",
                    h: float = DEFAULT_H, k: int = 10, directions: int = 10, rng=None,
                    scale: float | None = None, thresholds: Thresholds | None = None,
                    title: str = "gradient check", where: str = "check_gradients"
                    ) -> GradCheckReport:
    """Check analytic gradients of a scalar J against finite differences.

    J: callable J() -> float that reads the arrays in ``params`` (a closure).
    params: name -> float ndarray; each is perturbed in place and restored exactly.
    grads: name -> the analytic dJ/d(params[name]), same shape, computed beforehand.
    mode: "full" | "sparse" (k random coordinates per array) | "directional"
        (``directions`` random unit directions per array).
    scale: the size of the numbers J is summed from (default |J(params)|); the
        rounding noise of a central difference is taken as eps * scale / h, and
        relative errors use the floor noise / thresholds.pass_below.  The noise is
        NOISE_SAFETY * eps * scale / h, so a correct gradient whose finite difference
        is off by rounding alone passes by construction, and a wrong one FAILs when its
        absolute error exceeds (warn_below / pass_below) * noise.
    thresholds: defaults to FLOAT64_THRESHOLDS, or FLOAT32_THRESHOLDS if any array
        is float32 (which also adds a warning).
    Cost (function evaluations): 1 + 2 * (coordinates or directions checked), plus 6
    to 10 for each location that does not pass and is examined for a kink (largest
    error first, up to the first genuine error, which decides the row).
    """
    mode = _mode(mode, where)
    h = _step(h, where)
    k = _count(k, "k", where)
    directions = _count(directions, "directions", where)
    rng = as_generator(rng)
    if not isinstance(params, dict) or not isinstance(grads, dict):
        raise TypeError(f"{where}: params and grads must be dicts name -> array, "
                        f"got {type(params).__name__} and {type(grads).__name__}")
    if set(params) != set(grads):
        raise ValueError(f"{where}: params and grads must have the same keys, got "
                         f"{sorted(params)} and {sorted(grads)}")
    for name, arr in params.items():
        _writable_array(arr, f"params[{name!r}]", where)
        g = _checks.float_array(grads[name], f"grads[{name!r}]", where)
        if g.shape != arr.shape:
            raise ValueError(f"{where}: expected grads[{name!r}] of shape {arr.shape} "
                             f"(the shape of params[{name!r}]), got {g.shape}")
    dtype = _dtype_of(params.values())
    if thresholds is None:
        thresholds = FLOAT32_THRESHOLDS if dtype == np.float32 else FLOAT64_THRESHOLDS
    notes = _input_warnings(where, params, h)
    for text in notes:
        warnings.warn(text, GradCheckWarning, stacklevel=3)

    probe = _Probe(J, where)
    f0 = probe()
    scale = abs(f0) if scale is None else float(scale)
    noise = NOISE_SAFETY * float(np.finfo(dtype).eps) * max(scale, np.finfo(np.float64).tiny) / h
    rows = [
        _check_array(probe, f0, name, arr, np.asarray(grads[name], dtype=np.float64), mode, h, k,
                     directions, rng, noise, thresholds)
        for name, arr in params.items()
    ]
    for row in rows:
        if row.curved:
            text = (f"{where}: h={h:g} is too large for the curvature of J in {row.name} at "
                    f"{len(row.curved)} place(s) (truncation error; the step h/10 agrees with the "
                    "gradient there); use a smaller h")
            notes.append(text)
            warnings.warn(text, GradCheckWarning, stacklevel=3)
    return GradCheckReport(title=title, rows=rows, mode=mode, h=h, dtype=str(dtype),
                           thresholds=thresholds, noise=noise, evaluations=probe.evaluations,
                           warnings=notes)


# ----------------------------------------------------------------------------
# The checkers
# ----------------------------------------------------------------------------
def check_function(f: Callable, x, grad, mode: str = "full", h: float = DEFAULT_H, k: int = 10,
                   directions: int = 10, rng=None, thresholds: Thresholds | None = None
                   ) -> GradCheckReport:
    """Check the gradient of a scalar function f: array -> float.

    x: float array (copied; the caller's array is not touched).
    grad: the analytic gradient at x (array of x's shape) or a callable grad(x).
    One row, named "x".  See check_gradients for modes and thresholds.
    """
    where = "check_function"
    x = np.array(_checks.float_array(x, "x", where), copy=True)
    g = grad(x.copy()) if callable(grad) else grad
    return check_gradients(lambda: f(x), {"x": x}, {"x": g}, mode=mode, h=h, k=k,
                           directions=directions, rng=rng, thresholds=thresholds,
                           title="check_function", where=where)


def check_op(forward: Callable, backward: Callable, inputs: dict, mode: str = "full",
             h: float = DEFAULT_H, k: int = 10, directions: int = 10, rng=None,
             thresholds: Thresholds | None = None) -> GradCheckReport:
    """Check a functional forward/backward pair, ``out, cache = forward(*inputs)``.

    inputs: name -> float array, in the order forward takes them (copied).
    backward(dout, cache) must return dJ/d(input) for every input, in the same order
    (one array, or a tuple).  A random upstream gradient dout ~ N(0, 1) (drawn from
    ``rng``) turns the output into the scalar J = sum(dout * out), whose gradient is
    exactly what backward computes.  One row per input.
    """
    where = "check_op"
    if not isinstance(inputs, dict) or not inputs:
        raise TypeError(f"{where}: inputs must be a non-empty dict name -> array, got {inputs!r}")
    arrays = {n: np.array(_checks.float_array(a, n, where), copy=True) for n, a in inputs.items()}
    rng = as_generator(rng)
    out, cache = forward(*arrays.values())
    out = np.array(out, copy=True)
    dout = rng.standard_normal(out.shape).astype(out.dtype)
    back = backward(dout, cache)
    back = back if isinstance(back, tuple) else (back,)
    if len(back) != len(arrays):
        raise ValueError(f"{where}: backward returned {len(back)} gradients for "
                         f"{len(arrays)} inputs {list(arrays)}")
    grads = dict(zip(arrays, back))

    def J():
        return float(np.sum(dout * forward(*arrays.values())[0]))

    return check_gradients(J, arrays, grads, mode=mode, h=h, k=k, directions=directions,
                           rng=rng, scale=float(np.sum(np.abs(dout * out))),
                           thresholds=thresholds,
                           title=f"check_op({getattr(forward, '__name__', 'forward')})", where=where)


# --- keeping a layer's state untouched by the check ---------------------------
def _layer_tree(layer) -> list:
    out = [layer]
    for sub in getattr(layer, "layers", []) or []:
        out += _layer_tree(sub)
    return out


def _snapshot(layer):
    """Copy everything a forward/backward may change: caches, running statistics,
    gradients and random-generator states (so dropout draws the same mask)."""
    saved = []
    for obj in _layer_tree(layer):
        state = {}
        for attr, val in vars(obj).items():
            if attr in ("params", "layers"):
                continue
            if attr == "grads" and isinstance(val, dict):
                state[attr] = {k: np.copy(v) for k, v in val.items()}
            elif isinstance(val, np.ndarray):
                state[attr] = val.copy()
            elif isinstance(val, np.random.Generator):
                state[attr] = ("rng", val, val.bit_generator.state)
            else:
                state[attr] = val
        saved.append((obj, state))
    return saved


def _restore_generators(saved) -> None:
    for _, state in saved:
        for val in state.values():
            if isinstance(val, tuple) and len(val) == 3 and val[0] == "rng":
                val[1].bit_generator.state = val[2]


def _restore(saved) -> None:
    for obj, state in saved:
        for attr, val in state.items():
            if isinstance(val, tuple) and len(val) == 3 and val[0] == "rng":
                val[1].bit_generator.state = val[2]
            elif attr == "grads":
                obj.__dict__["grads"] = val
            else:
                obj.__dict__[attr] = val.copy() if isinstance(val, np.ndarray) else val


def _layer_params(layer, where: str) -> dict:
    for attr in ("forward", "backward"):
        if not callable(getattr(layer, attr, None)):
            raise TypeError(f"{where}: expected a layer with forward and backward methods, "
                            f"got {type(layer).__name__}")
    params = layer.params
    if not isinstance(params, dict):
        raise TypeError(f"{where}: {layer!r}.params must be a dict name -> array")
    return params


def check_layer(layer, x, mode: str = "full", h: float = DEFAULT_H, k: int = 10,
                directions: int = 10, rng=None, train: bool = True,
                thresholds: Thresholds | None = None) -> GradCheckReport:
    """Check a layer's backward: dx and every parameter gradient.

    layer: a coursekit layer (forward(x, train), backward(dy), params, grads).
    x: (N, D) float input (copied).  An upstream gradient dy ~ N(0, 1) of the output's
    shape (drawn from ``rng``) contracts the output into the scalar
        J = sum(dy * layer.forward(x, train))
    so dJ/dx = layer.backward(dy) and dJ/dparams = layer.grads.  Rows: "x" (the input
    gradient) and one per parameter.  Random layers (Dropout) have their generator
    reset before every forward pass, so every pass draws the same mask; the layer's
    state (running statistics, cache, grads, generator) is restored afterwards.
    """
    where = "check_layer"
    params = _layer_params(layer, where)
    x = np.array(_checks.float_array(x, "x", where), copy=True)
    rng = as_generator(rng)
    saved = _snapshot(layer)
    try:
        y = np.array(layer.forward(x, train=train), copy=True)
        dy = rng.standard_normal(y.shape).astype(y.dtype)
        dx = layer.backward(dy)
        grads = {"x": np.array(dx, copy=True)}
        grads.update({n: np.array(g, copy=True) for n, g in layer.grads.items()})

        def J():
            _restore_generators(saved)
            return float(np.sum(dy * layer.forward(x, train=train)))

        return check_gradients(J, {"x": x, **params}, grads, mode=mode, h=h, k=k,
                               directions=directions, rng=rng,
                               scale=float(np.sum(np.abs(dy * y))), thresholds=thresholds,
                               title=f"check_layer({layer!r})".replace("\n", " "), where=where)
    finally:
        _restore(saved)


def check_model(model, loss, x, y, l2: float = 0.0, penalty: Callable | None = None,
                mode: str = "directional", h: float = DEFAULT_H, k: int = 10,
                directions: int = 10, rng=None, train: bool = True,
                thresholds: Thresholds | None = None) -> GradCheckReport:
    """Check the gradients of a whole model with its loss (and an L2 term).

        J(theta) = loss(model(x), y) + penalty(model.params, l2)[0]

    model: a coursekit layer, usually a Sequential; loss: a coursekit.losses object
    (forward(scores, y) -> float, backward() -> dscores).  The analytic gradient is
    model.backward(loss.backward()) plus, when l2 > 0, the penalty's gradients.
    penalty: a function (params, lam) -> (value, grads), default
    coursekit.losses.l2_penalty (lam * sum ||W||^2 over weight matrices); pass your
    own to check it in context.  One row per parameter ("0.W", "0.b", ...).
    The default mode is "directional": 2 * directions forward passes per parameter
    array, whatever the model's size.  Model state is restored afterwards.
    """
    where = "check_model"
    params = _layer_params(model, where)
    for attr in ("forward", "backward"):
        if not callable(getattr(loss, attr, None)):
            raise TypeError(f"{where}: expected a coursekit loss with forward and backward, "
                            f"got {type(loss).__name__}")
    if penalty is None:
        from .losses import l2_penalty as penalty
    l2 = float(l2)
    if l2 < 0:
        raise ValueError(f"{where}: l2 must be >= 0, got {l2}")
    x = np.array(_checks.float_array(x, "x", where), copy=True)
    rng = as_generator(rng)
    saved = _snapshot(model)
    try:
        def J():
            _restore_generators(saved)
            value = loss.forward(model.forward(x, train=train), y)
            if l2:
                value += penalty(model.params, l2)[0]
            return float(value)

        J()
        model.backward(loss.backward())
        grads = {n: np.array(g, dtype=np.float64, copy=True) for n, g in model.grads.items()}
        if l2:
            for name, g in penalty(model.params, l2)[1].items():
                if name not in grads:
                    raise ValueError(f"{where}: the penalty returned a gradient for {name!r}, "
                                     f"which is not a parameter of the model ({sorted(grads)})")
                grads[name] = grads[name] + g
        return check_gradients(J, params, grads, mode=mode, h=h, k=k, directions=directions,
                               rng=rng, thresholds=thresholds,
                               title=f"check_model({type(model).__name__} + {type(loss).__name__}"
                                     f"{f', l2={l2:g}' if l2 else ''})", where=where)
    finally:
        _restore(saved)
