"""The sandboxed half of grading: run a student's notebook, call their functions, save raw outputs.

Started by :mod:`coursekit._grader.verify` as ``python -I -m coursekit._grader.child``
inside the sandbox, with the read-only job in /job: ``job.json`` (the
notebook's code cells, in order, each marked with the check of its test cell,
if any) and ``inputs/<check>.npz`` (the inputs the grader made).

The cells run in order in an in-process IPython shell (magics work, the
output is captured per cell, a per-cell alarm stops long cells).  Just before
a test cell runs, the check of that cell calls the student's functions on the
grader's inputs; their raw outputs (numeric arrays only, as an ``.npz``, no
pickle) and exceptions are appended as a record to /out.bin.  Then the test
cell itself runs, for the feedback.  Every finished cell is recorded too, so
a run killed at the wall-clock limit keeps what it did.

Nothing is judged here: the grader compares the outputs with coursekit's
reference in its own process.  Whatever student code patches in this process
(numpy, builtins, coursekit.grading, IPython, this module) can only change
the student's own outputs and the feedback text.

Before any student code runs, every function of coursekit's reference modules
is disabled (its ``__code__`` replaced by one that raises
:class:`ReferenceUseError`), so a student function that delegates to
``coursekit.functional.linear_backward`` -- imported under any name -- fails
its check instead of passing it.  A check that allows one of them
(``Check.allowed_modules``: coursekit.init in the training runs, which grade
training, not initialisation) gets its real code back for the duration of its
call.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import os
import signal
import sys
import time
import types

import numpy as np

from coursekit._grader import checks as _checks

JOB = "/job"  # read-only: job.json and inputs/<check>.npz (see sandbox.JOB_DIR)
OUT = "/out.bin"  # the records for the grader (see sandbox.OUT_FILE)
REFERENCE_MODULES = ("coursekit.functional", "coursekit.layers", "coursekit.losses",
                     "coursekit.gradcheck", "coursekit.optim", "coursekit.train",
                     "coursekit.autodiff", "coursekit.init")
MAX_ELEMENTS = 5_000_000


class ReferenceUseError(RuntimeError):
    """Raised by a disabled reference function of coursekit."""


class CellTimeout(Exception):
    """Raised in a cell that runs past the per-cell time limit."""


def switched_off_message() -> str:
    """The part of the error that names every module in REFERENCE_MODULES."""
    names = [m.split(".", 1)[1] for m in REFERENCE_MODULES]
    return "graded work must not use coursekit." + "/".join(names)


def _trap_code(qualname: str):
    """A code object that raises ReferenceUseError naming ``qualname`` and the switched-off modules."""
    source = (f"def _trap(*args, **kwargs):\n"
              f"    raise _ReferenceUseError({f'calls coursekit reference {qualname}: ' + switched_off_message()!r})\n")
    scope = {}
    exec(compile(source, f"<reference {qualname} disabled>", "exec"), scope)
    return scope["_trap"].__code__


def _reference_functions(module, modname: str):
    """(qualified name, function) of every plain function of ``module``, its classes' methods too."""
    owners = [(modname, vars(module))]
    owners += [(f"{modname}.{name}", vars(obj)) for name, obj in vars(module).items()
               if isinstance(obj, type) and obj.__module__ == modname]
    for prefix, namespace in owners:
        for name, obj in list(namespace.items()):
            if isinstance(obj, property):
                funcs = [f for f in (obj.fget, obj.fset) if f is not None]
            elif isinstance(obj, (staticmethod, classmethod)):
                funcs = [obj.__func__]
            elif isinstance(obj, types.FunctionType):
                funcs = [obj]
            else:
                continue
            for i, f in enumerate(funcs):
                if getattr(f, "__module__", None) == modname and not f.__closure__:
                    yield f"{prefix}.{name}" + (f"#{i}" if i else ""), f


def disable_reference_implementations() -> list:
    """Replace the body of every function in coursekit's reference modules; return their names."""
    disabled = []
    for modname in REFERENCE_MODULES:
        try:
            module = importlib.import_module(modname)
        except ImportError:
            continue
        for qualname, f in _reference_functions(module, modname):
            name = qualname.split("#")[0]
            f.__globals__.setdefault("_ReferenceUseError", ReferenceUseError)
            f.__code__ = _trap_code(name)
            disabled.append(name)
    return disabled


@contextlib.contextmanager
def reference_switched_on(modnames):
    """Give the switched-off functions of ``modnames`` their real code for the duration.

    For a check that allows a reference module (``Check.allowed_modules``, e.g.
    coursekit.init in a training run, which grades the training, not the
    initialiser).  The real code comes from a fresh import of the module's
    file, so nothing of it is kept where the student's code could find it.
    """
    swapped = []
    try:
        for modname in modnames:
            module = sys.modules.get(modname)
            spec = importlib.util.find_spec(modname) if module is not None else None
            if spec is None:
                continue
            fresh = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(fresh)
            real = dict(_reference_functions(fresh, modname))
            for qualname, f in _reference_functions(module, modname):
                if qualname in real and f.__code__.co_freevars == real[qualname].__code__.co_freevars:
                    swapped.append((f, f.__code__))
                    f.__code__ = real[qualname].__code__
        yield
    finally:
        for f, code in swapped:
            f.__code__ = code


class LimitedStream(io.TextIOBase):
    """A text stream that keeps at most ``limit`` characters, then notes the truncation."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.size, self.truncated = limit, [], 0, False

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        if len(text) > room:
            self.truncated = True
        return len(text)

    def value(self) -> str:
        note = f"\n[output truncated after {self.limit} characters]\n" if self.truncated else ""
        return "".join(self.parts) + note


def _numeric(value):
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"returned {type(value).__name__} with dtype {arr.dtype}, expected numbers")
    if arr.size > MAX_ELEMENTS:
        raise ValueError(f"returned an array of {arr.size} elements, too large")
    return np.array(arr, copy=True)  # contiguous, detached from the student's memory


def _on_alarm(signum, frame):
    raise CellTimeout("time limit of this cell exceeded")


class RecordWriter:
    """Appends framed records to the run's only output file, /out.bin.

    A record is one JSON header line, then ``size`` raw bytes (an ``.npz``
    file for a check).  The grader reads them in order and stops at the first
    malformed one, so anything the student's code writes into the file can
    only make the grader ignore that student's own later results.
    """

    def __init__(self, path: str):
        self.fh = open(path, "ab", buffering=0)
        self.dumps = json.dumps

    def write(self, header: dict, payload: bytes = b"") -> None:
        header = dict(header, size=len(payload))
        self.fh.write(self.dumps(header).encode("utf-8") + b"\n" + payload)


def run_check(spec, namespace: dict, writer: RecordWriter, savez) -> None:
    """Call the student's functions for every case of ``spec``; record raw outputs and errors."""
    with np.load(os.path.join(JOB, "inputs", f"{spec.name}.npz"), allow_pickle=False) as data:
        flat = {k: data[k] for k in data.files}
    fns = {f: namespace.get(f) for f in spec.functions}
    missing = [f for f, fn in fns.items() if not callable(fn)]
    n_cases = 1 + max((int(k.split(":", 1)[0]) for k in flat), default=-1)
    arrays, errors = {}, []
    for case in range(n_cases):
        if missing:
            errors.append({"case": case, "type": "NameError",
                           "message": f"{', '.join(missing)} is not defined"})
            continue
        inputs = {k.split(":", 1)[1]: v for k, v in flat.items() if int(k.split(":", 1)[0]) == case}
        try:
            with reference_switched_on(spec.allowed_modules):
                outputs = spec.call(fns, inputs)
            for key, value in outputs.items():
                arrays[f"{case}:{key}"] = _numeric(value)
        except BaseException as exc:  # noqa: BLE001 - timeouts and SystemExit too
            errors.append({"case": case, "type": type(exc).__name__, "message": str(exc)[:500]})
    buffer = io.BytesIO()
    savez(buffer, **arrays)
    writer.write({"kind": "check", "name": spec.name, "errors": errors}, buffer.getvalue())


def main() -> None:
    with open(os.path.join(JOB, "job.json"), encoding="utf-8") as fh:
        job = json.load(fh)
    cell_timeout = int(job.get("cell_timeout", 30))
    max_chars = int(job.get("max_output_chars", 100_000))
    t_start = time.monotonic()
    specs = {c["check"]: _checks.get(job["assignment"], c["check"])
             for c in job["cells"] if c.get("check")}

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="NoColor")
    # IPython >= 9 copies every write to stdout into its history (unbounded):
    # a cell printing gigabytes would exhaust memory before our stream limit helps
    shell._tee = lambda channel: contextlib.nullcontext()
    # references taken before any student code runs
    savez, alarm, setsig = np.savez, signal.alarm, signal.signal
    run_cell, real_stdout, real_stderr = shell.run_cell, sys.stdout, sys.stderr
    structured_tb = shell.InteractiveTB.structured_traceback
    main_pid = os.getpid()
    writer = RecordWriter(OUT)
    disable_reference_implementations()
    writer.write({"kind": "setup", "seconds": round(time.monotonic() - t_start, 3)})

    last_error = {}

    def record_traceback(*args, **kwargs):
        etype, value, tb = sys.exc_info()
        if etype is not None:
            last_error["error"] = {"ename": etype.__name__, "evalue": str(value)[:2000],
                                   "traceback": structured_tb(etype, value, tb)[-40:]}

    shell.showtraceback = record_traceback
    shell.showsyntaxerror = record_traceback

    for index, cell in enumerate(job["cells"]):
        check = cell.get("check")
        if check:
            setsig(signal.SIGALRM, _on_alarm)
            alarm(max(1, min(int(specs[check].time_limit), cell_timeout)))
            try:
                run_check(specs[check], shell.user_ns, writer, savez)
            except BaseException:  # noqa: BLE001 - a timeout while recording: no record
                pass
            finally:
                alarm(0)
            if os.getpid() != main_pid:
                os._exit(0)
        if cell.get("skip"):
            continue
        started = time.monotonic()
        out, err = LimitedStream(max_chars), LimitedStream(max_chars)
        last_error.clear()
        sys.stdout, sys.stderr = out, err
        setsig(signal.SIGALRM, _on_alarm)
        alarm(cell_timeout)
        try:
            result = run_cell(cell["source"], store_history=True)
            failed = not result.success
        except BaseException as exc:  # noqa: BLE001 - the alarm may fire outside the cell
            failed = True
            last_error["error"] = {"ename": type(exc).__name__, "evalue": str(exc)[:2000],
                                   "traceback": [f"{type(exc).__name__}: {exc}"]}
        finally:
            alarm(0)
            sys.stdout, sys.stderr = real_stdout, real_stderr
        if os.getpid() != main_pid:  # a fork made by the student's code never reports
            os._exit(0)
        error = last_error.get("error")
        if failed and error is None:
            error = {"ename": "Error", "evalue": "the cell failed", "traceback": []}
        try:
            writer.write({"kind": "cell", "index": index, "stdout": out.value(),
                          "stderr": err.value(), "error": error if failed else None,
                          "seconds": round(time.monotonic() - started, 3)})
        except OSError:  # the output file is full (file-size limit): later records are lost
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
