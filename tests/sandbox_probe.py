"""Run a probe inside the grader's sandbox and print what it saw (JSON).

    python tests/sandbox_probe.py MODE WORKDIR

MODE is ``root`` or ``user`` (the sandbox bubblewrap builds as root, or in an
unprivileged user namespace); WORKDIR a folder the caller may write.  Used by
tests/test_grading_sandbox.py, as root and as an unprivileged account.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from coursekit.grading import runner, sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_SIGNS = ("def linear_backward", "def relu_backward", "def batchnorm_backward", "def he_normal",
                   "def adam_update", "def numerical_gradient", "def softmax_cross_entropy")

PROBE = '''
import json, os, resource, socket, sys
sys.path.insert(0, "/job")
import probe_limits  # applies the runner's limits, as the runner does first thing
res = {"uid": os.getuid(), "root": sorted(os.listdir("/")), "cwd": os.getcwd()}
def can(f):
    try:
        f()
        return True
    except OSError:
        return False
res["solutions"] = can(lambda: os.listdir(%(solutions)r))
res["repo_listing"] = sorted(os.listdir(%(root)r)) if os.path.isdir(%(root)r) else []
res["other"] = can(lambda: open(%(other)r).read())
res["write_root"] = can(lambda: open("/escape.txt", "w"))
res["write_job"] = can(lambda: open("/job/escape.txt", "w"))
res["write_venv"] = can(lambda: open(os.path.join(%(prefix)r, "escape.txt"), "w"))
res["write_sandbox"] = can(lambda: open("/sandbox/ok.txt", "w").write("x"))
res["net"] = can(lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
import coursekit
pkg = os.path.dirname(coursekit.__file__)
res["package"] = sorted(os.path.relpath(os.path.join(d, f), pkg) for d, _, fs in os.walk(pkg) for f in fs)
found = []
for top in sorted(set(p for p in sys.path if p) | {pkg, "/job", "/tmp", "/sandbox"}):
    for dirpath, dirs, files in os.walk(top):
        for name in files:
            if name.endswith(".py") and os.path.join(dirpath, name) != "/job/probe.py":
                try:
                    text = open(os.path.join(dirpath, name), errors="replace").read()
                except OSError:
                    continue
                found += [os.path.join(dirpath, name) for sign in %(signs)r if sign in text]
res["reference_files"] = sorted(set(found))
res["limits"] = [resource.getrlimit(r)[0] for r in (resource.RLIMIT_AS, resource.RLIMIT_NPROC,
                                                      resource.RLIMIT_FSIZE, resource.RLIMIT_CPU)]
res["env"] = sorted(os.environ)
print(json.dumps(res))
'''


def main(mode: str, workdir: str) -> None:
    job = os.path.join(workdir, "job")
    os.makedirs(job, exist_ok=True)
    other = os.path.join(workdir, "other_student.ipynb")
    with open(other, "w") as fh:
        fh.write("answers")
    limits = sandbox.Limits()
    with open(os.path.join(job, "probe_limits.py"), "w") as fh:
        fh.write(f"from coursekit.grading import runner\nrunner.apply_limits({limits.as_dict()!r})\n")
    with open(os.path.join(job, "probe.py"), "w") as fh:
        fh.write(textwrap.dedent(PROBE % {"solutions": os.path.join(ROOT, "solutions"), "root": ROOT,
                                          "other": other, "prefix": sys.prefix, "signs": REFERENCE_SIGNS}))
    for path in (workdir, job):
        os.chmod(path, 0o755)
    package = sandbox.curated_package(("data",), os.path.join(workdir, "cache"))
    argv = sandbox.bwrap_argv(job, package, mode, sandbox.sandbox_uid(), limits)
    out = subprocess.run(argv + [sys.executable, "-I", "/job/probe.py"], capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"probe failed ({out.returncode}): {out.stderr[-2000:]}")
    print(out.stdout.strip().splitlines()[-1])


assert runner  # the probe imports it inside the sandbox: it must be there

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
