"""The nbgrader assignments: the release is what nbgrader generates, notebooks are clean,
and the instructor's solutions pass their own tests in a real Jupyter kernel."""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSIGNMENTS = ["A1", "A2"]


def _notebooks(folder):
    for name in ASSIGNMENTS:
        yield os.path.join(ROOT, folder, name, f"{name}.ipynb")


def test_release_is_exactly_what_nbgrader_generates_from_solutions():
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    out = subprocess.run([sys.executable, "-m", "coursekit.cli", "release", "--check", *ASSIGNMENTS],
                         capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("up to date") == len(ASSIGNMENTS)


@pytest.mark.parametrize("folder", ["solutions", "assignments"])
def test_notebooks_are_stored_without_outputs(folder):
    paths = list(_notebooks(folder))
    assert len(paths) == len(ASSIGNMENTS)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_hides_solutions_and_hidden_tests(assignment):
    text = open(os.path.join(ROOT, "assignments", assignment, f"{assignment}.ipynb")).read()
    source = open(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb")).read()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "hidden_test_marker"):
        assert marker in source and marker not in text
    assert "raise NotImplementedError()" in text


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_runs_top_to_bottom_in_a_kernel_and_passes_every_test(assignment):
    from nbclient import NotebookClient

    nb = nbformat.read(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": ROOT}}).execute()  # raises on any failing cell
    passed = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.get("name") == "stdout" and f"{assignment} " in o.get("text", "") and ": passed" in o["text"]]
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(passed) == len(tests)


@pytest.mark.slow
def test_release_fails_its_visible_tests_without_crashing_the_kernel():
    from nbclient import NotebookClient

    nb = nbformat.read(os.path.join(ROOT, "assignments", "A2", "A2.ipynb"), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": ROOT}}).execute()
    visible = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
               and not c.metadata["nbgrader"]["grade_id"].endswith("_hidden")]
    assert len(visible) == 6
    for cell in visible:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors and errors[0].ename in ("NotImplementedError", "GradingError"), cell.source
