"""The sandbox that runs student code: each isolation property tested with real hostile code.

Needs bubblewrap and root (``make install`` installs bubblewrap; grading runs as
root to switch student code to an unprivileged user).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from coursekit._grader import sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if os.geteuid() != 0:
    pytest.skip("the grader's sandbox needs root (it drops to an unprivileged user)",
                allow_module_level=True)
if not sandbox.available():
    pytest.fail(f"sandbox unavailable: {sandbox.unavailable_reason()}", pytrace=False)


def _run(tmp_path, code: str, name="work", **kw):
    """Run ``code`` as /job/probe.py in the sandbox; it reports by writing JSON to /out.bin."""
    uid = kw.pop("uid", 60999)
    job_dir, out_file = sandbox.prepare(str(tmp_path / name), uid)
    with open(os.path.join(job_dir, "probe.py"), "w") as fh:
        fh.write(textwrap.dedent(code))
    result = sandbox.run([sys.executable, "-I", "/job/probe.py"], job_dir, out_file, uid=uid, **kw)
    text = open(out_file).read()
    return result, (json.loads(text) if text else None)


def test_student_code_sees_no_instructor_files_and_no_network(tmp_path):
    other = tmp_path / "other_student"
    other.mkdir()
    (other / "secret.ipynb").write_text("answers")
    result, seen = _run(tmp_path, f"""
        import json, os, socket, resource
        res = {{"uid": os.getuid(), "root": sorted(os.listdir("/")), "home": os.getcwd()}}
        def can(f):
            try:
                f()
                return True
            except OSError:
                return False
        res["solutions"] = can(lambda: os.listdir({os.path.join(ROOT, 'solutions')!r}))
        res["hidden_cases"] = can(lambda: open({os.path.join(ROOT, 'solutions', '_hidden', 'A2.py')!r}).read())
        res["repo_files"] = sorted(os.listdir({ROOT!r})) if os.path.isdir({ROOT!r}) else []
        res["other"] = can(lambda: open({str(other / 'secret.ipynb')!r}).read())
        res["tmp_parent"] = can(lambda: os.listdir({str(tmp_path)!r}))
        res["write_root"] = can(lambda: open("/escape.txt", "w"))
        res["write_job"] = can(lambda: open("/job/escape.txt", "w"))
        res["write_venv"] = can(lambda: open({os.path.join(sys.prefix, 'escape.txt')!r}, "w"))
        res["write_coursekit"] = can(lambda: open({os.path.join(ROOT, 'coursekit', 'escape.py')!r}, "w"))
        res["net"] = can(lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
        res["limits"] = [resource.getrlimit(r)[0] for r in (resource.RLIMIT_AS, resource.RLIMIT_NPROC,
                         resource.RLIMIT_FSIZE, resource.RLIMIT_CPU)]
        res["env"] = sorted(os.environ)
        json.dump(res, open("/out.bin", "w"))
        """)
    assert result.returncode == 0, result.stderr_tail
    assert seen["uid"] != 0 and seen["home"] == "/sandbox"
    assert os.path.isfile(os.path.join(ROOT, "solutions", "_hidden", "A2.py"))  # there, but not inside
    assert not any([seen["solutions"], seen["hidden_cases"], seen["other"], seen["tmp_parent"], seen["write_root"], seen["write_job"],
                    seen["write_venv"], seen["write_coursekit"], seen["net"]]), seen
    assert set(seen["repo_files"]) <= {"coursekit", ".venv"}
    limits = sandbox.Limits()
    assert seen["limits"] == [limits.memory_mb * 2**20, limits.processes,
                              limits.file_size_mb * 2**20, limits.cpu_seconds]
    assert "HOME" in seen["env"] and not any("TOKEN" in k or "KEY" in k for k in seen["env"])
    assert not os.path.exists("/escape.txt")
    assert os.listdir(tmp_path / "work" / "job") == ["probe.py"]


def test_wall_clock_kills_a_loop_that_ignores_signals(tmp_path):
    start = time.monotonic()
    result, _ = _run(tmp_path, """
        import os, signal
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        if os.fork() == 0:
            while True:
                pass
        while True:
            pass
        """, wall_seconds=2, uid=60998)
    assert result.timed_out and time.monotonic() - start < 10
    time.sleep(0.3)
    left = subprocess.run(["pgrep", "-u", "60998"], capture_output=True, text=True).stdout
    assert left.strip() == "", f"processes survived: {left}"


def test_fork_bomb_memory_bomb_and_huge_file_hit_their_limits(tmp_path):
    result, seen = _run(tmp_path, """
        import json, os, errno
        res = {}
        children = 0
        try:
            while True:
                pid = os.fork()
                if pid == 0:
                    import time
                    time.sleep(30)
                    os._exit(0)
                children += 1
        except BlockingIOError:
            res["forks"] = children
        try:
            hog = bytearray(8 * 2**30)
            res["memory"] = "allocated"
        except MemoryError:
            res["memory"] = "MemoryError"
        try:
            with open("/out.bin", "ab") as fh:
                for _ in range(100):
                    fh.write(b"x" * 2**20)
            res["file"] = "written"
        except OSError as e:
            res["file"] = errno.errorcode[e.errno]
        try:  # many files in the working folder: a full tmpfs, never the instructor's disk
            for i in range(100):
                with open(f"junk{i}.bin", "wb") as fh:
                    fh.write(b"x" * 8 * 2**20)
            res["disk"] = "written"
        except OSError as e:
            res["disk"] = errno.errorcode[e.errno]
        os.truncate("/out.bin", 0)
        json.dump(res, open("/out.bin", "w"))
        os._exit(0)
        """, limits=sandbox.Limits(processes=16, file_size_mb=10, workspace_mb=64), wall_seconds=30,
        uid=60997)
    assert seen is not None, result.stderr_tail
    assert seen["forks"] < 16
    assert seen["memory"] == "MemoryError"
    assert seen["file"] == "EFBIG" and seen["disk"] == "ENOSPC"
    assert sorted(os.listdir(tmp_path / "work")) == ["job", "out.bin", "out.bin.stderr"]
    # the sleeping children did not outlive the sandbox (its PID namespace ended with it)
    time.sleep(0.3)
    left = subprocess.run(["pgrep", "-u", "60997"], capture_output=True, text=True).stdout
    assert left.strip() == "", f"processes survived: {left}"


def test_read_only_binds_are_mounted_after_the_private_tmp():
    """bwrap mounts in order: a repository or venv under /tmp must not be hidden by the tmpfs."""
    from coursekit._grader import sandbox as sb

    argv = sb.bwrap_argv("/job-src", "/out-src", uid=65534)
    tmp_at = next(i for i in range(len(argv) - 1) if argv[i] == "--tmpfs" and argv[i + 1] == "/tmp")
    binds = [i for i in range(len(argv) - 2) if argv[i] == "--ro-bind" and argv[i + 1] in sb._readonly_paths()]
    assert binds and all(i > tmp_at for i in binds)
