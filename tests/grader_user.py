"""An unprivileged account for the grading tests, and a way to run commands as it.

Grading must work without root (bubblewrap in an unprivileged user namespace).
On a machine where the tests run as root (CI), the tests create a system
account, ``coursekit-grader``, and run the grader as that account; run as a
normal user, they grade as that user.  The account must be able to read the
Python of the virtual environment and the checkout: where a parent folder
blocks it (a checkout under /root, say), :func:`unprivileged` grants the
traverse bit on that folder for the session and takes it back afterwards.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from contextlib import contextmanager

NAME = "coursekit-grader"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(NAME)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", NAME],
                       check=True, capture_output=True)
        return pwd.getpwnam(NAME)


def blocking_folders(paths, uid: int, gid: int) -> list:
    """Ancestor folders of ``paths`` the account cannot enter (no x bit for it)."""
    blocked = []
    for path in paths:
        head = os.path.dirname(os.path.realpath(path))
        while head and head != "/":
            st = os.stat(head)
            allowed = (st.st_mode & stat.S_IXOTH) or (st.st_uid == uid and st.st_mode & stat.S_IXUSR) \
                or (st.st_gid == gid and st.st_mode & stat.S_IXGRP)
            if not allowed and head not in blocked:
                blocked.append(head)
            head = os.path.dirname(head)
    return blocked


@contextmanager
def unprivileged():
    """Yield a function that runs an argv as the unprivileged account (or as oneself if not root)."""
    if os.geteuid() != 0:
        yield lambda argv, **kw: subprocess.run(argv, **kw)
        return
    account = ensure_account()
    needed = [os.path.realpath(sys.executable), os.path.join(ROOT, "coursekit", "__init__.py")]
    blocked = blocking_folders(needed, account.pw_uid, account.pw_gid)
    modes = {path: os.stat(path).st_mode for path in blocked}
    for path in blocked:
        os.chmod(path, modes[path] | stat.S_IXOTH)
    runuser = shutil.which("runuser") or "runuser"

    def run(argv, env=None, **kw):
        env = dict(env or os.environ)
        keep = [f"{k}={v}" for k, v in env.items() if k in ("PATH", "HOME", "LANG", "MPLBACKEND",
                                                             "COURSEKIT_DB_URL", "COURSEKIT_CACHE",
                                                             "PYTHONDONTWRITEBYTECODE")]
        return subprocess.run([runuser, "-u", NAME, "--", "env", "-i", *keep, *argv], env=env, **kw)
    try:
        yield run
    finally:
        for path, mode in modes.items():
            os.chmod(path, mode)


@contextmanager
def account_folder():
    """A fresh folder the account owns (pytest's own tmp folders are private to root)."""
    folder = tempfile.mkdtemp(prefix="coursekit-test-")
    os.chmod(folder, 0o755)
    give_to_account(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def give_to_account(path: str) -> None:
    """Make a folder the tests created writable by the account (when running as root)."""
    if os.geteuid() == 0:
        account = ensure_account()
        for dirpath, _dirs, files in os.walk(path):
            os.chown(dirpath, account.pw_uid, account.pw_gid)
            for name in files:
                os.chown(os.path.join(dirpath, name), account.pw_uid, account.pw_gid, follow_symlinks=False)
