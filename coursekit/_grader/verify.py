"""The grader's trusted half: make the inputs, run the sandboxed child, judge its outputs.

The verdict of every graded test cell is decided here, in the instructor's
process, which never executes student code.  The child (``child.py``) runs the
notebook and appends records to its one output file: a record per finished
cell, and per check the student's raw outputs as an ``.npz`` read back with
``allow_pickle=False`` and a size limit.  Anything forged or half-written
counts as "no output".
"""
from __future__ import annotations

import io
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
    n_cases: int = 0  # cases of the check (partial credit counts failing cases)

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
              max_output_chars: int, solutions_dir: str | None = None) -> dict:
    """Write job.json and inputs/<check>.npz; return check name -> [(desc, inputs)].

    cells: [{"source": str, "check": name or None}] in notebook order.
    solutions_dir: nbgrader's source folder, where the hidden checks' cases are
    (``_hidden/<assignment>.py``; default: the course root's ``solutions/``).
    Only the arrays reach the sandbox, never that file.
    """
    os.makedirs(os.path.join(workdir, "inputs"), exist_ok=True)
    cases = {}
    for cell in cells:
        name = cell.get("check")
        if not name:
            continue
        check = _checks.get(assignment, name)
        cases[name] = list(_checks.cases_of(check, solutions_dir))
        flat = {f"{i}:{k}": v for i, (_, inputs) in enumerate(cases[name]) for k, v in inputs.items()}
        np.savez(os.path.join(workdir, "inputs", f"{name}.npz"), **flat)
    with open(os.path.join(workdir, "job.json"), "w", encoding="utf-8") as fh:
        json.dump({"assignment": assignment, "cells": list(cells), "cell_timeout": cell_timeout,
                   "max_output_chars": max_output_chars}, fh)
    return cases


def read_records(path: str, n_cells: int) -> tuple:
    """Parse /out.bin: (cell index -> cell record, check name -> (arrays, errors)).

    Reading stops at the first malformed record; a check whose ``.npz`` does
    not load without pickle counts as not recorded.  Nothing here can raise.
    """
    cells, checks = {}, {}
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_OUTPUT_BYTES + 1)
    except OSError:
        return cells, checks
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            break
        try:
            header = json.loads(data[pos:end].decode("utf-8"))
            size = int(header.get("size", 0))
        except (ValueError, AttributeError, TypeError):
            break
        if not isinstance(header, dict) or size < 0 or end + 1 + size > len(data):
            break
        payload, pos = data[end + 1:end + 1 + size], end + 1 + size
        if header.get("kind") == "cell" and isinstance(header.get("index"), int) \
                and 0 <= header["index"] < n_cells:
            cells[header["index"]] = header
        elif header.get("kind") == "check" and isinstance(header.get("name"), str):
            try:
                with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in npz.files}
            except Exception:  # noqa: BLE001 - forged or truncated: not recorded
                continue
            errors = header.get("errors") if isinstance(header.get("errors"), list) else []
            checks[header["name"]] = (arrays, errors)
    return cells, checks


def judge(assignment: str, name: str, cases: list, recorded, ended_early: str) -> Verdict:
    """Compare the recorded outputs ``(arrays, errors)`` of check ``name`` with the reference."""
    check = _checks.get(assignment, name)
    if recorded is None:
        why = ended_early or "not reached"
        return Verdict(name, False, [f"not checked: {why}"], reason=why, n_cases=len(cases))
    arrays, errors = recorded
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
        return Verdict(name, False, problems, reason=reason or "wrong answer", n_cases=len(cases))
    return Verdict(name, True, n_cases=len(cases))


def verify(assignment: str, cells: list, scratch: str, *,
           limits: sandbox.Limits = sandbox.Limits(), wall_seconds: float = 120.0,
           cell_timeout: int = 30, max_output_chars: int = 100_000,
           solutions_dir: str | None = None) -> VerifyResult:
    """Run the notebook ``cells`` in a fresh sandbox and judge every check they name.

    ``scratch`` is a private folder of the grader for the job and the output file;
    ``solutions_dir`` holds the hidden checks' cases (see :func:`write_job`).
    """
    uid = sandbox.sandbox_uid()
    job_dir, out_file = sandbox.prepare(scratch, uid)
    cases = write_job(job_dir, assignment, cells, cell_timeout=cell_timeout,
                      max_output_chars=max_output_chars, solutions_dir=solutions_dir)
    run = sandbox.run([sys.executable, "-I", "-m", "coursekit._grader.child"], job_dir, out_file,
                      limits=limits, wall_seconds=wall_seconds, uid=uid)
    records, recorded = read_records(out_file, len(cells))
    if run.timed_out:
        ended = f"time limit ({wall_seconds:g} s) exceeded"
    elif run.killed_by_signal:
        ended = f"the process was killed by signal {run.killed_by_signal} (a resource limit)"
    elif run.returncode != 0:
        ended = f"the student's code ended the process (exit code {run.returncode})"
    elif len(records) < len(cells):
        ended = "the student's code ended the process early (os._exit or a crash)"
    else:
        ended = ""
    verdicts = {n: judge(assignment, n, cases[n], recorded.get(n), ended) for n in cases}
    return VerifyResult(verdicts, records, run, ended)
