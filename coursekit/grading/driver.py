"""The grader's side of a sandboxed run: start the runner, drive it cell by cell, then check by check.

:func:`run_steps` sends every code cell of a notebook to a runner in the
sandbox (:mod:`coursekit.grading.runner`), then every check with its cases,
and collects the answers.  It trusts nothing the runner sends:

* every request is numbered; the answer must carry that number and kind and
  arrive before its deadline.  Anything else on the channel -- a frame nobody
  asked for, a duplicate, an out-of-order or malformed one -- is *tampering*:
  it is recorded against the step being run (whose check then scores 0) and
  the runner is replaced;
* a cell that outruns the cell time limit is interrupted inside the runner
  (like Jupyter's interrupt); one that cannot be interrupted, or that ends the
  process, costs only itself: a fresh runner replays the cells before it and
  carries on after it, so later, independent parts are still graded;
* reads are bounded: a frame larger than its limit is refused before it is
  read, and the whole run stops at the submission's wall-clock limit.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from coursekit.grading import protocol, sandbox

GRACE = 2.0  # seconds after a step's limit before its runner is replaced
START_TIMEOUT = 30.0  # seconds for a runner to start (Python, NumPy, the checks file)
MAX_RESTARTS = 5
CHANNEL_ERRORS = (protocol.ReadTimeout, protocol.ChannelClosed, protocol.ProtocolError, OSError)


@dataclass
class Step:
    """One request of a run: a cell (its position among the code cells) or a check."""

    kind: str  # "cell" | "check"
    index: int = -1  # cell: position among the notebook's code cells
    source: str = ""  # cell: its code
    check: str = ""  # check: the test cell's grade id
    part: str = ""  # check: the part it runs
    cases: list = field(default_factory=list)  # check: [inputs dict, ...]
    timeout: float = 30.0

    def name(self) -> str:
        return f"cell {self.index + 1}" if self.kind == "cell" else f"check {self.check}"


@dataclass
class Outcome:
    """What a run produced; nothing the student's code does makes it raise."""

    cells: dict = field(default_factory=dict)  # index -> {stdout, stderr, result, error, seconds}
    checks: dict = field(default_factory=dict)  # grade id -> {arrays, errors} | {failed[, tampered]}
    tampering: list = field(default_factory=list)
    events: list = field(default_factory=list)  # restarts, skipped cells, the time limit
    stderr_tail: str = ""
    seconds: float = 0.0


class StartFailed(RuntimeError):
    """A fresh runner did not become ready: a problem of the grader's machine, not the student's."""


class Stale(protocol.ProtocolError):
    """An answer numbered like a request that was already answered: one of the two is forged."""

    def __init__(self, message: str, seq: int):
        super().__init__(message)
        self.seq = seq


class ReplayFailed(Exception):
    """A cell that ran before made a fresh runner fail while it was replayed."""

    def __init__(self, step: Step, cause: Exception):
        super().__init__(f"{step.name()}: {cause}")
        self.step = step


class Runner:
    """One sandboxed runner process and the grader's end of its channel."""

    def __init__(self, prefix: list, stderr_path: str, init: dict, max_check_bytes: int,
                 cwd: str | None = None):
        self.sock, child = socket.socketpair()
        self.stderr_path = stderr_path
        with open(stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                prefix + [sys.executable, "-I", "-m", "coursekit.grading.runner", str(child.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                pass_fds=(child.fileno(),), start_new_session=True, cwd=cwd)
        child.close()
        self.fd = self.sock.fileno()
        self.reader = protocol.FrameReader(self.fd, max_blob=max_check_bytes)
        self.seq = 0
        self.init = dict(init, max_check_bytes=max_check_bytes)

    def send(self, header: dict, arrays: dict | None = None, seq: int | None = None) -> int:
        if seq is None:
            self.seq += 1
            seq = self.seq
        protocol.write_frame(self.fd, dict(header, seq=seq), arrays)
        return seq

    def expect(self, seq: int, op: str | tuple, deadline: float) -> tuple:
        """The answer to request ``seq`` (of kind ``op``, or one of them); ProtocolError for anything else."""
        header, arrays = self.reader.read(deadline)
        if header.get("seq") != seq or header.get("op") not in ((op,) if isinstance(op, str) else op):
            got = header.get("seq")
            message = (f"expected answer {op!r} #{seq}, got {str(header.get('op'))[:20]!r} "
                       f"#{str(got)[:20]}")
            if isinstance(got, int) and 0 < got < seq:
                raise Stale(message, got)
            raise protocol.ProtocolError(message)
        return header, arrays

    def start(self) -> None:
        try:
            self.expect(self.send(dict(self.init, op="init")), "ready", time.monotonic() + START_TIMEOUT)
        except CHANNEL_ERRORS as exc:
            raise StartFailed(f"the sandbox did not start ({type(exc).__name__}: {exc}); "
                              f"its stderr: {self.stop()[-800:]}") from None

    def stop(self) -> str:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.sock.close()
        try:
            with open(self.stderr_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.stderr_path) - 3000))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""


def run_steps(start_runner, steps: list, wall_seconds: float) -> Outcome:
    """Run ``steps`` in order with runners from ``start_runner()``; replace one that fails.

    Raises :class:`StartFailed` only when a fresh runner cannot start at all.
    """
    outcome, started = Outcome(), time.monotonic()
    deadline = started + wall_seconds
    done: list = []  # cells that ran: a new runner replays them first
    pos = restarts = 0
    finished = False
    while not finished and restarts <= MAX_RESTARTS and time.monotonic() < deadline:
        runner = start_runner()
        try:
            runner.start()
            _replay(runner, done, deadline)
            answered: dict = {}  # request number -> the step it answered, for this runner
            while pos < len(steps):
                answered[_run_one(runner, steps[pos], outcome, deadline)] = steps[pos]
                if steps[pos].kind == "cell":
                    done.append(steps[pos])
                pos += 1
            seq = runner.send({"op": "done"})
            runner.expect(seq, "done", min(deadline, time.monotonic() + GRACE))
            finished = True
        except Stale as exc:
            earlier = answered.get(exc.seq)
            if earlier is not None and earlier.kind == "check":
                _record_failure(outcome, earlier, exc, deadline)  # which answer was genuine is unknowable
            if pos < len(steps):
                _record_failure(outcome, steps[pos], exc, deadline)
                pos += 1
            restarts += 1
        except ReplayFailed as exc:
            done.remove(exc.step)
            outcome.events.append(f"{exc}: left out when the runner was restarted")
            restarts += 1
        except CHANNEL_ERRORS as exc:
            if pos < len(steps):
                _record_failure(outcome, steps[pos], exc, deadline)
                pos += 1
            restarts += 1
        finally:
            outcome.stderr_tail = runner.stop()
    if pos < len(steps):
        why = (f"time limit ({wall_seconds:g} s) exceeded" if time.monotonic() >= deadline
               else f"the notebook ended the runner {restarts} times")
        outcome.events.append(f"{why}: {len(steps) - pos} step(s) not run, from {steps[pos].name()} on")
    outcome.seconds = round(time.monotonic() - started, 2)
    return outcome


def _replay(runner: Runner, cells: list, deadline: float) -> None:
    for cell in cells:
        try:
            seq = runner.send({"op": "cell", "source": cell.source, "timeout": cell.timeout})
            runner.expect(seq, "cell", min(deadline, time.monotonic() + cell.timeout + GRACE))
        except CHANNEL_ERRORS as exc:
            raise ReplayFailed(cell, exc) from None


def _run_one(runner: Runner, step: Step, outcome: Outcome, deadline: float) -> int:
    """Send one step and record its answer; the request's number."""
    def limit():
        return min(deadline, time.monotonic() + step.timeout + GRACE)

    if step.kind == "cell":
        seq = runner.send({"op": "cell", "source": step.source, "timeout": step.timeout})
        header, _ = runner.expect(seq, "cell", limit())
        outcome.cells[step.index] = {k: header.get(k) for k in ("stdout", "stderr", "result", "error", "seconds")}
        return seq
    seq = runner.send({"op": "check", "check": step.check, "part": step.part, "timeout": step.timeout})
    header, arrays = runner.expect(seq, ("send", "check"), limit())
    if header["op"] == "send":  # the forked child asks for the inputs: only it gets them
        runner.send({"op": "inputs"}, {f"{i}/{k}": v for i, case in enumerate(step.cases)
                                       for k, v in case.items()}, seq=seq)
        header, arrays = runner.expect(seq, "check", limit())
    if "failed" in header:
        outcome.checks[step.check] = {"failed": str(header["failed"])[:300]}
    else:
        errors = header.get("errors") if isinstance(header.get("errors"), list) else []
        outcome.checks[step.check] = {"arrays": arrays, "errors": errors[:1000]}
    return seq


def _record_failure(outcome: Outcome, step: Step, exc: Exception, deadline: float) -> None:
    """Say what happened to ``step`` when its runner failed with ``exc``."""
    tampered = isinstance(exc, protocol.ProtocolError)
    if tampered:
        what = f"tampering detected: unexpected data on the grader's channel ({exc})"
        outcome.tampering.append(f"{step.name()}: {exc}")
    elif isinstance(exc, protocol.ReadTimeout):
        what = ("the submission's time limit was reached" if time.monotonic() >= deadline
                else f"ran longer than {step.timeout:g} s and could not be interrupted")
    else:
        what = "ended the runner's process (os._exit, a crash or a resource limit)"
    if step.kind == "cell":
        outcome.cells[step.index] = {"stdout": "", "stderr": "", "result": None, "seconds": None,
                                     "error": {"ename": "CellFailed", "evalue": what, "traceback": []}}
    else:
        outcome.checks[step.check] = {"failed": what, "tampered": tampered}
    outcome.events.append(f"{step.name()}: {what}")


# ---------------------------------------------------------------------------
# starting runners
# ---------------------------------------------------------------------------
def runner_factory(job_dir: str, init: dict, *, how: str, package_dir: str,
                   limits: sandbox.Limits, max_check_bytes: int, cwd: str | None = None):
    """A function that starts a fresh runner on ``job_dir`` (``how``: 'root', 'user' or 'none')."""
    uid = sandbox.sandbox_uid()
    if how == "none":
        prefix: list = []
    else:
        prefix = sandbox.bwrap_argv(job_dir, package_dir, how, uid, limits)
    stderr_path = os.path.join(os.path.dirname(job_dir), "runner.stderr")
    init = dict(init, limits=limits.as_dict())

    def start() -> Runner:
        return Runner(prefix, stderr_path, init, max_check_bytes, cwd if how == "none" else None)
    return start
