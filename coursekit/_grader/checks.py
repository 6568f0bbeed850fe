"""The checks behind every graded test cell of the assignments.

A check is split in three so that the grade never depends on the student's
process:

``cases()``            the inputs, plain arrays, made by the grader;
``call(fns, inputs)``  calls the student's functions and returns their raw
                       outputs as arrays -- the only part that runs next to
                       student code;
``judge(inputs, out)`` recomputes the answer with coursekit's reference
                       implementation and compares; runs in the grader.

In a notebook, :func:`coursekit.grading.check` runs all three in the kernel
(quick feedback).  ``coursekit grade`` runs ``call`` in a fresh sandboxed
process and ``judge`` in the instructor's process (the verdict that counts).

The name of a check is the nbgrader ``grade_id`` of the test cell that runs it.

The cases of a *hidden* check (a test cell inside ``### BEGIN HIDDEN TESTS``)
are not in this package, which students install: they live with the
instructor's solutions, in ``solutions/_hidden/<assignment>.py`` (one function
per hidden check, named after it), and are read from the course root when the
grader asks for them (:class:`HiddenCases`).  Only ``call`` and ``judge`` of a
hidden check are here; the sandboxed child never needs its cases, it reads the
inputs as data.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from coursekit import functional as F
from coursekit.grading import describe_mismatch, digits_split

Inputs = dict  # str -> np.ndarray


@dataclass(frozen=True)
class Check:
    assignment: str
    name: str
    functions: tuple
    cases: Callable[[], list]  # -> [(case description, Inputs)]; HiddenCases for a hidden check
    call: Callable[[dict, Inputs], dict]  # (student functions, inputs) -> raw outputs
    judge: Callable[[Inputs, dict], list]  # (inputs, outputs) -> list of problems
    time_limit: float = 10.0  # seconds for all cases in the sandbox (capped by the cell timeout)
    # reference modules the student's functions may call during this check; the
    # sandbox switches every other use of them off (coursekit._grader.child)
    allowed_modules: tuple = ()

    @property
    def hidden(self) -> bool:
        """True for a hidden test, whose cases only the instructor's course root has."""
        return isinstance(self.cases, HiddenCases)


class HiddenTestsUnavailable(RuntimeError):
    """The cases of a hidden test were asked for where the instructor's files are not."""


HIDDEN_FOLDER = "_hidden"  # inside solutions/: nbgrader copies files of solutions/<A>/ into the release


def hidden_cases_path(assignment: str, solutions_dir: str | None = None) -> str:
    """``<solutions>/_hidden/<assignment>.py``, where ``solutions`` is ``solutions_dir`` if given.

    Else the course root's ``solutions/``: $COURSEKIT_COURSE_ROOT, else the
    current folder if it holds ``solutions/``, else the repository next to this
    package (:func:`coursekit._grader.course.repo_root`); failing those, the
    first folder above the current one that has the file (an instructor's
    kernel started in ``solutions/A2/``).
    """
    if solutions_dir is not None:
        return os.path.join(os.path.abspath(solutions_dir), HIDDEN_FOLDER, f"{assignment}.py")
    from coursekit._grader.course import repo_root

    default = os.path.join(repo_root(), "solutions", HIDDEN_FOLDER, f"{assignment}.py")
    if os.path.isfile(default) or os.environ.get("COURSEKIT_COURSE_ROOT"):
        return default
    here = os.getcwd()
    while True:
        candidate = os.path.join(here, "solutions", HIDDEN_FOLDER, f"{assignment}.py")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return default
        here = parent


_HIDDEN_MODULES: dict = {}  # path -> ((mtime_ns, size), module)


def _hidden_module(path: str):
    """The instructor's hidden-cases file at ``path``, imported once (again if it changes)."""
    st = os.stat(path)
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _HIDDEN_MODULES.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    name = "_coursekit_hidden_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _HIDDEN_MODULES[path] = (stamp, module)
    return module


@dataclass(frozen=True)
class HiddenCases:
    """``cases`` of a hidden check: the function ``name`` of ``solutions/_hidden/<assignment>.py``.

    Called with no argument it looks in the course root's ``solutions/``
    (see :func:`hidden_cases_path`); the grader passes nbgrader's source folder.
    Raises :class:`HiddenTestsUnavailable` where the file is missing, e.g. on
    a student's machine.
    """

    assignment: str
    name: str

    def __call__(self, solutions_dir: str | None = None) -> list:
        path = hidden_cases_path(self.assignment, solutions_dir)
        if not os.path.isfile(path):
            raise HiddenTestsUnavailable(
                f"{self.assignment} {self.name} is a hidden test: its cases are only available to "
                f"the instructor (not found: {path}; an instructor sets --course-root or "
                "$COURSEKIT_COURSE_ROOT to the folder holding solutions/)")
        make = getattr(_hidden_module(path), self.name, None)
        if not callable(make):
            raise HiddenTestsUnavailable(f"{path} defines no function {self.name}() for the hidden "
                                         f"test {self.assignment} {self.name}")
        return make()


def cases_of(check: "Check", solutions_dir: str | None = None) -> list:
    """The cases of ``check``; a hidden check's are read from ``solutions_dir`` (see HiddenCases)."""
    if isinstance(check.cases, HiddenCases):
        return check.cases(solutions_dir)
    return check.cases()


_REGISTRY: dict = {}


def register(check: Check) -> Check:
    _REGISTRY[(check.assignment, check.name)] = check
    return check


def _load(assignment: str) -> None:
    """Import ``coursekit._grader.checks_<assignment>`` (e.g. checks_a3), if it exists.

    A1 and A2 are defined below; later assignments keep their checks in a module
    of their own, which registers them when imported.
    """
    import importlib

    modname = f"{__package__}.checks_{assignment.lower()}"
    if modname in sys.modules:
        return
    try:
        importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name != modname:
            raise


def get(assignment: str, name: str) -> Check:
    _load(assignment)
    try:
        return _REGISTRY[(assignment, name)]
    except KeyError:
        raise KeyError(f"no check named {name!r} for assignment {assignment!r}; "
                       f"known: {sorted(n for a, n in _REGISTRY if a == assignment)}") from None


def for_assignment(assignment: str) -> dict:
    """name -> Check for every check of ``assignment``."""
    _load(assignment)
    return {n: c for (a, n), c in _REGISTRY.items() if a == assignment}


def functions_checked(assignment: str) -> set:
    return {f for c in for_assignment(assignment).values() for f in c.functions}


def run_in_process(check: Check, namespace: dict) -> list:
    """Run every case of ``check`` here (the notebook's kernel); return the problems.

    A hidden check raises :class:`HiddenTestsUnavailable` where its cases are not.
    """
    cases = cases_of(check)
    missing = [f for f in check.functions if not callable(namespace.get(f))]
    if missing:
        return [f"function {', '.join(missing)} is not defined (run the cell that defines it)"]
    fns = {f: namespace[f] for f in check.functions}
    problems = []
    for desc, inputs in cases:
        try:
            outputs = check.call(fns, {k: v.copy() for k, v in inputs.items()})
        except Exception as exc:  # noqa: BLE001 - the student's error is the message
            problems.append(f"case {desc}: {type(exc).__name__}: {exc}")
            continue
        problems += [f"case {desc}: {p}" for p in judge_outputs(check, inputs, outputs)]
    return problems


def judge_outputs(check: Check, inputs: Inputs, outputs: dict) -> list:
    """``check.judge`` made robust to any output (a wrong type must not crash the grader)."""
    try:
        return check.judge(inputs, outputs)
    except Exception as exc:  # noqa: BLE001
        return [f"outputs could not be compared ({type(exc).__name__}: {exc})"]


# ---------------------------------------------------------------------------
# small helpers shared by the checks
# ---------------------------------------------------------------------------
def _unpack(result, n: int, what: str):
    """``result`` as a tuple of length ``n``, or a TypeError that says what was expected."""
    if not isinstance(result, tuple) or len(result) != n:
        got = f"a tuple of length {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise TypeError(f"{what} must return a tuple of {n} values, got {got}")
    return result


def _views(inputs: Inputs) -> Inputs:
    """Turn the ``*_wide``/``*_t`` inputs into the non-contiguous views they stand for.

    A ``.npz`` file only holds contiguous arrays, so a case that tests strided
    input stores ``x_wide`` (the left half of its columns is the real ``x``, the
    right half junk; for a vector, every other entry) or ``W_t`` (the transpose
    of the real ``W``) and both sides rebuild the same view.  A left-half view
    cannot be flattened without a copy, the trap of ``x.reshape(-1)``.
    """
    out = {}
    for key, value in inputs.items():
        if key.endswith("_wide") and value.ndim >= 2:
            out[key[:-5]] = value[..., : value.shape[-1] // 2]  # rows are not evenly strided
        elif key.endswith("_wide"):
            out[key[:-5]] = value[::2]
        elif key.endswith("_t"):
            out[key[:-2]] = value.T
        else:
            out[key] = value
    return out


def _strided(data: np.ndarray, rng) -> np.ndarray:
    """The ``*_wide`` array whose view (see :func:`_views`) is ``data``; junk elsewhere."""
    if data.ndim == 1:
        wide = rng.standard_normal(2 * data.size)
        wide[::2] = data
    else:
        wide = rng.standard_normal(data.shape[:-1] + (2 * data.shape[-1],))
        wide[..., : data.shape[-1]] = data
    return wide


def _compare_all(pairs, right_names=True) -> list:
    """pairs: [(name, actual, expected)] -> one problem string (or none)."""
    problems, right = [], []
    for name, act, exp in pairs:
        p = describe_mismatch(name, act, exp)
        (problems.append(p) if p else right.append(name))
    if not problems:
        return []
    ok = f" (correct: {', '.join(right)})" if right and right_names else ""
    return ["; ".join(problems) + ok]


# ---------------------------------------------------------------------------
# A2: backpropagation for a two-layer network
# ---------------------------------------------------------------------------
def _linear_case(rng, n, d, m, contiguous=True):
    x = rng.standard_normal((n, d))
    W = rng.standard_normal((m, d))
    case = {"b": rng.standard_normal(m), "dout": rng.standard_normal((n, m))}
    if contiguous:
        case.update(x=x, W=W)
    else:
        case.update(x_wide=_strided(x, rng), W_t=np.ascontiguousarray(W.T))
    return case


def _linear_cases_visible():
    return [("x (4, 3), W (5, 3)", _linear_case(np.random.default_rng(0), 4, 3, 5))]


def _linear_call(fns, inputs):
    v = _views(inputs)
    out, cache = _unpack(fns["linear_forward"](v["x"], v["W"], v["b"]), 2,
                         "linear_forward(x, W, b)")
    dx, dW, db = _unpack(fns["linear_backward"](v["dout"], cache), 3,
                         "linear_backward(dout, cache)")
    return {"out": out, "dx": dx, "dW": dW, "db": db}


def _linear_judge(inputs, outputs):
    v = _views(inputs)
    out, cache = F.linear_forward(v["x"], v["W"], v["b"])
    dx, dW, db = F.linear_backward(v["dout"], cache)
    return _compare_all([("out", outputs.get("out"), out), ("dx", outputs.get("dx"), dx),
                         ("dW", outputs.get("dW"), dW), ("db", outputs.get("db"), db)])


for _name, _cases in (("linear_visible", _linear_cases_visible),
                      ("linear_hidden", HiddenCases("A2", "linear_hidden"))):
    register(Check("A2", _name, ("linear_forward", "linear_backward"), _cases,
                   _linear_call, _linear_judge))


def _relu_cases_visible():
    rng = np.random.default_rng(1)
    return [("x (4, 5)", {"x": rng.standard_normal((4, 5)), "dout": rng.standard_normal((4, 5))})]


def _relu_call(fns, inputs):
    v = _views(inputs)
    out, cache = _unpack(fns["relu_forward"](v["x"]), 2, "relu_forward(x)")
    dx = fns["relu_backward"](v["dout"], cache)
    return {"out": out, "dx": dx}


def _relu_judge(inputs, outputs):
    v = _views(inputs)
    out, cache = F.relu_forward(v["x"])
    dx = F.relu_backward(v["dout"], cache)
    return _compare_all([("out", outputs.get("out"), out), ("dx", outputs.get("dx"), dx)])


for _name, _cases in (("relu_visible", _relu_cases_visible), ("relu_hidden", HiddenCases("A2", "relu_hidden"))):
    register(Check("A2", _name, ("relu_forward", "relu_backward"), _cases, _relu_call, _relu_judge))


def _softmax_cases_visible():
    rng = np.random.default_rng(2)
    return [("scores (5, 4)", {"scores": rng.standard_normal((5, 4)),
                               "y": rng.integers(0, 4, size=5)})]


def _softmax_call(fns, inputs):
    v = _views(inputs)
    loss, dscores = _unpack(fns["softmax_cross_entropy"](v["scores"], v["y"]), 2,
                            "softmax_cross_entropy(scores, y)")
    return {"loss": np.asarray(loss, dtype=np.float64) if np.isscalar(loss) else loss,
            "dscores": dscores}


def _softmax_judge(inputs, outputs):
    v = _views(inputs)
    loss, dscores = F.softmax_cross_entropy(v["scores"], v["y"])
    act_loss = outputs.get("loss")
    if act_loss is not None and np.size(act_loss) == 1:
        act_loss = np.asarray(act_loss, dtype=np.float64).reshape(())
    return _compare_all([("loss", act_loss, np.asarray(loss)),
                         ("dscores", outputs.get("dscores"), dscores)])


for _name, _cases in (("softmax_visible", _softmax_cases_visible),
                      ("softmax_hidden", HiddenCases("A2", "softmax_hidden"))):
    register(Check("A2", _name, ("softmax_cross_entropy",), _cases, _softmax_call, _softmax_judge))


PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _two_layer_case(rng, n, d, h, c, lam):
    return {"X": rng.standard_normal((n, d)), "y": rng.integers(0, c, size=n),
            "W1": 0.5 * rng.standard_normal((h, d)), "b1": 0.1 * rng.standard_normal(h),
            "W2": 0.5 * rng.standard_normal((c, h)), "b2": 0.1 * rng.standard_normal(c),
            "lam": np.array(lam)}


def _two_layer_cases_visible():
    return [("N=5, D=4, H=6, C=3, lam=0.1", _two_layer_case(np.random.default_rng(3), 5, 4, 6, 3, 0.1))]


def _two_layer_call(fns, inputs):
    params = {k: inputs[k] for k in PARAM_NAMES}
    loss, grads = _unpack(fns["two_layer_loss"](params, inputs["X"], inputs["y"],
                                                float(inputs["lam"])),
                          2, "two_layer_loss(params, X, y, lam)")
    if not isinstance(grads, dict):
        raise TypeError(f"two_layer_loss must return grads as a dict, got {type(grads).__name__}")
    out = {"loss": np.asarray(loss, dtype=np.float64) if np.isscalar(loss) else loss}
    out.update({f"d{k}": grads[k] for k in PARAM_NAMES if k in grads})
    return out


def two_layer_reference(params: dict, X, y, lam: float):
    """Loss and gradients of ReLU(X W1^T + b1) W2^T + b2 -> softmax cross-entropy + L2.

    J = CE + lam (||W1||^2 + ||W2||^2); returns (J, {"W1": ..., "b1": ..., "W2": ..., "b2": ...}).
    """
    s1, c1 = F.linear_forward(X, params["W1"], params["b1"])
    h, c2 = F.relu_forward(s1)
    s2, c3 = F.linear_forward(h, params["W2"], params["b2"])
    loss, ds2 = F.softmax_cross_entropy(s2, y)
    dh, dW2, db2 = F.linear_backward(ds2, c3)
    _, dW1, db1 = F.linear_backward(F.relu_backward(dh, c2), c1)
    W1, W2 = params["W1"], params["W2"]
    loss += lam * (np.sum(W1 * W1) + np.sum(W2 * W2))
    return loss, {"W1": dW1 + 2 * lam * W1, "b1": db1, "W2": dW2 + 2 * lam * W2, "b2": db2}


def _two_layer_judge(inputs, outputs):
    params = {k: inputs[k] for k in PARAM_NAMES}
    loss, grads = two_layer_reference(params, inputs["X"], inputs["y"], float(inputs["lam"]))
    act_loss = outputs.get("loss")
    if act_loss is not None and np.size(act_loss) == 1:
        act_loss = np.asarray(act_loss, dtype=np.float64).reshape(())
    pairs = [("loss", act_loss, np.asarray(loss))]
    pairs += [(f"grads['{k}']", outputs.get(f"d{k}"), grads[k]) for k in PARAM_NAMES]
    return _compare_all(pairs)


for _name, _cases in (("two_layer_visible", _two_layer_cases_visible),
                      ("two_layer_hidden", HiddenCases("A2", "two_layer_hidden"))):
    register(Check("A2", _name, ("two_layer_loss",), _cases, _two_layer_call, _two_layer_judge))


def _test_function(A, c):
    """f(x) = sum(A sin x) + c/2 sum(x^2), a scalar; its gradient is A cos x + c x."""
    return lambda x: float(np.sum(A * np.sin(x)) + 0.5 * c * np.sum(x * x))


def _numgrad_cases_visible():
    rng = np.random.default_rng(4)
    return [("x (5,)", {"x": rng.standard_normal(5), "A": rng.standard_normal(5), "c": np.array(0.5)})]


def _numgrad_call(fns, inputs):
    v = _views(inputs)
    x = v["x"]
    grad = fns["numerical_gradient"](_test_function(v["A"], float(v["c"])), x)
    return {"grad": grad, "x_after": np.array(x, copy=True)}


def _numgrad_judge(inputs, outputs):
    v = _views(inputs)
    exact = v["A"] * np.cos(v["x"]) + float(v["c"]) * v["x"]
    problems = []
    p = describe_mismatch("grad", outputs.get("grad"), exact, rtol=1e-5, atol=1e-7)
    if p:
        problems.append(p + " (compared with the exact gradient)")
    after = outputs.get("x_after")
    if after is None or np.shape(after) != v["x"].shape or not np.array_equal(after, v["x"]):
        problems.append("x was changed: numerical_gradient must restore every entry of x")
    return problems


for _name, _cases in (("numgrad_visible", _numgrad_cases_visible),
                      ("numgrad_hidden", HiddenCases("A2", "numgrad_hidden"))):
    register(Check("A2", _name, ("numerical_gradient",), _cases, _numgrad_call, _numgrad_judge))


REQUIRED_ACCURACY = 0.90


def _training_cases():
    X_train, y_train, X_val, y_val = digits_split(seed=0)
    return [("digits", {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val})]


def _training_call(fns, inputs):
    params = fns["train_two_layer"](inputs["X_train"], inputs["y_train"], inputs["X_val"],
                                    inputs["y_val"], 0)
    if not isinstance(params, dict):
        raise TypeError(f"train_two_layer must return a dict of parameters, got {type(params).__name__}")
    return {k: params[k] for k in PARAM_NAMES if k in params}


def validation_accuracy(params: dict, X, y) -> float:
    """Fraction of rows of X whose arg-max score ReLU(X W1^T + b1) W2^T + b2 equals y."""
    h, _ = F.relu_forward(F.linear_forward(X, params["W1"], params["b1"])[0])
    scores, _ = F.linear_forward(h, params["W2"], params["b2"])
    return float(np.mean(np.argmax(scores, axis=1) == y))


def _training_judge(inputs, outputs):
    missing = [k for k in PARAM_NAMES if k not in outputs]
    if missing:
        return [f"the returned dict lacks {', '.join(missing)}"]
    d, c = inputs["X_train"].shape[1], 10
    params = {k: np.asarray(outputs[k], dtype=np.float64) for k in PARAM_NAMES}
    h = params["W1"].shape[0] if params["W1"].ndim == 2 else -1
    want = {"W1": (h, d), "b1": (h,), "W2": (c, h), "b2": (c,)}
    bad = [f"{k} has shape {params[k].shape}, expected {want[k]}" for k in PARAM_NAMES
           if params[k].shape != want[k]]
    if bad:
        return ["; ".join(bad)]
    if not all(np.all(np.isfinite(p)) for p in params.values()):
        return ["the parameters contain NaN or inf (learning rate too large?)"]
    acc = validation_accuracy(params, inputs["X_val"], inputs["y_val"])
    if acc < REQUIRED_ACCURACY:
        return [f"validation accuracy {acc:.3f} is below the required {REQUIRED_ACCURACY:.2f}"]
    return []


# initialising the network with coursekit.init is allowed: this grades the training
register(Check("A2", "training", ("train_two_layer",), _training_cases, _training_call,
               _training_judge, time_limit=40.0, allowed_modules=("coursekit.init",)))


# ---------------------------------------------------------------------------
# A1: Jacobians and the chain rule
#
# The expected Jacobians are built from coursekit's reference backward passes
# (a Jacobian's row i is the vector-Jacobian product with the unit vector e_i),
# and the tensor of the squared-loss example from coursekit's numerical
# Jacobian, so the grader relies on no formula the student is asked to derive.
# ---------------------------------------------------------------------------
def jacobian_from_vjp(vjp, n_out: int) -> np.ndarray:
    """Stack vjp(e_i) for every unit vector e_i of the output: the (n_out, n_in) Jacobian."""
    return np.stack([vjp(np.eye(n_out)[i]) for i in range(n_out)])


def _vector_cases_visible(seed, size=4):
    rng = np.random.default_rng(seed)
    return [(f"s ({size},)", {"s": rng.standard_normal(size)})]


def _vector_jacobian_check(function: str, forward, backward):
    """call and judge of a check of ``function(s) -> J``, the Jacobian of a map R^C -> R^C.

    The expected J is built from coursekit's reference pair (forward, backward),
    one vector-Jacobian product per output unit vector.
    """
    def call(fns, inputs):
        return {"J": fns[function](_views(inputs)["s"])}

    def judge(inputs, outputs):
        s = _views(inputs)["s"]
        _, cache = forward(s.reshape(1, -1))
        expected = jacobian_from_vjp(lambda e: backward(e.reshape(1, -1), cache)[0], s.size)
        return _compare_all([("J", outputs.get("J"), expected)])

    return call, judge


_tanh_call, _tanh_judge = _vector_jacobian_check("tanh_jacobian", F.tanh_forward, F.tanh_backward)
for _name, _cases in (("tanh_jacobian_visible", lambda: _vector_cases_visible(10)),
                      ("tanh_jacobian_hidden", HiddenCases("A1", "tanh_jacobian_hidden"))):
    register(Check("A1", _name, ("tanh_jacobian",), _cases, _tanh_call, _tanh_judge))


def _linear_jac_cases_visible():
    rng = np.random.default_rng(11)
    m, d = 3, 4
    return [(f"W ({m}, {d})", {"W": rng.standard_normal((m, d)), "x": rng.standard_normal(d),
                               "b": rng.standard_normal(m)})]


def _linear_jac_call(fns, inputs):
    v = _views(inputs)
    return {"J_x": fns["linear_jacobian_x"](v["W"], v["x"], v["b"]),
            "J_b": fns["linear_jacobian_b"](v["W"], v["x"], v["b"])}


def _linear_jac_judge(inputs, outputs):
    v = _views(inputs)
    W, x, b = v["W"], v["x"], v["b"]
    _, cache = F.linear_forward(x.reshape(1, -1), W, b)
    m = W.shape[0]
    J_x = jacobian_from_vjp(lambda e: F.linear_backward(e.reshape(1, -1), cache)[0][0], m)
    J_b = jacobian_from_vjp(lambda e: F.linear_backward(e.reshape(1, -1), cache)[2], m)
    return _compare_all([("J_x", outputs.get("J_x"), J_x), ("J_b", outputs.get("J_b"), J_b)])


for _name, _cases in (("linear_jacobian_visible", _linear_jac_cases_visible),
                      ("linear_jacobian_hidden", HiddenCases("A1", "linear_jacobian_hidden"))):
    register(Check("A1", _name, ("linear_jacobian_x", "linear_jacobian_b"), _cases,
                   _linear_jac_call, _linear_jac_judge))


_softmax_jac_call, _softmax_jac_judge = _vector_jacobian_check(
    "softmax_jacobian", F.softmax_forward, F.softmax_backward)


for _name, _cases in (("softmax_jacobian_visible", lambda: _vector_cases_visible(12)),
                      ("softmax_jacobian_hidden", HiddenCases("A1", "softmax_jacobian_hidden"))):
    register(Check("A1", _name, ("softmax_jacobian",), _cases, _softmax_jac_call, _softmax_jac_judge))


def _vjp_cases_visible():
    rng = np.random.default_rng(13)
    return [("s (3, 5)", {"s": rng.standard_normal((3, 5)), "g": rng.standard_normal((3, 5))})]


def _vjp_call(fns, inputs):
    v = _views(inputs)
    return {"ds": fns["softmax_vjp"](v["s"], v["g"])}


def _vjp_judge(inputs, outputs):
    v = _views(inputs)
    _, cache = F.softmax_forward(v["s"])
    return _compare_all([("ds", outputs.get("ds"), F.softmax_backward(v["g"], cache))])


for _name, _cases in (("softmax_vjp_visible", _vjp_cases_visible),
                      ("softmax_vjp_hidden", HiddenCases("A1", "softmax_vjp_hidden"))):
    register(Check("A1", _name, ("softmax_vjp",), _cases, _vjp_call, _vjp_judge))


def _tensor_cases_visible():
    rng = np.random.default_rng(14)
    m, d = 2, 3
    return [(f"W ({m}, {d})", {"W": rng.standard_normal((m, d)), "x": rng.standard_normal(d),
                               "y": rng.standard_normal(m)})]


def _tensor_call(fns, inputs):
    W, x, y = inputs["W"], inputs["x"], inputs["y"]
    return {"dz_dW": fns["dz_dW_tensor"](x, W.shape[0]),
            "dJ_dW": fns["squared_loss_grad_W"](W, x, y)}


def _tensor_judge(inputs, outputs):
    from coursekit.gradcheck import numerical_jacobian

    W, x, y = inputs["W"], inputs["x"], inputs["y"]
    m, d = W.shape
    # z = W x is linear in W: central differences are exact up to rounding
    tensor = numerical_jacobian(lambda w: w @ x, W.copy()).reshape(m, m, d)
    # J = 1/2 ||y - W x||^2: its gradient through the reference linear layer
    eps = y - W @ x
    _, lin_cache = F.linear_forward(x.reshape(1, -1), W, np.zeros(m))
    dJ_dW = F.linear_backward(-eps.reshape(1, -1), lin_cache)[1]
    return _compare_all([("dz_dW", outputs.get("dz_dW"), tensor),
                         ("dJ_dW", outputs.get("dJ_dW"), dJ_dW)])


for _name, _cases in (("tensor_visible", _tensor_cases_visible),
                      ("tensor_hidden", HiddenCases("A1", "tensor_hidden"))):
    register(Check("A1", _name, ("dz_dW_tensor", "squared_loss_grad_W"), _cases,
                   _tensor_call, _tensor_judge))
