"""The sandbox that runs student code, probed from inside: as root and as an unprivileged user.

Each isolation property is checked with code that tries to break it
(tests/sandbox_probe.py): nothing of the instructor's is visible, no other
student, no network, nothing writable outside the private working folder, the
limits in force -- and, by construction, no reference implementation of
coursekit anywhere the student's code could load it from.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from coursekit.grading import sandbox
from grader_user import account_folder, unprivileged

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = os.path.join(ROOT, "tests", "sandbox_probe.py")

if not sandbox.mode():
    pytest.fail(f"no sandbox on this machine: {sandbox.unavailable_reason()}", pytrace=False)


_SEEN: dict = {}


def probe(mode: str, tmp_path) -> dict:
    """What the probe saw in the sandbox of ``mode`` (run once per mode and test session)."""
    if mode not in _SEEN:
        _SEEN[mode] = _probe(mode, tmp_path)
    return _SEEN[mode]


def _probe(mode: str, tmp_path) -> dict:
    if mode == "root":
        work = tmp_path / mode
        work.mkdir()
        out = subprocess.run([sys.executable, PROBE, "root", str(work)], capture_output=True, text=True,
                             timeout=300, cwd=ROOT)
    else:
        with account_folder() as work, unprivileged() as run:
            out = run([sys.executable, PROBE, "user", work], capture_output=True, text=True,
                      timeout=300, cwd=ROOT, env={**os.environ, "HOME": work})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


MODES = ["root", "user"] if os.geteuid() == 0 else ["user"]


@pytest.mark.parametrize("mode", MODES)
def test_student_code_sees_nothing_of_the_instructor_and_cannot_write_outside(mode, tmp_path):
    seen = probe(mode, tmp_path)
    assert seen["cwd"] == "/sandbox"
    assert seen["uid"] != 0
    assert not seen["solutions"] and not seen["other"] and not seen["net"]
    assert set(seen["repo_listing"]) <= {"coursekit", ".venv"}, seen["repo_listing"]
    assert not any([seen["write_root"], seen["write_job"], seen["write_venv"]])
    assert seen["write_sandbox"]
    assert "HOME" in seen["env"] and not any("TOKEN" in k or "SECRET" in k for k in seen["env"])
    limits = sandbox.Limits()
    assert seen["limits"] == [limits.memory_mb * 2**20, limits.processes, limits.file_size_mb * 2**20,
                              limits.cpu_seconds]


@pytest.mark.parametrize("mode", MODES)
def test_no_reference_implementation_exists_inside_the_sandbox(mode, tmp_path):
    """Fixed by construction: the curated coursekit holds the runner and the allowed modules only."""
    seen = probe(mode, tmp_path)
    assert seen["reference_files"] == [], seen["reference_files"]
    assert "functional.py" not in seen["package"] and "init.py" not in seen["package"]
    assert "grading/runner.py" in seen["package"] and "data.py" in seen["package"]


def test_an_allowed_module_cannot_smuggle_in_a_forbidden_one(tmp_path):
    with pytest.raises(ValueError, match="imports coursekit"):
        sandbox.module_closure(("train",))  # train imports layers, losses, optim
    assert "data.py" in sandbox.module_closure(())


def test_without_a_sandbox_the_reason_says_what_to_enable(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    assert sandbox.mode() == ""
    assert "apt-get install bubblewrap" in sandbox.unavailable_reason()
    with pytest.raises(sandbox.SandboxUnavailable, match="cannot grade safely"):
        sandbox.require()
