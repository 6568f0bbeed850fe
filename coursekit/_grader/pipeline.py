"""``coursekit grade``: autograde a folder of submissions with nbgrader, safely and in parallel.

For each student the pipeline

1. reads the submitted notebook (never modifying it) and checks it: invalid
   JSON, a notebook of another assignment, a renamed file, deleted or edited
   test cells -- each becomes a recorded reason, never a crash;
2. writes a copy to ``<workdir>/submitted/<student>/<assignment>/`` (the
   release notebook instead, graded as blank, when the file is unusable);
3. runs nbgrader's autograde on it (test cells restored from the gradebook;
   execution and scoring by :class:`~coursekit._grader.preprocessor.SandboxedExecute`);
4. generates the feedback HTML (hidden tests and their lines removed, math
   as MathML) and stores a result file, so a run that was killed half-way
   resumes where it stopped.

Students are graded in parallel worker processes, one per core by default.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context

import nbformat
from traitlets.config import Config

from coursekit._grader import course
from coursekit._grader.checks import hidden_cases_path
from coursekit._grader.preprocessor import is_test_cell, nbgrader_meta, without_hidden

GRADER_VERSION = "1"
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
_STUDENT_ID = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Submission:
    student: str
    path: str  # the instructor's file: only ever read
    notes: list = field(default_factory=list)


@dataclass
class Options:
    assignment: str
    workdir: str
    course_root: str
    db_url: str
    jobs: int = 2
    cell_timeout: int = 30
    time_limit: float = 120.0
    memory_mb: int = 2048
    regrade: bool = False
    feedback: bool = True


def student_id(name: str) -> str:
    """A file-system-safe student id from a file or folder name."""
    return _STUDENT_ID.sub("_", name).strip("._") or "student"


def find_submissions(folder: str, assignment: str) -> list:
    """Submissions in ``folder``: a flat ``<student>.ipynb`` folder or nbgrader's layout.

    nbgrader's layout is ``<folder>/<student>/<assignment>/<notebook>.ipynb``
    (``folder`` may also be the parent of a ``submitted/`` folder).  A student
    folder holding a single notebook with another name is taken, with a note.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"submissions folder not found: {folder}")
    if os.path.isdir(os.path.join(folder, "submitted")):
        folder = os.path.join(folder, "submitted")
    subs = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and name.endswith(".ipynb"):
            subs.append(Submission(student_id(name[:-6]), path))
        elif os.path.isdir(path) and os.path.isdir(os.path.join(path, assignment)):
            adir = os.path.join(path, assignment)
            notebooks = sorted(f for f in os.listdir(adir) if f.endswith(".ipynb"))
            if f"{assignment}.ipynb" in notebooks:
                subs.append(Submission(student_id(name), os.path.join(adir, f"{assignment}.ipynb")))
            elif notebooks:
                sub = Submission(student_id(name), os.path.join(adir, notebooks[0]))
                sub.notes.append(f"renamed notebook '{notebooks[0]}' graded as {assignment}.ipynb")
                subs.append(sub)
            else:
                subs.append(Submission(student_id(name), "", ["no notebook submitted: graded as blank"]))
    seen = set()
    for sub in subs:
        if sub.student in seen:
            raise ValueError(f"two submissions map to the student id {sub.student!r}")
        seen.add(sub.student)
    return subs


def _grade_ids(nb) -> dict:
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells
            if nbgrader_meta(c).get("grade_id")}


def inspect_submission(raw: bytes | None, release_nb, assignment: str, known_ids: dict):
    """Decide what to grade for one submission.

    Returns (notebook to grade, notes).  ``known_ids`` maps every other
    assignment's name to its grade ids, to recognise a wrong notebook.
    """
    blank = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    if raw is None:
        return blank, []
    if len(raw) > MAX_NOTEBOOK_BYTES:
        return blank, [f"notebook larger than {MAX_NOTEBOOK_BYTES // 2**20} MB: graded as blank"]
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no cells")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a recorded result
        return blank, [f"invalid notebook (not readable JSON: {type(exc).__name__}): graded as blank"]
    ours = _grade_ids(release_nb)
    theirs = _grade_ids(nb)
    if not set(theirs) & set(ours):
        for other, ids in known_ids.items():
            if other != assignment and set(theirs) & set(ids):
                return blank, [f"notebook of assignment {other}, not {assignment}: graded as blank"]
        return blank, [f"not a notebook of {assignment} (none of its cells found): graded as blank"]
    notes = []
    forged = [g for g in theirs if g not in ours]
    for cell in nb.cells:  # nbgrader metadata the release never had: an ordinary cell
        if nbgrader_meta(cell).get("grade_id") in forged:
            del cell.metadata["nbgrader"]
    if forged:
        notes.append(f"unknown nbgrader cells treated as ordinary cells: {', '.join(forged)}")
    tests = [g for g, c in ours.items() if is_test_cell(c)]
    deleted = [g for g in tests if g not in theirs]
    edited = [g for g in tests if g in theirs
              and without_hidden(theirs[g].source) != without_hidden(ours[g].source)]
    if deleted:
        notes.append(f"deleted test cells restored: {', '.join(deleted)}")
    if edited:
        notes.append(f"edited test cells restored: {', '.join(edited)}")
    return nb, notes


def fingerprint(raw: bytes | None, opts: Options) -> str:
    """What a result depends on: the submission, the assignment's source and hidden cases,
    the grader and coursekit's reference, the limits.

    A stored result is reused only when all of these are unchanged.
    """
    h = hashlib.sha256()
    h.update(raw or b"<none>")
    source = os.path.join(opts.course_root, "solutions", opts.assignment, f"{opts.assignment}.ipynb")
    hidden = hidden_cases_path(opts.assignment, os.path.join(opts.course_root, "solutions"))
    grader = os.path.dirname(os.path.abspath(__file__))
    reference = [os.path.join(os.path.dirname(grader), f) for f in ("grading.py", "functional.py", "gradcheck.py")]
    if os.path.isfile(hidden):
        reference.append(hidden)
    for path in [source] + reference + sorted(os.path.join(grader, f) for f in os.listdir(grader)
                                              if f.endswith(".py")):
        with open(path, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    h.update(f"{GRADER_VERSION}|{opts.assignment}|{opts.cell_timeout}|{opts.time_limit}|"
             f"{opts.memory_mb}".encode())
    return h.hexdigest()


def make_config(opts: Options) -> Config:
    c = Config()
    course.configure(c, root=opts.workdir,
                     source=os.path.join(opts.course_root, "solutions"),
                     release=os.path.join(opts.workdir, "release"),
                     db_url=opts.db_url,
                     report_dir=os.path.join(opts.workdir, "reports"),
                     scratch_dir="",
                     cell_timeout=opts.cell_timeout, time_limit=opts.time_limit)
    c.SandboxedExecute.memory_mb = int(opts.memory_mb)
    c.NbGraderAPI.log_level = "ERROR"
    return c


def _api(opts: Options):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = make_config(opts)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def release(opts: Options) -> None:
    """Generate the assignment into the working folder and register it in the gradebook."""
    os.makedirs(opts.workdir, exist_ok=True)
    api = _api(opts)
    result = api.generate_assignment(opts.assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {opts.assignment} failed:\n"
                           f"{result.get('error') or result.get('log')}")


def part_of(grade_id: str) -> str:
    """The part a test cell belongs to: 'linear_hidden' -> 'linear'."""
    return re.sub(r"_(visible|hidden)$", "", grade_id)


def _reasons(notes: list, report: dict | None) -> list:
    """Human-readable reasons for the CSV, most important first."""
    reasons = list(notes)
    if report is None:
        return reasons
    if report.get("run", "ok") != "ok":
        reasons.append(report["run"])
    if report.get("cell_timeouts"):
        reasons.append(f"cell time limit hit in {report['cell_timeouts']} cell(s)")
    if report.get("truncated_outputs"):
        reasons.append(f"output truncated in {report['truncated_outputs']} cell(s)")
    parts = report.get("parts", {})
    tampered = [g for g, p in parts.items() if p.get("tampered")]
    if tampered:
        reasons.append("tampering detected: test cells finished without reaching the grader ("
                       + ", ".join(tampered) + ")")
    delegating = [g for g, p in parts.items() if "reference" in str(p.get("reason", ""))]
    if delegating:
        reasons.append("uses coursekit's reference implementation (" + ", ".join(delegating) + ")")
    errors = report.get("cell_errors", [])
    problems = [p for part in parts.values() for p in part.get("problems", [])]
    limits = {"MemoryError": "memory limit hit", "BlockingIOError": "process limit hit",
              "File too large": "file size limit hit"}
    for err in errors + problems:
        for key, text in limits.items():
            if key in err and text not in reasons:
                reasons.append(text)
    if any("CellTimeout" in p for p in problems):
        reasons.append("time limit hit while checking a function")
    real = [e for e in errors if not e.startswith(("NotImplementedError", "CellTimeout"))]
    if real:
        reasons.append(f"error in the notebook: {real[0][:160]}")
    failed = [g for g, p in parts.items() if p.get("verified") and not p.get("passed")]
    if failed:
        reasons.append("failed checks: " + ", ".join(failed))
    return reasons


# ---------------------------------------------------------------------------
# the worker: one student
# ---------------------------------------------------------------------------
_WORKER_API = None


def _worker_api(opts: Options):
    global _WORKER_API
    if _WORKER_API is None:
        _WORKER_API = _api(opts)
    return _WORKER_API


def _read_scores(opts: Options, student: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(opts.db_url, course.COURSE_ID) as gb:
        nb = gb.find_submission_notebook(opts.assignment, opts.assignment, student)
        return {g.name: (float(g.score or 0.0), float(g.max_score)) for g in nb.grades}


def grade_one(opts: Options, sub: Submission, to_grade_json: str, notes: list, fp: str) -> dict:
    """Autograde one student (runs in a worker process); returns the CSV row as a dict."""
    start = time.monotonic()
    adir = os.path.join(opts.workdir, "submitted", sub.student, opts.assignment)
    os.makedirs(adir, exist_ok=True)
    tmp = os.path.join(adir, f".{opts.assignment}.ipynb.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(to_grade_json)
    os.replace(tmp, os.path.join(adir, f"{opts.assignment}.ipynb"))
    if sub.path:
        stamp = os.path.join(os.path.dirname(sub.path), "timestamp.txt")
        if os.path.basename(os.path.dirname(sub.path)) == opts.assignment and os.path.isfile(stamp):
            shutil.copyfile(stamp, os.path.join(adir, "timestamp.txt"))
    report_path = os.path.join(opts.workdir, "reports", f"{sub.student}.{opts.assignment}.verify.json")
    if os.path.exists(report_path):
        os.remove(report_path)
    api = _worker_api(opts)
    row = {"student": sub.student, "status": "graded", "score": "", "max_score": "",
           "parts": {}, "reason": "", "feedback": "", "fingerprint": fp}
    t_autograde = time.monotonic()
    result = api.autograde(opts.assignment, sub.student, force=True, create=True)
    row["seconds_autograde"] = round(time.monotonic() - t_autograde, 2)
    report = None
    try:
        with open(report_path, encoding="utf-8") as fh:
            report = json.load(fh)
    except (OSError, ValueError):
        pass
    if not result.get("success"):
        row["status"] = "failed"
        err = (result.get("error") or result.get("log") or "").strip().splitlines()
        row["reason"] = "; ".join(notes + [f"autograde failed: {err[-1][:200] if err else 'unknown'}"])
        return row
    scores = _read_scores(opts, sub.student)
    parts = {}
    for gid, (score, max_score) in scores.items():
        p = parts.setdefault(part_of(gid), [0.0, 0.0])
        p[0] += score
        p[1] += max_score
    row["parts"] = {k: round(v[0], 3) for k, v in parts.items()}
    row["score"] = round(sum(s for s, _ in scores.values()), 3)
    row["max_score"] = round(sum(m for _, m in scores.values()), 3)
    row["reason"] = "; ".join(_reasons(notes, report))
    if opts.feedback:
        fb = api.generate_feedback(opts.assignment, sub.student, force=True)
        html = os.path.join(opts.workdir, "feedback", sub.student, opts.assignment,
                            f"{opts.assignment}.html")
        if fb.get("success") and os.path.exists(html):
            row["feedback"] = os.path.relpath(html, opts.workdir)
        else:
            row["reason"] = "; ".join(filter(None, [row["reason"], "feedback generation failed"]))
    row["seconds"] = round(time.monotonic() - start, 2)
    return row


def _result_path(opts: Options, student: str) -> str:
    return os.path.join(opts.workdir, "results", opts.assignment, f"{student}.json")


def quiet_warnings() -> None:
    """Silence the harmless warnings nbgrader 0.9.6 and nbformat print for every submission."""
    import warnings

    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    warnings.filterwarnings("ignore", message=".*missing an id field.*")


def _fast_sqlite() -> None:
    """WAL journal and synchronous=NORMAL for SQLite gradebooks opened in this process.

    nbgrader commits dozens of times per submission; with the default
    rollback journal each commit waits for two fsyncs, and two workers block
    each other.  WAL lets readers and one writer proceed together and is still
    safe against a crashed or killed grader (only a power loss may lose the
    last commits, which a rerun regrades).
    """
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if getattr(_fast_sqlite, "done", False):
        return

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    _fast_sqlite.done = True


def _worker_init():
    import signal

    # the parent's SIGINT handler: let Ctrl-C stop the workers too
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    quiet_warnings()


def grade(opts: Options, submissions: list, *, progress: bool = True) -> list:
    """Grade ``submissions``; return one row per student (in student order)."""
    from tqdm.auto import tqdm

    quiet_warnings()
    _fast_sqlite()
    release(opts)
    release_nb = nbformat.read(os.path.join(opts.workdir, "release", opts.assignment,
                                            f"{opts.assignment}.ipynb"), as_version=4)
    known = {}
    src = os.path.join(opts.course_root, "solutions")
    for other in sorted(os.listdir(src)):
        path = os.path.join(src, other, f"{other}.ipynb")
        if os.path.isfile(path):
            known[other] = list(_grade_ids(nbformat.read(path, as_version=4)))
    os.makedirs(os.path.join(opts.workdir, "results", opts.assignment), exist_ok=True)

    in_gradebook = _graded_students(opts)
    rows, todo = {}, []
    for sub in submissions:
        raw = None
        if sub.path:
            with open(sub.path, "rb") as fh:
                raw = fh.read(MAX_NOTEBOOK_BYTES + 1)
        fp = fingerprint(raw, opts)
        previous = _load_result(opts, sub.student)
        if not opts.regrade and previous and previous.get("fingerprint") == fp \
                and previous.get("status") == "graded" and sub.student in in_gradebook:
            rows[sub.student] = previous
            continue
        nb, notes = inspect_submission(raw, release_nb, opts.assignment, known)
        todo.append((sub, nbformat.writes(nb), sub.notes + notes, fp))

    if todo:
        bar = tqdm(total=len(todo), desc=f"grading {opts.assignment}", unit="submission",
                   disable=not progress)
        ctx = get_context("fork")
        with ProcessPoolExecutor(max_workers=max(1, opts.jobs), mp_context=ctx,
                                 initializer=_worker_init) as pool:
            futures = {pool.submit(grade_one, opts, *job): job[0] for job in todo}
            for fut in as_completed(futures):
                sub = futures[fut]
                try:
                    row = fut.result()
                except Exception as exc:  # noqa: BLE001 - a grader bug must not lose the batch
                    row = {"student": sub.student, "status": "failed", "score": "",
                           "max_score": "", "parts": {}, "feedback": "",
                           "reason": f"grader error: {type(exc).__name__}: {exc}"[:300]}
                _save_result(opts, row)
                rows[sub.student] = row
                bar.update(1)
        bar.close()
    return [rows[s.student] for s in submissions]


def _graded_students(opts: Options) -> set:
    """Students with a graded submission of the assignment in the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(opts.db_url, course.COURSE_ID) as gb:
        return {s.student.id for s in gb.assignment_submissions(opts.assignment)
                if all(nb.score is not None for nb in s.notebooks)}


def _load_result(opts: Options, student: str):
    try:
        with open(_result_path(opts, student), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _save_result(opts: Options, row: dict) -> None:
    path = _result_path(opts, row["student"])
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(row, fh, indent=1)
    os.replace(tmp, path)


def part_names(opts: Options) -> list:
    nb = nbformat.read(os.path.join(opts.workdir, "release", opts.assignment,
                                    f"{opts.assignment}.ipynb"), as_version=4)
    names = []
    for gid, cell in _grade_ids(nb).items():
        if nbgrader_meta(cell).get("grade") and part_of(gid) not in names:
            names.append(part_of(gid))
    return names


def write_csv(rows: list, parts: list, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "status", "score", "max_score", *parts, "reason", "feedback"])
        for r in rows:
            writer.writerow([r["student"], r["status"], r["score"], r["max_score"],
                             *[r.get("parts", {}).get(p, "") for p in parts],
                             r.get("reason", ""), r.get("feedback", "")])


def summary(rows: list, parts: list, max_by_part: dict | None = None) -> str:
    graded = [r for r in rows if r["status"] == "graded"]
    failed = [r for r in rows if r["status"] != "graded"]
    lines = [f"graded: {len(graded)}   failed: {len(failed)}   total: {len(rows)}"]
    for r in failed:
        lines.append(f"  FAILED {r['student']}: {r.get('reason', '')}")
    if graded:
        mean_total = sum(float(r["score"]) for r in graded) / len(graded)
        lines.append(f"mean score: {mean_total:.2f} / {graded[0]['max_score']}")
        lines.append("mean score per part:")
        for p in parts:
            vals = [float(r["parts"].get(p, 0.0)) for r in graded]
            mx = f" / {max_by_part[p]:g}" if max_by_part and p in max_by_part else ""
            lines.append(f"  {p:<12} {sum(vals) / len(vals):6.2f}{mx}")
    flagged = [r for r in graded if r.get("reason")]
    if flagged:
        lines.append("notes:")
        for r in flagged:
            lines.append(f"  {r['student']}: {r['reason'][:300]}")
    return "\n".join(lines)


def max_points_by_part(opts: Options) -> dict:
    nb = nbformat.read(os.path.join(opts.workdir, "release", opts.assignment,
                                    f"{opts.assignment}.ipynb"), as_version=4)
    out = {}
    for gid, cell in _grade_ids(nb).items():
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            out[part_of(gid)] = out.get(part_of(gid), 0.0) + float(meta.get("points", 0))
    return out


def compare_with_expected(rows: list, expected_csv: str, assignment: str) -> list:
    """Differences between graded ``rows`` and an expected-results CSV; [] when all match.

    The CSV has columns assignment, student, score, reason_contains: each listed
    student of ``assignment`` must be graded, score ``score`` (to 0.01) and have
    ``reason_contains`` in its reason (an empty cell requires an empty reason).
    """
    by_student = {r["student"]: r for r in rows}
    problems = []
    with open(expected_csv, newline="", encoding="utf-8") as fh:
        for exp in csv.DictReader(fh):
            if exp["assignment"] != assignment:
                continue
            row = by_student.get(exp["student"])
            if row is None:
                problems.append(f"{exp['student']}: not graded")
                continue
            if row["status"] != "graded":
                problems.append(f"{exp['student']}: status {row['status']} ({row.get('reason')})")
                continue
            if abs(float(row["score"]) - float(exp["score"])) > 0.01:
                problems.append(f"{exp['student']}: score {row['score']}, expected {exp['score']}")
            want, got = exp["reason_contains"], row.get("reason", "")
            if (want and want not in got) or (not want and got):
                problems.append(f"{exp['student']}: reason {got!r}, expected "
                                + (f"to contain {want!r}" if want else "no reason"))
    missing = {r["student"] for r in rows} - _expected_students(expected_csv, assignment)
    problems += [f"{s}: graded but not listed in {os.path.basename(expected_csv)}" for s in sorted(missing)]
    return problems


def _expected_students(expected_csv: str, assignment: str) -> set:
    with open(expected_csv, newline="", encoding="utf-8") as fh:
        return {e["student"] for e in csv.DictReader(fh) if e["assignment"] == assignment}
