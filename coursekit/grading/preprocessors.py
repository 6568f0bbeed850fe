"""nbgrader preprocessors of the course: restore metadata, grade in the sandbox, write the report.

The course's nbgrader configuration (:mod:`coursekit.grading.course`) puts

* :class:`RestoreReleaseMetadata` before nbgrader's ``OverwriteCells``, so a
  submission whose cells' nbgrader flags were edited is graded with the
  release's flags (nbgrader already restores sources, not flags);
* :class:`SandboxedExecute` where nbgrader would run ``Execute``: the notebook
  runs in the sandbox, every check is judged in this process
  (:func:`coursekit.grading.grader.grade_notebook`), and each test cell gets
  outputs that make nbgrader's ``SaveAutoGrades`` record the verified score
  (an error output scores 0, an ``execute_result`` number is partial credit,
  any other output full marks).  Other cells get what they printed.
"""
from __future__ import annotations

import json
import os

import nbformat
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Int, Unicode

from coursekit.grading import grader, judging, sandbox, source


def gradebook_cells(db_url: str, notebook: str, assignment: str) -> dict:
    """grade id -> the release's nbgrader metadata of that cell, read from the gradebook."""
    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        grades = {c.name: c for c in nb.grade_cells}
        solutions = {c.name for c in nb.solution_cells}
        tasks = {c.name for c in nb.task_cells}
        out = {}
        for cell in nb.source_cells:
            meta = {"grade_id": cell.name, "locked": bool(cell.locked), "schema_version": 3,
                    "grade": cell.name in grades, "solution": cell.name in solutions,
                    "task": cell.name in tasks}
            if cell.name in grades:
                meta["points"] = float(grades[cell.name].max_score)
            if cell.checksum:
                meta["checksum"] = cell.checksum
            if meta["grade"] or meta["solution"] or meta["task"] or meta["locked"]:
                out[cell.name] = {"meta": meta, "cell_type": cell.cell_type, "source": cell.source}
        return out


def test_sources(db_url: str, notebook: str, assignment: str) -> dict:
    """grade id -> source (hidden blocks included) of every code test cell in the gradebook."""
    return {gid: c["source"] for gid, c in gradebook_cells(db_url, notebook, assignment).items()
            if c["cell_type"] == "code" and c["meta"]["grade"] and not c["meta"]["solution"]}


class RestoreReleaseMetadata(NbGraderPreprocessor):
    """Give every nbgrader cell of a submission the release's flags; unknown ones become plain cells.

    A test cell turned into an answer cell, an answer cell given points, or a
    cell carrying the grade id of nothing in the release is graded exactly as
    released.  Every change -- restored flags, unknown ids, edited or deleted
    test cells (nbgrader puts those back) -- is noted in a file next to the
    report, where the autograde pass, a separate conversion, picks it up.
    """

    state_dir = Unicode("", help="Where reports go (<course>/.coursekit).").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        release = gradebook_cells(info["db_url"], info["notebook"], info["assignment"])
        changed, unknown, edited, seen = [], [], [], set()
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader")
            if not isinstance(meta, dict):
                continue
            gid = meta.get("grade_id")
            if gid not in release or gid in seen:
                del cell.metadata["nbgrader"]
                unknown.append(str(gid)[:60])
                continue
            seen.add(gid)
            want = release[gid]["meta"]
            if any(bool(meta.get(k)) != bool(want.get(k)) for k in ("grade", "solution", "locked", "task")) \
                    or (want["grade"] and float(meta.get("points") or 0) != want["points"]):
                changed.append(gid)
            if want["locked"] and source.split_hidden(str(cell.source))[0] != \
                    source.split_hidden(release[gid]["source"])[0]:
                edited.append(gid)
            cell.metadata["nbgrader"] = dict(want)
            if cell.cell_type != release[gid]["cell_type"]:
                changed.append(gid)
                cell.cell_type = release[gid]["cell_type"]
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
                else:
                    cell.pop("outputs", None)
                    cell.pop("execution_count", None)
        tests = [g for g, c in release.items() if c["meta"]["grade"] and not c["meta"]["solution"]]
        deleted = [g for g in tests if g not in seen]
        notes = []
        if deleted:
            notes.append("deleted test cells restored: " + ", ".join(deleted))
        if edited:
            notes.append("edited test cells restored: " + ", ".join(edited))
        if changed:
            notes.append("nbgrader metadata of cells restored to the release's: " + ", ".join(sorted(set(changed))))
        if unknown:
            notes.append("cells with unknown nbgrader ids treated as ordinary cells: " + ", ".join(unknown[:10]))
        path = report_path(self.state_dir, info["assignment"], info["student"]) + ".notes"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(notes, fh)
        return nb, resources


class SandboxedExecute(NbGraderPreprocessor):
    """Run the notebook in the sandbox and record the grader's verdicts (replaces nbgrader's Execute)."""

    cell_timeout = Float(30.0, help="Seconds a single cell (or the check of a test cell) may run.").tag(config=True)
    time_limit = Float(120.0, help="Wall-clock seconds for the whole run of a submission.").tag(config=True)
    memory_mb = Int(2048, help="Address-space limit of each sandboxed process (MB).").tag(config=True)
    cpu_seconds = Int(120, help="CPU-time limit of each sandboxed process (s).").tag(config=True)
    max_processes = Int(32, help="Processes and threads the sandbox may hold.").tag(config=True)
    file_size_mb = Int(64, help="Largest file the student's code may write (MB).").tag(config=True)
    max_output_chars = Int(100_000, help="Characters of stdout/stderr kept per cell.").tag(config=True)
    isolation = Unicode("sandbox", help="'sandbox' (bubblewrap as root or in a user namespace) or "
                        "'none' (no isolation: only with `coursekit grade --unsafe-no-sandbox`).").tag(config=True)
    source_dir = Unicode("", help="The course's source folder (solutions/).").tag(config=True)
    state_dir = Unicode("", help="Where reports and caches go (<course>/.coursekit).").tag(config=True)

    def settings(self) -> grader.Settings:
        limits = sandbox.Limits(memory_mb=self.memory_mb, cpu_seconds=self.cpu_seconds,
                                processes=self.max_processes, file_size_mb=self.file_size_mb)
        return grader.Settings(cache_dir=grader.cache_dir(self.state_dir), cell_timeout=self.cell_timeout,
                               time_limit=self.time_limit, limits=limits, isolation=self.isolation,
                               max_output_chars=self.max_output_chars)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        src = source.find(self.source_dir, info["assignment"])
        tests = test_sources(info["db_url"], info["notebook"], info["assignment"])
        run = grader.grade_notebook(nb, src, tests, self.settings())
        parts = write_outputs(nb, run, src.spec())
        names = {str(i + 1): source.nbgrader_meta(c).get("grade_id", "")
                 for i, c in enumerate(grader.code_cells(nb)) if source.nbgrader_meta(c).get("grade_id")}
        truncated = sum("[output truncated" in (r.get("stdout") or "") + (r.get("stderr") or "")
                        for r in run.cells.values())
        report = {"student": info["student"], "assignment": info["assignment"], "isolation": run.isolation,
                  "parts": parts, "events": run.events, "tampering": run.tampering, "seconds": run.seconds,
                  "notes": sanitize_notes(self.state_dir, info["assignment"], info["student"]),
                  "cell_names": names,
                  "truncated": truncated, "cell_errors": cell_errors(run.cells)}
        resources.setdefault("coursekit", {})["report"] = report
        path = report_path(self.state_dir, info["assignment"], info["student"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
        os.replace(path + ".tmp", path)
        return nb, resources


def report_path(state_dir: str, assignment: str, student: str) -> str:
    return os.path.join(state_dir, "reports", assignment, f"{student}.json")


def sanitize_notes(state_dir: str, assignment: str, student: str) -> list:
    """What RestoreReleaseMetadata noted about this submission in the sanitize pass."""
    try:
        with open(report_path(state_dir, assignment, student) + ".notes", encoding="utf-8") as fh:
            notes = json.load(fh)
        return [str(n) for n in notes] if isinstance(notes, list) else []
    except (OSError, ValueError):
        return []


def cell_errors(cells: dict) -> list:
    """'ename: evalue' of every cell that raised (the grader's own GradingDeferred excluded)."""
    out = []
    for index in sorted(cells):
        err = cells[index].get("error")
        if isinstance(err, dict) and err.get("ename") not in ("GradingDeferred", None):
            out.append({"cell": index + 1, "error": f"{err.get('ename')}: {err.get('evalue', '')}"[:300]})
    return out[:50]


def verdict_outputs(verdict: judging.Verdict, points: float) -> list:
    """Outputs that make nbgrader record the verified score of a test cell (never stderr)."""
    if verdict.passed:
        return [nbformat.v4.new_output("stream", name="stdout", text=verdict.message() + "\n")]
    fraction = verdict.fraction()
    if fraction > 0:
        earned = round(points * fraction, 3)
        text = verdict.message() + f"\npartial credit: {verdict.n_cases - verdict.n_failed} of " \
                                   f"{verdict.n_cases} cases passed\n"
        return [nbformat.v4.new_output("stream", name="stdout", text=text),
                nbformat.v4.new_output("execute_result", data={"text/plain": repr(earned)},
                                       execution_count=None)]
    lines = verdict.message().split("\n")
    return [nbformat.v4.new_output("error", ename="CheckFailed", evalue=lines[0],
                                   traceback=lines)]


def cell_outputs(record: dict | None) -> list:
    """Notebook outputs of one cell of the sandboxed run."""
    if record is None:
        return []
    outs = []
    for name in ("stdout", "stderr"):
        text = record.get(name)
        if isinstance(text, str) and text:
            outs.append(nbformat.v4.new_output("stream", name=name, text=text))
    if isinstance(record.get("result"), str) and not record.get("error"):
        outs.append(nbformat.v4.new_output("execute_result", data={"text/plain": record["result"]},
                                           execution_count=None))
    err = record.get("error")
    if isinstance(err, dict):
        tb = [str(t) for t in err.get("traceback") or []][:40]
        outs.append(nbformat.v4.new_output("error", ename=str(err.get("ename", "Error"))[:100],
                                           evalue=str(err.get("evalue", ""))[:2000], traceback=tb))
    return outs


def write_outputs(nb, run: grader.GradedRun, spec) -> dict:
    """Put the run's outputs and verdicts into the cells; return the per-test-cell report."""
    parts = {}
    titles = {name: f"Part {i} — {p.title or name}" for i, (name, p) in enumerate(spec.parts.items(), 1)}
    for index, cell in enumerate(grader.code_cells(nb)):
        record = run.cells.get(index)
        cell.execution_count = index + 1 if record is not None else None
        gid = source.nbgrader_meta(cell).get("grade_id")
        verdict = run.verdicts.get(gid) if source.is_test_cell(cell) else None
        if verdict is None:
            cell.outputs = cell_outputs(record)
            continue
        points = float(source.nbgrader_meta(cell).get("points", 0))
        cell.outputs = verdict_outputs(verdict, points)
        part, kind = spec.check(gid)
        outcome = run.test_outcomes.get(gid, "not run")
        parts[gid] = {"part": titles[part.name], "kind": kind, "points": points,
                      "earned": round(points * verdict.fraction(), 3), "passed": verdict.passed,
                      "reason": verdict.reason, "problems": verdict.problems[:10],
                      "in_notebook": outcome, "helpers_replaced": outcome == "completed"}
    return parts


def read_report(state_dir: str, assignment: str, student: str) -> dict | None:
    try:
        with open(report_path(state_dir, assignment, student), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None

