"""Regenerate the sample class: submissions of A1 and A2, honest and hostile.

    python examples/class/make_class.py

Every submission starts from the student release (assignments/<A>/<A>.ipynb)
with the answer cells filled in from solutions/ and then changed the way a
real student -- or an attacker -- would.  ``expected.csv`` lists the score and
the reason each one must get; tests/test_grading_e2e.py grades the class with
``coursekit grade`` and compares.

A2 uses nbgrader's folder layout (A2/submitted/<student>/A2/A2.ipynb), A1 a
flat folder of <student>.ipynb files, so both layouts are exercised.
"""
from __future__ import annotations

import copy
import os

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _load(kind: str, assignment: str):
    return nbformat.read(os.path.join(ROOT, kind, assignment, f"{assignment}.ipynb"), as_version=4)


def _solution_code(source: str) -> str:
    """The instructor's answer without the BEGIN/END SOLUTION markers."""
    return "\n".join(line for line in source.split("\n") if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


def _by_id(nb) -> dict:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def correct(assignment: str):
    """The release notebook with every answer cell filled in correctly."""
    release, solution = _load("assignments", assignment), _by_id(_load("solutions", assignment))
    nb = copy.deepcopy(release)
    for gid, cell in _by_id(nb).items():
        if cell.metadata["nbgrader"].get("solution"):
            cell.source = _solution_code(solution[gid].source)
    return nb


def edit(nb, grade_id: str, fn):
    nb = copy.deepcopy(nb)
    cell = _by_id(nb)[grade_id]
    cell.source = fn(cell.source)
    return nb


def prepend(code: str):
    return lambda src: code.strip("\n") + "\n\n" + src


def append(code: str):
    return lambda src: src + "\n\n" + code.strip("\n")


def replace(old: str, new: str):
    def fn(src):
        if old not in src:
            raise ValueError(f"{old!r} not found in the cell")
        return src.replace(old, new)
    return fn


def drop_cells(nb, grade_ids):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids]
    return nb


TAMPER = '''
# hostile: neutralise every test helper the notebook could use
import builtins, numpy as np, numpy.testing
import coursekit.grading as _g
np.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
_g.check = lambda *a, **k: None
_g.assert_close = lambda *a, **k: None
grading = _g
builtins.AssertionError = type("AssertionError", (Exception,), {})
get_ipython().showtraceback = lambda *a, **k: None
'''


def a2_class() -> dict:
    """student -> notebook (or raw bytes) for A2."""
    ok = correct("A2")
    subs = {}
    subs["alice_correct"] = ok
    subs["bob_partial"] = edit(edit(ok, "relu_solution", replace("dout * (x > 0)", "dout * (x >= 0)")),
                               "softmax_solution",
                               replace("shifted = scores - scores.max(axis=1, keepdims=True)",
                                       "shifted = scores"))
    subs["carol_blank"] = _load("assignments", "A2")
    subs["dave_transposed_dW"] = edit(ok, "linear_solution", replace("dW = dout.T @ x", "dW = x.T @ dout"))
    subs["eve_delegates"] = edit(ok, "linear_solution", lambda src: (
        "from coursekit.functional import linear_forward as _lf, linear_backward as _lb\n\n"
        "def linear_forward(x, W, b):\n    return _lf(x, W, b)\n\n"
        "def linear_backward(dout, cache):\n    return _lb(dout, cache)\n"))
    wrong = edit(ok, "relu_solution", replace("dx = dout * (x > 0)", "dx = dout"))
    wrong = edit(wrong, "linear_solution", replace("db = dout.sum(axis=0)", "db = dout.mean(axis=0)"))
    wrong = edit(wrong, "training_solution", replace("for _ in range(epochs):", "for _ in range(0):"))
    subs["mallory_tampers"] = edit(wrong, "linear_solution", prepend(TAMPER))
    subs["trent_infinite_loop"] = edit(ok, "relu_solution", prepend("while True:\n    pass"))
    subs["sybil_ignores_signals"] = edit(ok, "training_solution", prepend(
        "import signal\nfor _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):\n"
        "    signal.signal(_sig, signal.SIG_IGN)\nwhile True:\n    try:\n        pass\n"
        "    except BaseException:\n        pass"))
    subs["oscar_crashes_kernel"] = edit(ok, "softmax_solution", prepend("import os\nos._exit(1)"))
    subs["mike_memory_bomb"] = edit(ok, "numgrad_solution", prepend(
        "hog = 'x' * (16 * 2**30)  # 16 GB at once"))
    subs["fred_fork_bomb"] = edit(ok, "numgrad_solution", prepend(
        "import os\nwhile True:\n    os.fork()"))
    subs["hugo_huge_output"] = edit(ok, "training_solution", prepend(
        "for _ in range(2000):\n    print('x' * 1_000_000)"))
    subs["ivan_invalid_json"] = b'{"cells": [ {"cell_type": "code", "source": "oops' + b"\x00\xff"
    subs["dora_deleted_tests"] = drop_cells(ok, {"linear_hidden", "relu_visible", "training"})
    subs["ed_edited_tests"] = edit(edit(ok, "numgrad_visible", lambda src: "pass"), "numgrad_solution",
                                   replace("        x[index] = old\n", ""))
    subs["sam_snoops"] = edit(ok, "numgrad_solution", prepend(
        "# hostile: read the instructor's files\n"
        "print(open('/work/main/solutions/A2/A2.ipynb').read()[:100])"))
    subs["walt_writes_outside"] = edit(ok, "numgrad_solution", prepend(
        "# hostile: overwrite the gradebook\nopen('../../../gradebook.db', 'w').write('pwned')"))
    subs["rita_renamed"] = ok  # stored under another file name, see write_class
    subs["lena_leaks_job_file"] = edit(ok, "training_solution", append(
        "# hostile: print everything the grader gave this process, hoping for the hidden tests\n"
        "import glob, os\nfor _path in sorted(glob.glob('/job/**', recursive=True)):\n"
        "    print(_path)\nprint(open('/job/job.json').read())"))
    subs["nina_wrong_assignment"] = correct("A1")
    return subs


def a1_class() -> dict:
    """student -> notebook for A1."""
    ok = correct("A1")
    subs = {}
    subs["amy_correct"] = ok
    subs["ben_blank"] = _load("assignments", "A1")
    subs["cat_dense_vjp"] = edit(ok, "softmax_vjp_solution", lambda src: (
        "def softmax_vjp(s, g):\n"
        "    rows = []\n"
        "    for s_n, g_n in zip(s, g):\n"
        "        e = np.exp(s_n - s_n.max())\n"
        "        p = e / e.sum()\n"
        "        rows.append(g_n @ (np.diag(p) - np.outer(p, p)))  # builds the C x C Jacobian\n"
        "    return np.array(rows)\n"))
    subs["dan_unstable_softmax"] = edit(ok, "softmax_jacobian_solution",
                                        replace("e = np.exp(s - np.max(s))", "e = np.exp(s)"))
    subs["eli_sign_error"] = edit(ok, "tensor_solution", replace("dJ_dz = -eps", "dJ_dz = eps"))
    subs["fay_delegates"] = edit(ok, "tanh_jacobian_solution", lambda src: (
        "from coursekit.gradcheck import numerical_jacobian\n\n"
        "def tanh_jacobian(s):\n"
        "    return numerical_jacobian(np.tanh, np.array(s, dtype=float))\n"))
    subs["gus_tampers"] = edit(_load("assignments", "A1"), "tanh_jacobian_solution", prepend(TAMPER))
    subs["hal_a2_notebook"] = correct("A2")
    return subs


def write_notebook(obj, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(obj, bytes):
        with open(path, "wb") as fh:
            fh.write(obj)
    else:
        nbformat.write(obj, path)


def write_class() -> None:
    for student, nb in a2_class().items():
        name = "my_homework.ipynb" if student == "rita_renamed" else "A2.ipynb"
        write_notebook(nb, os.path.join(HERE, "A2", "submitted", student, "A2", name))
    for student, nb in a1_class().items():
        write_notebook(nb, os.path.join(HERE, "A1", f"{student}.ipynb"))


if __name__ == "__main__":
    write_class()
