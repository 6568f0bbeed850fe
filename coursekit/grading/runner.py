"""The sandboxed half of grading: run a student's cells, then call their functions on the checks' cases.

Started by the grader (:mod:`coursekit.grading.driver`) as
``python -I -m coursekit.grading.runner FD`` inside the sandbox, with the file
descriptor FD connected to the grader.  The grader drives it, one request at a
time (:mod:`coursekit.grading.protocol` frames):

``init``   limits, the assignment's ``checks.py``; the runner applies the limits
           to itself before any student code exists, then answers ``ready``;
``cell``   run one code cell of the notebook; answer its stdout, stderr, result
           and error (a timer interrupts it at the cell time limit);
``check``  after the last cell: fork, and in the child (which alone receives the
           case inputs, after answering ``send``) call the student's functions on
           every case of the check, with their output thrown away; the child
           hands the recorded arrays to the parent through a pipe and exits;
           the parent answers them.  A hidden input therefore never exists in
           the process that ran the notebook, and nothing printed while a check
           runs reaches the feedback.

Nothing is judged here.  Student code runs in this process and may patch
anything in it, including this module: the grader trusts no answer beyond its
format, numbers each request, and treats a missing, duplicate, out-of-order or
malformed answer as tampering.  Only the standard library, NumPy, IPython (for
cells with magics) and the assignment's ``checks.py`` are imported.
"""
from __future__ import annotations

import ast
import contextlib
import ctypes
import io
import linecache
import os
import resource
import signal
import sys
import time
import traceback

from coursekit.grading import local, protocol, spec

CHECK_ENV = "COURSEKIT_GRADER_SANDBOX"  # makes coursekit.grading.check defer to the grader


class CellTimeout(Exception):
    """Raised in a cell that runs past the per-cell time limit."""


class LimitedStream(io.TextIOBase):
    """A text stream that keeps at most ``limit`` characters, then notes the truncation."""

    def __init__(self, limit: int):
        self.limit, self.size, self.truncated = limit, 0, False
        self.parts: list = []

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.truncated = self.truncated or len(text) > room
        return len(text)

    def value(self) -> str:
        note = f"\n[output truncated after {self.limit} characters]\n" if self.truncated else ""
        return "".join(self.parts) + note


def apply_limits(limits: dict) -> None:
    """Set hard resource limits on this process (inherited by everything it starts).

    Applied from inside the sandbox: in a user namespace RLIMIT_NPROC counts
    only the processes of that namespace, so a fork bomb meets it at once.
    """
    mb = 1024 * 1024
    for res, value in ((resource.RLIMIT_AS, limits["memory_mb"] * mb),
                       (resource.RLIMIT_CPU, limits["cpu_seconds"]),
                       (resource.RLIMIT_NPROC, limits["processes"]),
                       (resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb),
                       (resource.RLIMIT_NOFILE, limits["open_files"]),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))


# ---------------------------------------------------------------------------
# running a cell
# ---------------------------------------------------------------------------
def needs_ipython(source: str) -> bool:
    """True for a cell with IPython syntax (magics, shell escapes, help)."""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(("%", "!")) or (stripped.endswith("?") and not stripped.startswith("#")):
            return True
    return False


class Executor:
    """Runs cells in one namespace: plain Python directly, IPython syntax through an IPython shell."""

    def __init__(self, namespace: dict):
        self.ns, self.shell, self.count = namespace, None, 0

    def _ipython(self):
        if self.shell is None:
            from IPython.core.interactiveshell import InteractiveShell

            self.shell = InteractiveShell.instance(colors="NoColor", user_ns=self.ns)
            self.shell.history_manager.enabled = False
            # IPython >= 9 copies all stdout into its history: unbounded memory
            self.shell._tee = lambda channel: contextlib.nullcontext()
        return self.shell

    def run(self, source: str) -> tuple:
        """Run ``source``; return (result text or None, error dict or None)."""
        self.count += 1
        if needs_ipython(source):
            return self._run_ipython(source)
        filename = f"<cell {self.count}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            tree = ast.parse(source, filename)
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, filename, "exec"), self.ns)
            if not isinstance(last, ast.Expr):
                return None, None
            value = eval(compile(ast.Expression(last.value), filename, "eval"), self.ns)
            return (None if value is None else _repr(value)), None
        except BaseException as exc:  # every error of a cell is its result
            return None, error_record(exc, skip=1)

    def _run_ipython(self, source: str) -> tuple:
        shell, captured = self._ipython(), {}

        def showtraceback(*args, **kwargs):
            etype, value, tb = sys.exc_info()
            if value is not None:
                captured["error"] = error_record(value)

        shell.showtraceback = shell.showsyntaxerror = showtraceback
        result = shell.run_cell(source, store_history=False)
        if not result.success and "error" not in captured:
            err = result.error_in_exec or result.error_before_exec
            captured["error"] = error_record(err) if err else {"ename": "Error", "evalue": "", "traceback": []}
        value = result.result
        return (None if value is None else _repr(value)), captured.get("error")


def _repr(value) -> str:
    try:
        return repr(value)[:20000]
    except Exception as exc:  # a broken __repr__ is the student's
        return f"<repr failed: {type(exc).__name__}>"


def error_record(exc: BaseException, skip: int = 0) -> dict:
    """ename, evalue and a traceback without the runner's own frames."""
    tb = exc.__traceback__
    for _ in range(skip):
        tb = tb.tb_next if tb is not None else None
    try:
        lines = traceback.format_exception(type(exc), exc, tb)
    except Exception:  # a broken exception type
        lines = [f"{type(exc).__name__}\n"]
    try:
        evalue = str(exc)[:2000]
    except Exception:
        evalue = "<str failed>"
    return {"ename": type(exc).__name__[:100], "evalue": evalue,
            "traceback": [line[:2000] for line in lines[-40:]]}


class Watchdog:
    """Raises :class:`CellTimeout` in the running cell when it runs too long (a SIGALRM timer).

    A signal, not a thread: threads count against the process limit, and a
    notebook that used up its processes must still be able to run a cell.
    Code that ignores the signal is stopped from outside by the grader.
    """

    def __init__(self, seconds: float, set_handler=signal.signal, set_timer=signal.setitimer):
        self.seconds, self.set_handler, self.set_timer = seconds, set_handler, set_timer

    def _fire(self, signum, frame):
        raise CellTimeout(f"the cell ran longer than {self.seconds:g} s")

    def __enter__(self):
        self.set_handler(signal.SIGALRM, self._fire)
        self.set_timer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        self.set_timer(signal.ITIMER_REAL, 0)


def run_cell(executor: Executor, source: str, timeout: float, max_chars: int) -> dict:
    """Run one cell with captured output and a time limit; the answer to a ``cell`` request."""
    out, err = LimitedStream(max_chars), LimitedStream(max_chars)
    saved = sys.stdout, sys.stderr
    started = time.monotonic()
    sys.stdout, sys.stderr = out, err
    try:
        with Watchdog(timeout):
            result, error = executor.run(source)
    except CellTimeout as exc:  # the timer fired after the cell's own code had finished
        result, error = None, {"ename": "CellTimeout", "evalue": str(exc), "traceback": []}
    finally:
        sys.stdout, sys.stderr = saved
    return {"stdout": out.value(), "stderr": err.value(), "result": result, "error": error,
            "seconds": round(time.monotonic() - started, 3)}


# ---------------------------------------------------------------------------
# running a check (in a forked child)
# ---------------------------------------------------------------------------
def split_cases(arrays: dict) -> list:
    """Arrays keyed "<case>/<name>" -> [inputs of case 0, inputs of case 1, ...]."""
    cases: dict = {}
    for key, value in arrays.items():
        index, _, name = key.partition("/")
        cases.setdefault(int(index), {})[name] = value
    return [cases.get(i, {}) for i in range(1 + max(cases, default=-1))]


def check_child(assignment, request: dict, namespace: dict, channel: int, result_fd: int) -> None:
    """In the forked child: ask for the inputs, run the cases, hand the arrays to the parent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = io.StringIO()  # printed output is discarded, never recorded
    protocol.write_frame(channel, {"op": "send", "seq": request["seq"]})
    _, arrays = protocol.FrameReader(channel).read(deadline=time.monotonic() + 60)
    os.close(channel)  # the student's functions run next: they cannot write to the grader
    part = assignment.parts[request["part"]]
    fns = {name: namespace.get(name) for name in part.functions}
    outputs, errors = spec.run_cases(part, split_cases(arrays), fns)
    protocol.write_frame(result_fd, {"errors": errors}, outputs)


def protect_channel() -> None:
    """Make this process non-dumpable: no other process of the same user can open its file
    descriptors through /proc (the grader's channel) or trace it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def become_subreaper() -> None:
    """Adopt every orphaned descendant, so that :func:`stop_leftovers` can find them all (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_children() -> None:
    """Collect the exit status of finished child processes (a zombie still counts as a process)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def descendants(root: int) -> list:
    """Every process below ``root`` (from /proc's parent links)."""
    children: dict = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def stop_leftovers(rounds: int = 50) -> None:
    """Kill every process a cell started and left running: none may outlive its cell.

    A fork bomb keeps refilling the process table while its members die, so
    this repeats until nothing is left.
    """
    me = os.getpid()
    for _ in range(rounds):
        left = descendants(me)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        reap_children()
    reap_children()


def fork_with_retry(attempts: int = 20) -> int:
    """os.fork, retried while the notebook's leftover processes are still exiting."""
    for attempt in range(attempts):
        reap_children()
        try:
            return os.fork()
        except BlockingIOError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    raise BlockingIOError("fork failed")


def run_check(assignment, request: dict, namespace: dict, channel: int, max_bytes: int) -> tuple:
    """Fork, run the check in the child, return (header, arrays) for the grader."""
    time_limit = float(request["timeout"])
    read_fd, write_fd = os.pipe()
    try:
        pid = fork_with_retry()
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        return {"failed": f"the check could not start ({exc}): processes left by the notebook?"}, {}
    if pid == 0:
        os.close(read_fd)
        try:
            signal.alarm(int(time_limit) + 2)
            check_child(assignment, request, namespace, channel, write_fd)
            os._exit(0)
        except BaseException:  # the child must never return into the runner
            os._exit(70)
    os.close(write_fd)
    reader = protocol.FrameReader(read_fd, max_blob=max_bytes)
    try:
        header, arrays = reader.read(deadline=time.monotonic() + time_limit)
        answer = {"errors": header.get("errors", [])}, arrays
    except protocol.ReadTimeout:
        answer = {"failed": f"the check ran longer than {time_limit:g} s"}, {}
    except protocol.ChannelClosed:
        answer = {"failed": "the check's process ended before answering"}, {}
    except protocol.ProtocolError as exc:
        answer = {"failed": f"the check's answer is unreadable ({exc})"}, {}
    finally:
        os.close(read_fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return answer


# ---------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------
def serve(fd: int) -> None:
    main_pid = os.getpid()
    reader = protocol.FrameReader(fd)
    write_frame = protocol.write_frame  # taken before any student code runs
    init, _ = reader.read()
    apply_limits(init["limits"])
    become_subreaper()
    protect_channel()
    os.environ[CHECK_ENV] = "1"
    assignment = local.load_assignment(os.path.dirname(init["checks"]))
    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    executor = Executor(namespace)
    write_frame(fd, {"op": "ready", "seq": init["seq"]})
    while True:
        request, _ = reader.read()
        op, seq = request.get("op"), request.get("seq")
        if op == "cell":
            answer = run_cell(executor, request["source"], request["timeout"], init["max_chars"])
            if os.getpid() != main_pid:  # a process forked by the student's code never answers
                os._exit(0)
            stop_leftovers()
            write_frame(fd, dict(answer, op="cell", seq=seq))
        elif op == "check":
            header, arrays = run_check(assignment, request, namespace, fd, init["max_check_bytes"])
            write_frame(fd, dict(header, op="check", seq=seq), arrays)
        else:  # "done": the last answer, so that nothing sent after a check goes unread
            write_frame(fd, {"op": "done", "seq": seq})
            os._exit(0)


def main() -> None:
    try:
        serve(int(sys.argv[1]))
    except BaseException:  # the grader sees the channel close
        traceback.print_exc()
    os._exit(0)


if __name__ == "__main__":
    main()
