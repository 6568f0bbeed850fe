"""Checks of assignment A5: PCA, dropout and a linear autoencoder.

Released with the notebook: each part says which of your functions are called,
on which visible cases, and how the results are judged.  The hidden cases are
not here (they are graded by your instructor).

- Principal directions are compared column by column after flipping the sign
  of each column to agree with the instructor's (an eigenvector is only
  defined up to its sign); eigenvalues are compared as they are.  The test
  data have well separated eigenvalues, so each direction is well defined.
- Dropout draws its mask from a Generator the grader makes from the case's
  seed (``generator(seed)`` below), so your mask and the instructor's are the
  same when both draw it as the text says.
- Training is judged against its own untrained start (``steps = 0``) and
  against the instructor's run of the same recipe: the decoder must turn from
  about 90 degrees to within 1 degree of PCA's subspace, the loss must fall,
  and the parameters must be the ones gradient descent reaches from the
  prescribed start.
"""
import numpy as np

from coursekit.grading.compare import describe_mismatch
from coursekit.grading.spec import Assignment, Case, Helper, Integer, Literal, Scalar, call, dict_of

A5 = Assignment("A5")

ATOL_UNIT = 1e-7  # entries of unit vectors: absolute tolerance after the sign flip


# ---------------------------------------------------------------------------
# Parts 1 and 2: principal directions, compared up to the sign of each column
# ---------------------------------------------------------------------------
def aligned(U, reference):
    """U with each column's sign flipped to agree with the same column of ``reference``."""
    signs = np.sign(np.sum(U * reference, axis=0))
    return U * np.where(signs == 0, 1.0, signs)


def covariance_of(X):
    """S = Xc^T Xc / N with Xc = X - mean (the convention of the text)."""
    Xc = X - X.mean(axis=0)
    return Xc.T @ Xc / X.shape[0]


def direction_hint(X, U, lam_expected):
    """Why the columns of U are wrong, when the test can say (it never says what is right)."""
    lengths = np.linalg.norm(U, axis=0)
    if not np.allclose(lengths, 1.0, rtol=1e-6):
        return (f" -- the columns of U are not unit vectors (lengths {np.round(lengths[:3], 4).tolist()}"
                f"{' ...' if len(lengths) > 3 else ''}): return unit eigenvectors")
    if X.shape[1] > 2000:  # S would be too large to form here
        return ""
    S = covariance_of(X)
    residual = np.linalg.norm(S @ U - U * lam_expected, axis=0) / max(1.0, float(np.max(np.abs(lam_expected))))
    if np.max(residual) > 1e-6:
        return (" -- the columns of U are not the eigenvectors of the covariance S = Xc^T Xc / N of the "
                "centred data that belong to the M largest eigenvalues (centred? columns, not rows? "
                "sorted by decreasing eigenvalue?)")
    return ""


def eigenvalue_hint(X, lam, expected):
    n = X.shape[0]
    if n > 1 and np.allclose(lam, expected * n / (n - 1), rtol=1e-6, atol=1e-9):
        return " -- they are N/(N-1) times too large: the text divides the covariance by N, not N - 1"
    if np.allclose(np.sort(lam), np.sort(expected), rtol=1e-6, atol=1e-9):
        return " -- the right values in the wrong order: sort by decreasing eigenvalue"
    return ""


def same_directions(inputs, outputs, expected):
    """U's columns equal the solution's up to sign; lam equal to the solution's."""
    X = np.asarray(inputs["X"], dtype=np.float64)
    U, lam = outputs.get("U"), outputs.get("lam")
    want_U, want_lam = expected["U"], expected["lam"]
    problems = []
    problem = describe_mismatch("U", U, want_U, atol=ATOL_UNIT, check_dtype=False)
    if problem and np.shape(U) == want_U.shape and np.all(np.isfinite(U)):
        U = np.asarray(U, dtype=np.float64)
        problem = describe_mismatch("U (each column's sign matched to the solution's)", aligned(U, want_U),
                                    want_U, atol=ATOL_UNIT, check_dtype=False)
        if problem:
            problem += direction_hint(X, U, want_lam)
    if problem:
        problems.append(problem)
    atol = 1e-9 * max(1.0, float(np.max(np.abs(want_lam))))
    problem = describe_mismatch("lam", lam, want_lam, atol=atol, check_dtype=False)
    if problem:
        if np.shape(lam) == want_lam.shape:
            problem += eigenvalue_hint(X, np.asarray(lam, dtype=np.float64), want_lam)
        problems.append(problem)
    return ["; ".join(problems)] if problems else []


def known_covariance_code(seed, n, d, spectrum, offset, *more):
    """Code of a visible case: data whose covariance (divided by N) is exactly R diag(spectrum) R^T,
    R: (D, K) with orthonormal columns, K = len(spectrum) <= N - 1; then the lines ``more``."""
    k = len(spectrum)
    return "\n".join([
        f"rng = np.random.default_rng({seed})",
        f"_A = rng.standard_normal(({n}, {k}))",
        "_Q = np.linalg.qr(_A - _A.mean(axis=0))[0]  # orthonormal columns of mean 0",
        f"_R = np.linalg.qr(rng.standard_normal(({d}, {k})))[0]  # orthonormal columns",
        f"_spectrum = np.array({list(spectrum)})",
        f"X = (_Q * np.sqrt({n} * _spectrum)) @ _R.T + {offset}",
        *more])


A5.part(
    "pca_eig", title="PCA by eigendecomposition",
    calls=[call("pca_eig", "X", Integer("M"), returns=("U", "lam"))],
    record=("U", "lam"),
    extra_judge=same_directions,
    visible=[Case("N=30, D=5, M=2, mean 3",
                  code=known_covariance_code(50, 30, 5, (4.0, 2.0, 1.0, 0.5, 0.25), 3.0, "M = 2"))],
)

A5.part(
    "pca_gram", title="PCA through the Gram matrix (N < D)",
    calls=[call("pca_gram", "X", Integer("M"), returns=("U", "lam"))],
    record=("U", "lam"),
    extra_judge=same_directions,
    visible=[Case("N=8, D=40, M=3, mean 1",
                  code=known_covariance_code(51, 8, 40, (5.0, 3.0, 2.0, 1.0, 0.6, 0.3, 0.1), 1.0, "M = 3"))],
)


# ---------------------------------------------------------------------------
# Part 3: projection, reconstruction, error
# ---------------------------------------------------------------------------
A5.part(
    "reconstruction", title="Projection, reconstruction and its error",
    calls=[call("project", "X", "U", "mean", returns="Z"),
           call("reconstruct", "Z", "U", "mean", returns="X_hat"),
           call("reconstruction_error", "X", "X_hat", returns="J")],
    compare=("Z", "X_hat", "J"),
    visible=[Case("N=20, D=5, U the 2 leading eigenvectors (discarded eigenvalues 1 + 0.5 + 0.25)",
                  code=known_covariance_code(52, 20, 5, (4.0, 2.0, 1.0, 0.5, 0.25), 3.0,
                                            "U = _R[:, :2]", "mean = X.mean(axis=0)"))],
)


# ---------------------------------------------------------------------------
# Part 4: dropout, with the grader's generator
# ---------------------------------------------------------------------------
def generator(seed):
    """The Generator dropout_forward receives: np.random.default_rng(seed)."""
    return np.random.default_rng(int(seed))


A5.part(
    "dropout", title="Inverted dropout, training and test mode",
    calls=[call("dropout_forward", "x", Scalar("p"), Helper(generator, (Integer("seed"),)), Literal(True),
                returns=("out", "cache")),
           call("dropout_backward", "dout", "cache", returns="dx"),
           call("dropout_forward", "x", Scalar("p"), Helper(generator, (Integer("seed"),)), Literal(False),
                returns=("out_test", "cache_test")),
           call("dropout_backward", "dout", "cache_test", returns="dx_test")],
    compare=("out", "dx", "out_test", "dx_test"),
    visible=[Case("x (4, 6), p = 0.5, seed 3", code="""
        rng = np.random.default_rng(53)
        x = rng.standard_normal((4, 6))
        dout = rng.standard_normal((4, 6))
        p, seed = 0.5, 3
        """)],
)


# ---------------------------------------------------------------------------
# Part 5: the linear autoencoder, compared with the solution (gradient-checked there)
# ---------------------------------------------------------------------------
PARAMS = ("W1", "b1", "W2", "b2")


def params_case_code(seed, n, d, m):
    return f"""
        rng = np.random.default_rng({seed})
        X = rng.standard_normal(({n}, {d})) + 2.0
        W1, b1 = 0.5 * rng.standard_normal(({m}, {d})), 0.5 * rng.standard_normal({m})
        W2, b2 = 0.5 * rng.standard_normal(({d}, {m})), 1.0 + rng.standard_normal({d})
        """


A5.part(
    "autoencoder", title="Linear autoencoder: forward, loss and backward",
    calls=[call("autoencoder_forward", "X", dict_of(*PARAMS), returns=("Z", "X_hat")),
           call("autoencoder_loss", dict_of(*PARAMS), "X", returns=("J", "grads"))],
    compare=("Z", "X_hat", "J", "grads"),
    visible=[Case("N=6, D=5, M=2, b2 != 0", code=params_case_code(54, 6, 5, 2))],
)


# ---------------------------------------------------------------------------
# Part 6: training -- credit for gradient descent reaching PCA's subspace
# ---------------------------------------------------------------------------
ANGLE_BOUND = 1.0  # degrees; the instructor's runs end 0.05-0.08 degrees from PCA's subspace
RECIPE_RTOL = 1e-6  # honest implementations of the recipe agree to about 1e-12


def largest_angle(A, B):
    """Largest principal angle (degrees) between the column spans of A: (D, M) and B: (D, M)."""
    qa = np.linalg.svd(A, full_matrices=False)[0]
    qb = np.linalg.svd(B, full_matrices=False)[0]
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.degrees(np.arccos(np.clip(cosines.min(), -1.0, 1.0))))


def loss_of(p, X):
    """J = (1/N) sum_n ||xhat_n - x_n||^2 of the forward map in the text."""
    X_hat = ((X - p["b2"]) @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]
    return float(np.sum((X_hat - X) ** 2) / X.shape[0])


def params_from(values, prefix, d, m):
    """({name: array}, problem) of the dict recorded under ``prefix`` (e.g. "start")."""
    shapes = {"W1": (m, d), "b1": (m,), "W2": (d, m), "b2": (d,)}
    p = {k: values.get(f"{prefix}.{k}") for k in PARAMS}
    missing = [k for k, v in p.items() if v is None]
    if missing:
        return None, f"{prefix}: the returned dict lacks {', '.join(missing)}"
    bad = [f"{k} has shape {np.shape(v)}, expected {shapes[k]}" for k, v in p.items() if np.shape(v) != shapes[k]]
    if bad:
        return None, f"{prefix}: " + "; ".join(bad)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
    if not all(np.all(np.isfinite(v)) for v in p.values()):
        return None, f"{prefix}: the parameters contain NaN or inf (a wrong gradient or step?)"
    if np.linalg.matrix_rank(p["W2"]) < m:
        return None, f"{prefix}: the columns of W2 are linearly dependent: they do not span an M-dimensional subspace"
    return p, ""


def recipe_difference(p, q):
    """Largest relative difference between two parameter dicts (biases relative to the weights' scale)."""
    scale = max(float(np.linalg.norm(q["W1"])), float(np.linalg.norm(q["W2"])), 1e-300)
    return max(float(np.linalg.norm(p[k] - q[k])) / max(float(np.linalg.norm(q[k])), 1e-3 * scale)
               for k in PARAMS)


def learned_pca_subspace(inputs, outputs, expected):
    """Start = the prescribed initialisation; end within ANGLE_BOUND of PCA's subspace with a lower
    loss; and the end is what gradient descent reaches from that start (the instructor's run of
    the same recipe).  Angles are measured against the instructor's trained decoder, which spans
    PCA's subspace to within 0.08 degrees on every case (0.052, 0.075 and 0.057 degrees; the
    notebook asserts it for the visible case): checks.py computes no PCA.  The prescribed start
    is 88.7-89.3 degrees from it."""
    X = np.asarray(inputs["X"], dtype=np.float64)
    d, m, steps = X.shape[1], int(np.asarray(inputs["M"])), int(np.asarray(inputs["steps"]))
    start, problem = params_from(outputs, "start", d, m)
    end, problem2 = params_from(outputs, "params", d, m)
    if problem or problem2:
        return [problem or problem2]
    want_start, _ = params_from(expected, "start", d, m)
    want_end, _ = params_from(expected, "params", d, m)
    pca_basis = want_end["W2"]
    if recipe_difference(start, want_start) > RECIPE_RTOL:
        return ["with steps = 0, train_autoencoder must return the prescribed start: W1 and then W2 drawn as "
                "0.1 * rng.standard_normal(shape) from np.random.default_rng(seed), biases zero"]
    angle0, angle1 = largest_angle(start["W2"], pca_basis), largest_angle(end["W2"], pca_basis)
    loss0, loss1 = loss_of(start, X), loss_of(end, X)
    summary = (f"largest principal angle to PCA's subspace {angle0:.1f} -> {angle1:.3f} degrees, measured "
               f"against the instructor's trained decoder; J {loss0:.4f} -> {loss1:.4f}")
    if not angle1 < ANGLE_BOUND:
        return [f"after {steps} steps the decoder is not within {ANGLE_BOUND:g} degree of PCA's subspace "
                f"({summary})"]
    if not loss1 < loss0:
        return [f"the loss did not fall ({summary})"]
    difference = recipe_difference(end, want_end)
    if difference > RECIPE_RTOL:
        return [f"the decoder spans PCA's subspace ({summary}), but the parameters are not those of {steps} "
                f"steps of gradient descent from the prescribed start (relative difference {difference:.1e}): "
                "the basis W2 depends on the path, so a decoder that was not trained by the recipe "
                "(PCA computed directly, another step size or loss) is not accepted"]
    return []


A5.part(
    "training", title="Gradient descent finds PCA's subspace",
    calls=[call("train_autoencoder", "X", Integer("M"), Scalar("lr"), Integer("no_steps"), Integer("seed"),
                returns="start"),
           call("train_autoencoder", "X", Integer("M"), Scalar("lr"), Integer("steps"), Integer("seed"),
                returns="params")],
    record=("start", "params"),
    extra_judge=learned_pca_subspace,
    time_limit=20.0,
    visible=[Case("500 centred digits, M = 2, lr 0.5, 200 steps, seed 0", code="""
        from coursekit.grading import digits_split
        _digits = digits_split(seed=0)[0][:500]
        X = _digits - _digits.mean(axis=0)
        M, lr, steps, seed, no_steps = 2, 0.5, 200, 0, 0
        """)],
)
