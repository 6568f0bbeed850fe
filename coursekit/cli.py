"""The ``coursekit`` command: release the assignments and grade a class.

    coursekit release [A1 A2 ...] [--check]
    coursekit grade A2 --submissions DIR [--workdir DIR] [--jobs N] ...

Run ``coursekit grade --help`` for what grading does and what it produces.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile

GRADE_HELP = """\
Autograde every submission of ASSIGNMENT in a folder, safely and in parallel.

SUBMISSIONS may be a flat folder of <student>.ipynb files, or nbgrader's layout
<DIR>/<student>/<ASSIGNMENT>/<ASSIGNMENT>.ipynb (DIR may be nbgrader's
`submitted/` folder or its parent).  Your files are only read, never changed.

Each submission is graded in a sandbox: the student's code cannot see the
solutions, the gradebook, other students' work or the network, and is limited
in memory, CPU time, processes, file size and wall-clock time.  The grade of
each test cell is recomputed by the grader outside the student's process, so
code that patches the tests cannot raise its score.  A submission that loops
forever, crashes its kernel, is not valid JSON or belongs to another
assignment still gets a grade and a reason; the batch never stops.

Results (in --workdir):
  grades-ASSIGNMENT.csv                 one row per student: score, score per
                                        part, status and reasons
  feedback/<student>/ASSIGNMENT/*.html  feedback for the student (no hidden
                                        tests; math works offline)
  gradebook.db                          nbgrader's SQLite gradebook (or --db)

Running it again grades only new or changed submissions (use --regrade to
grade all again); a run that was interrupted can simply be started again.
Needs root (student code is switched to an unprivileged user) and bubblewrap.

Example:
  coursekit grade A2 --submissions ~/class/A2 --workdir ~/grading-A2
  coursekit grade A2 --submissions examples/class/A2 --workdir /tmp/demo \
      --cell-timeout 3 --time-limit 15 --expect examples/class/expected.csv
"""


def _course_root() -> str:
    from coursekit._grader.course import repo_root

    return repo_root()


def _ensure_path() -> None:
    # nbgrader runs `alembic` (installed next to this Python) when it creates a gradebook
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def _assignments(root: str) -> list:
    src = os.path.join(root, "solutions")
    return sorted(a for a in os.listdir(src)
                  if os.path.isfile(os.path.join(src, a, f"{a}.ipynb")))


def cmd_release(args) -> int:
    """Generate assignments/<A>/ from solutions/<A>/ with nbgrader (or check they match)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    from coursekit._grader.course import configure

    root = os.path.abspath(args.course_root or _course_root())
    names = args.assignments or _assignments(root)
    status = 0
    with tempfile.TemporaryDirectory(prefix="coursekit-release-") as tmp:
        target = os.path.join(tmp, "assignments") if args.check else os.path.join(root, "assignments")
        config = Config()
        configure(config, root=tmp, source=os.path.join(root, "solutions"), release=target,
                  db_url=f"sqlite:///{os.path.join(tmp, 'gradebook.db')}")
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        for name in names:
            result = api.generate_assignment(name, force=True, create=True)
            if not result["success"]:
                print(f"release {name}: FAILED\n{result.get('log', '')}", file=sys.stderr)
                status = 1
                continue
            if args.check:
                got = os.path.join(target, name)
                have = os.path.join(root, "assignments", name)
                cmp = filecmp.dircmp(got, have) if os.path.isdir(have) else None
                same = cmp is not None and not (cmp.left_only or cmp.right_only) and all(
                    filecmp.cmp(os.path.join(got, f), os.path.join(have, f), shallow=False)
                    for f in cmp.common_files)
                print(f"release {name}: {'up to date' if same else 'DIFFERS from solutions/ (run coursekit release)'}")
                status |= 0 if same else 1
            else:
                print(f"release {name}: assignments/{name}/ generated from solutions/{name}/")
    return status


def cmd_grade(args) -> int:
    from coursekit._grader import pipeline, sandbox

    if not sandbox.available():
        print(f"coursekit grade: cannot grade safely: {sandbox.unavailable_reason()}", file=sys.stderr)
        return 2
    root = os.path.abspath(args.course_root or _course_root())
    workdir = os.path.abspath(args.workdir or os.path.join(root, "grading"))
    db_url = args.db or os.environ.get("COURSEKIT_DB_URL") or \
        f"sqlite:///{os.path.join(workdir, 'gradebook.db')}"
    if args.assignment not in _assignments(root):
        print(f"coursekit grade: unknown assignment {args.assignment!r}; "
              f"known: {', '.join(_assignments(root))}", file=sys.stderr)
        return 2
    try:
        subs = pipeline.find_submissions(args.submissions, args.assignment)
    except (FileNotFoundError, ValueError) as exc:
        print(f"coursekit grade: {exc}", file=sys.stderr)
        return 2
    if not subs:
        print(f"coursekit grade: no submissions found in {args.submissions}", file=sys.stderr)
        return 2
    opts = pipeline.Options(assignment=args.assignment, workdir=workdir, course_root=root,
                            db_url=db_url, jobs=args.jobs or os.cpu_count() or 1,
                            cell_timeout=args.cell_timeout, time_limit=args.time_limit,
                            memory_mb=args.memory_mb,
                            regrade=args.regrade, feedback=not args.no_feedback)
    rows = pipeline.grade(opts, subs, progress=not args.quiet)
    parts = pipeline.part_names(opts)
    csv_path = args.csv or os.path.join(workdir, f"grades-{args.assignment}.csv")
    pipeline.write_csv(rows, parts, csv_path)
    print(pipeline.summary(rows, parts, pipeline.max_points_by_part(opts)))
    print(f"grades: {csv_path}")
    if opts.feedback:
        print(f"feedback: {os.path.join(workdir, 'feedback')}/<student>/{args.assignment}/")
    status = 0 if all(r["status"] == "graded" for r in rows) else 1
    if args.expect:
        problems = pipeline.compare_with_expected(rows, args.expect, args.assignment)
        for p in problems:
            print(f"UNEXPECTED {p}", file=sys.stderr)
        print(f"expected results ({args.expect}): "
              + ("all match" if not problems else f"{len(problems)} differences"))
        status = status or (1 if problems else 0)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursekit", description="coursekit course tools.")
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser("release", help="generate assignments/ from solutions/ with nbgrader",
                         description="Generate the student version assignments/<A>/ of each "
                         "assignment from the instructor version solutions/<A>/ (solutions "
                         "replaced by stubs, hidden tests removed).")
    rel.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    rel.add_argument("--check", action="store_true",
                     help="do not write; exit 1 if assignments/ differs from what would be generated")
    rel.add_argument("--course-root", help="folder with solutions/ and assignments/ (default: the repository)")
    rel.set_defaults(func=cmd_release)

    gr = sub.add_parser("grade", help="autograde a folder of submissions",
                        description=GRADE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    gr.add_argument("assignment", help="assignment name, e.g. A2")
    gr.add_argument("--submissions", required=True, metavar="DIR",
                    help="folder of submitted notebooks (see above)")
    gr.add_argument("--workdir", metavar="DIR",
                    help="where the gradebook, grades and feedback go (default: <course>/grading)")
    gr.add_argument("--db", metavar="URL", help="gradebook database URL (default: SQLite in --workdir)")
    gr.add_argument("--jobs", "-j", type=int, default=0,
                    help="submissions graded at once (default: number of cores)")
    gr.add_argument("--cell-timeout", type=int, default=30, metavar="S",
                    help="seconds one notebook cell may run (default: 30)")
    gr.add_argument("--time-limit", type=float, default=120.0, metavar="S",
                    help="wall-clock seconds per sandboxed run of a submission (default: 120)")
    gr.add_argument("--memory-mb", type=int, default=2048, metavar="MB",
                    help="memory (address space) a submission may use (default: 2048)")
    gr.add_argument("--regrade", action="store_true",
                    help="grade every submission again, even unchanged ones")
    gr.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    gr.add_argument("--csv", metavar="PATH", help="where to write the grades (default: in --workdir)")
    gr.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    gr.add_argument("--expect", metavar="CSV",
                    help="compare with expected results (columns assignment, student, score, "
                    "reason_contains); exit 1 on any difference")
    gr.add_argument("--course-root", help="folder with solutions/ (default: the repository)")
    gr.set_defaults(func=cmd_grade)
    return parser


def main(argv=None) -> int:
    _ensure_path()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
