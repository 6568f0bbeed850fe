"""Regenerate the A5 sample class: PCA, dropout and a linear autoencoder.

    python examples/class/class_a5.py

Writes examples/class/A5/<student>.ipynb (a flat folder). Every submission is
the student release (assignments/A5/A5.ipynb) with the answers of
solutions/A5 filled in, then changed the way a student -- or someone after
points without the work -- would: the typical PCA and dropout mistakes, a
transcription of the book's autoencoder gradients where the assignment asks
for a relative, a derivation slip, delegation to coursekit, PCA returned in
place of training, an endless loop. ``expected_a5.csv`` lists the score and
the reason each must get at ``--cell-timeout 3 --time-limit 15``. Run it again
after changing A5 (a replacement that no longer matches the solution raises).
"""
from __future__ import annotations

import os
import shutil

from make_class import HERE, correct, edit, load, prepend, replace, write_notebook

PCA_SHORTCUT = '''
def train_autoencoder(X, M, lr, steps, seed):
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    W1 = 0.1 * rng.standard_normal((M, d))
    W2 = 0.1 * rng.standard_normal((d, M))
    if steps == 0:
        return {"W1": W1, "b1": np.zeros(M), "W2": W2, "b2": np.zeros(d)}
    # "training": PCA's eigenvectors, computed directly with NumPy
    mean = X.mean(axis=0)
    values, vectors = np.linalg.eigh((X - mean).T @ (X - mean) / X.shape[0])
    U = vectors[:, ::-1][:, :M]
    return {"W1": U.T, "b1": np.zeros(M), "W2": U, "b2": mean}
'''

DELEGATES = '''
def pca_eig(X, M):
    from coursekit.pca import pca as _reference
    result = _reference(X, M, method="eig")
    return result.components.T, result.eigenvalues
'''


def a5_class() -> dict:
    ok = correct("A5")
    return {
        "ada_correct": ok,
        "ben_blank": load("assignments", "A5"),
        # the typical PCA mistakes: each loses Part 1 (3 points) and nothing else
        "cal_uncentred": edit(ok, "pca_eig_solution", replace(
            ("Xc = X - X.mean(axis=0)", "Xc = X  # not centred"))),
        "dee_divides_by_n_minus_1": edit(ok, "pca_eig_solution", replace(
            ("S = Xc.T @ Xc / n", "S = Xc.T @ Xc / (n - 1)"))),
        "eve_rows_as_eigenvectors": edit(ok, "pca_eig_solution", replace(
            ("U = vectors[:, order]", "U = vectors[order].T  # rows of eigh's output"))),
        # the N < D trick without the normalisation: Part 2 (2 points)
        "fay_gram_unnormalised": edit(ok, "pca_gram_solution", replace(
            ("U = Xc.T @ V / np.sqrt(n * lam)", "U = Xc.T @ V"))),
        # the N < D trick skipped: the D = 20 000 hidden case does not fit in memory
        "gil_gram_forms_covariance": edit(ok, "pca_gram_solution", lambda src: (
            "def pca_gram(X, M):\n    return pca_eig(X, M)  # the D x D covariance after all\n")),
        # dropout: Part 4 (2 points)
        "hal_dropout_no_rescaling": edit(ok, "dropout_solution", replace(
            ("mask = (rng.random(x.shape) >= p) / (1.0 - p)", "mask = (rng.random(x.shape) >= p) * 1.0"))),
        "ian_dropout_at_test_time": edit(ok, "dropout_solution", replace(
            ("    if not train:\n        return x.copy(), None\n", ""))),
        # issue 15: the book's gradients (encoder sees x) transcribed for this autoencoder (encoder sees x - b2)
        "jo_book_gradients": edit(ok, "autoencoder_solution", replace(
            ('"W1": dZ.T @ C', '"W1": dZ.T @ X'), ("G.sum(axis=0) - W1.T @ db1", "G.sum(axis=0)"))),
        # a derivation slip: the path of b2 through C = X - b2 added with the wrong sign
        "kai_b2_sign": edit(ok, "autoencoder_solution", replace(
            ("G.sum(axis=0) - W1.T @ db1", "G.sum(axis=0) + W1.T @ db1"))),
        # the loss averaged over all N * D entries: Part 5, and training (a D times smaller step) too
        "lea_mean_over_entries": edit(ok, "autoencoder_solution", replace(
            ("J = float(np.sum(R * R) / n)", "J = float(np.mean(R * R))"),
            ("G = 2.0 * R / n", "G = 2.0 * R / R.size"))),
        "max_delegates": edit(ok, "pca_eig_solution", lambda src: DELEGATES.strip("\n") + "\n"),
        "ned_pca_in_place_of_training": edit(ok, "training_solution", lambda src: PCA_SHORTCUT.strip("\n") + "\n"),
        "ola_infinite_loop": edit(ok, "dropout_solution", prepend("while True:\n    pass")),
    }


def write_class() -> None:
    folder = os.path.join(HERE, "A5")
    shutil.rmtree(folder, ignore_errors=True)
    for student, nb in a5_class().items():
        write_notebook(nb, os.path.join(folder, f"{student}.ipynb"))


if __name__ == "__main__":
    write_class()
