"""What a gradient check returns: verdicts, thresholds, one row per array, the report.

A row holds the largest relative error of one checked array, where it occurs,
the two values compared there and a verdict:

    PASS  err < pass_below        (float64: 1e-7)
    WARN  pass_below <= err < warn_below   (float64: 1e-4)
    FAIL  otherwise, NaN included
    KINK  nothing failed away from a non-differentiable point (not a failure)

``print(report)`` gives an aligned table; a notebook renders it as HTML.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

PASS, KINK, WARN, FAIL = "PASS", "KINK", "WARN", "FAIL"
SEVERITY = {PASS: 0, KINK: 1, WARN: 2, FAIL: 3}
KINK_MESSAGE = "KINK: the difference straddles a non-differentiable point; not a failure"


@dataclass(frozen=True)
class Thresholds:
    """Verdict thresholds on the relative error: PASS if err < pass_below,
    WARN if err < warn_below, FAIL otherwise."""

    pass_below: float
    warn_below: float

    def verdict(self, err: float) -> str:
        """PASS, WARN or FAIL for one relative error."""
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
    shape: tuple[int, ...]
    mode: str
    checked: int
    max_error: float
    where: object
    analytic: float
    numerical: float
    verdict: str
    kinks: list[object] = field(default_factory=list)
    note: str = ""
    curved: list[object] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """PASS, KINK and WARN do not fail."""
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
    rows: list[GradCheckRow]
    mode: str
    h: float
    dtype: str
    thresholds: Thresholds
    noise: float
    evaluations: int
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def worst(self) -> GradCheckRow:
        def key(row: GradCheckRow) -> tuple[int, float]:
            err = row.max_error
            if not np.isfinite(err):  # NaN: a FAIL of an undefined value, or nothing verified
                err = np.inf if row.verdict == FAIL else 0.0
            return (SEVERITY[row.verdict], err)
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

