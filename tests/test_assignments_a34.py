"""Assignments A3 (batch norm, k-layer network) and A4 (initialisation, optimisers).

Fast tests run the checks in this process (coursekit/_grader/checks_a3.py and
checks_a4.py): the solutions pass every check, the release stubs fail every
check without crashing the grader, each sample mistake fails exactly the
checks it should, and the statistical and equivalence decisions hold.

The end-to-end tests grade the sample class (examples/class/A3, A4) plus the
instructor's solution and the release with the real pipeline (`coursekit
grade`: nbgrader, sandbox, verifier), once per assignment per session, and
compare with examples/class/expected.csv.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from coursekit._grader import checks, checks_a3, checks_a4  # noqa: F401 - registers A3/A4

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASS = os.path.join(ROOT, "examples", "class")
EXPECTED = os.path.join(CLASS, "expected.csv")


def _sample_limits() -> list:
    """The --cell-timeout and --time-limit of `make grade-samples`, which expected.csv is written for."""
    with open(os.path.join(ROOT, "Makefile")) as fh:
        words = next(line for line in fh if line.startswith("SAMPLE_LIMITS")).split(":=", 1)[1].split()
    return [w for i, w in enumerate(words) if w in ("--cell-timeout", "--time-limit")
            or (i and words[i - 1] in ("--cell-timeout", "--time-limit"))]


LIMITS = _sample_limits()
ASSIGNMENTS = ("A3", "A4")

# the checks each sample mistake must fail (in this process; delegation is only
# caught in the sandbox, where coursekit's reference modules are switched off)
MISTAKES = {
    "A3": {
        "cal_no_mean_term": {"bn_backward_visible", "bn_backward_hidden", "klayer_visible",
                             "klayer_hidden", "training_bn"},
        "dee_momentum_reversed": {"bn_running_visible", "bn_running_hidden"},
        "eli_unbiased_variance": {"bn_forward_visible", "bn_forward_hidden", "bn_backward_visible",
                                  "bn_backward_hidden", "klayer_visible", "klayer_hidden"},
        "ann_correct": set(),
    },
    "A4": {
        "cy_adam_no_bias_correction": {"adam_visible", "adam_hidden"},
        "di_he_with_xavier_factor": {"he_visible", "he_hidden"},
        "ed_momentum_sign_flipped": {"momentum_visible", "momentum_hidden"},
        "flo_eps_inside_root": set(),
        "gil_uniform_xavier": {"xavier_visible", "xavier_hidden"},
        "iva_init_delegates": {"he_visible", "he_hidden"},
        "al_correct": set(),
    },
}


def _read(kind, assignment):
    return nbformat.read(os.path.join(ROOT, kind, assignment, f"{assignment}.ipynb"), as_version=4)


def _test_ids(nb):
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")]


def _run_cells(nb, *, strict):
    """Execute the code cells of ``nb`` in a fresh namespace (errors raise only if ``strict``)."""
    namespace = {"__name__": "__notebook__"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            with np.errstate(all="ignore"):
                exec(compile(cell.source, "<cell>", "exec"), namespace)  # noqa: S102 - our notebooks
        except Exception:
            if strict:
                raise
    return namespace


def _failed_checks(assignment, namespace):
    return {name for name, check in checks.for_assignment(assignment).items()
            if checks.run_in_process(check, namespace)}


# ---------------------------------------------------------------------------
# the notebooks
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_graded_cell_has_a_check_and_the_release_matches_nbgrader(assignment):
    solution, release = _read("solutions", assignment), _read("assignments", assignment)
    ids = _test_ids(solution)
    assert ids == _test_ids(release)
    assert set(ids) == set(checks.for_assignment(assignment))
    for nb in (solution, release):
        nbformat.validate(nb)
        assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    text = nbformat.writes(release)
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "hidden_test_marker"):
        assert marker in nbformat.writes(solution) and marker not in text
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    out = subprocess.run([sys.executable, "-m", "coursekit.cli", "release", assignment, "--check"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert out.returncode == 0 and "up to date" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_passes_every_cell_and_every_check(assignment):
    namespace = _run_cells(_read("solutions", assignment), strict=True)  # visible asserts included
    assert _failed_checks(assignment, namespace) == set()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_runs_top_to_bottom_in_a_jupyter_kernel(assignment):
    from nbclient import NotebookClient

    nb = _read("solutions", assignment)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": ROOT}}).execute()  # raises on any failing cell
    passed = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.get("name") == "stdout" and f"{assignment} " in o.get("text", "")
              and ": passed" in o["text"]]
    assert len(passed) == len(_test_ids(nb))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_stubs_fail_every_check_with_a_message(assignment):
    namespace = _run_cells(_read("assignments", assignment), strict=False)
    for name, check in checks.for_assignment(assignment).items():
        problems = checks.run_in_process(check, namespace)
        assert problems and all("NotImplementedError" in p for p in problems), (name, problems)


def test_sample_notebooks_are_what_the_generator_writes():
    sys.path.insert(0, CLASS)
    try:
        import make_class_a34
    finally:
        sys.path.remove(CLASS)
    for assignment, subs in (("A3", make_class_a34.a3_class()), ("A4", make_class_a34.a4_class())):
        stored = sorted(f[:-6] for f in os.listdir(os.path.join(CLASS, assignment)) if f.endswith(".ipynb"))
        assert stored == sorted(subs)
        for student, nb in subs.items():
            on_disk = nbformat.read(os.path.join(CLASS, assignment, f"{student}.ipynb"), as_version=4)
            assert [c.source for c in on_disk.cells] == [c.source for c in nb.cells], student


@pytest.mark.parametrize("assignment,student", [(a, s) for a in MISTAKES for s in MISTAKES[a]])
def test_each_sample_mistake_fails_exactly_its_checks(assignment, student):
    nb = nbformat.read(os.path.join(CLASS, assignment, f"{student}.ipynb"), as_version=4)
    namespace = _run_cells(nb, strict=False)
    assert _failed_checks(assignment, namespace) == MISTAKES[assignment][student]


# ---------------------------------------------------------------------------
# the grading decisions
# ---------------------------------------------------------------------------
def test_batchnorm_hidden_cases_would_catch_a_backward_pass_that_drops_the_mean_path():
    # with an all-ones upstream gradient the true dx is 0, so no such case is used ...
    x = np.random.default_rng(0).standard_normal((5, 3))
    _, cache = checks_a3.F.batchnorm_forward(x, np.ones(3), np.zeros(3))
    dx_ones = checks_a3.F.batchnorm_backward(np.ones((5, 3)), cache)[0]
    assert np.max(np.abs(dx_ones)) < 1e-12
    backward_cases = checks.cases_of(checks.get("A3", "bn_backward_hidden"))  # solutions/_hidden/A3.py
    for desc, case in backward_cases:
        assert np.std(case["dout"]) > 0.5, desc
    sizes = [case["x"].shape[0] for _, case in backward_cases]
    assert 2 in sizes
    assert any(np.ptp(case["x"][:, 0]) == 0 for _, case in backward_cases)
    assert any(case["x"].shape[0] == 1 for _, case in checks.cases_of(checks.get("A3", "bn_running_hidden")))


@pytest.mark.parametrize("fname", ["xavier_normal", "he_normal"])
def test_initialiser_check_passes_correct_draws_for_many_seeds_and_fails_wrong_factors(fname):
    judge = checks_a4._init_judge_for(fname)
    part = fname.split("_")[0]
    shapes = [c for kind in ("visible", "hidden") for c in checks.cases_of(checks.get("A4", f"{part}_{kind}"))]
    assert {tuple(int(v) for v in inputs["shape"]) for _, inputs in shapes} >= {(250, 250), (2000, 30)}
    for desc, inputs in shapes:
        shape = tuple(int(v) for v in inputs["shape"])
        std = np.sqrt(checks_a4.init_variance(fname, shape))
        for seed in range(10):
            draw = lambda factor, s=seed: np.random.default_rng(s).standard_normal(shape) * std * factor  # noqa: E731
            ok = {"W": draw(1.0), "W_same_seed": draw(1.0), "W_other_seed": draw(1.0, seed + 99)}
            assert judge(inputs, ok) == [], (desc, seed)
            for factor in (np.sqrt(2.0), np.sqrt(0.5)):  # variance off by a factor of 2
                wrong = {"W": draw(factor), "W_same_seed": draw(factor), "W_other_seed": draw(factor, seed + 99)}
                assert any("variance" in p for p in judge(inputs, wrong)), (desc, seed, factor)


def _momentum_other_sign(w, dw, state):
    """Momentum with the velocity stored as +lr g (v <- a v + lr g, w <- w - v): same iterates."""
    state = dict(state)
    v = state.get("momentum", 0.9) * state.get("u", 0.0) + state.get("lr", 1e-2) * dw
    state["u"] = v
    return w - v, state


def _adam_eps_inside(w, dw, state):
    state = dict(state)
    b1, b2, t = state.get("beta1", 0.9), state.get("beta2", 0.999), state.get("t", 0) + 1
    s = b1 * state.get("s", 0.0) + (1 - b1) * dw
    r = b2 * state.get("r", 0.0) + (1 - b2) * dw * dw
    state.update(s=s, r=r, t=t)
    return w - state.get("lr", 1e-3) * (s / (1 - b1**t)) / np.sqrt(r / (1 - b2**t) + state.get("eps", 1e-8)), state


def _adam_without_bias_correction(w, dw, state):
    state = dict(state)
    b1, b2 = state.get("beta1", 0.9), state.get("beta2", 0.999)
    s = b1 * state.get("s", 0.0) + (1 - b1) * dw
    r = b2 * state.get("r", 0.0) + (1 - b2) * dw * dw
    state.update(s=s, r=r)
    return w - state.get("lr", 1e-3) * s / (np.sqrt(r) + state.get("eps", 1e-8)), state


@pytest.mark.parametrize("fname,rule,passes", [
    ("momentum_update", _momentum_other_sign, True),
    ("adam_update", _adam_eps_inside, True),
    ("adam_update", _adam_without_bias_correction, False),
])
def test_update_rules_are_graded_by_their_iterates(fname, rule, passes):
    part = fname.split("_")[0]
    for kind in ("visible", "hidden"):
        for desc, inputs in checks.cases_of(checks.get("A4", f"{part}_{kind}")):
            problems = checks_a4._rule_judge_for(fname)(inputs, {"path": checks_a4.run_trajectory(rule, inputs)})
            assert (problems == []) == passes, (desc, problems)


# ---------------------------------------------------------------------------
# end to end: the real pipeline, one grading run per assignment
# ---------------------------------------------------------------------------
def _registry_has_a34() -> bool:
    """True when importing coursekit._grader.checks alone (as the grader does) loads A3 and A4."""
    code = ("import coursekit._grader.checks as c; "
            "print(bool(c.for_assignment('A3')) and bool(c.for_assignment('A4')))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() == "True"


def _grade(assignment, tmp_path):
    """Grade the sample class plus the instructor's solution and the release; return (workdir, rows)."""
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    subs = tmp_path / f"subs-{assignment}"
    shutil.copytree(os.path.join(CLASS, assignment), subs)
    shutil.copy(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), subs / "zz_instructor.ipynb")
    shutil.copy(os.path.join(ROOT, "assignments", assignment, f"{assignment}.ipynb"), subs / "zz_release.ipynb")
    work = tmp_path / f"work-{assignment}"
    out = subprocess.run([sys.executable, "-m", "coursekit.cli", "grade", assignment, "--submissions",
                          str(subs), "--workdir", str(work), "--quiet", "--jobs", "2", *LIMITS],
                         capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    with open(work / f"grades-{assignment}.csv", newline="") as fh:
        return work, {r["student"]: r for r in csv.DictReader(fh)}


# One test, so that pytest-xdist runs the grading once (a module fixture would run once per worker).
@pytest.mark.slow
def test_pipeline_grades_the_class_the_solution_and_the_release_as_expected(tmp_path):
    from coursekit._grader import pipeline, sandbox

    if os.geteuid() != 0 or not sandbox.available():
        pytest.skip("grading needs root and bubblewrap (make install)")
    assert _registry_has_a34(), "the grader's registry (coursekit._grader.checks) does not load A3/A4"
    for assignment in ASSIGNMENTS:
        work, rows = _grade(assignment, tmp_path)
        # the sample class: every expected score and reason
        class_rows = [r for s, r in rows.items() if not s.startswith("zz_")]
        assert pipeline.compare_with_expected(class_rows, EXPECTED, assignment) == []
        # the instructor's solution gets full marks with every cell running cleanly; the release 0
        solution, release = rows["zz_instructor"], rows["zz_release"]
        assert solution["status"] == "graded" and "error in the notebook" not in solution["reason"]
        assert float(solution["score"]) == float(solution["max_score"]) > 0
        assert release["status"] == "graded" and float(release["score"]) == 0
        # parts add up; feedback leaks no hidden test and loads no script
        parts = pipeline.max_points_by_part(pipeline.Options(assignment, str(work), ROOT, ""))
        for row in rows.values():
            assert sum(float(row[p]) for p in parts) == pytest.approx(float(row["score"]))
            html = open(work / row["feedback"]).read()
            leaks = ["hidden_test_marker", "hidden_suite", "BEGIN HIDDEN TESTS"]
            if row["student"] != "zz_instructor":  # the instructor's own notebook has its solutions
                leaks.append("BEGIN SOLUTION")
            for leak in leaks:
                assert leak not in html, (row["student"], leak)
            assert "<script" not in html and html.count("<math") >= 5  # formulas as MathML, offline
