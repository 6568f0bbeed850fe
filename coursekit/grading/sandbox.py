"""Where student code runs: a bubblewrap sandbox, as root or as a normal user.

The sandbox is an empty root file system holding, read-only, the system
libraries, the Python installation, the virtual environment and a *curated*
copy of coursekit (:func:`curated_package`): the grading runner and the modules
the assignment allows -- not the reference implementations it asks students
to write, so there is nothing to delegate to or to load from a file.  The job
folder is mounted read-only at ``/job``; ``/sandbox`` (the working folder) and
``/tmp`` are private, size-limited in-memory folders.  New network (loopback
only), PID, IPC and UTS namespaces; ``--die-with-parent``.  Solutions, the
gradebook, other students' work and the rest of the course do not exist inside.

Two ways to get there, chosen by :func:`mode`:

``root``  bwrap as root, then ``setpriv`` to an unprivileged uid private to the
          grading process (files outside are unreadable even by accident);
``user``  a normal user: bwrap in an unprivileged user namespace (Debian's
          bubblewrap is not setuid and needs none).

The runner applies the resource limits to itself before any student code runs
(:func:`coursekit.grading.runner.apply_limits`); the wall clock is enforced
from outside by killing the sandbox's process group.  Where neither mode works,
:func:`unavailable_reason` says what is missing and how to enable it; grading
without isolation is a separate, explicit choice (``coursekit grade
--unsafe-no-sandbox``), recorded for every row it grades.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

import coursekit

SANDBOX_HOME = "/sandbox"
JOB_DIR = "/job"
PACKAGE_DIR = os.path.dirname(os.path.abspath(coursekit.__file__))
# what the runner needs of coursekit, besides the modules an assignment allows
RUNNER_FILES = ("__init__.py", "_numeric.py", "_types.py", "grading/__init__.py", "grading/compare.py",
                "grading/spec.py", "grading/judging.py", "grading/local.py", "grading/protocol.py",
                "grading/runner.py")
# modules every sandbox holds: the data sets; private modules (``_rng``, ``_checks``, ...)
# any allowed module imports come too: by convention they hold helpers, never a course answer
HELPERS = ("data",)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (each process; processes per sandbox)."""

    memory_mb: int = 2048  # RLIMIT_AS
    cpu_seconds: int = 120  # RLIMIT_CPU
    processes: int = 32  # RLIMIT_NPROC (threads count too)
    file_size_mb: int = 64  # RLIMIT_FSIZE: largest file it may write
    open_files: int = 256  # RLIMIT_NOFILE
    workspace_mb: int = 256  # size of /sandbox (and 64 MB for /tmp)

    def as_dict(self) -> dict:
        return asdict(self)


class SandboxUnavailable(RuntimeError):
    """Student code cannot be isolated on this machine; the message says why and what to do."""


# ---------------------------------------------------------------------------
# which mode works here
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _userns_probe() -> str:
    """'' when an unprivileged bwrap sandbox starts here, else what went wrong."""
    if shutil.which("bwrap") is None:
        return "missing"
    try:
        out = subprocess.run(["bwrap", "--unshare-user", "--unshare-net", "--unshare-pid",
                              "--ro-bind", "/", "/", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if out.returncode == 0 else (out.stderr.strip() or f"exit code {out.returncode}")


def mode() -> str:
    """'root', 'user', or '' when student code cannot be isolated here."""
    if shutil.which("bwrap") is None:
        return ""
    if os.geteuid() == 0 and shutil.which("setpriv") is not None:
        return "root"
    return "user" if not _userns_probe() else ""


def unavailable_reason() -> str:
    """Why :func:`mode` is '' here, and how to fix it."""
    if shutil.which("bwrap") is None:
        return ("bubblewrap is not installed. Install it (Debian/Ubuntu: `apt-get install bubblewrap`; "
                "Fedora: `dnf install bubblewrap`) or ask the administrator; no setuid bit is needed.")
    problem = _userns_probe()
    return ("bubblewrap cannot create an unprivileged user namespace here "
            f"({problem}). Enable them: `sysctl kernel.unprivileged_userns_clone=1` (Debian), "
            "`sysctl user.max_user_namespaces=15000`, or on Ubuntu 24.04 "
            "`sysctl kernel.apparmor_restrict_unprivileged_userns=0` (or an AppArmor profile for bwrap); "
            "on a container or JupyterHub, ask for user namespaces to be allowed.")


def require() -> str:
    """The sandbox mode, or :class:`SandboxUnavailable` with the reason."""
    found = mode()
    if not found:
        raise SandboxUnavailable("cannot grade safely: " + unavailable_reason())
    return found


# ---------------------------------------------------------------------------
# the curated coursekit
# ---------------------------------------------------------------------------
def coursekit_imports(path: str) -> set:
    """Top-level coursekit modules imported anywhere in the file at ``path`` (functions too)."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: inside the package
            names = [f"coursekit.{node.module}"] if node.module else [f"coursekit.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "coursekit" and len(parts) > 1:
                found.add(parts[1])
    return found


def module_closure(allow: tuple) -> list:
    """The files of the allowed modules and of every coursekit module they import.

    Raises ValueError when an allowed module needs a public module that is not
    allowed: that would smuggle a reference implementation in.
    """
    todo, seen, files = list(allow) + list(HELPERS), set(), []
    permitted = set(allow) | set(HELPERS) | {"grading"}
    while todo:
        name = todo.pop()
        if name in seen or name == "grading":
            continue
        seen.add(name)
        path = os.path.join(PACKAGE_DIR, f"{name}.py")
        if not os.path.isfile(path):
            raise ValueError(f"coursekit has no module {name!r} (a package cannot be allowed)")
        files.append(f"{name}.py")
        for dep in coursekit_imports(path):
            if dep not in permitted and not dep.startswith("_"):
                raise ValueError(f"coursekit.{name} imports coursekit.{dep}, which is not allowed")
            todo.append(dep)
    return sorted(files)


def curated_package(allow: tuple, cache_dir: str) -> str:
    """A folder holding the sandbox's coursekit: the runner's files and the allowed modules.

    Built once per content (a hash of the files) under ``cache_dir``; returns
    the path of the ``coursekit`` folder to mount over the real one.
    """
    files = list(RUNNER_FILES) + module_closure(tuple(allow))
    digest = hashlib.sha256()
    for rel in files:
        with open(os.path.join(PACKAGE_DIR, rel), "rb") as fh:
            digest.update(rel.encode() + b"\0" + fh.read() + b"\0")
    target = os.path.join(cache_dir, f"sandbox-coursekit-{digest.hexdigest()[:16]}", "coursekit")
    if os.path.isdir(target):
        return target
    staging = f"{target}.{os.getpid()}.tmp"
    for rel in files:
        os.makedirs(os.path.dirname(os.path.join(staging, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(PACKAGE_DIR, rel), os.path.join(staging, rel))
    for dirpath, _dirs, names in os.walk(os.path.dirname(staging)):
        os.chmod(dirpath, 0o755)
        for name in names:
            os.chmod(os.path.join(dirpath, name), 0o644)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.rename(staging, target)
    except OSError:  # another worker made it first
        shutil.rmtree(staging, ignore_errors=True)
    os.chmod(os.path.dirname(target), 0o755)
    return target


# ---------------------------------------------------------------------------
# the bwrap command
# ---------------------------------------------------------------------------
def _readonly_paths() -> list:
    """Folders the runner needs to read: the interpreter and the virtual environment."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    exe = os.path.realpath(sys.executable)
    if not any(exe.startswith(p + os.sep) for p in paths):
        paths.add(os.path.dirname(exe))
    return sorted(paths)


def _parents(path: str) -> list:
    out, head = [], os.path.dirname(path)
    while head and head != "/":
        out.append(head)
        head = os.path.dirname(head)
    return out[::-1]


def environment() -> dict:
    """The whole environment of the sandboxed process (nothing of the grader's leaks in)."""
    return {
        "HOME": SANDBOX_HOME, "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib",
        "IPYTHONDIR": "/tmp/ipython", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
        "JUPYTER_CONFIG_DIR": "/tmp/jupyter-config", "JUPYTER_DATA_DIR": "/tmp/jupyter-data",
        "PYTHONDONTWRITEBYTECODE": "1",
        # one BLAS thread: one sandbox per core, and every thread counts as a process
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }


def bwrap_argv(job_dir: str, package_dir: str, how: str, uid: int, limits: Limits = Limits()) -> list:
    """The command prefix that runs a command in the sandbox (``how``: 'root' or 'user')."""
    argv = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if how == "user":
        argv += ["--unshare-user"]
    argv += ["--ro-bind", "/usr", "/usr"]
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
    # private tmpfs first: bwrap mounts in order, so the binds below stay visible
    # even when the virtual environment or the course lives under /tmp
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(64 * mb), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(64 * mb), "--tmpfs", "/dev/shm"]
    made = set()
    for path in _readonly_paths() + [PACKAGE_DIR]:
        for parent in _parents(path):
            if parent not in made:
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
    for path in _readonly_paths():
        argv += ["--ro-bind", path, path]
    # the curated coursekit hides the real one (which may sit inside the venv)
    argv += ["--ro-bind", package_dir, PACKAGE_DIR,
             "--perms", "1777", "--size", str(limits.workspace_mb * mb), "--tmpfs", SANDBOX_HOME,
             "--ro-bind", job_dir, JOB_DIR,
             # the root itself read-only: as a normal user it would be a writable, unlimited tmpfs
             "--remount-ro", "/", "--chdir", SANDBOX_HOME, "--clearenv"]
    for key, value in environment().items():
        argv += ["--setenv", key, value]
    if how == "root":
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                 "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--"]
    return argv


def sandbox_uid() -> int:
    """An unprivileged uid private to this grading process (parallel workers differ)."""
    return 61000 + os.getpid() % 4000
