"""The verifier's sandboxed half: run a student's code, call their functions, save raw outputs.

Started by :mod:`coursekit._grader.verify` as ``python -I -m coursekit._grader.child``
inside the sandbox, in a fresh folder holding only ``job.json`` (the student's
code cells and the names of the checks) and ``inputs/<check>.npz``.

It never judges anything: it writes the student's outputs to
``out/<check>.npz`` (plain numeric arrays, no pickle) and the exceptions they
raised to ``out/<check>.json``; the grader compares them with the reference in
its own process.  So whatever the student's code patches here (numpy,
builtins, this module) can only change the student's own outputs.

Before any student code runs, every function of coursekit's reference modules
is disabled (its ``__code__`` replaced by one that raises
:class:`ReferenceUseError`), so a student function that delegates to
``coursekit.functional.linear_backward`` -- imported under any name -- fails
its check instead of passing it.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import sys
import types

import numpy as np

from coursekit._grader import checks as _checks

REFERENCE_MODULES = ("coursekit.functional", "coursekit.layers", "coursekit.losses",
                     "coursekit.gradcheck", "coursekit.optim", "coursekit.train")
MAX_ELEMENTS = 5_000_000


class ReferenceUseError(RuntimeError):
    """Raised by a disabled reference function of coursekit."""


def _trap_code(qualname: str):
    """A code object that raises ReferenceUseError naming ``qualname``."""
    source = (f"def _trap(*args, **kwargs):\n"
              f"    raise _ReferenceUseError('calls coursekit reference {qualname}: '\n"
              f"        'graded work must not use coursekit.functional/layers/losses/gradcheck')\n")
    scope = {}
    exec(compile(source, f"<reference {qualname} disabled>", "exec"), scope)
    return scope["_trap"].__code__


def disable_reference_implementations() -> list:
    """Replace the body of every function in coursekit's reference modules; return their names."""
    disabled = []
    for modname in REFERENCE_MODULES:
        try:
            module = importlib.import_module(modname)
        except ImportError:
            continue
        owners = [(modname, vars(module))]
        owners += [(f"{modname}.{name}", vars(obj)) for name, obj in vars(module).items()
                   if isinstance(obj, type) and obj.__module__ == modname]
        for prefix, namespace in owners:
            for name, obj in list(namespace.items()):
                func = obj.__func__ if isinstance(obj, (staticmethod, classmethod)) else obj
                if isinstance(obj, property):
                    funcs = [f for f in (obj.fget, obj.fset) if f is not None]
                elif isinstance(func, types.FunctionType):
                    funcs = [func]
                else:
                    continue
                for f in funcs:
                    if getattr(f, "__module__", None) != modname or f.__closure__:
                        continue
                    f.__globals__.setdefault("_ReferenceUseError", ReferenceUseError)
                    f.__code__ = _trap_code(f"{prefix}.{name}")
                    disabled.append(f"{prefix}.{name}")
    return disabled


_MAGIC = re.compile(r"^\s*[%!]")


def strip_magics(code: str) -> str:
    """Drop IPython magics and shell lines (``%time``, ``!ls``): plain Python runs them."""
    return "\n".join("pass" if _MAGIC.match(line) else line for line in code.splitlines())


def _numeric(value):
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"returned {type(value).__name__} with dtype {arr.dtype}, expected numbers")
    if arr.size > MAX_ELEMENTS:
        raise ValueError(f"returned an array of {arr.size} elements, too large")
    return np.array(arr, copy=True)  # contiguous, detached from the student's memory


def main() -> None:
    with open("job.json", encoding="utf-8") as fh:
        job = json.load(fh)
    specs = {name: _checks.get(job["assignment"], name) for name in job["checks"]}
    savez, dumps, open_ = np.savez, json.dumps, open
    main_pid = os.getpid()
    disable_reference_implementations()
    os.makedirs("out", exist_ok=True)

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    cell_errors = []
    sys.setrecursionlimit(5000)
    for index, code in enumerate(job["cells"]):
        try:
            exec(compile(strip_magics(code), f"<solution cell {index}>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
            cell_errors.append({"cell": index, "error": f"{type(exc).__name__}: {exc}"[:500]})
        if os.getpid() != main_pid:  # a fork of the student's code: never reports
            os._exit(0)
    with open_("out/_cells.json", "w", encoding="utf-8") as fh:
        fh.write(dumps(cell_errors))

    for name, spec in specs.items():
        with np.load(os.path.join("inputs", f"{name}.npz"), allow_pickle=False) as data:
            flat = {k: data[k] for k in data.files}
        fns = {f: namespace.get(f) for f in spec.functions}
        arrays, errors = {}, []
        missing = [f for f, fn in fns.items() if not callable(fn)]
        n_cases = 1 + max((int(k.split(":", 1)[0]) for k in flat), default=-1)
        for case in range(n_cases):
            if missing:
                errors.append({"case": case, "type": "NameError",
                               "message": f"{', '.join(missing)} is not defined"})
                continue
            inputs = {k.split(":", 1)[1]: v for k, v in flat.items()
                      if int(k.split(":", 1)[0]) == case}
            try:
                outputs = spec.call(fns, inputs)
                for key, value in outputs.items():
                    arrays[f"{case}:{key}"] = _numeric(value)
            except BaseException as exc:  # noqa: BLE001
                errors.append({"case": case, "type": type(exc).__name__,
                               "message": str(exc)[:500]})
            if os.getpid() != main_pid:
                os._exit(0)
        savez(os.path.join("out", f"{name}.npz"), **arrays)
        with open_(os.path.join("out", f"{name}.json"), "w", encoding="utf-8") as fh:
            fh.write(dumps(errors))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
