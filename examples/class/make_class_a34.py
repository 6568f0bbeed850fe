"""Regenerate the sample submissions of A3 (batch norm) and A4 (initialisation, optimisers).

    python examples/class/make_class_a34.py

Each submission starts from the student release (assignments/<A>/<A>.ipynb),
gets every answer cell filled in from solutions/<A>/<A>.ipynb, and then the
one mistake a real student makes.  ``expected.csv`` lists the score and the
reason each must get (rows of assignments A3 and A4), with the limits of
``make grade-samples`` (``SAMPLE_LIMITS`` in the Makefile);
tests/test_assignments_a34.py grades them with ``coursekit grade`` and
compares.  Both use a flat folder, ``<A>/<student>.ipynb``.

Run it again after changing an assignment (a replacement that no longer
matches the solution raises), then check ``expected.csv``.
"""
from __future__ import annotations

import copy
import os

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def load(kind: str, assignment: str):
    return nbformat.read(os.path.join(ROOT, kind, assignment, f"{assignment}.ipynb"), as_version=4)


def by_id(nb) -> dict:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def correct(assignment: str):
    """The release notebook with every answer cell filled in from the solution (markers removed)."""
    release, solution = load("assignments", assignment), by_id(load("solutions", assignment))
    nb = copy.deepcopy(release)
    for gid, cell in by_id(nb).items():
        if cell.metadata["nbgrader"].get("solution"):
            cell.source = "\n".join(line for line in solution[gid].source.split("\n")
                                    if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    return nb


def edit(nb, grade_id: str, *pairs):
    """A copy of ``nb`` with each (old, new) replacement made in the cell ``grade_id``."""
    nb = copy.deepcopy(nb)
    cell = by_id(nb)[grade_id]
    for old, new in pairs:
        if old not in cell.source:
            raise ValueError(f"{old!r} not found in cell {grade_id}")
        cell.source = cell.source.replace(old, new)
    return nb


def a3_class() -> dict:
    ok = correct("A3")
    return {
        "ann_correct": ok,
        "bea_blank": load("assignments", "A3"),
        # the dJ/dmu path forgotten: dx = dxhat / sqrt(v + eps) + dJ/dv * 2 (s - mu) / N
        "cal_no_mean_term": edit(ok, "bn_backward_solution",
                                 ("dx = dxhat * inv_std + dvar * 2.0 * centred / n + dmu / n",
                                  "dx = dxhat * inv_std + dvar * 2.0 * centred / n")),
        # the momentum convention reversed: the batch gets weight m, the history 1 - m
        "dee_momentum_reversed": edit(ok, "bn_running_solution",
                                      ("new_mean = momentum * running_mean + (1 - momentum) * mu",
                                       "new_mean = (1 - momentum) * running_mean + momentum * mu"),
                                      ("new_var = momentum * running_var + (1 - momentum) * var",
                                       "new_var = (1 - momentum) * running_var + momentum * var")),
        # the unbiased variance (1 / (N - 1)) in the training-mode forward pass
        "eli_unbiased_variance": edit(ok, "bn_forward_solution",
                                      ("var = (centred ** 2).mean(axis=0)",
                                       "var = (centred ** 2).sum(axis=0) / (x.shape[0] - 1)")),
    }


def a4_class() -> dict:
    ok = correct("A4")
    return {
        "al_correct": ok,
        "bo_blank": load("assignments", "A4"),
        "cy_adam_no_bias_correction": edit(ok, "adam_solution",
                                           ("s_hat = s / (1 - beta1 ** t)", "s_hat = s"),
                                           ("r_hat = r / (1 - beta2 ** t)", "r_hat = r")),
        "di_he_with_xavier_factor": edit(ok, "he_solution",
                                         ("fan_in = shape[1]", "fan_out, fan_in = shape"),
                                         ("np.sqrt(2.0 / fan_in)", "np.sqrt(2.0 / (fan_in + fan_out))")),
        "ed_momentum_sign_flipped": edit(ok, "momentum_solution",
                                         ("v = alpha * state.get(\"v\", np.zeros_like(w)) - lr * dw",
                                          "v = alpha * state.get(\"v\", np.zeros_like(w)) + lr * dw")),
        # an equivalent formulation within the tolerance: full marks
        "flo_eps_inside_root": edit(ok, "rmsprop_solution",
                                    ("w = w - lr * dw / (np.sqrt(r) + eps)", "w = w - lr * dw / np.sqrt(r + eps)")),
        # the right variance from the wrong distribution: U(-a, a) with a = sqrt(3) sigma
        "gil_uniform_xavier": edit(ok, "xavier_solution",
                                   ("W = rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))",
                                    "a = np.sqrt(6.0 / (fan_in + fan_out))\n    W = rng.uniform(-a, a, size=shape)")),
        "iva_init_delegates": edit(ok, "he_solution",
                                   ("    fan_in = shape[1]\n",
                                    "    from coursekit.init import he_normal as _reference\n"
                                    "    return _reference(shape, rng)\n    fan_in = shape[1]\n")),
        "hu_delegates": edit(ok, "adam_solution",
                             ("    state = dict(state)\n    lr, eps",
                              "    from coursekit.optim import adam_update as _reference\n"
                              "    return _reference(w, dw, state)\n    state = dict(state)\n    lr, eps")),
    }


def write_class() -> list:
    written = []
    for assignment, subs in (("A3", a3_class()), ("A4", a4_class())):
        folder = os.path.join(HERE, assignment)
        os.makedirs(folder, exist_ok=True)
        for student, nb in subs.items():
            path = os.path.join(folder, f"{student}.ipynb")
            nbformat.write(nb, path)
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write_class():
        print(os.path.relpath(path, ROOT))
