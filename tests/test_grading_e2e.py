"""End to end: `coursekit grade` really runs nbgrader on the sample class (examples/class).

Every expected score and reason of examples/class/expected.csv is checked, and
so are the feedback files, the instructor's input files, regrading, and
resuming a run that was killed half-way.
"""
from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from coursekit._grader import pipeline, sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASS = os.path.join(ROOT, "examples", "class")
EXPECTED = os.path.join(CLASS, "expected.csv")
LIMITS = ["--cell-timeout", "3", "--time-limit", "15"]  # the limits expected.csv is written for

pytestmark = pytest.mark.slow
if os.geteuid() != 0 or not sandbox.available():
    pytest.skip("grading needs root and bubblewrap (make install)", allow_module_level=True)


def _env():
    return {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}


def grade(assignment, submissions, workdir, *extra, check=True):
    cmd = [sys.executable, "-m", "coursekit.cli", "grade", assignment, "--submissions", submissions,
           "--workdir", str(workdir), "--quiet", "--jobs", "2", *LIMITS, *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600, cwd=ROOT)
    if check:
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def read_csv(path):
    with open(path, newline="") as fh:
        return {r["student"]: r for r in csv.DictReader(fh)}


def tree_digest(folder):
    h = hashlib.sha256()
    for dirpath, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            st = os.stat(path)
            h.update(f"{os.path.relpath(path, folder)}|{st.st_mtime_ns}|".encode())
            h.update(open(path, "rb").read())
    return h.hexdigest()


def gradebook_scores(workdir, assignment):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{workdir}/gradebook.db", "coursekit") as gb:
        return sorted((s.student.id, g.name, g.score, g.max_score)
                      for s in gb.assignment_submissions(assignment)
                      for nb in s.notebooks for g in nb.grades)


@pytest.mark.parametrize("assignment", ["A1", "A2"])
def test_sample_class_gets_every_expected_score_and_reason(assignment, tmp_path):
    before = tree_digest(CLASS)
    out = grade(assignment, os.path.join(CLASS, assignment), tmp_path, "--expect", EXPECTED)
    assert "all match" in out.stdout
    rows = read_csv(tmp_path / f"grades-{assignment}.csv")
    with open(EXPECTED, newline="") as fh:
        expected = [e for e in csv.DictReader(fh) if e["assignment"] == assignment]
    assert len(expected) >= 8 and set(rows) == {e["student"] for e in expected}
    for exp in expected:  # the same comparison as --expect, spelled out
        row = rows[exp["student"]]
        assert row["status"] == "graded"
        assert float(row["score"]) == pytest.approx(float(exp["score"])), exp["student"]
        assert exp["reason_contains"] in row["reason"], (exp["student"], row["reason"])
    # the per-part columns add up to the total
    parts = pipeline.max_points_by_part(pipeline.Options(assignment, str(tmp_path), ROOT, ""))
    for row in rows.values():
        assert sum(float(row[p]) for p in parts) == pytest.approx(float(row["score"]))
    # the summary an instructor reads
    assert f"graded: {len(expected)}   failed: 0" in out.stdout and "mean score per part" in out.stdout
    # feedback: one page per student, no hidden test, no remote script, math as MathML
    autograded = open(tmp_path / "autograded" / expected[0]["student"] / assignment
                      / f"{assignment}.ipynb").read()
    assert "hidden_test_marker" in autograded  # the marker exists before feedback removes it
    for exp in expected:
        html = open(tmp_path / rows[exp["student"]]["feedback"]).read()
        for leak in ("hidden_test_marker", "hidden_suite", "BEGIN HIDDEN TESTS"):
            assert leak not in html, (exp["student"], leak)
        assert "<script" not in html and "mathjax" not in html.lower()
        assert html.count("<math") >= 5
    # the instructor's submissions were only read
    assert tree_digest(CLASS) == before


def test_solution_scores_full_marks_and_release_scores_zero(tmp_path):
    for assignment in ("A1", "A2"):
        subs = tmp_path / f"subs-{assignment}"
        subs.mkdir()
        shutil.copy(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), subs / "instructor.ipynb")
        shutil.copy(os.path.join(ROOT, "assignments", assignment, f"{assignment}.ipynb"), subs / "release.ipynb")
        grade(assignment, str(subs), tmp_path / f"work-{assignment}")
        rows = read_csv(tmp_path / f"work-{assignment}" / f"grades-{assignment}.csv")
        assert rows["instructor"]["score"] == rows["instructor"]["max_score"]
        assert "edited test cells" not in rows["instructor"]["reason"]
        assert float(rows["release"]["score"]) == 0 and rows["release"]["status"] == "graded"


def test_regrading_gives_the_same_gradebook_and_a_killed_run_resumes(tmp_path):
    subs = os.path.join(CLASS, "A1")
    # a run killed as soon as its first student is done ...
    work = tmp_path / "killed"
    cmd = [sys.executable, "-m", "coursekit.cli", "grade", "A1", "--submissions", subs,
           "--workdir", str(work), "--quiet", "--jobs", "1", *LIMITS]
    proc = subprocess.Popen(cmd, env=_env(), cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = work / "results" / "A1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (results.exists() and any(results.glob("*.json"))):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert 1 <= len(done_before) < 8
    # ... is completed by running it again: finished students are not graded again
    out = grade("A1", subs, work, "--expect", EXPECTED)
    assert "all match" in out.stdout
    for name, mtime in done_before.items():
        assert (results / name).stat().st_mtime_ns == mtime
    first = gradebook_scores(work, "A1")
    assert len(first) == 8 * 10
    # regrading everything gives the same gradebook
    grade("A1", subs, work, "--regrade", "--expect", EXPECTED)
    assert gradebook_scores(work, "A1") == first


def test_cli_help_and_bad_input():
    out = subprocess.run([sys.executable, "-m", "coursekit.cli", "grade", "--help"],
                         capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0
    for words in ("--submissions", "sandbox", "grades-ASSIGNMENT.csv", "feedback", "--regrade", "--jobs"):
        assert words in out.stdout
    out = subprocess.run([sys.executable, "-m", "coursekit.cli", "grade", "A9", "--submissions", CLASS],
                         capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 2 and "unknown assignment 'A9'" in out.stderr
