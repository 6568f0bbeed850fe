"""The sample class graded once, for the tests that read its results.

``graded_class``: the sample class (examples/class), plus the solution and the
untouched release of each assignment, graded once per assignment by
`coursekit grade` as the unprivileged test account, and shared by every test
that reads its grades, gradebook or feedback pages.  Grading a class costs
tens of seconds, so the tests that use it are kept on one pytest-xdist worker
(``xdist_group("class")``, with ``--dist loadgroup`` as `make test` runs it)
and the grading is done once there.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass

import nbformat
import pytest

from grader_user import account_folder, give_to_account, unprivileged

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASS = os.path.join(ROOT, "examples", "class")
EXPECTED = os.path.join(CLASS, "expected.csv")
BIN = os.path.dirname(sys.executable)
LIMITS = ["--cell-timeout", "3", "--time-limit", "15"]  # the limits expected.csv is written for
EXTRA = ("instructor", "release")  # besides the class: the solution notebook and the untouched release


@dataclass
class GradedClass:
    course: str  # the course folder (owned by the account when the tests run as root)
    submissions: str  # the copy of the class that was graded, plus instructor.ipynb and release.ipynb
    expected: str  # expected.csv's rows for the assignment, plus the two extra rows
    stdout: str
    stderr: str
    digest_before: str  # of the submissions folder, before grading
    digest_after: str


def tree_digest(folder) -> str:
    """Names, contents and modification times of every file under ``folder``."""
    h = hashlib.sha256()
    for dirpath, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            h.update(f"{os.path.relpath(path, folder)}|{st.st_mtime_ns}|".encode())
            h.update(os.readlink(path).encode() if os.path.islink(path) else open(path, "rb").read())
    return h.hexdigest()


def written_points(assignment: str) -> dict:
    """grade_id -> points of the answers graded by hand (markdown cells with points)."""
    nb = nbformat.read(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
            if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")}


def automatic_points(assignment: str) -> float:
    nb = nbformat.read(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), as_version=4)
    return float(sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells
                     if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")))


def _copy_class(assignment: str, folder: str) -> None:
    """The class's submissions for ``assignment``, with the solution and the release beside them."""
    shutil.copytree(os.path.join(CLASS, assignment), folder, symlinks=True)
    flat = os.path.join(folder, "submitted") if os.path.isdir(os.path.join(folder, "submitted")) else folder
    shutil.copy(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"),
                os.path.join(flat, "instructor.ipynb"))
    shutil.copy(os.path.join(ROOT, "assignments", assignment, f"{assignment}.ipynb"),
                os.path.join(flat, "release.ipynb"))


def _expected_with_extra(assignment: str, path: str) -> None:
    with open(EXPECTED, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["assignment"] == assignment]
    rows.append({"assignment": assignment, "student": "instructor", "score": automatic_points(assignment),
                 "reason_contains": "", "what_it_is": "the solution notebook"})
    rows.append({"assignment": assignment, "student": "release", "score": 0,
                 "reason_contains": "failed checks", "what_it_is": "the release, untouched"})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="session")
def graded_class():
    """A function: assignment -> GradedClass, grading each assignment at most once per session."""
    graded: dict = {}
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(account_folder())
        run = stack.enter_context(unprivileged())
        cache = os.path.join(base, "cache")
        os.makedirs(cache)

        def grade(assignment: str) -> GradedClass:
            if assignment in graded:
                return graded[assignment]
            course = os.path.join(base, assignment, "course")
            subs = os.path.join(base, assignment, "class")
            expected = os.path.join(base, assignment, "expected.csv")
            os.makedirs(course)
            _copy_class(assignment, subs)
            _expected_with_extra(assignment, expected)
            give_to_account(os.path.join(base, assignment))
            give_to_account(cache)
            before = tree_digest(subs)
            env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "HOME": course,
                   "MPLBACKEND": "Agg", "COURSEKIT_CACHE": cache}
            out = run([os.path.join(BIN, "coursekit"), "grade", assignment, "--submissions", subs,
                       "--course-dir", course, "--source", os.path.join(ROOT, "solutions"), "--quiet",
                       "--jobs", "2", *LIMITS, "--expect", expected],
                      capture_output=True, text=True, env=env, timeout=900, cwd=course)
            assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
            graded[assignment] = GradedClass(course, subs, expected, out.stdout, out.stderr, before,
                                             tree_digest(subs))
            return graded[assignment]

        yield grade
