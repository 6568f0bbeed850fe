"""The verifier's trusted half: make inputs, run the sandboxed child, judge its outputs.

The verdict of every graded test cell is decided here, in the instructor's
process, which never executes student code: the child (``child.py``) only
returns raw arrays, read back with ``allow_pickle=False`` and size limits.
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
    verdicts: dict  # name -> Verdict
    cell_errors: list
    run: sandbox.RunResult | None
    note: str = ""  # what ended the student process early, if anything


def _case_inputs(check: _checks.Check):
    return list(check.cases())


def write_job(workdir: str, assignment: str, cells: list, names: list) -> dict:
    """Write job.json and inputs/<check>.npz; return name -> [(desc, inputs)]."""
    os.makedirs(os.path.join(workdir, "inputs"), exist_ok=True)
    cases = {}
    for name in names:
        check = _checks.get(assignment, name)
        cases[name] = _case_inputs(check)
        flat = {f"{i}:{k}": v for i, (_, inputs) in enumerate(cases[name]) for k, v in inputs.items()}
        np.savez(os.path.join(workdir, "inputs", f"{name}.npz"), **flat)
    with open(os.path.join(workdir, "job.json"), "w", encoding="utf-8") as fh:
        json.dump({"assignment": assignment, "checks": list(names), "cells": list(cells)}, fh)
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
        why = ended_early or "no output"
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


def verify(assignment: str, cells: list, names: list, workdir: str, *,
           limits: sandbox.Limits = sandbox.Limits(), wall_seconds: float | None = None) -> VerifyResult:
    """Run ``cells`` (the student's code) in a fresh sandbox and judge the checks ``names``."""
    uid = sandbox.sandbox_uid()
    sandbox.prepare_workdir(workdir, uid)
    cases = write_job(workdir, assignment, cells, names)
    for root, dirs, files in os.walk(workdir):
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, uid)
    if wall_seconds is None:
        wall_seconds = 15.0 + sum(_checks.get(assignment, n).time_limit for n in names)
    run = sandbox.run([sys.executable, "-I", "-m", "coursekit._grader.child"], workdir,
                      limits=limits, wall_seconds=wall_seconds, uid=uid)
    outdir = os.path.join(workdir, "out")
    if run.timed_out:
        ended = f"time limit ({wall_seconds:.0f} s) exceeded"
    elif run.killed_by_signal:
        ended = f"the process was killed by signal {run.killed_by_signal} (resource limit?)"
    elif run.returncode != 0:
        ended = f"the student's code ended the process (exit code {run.returncode})"
    elif not os.path.exists(os.path.join(outdir, "_cells.json")):
        ended = "the student's code ended the process early (os._exit or a crash)"
    else:
        ended = ""
    cell_errors = _read_json(os.path.join(outdir, "_cells.json"), [])
    verdicts = {n: judge(assignment, n, cases[n], outdir, ended) for n in names}
    return VerifyResult(verdicts, cell_errors, run, ended)
