"""Grading throughput: 50 correct A2 submissions, sequential and parallel, isolation on.

    .venv/bin/python benchmarks/bench_grading.py [--n 50] [--jobs 2]

Each submission goes through the whole pipeline of ``coursekit grade``: nbgrader
autograde (restore test cells, gradebook), the sandboxed run (bubblewrap,
resource limits, unprivileged user), the grader's verdicts and the feedback
HTML.  Reports submissions per minute for ``--jobs 1`` and ``--jobs N`` in the
same run, and their ratio.  Target: at least 60 submissions/minute in parallel
on a 2-core machine.  Exits 1 if the parallel run misses the target or a
submission does not get full marks.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "class"))
TARGET_PER_MINUTE = 60.0


def run(n: int, jobs: int, folder: str) -> tuple:
    from coursekit._grader import pipeline

    workdir = tempfile.mkdtemp(prefix=f"bench-grading-j{jobs}-")
    try:
        opts = pipeline.Options(assignment="A2", workdir=workdir, course_root=ROOT,
                                db_url=f"sqlite:///{workdir}/gradebook.db", jobs=jobs,
                                cell_timeout=30, time_limit=120.0, regrade=True)
        subs = pipeline.find_submissions(folder, "A2")
        pipeline.release(opts)  # once, outside the timed part (as `coursekit grade` does first)
        start = time.perf_counter()
        rows = pipeline.grade(opts, subs, progress=False)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    full = sum(1 for r in rows if r["status"] == "graded" and float(r["score"]) == float(r["max_score"]))
    return seconds, full


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="number of submissions (default 50)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                        help="parallel workers of the parallel run (default: cores)")
    args = parser.parse_args()

    from coursekit._grader import sandbox
    from coursekit.cli import _ensure_path
    from make_class import correct

    if not sandbox.available():
        print(f"cannot benchmark: {sandbox.unavailable_reason()}", file=sys.stderr)
        return 1
    _ensure_path()
    nb = correct("A2")
    with tempfile.TemporaryDirectory(prefix="bench-grading-subs-") as folder:
        for i in range(args.n):
            nbformat.write(nb, os.path.join(folder, f"student{i:03d}.ipynb"))
        results = {}
        for jobs in (1, args.jobs):
            seconds, full = run(args.n, jobs, folder)
            results[jobs] = (seconds, full)
            print(f"jobs={jobs}: {args.n} submissions in {seconds:.1f} s = "
                  f"{60 * args.n / seconds:.1f} submissions/minute "
                  f"({seconds / args.n:.2f} s each); full marks: {full}/{args.n}", flush=True)
    seq, par = results[1][0], results[args.jobs][0]
    rate = 60 * args.n / par
    print(f"parallel speed-up (jobs={args.jobs} vs 1): {seq / par:.2f}x")
    print(f"target >= {TARGET_PER_MINUTE:.0f}/minute with isolation on: "
          f"{'met' if rate >= TARGET_PER_MINUTE else 'MISSED'} ({rate:.1f}/minute on {os.cpu_count()} cores)")
    ok = rate >= TARGET_PER_MINUTE and all(full == args.n for _, full in results.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
