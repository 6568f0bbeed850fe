"""Checks in a notebook's own kernel: the visible ones for students, a smoke test of hidden ones for instructors.

The assignment folder (the notebook's folder) holds ``checks.py`` and
``visible_expected.npz``: the instructor's solution's outputs on the visible
cases, written by ``coursekit release``.  Nothing here decides a grade.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import textwrap

import numpy as np

from coursekit.grading import judging, spec
from coursekit.grading.compare import GradingError

CHECKS_FILE = "checks.py"
EXPECTED_FILE = "visible_expected.npz"
SOURCE_MARKER = ".coursekit-source"  # in the instructor's source folder (solutions/): never released
FINGERPRINT_KEY = "__checks_sha256__"

_LOADED: dict = {}  # path -> ((mtime, size), Assignment, module)


def checks_digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def load_assignment(folder: str) -> spec.Assignment:
    """The Assignment declared in ``<folder>/checks.py`` (imported again when the file changes)."""
    return load_checks(folder)[0]


def load_checks(folder: str) -> tuple:
    """(Assignment, module) of ``<folder>/checks.py``; the module is also ``sys.modules["checks"]``.

    That name lets the reproduction snippets and hidden-test blocks ``import checks``.
    """
    path = os.path.join(folder, CHECKS_FILE)
    if not os.path.isfile(path):
        raise GradingError(f"no {CHECKS_FILE} in {folder}: run the notebook from its assignment folder "
                           "(the one nbgrader released, with checks.py next to the notebook)")
    stamp = (os.stat(path).st_mtime_ns, os.stat(path).st_size)
    cached = _LOADED.get(path)
    if cached and cached[0] == stamp:
        sys.modules["checks"] = cached[2]
        return cached[1], cached[2]
    module_spec = importlib.util.spec_from_file_location("checks", path)
    if module_spec is None or module_spec.loader is None:
        raise GradingError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["checks"] = module
    module_spec.loader.exec_module(module)
    found = [v for v in vars(module).values() if isinstance(v, spec.Assignment)]
    if len(found) != 1:
        raise GradingError(f"{path} must declare exactly one Assignment, found {len(found)}")
    _LOADED[path] = (stamp, found[0], module)
    return found[0], module


def read_expected(path: str) -> dict:
    """``visible_expected.npz`` -> {grade id: [outputs of case 0, ...]} and the checks digest."""
    with np.load(path, allow_pickle=False) as npz:
        flat = {k: npz[k] for k in npz.files}
    digest = bytes(flat.pop(FINGERPRINT_KEY, np.zeros(0, np.uint8))).decode("ascii", "replace")
    out: dict = {}
    for key, value in flat.items():
        check, case, name = key.split("/", 2)
        cases = out.setdefault(check, [])
        while len(cases) <= int(case):
            cases.append({})
        cases[int(case)][name] = value
    return {"digest": digest, "checks": out}


def write_expected(path: str, outputs: dict, digest: str) -> None:
    """The inverse of :func:`read_expected` (``outputs``: {grade id: [outputs per case]})."""
    flat = {f"{check}/{i}/{name}": value for check, cases in outputs.items()
            for i, case in enumerate(cases) for name, value in case.items()}
    flat[FINGERPRINT_KEY] = np.frombuffer(digest.encode("ascii"), dtype=np.uint8)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **flat)
    os.replace(tmp, path)


def reproduction(part: spec.Part, case: spec.Case) -> str:
    """Code that rebuilds a visible case and calls the student's functions on it."""
    lines = ["import numpy as np"]
    if any(c.uses_checks() for c in part.calls):
        lines.append("import checks  # the checks.py next to this notebook")
    lines += [case.snippet(), part.render(tuple(case.make_inputs()))]
    return "\n    To reproduce this case, run:\n" + textwrap.indent("\n".join(lines), "        ")


def run_visible(name: str, namespace: dict, folder: str) -> judging.Verdict:
    """Run the visible check ``name`` on the functions in ``namespace`` and judge it."""
    assignment = load_assignment(folder)
    part, kind = assignment.check(name)
    if kind != "visible":
        raise GradingError(f"{name} is a hidden check: it runs when your work is graded")
    cases = [(c.description, c.make_inputs()) for c in part.visible]
    fns = {f: namespace.get(f) for f in part.functions}
    arrays, errors = spec.run_cases(part, [inputs for _, inputs in cases], fns)
    # the comparison needs the solution's outputs; a custom judge may use them too
    expected = expected_for(folder, name) if part.judge is None or has_expected(folder, name) else None
    describe = (lambda i, problems: reproduction(part, part.visible[i]))
    return judging.judge(name, part, cases, {"arrays": arrays, "errors": errors}, expected, describe)


def expected_for(folder: str, name: str) -> list:
    path = os.path.join(folder, EXPECTED_FILE)
    if not os.path.isfile(path):
        raise GradingError(f"{EXPECTED_FILE} is missing from {folder}: it comes with the assignment "
                           "(instructors: run `coursekit release`)")
    found = read_expected(path)
    if found["digest"] != checks_digest(os.path.join(folder, CHECKS_FILE)):
        raise GradingError(f"{EXPECTED_FILE} was made for another version of {CHECKS_FILE}: get the "
                           "current release of the assignment (instructors: run `coursekit release`)")
    if name not in found["checks"]:
        raise GradingError(f"{EXPECTED_FILE} has no outputs for {name} (instructors: run `coursekit release`)")
    return found["checks"][name]


def has_expected(folder: str, name: str) -> bool:
    path = os.path.join(folder, EXPECTED_FILE)
    return os.path.isfile(path) and name in read_expected(path)["checks"]


def smoke_test_hidden(name: str, cases: list, namespace: dict, folder: str) -> str:
    """Run hidden cases on the functions of the instructor's own notebook; report errors only."""
    part, _ = load_assignment(folder).check(name)
    fns = {f: namespace.get(f) for f in part.functions}
    _, errors = spec.run_cases(part, [inputs for _, inputs in cases], fns)
    if errors:
        raise GradingError(f"{name}: the solution raised on hidden cases: "
                           + "; ".join(f"case {cases[e['case']][0]}: {e['type']}: {e['message']}"
                                       for e in errors))
    return (f"{name}: {len(cases)} hidden cases ran on the solution (graded against it by the grader; "
            "this message exists only in the instructor's notebook)")
