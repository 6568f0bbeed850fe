"""Checks of assignment A3: batch normalisation and a k-layer network.

Same three-part design as :mod:`coursekit._grader.checks`: ``cases`` (grader's
inputs; those of the hidden checks are in the instructor's
``solutions/_hidden/A3.py``), ``call`` (runs next to the student's code, returns raw arrays; it
must not call coursekit's reference modules, which are disabled there) and
``judge`` (recomputes with coursekit.functional in the grader's process).

Why the hidden cases look the way they do:

* the upstream gradient ``dout`` is random, never all ones: with dout = 1 the
  true dJ/dx of batch norm in training mode is exactly 0 (the output sums to a
  constant), so a backward pass that forgets the mean or variance path would
  pass such a test;
* tiny batches (N = 2 in training mode, N = 1 in test mode) and a constant
  feature (variance 0, where only eps keeps the division finite);
* the running averages follow coursekit.layers.BatchNorm:
  running = momentum * running + (1 - momentum) * batch statistic, with the
  biased (1/N) batch variance.
"""
from __future__ import annotations

import numpy as np

from coursekit import functional as F
from coursekit._grader.checks import Check, HiddenCases, _compare_all, _unpack, register
from coursekit.grading import describe_mismatch, digits_split

A = "A3"
EPS = 1e-5


def _as_float(value):
    return np.asarray(value, dtype=np.float64) if np.isscalar(value) else value


# ---------------------------------------------------------------------------
# Part 1: batch norm forward, training mode
# ---------------------------------------------------------------------------
def _bn_case(rng, n, d, constant=False, offset=0.0, scale=1.0):
    x = offset + scale * rng.standard_normal((n, d))
    if constant:
        x[:, 0] = 3.0  # a feature with variance 0
    return {"x": x, "gamma": 1 + 0.5 * rng.standard_normal(d), "beta": rng.standard_normal(d),
            "dout": rng.standard_normal((n, d))}


def _bn_cases_visible(seed=100):
    return [("x (6, 4)", _bn_case(np.random.default_rng(seed), 6, 4))]


def _bn_forward_call(fns, inputs):
    out, _ = _unpack(fns["batchnorm_forward"](inputs["x"], inputs["gamma"], inputs["beta"]), 2,
                     "batchnorm_forward(x, gamma, beta)")
    return {"out": out}


def _bn_forward_judge(inputs, outputs):
    out, _ = F.batchnorm_forward(inputs["x"], inputs["gamma"], inputs["beta"], eps=EPS)
    return _compare_all([("out", outputs.get("out"), out)])


for _name, _cases in (("bn_forward_visible", _bn_cases_visible),
                      ("bn_forward_hidden", HiddenCases(A, "bn_forward_hidden"))):
    register(Check(A, _name, ("batchnorm_forward",), _cases, _bn_forward_call, _bn_forward_judge))


# ---------------------------------------------------------------------------
# Part 2: test mode and running averages
# ---------------------------------------------------------------------------
def _test_case(rng, n, d, momentum, constant=False):
    case = _bn_case(rng, n, d)
    case["running_mean"] = rng.standard_normal(d)
    case["running_var"] = rng.uniform(0.2, 3.0, size=d)
    if constant:
        case["running_var"][0] = 0.0
        case["x"][:, 0] = 3.0
    case["momentum"] = np.array(momentum)
    return case


def _test_cases_visible():
    return [("x (5, 3), momentum 0.9", _test_case(np.random.default_rng(101), 5, 3, 0.9))]


def _test_call(fns, inputs):
    out = fns["batchnorm_test_forward"](inputs["x"], inputs["gamma"], inputs["beta"],
                                        inputs["running_mean"].copy(), inputs["running_var"].copy())
    if isinstance(out, tuple):  # (out, cache) is accepted too
        out = out[0]
    new_mean, new_var = _unpack(
        fns["update_running_averages"](inputs["running_mean"].copy(), inputs["running_var"].copy(),
                                       inputs["x"], float(inputs["momentum"])),
        2, "update_running_averages(running_mean, running_var, x, momentum)")
    return {"out": out, "running_mean": new_mean, "running_var": new_var}


def _test_judge(inputs, outputs):
    out, _ = F.batchnorm_forward(inputs["x"], inputs["gamma"], inputs["beta"], eps=EPS, train=False,
                                 running_mean=inputs["running_mean"], running_var=inputs["running_var"])
    _, cache = F.batchnorm_forward(inputs["x"], np.ones(inputs["x"].shape[1]),
                                   np.zeros(inputs["x"].shape[1]), eps=EPS)
    m = float(inputs["momentum"])
    mean = m * inputs["running_mean"] + (1 - m) * cache.mean
    var = m * inputs["running_var"] + (1 - m) * cache.var
    return _compare_all([("out (test mode)", outputs.get("out"), out),
                         ("new running_mean", outputs.get("running_mean"), mean),
                         ("new running_var", outputs.get("running_var"), var)])


for _name, _cases in (("bn_running_visible", _test_cases_visible),
                      ("bn_running_hidden", HiddenCases(A, "bn_running_hidden"))):
    register(Check(A, _name, ("batchnorm_test_forward", "update_running_averages"), _cases,
                   _test_call, _test_judge))


# ---------------------------------------------------------------------------
# Part 3: batch norm backward, training mode
# ---------------------------------------------------------------------------
def _bn_backward_call(fns, inputs):
    _, cache = _unpack(fns["batchnorm_forward"](inputs["x"], inputs["gamma"], inputs["beta"]), 2,
                       "batchnorm_forward(x, gamma, beta)")
    dx, dgamma, dbeta = _unpack(fns["batchnorm_backward"](inputs["dout"], cache), 3,
                                "batchnorm_backward(dout, cache)")
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def _bn_backward_judge(inputs, outputs):
    _, cache = F.batchnorm_forward(inputs["x"], inputs["gamma"], inputs["beta"], eps=EPS)
    dx, dgamma, dbeta = F.batchnorm_backward(inputs["dout"], cache)
    # a constant feature makes dx about dout / sqrt(eps) ~ 300 dout, while other
    # entries are O(1): the absolute tolerance scales with the largest entry
    atol = 1e-9 * max(1.0, float(np.max(np.abs(dx))))
    problems, right = [], []
    for name, exp in (("dx", dx), ("dgamma", dgamma), ("dbeta", dbeta)):
        p = describe_mismatch(name, outputs.get(name), exp, rtol=1e-6, atol=atol)
        (problems.append(p) if p else right.append(name))
    if not problems:
        return []
    hint = ""
    act = outputs.get("dx")
    if np.shape(act) == dx.shape and dx.shape[0] > 1 and "dx" not in right:
        diff = np.asarray(act, dtype=np.float64) - dx
        if np.all(np.isfinite(diff)) and np.allclose(diff, diff[:1], rtol=1e-6, atol=atol):
            hint = (" -- the error in dx is the same for every row of a column: a term shared by "
                    "the whole batch (through the batch mean) is missing or wrong")
    return ["; ".join(problems) + (f" (correct: {', '.join(right)})" if right else "") + hint]


def _bn_backward_cases_visible():
    return _bn_cases_visible(seed=102)


for _name, _cases in (("bn_backward_visible", _bn_backward_cases_visible),
                      ("bn_backward_hidden", HiddenCases(A, "bn_backward_hidden"))):
    register(Check(A, _name, ("batchnorm_forward", "batchnorm_backward"), _cases,
                   _bn_backward_call, _bn_backward_judge))


# ---------------------------------------------------------------------------
# Part 4: the k-layer network
# ---------------------------------------------------------------------------
def klayer_param_names(k: int, batch_norm: bool) -> list:
    names = []
    for layer in range(1, k + 1):
        names += [f"W{layer}", f"b{layer}"]
        if batch_norm and layer < k:
            names += [f"gamma{layer}", f"beta{layer}"]
    return names


def klayer_reference(params: dict, X, y, lam: float, batch_norm: bool):
    """Loss, gradients and batch statistics of the k-layer network, with coursekit.functional.

    For l = 1..k-1:  s_l = h_{l-1} W_l^T + b_l,  (BN: s_l <- gamma_l * normalise(s_l) + beta_l),
    h_l = ReLU(s_l); scores = h_{k-1} W_k^T + b_k; J = CE(scores, y) + lam * sum_l ||W_l||^2.
    Returns (J, grads, stats) with stats = {"mean<l>": batch mean, "var<l>": biased variance}
    of the pre-normalisation scores s_l (empty without batch norm).
    """
    k = sum(1 for name in params if name.startswith("W"))
    h, caches, stats = X, [], {}
    for layer in range(1, k):
        s, c_lin = F.linear_forward(h, params[f"W{layer}"], params[f"b{layer}"])
        c_bn = None
        if batch_norm:
            s, c_bn = F.batchnorm_forward(s, params[f"gamma{layer}"], params[f"beta{layer}"], eps=EPS)
            stats[f"mean{layer}"], stats[f"var{layer}"] = c_bn.mean, c_bn.var
        h, c_relu = F.relu_forward(s)
        caches.append((c_lin, c_bn, c_relu))
    scores, c_last = F.linear_forward(h, params[f"W{k}"], params[f"b{k}"])
    loss, dscores = F.softmax_cross_entropy(scores, y)
    grads = {}
    dh, grads[f"W{k}"], grads[f"b{k}"] = F.linear_backward(dscores, c_last)
    for layer in range(k - 1, 0, -1):
        c_lin, c_bn, c_relu = caches[layer - 1]
        ds = F.relu_backward(dh, c_relu)
        if batch_norm:
            ds, grads[f"gamma{layer}"], grads[f"beta{layer}"] = F.batchnorm_backward(ds, c_bn)
        dh, grads[f"W{layer}"], grads[f"b{layer}"] = F.linear_backward(ds, c_lin)
    for layer in range(1, k + 1):
        W = params[f"W{layer}"]
        loss += lam * float(np.sum(W * W))
        grads[f"W{layer}"] = grads[f"W{layer}"] + 2 * lam * W
    return loss, grads, stats


def _klayer_case(rng, n, sizes, lam, batch_norm):
    params = {}
    for layer, (d, m) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{layer}"] = rng.standard_normal((m, d)) * np.sqrt(2.0 / d)
        params[f"b{layer}"] = 0.1 * rng.standard_normal(m)
        if batch_norm and layer < len(sizes) - 1:
            params[f"gamma{layer}"] = 1 + 0.3 * rng.standard_normal(m)
            params[f"beta{layer}"] = 0.3 * rng.standard_normal(m)
    case = {f"p_{k}": v for k, v in params.items()}
    case.update(X=rng.standard_normal((n, sizes[0])), y=rng.integers(0, sizes[-1], size=n),
                lam=np.array(lam), batch_norm=np.array(batch_norm))
    return case


def _klayer_cases_visible():
    rng = np.random.default_rng(103)
    return [("k=3 with batch norm, N=6, sizes 4-5-6-3, lam=0.01",
             _klayer_case(rng, 6, [4, 5, 6, 3], 0.01, True))]


def _params_of(inputs):
    return {k[2:]: v for k, v in inputs.items() if k.startswith("p_")}


def _klayer_call(fns, inputs):
    params = {k: v.copy() for k, v in _params_of(inputs).items()}
    result = _unpack(fns["klayer_loss"](params, inputs["X"], inputs["y"], float(inputs["lam"]),
                                        bool(inputs["batch_norm"])),
                     3, "klayer_loss(params, X, y, lam, batch_norm)")
    loss, grads, stats = result
    if not isinstance(grads, dict) or not isinstance(stats, dict):
        raise TypeError("klayer_loss must return grads and stats as dicts, got "
                        f"{type(grads).__name__} and {type(stats).__name__}")
    out = {"loss": _as_float(loss)}
    out.update({f"g_{k}": v for k, v in grads.items() if isinstance(k, str)})
    out.update({f"s_{k}": v for k, v in stats.items() if isinstance(k, str)})
    return out


def _klayer_judge(inputs, outputs):
    params = _params_of(inputs)
    loss, grads, stats = klayer_reference(params, inputs["X"], inputs["y"], float(inputs["lam"]),
                                          bool(inputs["batch_norm"]))
    act_loss = outputs.get("loss")
    if act_loss is not None and np.size(act_loss) == 1:
        act_loss = np.asarray(act_loss, dtype=np.float64).reshape(())
    pairs = [("loss", act_loss, np.asarray(loss))]
    pairs += [(f"grads['{k}']", outputs.get(f"g_{k}"), g) for k, g in grads.items()]
    pairs += [(f"stats['{k}']", outputs.get(f"s_{k}"), s) for k, s in stats.items()]
    return _compare_all(pairs)


for _name, _cases in (("klayer_visible", _klayer_cases_visible),
                      ("klayer_hidden", HiddenCases(A, "klayer_hidden"))):
    register(Check(A, _name, ("klayer_loss",), _cases, _klayer_call, _klayer_judge))


# ---------------------------------------------------------------------------
# Part 5: the gradient checker, graded by behaviour
# ---------------------------------------------------------------------------
GOOD_ERROR, BAD_ERROR = 1e-7, 1e-4


def _gc_case(rng, shapes, wrong=None, how="scale"):
    case = {}
    for name, shape in shapes.items():
        case[f"p_{name}"] = rng.standard_normal(shape)
        case[f"A_{name}"] = rng.uniform(0.5, 2.0, size=shape)
    case["wrong"] = np.array(-1 if wrong is None else list(shapes).index(wrong))
    case["how"] = np.array({"scale": 0, "one_entry": 1}[how])
    return case


def _gc_cases_visible():
    rng = np.random.default_rng(104)
    shapes = {"W": (3, 4), "b": (3,)}
    return [("a correct gradient", _gc_case(rng, shapes)),
            ("dJ/db off by 1%", _gc_case(rng, shapes, wrong="b"))]


def _gc_problem(inputs):
    """f(params) = sum_p sum(A_p * sin(p)), exact gradient A_p cos(p); one of them corrupted."""
    names = [k[2:] for k in inputs if k.startswith("p_")]
    wrong = int(inputs["wrong"])

    def loss_fn(params):
        value = sum(float(np.sum(inputs[f"A_{n}"] * np.sin(params[n]))) for n in names)
        grads = {n: inputs[f"A_{n}"] * np.cos(params[n]) for n in names}
        if wrong >= 0:
            g = grads[names[wrong]]
            if int(inputs["how"]) == 0:
                grads[names[wrong]] = 1.01 * g
            else:  # one entry 0.05 % off: relative error 2.5e-4 there, the mean over 80 entries 3e-6
                g.flat[int(np.argmax(np.abs(g)))] *= 1 + 5e-4
        return value, grads
    return names, loss_fn


def _gc_call(fns, inputs):
    names, loss_fn = _gc_problem(inputs)
    params = {n: inputs[f"p_{n}"].copy() for n in names}
    errors = fns["gradient_check"](loss_fn, params)
    if not isinstance(errors, dict):
        raise TypeError(f"gradient_check must return a dict, got {type(errors).__name__}")
    out = {f"e_{n}": _as_float(errors[n]) for n in names if n in errors}
    out.update({f"after_{n}": params[n] for n in names})
    return out


def _gc_judge(inputs, outputs):
    names = [k[2:] for k in inputs if k.startswith("p_")]
    wrong = int(inputs["wrong"])
    problems = []
    for i, n in enumerate(names):
        err = outputs.get(f"e_{n}")
        if err is None or np.size(err) != 1:
            problems.append(f"errors['{n}'] is missing or not a single number")
            continue
        err = float(np.asarray(err).reshape(()))
        if not np.isfinite(err):
            problems.append(f"errors['{n}'] is not finite")
        elif i == wrong and not err > BAD_ERROR:
            problems.append(f"errors['{n}'] = {err:.1e} misses a wrong gradient "
                            f"(should exceed {BAD_ERROR:g})")
        elif i != wrong and not err < GOOD_ERROR:
            problems.append(f"errors['{n}'] = {err:.1e} for a correct gradient "
                            f"(should be below {GOOD_ERROR:g})")
        after = outputs.get(f"after_{n}")
        if after is None or not np.array_equal(after, inputs[f"p_{n}"]):
            problems.append(f"params['{n}'] was changed: restore every entry after perturbing it")
    # one problem per case: the grader's partial credit counts failing cases
    return ["; ".join(problems)] if problems else []


for _name, _cases in (("gradcheck_visible", _gc_cases_visible),
                      ("gradcheck_hidden", HiddenCases(A, "gradcheck_hidden"))):
    register(Check(A, _name, ("gradient_check",), _cases, _gc_call, _gc_judge))


# ---------------------------------------------------------------------------
# Part 6: the experiment -- batch norm trains a 6-layer network at lr = 1.5
# ---------------------------------------------------------------------------
SIZES = (64, 50, 50, 50, 50, 50, 10)
LEARNING_RATE = 1.5
BN_ACCURACY = 0.90  # correct implementations reach 0.96-0.98 (seeds 0-7)
PLAIN_ACCURACY = 0.50  # the plain network ends at 0.09-0.13 or overflows


def klayer_predict_reference(params: dict, running: dict, X, batch_norm: bool) -> np.ndarray:
    """Test-mode scores: batch norm with the running averages ``running['mean<l>']``, ``['var<l>']``."""
    k = sum(1 for name in params if name.startswith("W"))
    h = X
    for layer in range(1, k):
        s, _ = F.linear_forward(h, params[f"W{layer}"], params[f"b{layer}"])
        if batch_norm:
            s, _ = F.batchnorm_forward(s, params[f"gamma{layer}"], params[f"beta{layer}"], eps=EPS,
                                       train=False, running_mean=running[f"mean{layer}"],
                                       running_var=running[f"var{layer}"])
        h, _ = F.relu_forward(s)
    return F.linear_forward(h, params[f"W{k}"], params[f"b{k}"])[0]


def _training_cases():
    X_train, y_train, X_val, y_val = digits_split(seed=0)
    return [("6 layers, lr 1.5", {"X_train": X_train, "y_train": y_train, "X_val": X_val,
                                  "y_val": y_val})]


def _training_call_for(batch_norm):
    def call(fns, inputs):
        result = _unpack(fns["train_klayer"](inputs["X_train"], inputs["y_train"], batch_norm, 0), 2,
                         "train_klayer(X_train, y_train, batch_norm, seed)")
        params, running = result
        if not isinstance(params, dict) or not isinstance(running, dict):
            raise TypeError("train_klayer must return (params, running), two dicts")
        out = {f"p_{k}": v for k, v in params.items() if isinstance(k, str)}
        out.update({f"r_{k}": v for k, v in running.items() if isinstance(k, str)})
        return out
    return call


def _trained_accuracy(inputs, outputs, batch_norm):
    """(accuracy or None, problem or None) of the returned model on the validation set."""
    params = {k[2:]: np.asarray(v, dtype=np.float64) for k, v in outputs.items() if k.startswith("p_")}
    running = {k[2:]: np.asarray(v, dtype=np.float64) for k, v in outputs.items() if k.startswith("r_")}
    want = klayer_param_names(len(SIZES) - 1, batch_norm)
    missing = [n for n in want if n not in params]
    if missing:
        return None, f"params lacks {', '.join(missing[:4])}"
    if batch_norm:
        missing = [f"{s}{l}" for l in range(1, len(SIZES) - 1) for s in ("mean", "var")
                   if f"{s}{l}" not in running]
        if missing:
            return None, f"running lacks {', '.join(missing[:4])}"
    with np.errstate(all="ignore"):
        if not all(np.all(np.isfinite(params[n])) for n in want):
            return float("nan"), None
        try:
            scores = klayer_predict_reference({n: params[n] for n in want}, running,
                                              inputs["X_val"], batch_norm)
        except FloatingPointError:  # scores overflow: a network that did not train
            return float("nan"), None
        except (ValueError, TypeError) as exc:
            return None, f"the returned arrays do not fit the network {SIZES}: {exc}"
    return float(np.mean(np.argmax(scores, axis=1) == inputs["y_val"])), None


def _training_bn_judge(inputs, outputs):
    acc, problem = _trained_accuracy(inputs, outputs, True)
    if problem:
        return [problem]
    if not acc >= BN_ACCURACY:
        return [f"with batch norm, validation accuracy {acc:.3f} (test mode, running averages) is "
                f"below the required {BN_ACCURACY:.2f}"]
    return []


def _training_plain_judge(inputs, outputs):
    acc, problem = _trained_accuracy(inputs, outputs, False)
    if problem:
        return [problem]
    if acc >= PLAIN_ACCURACY:
        return [f"without batch norm your network reached validation accuracy {acc:.3f}: the stated "
                f"recipe (6 layers, lr {LEARNING_RATE}) should make the plain network fail -- "
                "check that batch_norm=False changes nothing else"]
    return []


# initialising the network with coursekit.init is allowed: these grade the training
register(Check(A, "training_bn", ("train_klayer",), _training_cases, _training_call_for(True),
               _training_bn_judge, time_limit=20.0, allowed_modules=("coursekit.init",)))
register(Check(A, "training_plain", ("train_klayer",), _training_cases, _training_call_for(False),
               _training_plain_judge, time_limit=20.0, allowed_modules=("coursekit.init",)))
