"""``coursekit grade``: autograde a class into the course's own gradebook, safely and in parallel.

For one assignment the pipeline

1. registers it in the course's gradebook (nbgrader ``generate_assignment``
   into a private folder) and computes the solution's outputs once;
2. reads the submissions folder -- only reads it: never follows a symbolic
   link, validates ``timestamp.txt``, gives every file name its own student id
   -- and stages what to grade in ``<course>/.coursekit/staged`` (the blank
   release, with a reason, for a file that is not a usable notebook);
3. runs nbgrader's autograde and generate_feedback on each changed submission,
   in parallel worker processes, with the course's configuration (sandboxed
   execution, :mod:`coursekit.grading.course`), so grades, autograded
   notebooks and feedback land where formgrader shows them;
4. compares every submission's answer cells with coursekit's source and with
   each other (:mod:`coursekit.grading.similarity`);
5. exports the grades CSV from the gradebook (manual grades included).

A stored result is reused only when the submission, its timestamp, the
assignment's own folder, the grading framework and the limits are unchanged.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import time
import unicodedata
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context

import nbformat
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import parse_utc
from sqlalchemy.exc import SAWarning
from tqdm.auto import tqdm
from traitlets.config import Config

from coursekit.grading import course, grader, preprocessors, sandbox, similarity, source

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
ID_LENGTH = 48


@dataclass
class Submission:
    student: str  # the nbgrader student id (safe as a folder name)
    name: str  # the file or folder name it came from
    path: str = ""  # the notebook file: only ever read ("" when there is none)
    timestamp: str = ""  # validated, nbgrader's format; "" when absent or refused
    notes: list = field(default_factory=list)


@dataclass
class Options:
    assignment: str
    course_dir: str
    source_dir: str
    submissions: str
    db_url: str = ""
    jobs: int = 2
    cell_timeout: float = 30.0
    time_limit: float = 120.0
    memory_mb: int = 2048
    isolation: str = "sandbox"  # or "none": --unsafe-no-sandbox
    regrade: bool = False
    feedback: bool = True

    def __post_init__(self):
        self.course_dir = os.path.abspath(self.course_dir)
        self.db_url = self.db_url or f"sqlite:///{os.path.join(self.course_dir, 'gradebook.db')}"

    @property
    def state(self) -> str:
        return os.path.join(self.course_dir, course.STATE)

    @property
    def staged(self) -> str:
        return os.path.join(self.state, "staged")

    def report_dir(self) -> str:
        return os.path.join(self.course_dir, "reports", self.assignment)


# ---------------------------------------------------------------------------
# reading the submissions folder
# ---------------------------------------------------------------------------
def student_id(name: str, taken: set) -> str:
    """A file-system-safe, unique student id for the file or folder ``name``.

    A plain name (letters, digits, ``_ . -``) is kept; any other is folded to
    ASCII and suffixed with a hash of the exact name, so names that differ only
    by accents, normalisation or length still get different ids.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", folded).strip("._-")[:ID_LENGTH] or "student"
    if slug == name and slug not in taken:
        return slug
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()
    for size in (8, 16, 64):
        candidate = f"{slug}-{digest[:size]}"
        if candidate not in taken:
            return candidate
    raise ValueError(f"cannot make a unique id for {name!r}")  # two equal names cannot exist in one folder


def _kind(path: str) -> str:
    """'link', 'file', 'dir' or 'other' -- without following a symbolic link."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "other"
    if stat.S_ISLNK(mode):
        return "link"
    return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def read_bounded(path: str, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of a regular file, refusing to follow a symbolic link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_timestamp(folder: str) -> tuple:
    """(timestamp in nbgrader's format or '', note) from ``folder/timestamp.txt``."""
    path = os.path.join(folder, "timestamp.txt")
    kind = _kind(path)
    if kind == "other" and not os.path.lexists(path):
        return "", ""
    if kind != "file":
        return "", "timestamp.txt is a symbolic link or not a file: ignored (graded as on time)"
    text = read_bounded(path, 200)[:200].decode("utf-8", "replace").strip()
    try:
        when = parse_utc(text)
    except Exception:  # any unparsable text
        return "", f"timestamp.txt is not a time ({text[:40]!r}): ignored (graded as on time)"
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    if when.year < 2000 or when > now + datetime.timedelta(days=1):
        return "", f"timestamp.txt holds an impossible time ({text[:40]!r}): ignored (graded as on time)"
    return when.isoformat(sep=" "), ""


def find_submissions(folder: str, assignment: str) -> list:
    """Submissions in ``folder``: a flat ``<student>.ipynb`` folder or nbgrader's layout.

    nbgrader's layout is ``<folder>/<student>/<assignment>/<notebook>.ipynb``
    (``folder`` may also be the parent of a ``submitted/`` folder).  Every
    entry gets its own row; one that cannot be read safely is kept, graded as
    blank, with the reason.
    """
    if _kind(folder) != "dir":
        raise FileNotFoundError(f"submissions folder not found (or a symbolic link): {folder}")
    if _kind(os.path.join(folder, "submitted")) == "dir":
        folder = os.path.join(folder, "submitted")
    subs: list = []
    taken: set = set()
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        kind = _kind(path)
        if name.startswith(".") or (kind == "file" and not name.endswith(".ipynb")):
            continue
        sub = Submission(student_id(name[:-6] if name.endswith(".ipynb") else name, taken), name)
        taken.add(sub.student)
        if kind == "link":
            sub.notes.append(f"{name!r} is a symbolic link: refused, graded as blank")
        elif kind == "file":
            sub.path = path
        elif kind == "dir":
            _read_student_folder(sub, path, assignment)
        else:
            sub.notes.append(f"{name!r} is not a file or folder: graded as blank")
        subs.append(sub)
    return subs


def _read_student_folder(sub: Submission, path: str, assignment: str) -> None:
    adir = os.path.join(path, assignment)
    kind = _kind(adir)
    if kind == "link":
        sub.notes.append(f"{assignment}/ is a symbolic link: refused, graded as blank")
        return
    if kind != "dir":
        sub.notes.append(f"no {assignment}/ folder: graded as blank")
        return
    entries = sorted(os.listdir(adir))
    notebooks = [f for f in entries if f.endswith(".ipynb")]
    pick = f"{assignment}.ipynb" if f"{assignment}.ipynb" in notebooks else (notebooks[0] if notebooks else "")
    if not pick:
        sub.notes.append("no notebook submitted: graded as blank")
    elif _kind(os.path.join(adir, pick)) != "file":
        sub.notes.append(f"{pick!r} is a symbolic link or not a file: refused, graded as blank")
    else:
        sub.path = os.path.join(adir, pick)
        if pick != f"{assignment}.ipynb":
            sub.notes.append(f"renamed notebook {pick!r} graded as {assignment}.ipynb")
    sub.timestamp, note = read_timestamp(adir)
    if note:
        sub.notes.append(note)


def _grade_ids(nb) -> set:
    return {source.nbgrader_meta(c)["grade_id"] for c in nb.cells if source.nbgrader_meta(c).get("grade_id")}


def inspect_submission(raw: bytes | None, release_nb, assignment: str, known: dict) -> tuple:
    """(notebook JSON text to grade, notes): the submission itself, or the blank release and why."""
    blank = nbformat.writes(release_nb)
    if raw is None:
        return blank, []
    if len(raw) > MAX_NOTEBOOK_BYTES:
        return blank, [f"notebook larger than {MAX_NOTEBOOK_BYTES // 2**20} MB: graded as blank"]
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no cells")
    except Exception as exc:  # any unreadable file is a recorded result
        return blank, [f"invalid notebook (not readable JSON: {type(exc).__name__}): graded as blank"]
    theirs, ours = _grade_ids(nb), _grade_ids(release_nb)
    others = {other: ids for other, ids in known.items() if other != assignment}
    # a cell id several assignments share (derivation_written) says nothing about which one this is
    own = ours - set().union(*others.values()) or ours
    if not theirs & own:
        for other, ids in others.items():
            if theirs & (ids - ours):
                return blank, [f"notebook of assignment {other}, not {assignment}: graded as blank"]
        return blank, [f"not a notebook of {assignment} (none of its cells found): graded as blank"]
    return raw.decode("utf-8"), []


# ---------------------------------------------------------------------------
# nbgrader
# ---------------------------------------------------------------------------
def make_config(opts: Options) -> Config:
    c = Config()
    course.configure(c, root=opts.course_dir, source=opts.source_dir,
                     release=os.path.join(opts.state, "release"), submitted=opts.staged, db_url=opts.db_url,
                     cell_timeout=opts.cell_timeout, time_limit=opts.time_limit, memory_mb=opts.memory_mb,
                     isolation=opts.isolation)
    c.NbGraderAPI.log_level = "ERROR"
    return c


def make_api(opts: Options):
    config = make_config(opts)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def register(opts: Options):
    """Generate the assignment privately and register it in the gradebook; the release notebook."""
    os.makedirs(opts.state, exist_ok=True)
    result = make_api(opts).generate_assignment(opts.assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {opts.assignment} failed:\n"
                           f"{result.get('error') or result.get('log')}")
    return nbformat.read(os.path.join(opts.state, "release", opts.assignment, f"{opts.assignment}.ipynb"),
                         as_version=4)


def release_differs(opts: Options) -> bool:
    """True when the course's release folder holds another version than the source generates."""
    ours = os.path.join(opts.state, "release", opts.assignment)
    theirs = os.path.join(opts.course_dir, "assignments", opts.assignment)
    if not os.path.isdir(theirs):
        return False
    names = sorted(os.listdir(ours))
    if names != sorted(n for n in os.listdir(theirs) if not n.startswith(".")):
        return True
    return any(open(os.path.join(ours, n), "rb").read() != open(os.path.join(theirs, n), "rb").read()
               for n in names if os.path.isfile(os.path.join(ours, n)))


def settings(opts: Options) -> grader.Settings:
    return grader.Settings(cache_dir=grader.cache_dir(opts.state), cell_timeout=opts.cell_timeout,
                           time_limit=opts.time_limit, limits=sandbox.Limits(memory_mb=opts.memory_mb),
                           isolation=opts.isolation)


def fingerprint(raw: bytes | None, sub: Submission, assignment_fp: str, opts: Options) -> str:
    """What a stored result depends on: this submission, this assignment, the framework, the limits."""
    h = hashlib.sha256(raw or b"<none>")
    h.update(f"|{sub.timestamp}|{sub.notes}|{assignment_fp}|{opts.cell_timeout}|{opts.time_limit}|"
             f"{opts.memory_mb}|{opts.isolation}|{opts.feedback}".encode())
    return h.hexdigest()


def stage(opts: Options, sub: Submission, notebook_json: str) -> None:
    """Write what nbgrader will grade into the private staged folder (never the instructor's)."""
    folder = os.path.join(opts.staged, sub.student, opts.assignment)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    with open(os.path.join(folder, f"{opts.assignment}.ipynb"), "w", encoding="utf-8") as fh:
        fh.write(notebook_json)
    if sub.timestamp:
        with open(os.path.join(folder, "timestamp.txt"), "w", encoding="utf-8") as fh:
            fh.write(sub.timestamp)


# ---------------------------------------------------------------------------
# the worker: one student
# ---------------------------------------------------------------------------
_WORKER_API = None


def _worker_api(opts: Options):
    global _WORKER_API
    if _WORKER_API is None:
        _WORKER_API = make_api(opts)
    return _WORKER_API


def grade_one(opts: Options, sub: Submission, notes: list, fp: str) -> dict:
    """Autograde one staged submission (in a worker process); the stored result."""
    started = time.monotonic()
    row: dict = {"student": sub.student, "submission": sub.name, "status": "graded", "fingerprint": fp,
                 "notes": list(notes), "feedback": "", "isolation": ""}
    old = preprocessors.report_path(opts.state, opts.assignment, sub.student)
    if os.path.exists(old):
        os.remove(old)
    api = _worker_api(opts)
    result = api.autograde(opts.assignment, sub.student, force=True, create=True)
    report = preprocessors.read_report(opts.state, opts.assignment, sub.student)
    row["report"] = report
    if not result.get("success") or report is None:
        row["status"] = "failed"
        log = (result.get("error") or result.get("log") or "").strip().splitlines()
        row["notes"].append(f"autograde failed: {log[-1][:300] if log else 'no report'}")
        return row
    row["isolation"] = report.get("isolation", "")
    if opts.feedback:
        fb = api.generate_feedback(opts.assignment, sub.student, force=True)
        page = os.path.join(opts.course_dir, "feedback", sub.student, opts.assignment, f"{opts.assignment}.html")
        if fb.get("success") and os.path.exists(page):
            row["feedback"] = os.path.relpath(page, opts.course_dir)
        else:
            row["notes"].append("feedback generation failed")
    row["seconds"] = round(time.monotonic() - started, 2)
    return row


def _worker_init():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C stops the workers too
    quiet_warnings()


def quiet_warnings() -> None:
    """Silence the harmless warnings nbgrader 0.9.6 and nbformat print for every submission."""
    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    warnings.filterwarnings("ignore", message=".*missing an id field.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=SAWarning)


def _result_path(opts: Options, student: str) -> str:
    return os.path.join(opts.state, "results", opts.assignment, f"{student}.json")


def load_result(opts: Options, student: str) -> dict | None:
    try:
        with open(_result_path(opts, student), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def save_result(opts: Options, row: dict) -> None:
    path = _result_path(opts, row["student"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(row, fh, indent=1)
    os.replace(path + ".tmp", path)


def grade(opts: Options, submissions: list, *, progress: bool = True) -> list:
    """Grade ``submissions`` (changed ones only, unless ``opts.regrade``); their stored results."""
    quiet_warnings()
    release_nb = register(opts)
    src = source.find(opts.source_dir, opts.assignment)
    sandbox.curated_package(src.spec().allow, settings(opts).cache_dir)  # a bad allow list fails here, once
    grader.expected_outputs(src, settings(opts))  # once, before the workers start
    assignment_fp = src.fingerprint()
    known = {a: _grade_ids(nbformat.read(os.path.join(opts.source_dir, a, f"{a}.ipynb"), as_version=4))
             for a in source.names(opts.source_dir)}
    graded = graded_students(opts)
    todo, rows = [], {}
    for sub in submissions:
        raw = None
        if sub.path:
            try:
                raw = read_bounded(sub.path, MAX_NOTEBOOK_BYTES)
            except OSError as exc:
                sub.notes.append(f"cannot read the notebook safely ({exc.strerror or exc}): graded as blank")
        fp = fingerprint(raw, sub, assignment_fp, opts)
        previous = load_result(opts, sub.student)
        if not opts.regrade and previous and previous.get("fingerprint") == fp \
                and previous.get("status") == "graded" and sub.student in graded:
            rows[sub.student] = previous
            continue
        text, notes = inspect_submission(raw, release_nb, opts.assignment, known)
        stage(opts, sub, text)
        todo.append((sub, sub.notes + notes, fp))
    if todo:
        bar = tqdm(total=len(todo), desc=f"grading {opts.assignment}", unit="submission", disable=not progress)
        with ProcessPoolExecutor(max_workers=max(1, opts.jobs), mp_context=get_context("fork"),
                                 initializer=_worker_init) as pool:
            futures = {pool.submit(grade_one, opts, *job): job[0] for job in todo}
            for fut in as_completed(futures):
                sub = futures[fut]
                try:
                    row = fut.result()
                except Exception as exc:  # a grader bug must not lose the batch
                    row = {"student": sub.student, "submission": sub.name, "status": "failed",
                           "notes": [f"grader error: {type(exc).__name__}: {exc}"[:300]], "feedback": ""}
                save_result(opts, row)
                rows[sub.student] = row
                bar.update(1)
        bar.close()
    return [rows[s.student] for s in submissions]


def graded_students(opts: Options) -> set:
    """Students with an autograded submission of the assignment in the gradebook."""
    with Gradebook(opts.db_url, course.COURSE_ID) as gb:
        try:
            return {s.student.id for s in gb.assignment_submissions(opts.assignment)
                    if os.path.isdir(os.path.join(opts.course_dir, "autograded", s.student.id, opts.assignment))}
        except Exception:  # an assignment not in the gradebook yet
            return set()


def similarity_flags(opts: Options, rows: list, release_nb, allow: tuple) -> dict:
    notebooks = {}
    for row in rows:
        path = os.path.join(opts.staged, row["student"], opts.assignment, f"{opts.assignment}.ipynb")
        try:
            notebooks[row["student"]] = nbformat.read(path, as_version=4)
        except Exception:  # nothing to compare for an unreadable file
            continue
    return similarity.report(opts.assignment, notebooks, release_nb, allow,
                             os.path.join(opts.report_dir(), "similarity.html"))

