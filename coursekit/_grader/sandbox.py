"""Run untrusted code (a student's notebook) in a sandbox, with hard limits.

Isolation (no Docker needed), measured on Debian 12 with bubblewrap 0.8:

* ``bwrap`` builds an empty root file system that contains only the system
  libraries, the Python installation, the virtual environment and coursekit,
  all read-only, the job (``/job``, read-only), a size-limited in-memory
  working folder (``/sandbox``, gone when the run ends) and one output file
  (``/out.bin``, limited by the file-size limit).  ``solutions/``, the
  gradebook, other students' work and the rest of the repository simply do not
  exist inside, and nothing the code writes can fill the instructor's disk.
* new network namespace (only loopback: kernels talk to their client over
  localhost), new PID, IPC and UTS namespaces; ``--die-with-parent``.
* the code runs as an unprivileged user (``setpriv``), so that
  ``RLIMIT_NPROC`` applies (root ignores it): a fork bomb hits the limit.
* resource limits (``setrlimit`` before ``exec``): address space, CPU
  seconds, number of processes, file size, open files.
* a wall-clock limit enforced from outside: the whole process group is
  killed, so a loop that ignores SIGINT or SIGTERM still ends.

Nothing here trusts what the sandboxed process prints or writes: callers
parse its files with size limits and treat any failure as a result.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import coursekit

SANDBOX_HOME = "/sandbox"  # the working folder: a tmpfs of Limits.workspace_mb
JOB_DIR = "/job"  # read-only: what the grader gives the run
OUT_FILE = "/out.bin"  # the only file that outlives the run


@dataclass(frozen=True)
class Limits:
    """Per-process resource limits of a sandboxed run."""

    memory_mb: int = 2048  # RLIMIT_AS of each process
    cpu_seconds: int = 60  # RLIMIT_CPU of each process
    processes: int = 64  # RLIMIT_NPROC of the sandbox user (threads count too)
    file_size_mb: int = 64  # RLIMIT_FSIZE: largest file it may write
    open_files: int = 256  # RLIMIT_NOFILE
    workspace_mb: int = 256  # size of the in-memory /sandbox (and 64 MB for /tmp)


@dataclass
class RunResult:
    returncode: int | None
    timed_out: bool
    seconds: float
    stderr_tail: str

    @property
    def killed_by_signal(self) -> int | None:
        if self.returncode is not None and self.returncode < 0:
            return -self.returncode
        return None


def available() -> bool:
    """True when this machine can build the sandbox (bwrap, setpriv, root)."""
    return (shutil.which("bwrap") is not None and shutil.which("setpriv") is not None
            and os.geteuid() == 0)


def unavailable_reason() -> str:
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap; `make install` does it)"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    return "the grader must run as root to switch the student code to an unprivileged user"


def _readonly_paths() -> list:
    """Folders the sandbox needs to read: the interpreter, the venv, coursekit."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
             os.path.dirname(os.path.realpath(coursekit.__file__))}
    exe = os.path.realpath(sys.executable)
    if not any(exe.startswith(p + os.sep) for p in paths):
        paths.add(os.path.dirname(exe))
    return sorted(paths)


def _parents(path: str) -> list:
    out = []
    head = os.path.dirname(path)
    while head and head != "/":
        out.append(head)
        head = os.path.dirname(head)
    return out[::-1]


def bwrap_argv(job_dir: str, out_file: str, uid: int, limits: Limits = Limits()) -> list:
    """The bwrap + setpriv prefix that runs a command inside the sandbox.

    ``job_dir`` is mounted read-only at /job, ``out_file`` (owned by ``uid``)
    writable at /out.bin; /sandbox and /tmp are private size-limited tmpfs.
    """
    argv = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "sbin", "lib", "lib64", "lib32"):
        target = os.path.join("/", link)
        if os.path.islink(target):
            argv += ["--symlink", os.readlink(target), target]
        elif os.path.isdir(target):
            argv += ["--ro-bind", target, target]
    for etc in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/fonts", "/etc/localtime"):
        if os.path.exists(etc):
            argv += ["--ro-bind", etc, etc]
    mb = 2**20
    # private tmpfs first: bwrap applies mounts in order, so the read-only binds below
    # stay visible even when the venv or the repository lives under /tmp
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(64 * mb), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(64 * mb), "--tmpfs", "/dev/shm"]
    made = set()
    for path in _readonly_paths():
        for parent in _parents(path):
            if parent not in made:
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        argv += ["--ro-bind", path, path]
    argv += ["--perms", "1777", "--size", str(limits.workspace_mb * mb), "--tmpfs", SANDBOX_HOME,
             "--ro-bind", job_dir, JOB_DIR, "--bind", out_file, OUT_FILE,
             "--chdir", SANDBOX_HOME, "--clearenv"]
    env = {
        "HOME": SANDBOX_HOME,
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
        "JUPYTER_CONFIG_DIR": "/tmp/jupyter-config",
        "JUPYTER_DATA_DIR": "/tmp/jupyter-data",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "JOBLIB_MULTIPROCESSING": "0",
        # one BLAS thread: the grader runs one sandbox per core, and every
        # thread counts against the process limit
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "COURSEKIT_GRADER_SANDBOX": "1",  # coursekit.grading.check defers to the grader
    }
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
             "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all", "--"]
    return argv


def _set_limits(limits: Limits):
    def apply():
        os.setsid()  # own process group: the wall-clock kill reaches every child
        mb = 1024 * 1024
        for res, value in ((resource.RLIMIT_AS, limits.memory_mb * mb),
                           (resource.RLIMIT_CPU, limits.cpu_seconds),
                           (resource.RLIMIT_NPROC, limits.processes),
                           (resource.RLIMIT_FSIZE, limits.file_size_mb * mb),
                           (resource.RLIMIT_NOFILE, limits.open_files),
                           (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(res, (value, value))
    return apply


def sandbox_uid() -> int:
    """An unprivileged uid private to this grading process (parallel workers differ)."""
    return 61000 + os.getpid() % 4000


def prepare(scratch: str, uid: int) -> tuple:
    """Make ``<scratch>/job`` (for the grader to fill) and an empty ``<scratch>/out.bin``."""
    job_dir = os.path.join(scratch, "job")
    os.makedirs(job_dir, exist_ok=True)
    os.chmod(job_dir, 0o755)
    out_file = os.path.join(scratch, "out.bin")
    with open(out_file, "wb"):
        pass
    os.chown(out_file, uid, uid)
    os.chmod(out_file, 0o600)
    return job_dir, out_file


def run(command: list, job_dir: str, out_file: str, *, limits: Limits = Limits(),
        wall_seconds: float = 60.0, uid: int | None = None) -> RunResult:
    """Run ``command`` (argv inside the sandbox, cwd /sandbox) on ``job_dir``, writing ``out_file``.

    Returns when it exits or when ``wall_seconds`` have passed, in which case
    the whole process group (bwrap, its PID namespace and everything in it)
    is killed with SIGKILL.  Never raises for anything the command does.
    """
    uid = sandbox_uid() if uid is None else uid
    argv = bwrap_argv(job_dir, out_file, uid, limits) + list(command)
    errpath = out_file + ".stderr"
    start = time.monotonic()
    with open(errpath, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, preexec_fn=_set_limits(limits), close_fds=True)
        timed_out = False
        try:
            proc.wait(timeout=wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    seconds = time.monotonic() - start
    try:
        with open(errpath, "rb") as fh:
            fh.seek(max(0, os.path.getsize(errpath) - 4000))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        tail = ""
    return RunResult(None if timed_out else proc.returncode, timed_out, seconds, tail)
