"""The grader's trusted half: make the inputs, run the sandboxed child, judge its outputs.

The verdict of every graded test cell is decided here, in the instructor's
process, which never executes student code.  The child (``child.py``) runs the
notebook and returns the student's raw outputs as ``.npz`` files, read back
with ``allow_pickle=False`` and size limits, plus one JSON line per finished
cell; any file it forged or left half-written counts as "no output".
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from coursekit._grader import checks as _checks
from coursekit._grader import sandbox

MAX_OUTPUT_BYTES = 64 * 1024 * 1024


@dataclass
class Verdict:
    """The verified result of one graded test cell."""

    name: str
    passed: bool
    problems: list = field(default_factory=list)
    reason: str = ""  # short machine-readable cause when not passed

    def message(self) -> str:
        if self.passed:
            return f"{self.name}: passed (verified by the grader)"
        return f"{self.name}: failed -- " + " | ".join(self.problems)


@dataclass
class VerifyResult:
    verdicts: dict  # check name -> Verdict
    cells: dict  # cell index -> {"stdout", "stderr", "error"} of the cells that finished
    run: sandbox.RunResult | None
    note: str = ""  # what ended the student process early, if anything


def write_job(workdir: str, assignment: str, cells: list, *, cell_timeout: int,
              max_output_chars: int) -> dict:
    """Write job.json and inputs/<check>.npz; return check name -> [(desc, inputs)].

    cells: [{"source": str, "check": name or None}] in notebook order.
    """
    os.makedirs(os.path.join(workdir, "inputs"), exist_ok=True)
    cases = {}
    for cell in cells:
        name = cell.get("check")
        if not name:
            continue
        check = _checks.get(assignment, name)
        cases[name] = list(check.cases())
        flat = {f"{i}:{k}": v for i, (_, inputs) in enumerate(cases[name]) for k, v in inputs.items()}
        np.savez(os.path.join(workdir, "inputs", f"{name}.npz"), **flat)
    with open(os.path.join(workdir, "job.json"), "w", encoding="utf-8") as fh:
        json.dump({"assignment": assignment, "cells": list(cells), "cell_timeout": cell_timeout,
                   "max_output_chars": max_output_chars}, fh)
    return cases


def _read_json(path: str, default):
    try:
        if os.path.getsize(path) > 1_000_000:
            return default
        with open(path, encoding="utf-8") as fh:
            value = json.load(fh)
        return value if isinstance(value, type(default)) else default
    except (OSError, ValueError):
        return default


def _read_outputs(path: str) -> dict | None:
    try:
        if os.path.getsize(path) > MAX_OUTPUT_BYTES:
            return None
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception:  # noqa: BLE001 - a corrupt or forged file is "no output"
        return None


def judge(assignment: str, name: str, cases: list, outdir: str, ended_early: str) -> Verdict:
    """Compare the child's outputs for check ``name`` with the reference."""
    check = _checks.get(assignment, name)
    arrays = _read_outputs(os.path.join(outdir, f"{name}.npz"))
    errors = _read_json(os.path.join(outdir, f"{name}.json"), [])
    if arrays is None:
        why = ended_early or "not reached"
        return Verdict(name, False, [f"not checked: {why}"], reason=why)
    err_by_case = {}
    for e in errors:
        if isinstance(e, dict) and isinstance(e.get("case"), int):
            err_by_case[e["case"]] = (str(e.get("type", "Error"))[:80], str(e.get("message", ""))[:500])
    problems, reason = [], ""
    for i, (desc, inputs) in enumerate(cases):
        if i in err_by_case:
            etype, msg = err_by_case[i]
            problems.append(f"case {desc}: {etype}: {msg}")
            if etype == "ReferenceUseError":
                reason = "uses coursekit's reference implementation"
            continue
        outputs = {k.split(":", 1)[1]: v for k, v in arrays.items()
                   if k.split(":", 1)[0] == str(i)}
        problems += [f"case {desc}: {p}" for p in _checks.judge_outputs(check, inputs, outputs)]
    if problems:
        return Verdict(name, False, problems, reason=reason or "wrong answer")
    return Verdict(name, True)


def _read_cell_records(path: str, n_cells: int) -> dict:
    """index -> record of every cell the child finished (lines it could not forge usefully)."""
    records = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if len(line) > 2_000_000:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("index"), int) \
                        and 0 <= rec["index"] < n_cells:
                    records[rec["index"]] = rec
    except OSError:
        pass
    return records


def verify(assignment: str, cells: list, workdir: str, *,
           limits: sandbox.Limits = sandbox.Limits(), wall_seconds: float = 120.0,
           cell_timeout: int = 30, max_output_chars: int = 100_000) -> VerifyResult:
    """Run the notebook ``cells`` in a fresh sandbox and judge every check they name."""
    uid = sandbox.sandbox_uid()
    sandbox.prepare_workdir(workdir, uid)
    cases = write_job(workdir, assignment, cells, cell_timeout=cell_timeout,
                      max_output_chars=max_output_chars)
    for root, dirs, files in os.walk(workdir):
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, uid)
    run = sandbox.run([sys.executable, "-I", "-m", "coursekit._grader.child"], workdir,
                      limits=limits, wall_seconds=wall_seconds, uid=uid)
    outdir = os.path.join(workdir, "out")
    records = _read_cell_records(os.path.join(outdir, "cells.jsonl"), len(cells))
    if run.timed_out:
        ended = f"time limit ({wall_seconds:g} s) exceeded"
    elif run.killed_by_signal:
        ended = f"the process was killed by signal {run.killed_by_signal} (a resource limit)"
    elif run.returncode != 0:
        ended = f"the student's code ended the process (exit code {run.returncode})"
    elif len(records) < sum(1 for c in cells if not c.get("skip")):
        ended = "the student's code ended the process early (os._exit or a crash)"
    else:
        ended = ""
    verdicts = {n: judge(assignment, n, cases[n], outdir, ended) for n in cases}
    return VerifyResult(verdicts, records, run, ended)
