"""Grading throughput: correct A2 submissions through `coursekit grade`, as root and as a normal user.

    .venv/bin/python benchmarks/bench_grading.py [--n 40] [--jobs 2]

Each submission goes through the whole pipeline: staging, nbgrader autograde
(test cells restored from the gradebook), the sandboxed run of every cell and
every check, the verdicts against the solution, the gradebook, the feedback
page; the similarity report and the CSV at the end.  The command is timed as
an instructor runs it, once with ``--jobs 1`` and once with ``--jobs N``, in
each sandbox mode this machine offers: ``root`` (bubblewrap, then an
unprivileged uid) when run as root, and ``user`` (an unprivileged user
namespace) -- as the test account ``coursekit-grader`` when run as root.

The fixed cost of one command (start-up, registering the assignment, the
similarity report) is measured with a single submission and reported apart.
Prints submissions per minute for each mode and the per-core rate; exits 1 if a
submission is not graded with full marks or the best two-worker rate misses
60 submissions per minute.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
TARGET_PER_MINUTE = 60.0
CORRECT = os.path.join(ROOT, "examples", "class", "A2", "submitted", "alice_correct", "A2", "A2.ipynb")
BIN = os.path.dirname(sys.executable)


def make_class(folder: str, n: int) -> None:
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        shutil.copy(CORRECT, os.path.join(folder, f"student{i:03d}.ipynb"))


def grade(folder: str, course: str, jobs: int, cache: str, run) -> float:
    """Seconds of one `coursekit grade` (every submission graded again), checked for full marks."""
    argv = [os.path.join(BIN, "coursekit"), "grade", "A2", "--submissions", folder, "--course-dir", course,
            "--source", os.path.join(ROOT, "solutions"), "--quiet", "--regrade", "--jobs", str(jobs)]
    env = {**os.environ, "COURSEKIT_CACHE": cache, "HOME": course, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    start = time.perf_counter()
    out = run(argv, capture_output=True, text=True, env=env, timeout=3600)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"grading failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    with open(os.path.join(course, "reports", "A2", "grades.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    auto = {r["student"]: float(r["score"]) for r in rows}
    if any(score != 15.0 for score in auto.values()):
        raise SystemExit(f"not every correct submission got the 15 automatic points: {auto}")
    return seconds


def measure(mode: str, n: int, jobs: int, base: str, run) -> dict:
    folder, one = os.path.join(base, "class"), os.path.join(base, "one")
    make_class(folder, n)
    make_class(one, 1)
    course, cache = os.path.join(base, "course"), os.path.join(base, "cache")
    for path in (course, cache):
        os.makedirs(path, exist_ok=True)
    if os.geteuid() == 0 and mode == "user":
        from grader_user import give_to_account

        give_to_account(base)
    grade(one, course, 1, cache, run)  # warm: the solution's outputs, the curated package
    fixed = grade(one, course, 1, cache, run)
    result = {"mode": mode, "fixed": fixed}
    for workers in sorted({1, jobs}):
        total = grade(folder, course, workers, cache, run)
        result[workers] = (total, 60.0 * n / total, 60.0 * n / max(total - fixed, 1e-9))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the parallel run (default 2)")
    args = parser.parse_args()
    from coursekit.grading import sandbox
    from grader_user import account_folder, unprivileged

    modes = []
    if sandbox.mode() == "root":
        modes.append("root")
    results = []
    for mode in modes:
        base = tempfile.mkdtemp(prefix=f"bench-grading-{mode}-")
        try:
            results.append(measure(mode, args.n, args.jobs, base, subprocess.run))
        finally:
            shutil.rmtree(base, ignore_errors=True)
    with account_folder() as base, unprivileged() as run:  # a normal user: an unprivileged namespace
        os.chmod(base, 0o777)
        results.append(measure("user", args.n, args.jobs, base, run))
    print(f"\n{args.n} correct A2 submissions, `coursekit grade --regrade`, on {os.cpu_count()} cores")
    print(f"{'mode':<6} {'workers':>7} {'seconds':>8} {'per minute':>11} {'without fixed cost':>19} {'per core':>9}")
    best = 0.0
    for r in results:
        for workers in sorted(k for k in r if isinstance(k, int)):
            total, rate, net = r[workers]
            best = max(best, rate) if workers > 1 else best
            print(f"{r['mode']:<6} {workers:>7} {total:>8.1f} {rate:>11.1f} {net:>19.1f} {rate / workers:>9.1f}")
        print(f"{r['mode']:<6} fixed cost of one command (start-up, registering, report): {r['fixed']:.1f} s")
    verdict = "met" if best >= TARGET_PER_MINUTE else "MISSED"
    print(f"best parallel rate: {best:.1f}/min (target >= {TARGET_PER_MINUTE:g}/min on 2 cores): {verdict}")
    return 0 if best >= TARGET_PER_MINUTE else 1


if __name__ == "__main__":
    sys.exit(main())
