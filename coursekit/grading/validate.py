"""``coursekit validate NOTEBOOK``: a student's own check of a notebook before handing it in.

Runs the notebook top to bottom in a fresh process (the same runner the grader
uses, without the sandbox: it is the student's own machine and code), then
every visible check of the assignment, and prints each verdict with its full
message.  The exit status is 1 when a check fails or a cell raises, so it can
be used in scripts.  Hidden checks are not available here: they run when the
work is graded.  It also warns when the notebook uses a coursekit module the
grader will not provide.
"""
from __future__ import annotations

import os
import re
import sys

import nbformat

from coursekit.grading import grader, judging, local, source

LIBRARY = re.compile(r"\bcoursekit\.([a-z_]+)|from\s+coursekit\s+import\s+([a-z_, ]+)")


def forbidden_modules(nb, allow: tuple) -> list:
    """coursekit modules the notebook's code names that the grader's sandbox will not hold."""
    allowed = set(allow) | {"grading", "data"}
    found: set = set()
    for cell in grader.code_cells(nb):
        for dotted, listed in LIBRARY.findall(str(cell.source)):
            names = [dotted] if dotted else [n.strip() for n in listed.split(",")]
            found.update(n for n in names if n and n not in allowed)
    return sorted(found)


def run(path: str) -> tuple:
    """(assignment, verdicts, cell records, events) of the notebook at ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    spec = local.load_assignment(folder)
    nb = nbformat.read(path, as_version=4)
    cells = grader.code_cells(nb)
    tests = [str(source.nbgrader_meta(c).get("grade_id")) for c in cells if source.is_test_cell(c)]
    visible = {}
    for gid in tests:
        try:
            part, kind = spec.check(gid)
        except KeyError:
            continue
        if kind == "visible":
            visible[gid] = [(c.description, c.make_inputs()) for c in part.visible]
    settings = grader.Settings(cache_dir="", isolation="none",
                               cell_timeout=120.0, time_limit=1800.0)
    steps = grader.plan(cells, visible, spec, settings)
    outcome, _ = grader.run(source.AssignmentSource(spec.name, folder), steps, settings, settings.time_limit,
                            cwd=folder)
    verdicts = {}
    for gid, cases in visible.items():
        part, _ = spec.check(gid)
        expected = local.expected_for(folder, gid) if part.judge is None or local.has_expected(folder, gid) \
            else None
        verdicts[gid] = judging.judge(gid, part, cases, outcome.checks.get(gid), expected,
                                      lambda i, problems, p=part: local.reproduction(p, p.visible[i]))
    return spec, nb, verdicts, outcome


def main(path: str, out=sys.stdout) -> int:
    if not os.path.isfile(path):
        print(f"coursekit validate: no such notebook: {path}", file=sys.stderr)
        return 2
    try:
        spec, nb, verdicts, outcome = run(path)
    except (local.GradingError, ValueError) as exc:
        print(f"coursekit validate: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for index in sorted(outcome.cells):
        err = outcome.cells[index].get("error")
        if err and err.get("ename") not in ("GradingDeferred",):
            failed += 1
            hint = " (not written yet)" if err.get("ename") == "NotImplementedError" else ""
            print(f"cell {index + 1} raised {err.get('ename')}: {str(err.get('evalue'))[:300]}{hint}", file=out)
    for event in outcome.events:
        print(f"note: {event}", file=out)
    for verdict in verdicts.values():
        print(("PASS " if verdict.passed else "FAIL ") + verdict.message(), file=out)
        failed += not verdict.passed
    for module in forbidden_modules(nb, spec.allow):
        print(f"warning: your notebook uses coursekit.{module}, which is not available when {spec.name} is "
              "graded: the cells that use it will fail there", file=out)
    total = len(verdicts)
    print(f"{sum(v.passed for v in verdicts.values())} of {total} visible checks pass"
          + ("; hidden checks run when your work is graded" if total else ""), file=out)
    return 1 if failed else 0

