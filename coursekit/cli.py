"""The ``coursekit`` command: release, grade, export and validate assignments.

    coursekit release [A1 A2 ...] [--check]        instructors: solutions/ -> assignments/
    coursekit grade A2 [--submissions DIR] ...      instructors: autograde a class
    coursekit export A2                             instructors: the grades CSV again
    coursekit validate A2.ipynb                     students: every visible check, full messages
    coursekit doctor                                instructors: can this machine grade, and how?

``coursekit <command> --help`` explains each one.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile

import nbformat
import nbgrader
import numpy as np
from traitlets.config import Config

from coursekit.grading import course, driver, export, grader, local, pipeline, sandbox, similarity, source, validate

GRADE_HELP = """\
Autograde every submission of ASSIGNMENT, safely and in parallel, into the course's
own gradebook and folders (the ones nbgrader's formgrader shows).

SUBMISSIONS (default: the course's submitted/ folder, where `nbgrader collect` puts
them) may be a flat folder of <student>.ipynb files or nbgrader's layout
<DIR>/<student>/<ASSIGNMENT>/<ASSIGNMENT>.ipynb.  It is only ever read: symbolic
links are refused (with a reason), timestamp.txt is validated, every file name
gets its own student id.

Each submission runs in a sandbox -- bubblewrap as root, or in an unprivileged user
namespace as a normal user -- that holds no solution, gradebook, other student's
work, network or coursekit reference implementation, with limits on memory, CPU
time, processes, file size and wall-clock time.  Every check is judged outside the
student's process against the instructor's solution.  A submission that loops,
crashes, tampers or is not a notebook still gets a grade and a reason; one cell
that hangs or kills its process costs only that cell.  Where no sandbox can be
made, grading stops and says what to enable; --unsafe-no-sandbox grades without
isolation and says so in every row it grades.

Results, in the course folder:
  gradebook.db, autograded/, feedback/   nbgrader's: formgrader shows grades,
                                          notebooks, feedback and the written
                                          answers that need manual grading
  reports/ASSIGNMENT/grades.csv          score, score per part, manual grading,
                                          reasons, similarity flag, isolation
  reports/ASSIGNMENT/similarity.html     answer cells compared with coursekit's
                                          source and with each other (copydetect);
                                          flags at >= 50% shared code, for review:
                                          a flag never changes a score
Running it again grades only new or changed submissions (--regrade: all); an
interrupted run resumes.  `coursekit export ASSIGNMENT` rewrites the CSV from the
gradebook (after manual grading in formgrader) without grading.

Example:
  coursekit grade A2 --submissions ~/collected/A2
  coursekit grade A2 --submissions examples/class/A2 --course-dir /tmp/demo \\
      --cell-timeout 3 --time-limit 15 --expect examples/class/expected.csv
"""


# ---------------------------------------------------------------------------
# where the course is
# ---------------------------------------------------------------------------
def repository_root() -> str:
    """The folder above the coursekit package (the repository, for an editable install)."""
    return os.path.dirname(sandbox.PACKAGE_DIR)


def course_dir(given: str | None) -> str:
    """--course-dir, else $COURSEKIT_COURSE_ROOT, else the current folder if it is a course, else the repository."""
    if given:
        return os.path.abspath(given)
    if os.environ.get("COURSEKIT_COURSE_ROOT"):
        return os.path.abspath(os.environ["COURSEKIT_COURSE_ROOT"])
    here = os.getcwd()
    if os.path.isfile(os.path.join(here, "nbgrader_config.py")) or os.path.isdir(os.path.join(here, "solutions")):
        return here
    return repository_root()


def source_dir(given: str | None, course: str) -> str:
    """--source, else <course>/solutions, else the repository's solutions/."""
    if given:
        return os.path.abspath(given)
    for folder in (os.path.join(course, "solutions"), os.path.join(repository_root(), "solutions")):
        if os.path.isdir(folder):
            return folder
    raise SystemExit("coursekit: no solutions/ folder found: give --source")


# ---------------------------------------------------------------------------
# release
# ---------------------------------------------------------------------------
def same_expected(path_a: str, path_b: str) -> bool:
    """Two visible_expected files with the same checks digest, keys and values (to 1e-12)."""
    if not (os.path.isfile(path_a) and os.path.isfile(path_b)):
        return False
    a, b = local.read_expected(path_a), local.read_expected(path_b)
    if a["digest"] != b["digest"] or a["checks"].keys() != b["checks"].keys():
        return False
    for check, cases in a["checks"].items():
        other = b["checks"][check]
        if len(cases) != len(other) or any(x.keys() != y.keys() for x, y in zip(cases, other)):
            return False
        for x, y in zip(cases, other):
            if not all(np.allclose(x[k], y[k], rtol=1e-12, atol=0, equal_nan=True) for k in x):
                return False
    return True


def write_visible_expected(src: source.AssignmentSource, settings: grader.Settings, target: str) -> None:
    """The solution's outputs on the visible cases, for the students' in-notebook checks."""
    outputs = grader.expected_outputs(src, settings)
    spec = src.spec()
    visible = {gid: cases for gid, cases in outputs.items() if spec.check(gid)[1] == "visible"}
    local.write_expected(target, visible, local.checks_digest(os.path.join(src.folder, local.CHECKS_FILE)))


def release_one(api, name: str, src_dir: str, target_dir: str, settings: grader.Settings, check: str) -> bool:
    """Release (or, with ``check``: compare with) one assignment; True when it is (was) up to date."""
    src = source.find(src_dir, name)
    expected_path = os.path.join(src.folder, local.EXPECTED_FILE)
    if check:
        fresh = os.path.join(check, f"{name}-{local.EXPECTED_FILE}")
        write_visible_expected(src, settings, fresh)
        if not same_expected(fresh, expected_path):
            return False
    else:
        write_visible_expected(src, settings, expected_path)
    result = api.generate_assignment(name, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{result.get('log', '')}")
    if not check:
        return True
    got, have = os.path.join(target_dir, name), os.path.join(os.path.dirname(src_dir), "assignments", name)
    cmp = filecmp.dircmp(got, have) if os.path.isdir(have) else None
    return cmp is not None and not (cmp.left_only or cmp.right_only) and all(
        filecmp.cmp(os.path.join(got, f), os.path.join(have, f), shallow=False)
        for f in cmp.common_files if f != local.EXPECTED_FILE)


def cmd_release(args) -> int:
    root = course_dir(args.course_dir)
    src_dir = source_dir(args.source, root)
    names = args.assignments or source.names(src_dir)
    open(os.path.join(src_dir, local.SOURCE_MARKER), "a").close()  # hidden blocks may run only here
    isolation = "sandbox" if sandbox.mode() else "none"  # the instructor's own solution: trusted code
    settings = grader.Settings(cache_dir=grader.cache_dir(os.path.join(root, course.STATE)), isolation=isolation)
    status = 0
    with tempfile.TemporaryDirectory(prefix="coursekit-release-") as tmp:
        course_release = os.path.join(os.path.dirname(src_dir), "assignments")
        target = os.path.join(tmp, "assignments") if args.check else course_release
        config = Config()
        course.configure(config, root=tmp, source=src_dir, release=target,
                         db_url=f"sqlite:///{os.path.join(tmp, 'gradebook.db')}")
        api = pipeline.NbGraderAPI(coursedir=pipeline.CourseDirectory(config=config), config=config)
        for name in names:
            try:
                ok = release_one(api, name, src_dir, target, settings, tmp if args.check else "")
            except (source.AssignmentError, RuntimeError, sandbox.SandboxUnavailable) as exc:
                print(f"release {name}: FAILED: {exc}", file=sys.stderr)
                status = 1
                continue
            if args.check:
                print(f"release {name}: {'up to date' if ok else 'DIFFERS from solutions/ (run coursekit release)'}")
                status |= 0 if ok else 1
            else:
                print(f"release {name}: assignments/{name}/ generated from solutions/{name}/")
    return status


# ---------------------------------------------------------------------------
# grade and export
# ---------------------------------------------------------------------------
def grade_options(args) -> pipeline.Options:
    root = course_dir(args.course_dir)
    return pipeline.Options(
        assignment=args.assignment, course_dir=root, source_dir=source_dir(args.source, root),
        submissions=os.path.abspath(args.submissions or os.path.join(root, "submitted")),
        db_url=args.db or os.environ.get("COURSEKIT_DB_URL") or "", jobs=args.jobs or os.cpu_count() or 1,
        cell_timeout=args.cell_timeout, time_limit=args.time_limit, memory_mb=args.memory_mb,
        isolation="none" if args.unsafe_no_sandbox else "sandbox", regrade=args.regrade,
        feedback=not args.no_feedback)


def cmd_grade(args) -> int:
    opts = grade_options(args)
    if opts.isolation == "none":
        print("coursekit grade: WARNING: --unsafe-no-sandbox: student code runs with YOUR rights, "
              "unisolated; every row will say so", file=sys.stderr)
    elif not sandbox.mode():
        print(f"coursekit grade: cannot grade safely: {sandbox.unavailable_reason()}\n"
              "(To grade anyway, without isolation: --unsafe-no-sandbox.)", file=sys.stderr)
        return 2
    if args.assignment not in source.names(opts.source_dir):
        print(f"coursekit grade: unknown assignment {args.assignment!r}; known: "
              f"{', '.join(source.names(opts.source_dir))}", file=sys.stderr)
        return 2
    try:
        subs = pipeline.find_submissions(opts.submissions, opts.assignment)
    except (FileNotFoundError, ValueError) as exc:
        print(f"coursekit grade: {exc}", file=sys.stderr)
        return 2
    if not subs:
        print(f"coursekit grade: no submissions found in {opts.submissions}", file=sys.stderr)
        return 2
    try:
        results = pipeline.grade(opts, subs, progress=not args.quiet)
    except (source.AssignmentError, driver.StartFailed, ValueError) as exc:
        print(f"coursekit grade: the assignment cannot be graded: {exc}", file=sys.stderr)
        return 2
    release_nb = nbformat.read(os.path.join(opts.state, "release", opts.assignment,
                                            f"{opts.assignment}.ipynb"), as_version=4)
    spec = source.find(opts.source_dir, opts.assignment).spec()
    flags = pipeline.similarity_flags(opts, [r for r in results if r.get("status") == "graded"],
                                      release_nb, spec.allow)
    if pipeline.release_differs(opts):
        print(f"coursekit grade: note: assignments/{opts.assignment} differs from what "
              f"solutions/{opts.assignment} generates (run `coursekit release`)", file=sys.stderr)
    return finish(opts, results, flags, args)


def finish(opts: pipeline.Options, results: list, flags: dict, args) -> int:
    """Write the CSV from the gradebook, print the summary, compare with --expect."""
    table, parts = export.rows(opts.db_url, opts.assignment, results, flags)
    path = getattr(args, "csv", None) or os.path.join(opts.report_dir(), "grades.csv")
    export.write_csv(path, table, parts)
    print(export.summary(table, parts))
    print(f"grades: {path}")
    if flags:
        print(f"similarity: {os.path.join(opts.report_dir(), 'similarity.html')} "
              f"(flag at {similarity.FLAG_THRESHOLD:.0%} shared answer code)")
    status = 0 if all(r["status"] == "graded" for r in table) else 1
    if getattr(args, "expect", None):
        problems = export.compare_with_expected(table, args.expect, opts.assignment)
        for p in problems:
            print(f"UNEXPECTED {p}", file=sys.stderr)
        print(f"expected results ({args.expect}): "
              + ("all match" if not problems else f"{len(problems)} differences"))
        status = status or (1 if problems else 0)
    return status


def cmd_export(args) -> int:
    root = course_dir(args.course_dir)
    opts = pipeline.Options(assignment=args.assignment, course_dir=root, source_dir=source_dir(args.source, root),
                            submissions="", db_url=args.db or os.environ.get("COURSEKIT_DB_URL") or "")
    folder = os.path.join(opts.state, "results", opts.assignment)
    if not os.path.isdir(folder):
        print(f"coursekit export: nothing graded yet for {opts.assignment} in {root}", file=sys.stderr)
        return 2
    loaded = [pipeline.load_result(opts, f[:-5]) for f in sorted(os.listdir(folder)) if f.endswith(".json")]
    results = [r for r in loaded if r]
    release_nb = nbformat.read(os.path.join(opts.state, "release", opts.assignment,
                                            f"{opts.assignment}.ipynb"), as_version=4)
    spec = source.find(opts.source_dir, opts.assignment).spec()
    flags = pipeline.similarity_flags(opts, [r for r in results if r.get("status") == "graded"],
                                      release_nb, spec.allow)
    return finish(opts, results, flags, args)


def cmd_validate(args) -> int:
    return validate.main(args.notebook)


def cmd_doctor(args) -> int:
    """Say whether and how this machine can grade, and what to do if it cannot."""
    found = sandbox.mode()
    print(f"python: {sys.executable} ({sys.version.split()[0]}); nbgrader {nbgrader.__version__}")
    print(f"course folder: {course_dir(args.course_dir)}")
    if found == "root":
        print("sandbox: bubblewrap as root, student code switched to an unprivileged user")
    elif found == "user":
        print("sandbox: bubblewrap in an unprivileged user namespace (no root needed)")
    else:
        print(f"sandbox: NOT AVAILABLE -- {sandbox.unavailable_reason()}")
    return 0 if found else 1


# ---------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------
def _course_args(p) -> None:
    p.add_argument("--course-dir", metavar="DIR", help="the course folder: gradebook, submitted/, autograded/, "
                   "feedback/ (default: $COURSEKIT_COURSE_ROOT, the current folder if it has nbgrader_config.py "
                   "or solutions/, else the repository)")
    p.add_argument("--source", metavar="DIR", help="the instructor's source folder (default: <course>/solutions)")
    p.add_argument("--db", metavar="URL", help="gradebook URL (default: sqlite:///<course>/gradebook.db)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursekit", description="coursekit course tools.")
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser("release", help="generate assignments/ from solutions/ with nbgrader",
                         description="Generate each assignment's student version assignments/<A>/ from "
                         "solutions/<A>/ (solutions replaced by stubs, hidden tests removed, checks.py and the "
                         "solution's outputs on the visible cases, visible_expected.npz, included).")
    rel.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    rel.add_argument("--check", action="store_true", help="write nothing; exit 1 if assignments/ or "
                     "visible_expected.npz differs from what would be generated")
    _course_args(rel)
    rel.set_defaults(func=cmd_release)

    gr = sub.add_parser("grade", help="autograde a class", description=GRADE_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    gr.add_argument("assignment", help="assignment name, e.g. A2")
    gr.add_argument("--submissions", metavar="DIR", help="folder of submitted notebooks (default: <course>/submitted)")
    _course_args(gr)
    gr.add_argument("--jobs", "-j", type=int, default=0, help="submissions graded at once (default: cores)")
    gr.add_argument("--cell-timeout", type=float, default=30.0, metavar="S",
                    help="seconds one cell, or one test cell's check, may run (default: 30)")
    gr.add_argument("--time-limit", type=float, default=120.0, metavar="S",
                    help="wall-clock seconds for a whole submission (default: 120)")
    gr.add_argument("--memory-mb", type=int, default=2048, metavar="MB",
                    help="memory (address space) of each sandboxed process (default: 2048)")
    gr.add_argument("--regrade", action="store_true", help="grade every submission again, even unchanged ones")
    gr.add_argument("--no-feedback", action="store_true", help="skip the feedback pages")
    gr.add_argument("--unsafe-no-sandbox", action="store_true",
                    help="grade WITHOUT isolation where no sandbox can be made (student code runs with your "
                    "rights); recorded in every row it grades")
    gr.add_argument("--csv", metavar="PATH", help="where to write the grades (default: reports/<A>/grades.csv)")
    gr.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    gr.add_argument("--expect", metavar="CSV", help="compare with expected results (columns assignment, "
                    "student, score, reason_contains); exit 1 on any difference")
    gr.set_defaults(func=cmd_grade)

    ex = sub.add_parser("export", help="write the grades CSV from the gradebook again (e.g. after manual grading)")
    ex.add_argument("assignment")
    _course_args(ex)
    ex.add_argument("--csv", metavar="PATH", help="where to write the grades (default: reports/<A>/grades.csv)")
    ex.add_argument("--expect", metavar="CSV", help="compare with expected results, as for grade")
    ex.set_defaults(func=cmd_export)

    va = sub.add_parser("validate", help="students: run a notebook and every visible check",
                        description="Run the notebook top to bottom (in a separate process, on your machine) "
                        "and every visible check of the assignment, with full messages. Exit status 1 if a "
                        "check fails or a cell raises. Needs checks.py and visible_expected.npz next to the "
                        "notebook (they come with the assignment).")
    va.add_argument("notebook", help="the assignment notebook, e.g. A2/A2.ipynb")
    va.set_defaults(func=cmd_validate)

    doc = sub.add_parser("doctor", help="instructors: can this machine grade, and how?",
                         description="Print the sandbox mode this machine supports (root, or an "
                         "unprivileged user namespace) or what is missing and how to enable it; exit 1 "
                         "when student code cannot be isolated here.")
    _course_args(doc)
    doc.set_defaults(func=cmd_doctor)
    return parser


def main(argv=None) -> int:
    course.ensure_tools_on_path()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
