"""SandboxedExecute: nbgrader's Execute step, replaced by a sandboxed run and the grader's verdicts.

nbgrader's autograde calls this preprocessor where it would call ``Execute``
(see ``coursekit/_grader/course.py``), on the notebook nbgrader has already
restored (test cells put back from the gradebook).  It

1. runs the notebook's code cells, in order, in one fresh sandboxed process
   (:mod:`~coursekit._grader.child`); at each test cell that has a registered
   check, the student's functions are called on the grader's inputs and their
   raw outputs saved;
2. judges those outputs here, in the instructor's process, against
   coursekit's reference (:mod:`~coursekit._grader.verify`);
3. writes each verdict as the output of its test cell, so that nbgrader's own
   ``SaveAutoGrades`` records it (an error output scores 0, an
   ``execute_result`` number is partial credit, other output full marks);
4. gives the other cells the outputs of the sandboxed run, tracebacks
   scrubbed of hidden-test lines, and writes a JSON report of reasons.

Nothing the student's code does in its process can change a verdict.  In the
sandbox ``coursekit.grading.check`` always raises ``GradingDeferred``; a test
cell that finishes without it had its helpers replaced: reported as tampering.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Int, Unicode

from coursekit._grader import checks as _checks
from coursekit._grader import sandbox, verify

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def without_hidden(source: str) -> str:
    """``source`` without its hidden-test block (the release never has it)."""
    out, inside = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out).strip()


def sandbox_source(cell, assignment: str, check: str | None) -> str:
    """What the sandbox runs for ``cell``: never the source of a hidden test.

    The sandboxed code can read its job file, so a hidden-test block is
    replaced by the call it stands for (the check runs in the grader anyway);
    that call still reveals tampering with coursekit.grading.
    """
    source = str(cell.source)
    if check is None or BEGIN_HIDDEN not in source:
        return source
    return (without_hidden(source) + "\nimport coursekit.grading as _coursekit_grading\n"
            f"_coursekit_grading.check({assignment!r}, {check!r}, globals())\n")


def hidden_lines(nb) -> list:
    """Every non-trivial source line inside a hidden-test block of any cell."""
    lines = []
    for cell in nb.cells:
        inside = False
        for line in str(cell.source).splitlines():
            if BEGIN_HIDDEN in line:
                inside = True
            elif END_HIDDEN in line:
                inside = False
            elif inside and len(line.strip()) >= 6:
                lines.append(line.strip())
    return lines


def scrub_text(text: str, secret_lines: list) -> str:
    """Drop every line of ``text`` that contains a hidden-test source line."""
    if not secret_lines:
        return text
    kept = [ln for ln in text.split("\n") if not any(s in ln for s in secret_lines)]
    return "\n".join(kept)


def scrub_outputs(outputs: list, secret_lines: list) -> list:
    clean = []
    for out in outputs:
        out = nbformat.from_dict(json.loads(json.dumps(out)))
        if out.get("output_type") == "error":
            out["traceback"] = [scrub_text(str(t), secret_lines) for t in out.get("traceback", [])]
            out["evalue"] = scrub_text(str(out.get("evalue", "")), secret_lines)
        elif out.get("output_type") == "stream":
            out["text"] = scrub_text(str(out.get("text", "")), secret_lines)
        elif "data" in out:
            out["data"] = {k: (scrub_text(v, secret_lines) if isinstance(v, str) else v)
                           for k, v in out["data"].items()}
        clean.append(out)
    return clean


def verdict_outputs(verdict: verify.Verdict, points: float, n_cases: int) -> list:
    """Outputs that make nbgrader record the verified score of a test cell."""
    if verdict.passed:
        return [nbformat.v4.new_output("stream", name="stdout", text=verdict.message() + "\n")]
    failed_cases = sum(1 for p in verdict.problems if p.startswith("case "))
    if 0 < failed_cases < n_cases and verdict.reason in ("wrong answer",):
        partial = round(points * (n_cases - failed_cases) / n_cases, 2)
        return [nbformat.v4.new_output("stream", name="stdout",
                                       text=verdict.message() + f"\npartial credit: {n_cases - failed_cases} of {n_cases} cases passed\n"),
                nbformat.v4.new_output("execute_result", data={"text/plain": repr(partial)},
                                       execution_count=None)]
    return [nbformat.v4.new_output("error", ename="CheckFailed", evalue=verdict.message(),
                                   traceback=["CheckFailed: " + verdict.message()])]


def record_outputs(record: dict | None, secret: list) -> list:
    """Notebook outputs for one cell record of the sandboxed run, hidden lines scrubbed."""
    if record is None:
        return []
    outs = []
    for name in ("stdout", "stderr"):
        text = record.get(name)
        if isinstance(text, str) and text:
            outs.append(nbformat.v4.new_output("stream", name=name, text=text))
    err = record.get("error")
    if isinstance(err, dict):
        tb = err.get("traceback") if isinstance(err.get("traceback"), list) else []
        outs.append(nbformat.v4.new_output("error", ename=str(err.get("ename", "Error"))[:100],
                                           evalue=str(err.get("evalue", ""))[:2000],
                                           traceback=[str(t) for t in tb][:40]))
    return scrub_outputs(outs, secret)


def in_notebook_outcome(record: dict | None) -> str:
    """How a test cell ended in the sandbox: 'deferred' (normal), 'completed' (tampered),
    'failed' (an error before the grader's check) or 'not run'."""
    if record is None:
        return "not run"
    err = record.get("error")
    if not err:
        return "completed"
    return "deferred" if isinstance(err, dict) and err.get("ename") == "GradingDeferred" else "failed"


class SandboxedExecute(NbGraderPreprocessor):
    """Execute in a sandbox and record the grader's verdicts (replaces nbgrader's Execute)."""

    cell_timeout = Int(30, help="Seconds a single cell may run.").tag(config=True)
    time_limit = Float(120.0, help="Wall-clock seconds for the whole run of a submission.").tag(config=True)
    memory_mb = Int(2048, help="Address-space limit of the sandboxed process (MB).").tag(config=True)
    cpu_seconds = Int(120, help="CPU-time limit of the sandboxed process (s).").tag(config=True)
    max_processes = Int(64, help="Process/thread limit of the sandbox user.").tag(config=True)
    file_size_mb = Int(64, help="Largest file the student's code may write (MB).").tag(config=True)
    max_output_chars = Int(100_000, help="Characters of stdout/stderr kept per cell.").tag(config=True)
    report_dir = Unicode("", help="Folder for the per-submission JSON reports.").tag(config=True)
    scratch_dir = Unicode("", help="Parent of the private scratch folders (default: system temp).").tag(config=True)
    solutions_dir = Unicode("", help="The instructor's source folder (solutions/), whose _hidden/ holds "
                            "the hidden tests' cases (default: the course root's).").tag(config=True)

    def _limits(self) -> sandbox.Limits:
        return sandbox.Limits(memory_mb=self.memory_mb, cpu_seconds=self.cpu_seconds,
                              processes=self.max_processes, file_size_mb=self.file_size_mb)

    def preprocess(self, nb, resources):
        if not sandbox.available():
            raise RuntimeError("cannot grade safely: " + sandbox.unavailable_reason())
        info = resources.get("nbgrader", {})
        assignment, student = info.get("assignment", "?"), info.get("student", "?")
        known = _checks.for_assignment(assignment)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        job = []
        for cell in code_cells:
            gid = nbgrader_meta(cell).get("grade_id")
            check = gid if is_test_cell(cell) and gid in known else None
            job.append({"source": sandbox_source(cell, assignment, check), "check": check})
        scratch = tempfile.mkdtemp(prefix="coursekit-grade-", dir=self.scratch_dir or None)
        start = time.monotonic()
        try:
            result = verify.verify(assignment, job, os.path.join(scratch, "run"),
                                   limits=self._limits(), wall_seconds=self.time_limit,
                                   cell_timeout=self.cell_timeout,
                                   max_output_chars=self.max_output_chars,
                                   solutions_dir=self.solutions_dir or None)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        report = self._merge(nb, code_cells, result, known)
        timeouts = sum(1 for r in result.cells.values()
                       if isinstance(r.get("error"), dict) and r["error"].get("ename") == "CellTimeout")
        errors = [f"{r['error'].get('ename')}: {r['error'].get('evalue', '')}"[:300]
                  for r in result.cells.values()
                  if isinstance(r.get("error"), dict)
                  and r["error"].get("ename") not in ("GradingDeferred", "CheckFailed")]
        truncated = sum(1 for r in result.cells.values()
                        if "[output truncated" in str(r.get("stdout", "")) + str(r.get("stderr", "")))
        report.update(student=student, assignment=assignment, run=result.note or "ok",
                      cell_timeouts=timeouts, truncated_outputs=truncated, cell_errors=errors[:20],
                      seconds=round(time.monotonic() - start, 2))
        resources.setdefault("coursekit", {})["report"] = report
        if self.report_dir:
            os.makedirs(self.report_dir, exist_ok=True)
            path = os.path.join(self.report_dir, f"{student}.{assignment}.verify.json")
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(report, fh, indent=1)
        return nb, resources

    def _merge(self, nb, code_cells: list, result: verify.VerifyResult, known: dict) -> dict:
        """Outputs of the sandboxed run into the cells; verdicts into the test cells."""
        secret = hidden_lines(nb)
        parts = {}
        for index, cell in enumerate(code_cells):
            record = result.cells.get(index)
            cell.execution_count = index + 1 if record is not None else None
            if not is_test_cell(cell):
                cell.outputs = record_outputs(record, secret)
                continue
            meta = nbgrader_meta(cell)
            grade_id, points = meta["grade_id"], float(meta.get("points", 0))
            verdict = result.verdicts.get(grade_id)
            if verdict is None:  # no registered check: nbgrader's usual in-notebook verdict
                cell.outputs = record_outputs(record, secret) or [nbformat.v4.new_output(
                    "error", ename="NotRun", evalue="the cell did not run",
                    traceback=["NotRun: the cell did not run"])]
                parts[grade_id] = {"points": points, "verified": False}
                continue
            outcome = in_notebook_outcome(record)
            cell.outputs = verdict_outputs(verdict, points, verdict.n_cases)
            parts[grade_id] = {"points": points, "verified": True, "passed": verdict.passed,
                               "reason": verdict.reason, "problems": verdict.problems[:10],
                               "in_notebook": outcome, "tampered": outcome == "completed"}
        return {"parts": parts}
