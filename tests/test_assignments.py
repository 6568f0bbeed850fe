"""The assignments as files: releases up to date, no outputs, nothing secret released, the
solutions right by an independent reference, and the judges that guard against work not done.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from coursekit import functional as F
from coursekit.grading import local, source, spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOLUTIONS = os.path.join(ROOT, "solutions")
ASSIGNMENTS = source.names(SOLUTIONS)
BIN = os.path.dirname(sys.executable)


def only_definitions(code: str) -> bool:
    tree = ast.parse(code)
    return all(isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)) for node in tree.body)


def solution_functions(assignment: str) -> dict:
    """The instructor's answer cells and the notebook's given functions, run: name -> function."""
    nb = nbformat.read(os.path.join(SOLUTIONS, assignment, f"{assignment}.ipynb"), as_version=4)
    scope = {"np": np}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or (not meta and only_definitions(cell.source))):
            exec(compile(cell.source, f"<{assignment} solution>", "exec"), scope)
    return scope


def test_every_release_is_what_nbgrader_and_the_solutions_generate(tmp_path):
    out = subprocess.run([os.path.join(BIN, "coursekit"), "release", "--check", "--course-dir", ROOT],
                         capture_output=True, text=True, timeout=900, cwd=ROOT,
                         env={**os.environ, "COURSEKIT_CACHE": str(tmp_path)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("up to date") == len(ASSIGNMENTS)


@pytest.mark.parametrize("folder", ["solutions", "assignments"])
def test_notebooks_are_stored_without_outputs(folder):
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(os.path.join(ROOT, folder, assignment, f"{assignment}.ipynb"), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (folder, assignment)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_hides_solutions_hidden_tests_and_rubrics_and_ships_its_checks(assignment):
    folder = os.path.join(ROOT, "assignments", assignment)
    text = open(os.path.join(folder, f"{assignment}.ipynb"), encoding="utf-8").read()
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "hidden_cases(", "Rubric", "Model answer"):
        assert secret not in text, secret
    assert sorted(os.listdir(folder)) == sorted([f"{assignment}.ipynb", "checks.py", "visible_expected.npz"])
    released = open(os.path.join(folder, "checks.py")).read()
    assert released == open(os.path.join(SOLUTIONS, assignment, "checks.py")).read()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_runs_a_declared_check_with_cases(assignment):
    src = source.find(SOLUTIONS, assignment)
    tests = src.test_cells()
    cases = src.cases(tests)
    assert set(cases) == set(tests), set(tests) ^ set(cases)
    for grade_id, found in cases.items():
        assert found, grade_id
        kind = src.spec().check(grade_id)[1]
        assert (kind == "hidden") == ("BEGIN HIDDEN TESTS" in tests[grade_id]), grade_id
    hidden = [g for g in tests if g.endswith("_hidden")]
    assert hidden, "every assignment has hidden tests"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_input_carries_an_answer_flag(assignment):
    """Inputs reach the student's process: none may say which answer is right or wrong."""
    src = source.find(SOLUTIONS, assignment)
    for grade_id, cases in src.cases(src.test_cells()).items():
        for _, inputs in cases:
            for key in inputs:
                assert not any(word in key.lower() for word in ("wrong", "answer", "expected", "correct")), \
                    (grade_id, key)


def test_a2_solutions_agree_with_the_library():
    """The grader compares with the solutions; coursekit's library checks them where it has the
    operation (2-D batches of the linear layer); tests/test_assignment_references.py checks the
    rest against autograd."""
    fns = solution_functions("A2")
    src = source.find(SOLUTIONS, "A2")
    cases = src.cases(src.test_cells())
    flat = [c for _, c in cases["linear_visible"] + cases["linear_hidden"] if np.ndim(c["x"]) == 2]
    assert flat
    for c in flat:
        out, cache = fns["linear_forward"](c["x"], c["W"], c["b"])
        ref, ref_cache = F.linear_forward(c["x"], c["W"], c["b"])
        np.testing.assert_allclose(out, ref, rtol=1e-12)
        for got, want in zip(fns["linear_backward"](c["dout"], cache), F.linear_backward(c["dout"], ref_cache)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_a3_and_a4_solutions_agree_with_the_library():
    a3, a4 = solution_functions("A3"), solution_functions("A4")
    rng = np.random.default_rng(7)
    x, gamma, beta, dout = rng.standard_normal((6, 4)), rng.uniform(0.5, 2, 4), rng.standard_normal(4), \
        rng.standard_normal((6, 4))
    out, cache = a3["batchnorm_forward"](x, gamma, beta)
    ref, ref_cache = F.batchnorm_forward(x, gamma, beta, eps=1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-10)
    for got, want in zip(a3["batchnorm_backward"](dout, cache), F.batchnorm_backward(dout, ref_cache)):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)
    from coursekit import optim

    w, g = rng.standard_normal(5), rng.standard_normal(5)
    for mine, ref, hyper in ((a4["adam_update"], optim.adam_update, {"lr": 0.01}),
                             (a4["rmsprop_update"], optim.rmsprop_update, {"lr": 0.01}),
                             (a4["momentum_update"], optim.momentum_update, {"lr": 0.1, "momentum": 0.9})):
        s1, s2, w1, w2 = dict(hyper), dict(hyper), w.copy(), w.copy()
        for _ in range(5):
            w1, s1 = mine(w1, g, s1)
            w2, s2 = ref(w2, g, s2)
        np.testing.assert_allclose(w1, w2, rtol=1e-10)


# ---------------------------------------------------------------------------
# the judges that guard against work not done (issue: points without the work)
# ---------------------------------------------------------------------------
def judge_case(assignment: str, grade_id: str, fns: dict):
    """(verdict-problems per case) of ``fns`` on a check's cases, against the solution's outputs."""
    src = source.find(SOLUTIONS, assignment)
    part, _ = src.spec().check(grade_id)
    cases = src.cases(src.test_cells())[grade_id]
    solution = solution_functions(assignment)
    from coursekit.grading import judging

    problems = []
    for _, inputs in cases:
        expected = spec.run_case(part, dict(inputs), solution)
        try:
            got = spec.run_case(part, dict(inputs), fns)
        except Exception as exc:  # a failing case
            problems.append([str(exc)])
            continue
        problems.append(judging.compare_case(part, inputs, got, expected))
    return problems


def test_an_exact_gradient_is_not_a_numerical_one():
    def numerical_gradient(f, x, h=1e-5):  # reads the test function's closure: no finite difference
        cells = {n: c.cell_contents for n, c in zip(f.__code__.co_freevars, f.__closure__)}
        return cells["A"] / (1 + np.exp(-(cells["A"] * x + cells["B"]))) + cells["c"] * x
    assert all(judge_case("A2", "numgrad_hidden", {"numerical_gradient": numerical_gradient}))


def test_a_gradient_check_without_finite_differences_fails():
    def gradient_check(loss_fn, params, h=1e-5):
        cells = {n: c.cell_contents for n, c in zip(loss_fn.__code__.co_freevars, loss_fn.__closure__)}
        A, B, G = cells["A"], cells["B"], cells["G"]
        exact = {k: A[k] * B[k] / (1 + np.exp(-B[k] * params[k])) for k in params}
        return {k: float(np.max(np.abs(G[k] - exact[k]) / np.maximum(1e-8, np.abs(G[k]) + np.abs(exact[k]))))
                for k in params}
    assert all(judge_case("A3", "gradcheck_hidden", {"gradient_check": gradient_check}))


def test_untrained_networks_get_no_training_credit():
    a3 = solution_functions("A3")

    def untrained(X_train, y_train, batch_norm, lr, seed, epochs=6):
        return a3["train_klayer"](X_train, y_train, batch_norm, lr, seed, epochs=0)
    for grade_id in ("training_bn", "training_plain"):
        assert all(judge_case("A3", grade_id, {"train_klayer": untrained})), grade_id
    a4 = solution_functions("A4")

    def ignores_rule(update, hyper, X, y, steps, seed, **kw):
        return a4["train_network"](lambda w, dw, s: (w, s), hyper, X, y, steps, seed, **kw)
    problems = judge_case("A4", "experiment", dict(a4, train_network=ignores_rule))
    assert all(problems), problems


def test_visible_expected_files_match_their_checks():
    for assignment in ASSIGNMENTS:
        folder = os.path.join(SOLUTIONS, assignment)
        found = local.read_expected(os.path.join(folder, local.EXPECTED_FILE))
        assert found["digest"] == local.checks_digest(os.path.join(folder, local.CHECKS_FILE)), assignment


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebooks_pass_nbval(assignment, tmp_path):
    """The instructor's notebooks run top to bottom in a Jupyter kernel (pytest --nbval-lax): every
    visible check passes, every hidden block runs its cases on the solution."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                          os.path.join(SOLUTIONS, assignment, f"{assignment}.ipynb")],
                         capture_output=True, text=True, timeout=900, cwd=os.path.join(SOLUTIONS, assignment),
                         env={**os.environ, "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout


def test_json_of_notebooks_is_valid_nbformat():
    for folder in ("solutions", "assignments"):
        for assignment in ASSIGNMENTS:
            path = os.path.join(ROOT, folder, assignment, f"{assignment}.ipynb")
            nbformat.validate(nbformat.read(path, as_version=4))
            json.load(open(path, encoding="utf-8"))
