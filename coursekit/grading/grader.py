"""Grading one notebook: run it in the sandbox, run every check, judge against the solution.

:func:`grade_notebook` is the whole verdict of one submission, used by the
nbgrader preprocessor (:mod:`coursekit.grading.preprocessors`) and by
``coursekit validate``.  The expected outputs come from the instructor's
solution, run once through the same sandbox and the same calls and cached
(:func:`expected_outputs`).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from coursekit.grading import driver, judging, local, sandbox, source

TAMPER_LINE = "\nimport coursekit.grading as _coursekit_grading\n_coursekit_grading.check({gid!r})\n"


@dataclass
class Settings:
    """How a notebook is run: limits, isolation and where caches go."""

    cache_dir: str
    cell_timeout: float = 30.0
    time_limit: float = 120.0
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    isolation: str = "sandbox"  # "sandbox" (root or user namespaces) | "none" (explicit, unsafe)
    max_output_chars: int = 100_000
    max_check_bytes: int = 64 << 20

    def how(self) -> str:
        return "none" if self.isolation == "none" else sandbox.require()


@dataclass
class GradedRun:
    """What one notebook run produced, judged."""

    cells: dict  # code-cell index -> {stdout, stderr, result, error, seconds}
    verdicts: dict  # grade id -> judging.Verdict
    test_outcomes: dict  # grade id -> "deferred" | "completed" | "failed" | "not run"
    events: list
    tampering: list
    isolation: str
    seconds: float


def cache_dir(state: str) -> str:
    """Where the grader keeps what it can rebuild: the solution's outputs, the curated package.

    Entries are named by a hash of what they depend on, so one cache serves every
    course of a user: $COURSEKIT_CACHE, else ~/.cache/coursekit when it can be made,
    else ``<state>/cache``.
    """
    if os.environ.get("COURSEKIT_CACHE"):
        return os.environ["COURSEKIT_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "coursekit")
    try:
        os.makedirs(folder, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return os.path.join(state, "cache")


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.get("cell_type") == "code"]


def sandbox_source(cell, checked: set) -> str:
    """What the sandbox runs for a cell: never a hidden-test block."""
    text = str(cell.get("source", ""))
    if not source.is_test_cell(cell):
        return text
    gid = source.nbgrader_meta(cell).get("grade_id")
    visible, _ = source.split_hidden(text)
    return visible + (TAMPER_LINE.format(gid=gid) if gid in checked else "")


def plan(cells: list, cases: dict, assignment, settings: Settings, with_tamper_line=True) -> list:
    """The steps of a run: every non-empty code cell in order, then every check."""
    checked = set(cases)
    steps = []
    for index, cell in enumerate(cells):
        text = sandbox_source(cell, checked if with_tamper_line else set())
        if text.strip():
            steps.append(driver.Step("cell", index=index, source=text, timeout=settings.cell_timeout))
    for gid, gid_cases in cases.items():
        part, _ = assignment.check(gid)
        steps.append(driver.Step("check", check=gid, part=part.name, cases=[i for _, i in gid_cases],
                                 timeout=min(part.time_limit, settings.cell_timeout)))
    return steps


def run(src: source.AssignmentSource, steps: list, settings: Settings, wall: float, cwd: str | None = None) -> tuple:
    """Run ``steps`` for the assignment in a fresh job folder; (Outcome, isolation mode).

    ``cwd``: the working folder of an unsandboxed run (a sandboxed one works in /sandbox).
    """
    how = settings.how()
    package = ""
    if how != "none":  # unsandboxed (a student's own validate), the installed coursekit is used
        os.makedirs(settings.cache_dir, exist_ok=True)
        package = sandbox.curated_package(src.spec().allow, settings.cache_dir)
    scratch = tempfile.mkdtemp(prefix="coursekit-run-")
    try:
        job = os.path.join(scratch, "job")
        os.makedirs(job)
        shutil.copyfile(os.path.join(src.folder, local.CHECKS_FILE), os.path.join(job, local.CHECKS_FILE))
        for path in (scratch, job):
            os.chmod(path, 0o755)
        os.chmod(os.path.join(job, local.CHECKS_FILE), 0o644)
        checks_path = os.path.join(job if how == "none" else sandbox.JOB_DIR, local.CHECKS_FILE)
        init = {"checks": checks_path, "max_chars": settings.max_output_chars}
        start = driver.runner_factory(job, init, how=how, package_dir=package, limits=settings.limits,
                                      max_check_bytes=settings.max_check_bytes, cwd=cwd)
        return driver.run_steps(start, steps, wall), how
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def expected_outputs(src: source.AssignmentSource, settings: Settings) -> dict:
    """grade id -> the solution's outputs per case, for every check; cached per fingerprint.

    Raises :class:`source.AssignmentError` if the solution fails a check.
    """
    fingerprint = src.fingerprint(extra=f"{settings.limits}")
    path = os.path.join(settings.cache_dir, f"expected-{src.name}-{fingerprint[:20]}.npz")
    if os.path.isfile(path):
        return local.read_expected(path)["checks"]
    nb = src.read_notebook()
    spec = src.spec()
    cases = src.cases(src.test_cells(nb))
    generous = Settings(cache_dir=settings.cache_dir, cell_timeout=max(120.0, settings.cell_timeout),
                        time_limit=900.0, limits=settings.limits, isolation=settings.isolation)
    steps = plan(code_cells(nb), cases, spec, generous, with_tamper_line=False)
    outcome, _ = run(src, steps, generous, generous.time_limit)
    outputs, problems = {}, []
    for gid, gid_cases in cases.items():
        recorded = outcome.checks.get(gid)
        if recorded is None or "failed" in recorded or recorded["errors"]:
            problems.append(f"{gid}: {(recorded or {}).get('failed') or (recorded or {}).get('errors')}")
            continue
        outputs[gid] = judging.case_outputs(recorded["arrays"], len(gid_cases))
        part, _ = spec.check(gid)
        verdict = judging.judge(gid, part, gid_cases, recorded, outputs[gid])
        if not verdict.passed:
            problems.append(verdict.message())
    failed_cells = [f"cell {i + 1}: {r['error']['ename']}: {r['error']['evalue'][:200]}"
                    for i, r in outcome.cells.items() if r.get("error")
                    and r["error"].get("ename") != "GradingDeferred"]
    if problems or failed_cells:
        raise source.AssignmentError(f"the solution of {src.name} does not pass its own checks:\n  "
                                     + "\n  ".join(failed_cells + problems + outcome.events))
    os.makedirs(settings.cache_dir, exist_ok=True)
    local.write_expected(path, outputs, fingerprint)
    return outputs


def test_outcome(record: dict | None) -> str:
    """How a test cell ended in the sandbox: 'deferred' (normal), 'completed' (its helpers were
    replaced: tampering), 'failed' (an error before the check) or 'not run'."""
    if record is None:
        return "not run"
    err = record.get("error")
    if not err:
        return "completed"
    return "deferred" if err.get("ename") == "GradingDeferred" else "failed"


def grade_notebook(nb, src: source.AssignmentSource, test_sources: dict, settings: Settings) -> GradedRun:
    """Run a submission (already restored by nbgrader) and judge every check.

    ``test_sources``: grade id -> source of each test cell as released, hidden
    blocks included (nbgrader's gradebook), the only place hidden cases come from.
    """
    started = time.monotonic()
    spec = src.spec()
    cases = src.cases(test_sources)
    expected = expected_outputs(src, settings)
    cells = code_cells(nb)
    steps = plan(cells, cases, spec, settings)
    outcome, how = run(src, steps, settings, settings.time_limit)
    verdicts = {}
    for gid, gid_cases in cases.items():
        part, kind = spec.check(gid)
        describe = None
        if kind == "visible":
            describe = (lambda i, problems, p=part: local.reproduction(p, p.visible[i]))
        verdicts[gid] = judging.judge(gid, part, gid_cases, outcome.checks.get(gid),
                                      expected.get(gid), describe)
    test_ids = {source.nbgrader_meta(c).get("grade_id"): i for i, c in enumerate(cells)
                if source.is_test_cell(c)}
    outcomes = {gid: test_outcome(outcome.cells.get(i)) for gid, i in test_ids.items() if gid in cases}
    return GradedRun(outcome.cells, verdicts, outcomes, outcome.events, outcome.tampering, how,
                     round(time.monotonic() - started, 2))
