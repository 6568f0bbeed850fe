"""Unit tests of the grading helpers, the checks behind the assignments and the grader's parts.

Fast: no sandbox, no nbgrader run (see test_grading_sandbox.py and
test_grading_e2e.py for those).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from coursekit import grading
from coursekit._grader import checks, feedback, pipeline, preprocessor, verify

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------
# messages: shape, dtype, relative error, the wrong gradient -- never the answer
# ---------------------------------------------------------------------------
def test_mismatch_reports_shape_dtype_and_error_but_not_expected_values():
    expected = np.array([[123.456789, -987.654321], [55.5555, 0.0]])
    assert "wrong shape (2,), expected (2, 2)" in grading.describe_mismatch("dW", np.zeros(2), expected)
    assert "wrong dtype float32, expected float64" in grading.describe_mismatch(
        "dW", expected.astype(np.float32), expected)
    wrong = expected.copy()
    wrong[1, 0] += 1.0
    msg = grading.describe_mismatch("dW", wrong, expected)
    assert msg.startswith("dW: wrong values, max relative error")
    assert "at index (1, 0)" in msg and "1 of 4 entries wrong" in msg
    for value in ("123.45", "987.65", "55.55", "56.55"):
        assert value not in msg
    assert grading.describe_mismatch("dW", expected.copy(), expected) is None
    assert "NaN or inf" in grading.describe_mismatch("dx", np.full((2, 2), np.nan), expected)
    assert "expected a numeric array" in grading.describe_mismatch("dx", "text", expected)


def test_assert_gradients_names_every_wrong_gradient_and_the_right_ones():
    exp = {"dx": np.ones(3), "dW": np.ones((2, 3)), "db": np.ones(2)}
    got = {"dx": np.ones(3), "dW": np.zeros((2, 3)), "db": np.ones(3)}
    with pytest.raises(grading.GradingError) as err:
        grading.assert_gradients(got, exp)
    msg = str(err.value)
    assert "dW: wrong values" in msg and "db: wrong shape (3,), expected (2,)" in msg
    assert "(correct: dx)" in msg
    grading.assert_gradients(exp, exp)


def test_relative_errors_is_zero_for_equal_and_one_against_zero():
    assert np.array_equal(grading.relative_errors(np.array([1.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0])),
                          [0.0, 0.0, 1.0])


def test_digits_split_matches_scikit_learn_and_is_reproducible():
    from sklearn.datasets import load_digits

    X, y = grading._digits()
    d = load_digits()
    assert np.array_equal(X, d.data / 16.0) and np.array_equal(y, d.target)
    a = grading.digits_split(seed=0)
    b = grading.digits_split(seed=0)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert a[0].shape == (1297, 64) and a[2].shape == (500, 64)
    assert sorted(np.concatenate([a[1], a[3]])) == sorted(y)


def test_check_defers_to_the_grader_inside_the_sandbox(monkeypatch):
    monkeypatch.setenv(grading.SANDBOX_ENV, "1")
    with pytest.raises(grading.GradingDeferred):
        grading.check("A2", "linear_visible", {})


# ---------------------------------------------------------------------------
# the checks: the instructor's solutions pass, typical mistakes fail by name
# ---------------------------------------------------------------------------
def _solution_namespace(assignment: str) -> dict:
    nb = nbformat.read(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), as_version=4)
    namespace = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            exec(compile(cell.source, f"<{meta['grade_id']}>", "exec"), namespace)  # noqa: S102
    namespace.setdefault("np", np)
    return namespace


@pytest.mark.parametrize("assignment", ["A1", "A2"])
def test_solutions_pass_every_check(assignment):
    namespace = _solution_namespace(assignment)
    for name, check in checks.for_assignment(assignment).items():
        assert checks.run_in_process(check, namespace) == [], name


def test_linear_check_names_the_wrong_gradient():
    ns = _solution_namespace("A2")

    def bad_backward(dout, cache):
        dx, dW, db = ns["linear_backward"](dout, cache)
        return dx, dW, dout.mean(axis=0)

    problems = checks.run_in_process(checks.get("A2", "linear_visible"), {**ns, "linear_backward": bad_backward})
    assert len(problems) == 1
    assert "db: wrong values" in problems[0] and "(correct: out, dx, dW)" in problems[0]


def test_hidden_checks_catch_relu_at_zero_unstable_softmax_and_strided_numgrad():
    ns = _solution_namespace("A2")
    relu = {**ns, "relu_backward": lambda dout, cache: dout * (cache >= 0)}
    assert any("inputs exactly at 0" in p for p in checks.run_in_process(checks.get("A2", "relu_hidden"), relu))

    def naive_softmax(scores, y):
        p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        n = len(y)
        d = p.copy()
        d[np.arange(n), y] -= 1
        return float(-np.log(p[np.arange(n), y]).mean()), d / n

    with np.errstate(all="ignore"):
        problems = checks.run_in_process(checks.get("A2", "softmax_hidden"),
                                         {**ns, "softmax_cross_entropy": naive_softmax})
    assert any("large logits" in p for p in problems)
    assert not any("a batch of 1" in p for p in problems)

    def flat_numgrad(f, x, h=1e-5):
        flat = x.reshape(-1)  # a copy when x is not contiguous: perturbing it changes nothing
        grad = np.zeros(flat.shape)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            fp = f(x)
            flat[i] = old - h
            fm = f(x)
            flat[i] = old
            grad[i] = (fp - fm) / (2 * h)
        return grad.reshape(x.shape)

    problems = checks.run_in_process(checks.get("A2", "numgrad_hidden"), {**ns, "numerical_gradient": flat_numgrad})
    assert [p.split(":")[0] for p in problems] == ["case a non-contiguous x"]


def test_training_check_requires_the_stated_accuracy():
    ns = _solution_namespace("A2")

    def untrained(X_train, y_train, X_val, y_val, seed):
        return ns["train_two_layer"](X_train, y_train, X_val, y_val, seed, epochs=0)

    problems = checks.run_in_process(checks.get("A2", "training"), {**ns, "train_two_layer": untrained})
    assert len(problems) == 1 and "below the required 0.90" in problems[0]


def test_a1_checks_catch_a_dense_jacobian_free_sign_error():
    ns = _solution_namespace("A1")
    wrong = {**ns, "squared_loss_grad_W": lambda W, x, y: np.outer(y - W @ x, x)}
    problems = checks.run_in_process(checks.get("A1", "tensor_visible"), wrong)
    assert len(problems) == 1 and "dJ_dW: wrong values" in problems[0] and "(correct: dz_dW)" in problems[0]


def test_every_test_cell_of_the_solutions_has_a_check_and_back():
    for assignment in ("A1", "A2"):
        nb = nbformat.read(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), as_version=4)
        test_ids = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if preprocessor.is_test_cell(c)}
        assert test_ids == set(checks.for_assignment(assignment))
        hidden = [c for c in nb.cells if preprocessor.BEGIN_HIDDEN in c.source]
        assert {c.metadata["nbgrader"]["grade_id"] for c in hidden} == {i for i in test_ids if i.endswith("_hidden")}


# ---------------------------------------------------------------------------
# hidden tests stay with the instructor: their cases are in solutions/_hidden/,
# not in the coursekit package that students install
# ---------------------------------------------------------------------------
ALL_ASSIGNMENTS = ("A1", "A2", "A3", "A4")


def _hidden_test_ids(assignment: str) -> set:
    nb = nbformat.read(os.path.join(ROOT, "solutions", assignment, f"{assignment}.ipynb"), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if preprocessor.BEGIN_HIDDEN in c.source}


def _hidden_case_strings(assignment: str) -> set:
    """The string literals of the hidden-case functions: descriptions and f-string parts."""
    import ast

    tree = ast.parse(open(checks.hidden_cases_path(assignment, os.path.join(ROOT, "solutions"))).read())
    found = set()
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            text = node.value.strip() if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
            if " " in text and len(text) >= 8:  # not generic bits such as the f-string part "W ("
                found.add(text)
    return found


@pytest.mark.parametrize("assignment", ALL_ASSIGNMENTS)
def test_every_hidden_test_cell_has_its_cases_in_the_instructor_folder(assignment):
    hidden_ids = _hidden_test_ids(assignment)
    assert hidden_ids and all(g.endswith("_hidden") for g in hidden_ids)
    registered = checks.for_assignment(assignment)
    assert {n for n, c in registered.items() if c.hidden} == hidden_ids
    solutions = os.path.join(ROOT, "solutions")
    for name in hidden_ids:
        cases = checks.cases_of(registered[name], solutions)
        assert cases and all(isinstance(d, str) and isinstance(i, dict) for d, i in cases), name
        assert all(isinstance(v, np.ndarray) for _, i in cases for v in i.values()), name
    # not an nbgrader assignment: `coursekit release` never copies it into assignments/
    assert not os.path.exists(os.path.join(solutions, checks.HIDDEN_FOLDER, f"{checks.HIDDEN_FOLDER}.ipynb"))
    assert sorted(os.listdir(os.path.join(ROOT, "assignments", assignment))) == [f"{assignment}.ipynb"]


def test_the_package_holds_no_hidden_case_generator():
    import coursekit

    package = os.path.dirname(os.path.abspath(coursekit.__file__))
    sources = {}
    for dirpath, _, files in os.walk(package):
        for f in files:
            if f.endswith(".py"):
                sources[os.path.join(dirpath, f)] = open(os.path.join(dirpath, f), encoding="utf-8").read()
    assert len(sources) > 10
    for assignment in ALL_ASSIGNMENTS:
        secret = _hidden_case_strings(assignment)
        assert len(secret) >= len(_hidden_test_ids(assignment))  # e.g. "inputs exactly at 0"
        leaks = [(text, os.path.relpath(path, package)) for text in secret
                 for path, src in sources.items() if text in src]
        assert leaks == [], leaks


def test_hidden_cases_without_the_instructor_files_raise_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEKIT_COURSE_ROOT", str(tmp_path))  # a course root with no solutions/
    ns = _solution_namespace("A2")
    for assignment in ALL_ASSIGNMENTS:
        for name, check in checks.for_assignment(assignment).items():
            if not check.hidden:
                assert check.cases(), name  # visible cases are in the package
                continue
            with pytest.raises(checks.HiddenTestsUnavailable, match="only available to the instructor"):
                check.cases()
            assert checks.cases_of(check, os.path.join(ROOT, "solutions"))  # the grader's explicit folder
    with pytest.raises(checks.HiddenTestsUnavailable, match="A2 relu_hidden is a hidden test"):
        grading.check("A2", "relu_hidden", ns)
    grading.check("A2", "relu_visible", ns)  # visible checks work anywhere


def test_a_student_install_cannot_run_hidden_tests(tmp_path):
    """The package copied alone (as a wheel installs it): hidden checks say they are instructor-only."""
    import shutil

    import coursekit

    site = tmp_path / "site"
    shutil.copytree(os.path.dirname(os.path.abspath(coursekit.__file__)), site / "coursekit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = (f"import sys; sys.path.insert(0, {str(site)!r})\n"
            "import coursekit, coursekit.grading as g\n"
            f"assert coursekit.__file__.startswith({str(site)!r}), coursekit.__file__\n"
            "from coursekit._grader import checks\n"
            "try:\n"
            "    g.check('A3', 'bn_backward_hidden', {})\n"
            "except checks.HiddenTestsUnavailable as exc:\n"
            "    print(exc)\n")
    env = {k: v for k, v in os.environ.items() if k != "COURSEKIT_COURSE_ROOT"}
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "only available to the instructor" in out.stdout


def test_the_grader_reads_hidden_cases_from_its_source_folder(tmp_path):
    cells = [{"source": "x = 1", "check": None}, {"source": "", "check": "relu_hidden"}]
    cases = verify.write_job(str(tmp_path / "job"), "A2", cells, cell_timeout=3, max_output_chars=100,
                             solutions_dir=os.path.join(ROOT, "solutions"))
    with np.load(tmp_path / "job" / "inputs" / "relu_hidden.npz") as data:
        assert sorted({k.split(":")[0] for k in data.files}) == [str(i) for i in range(len(cases["relu_hidden"]))]
    with pytest.raises(checks.HiddenTestsUnavailable):
        verify.write_job(str(tmp_path / "job2"), "A2", cells, cell_timeout=3, max_output_chars=100,
                         solutions_dir=str(tmp_path / "no-solutions"))
    c = pipeline.make_config(pipeline.Options("A2", str(tmp_path / "w"), ROOT, "sqlite://"))
    assert c.SandboxedExecute.solutions_dir == os.path.join(ROOT, "solutions")


# ---------------------------------------------------------------------------
# the delegation guard (in a subprocess: it disables coursekit's reference)
# ---------------------------------------------------------------------------
def test_delegation_guard_disables_reference_under_any_name():
    code = (
        "from coursekit.functional import linear_forward as renamed\n"
        "import coursekit.layers as L, coursekit.gradcheck as G, coursekit.init as I, numpy as np\n"
        "from coursekit._grader.child import disable_reference_implementations, ReferenceUseError\n"
        "names = disable_reference_implementations()\n"
        "assert 'coursekit.functional.linear_backward' in names\n"
        "assert 'coursekit.gradcheck.numerical_jacobian' in names\n"
        "assert {'coursekit.optim.adam_update', 'coursekit.init.he_normal'} <= set(names)\n"
        "for call in (lambda: renamed(np.ones((1, 2)), np.ones((3, 2)), np.ones(3)),\n"
        "             lambda: L.Linear(2, 3), lambda: G.numerical_gradient(lambda x: 0.0, np.ones(2)),\n"
        "             lambda: I.he_normal((2, 3), np.random.default_rng(0))):\n"
        "    try:\n"
        "        call()\n"
        "    except ReferenceUseError as e:\n"
        "        assert 'calls coursekit reference' in str(e)\n"
        "        assert str(e).endswith('coursekit.functional/layers/losses/gradcheck/optim/train/autodiff/init')\n"
        "    else:\n"
        "        raise SystemExit('reference still usable')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_check_that_allows_coursekit_init_gets_it_back_only_for_its_call():
    code = (
        "import numpy as np\n"
        "from coursekit.init import he_normal as renamed\n"
        "import coursekit.functional as F\n"
        "from coursekit._grader import checks\n"
        "from coursekit._grader.child import (disable_reference_implementations, reference_switched_on,\n"
        "                                     ReferenceUseError)\n"
        "disable_reference_implementations()\n"
        "def off(call):\n"
        "    try:\n"
        "        call()\n"
        "    except ReferenceUseError:\n"
        "        return True\n"
        "    return False\n"
        "draw = lambda: renamed((300, 200), np.random.default_rng(0))\n"
        "assert off(draw)\n"
        "allowed = checks.get('A4', 'experiment').allowed_modules\n"
        "assert allowed == ('coursekit.init',) and checks.get('A4', 'he_hidden').allowed_modules == ()\n"
        "with reference_switched_on(allowed):\n"
        "    W = draw()\n"
        "    assert off(lambda: F.relu_forward(np.ones(3)))  # only the allowed module\n"
        "assert abs(W.var() * 200 / 2 - 1) < 0.05  # He: variance 2 / fan_in\n"
        "assert off(draw)  # switched off again\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ---------------------------------------------------------------------------
# the grader's readers never trust the sandbox's files
# ---------------------------------------------------------------------------
def test_forged_or_pickled_outputs_are_no_outputs(tmp_path):
    import io

    def record(header, payload=b""):
        return json.dumps(dict(header, size=len(payload))).encode() + b"\n" + payload

    pickled = io.BytesIO()
    np.savez(pickled, **{"0:out": np.array([{"a": 1}], dtype=object)})
    good = io.BytesIO()
    np.savez(good, **{"0:out": np.ones(2)})
    out = tmp_path / "out.bin"
    out.write_bytes(record({"kind": "cell", "index": 0, "stdout": "a"})
                    + record({"kind": "cell", "index": 99})
                    + record({"kind": "check", "name": "linear_visible"}, pickled.getvalue())
                    + record({"kind": "check", "name": "relu_visible", "errors": "x"}, good.getvalue())
                    + b"junk that is not a record\n"
                    + record({"kind": "cell", "index": 1}))
    cells, recorded = verify.read_records(str(out), 3)
    assert list(cells) == [0]  # index 99 does not exist; the record after the junk is ignored
    assert list(recorded) == ["relu_visible"] and recorded["relu_visible"][1] == []
    cases = list(checks.get("A2", "linear_visible").cases())
    verdict = verify.judge("A2", "linear_visible", cases, recorded.get("linear_visible"), "")
    assert not verdict.passed and verdict.problems == ["not checked: not reached"]
    assert verify.read_records(str(tmp_path / "missing.bin"), 3) == ({}, {})


# ---------------------------------------------------------------------------
# submissions: what gets graded, and the notes recorded
# ---------------------------------------------------------------------------
def _release(assignment):
    return nbformat.read(os.path.join(ROOT, "assignments", assignment, f"{assignment}.ipynb"), as_version=4)


def test_inspect_submission_records_every_problem():
    rel = _release("A2")
    known = {"A1": [c.metadata["nbgrader"]["grade_id"] for c in _release("A1").cells
                    if c.metadata.get("nbgrader", {}).get("grade_id")]}
    nb, notes = pipeline.inspect_submission(b"{not json", rel, "A2", known)
    assert nb == rel and notes[0].startswith("invalid notebook")
    nb, notes = pipeline.inspect_submission(nbformat.writes(_release("A1")).encode(), rel, "A2", known)
    assert nb == rel and notes == ["notebook of assignment A1, not A2: graded as blank"]
    edited = json.loads(nbformat.writes(rel))
    edited["cells"] = [c for c in edited["cells"]
                       if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "relu_visible"]
    for c in edited["cells"]:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "linear_visible":
            c["source"] = "pass"
    nb, notes = pipeline.inspect_submission(json.dumps(edited).encode(), rel, "A2", known)
    assert notes == ["deleted test cells restored: relu_visible",
                     "edited test cells restored: linear_visible"]
    _, notes = pipeline.inspect_submission(nbformat.writes(rel).encode(), rel, "A2", known)
    assert notes == []


def test_find_submissions_reads_both_layouts_and_renamed_files(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "ann lee.ipynb").write_text("{}")
    (flat / "bob.ipynb").write_text("{}")
    assert [s.student for s in pipeline.find_submissions(str(flat), "A2")] == ["ann_lee", "bob"]
    layout = tmp_path / "course" / "submitted"
    (layout / "cy" / "A2").mkdir(parents=True)
    (layout / "cy" / "A2" / "homework.ipynb").write_text("{}")
    (layout / "di" / "A2").mkdir(parents=True)
    (layout / "di" / "A2" / "A2.ipynb").write_text("{}")
    subs = pipeline.find_submissions(str(tmp_path / "course"), "A2")
    assert [(s.student, os.path.basename(s.path)) for s in subs] == [("cy", "homework.ipynb"), ("di", "A2.ipynb")]
    assert subs[0].notes == ["renamed notebook 'homework.ipynb' graded as A2.ipynb"]


# ---------------------------------------------------------------------------
# feedback: no hidden-test lines, math without scripts
# ---------------------------------------------------------------------------
def test_scrub_removes_hidden_test_lines_from_tracebacks():
    nb = nbformat.read(os.path.join(ROOT, "solutions", "A2", "A2.ipynb"), as_version=4)
    secret = preprocessor.hidden_lines(nb)
    assert any("hidden_test_marker" in s for s in secret)
    tb = ['Cell In[4], line 4\n      3 hidden_suite = "linear_hidden"  # hidden_test_marker\n'
          '----> 4 grading.check("A2", hidden_suite, globals())\n', "ValueError: boom"]
    out = nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=tb)
    clean = preprocessor.scrub_outputs([out], secret)[0]
    text = "\n".join(clean["traceback"])
    assert "hidden_test_marker" not in text and "hidden_suite" not in text and "ValueError: boom" in text


def test_markdown_math_becomes_mathml_and_cdn_scripts_go():
    html = feedback.markdown_math_to_mathml(r"Inline $W x + b$ and $$\frac{\partial J}{\partial W}$$ costs \$5.")
    assert html.count("<math") == 2 and "$W" not in html and "<mfrac>" in html and r"\$5" in html
    page = ('<head><!-- Load mathjax -->\n<script src="https://cdnjs.cloudflare.com/x.js"> </script>\n'
            '<!-- End of mathjax configuration --><script src="http://evil/x.js"></script></head>')
    assert "script" not in feedback.strip_remote_scripts(page)


def test_a_forged_grade_cell_becomes_an_ordinary_cell():
    rel = _release("A2")
    nb = json.loads(nbformat.writes(rel))
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "bonus", "outputs": [],
                        "source": "pass", "metadata": {"nbgrader": {
                            "grade": True, "solution": False, "locked": True, "points": 100,
                            "grade_id": "bonus", "schema_version": 3}}})
    graded, notes = pipeline.inspect_submission(json.dumps(nb).encode(), rel, "A2", {})
    assert notes == ["unknown nbgrader cells treated as ordinary cells: bonus"]
    assert "nbgrader" not in graded.cells[-1].metadata


def test_a1_reference_jacobians_agree_with_finite_differences():
    from coursekit import functional as F
    from coursekit.gradcheck import numerical_jacobian

    s = np.random.default_rng(5).standard_normal(6)
    _, tcache = F.tanh_forward(s.reshape(1, -1))
    tanh_j = checks.jacobian_from_vjp(lambda e: F.tanh_backward(e.reshape(1, -1), tcache)[0], 6)
    assert np.allclose(tanh_j, numerical_jacobian(np.tanh, s.copy()), atol=1e-8)
    _, scache = F.softmax_forward(s.reshape(1, -1))
    soft_j = checks.jacobian_from_vjp(lambda e: F.softmax_backward(e.reshape(1, -1), scache)[0], 6)
    softmax = lambda v: np.exp(v - v.max()) / np.exp(v - v.max()).sum()  # noqa: E731
    assert np.allclose(soft_j, numerical_jacobian(softmax, s.copy()), atol=1e-8)


def test_digits_split_uses_the_same_data_as_coursekit_data():
    from coursekit import data

    X, y = data.digits()
    X2, y2 = grading._digits()
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
