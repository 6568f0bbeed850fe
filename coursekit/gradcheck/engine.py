"""The robust engine: check_gradients compares analytic gradients with finite differences.

Modes (cost in evaluations of J, besides 1 at the unperturbed point):
    "full"         every coordinate of every array, 2 per coordinate;
    "sparse"       k random coordinates per array, 2k per array; a bug in b of n
                   entries is missed with probability C(n-b, k) / C(n, k);
    "directional"  ``directions`` random unit vectors u per array, 2 per direction,
                   comparing g.u with (J(theta + h u) - J(theta - h u)) / 2h: every
                   entry moves, so an error anywhere shows, whatever the array's size.
Each location that does not pass is re-examined for a kink (6-10 evaluations, see
coursekit.gradcheck.kinks), largest error first, up to the first genuine error.

Errors are relative, |a - n| / max(|a| + |n|, floor), with floor = noise / pass_below
and noise = NOISE_SAFETY * eps * scale / h the rounding noise of a central
difference of a J of size ``scale``: a correct gradient passes even where its
entries are tiny, and a wrong one fails once its absolute error exceeds
(warn_below / pass_below) * noise.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from .. import _checks
from .._numeric import relative_errors
from .._rng import as_generator
from .._types import Array, Seed
from . import kinks
from ._probe import Difference, Location, Probe, difference
from ._validate import count, step, writable_array
from .report import FLOAT32_THRESHOLDS, FLOAT64_THRESHOLDS, KINK, PASS, GradCheckReport, GradCheckRow, Thresholds
from .simple import DEFAULT_H

MODES = ("full", "sparse", "directional")

NOISE_SAFETY = 4.0
"""The rounding noise of a central difference is estimated as NOISE_SAFETY * eps * scale / h,
where scale bounds the numbers J is summed from (measured errors of correct gradients
stay below about 1 * eps * scale / h; the factor leaves a margin)."""

# h is badly chosen when it is below H_TOO_SMALL * max|x| (x + h then loses most of
# h's digits) or above H_TOO_LARGE * rms(x) (the step is no longer small against the
# data).  Keyed by the dtype's name.
H_TOO_SMALL = {"float64": 1e-8, "float32": 1e-4}
H_TOO_LARGE = {"float64": 1e-2, "float32": 1e-1}


class GradCheckWarning(UserWarning):
    """The check ran but its result is not trustworthy (float32, badly chosen h)."""


def _mode(mode: Any, where: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {MODES}, got {mode!r}")
    return str(mode)


def _dtype_of(arrays: Iterable[Array]) -> np.dtype[Any]:
    """The least precise float dtype among the arrays: it limits the check."""
    dtypes = [np.dtype(a.dtype) for a in arrays]
    return min(dtypes, key=lambda d: np.finfo(d).bits) if dtypes else np.dtype(np.float64)


def _input_warnings(where: str, params: Mapping[str, Array], h: float) -> list[str]:
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


def _locations(arr: Array, mode: str, k: int, directions: int,
               rng: np.random.Generator) -> list[Location]:
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


class _Setting(NamedTuple):
    """What every array of one check shares."""

    mode: str
    h: float
    k: int
    directions: int
    rng: np.random.Generator
    noise: float
    thresholds: Thresholds


def _set_aside(probe: Probe, f0: float, arr: Array, grad: Array, locations: list[Location],
               firsts: list[Difference], errors: Array, s: _Setting) -> list[str | None]:
    """Re-examine the locations that do not pass, largest error first: a kink, or a step
    too large?  The first genuine error decides the row (every later one is smaller), so
    a wrong gradient costs only a few extra evaluations, not 6-10 per location."""
    floor = s.noise / s.thresholds.pass_below
    reason: list[str | None] = [None] * len(locations)
    failing = np.flatnonzero(~(errors < s.thresholds.pass_below))
    for i in failing[np.argsort(-np.nan_to_num(errors[failing], nan=np.inf), kind="stable")]:
        reason[i] = kinks.explain_failure(probe, f0, arr, locations[i], s.h, grad, firsts[i],
                                          s.noise, floor, s.thresholds)
        if reason[i] is None:
            break
    return reason


def _notes(n: int, labels: list[object], errors: Array, kink: Array, curved: Array,
           verified: bool, s: _Setting) -> str:
    """The row's sentence on the locations set aside (curvature, kinks)."""
    directional = s.mode == "directional"
    what = "directions" if directional else "coordinates"
    note = ""
    if curved.any():
        shown = ", ".join(str(labels[i]) for i in np.flatnonzero(curved)[:3])
        note = (f"{int(curved.sum())} of {n} {what} fail with h={s.h:g} only through "
                f"truncation error (error up to {float(np.max(errors[curved])):.1e} at {shown}, "
                "...; the step h/10 agrees): the function is strongly curved there, use a "
                "smaller h. ")
    if kink.any():
        found = [labels[i] for i in np.flatnonzero(kink)]
        shown = ", ".join(str(k) for k in found[:3]) + (", ..." if len(found) > 3 else "")
        note += (f"{len(found)} of {n} {what} straddle a kink (error there up to "
                 f"{float(np.max(errors[kink])):.1e}; at {shown}); the verdict uses the others")
        if not verified:
            note = (f"all {n} {what} straddle a kink or fail by truncation, so nothing "
                    "was verified away from one; check again with a smaller h, "
                    + ("or with mode='full' or 'sparse'" if directional else "or at another point"))
    return note.strip()


def _check_array(probe: Probe, f0: float, name: str, arr: Array, grad: Array,
                 s: _Setting) -> GradCheckRow:
    """One row: probe the array's locations, set kinks aside, judge the rest."""
    if arr.size == 0:
        return GradCheckRow(name=name, shape=tuple(arr.shape), mode=s.mode, checked=0,
                            max_error=0.0, where="-", analytic=np.nan, numerical=np.nan,
                            verdict=PASS, note="empty array: nothing to check")
    locations = _locations(arr, s.mode, s.k, s.directions, s.rng)
    firsts = [difference(probe, arr, loc, s.h, grad) for loc in locations]
    analytic = np.array([d.analytic for d in firsts])
    numerical = np.array([d.numerical for d in firsts])
    errors = relative_errors(analytic, numerical, s.noise / s.thresholds.pass_below)
    reason = _set_aside(probe, f0, arr, grad, locations, firsts, errors, s)
    kink = np.array([r == kinks.KINK for r in reason], dtype=bool)
    curved = np.array([r == kinks.CURVED for r in reason], dtype=bool)
    labels: list[object] = [f"u[{i}]" if s.mode == "directional" else loc
                            for i, loc in enumerate(locations)]
    rest = np.flatnonzero(~kink & ~curved)
    max_error, at, a_w, n_w, verdict = np.nan, "-", np.nan, np.nan, PASS
    if rest.size:  # NaN counts as the worst error
        worst = rest[np.argmax(np.where(np.isnan(errors[rest]), np.inf, errors[rest]))]
        max_error, at = float(errors[worst]), labels[worst]
        a_w, n_w = float(analytic[worst]), float(numerical[worst])
        verdict = s.thresholds.verdict(max_error)
    if kink.any() and verdict == PASS:
        verdict = KINK
    note = _notes(len(locations), labels, errors, kink, curved, bool(rest.size), s)
    if all(d.f_plus == f0 and d.f_minus == f0 for d in firsts) and np.any(analytic != 0):
        note = (f"J did not change at all when {name} was perturbed: is it the very array the "
                "forward pass reads (not a copy), and does the forward pass use it?")
    return GradCheckRow(name=name, shape=tuple(arr.shape), mode=s.mode, checked=len(locations),
                        max_error=max_error, where=at, analytic=a_w, numerical=n_w,
                        verdict=verdict, kinks=[labels[i] for i in np.flatnonzero(kink)],
                        note=note, curved=[labels[i] for i in np.flatnonzero(curved)])


def _checked_arrays(params: Any, grads: Any, where: str) -> dict[str, Array]:
    """The analytic gradients as float64 arrays, after checking keys, dtypes and shapes."""
    if not isinstance(params, dict) or not isinstance(grads, dict):
        raise TypeError(f"{where}: params and grads must be dicts name -> array, "
                        f"got {type(params).__name__} and {type(grads).__name__}")
    if set(params) != set(grads):
        raise ValueError(f"{where}: params and grads must have the same keys, got "
                         f"{sorted(params)} and {sorted(grads)}")
    out = {}
    for name, arr in params.items():
        writable_array(arr, f"params[{name!r}]", where)
        g = _checks.float_array(grads[name], f"grads[{name!r}]", where)
        if g.shape != arr.shape:
            raise ValueError(f"{where}: expected grads[{name!r}] of shape {arr.shape} "
                             f"(the shape of params[{name!r}]), got {g.shape}")
        out[name] = np.asarray(g, dtype=np.float64)
    return out


def _warn(notes: list[str], text: str) -> None:
    notes.append(text)
    warnings.warn(text, GradCheckWarning, stacklevel=4)


def check_gradients(J: Callable[[], Any], params: dict[str, Array], grads: dict[str, Any],
                    mode: str = "full", h: float = DEFAULT_H, k: int = 10, directions: int = 10,
                    rng: Seed = None, scale: float | None = None,
                    thresholds: Thresholds | None = None, title: str = "gradient check",
                    where: str = "check_gradients") -> GradCheckReport:
    """Check analytic gradients of a scalar J against finite differences.

    J: callable J() -> float that reads the arrays in ``params`` (a closure).
    params: name -> float ndarray; each is perturbed in place and restored exactly.
    grads: name -> the analytic dJ/d(params[name]), same shape, computed beforehand.
    mode: "full" | "sparse" (k random coordinates per array) | "directional"
        (``directions`` random unit directions per array).
    scale: the size of the numbers J is summed from (default |J(params)|); it sets the
        rounding noise NOISE_SAFETY * eps * scale / h and the floor of the errors.
    thresholds: defaults to FLOAT64_THRESHOLDS, or FLOAT32_THRESHOLDS if any array
        is float32 (which also adds a warning).
    Cost (evaluations of J): 1 + 2 * (coordinates or directions checked), plus 6 to 10
    for each location that does not pass and is examined for a kink.
    """
    mode, h = _mode(mode, where), step(h, where)
    k, directions = count(k, "k", where), count(directions, "directions", where)
    analytic = _checked_arrays(params, grads, where)
    dtype = _dtype_of(params.values())
    if thresholds is None:
        thresholds = FLOAT32_THRESHOLDS if dtype == np.float32 else FLOAT64_THRESHOLDS
    notes: list[str] = []
    for text in _input_warnings(where, params, h):
        _warn(notes, text)
    probe = Probe(J, where)
    f0 = probe()
    scale = abs(f0) if scale is None else float(scale)
    noise = NOISE_SAFETY * float(np.finfo(dtype).eps) * max(scale, np.finfo(np.float64).tiny) / h
    setting = _Setting(mode, h, k, directions, as_generator(rng), noise, thresholds)
    rows = [_check_array(probe, f0, name, arr, analytic[name], setting) for name, arr in params.items()]
    for row in rows:
        if row.curved:
            _warn(notes, f"{where}: h={h:g} is too large for the curvature of J in {row.name} at "
                         f"{len(row.curved)} place(s) (truncation error; the step h/10 agrees with "
                         "the gradient there); use a smaller h")
    return GradCheckReport(title=title, rows=rows, mode=mode, h=h, dtype=str(dtype),
                           thresholds=thresholds, noise=noise, evaluations=probe.evaluations,
                           warnings=notes)
