"""SandboxedExecute: nbgrader's Execute step, replaced by sandboxed runs and a verifier.

nbgrader's autograde calls this preprocessor where it would call ``Execute``
(see ``nbgrader_config.py``).  On the notebook that nbgrader has already
restored (test cells put back from the gradebook), it

1. runs the whole notebook in a sandboxed kernel (``nbrun``), for feedback;
2. runs the student's code in a second, fresh sandbox and has the grader judge
   every test cell that has a registered check (``verify``);
3. writes the *verified* verdict as the output of each test cell, so that
   nbgrader's own ``SaveAutoGrades`` records the verified score (an error
   output scores 0, an ``execute_result`` number is partial credit, anything
   else full marks);
4. copies the kernel's outputs of the other cells, with tracebacks scrubbed of
   hidden-test lines, and writes a JSON report (reasons) for ``coursekit grade``.

The kernel run never decides a grade: code that patches numpy.testing,
builtins, coursekit.grading or IPython's traceback display can only change
what the kernel printed.  When the kernel's test passed but the verified check
failed, the report says "verdicts differ".
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Int, Unicode

from coursekit._grader import checks as _checks
from coursekit._grader import sandbox, verify

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
SKIP_TAG = "coursekit:skip-verify"  # instructor cells the verifier need not run (plots, demos)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def student_code_cells(nb) -> list:
    """Source of the code cells the verifier runs: all but test cells and skipped demos."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        if SKIP_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        out.append(cell.source if isinstance(cell.source, str) else "".join(cell.source))
    return out


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


def _kernel_passed(cell) -> bool | None:
    """In-kernel verdict of a test cell: None when it did not run."""
    outputs = cell.get("outputs", [])
    if not outputs and cell.get("execution_count") is None:
        return None
    return not any(o.get("output_type") == "error" or
                   (o.get("output_type") == "stream" and o.get("name") == "stderr")
                   for o in outputs)


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


class SandboxedExecute(NbGraderPreprocessor):
    """Execute in a sandbox and record the verifier's verdicts (replaces nbgrader's Execute)."""

    cell_timeout = Int(30, help="Seconds a single cell may run in the feedback kernel.").tag(config=True)
    time_limit = Float(120.0, help="Wall-clock seconds for each sandboxed run of a submission.").tag(config=True)
    memory_mb = Int(2048, help="Address-space limit of each sandboxed process (MB).").tag(config=True)
    cpu_seconds = Int(120, help="CPU-time limit of each sandboxed process (s).").tag(config=True)
    max_processes = Int(64, help="Process/thread limit of the sandbox user.").tag(config=True)
    file_size_mb = Int(64, help="Largest file the student's code may write (MB).").tag(config=True)
    max_output_bytes = Int(1_000_000, help="Outputs kept per cell in the feedback.").tag(config=True)
    report_dir = Unicode("", help="Folder for the per-submission JSON reports.").tag(config=True)
    scratch_dir = Unicode("", help="Parent of the private scratch folders (default: system temp).").tag(config=True)

    def _limits(self) -> sandbox.Limits:
        return sandbox.Limits(memory_mb=self.memory_mb, cpu_seconds=self.cpu_seconds,
                              processes=self.max_processes, file_size_mb=self.file_size_mb)

    def preprocess(self, nb, resources):
        if not sandbox.available():
            raise RuntimeError("cannot grade safely: " + sandbox.unavailable_reason())
        info = resources.get("nbgrader", {})
        assignment, student = info.get("assignment", "?"), info.get("student", "?")
        scratch = tempfile.mkdtemp(prefix=f"coursekit-{student}-", dir=self.scratch_dir or None)
        os.chmod(scratch, 0o711)
        try:
            executed, kernel_status = self._run_kernel(nb, scratch)
            tests = {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if is_test_cell(c)}
            known = _checks.for_assignment(assignment)
            names = [n for n in tests if n in known]
            result = verify.verify(assignment, student_code_cells(nb), names,
                                   os.path.join(scratch, "verify"), limits=self._limits(),
                                   wall_seconds=self.time_limit)
            report = self._merge(nb, executed, tests, result, known)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        report.update(student=student, assignment=assignment, kernel=kernel_status,
                      verifier=result.note or "ok",
                      cell_errors=[e.get("error", "") for e in result.cell_errors
                                   if isinstance(e, dict)][:20])
        resources.setdefault("coursekit", {})["report"] = report
        if self.report_dir:
            os.makedirs(self.report_dir, exist_ok=True)
            path = os.path.join(self.report_dir, f"{student}.{assignment}.verify.json")
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(report, fh, indent=1)
        return nb, resources

    # -- 1. the feedback kernel ------------------------------------------------
    def _run_kernel(self, nb, scratch: str):
        uid = sandbox.sandbox_uid()
        workdir = sandbox.prepare_workdir(os.path.join(scratch, "run"), uid)
        clean = nbformat.from_dict(json.loads(json.dumps(nb)))
        for cell in clean.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(clean, os.path.join(workdir, "in.ipynb"))
        os.chown(os.path.join(workdir, "in.ipynb"), uid, uid)
        run = sandbox.run([sys.executable, "-I", "-m", "coursekit._grader.nbrun", "in.ipynb",
                           "out.ipynb", str(self.cell_timeout), str(self.max_output_bytes)],
                          workdir, limits=self._limits(), wall_seconds=self.time_limit, uid=uid)
        executed = None
        out_path = os.path.join(workdir, "out.ipynb")
        try:
            if os.path.getsize(out_path) <= 50 * 1024 * 1024:
                executed = nbformat.read(out_path, as_version=4)
        except Exception:  # noqa: BLE001 - missing, huge or forged: no kernel outputs
            executed = None
        if run.timed_out:
            status = f"time limit ({self.time_limit:.0f} s) exceeded"
        elif executed is None:
            status = f"kernel run produced no notebook (exit {run.returncode})"
        else:
            status = str(executed.metadata.get("coursekit_run", {}).get("status", "unknown"))[:300]
        return executed, status

    # -- 3 and 4. verdicts into the notebook -----------------------------------------
    def _merge(self, nb, executed, tests: dict, result: verify.VerifyResult, known: dict) -> dict:
        secret = hidden_lines(nb)
        parts = {}
        ran = executed is not None and len(executed.cells) == len(nb.cells)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            kcell = executed.cells[index] if ran else None
            if kcell is not None and kcell.get("source") != cell.source:
                kcell = None  # the file was forged: ignore its outputs
            if not is_test_cell(cell):
                cell.outputs = scrub_outputs(kcell.get("outputs", []), secret) if kcell else []
                cell.execution_count = kcell.get("execution_count") if kcell else None
                continue
            grade_id = nbgrader_meta(cell)["grade_id"]
            points = float(nbgrader_meta(cell).get("points", 0))
            in_kernel = _kernel_passed(kcell) if kcell else None
            verdict = result.verdicts.get(grade_id)
            if verdict is None:
                # no registered check: keep nbgrader's usual in-kernel verdict
                cell.outputs = scrub_outputs(kcell.get("outputs", []), secret) if kcell else [
                    nbformat.v4.new_output("error", ename="NotRun", evalue="the cell did not run",
                                           traceback=["NotRun: the cell did not run"])]
                parts[grade_id] = {"points": points, "verified": False, "in_kernel": in_kernel}
                continue
            n_cases = len(known[grade_id].cases())
            cell.outputs = verdict_outputs(verdict, points, n_cases)
            cell.execution_count = kcell.get("execution_count") if kcell else None
            differ = bool(in_kernel) and not verdict.passed
            parts[grade_id] = {"points": points, "verified": True, "passed": verdict.passed,
                               "in_kernel": in_kernel, "reason": verdict.reason,
                               "problems": verdict.problems[:10],
                               "verdicts_differ": differ}
        return {"parts": parts}
