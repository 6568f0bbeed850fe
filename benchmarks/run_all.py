"""Run every benchmark script in this folder (benchmarks/bench_*.py), one after another.

    .venv/bin/python benchmarks/run_all.py      (or: make bench)

Each script runs in its own Python process with this interpreter, so one
benchmark cannot disturb another's memory or threads.  Their output is printed
as it comes; at the end a summary lists each script's exit status and time.
Exits with status 1 if any benchmark failed (crashed or missed its target).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if not scripts:
        print(f"no benchmarks/bench_*.py found in {HERE}", file=sys.stderr)
        return 1
    results = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        status = subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode
        results.append((script.name, status, time.perf_counter() - start))
    print("\n=== summary ===")
    for name, status, seconds in results:
        print(f"{name:<32} {'ok' if status == 0 else f'FAILED (exit {status})':<16} {seconds:6.1f} s")
    return 0 if all(status == 0 for _, status, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
