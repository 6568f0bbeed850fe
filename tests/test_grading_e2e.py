"""End to end: `coursekit grade` really runs nbgrader on the sample class, as an unprivileged user.

Every expected score and reason of examples/class/expected.csv is checked
(grading as the unprivileged account `coursekit-grader` when the tests run as
root, in an unprivileged user namespace), and so are the feedback pages, the
gradebook formgrader reads, manual grading, the instructor's files (only read),
regrading and resuming, per-assignment caching, a foreign nbgrader
configuration, a notebook of 20,000 cells and the student's `coursekit validate`.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import nbformat
import pytest

from class_grading import EXTRA, automatic_points, written_points
from coursekit.grading import sandbox
from grader_user import account_folder, give_to_account, unprivileged

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASS = os.path.join(ROOT, "examples", "class")
EXPECTED = os.path.join(CLASS, "expected.csv")
LIMITS = ["--cell-timeout", "3", "--time-limit", "15"]  # the limits expected.csv is written for
BIN = os.path.dirname(sys.executable)

pytestmark = pytest.mark.slow
if not sandbox.mode():
    pytest.fail(f"no sandbox on this machine: {sandbox.unavailable_reason()}", pytrace=False)


@pytest.fixture(scope="module", autouse=True)
def shared_caches():
    """One grader cache per account for the whole module: the solutions' outputs are computed once."""
    with account_folder() as user_cache:
        root_cache = tempfile.mkdtemp(prefix="coursekit-cache-")
        CACHES.update(user=user_cache, own=root_cache)
        yield
        shutil.rmtree(root_cache, ignore_errors=True)


CACHES: dict = {}


def env(home: str, account: bool = False) -> dict:
    cache = CACHES.get("user" if account and os.geteuid() == 0 else "own", "")
    return {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "HOME": home,
            "MPLBACKEND": "Agg", "COURSEKIT_CACHE": cache}


def coursekit(*args, course: str, run=None, check=True, timeout=900):
    """Run the coursekit command on the course folder ``course``; ``run`` runs it as the account."""
    out = (run or subprocess.run)([os.path.join(BIN, "coursekit"), *args, "--course-dir", course,
                                   "--source", os.path.join(ROOT, "solutions")],
                                  capture_output=True, text=True, env=env(course, account=run is not None),
                                  timeout=timeout, cwd=course)
    if check:
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return out


def read_csv(path) -> dict:
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["student"]: r for r in csv.DictReader(fh)}


def expected_rows(assignment: str) -> list:
    with open(EXPECTED, newline="", encoding="utf-8") as fh:
        return [e for e in csv.DictReader(fh) if e["assignment"] == assignment]


def assignments() -> list:
    return sorted({e["assignment"] for e in csv.DictReader(open(EXPECTED, newline="", encoding="utf-8"))})


# ---------------------------------------------------------------------------
# the sample class (with the solution and the release), graded as an unprivileged user
# ---------------------------------------------------------------------------
@pytest.mark.xdist_group("class")
@pytest.mark.parametrize("assignment", assignments())
def test_sample_class_as_an_unprivileged_user_gets_every_expected_score_and_reason(graded_class, assignment):
    graded = graded_class(assignment)
    assert "all match" in graded.stdout, graded.stdout[-3000:] + graded.stderr[-3000:]
    rows = read_csv(os.path.join(graded.course, "reports", assignment, "grades.csv"))
    expected = expected_rows(assignment)
    assert set(rows) == {e["student"] for e in expected} | set(EXTRA)
    for exp in expected:  # what --expect checked, spelled out
        row = rows[exp["student"]]
        assert row["status"] == "graded" and row["isolation"] == ("user" if os.geteuid() == 0 or
                                                                  sandbox.mode() == "user" else "root")
        assert float(row["score"]) == pytest.approx(float(exp["score"]), abs=0.01), exp["student"]
        assert exp["reason_contains"] in row["reason"], (exp["student"], row["reason"])
    parts = [c for c in next(iter(rows.values())) if c not in (
        "student", "submission", "status", "score", "max_score", "manual", "reason", "similarity",
        "isolation", "feedback")]
    for row in rows.values():  # the per-part columns add up to the total
        assert sum(float(row[p] or 0) for p in parts) == pytest.approx(float(row["score"]))
    check_feedback(graded.course, assignment, rows)
    check_gradebook(graded.course, assignment, rows)
    assert graded.digest_after == graded.digest_before  # the submissions were only read


@pytest.mark.xdist_group("class")
@pytest.mark.parametrize("assignment", assignments())
def test_solutions_score_full_marks_and_releases_zero_and_written_answers_wait_for_a_human(graded_class,
                                                                                           assignment):
    rows = read_csv(os.path.join(graded_class(assignment).course, "reports", assignment, "grades.csv"))
    instructor, release, written = rows["instructor"], rows["release"], written_points(assignment)
    assert float(release["score"]) == 0 and release["status"] == "graded"
    assert instructor["reason"] == "" and instructor["status"] == "graded", instructor["reason"]
    # every automatic point; the written answers wait for a human in formgrader
    assert float(instructor["score"]) == pytest.approx(automatic_points(assignment))
    assert float(instructor["max_score"]) == pytest.approx(automatic_points(assignment) + sum(written.values()))
    assert written, f"{assignment} has no written answer"
    assert instructor["manual"] == "needs manual grading: " + ", ".join(written)
    assert all(instructor[gid] == "" for gid in written)


@pytest.mark.xdist_group("class")
def test_pasted_library_code_is_flagged_for_review_and_the_score_is_unchanged(graded_class):
    course = graded_class("A2").course
    rows = read_csv(os.path.join(course, "reports", "A2", "grades.csv"))
    pete = rows["pete_pastes_reference"]
    assert pete["similarity"].startswith("review: ") and "coursekit/functional.py" in pete["similarity"], pete
    expected = {e["student"]: e for e in expected_rows("A2")}["pete_pastes_reference"]
    assert float(pete["score"]) == pytest.approx(float(expected["score"]), abs=0.01)  # a flag, not a penalty
    report = open(os.path.join(course, "reports", "A2", "similarity.html"), encoding="utf-8").read()
    assert "pete_pastes_reference &harr; coursekit/functional.py" in report
    assert "<script" not in report.lower()


def check_feedback(course: str, assignment: str, rows: dict) -> None:
    """One page per student: no hidden test, no hidden input, no script, math as MathML, parts named."""
    for student, row in rows.items():
        html = open(os.path.join(course, row["feedback"]), encoding="utf-8").read()
        for leak in ("BEGIN HIDDEN TESTS", "hidden_cases(", "RELU-INPUT-LEAK [["):
            assert leak not in html, (student, leak)
        assert "<script" not in html.lower() and "mathjax" not in html.lower()
        assert html.count("<math") >= 3
        assert "Part 1 \u2014" in html and "Test cell" not in html
    for student in rows:
        autograded = open(os.path.join(course, "autograded", student, assignment, f"{assignment}.ipynb"),
                          encoding="utf-8").read()
        assert "RELU-INPUT-LEAK [[" not in autograded


def check_gradebook(course: str, assignment: str, rows: dict) -> None:
    """formgrader's gradebook holds every graded submission with the CSV's score."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course}/gradebook.db", "coursekit") as gb:
        subs = {s.student.id: s for s in gb.assignment_submissions(assignment)}
        for student, row in rows.items():
            assert subs[student].score == pytest.approx(float(row["score"]))
            assert os.path.isdir(os.path.join(course, "autograded", student, assignment))


# ---------------------------------------------------------------------------
# formgrader and manual grading, on a copy of the graded A2 course
# ---------------------------------------------------------------------------
@pytest.mark.xdist_group("class")
def test_formgrader_sees_the_grades_and_a_manual_grade_reaches_the_next_export(graded_class, tmp_path):
    from nbgrader.api import Gradebook

    course = str(tmp_path / "course")
    shutil.copytree(graded_class("A2").course, course, symlinks=True)
    rows = read_csv(os.path.join(course, "reports", "A2", "grades.csv"))
    assert rows["alice_correct"]["manual"] == "needs manual grading: derivation_written"
    results = os.path.join(course, ".coursekit", "results", "A2")
    stamps = {f: os.stat(os.path.join(results, f)).st_mtime_ns for f in os.listdir(results)}
    with Gradebook(f"sqlite:///{course}/gradebook.db", "coursekit") as gb:
        sub = gb.find_submission("A2", "alice_correct")
        assert sub.needs_manual_grade  # formgrader lists it under "needs manual grading"
        grade = gb.find_grade("derivation_written", "A2", "A2", "alice_correct")
        grade.manual_score = 1.5  # what a grader does in formgrader
        gb.db.commit()
    out = coursekit("export", "A2", course=course)
    rows = read_csv(os.path.join(course, "reports", "A2", "grades.csv"))
    assert float(rows["alice_correct"]["score"]) == pytest.approx(15 + 1.5)
    assert rows["alice_correct"]["derivation_written"] == "1.5" and rows["alice_correct"]["manual"] == ""
    assert rows["bob_partial"]["manual"] == "needs manual grading: derivation_written"
    assert f"graded: {len(rows)}" in out.stdout
    assert stamps == {f: os.stat(os.path.join(results, f)).st_mtime_ns for f in os.listdir(results)}


def test_regrading_is_stable_and_a_killed_run_resumes(tmp_path):
    course = str(tmp_path / "course")
    os.makedirs(course)
    subs = tmp_path / "A1"
    subs.mkdir()
    for name in ("amy_correct", "ben_blank", "dan_unstable_softmax", "eli_sign_error"):
        shutil.copy(os.path.join(CLASS, "A1", f"{name}.ipynb"), subs)
    cmd = [os.path.join(BIN, "coursekit"), "grade", "A1", "--submissions", str(subs), "--course-dir", course,
           "--source", os.path.join(ROOT, "solutions"), "--quiet", "--jobs", "1", *LIMITS]
    proc = subprocess.Popen(cmd, env=env(course), start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    results = os.path.join(course, ".coursekit", "results", "A1")

    def finished() -> list:  # stored results; a kill may leave a half-written .json.tmp beside them
        return [f for f in os.listdir(results) if f.endswith(".json")] if os.path.isdir(results) else []

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not finished():
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {f: os.stat(os.path.join(results, f)).st_mtime_ns for f in finished()}
    assert 1 <= len(done) < 4
    out = coursekit("grade", "A1", "--submissions", str(subs), "--quiet", *LIMITS, "--expect", EXPECTED,
                    course=course, check=False)
    # only part of the class is here: every other listed student is "not graded"; these four match
    unexpected = [line for line in out.stderr.splitlines() if line.startswith("UNEXPECTED")]
    assert unexpected and all(line.endswith(": not graded") for line in unexpected), out.stderr[-3000:]
    here = [f[:-len(".ipynb")] for f in os.listdir(subs)]
    assert not any(name in line for line in unexpected for name in here), out.stderr[-3000:]
    for name, stamp in done.items():  # finished students were not graded again
        assert os.stat(os.path.join(results, name)).st_mtime_ns == stamp
    first = read_csv(os.path.join(course, "reports", "A1", "grades.csv"))
    coursekit("grade", "A1", "--submissions", str(subs), "--quiet", "--regrade", *LIMITS, course=course)
    again = read_csv(os.path.join(course, "reports", "A1", "grades.csv"))
    assert {s: r["score"] for s, r in first.items()} == {s: r["score"] for s, r in again.items()}


def test_changing_one_assignment_does_not_invalidate_another(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(os.path.join(ROOT, "solutions"), solutions)
    course = str(tmp_path / "course")
    os.makedirs(course)
    picks = {"A1": "amy_correct.ipynb", "A3": "ann_correct.ipynb"}

    def grade_both():
        for assignment, name in picks.items():
            folder = tmp_path / f"subs-{assignment}"
            folder.mkdir(exist_ok=True)
            shutil.copy(os.path.join(CLASS, assignment, name), folder)
            subprocess.run([os.path.join(BIN, "coursekit"), "grade", assignment, "--submissions", str(folder),
                            "--course-dir", course, "--source", str(solutions), "--quiet", *LIMITS],
                           check=True, capture_output=True, env=env(course), timeout=600)
        return {a: os.stat(os.path.join(course, ".coursekit", "results", a, n[:-6] + ".json")).st_mtime_ns
                for a, n in picks.items()}

    first = grade_both()
    with open(solutions / "A3" / "checks.py", "a", encoding="utf-8") as fh:
        fh.write("\n# a change to A3's checks\n")
    second = grade_both()
    assert second["A1"] == first["A1"]  # untouched: its stored result was reused
    assert second["A3"] != first["A3"]  # its checks changed: graded again


# ---------------------------------------------------------------------------
# a foreign nbgrader configuration, a huge notebook, the student's validate
# ---------------------------------------------------------------------------
def test_nbgrader_with_a_foreign_config_fails_loudly_instead_of_grading_in_the_students_kernel(tmp_path):
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    shutil.copytree(os.path.join(ROOT, "solutions", "A2"), course / "source" / "A2")
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'other'\n")
    e = env(str(course))
    subprocess.run([os.path.join(BIN, "nbgrader"), "generate_assignment", "A2"], cwd=course, env=e,
                   check=True, capture_output=True, timeout=300)
    sub = course / "submitted" / "alice" / "A2"
    sub.mkdir(parents=True)
    shutil.copy(os.path.join(CLASS, "A2", "submitted", "alice_correct", "A2", "A2.ipynb"), sub / "A2.ipynb")
    shutil.copy(course / "release" / "A2" / "checks.py", sub / "checks.py")
    shutil.copy(course / "release" / "A2" / "visible_expected.npz", sub / "visible_expected.npz")
    out = subprocess.run([os.path.join(BIN, "nbgrader"), "autograde", "A2"], cwd=course, env=e,
                         capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "Hidden tests of coursekit assignments are graded only by the course's grader" in text
    assert "coursekit grade" in text
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course}/gradebook.db", "other") as gb:
        sub = gb.find_submission("A2", "alice")
        assert sub.needs_manual_grade  # not recorded as a normal grade


def test_a_notebook_of_twenty_thousand_cells_is_graded_in_time_with_capped_feedback(tmp_path):
    nb = nbformat.read(os.path.join(CLASS, "A2", "submitted", "alice_correct", "A2", "A2.ipynb"), as_version=4)
    extra = [nbformat.v4.new_code_cell(f"x_{i} = {i}", id=f"extra-{i}") for i in range(20_000)]
    nb.cells = nb.cells[:2] + extra + nb.cells[2:]
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(nb, subs / "many_cells.ipynb")
    course = str(tmp_path / "course")
    os.makedirs(course)
    started = time.monotonic()
    coursekit("grade", "A2", "--submissions", str(subs), "--quiet", "--time-limit", "120", course=course)
    elapsed = time.monotonic() - started
    row = read_csv(os.path.join(course, "reports", "A2", "grades.csv"))["many_cells"]
    assert float(row["score"]) == 15 and row["status"] == "graded", row
    report = json.load(open(os.path.join(course, ".coursekit", "reports", "A2", "many_cells.json")))
    assert report["seconds"] < 120 and elapsed < 600
    page = os.path.getsize(os.path.join(course, row["feedback"]))
    assert page < 3 * 2**20, page  # capped: not 20,000 cells of HTML
    assert "more cells of this notebook are not shown" in open(os.path.join(course, row["feedback"])).read()


def test_students_validate_their_notebook_without_root_or_a_sandbox(tmp_path):
    with account_folder() as home, unprivileged() as run:
        folder = os.path.join(home, "A2")
        shutil.copytree(os.path.join(ROOT, "assignments", "A2"), folder)
        give_to_account(folder)
        blank = run([os.path.join(BIN, "coursekit"), "validate", os.path.join(folder, "A2.ipynb")],
                    capture_output=True, text=True, env=env(home, account=True), timeout=600)
        assert blank.returncode == 1 and "FAIL linear_visible" in blank.stdout and "not written yet" in blank.stdout
        shutil.copy(os.path.join(CLASS, "A2", "submitted", "dave_transposed_dW", "A2", "A2.ipynb"),
                    os.path.join(folder, "A2.ipynb"))
        give_to_account(folder)
        wrong = run([os.path.join(BIN, "coursekit"), "validate", os.path.join(folder, "A2.ipynb")],
                    capture_output=True, text=True, env=env(home, account=True), timeout=600)
        assert wrong.returncode == 1 and "FAIL linear_visible" in wrong.stdout
        assert "dW: wrong shape" in wrong.stdout and "To reproduce this case, run:" in wrong.stdout
        shutil.copy(os.path.join(CLASS, "A2", "submitted", "alice_correct", "A2", "A2.ipynb"),
                    os.path.join(folder, "A2.ipynb"))
        give_to_account(folder)
        good = run([os.path.join(BIN, "coursekit"), "validate", os.path.join(folder, "A2.ipynb")],
                   capture_output=True, text=True, env=env(home, account=True), timeout=600)
        assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-2000:]
        assert "PASS linear_visible" in good.stdout and "visible checks pass" in good.stdout


def test_cli_help_and_bad_input(tmp_path):
    home = str(tmp_path)  # not the repository: caches (matplotlib's) would land in it
    out = subprocess.run([os.path.join(BIN, "coursekit"), "grade", "--help"], capture_output=True, text=True,
                         env=env(home), timeout=60)
    assert out.returncode == 0
    for words in ("--submissions", "sandbox", "grades.csv", "feedback", "--regrade", "--jobs",
                  "--unsafe-no-sandbox", "formgrader"):
        assert words in out.stdout
    out = subprocess.run([os.path.join(BIN, "coursekit"), "grade", "A9", "--submissions", CLASS],
                         capture_output=True, text=True, env=env(home), timeout=60, cwd=ROOT)
    assert out.returncode == 2 and "unknown assignment 'A9'" in out.stderr
