"""A student's install, measured: pip only, no root, no bubblewrap.

    .venv/bin/python benchmarks/student_install.py

What a student does on a fresh machine, as a normal user (the test account
``coursekit-grader`` when this runs as root): create a virtual environment,
``pip install`` coursekit from a wheel (its dependencies come from the
package index, pip's cache off), then check the released A2 with
``coursekit validate``: the untouched release must fail with the visible
checks' messages, a correct notebook must pass.  As a reference measured in
the same run, the same is done for JupyterLab alone (what any notebook course
needs), so the ratio says what coursekit adds.

Prints seconds and megabytes of each environment.  Needs the package index
(PyPI or a mirror); not part of `make bench`, which runs offline.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
CORRECT = os.path.join(ROOT, "examples", "class", "A2", "submitted", "alice_correct", "A2", "A2.ipynb")
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def megabytes(folder: str) -> float:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total / 2**20


def timed(run, argv: list, env: dict) -> tuple:
    start = time.perf_counter()
    out = run(argv, capture_output=True, text=True, env=env, timeout=3600)
    return time.perf_counter() - start, out


def install(run, home: str, name: str, packages: list, env: dict) -> tuple:
    """(seconds, MB) of `python -m venv` plus `pip install packages`, as the student."""
    venv = os.path.join(home, name)
    start = time.perf_counter()
    for argv in ([PYTHON, "-m", "venv", venv],
                 [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet", "--no-cache-dir",
                  *packages]):
        out = run(argv, capture_output=True, text=True, env=env, timeout=3600)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return time.perf_counter() - start, megabytes(venv)


def main() -> int:
    from grader_user import account_folder, give_to_account, unprivileged

    build = tempfile.mkdtemp(prefix="student-wheel-")
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", build, ROOT],
                             capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise SystemExit(f"building the wheel failed:\n{out.stderr[-3000:]}")
        wheel = next(f for f in os.listdir(build) if f.endswith(".whl"))
        with account_folder() as home, unprivileged() as run:
            shutil.copy(os.path.join(build, wheel), home)
            shutil.copytree(os.path.join(ROOT, "assignments", "A2"), os.path.join(home, "A2"))
            give_to_account(home)
            env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "MPLBACKEND": "Agg"}
            ref_s, ref_mb = install(run, home, "jupyterlab-only", ["jupyterlab"], env)
            ck_s, ck_mb = install(run, home, "coursekit", [os.path.join(home, wheel)], env)
            validate = [os.path.join(home, "coursekit", "bin", "coursekit"), "validate",
                        os.path.join(home, "A2", "A2.ipynb")]
            blank_s, blank = timed(run, validate, env)
            if blank.returncode != 1 or "FAIL linear_visible" not in blank.stdout:
                raise SystemExit(f"validate on the release should fail its checks:\n{blank.stdout[-3000:]}"
                                 f"\n{blank.stderr[-2000:]}")
            shutil.copy(CORRECT, os.path.join(home, "A2", "A2.ipynb"))
            give_to_account(home)
            good_s, good = timed(run, validate, env)
            if good.returncode != 0:
                raise SystemExit(f"validate on a correct notebook should pass:\n{good.stdout[-3000:]}"
                                 f"\n{good.stderr[-2000:]}")
    finally:
        shutil.rmtree(build, ignore_errors=True)
    who = "the unprivileged account coursekit-grader" if os.geteuid() == 0 else "this user"
    print(f"\nA student's install, as {who}, pip only (no cache), {os.cpu_count()} cores")
    print(f"{'environment':<28} {'seconds':>8} {'MB':>7}")
    print(f"{'JupyterLab alone (reference)':<28} {ref_s:>8.1f} {ref_mb:>7.0f}")
    print(f"{'coursekit (wheel + deps)':<28} {ck_s:>8.1f} {ck_mb:>7.0f}")
    print(f"ratio to the reference: {ck_s / ref_s:.2f}x the time, {ck_mb / ref_mb:.2f}x the size")
    print(f"coursekit validate A2.ipynb: release {blank_s:.1f} s (fails, as it must), "
          f"correct {good_s:.1f} s (passes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
