"""Regenerate the sample class: submissions of every assignment, honest and hostile.

    python examples/class/make_class.py

Every submission starts from the student release (assignments/<A>/<A>.ipynb)
with the answer cells filled in from solutions/ and is then changed the way a
real student -- or an attacker -- would.  ``expected.csv`` lists the score and
the reason each must get at the limits of ``make grade-samples``
(``--cell-timeout 3 --time-limit 15``); tests/test_grading_e2e.py grades the
class with ``coursekit grade`` and compares.

A2 uses nbgrader's folder layout (A2/submitted/<student>/A2/A2.ipynb), the
others a flat folder of <student>.ipynb files, so both layouts are exercised.
Run this again after changing an assignment (a replacement that no longer
matches the solution raises), then check ``expected.csv``.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import os
import shutil
import unicodedata

import nbformat

from coursekit import functional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


# ---------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------
def load(kind: str, assignment: str):
    return nbformat.read(os.path.join(ROOT, kind, assignment, f"{assignment}.ipynb"), as_version=4)


def by_id(nb) -> dict:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def solution_code(source: str) -> str:
    return "\n".join(line for line in source.split("\n")
                     if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)


def correct(assignment: str):
    """The release notebook with every answer cell filled in from the solution."""
    release, solution = load("assignments", assignment), by_id(load("solutions", assignment))
    nb = copy.deepcopy(release)
    for gid, cell in by_id(nb).items():
        if cell.metadata["nbgrader"].get("solution"):
            cell.source = solution_code(solution[gid].source)
    return nb


def edit(nb, grade_id: str, fn):
    """A copy of ``nb`` with the cell ``grade_id``'s source changed by ``fn``."""
    nb = copy.deepcopy(nb)
    cell = by_id(nb)[grade_id]
    cell.source = fn(cell.source)
    return nb


def prepend(code: str):
    return lambda src: code.strip("\n") + "\n\n" + src


def append(code: str):
    return lambda src: src + "\n\n" + code.strip("\n")


def replace(*pairs):
    def fn(src):
        for old, new in pairs:
            if old not in src:
                raise ValueError(f"{old!r} not found in the cell")
            src = src.replace(old, new)
        return src
    return fn


def with_cell(nb, code: str, at: int | None = None):
    """A copy of ``nb`` with an extra code cell of the student's (at the end by default)."""
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(code.strip("\n"))
    cell.id = "extra-" + hashlib.sha256(code.encode()).hexdigest()[:8]  # the same file every time
    nb.cells.insert(len(nb.cells) if at is None else at, cell)
    return nb


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
'''

PRIVATE_COPY = '''
# hostile: load a private copy of coursekit's reference from its file
import importlib.util, os, coursekit
_spec = importlib.util.spec_from_file_location(
    "_reference", os.path.join(os.path.dirname(coursekit.__file__), "{module}.py"))
_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_reference)
'''

FORGE = '''
# hostile: write check answers of my own on the grader's channel
import sys
from coursekit.grading import protocol
_fd = int(sys.argv[-1])
for _seq in range(1, 80):
    protocol.write_frame(_fd, {"op": "check", "seq": _seq, "errors": []})
'''

HUGE_RECORD = '''
# hostile: announce a gigantic record on the grader's channel
import struct, sys, os
os.write(int(sys.argv[-1]), struct.pack(">4sIQ", b"CKG1", 100, 8 << 30))
'''

UNSTOPPABLE = '''
# an infinite loop that swallows every interrupt
while True:
    try:
        pass
    except BaseException:
        pass
'''


# ---------------------------------------------------------------------------
# the classes
# ---------------------------------------------------------------------------
def a1_class() -> dict:
    ok = correct("A1")
    return {
        "amy_correct": ok,
        "ben_blank": load("assignments", "A1"),
        "cat_dense_vjp": edit(ok, "log_softmax_vjp_solution", lambda src: (
            "def log_softmax_vjp(s, g):\n"
            "    rows = []\n"
            "    for s_n, g_n in zip(s, g):\n"
            "        e = np.exp(s_n - s_n.max())\n"
            "        p = e / e.sum()\n"
            "        rows.append(g_n @ (np.eye(len(p)) - p[None, :]))  # builds the C x C Jacobian\n"
            "    return np.array(rows)\n")),
        "dan_unstable_softmax": edit(ok, "log_softmax_jacobian_solution",
                                     replace(("e = np.exp(s - np.max(s))", "e = np.exp(s)"))),
        "eli_sign_error": edit(ok, "tensor_solution", replace(("dJ_dh = -eps", "dJ_dh = eps"))),
        "fay_delegates": edit(ok, "mish_jacobian_solution", lambda src: (
            "from coursekit.gradcheck import numerical_jacobian\n\n"
            "def mish_jacobian(s):\n"
            "    mish = lambda z: z * np.tanh(np.logaddexp(0.0, z))\n"
            "    return numerical_jacobian(mish, np.array(s, dtype=float))\n")),
        "gus_tampers": edit(load("assignments", "A1"), "mish_jacobian_solution", prepend(TAMPER)),
        "hal_a2_notebook": correct("A2"),
        # issue 15: the book's formula where the part asks for its relative, and a derivation slip
        "ian_book_softmax_jacobian": edit(ok, "log_softmax_jacobian_solution", replace((
            "return np.eye(len(s)) - p[None, :]",
            "return np.diag(p) - np.outer(p, p)  # chapter 2's softmax Jacobian"))),
        "jo_book_tensor": edit(ok, "tensor_solution", replace((
            'return np.einsum("ij,k->ijk", np.diag(slope), x)',
            'return np.einsum("ij,k->ijk", np.eye(len(slope)), x)  # chapter 2\'s tensor, without the tanh'))),
        "kim_mish_no_chain": edit(ok, "mish_jacobian_solution", replace((
            "return np.diag(t + s * sigmoid * (1.0 - t ** 2))",
            "return np.diag(t + s * (1.0 - t ** 2))  # the inner derivative (of softplus) forgotten"))),
    }


# file names a student's system can produce: accents in two Unicode normal forms
# (different files, the same name after normalisation), a very long name, spaces and emoji
ODD_NAMES = {
    "zoe_nfc": unicodedata.normalize("NFC", "Zoë Ångström"),
    "zoe_nfd": unicodedata.normalize("NFD", "Zoë Ångström"),
    "long_name": "Maximiliana-" + "x" * 180,
    "spaces_emoji": "my homework \U0001F600 (final) v2",
}


def a2_class() -> dict:
    ok = correct("A2")
    wrong = edit(ok, "prelu_solution", replace(("dx = dout * slope", "dx = dout")))
    wrong = edit(wrong, "linear_solution", replace(("db = dout2.sum(axis=0)", "db = dout2.mean(axis=0)")))
    wrong = edit(wrong, "training_solution", replace(("for _ in range(epochs):", "for _ in range(0):")))
    return {
        "alice_correct": ok,
        "bob_partial": edit(edit(ok, "prelu_solution",
                                 replace(("np.where(x > 0, 1.0, a)", "np.where(x >= 0, 1.0, a)"))),
                            "softmax_solution",
                            replace(("shifted = scores - scores.max(axis=1, keepdims=True)", "shifted = scores"))),
        "carol_blank": load("assignments", "A2"),
        "dave_transposed_dW": edit(ok, "linear_solution", replace(("dW = dout2.T @ x2", "dW = x2.T @ dout2"))),
        "eve_delegates": edit(ok, "linear_solution", lambda src: (
            "from coursekit.functional import linear_forward as _lf, linear_backward as _lb\n\n"
            "def linear_forward(x, W, b):\n    return _lf(x, W, b)\n\n"
            "def linear_backward(dout, cache):\n    return _lb(dout, cache)\n")),
        "mallory_tampers": edit(wrong, "linear_solution", prepend(TAMPER)),
        "trent_infinite_loop": edit(ok, "prelu_solution", prepend("while True:\n    pass")),
        "sybil_ignores_signals": edit(ok, "training_solution", prepend(
            "import signal\nfor _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):\n"
            "    signal.signal(_sig, signal.SIG_IGN)\n" + UNSTOPPABLE)),
        "zed_unstoppable_loop": edit(ok, "prelu_solution", prepend(UNSTOPPABLE)),
        "oscar_crashes_kernel": edit(ok, "softmax_solution", prepend("import os\nos._exit(1)")),
        "mike_memory_bomb": edit(ok, "numgrad_solution", prepend("hog = 'x' * (16 * 2**30)  # 16 GB at once")),
        "fred_fork_bomb": edit(ok, "numgrad_solution", prepend("import os\nwhile True:\n    os.fork()")),
        "hugo_huge_output": edit(ok, "training_solution", prepend(
            "for _ in range(2000):\n    print('x' * 1_000_000)")),
        "ivan_invalid_json": b'{"cells": [ {"cell_type": "code", "source": "oops' + b"\x00\xff",
        "dora_deleted_tests": drop_cells(ok, {"linear_hidden", "prelu_visible", "training"}),
        "ed_edited_tests": edit(edit(ok, "numgrad_visible", lambda src: "pass"), "numgrad_solution",
                                replace(("        x[index] = old\n", ""))),
        "sam_snoops": edit(ok, "numgrad_solution", prepend(
            "# hostile: read the instructor's files\n"
            f"print(open({os.path.join(ROOT, 'solutions', 'A2', 'A2.ipynb')!r}).read()[:100])")),
        "walt_writes_outside": edit(ok, "numgrad_solution", prepend(
            "# hostile: overwrite the gradebook\nopen('../../../gradebook.db', 'w').write('pwned')")),
        "rita_renamed": ok,  # stored under another file name, see write_class
        "lena_leaks_hidden_inputs": edit(edit(ok, "prelu_solution", replace(
            ("    x, a = cache\n", "    x, a = cache\n"
             "    if np.any(x == 0) or x.ndim == 3:  # only the hidden cases look like this\n"
             "        print('RELU-INPUT-LEAK', repr(x.tolist()))\n"))),
            "training_solution", append(
                "# hostile: print every file the grader gave this process\n"
                "import glob\nfor _path in sorted(glob.glob('/job/**', recursive=True)):\n"
                "    print(_path)")),
        "nina_wrong_assignment": correct("A1"),
        # issue 10: points without the work
        "pia_private_copy": edit(ok, "linear_solution", lambda src: PRIVATE_COPY.format(module="functional") + (
            "\ndef linear_forward(x, W, b):\n    return _reference.linear_forward(x, W, b)\n\n"
            "def linear_backward(dout, cache):\n    return _reference.linear_backward(dout, cache)\n")),
        "fox_forges_records": with_cell(edit(ok, "prelu_solution", replace(("dx = dout * slope", "dx = dout"))), FORGE),
        "cleo_reads_closure": edit(ok, "numgrad_solution", lambda src: (
            "def numerical_gradient(f, x, h=1e-5):\n"
            "    # hostile: the exact gradient from the test function's closure, no finite difference\n"
            "    cells = {name: c.cell_contents for name, c in zip(f.__code__.co_freevars, f.__closure__)}\n"
            "    A, B, c = cells['A'], cells['B'], cells['c']\n"
            "    return A / (1 + np.exp(-(A * x + B))) + c * x\n")),
        "pete_pastes_reference": edit(ok, "linear_solution", lambda src: pasted_reference()),
        "quin_edits_metadata": edited_metadata(ok),
        "yuri_huge_record": with_cell(ok, HUGE_RECORD),
        # issue 15: the book's formulas where the parts ask for their relatives, and a derivation slip
        "kai_book_linear": edit(ok, "linear_solution", replace(
            ("dW = dout2.T @ x2", "dW = dout.T @ x  # chapter 4's batch formula"),
            ("db = dout2.sum(axis=0)", "db = dout.sum(axis=0)"))),
        "lou_book_softmax_gradient": edit(ok, "softmax_solution", replace(
            ("dscores = (np.exp(log_p) - q) / n",
             "dscores = np.exp(log_p)\n    dscores[np.arange(n), y] -= 1  # chapter 4's p - y\n    dscores /= n"))),
        "max_prelu_da_every_entry": edit(ok, "prelu_solution", replace(
            ("da = (dout * np.minimum(x, 0))", "da = (dout * x)"))),
    }


def pasted_reference() -> str:
    """coursekit.functional's whole source pasted into the answer cell: it runs (its helper
    modules are allowed), scores full marks, and the similarity report flags it."""
    return inspect.getsource(functional).replace("from . import", "from coursekit import").replace(
        "from .", "from coursekit.")


def edited_metadata(nb):
    """Test cells turned into answer cells, an answer cell given points."""
    nb = copy.deepcopy(nb)
    cells = by_id(nb)
    cells["linear_visible"].metadata["nbgrader"].update(grade=False, solution=True)
    cells["prelu_hidden"].metadata["nbgrader"].update(solution=True)
    cells["softmax_solution"].metadata["nbgrader"].update(grade=True, points=5)
    return nb


def a3_class() -> dict:
    ok = correct("A3")
    return {
        "ann_correct": ok,
        "bea_blank": load("assignments", "A3"),
        # the dJ/dmu path forgotten
        "cal_no_mean_term": edit(ok, "bn_backward_solution", replace(
            ("dx = dxhat * inv_std + dvar * 2.0 * centred / n + dmu / n",
             "dx = dxhat * inv_std + dvar * 2.0 * centred / n"))),
        # the momentum convention reversed
        "dee_momentum_reversed": edit(ok, "bn_running_solution", replace(
            ("new_mean = momentum * running_mean + (1 - momentum) * mu",
             "new_mean = (1 - momentum) * running_mean + momentum * mu"),
            ("new_var = momentum * running_var + (1 - momentum) * var",
             "new_var = (1 - momentum) * running_var + momentum * var"))),
        # the unbiased variance (1 / (N - 1)) in the training-mode forward pass
        "eli_unbiased_variance": edit(ok, "bn_forward_solution", replace(
            ("var = (centred ** 2).mean(axis=0)", "var = (centred ** 2).sum(axis=0) / (x.shape[0] - 1)"))),
        # issue 10: a gradient check that reads the answer from the loss function
        "dina_reads_gradient": edit(ok, "gradcheck_solution", lambda src: (
            "def gradient_check(loss_fn, params, h=1e-5):\n"
            "    # hostile: compare the given gradient with the exact one, read from the closure\n"
            "    cells = {n: c.cell_contents for n, c in zip(loss_fn.__code__.co_freevars, loss_fn.__closure__)}\n"
            "    A, B, G = cells['A'], cells['B'], cells['G']\n"
            "    errors = {}\n"
            "    for k in params:\n"
            "        exact = A[k] * B[k] / (1 + np.exp(-B[k] * params[k]))\n"
            "        errors[k] = float(np.max(np.abs(G[k] - exact) / np.maximum(1e-8, np.abs(G[k]) + np.abs(exact))))\n"
            "    return errors\n")),
        # issue 10: no training at all
        "nell_no_training": edit(ok, "training_solution", replace(
            ("        for epoch in range(epochs):", "        for epoch in range(0):"))),
        # issue 15: layer norm's backward pass, derived wrong or transcribed from the book
        "fay_ln_no_mean_term": edit(ok, "ln_backward_solution", replace((LN_DX, LN_DX_NO_MEAN))),
        "gil_ln_book_bn_formula": edit(ok, "ln_backward_solution", replace((LN_DX, BOOK_BN_DX))),
        "hal_ln_batch_axis": edit(edit(ok, "ln_forward_solution", replace(
            ("mu = x.mean(axis=1, keepdims=True)", "mu = x.mean(axis=0, keepdims=True)"),
            ("var = (centred ** 2).mean(axis=1, keepdims=True)", "var = (centred ** 2).mean(axis=0, keepdims=True)"))),
            "ln_backward_solution", replace((LN_DX, BATCH_AXIS_DX))),
    }


# layer norm's dx in the solution, and three wrong ones
LN_DX = "dx = inv_std * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))"
# the derivation without the path through the example's mean
LN_DX_NO_MEAN = "dx = inv_std * (g - xhat * (g * xhat).mean(axis=1, keepdims=True))"
# the book's compact batch-norm formula (eq-ch07-compact-batch, coursekit's batchnorm_backward) pasted
# into layer norm: its sums run over the batch, not over the example's features
BOOK_BN_DX = ("n = xhat.shape[0]\n"
              "    dx = (inv_std / n) * (n * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0))")
# statistics over the batch axis in both passes: batch norm under layer norm's name
BATCH_AXIS_DX = "dx = inv_std * (g - g.mean(axis=0, keepdims=True) - xhat * (g * xhat).mean(axis=0, keepdims=True))"


def a4_class() -> dict:
    ok = correct("A4")
    return {
        "al_correct": ok,
        "bo_blank": load("assignments", "A4"),
        "cy_adam_no_bias_correction": edit(ok, "adam_solution", replace(
            ("s_hat = s / (1 - beta1 ** t)", "s_hat = s"), ("r_hat = r / (1 - beta2 ** t)", "r_hat = r"))),
        "di_he_with_xavier_factor": edit(ok, "he_solution", replace(
            ("fan_in = shape[1]", "fan_out, fan_in = shape"),
            ("np.sqrt(2.0 / fan_in)", "np.sqrt(2.0 / (fan_in + fan_out))"))),
        "ed_momentum_sign_flipped": edit(ok, "momentum_solution", replace(
            ("v = alpha * state.get(\"v\", np.zeros_like(w)) - lr * dw",
             "v = alpha * state.get(\"v\", np.zeros_like(w)) + lr * dw"))),
        # an equivalent formulation within the tolerance: full marks
        "flo_eps_inside_root": edit(ok, "rmsprop_solution", replace(
            ("w = w - lr * dw / (np.sqrt(r) + eps)", "w = w - lr * dw / np.sqrt(r + eps)"))),
        # the right variance from the wrong distribution
        "gil_uniform_xavier": edit(ok, "xavier_solution", replace(
            ("W = rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))",
             "a = np.sqrt(6.0 / (fan_in + fan_out))\n    W = rng.uniform(-a, a, size=shape)"))),
        "iva_init_delegates": edit(ok, "he_solution", replace(
            ("    fan_in = shape[1]\n", "    from coursekit.init import he_normal as _reference\n"
             "    return _reference(shape, rng)\n    fan_in = shape[1]\n"))),
        "hu_delegates": edit(ok, "adam_solution", replace(
            ("    state = dict(state)\n    lr, eps", "    from coursekit.optim import adam_update as _reference\n"
             "    return _reference(w, dw, state)\n    state = dict(state)\n    lr, eps"))),
        # issue 10: a private copy of coursekit.init, loaded from its file
        "ivy_private_init": edit(ok, "he_solution", lambda src: PRIVATE_COPY.format(module="init") + (
            "\ndef he_normal(shape, rng):\n    return _reference.he_normal(shape, rng)\n")),
        # issue 10: an experiment that never applies the update rule
        "omar_ignores_rule": edit(ok, "experiment_solution", replace(
            ("            params[name], states[name] = update(params[name], grads[name], states[name])",
             "            pass  # the update rule is never applied"))),
    }


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def write_notebook(obj, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(obj, bytes):
        with open(path, "wb") as fh:
            fh.write(obj)
    else:
        nbformat.write(obj, path)


def symlink(target: str, path: str) -> None:
    """A relative symbolic link at ``path`` (git stores it as a link)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(os.path.relpath(target, os.path.dirname(path)), path)


def write_a2(folder: str) -> None:
    sub = os.path.join(folder, "submitted")
    for student, nb in a2_class().items():
        name = "my_homework.ipynb" if student == "rita_renamed" else "A2.ipynb"
        write_notebook(nb, os.path.join(sub, student, "A2", name))
    ok = correct("A2")
    # issue 10: files that are links, and timestamps that are not times
    symlink(os.path.join(sub, "alice_correct", "A2", "A2.ipynb"), os.path.join(sub, "rosa_symlink", "A2", "A2.ipynb"))
    for student, stamp in (("tess_timestamp_link", None), ("uma_bad_timestamp", "last Tuesday, honest"),
                           ("vic_future_timestamp", "2199-01-01 00:00:00")):
        write_notebook(ok, os.path.join(sub, student, "A2", "A2.ipynb"))
        path = os.path.join(sub, student, "A2", "timestamp.txt")
        if stamp is None:
            symlink(os.path.join(ROOT, "solutions", "A2", "checks.py"), path)
        else:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(stamp + "\n")


def write_class() -> None:
    for assignment in ("A1", "A2", "A3", "A4"):
        shutil.rmtree(os.path.join(HERE, assignment), ignore_errors=True)
    write_a2(os.path.join(HERE, "A2"))
    flat = {"A1": a1_class(), "A3": a3_class(), "A4": a4_class()}
    ok = correct("A1")
    flat["A1"].update({name: ok for name in ODD_NAMES.values()})
    for assignment, subs in flat.items():
        for student, nb in subs.items():
            write_notebook(nb, os.path.join(HERE, assignment, f"{student}.ipynb"))
    symlink(os.path.join(ROOT, "solutions", "A1", "A1.ipynb"), os.path.join(HERE, "A1", "sid_symlink.ipynb"))


if __name__ == "__main__":
    write_class()
