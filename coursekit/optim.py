"""Optimisers: update rules as pure functions, and classes that apply them to a model.

Every rule has the signature::

    w_next, state = <rule>_update(w, dw, state)

w: the parameter array (any shape), dw: dJ/dw with the same shape, state: a dict
holding the rule's hyper-parameters and running quantities.  ``state`` may start
as ``{}`` (defaults are filled in) or as ``{"lr": 0.1, ...}``.

The functions are *pure* by default: they never modify ``w``, ``dw`` or the
``state`` they are given; they return a new array and a new dict.  So a notebook
can call a rule twice on the same input, or keep a whole trajectory, without
surprises.  Passing ``out=w`` writes the new values into ``w`` instead (the
NumPy ``out=`` convention).  The optimiser classes (SGD, Momentum, ...) call the
rule with ``out=w`` for every array of a model, because ``Sequential.params``
hands out the layers' own arrays: updating them in place is what changes the
model, and it saves a copy of every parameter per step.

Notation (the lectures write epsilon for the learning rate, alpha for the momentum
parameter, rho for decay rates and delta for the small constant):

    lr = epsilon,  momentum = alpha (mu),  rho,  beta1 = rho_1,  beta2 = rho_2,  eps = delta
    g = dw, the mini-batch gradient;  all products, squares, roots and divisions
    are element-wise.

Running quantities kept in ``state`` (each has the shape of w):

    "v"  velocity (Momentum, Nesterov)
    "r"  accumulated (AdaGrad) or averaged (RMSProp, Adam) squared gradient
    "s"  averaged gradient, Adam's first moment
    "t"  number of steps taken so far (Adam's bias correction needs it)
"""
from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _checks
from ._types import Array, ArrayLike

State = dict[str, Any]
"""A rule's state: hyper-parameters (floats) and running quantities (arrays, the int t)."""

# ----------------------------------------------------------------------------
# Checking the inputs of every rule
# ----------------------------------------------------------------------------
_RUNNING = ("v", "r", "s", "t")


def _arrays(w: ArrayLike, dw: ArrayLike, where: str) -> tuple[Array, Array]:
    """Return (w, dw) as float arrays after checking that their shapes agree."""
    w_arr = _checks.float_array(w, "w", where)
    dw_arr = _checks.float_array(dw, "dw", where)
    if w_arr.shape != dw_arr.shape:
        raise ValueError(
            f"{where}: the gradient dw must have the shape of w {w_arr.shape}, got {dw_arr.shape}"
        )
    return w_arr, dw_arr


def _read_state(state: State | None, defaults: dict[str, float], running: tuple[str, ...],
                where: str) -> State:
    """Copy ``state``, fill missing hyper-parameters from ``defaults`` and check them.

    Raises on keys the rule does not know (a typo such as "learning_rate" would
    otherwise be ignored silently) and on values outside their valid range.
    """
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise TypeError(f"{where}: state must be a dict, got {type(state).__name__}")
    unknown = sorted(set(state) - set(defaults) - set(running))
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {unknown} in state; this rule takes the "
            f"hyper-parameters {sorted(defaults)} and keeps {sorted(running) or 'no running values'}"
        )
    out = {**defaults, **state}
    for name in defaults:
        out[name] = _hyper_parameter(name, out[name], where)
    return out


def _hyper_parameter(name: str, value: Any, where: str) -> float:
    """``value`` as a float, after checking that it is a finite number in the range of ``name``."""
    if type(value) is not float and (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{where}: {name} must be finite, got {value}")
    if name == "lr" and number < 0:
        raise ValueError(f"{where}: the learning rate lr must be >= 0, got {number}")
    if name == "eps" and number <= 0:
        raise ValueError(f"{where}: eps must be > 0 (it keeps the division finite), got {number}")
    if name in ("momentum", "rho", "beta1", "beta2") and not 0.0 <= number < 1.0:
        raise ValueError(f"{where}: {name} must lie in [0, 1), got {number}")
    return number


def _running(state: State, key: str, w: Array, where: str) -> Array:
    """The running array ``state[key]`` (zeros on the first step), checked against w."""
    value = state.get(key)
    if value is None:
        return np.zeros_like(w)
    value = np.asarray(value)
    if value.shape != w.shape:
        raise ValueError(
            f"{where}: state[{key!r}] has shape {value.shape} but w has shape {w.shape}; "
            "was this state made for another parameter?"
        )
    return value


# ----------------------------------------------------------------------------
# The update rules
# ----------------------------------------------------------------------------
def sgd_update(w: ArrayLike, dw: ArrayLike, state: State | None = None,
               out: Array | None = None) -> tuple[Array, State]:
    """Plain (stochastic) gradient descent.

        w <- w - lr * g

    state: {"lr": 1e-2}.  No running quantities.
    """
    where = "sgd_update"
    w, dw = _arrays(w, dw, where)
    state = _read_state(state, {"lr": 1e-2}, (), where)
    return np.subtract(w, state["lr"] * dw, out=out), state


def momentum_update(w: ArrayLike, dw: ArrayLike, state: State | None = None,
                    out: Array | None = None) -> tuple[Array, State]:
    """Gradient descent with (heavy-ball) momentum, in the lecture's form.

        v <- momentum * v - lr * g
        w <- w + v

    v starts at 0, so the first step equals SGD's.  The velocity is an
    exponentially decaying sum of past negative gradients; with a constant
    gradient the step size tends to lr / (1 - momentum).
    state: {"lr": 1e-2, "momentum": 0.9, "v": velocity}.
    """
    where = "momentum_update"
    w, dw = _arrays(w, dw, where)
    state = _read_state(state, {"lr": 1e-2, "momentum": 0.9}, ("v",), where)
    v = state["momentum"] * _running(state, "v", w, where) - state["lr"] * dw
    state["v"] = v
    return np.add(w, v, out=out), state


def nesterov_update(w: ArrayLike, dw: ArrayLike, state: State | None = None,
                    out: Array | None = None) -> tuple[Array, State]:
    """Nesterov momentum in the practical "look-ahead" form (Bengio et al., 2013).

    Nesterov's method evaluates the gradient at the look-ahead point w + momentum * v.
    Here the stored parameters *are* that look-ahead point, so ``dw`` is simply the
    gradient at the current parameters (no extra forward pass), and

        v <- momentum * v - lr * g
        w <- w + momentum * v - lr * g          (v already updated)

    which equals w + v + momentum * (v - v_old), or w - momentum * v_old + (1 + momentum) * v.
    v starts at 0.  state: {"lr": 1e-2, "momentum": 0.9, "v": velocity}.
    """
    where = "nesterov_update"
    w, dw = _arrays(w, dw, where)
    state = _read_state(state, {"lr": 1e-2, "momentum": 0.9}, ("v",), where)
    step = state["lr"] * dw
    v = state["momentum"] * _running(state, "v", w, where) - step
    state["v"] = v
    return np.subtract(w + state["momentum"] * v, step, out=out), state


def adagrad_update(w: ArrayLike, dw: ArrayLike, state: State | None = None,
                   out: Array | None = None) -> tuple[Array, State]:
    """AdaGrad: each coordinate's step is scaled by its whole gradient history.

        r <- r + g * g
        w <- w - lr * g / (sqrt(r) + eps)

    r starts at 0 and only grows, so the effective learning rate only shrinks.
    (The lecture writes delta for eps and places it outside the root, as here.)
    state: {"lr": 1e-2, "eps": 1e-8, "r": sum of squared gradients}.
    """
    where = "adagrad_update"
    w, dw = _arrays(w, dw, where)
    state = _read_state(state, {"lr": 1e-2, "eps": 1e-8}, ("r",), where)
    r = _running(state, "r", w, where) + dw * dw
    state["r"] = r
    return np.subtract(w, state["lr"] * dw / (np.sqrt(r) + state["eps"]), out=out), state


def rmsprop_update(w: ArrayLike, dw: ArrayLike, state: State | None = None,
                   out: Array | None = None) -> tuple[Array, State]:
    """RMSProp: AdaGrad with an exponentially decaying average instead of a sum.

        r <- rho * r + (1 - rho) * g * g
        w <- w - lr * g / (sqrt(r) + eps)

    r starts at 0.  eps is added outside the square root, like AdaGrad and Adam
    here (the lecture's slide puts delta inside, 1/sqrt(delta + r); for the
    default eps the two differ only where r is tiny).
    state: {"lr": 1e-3, "rho": 0.9, "eps": 1e-8, "r": average squared gradient}.
    """
    where = "rmsprop_update"
    w, dw = _arrays(w, dw, where)
    state = _read_state(state, {"lr": 1e-3, "rho": 0.9, "eps": 1e-8}, ("r",), where)
    rho = state["rho"]
    r = rho * _running(state, "r", w, where) + (1 - rho) * dw * dw
    state["r"] = r
    return np.subtract(w, state["lr"] * dw / (np.sqrt(r) + state["eps"]), out=out), state


def adam_update(w: ArrayLike, dw: ArrayLike, state: State | None = None,
                out: Array | None = None) -> tuple[Array, State]:
    """Adam: momentum on the gradient plus RMSProp's scaling, both bias-corrected.

        t <- t + 1
        s <- beta1 * s + (1 - beta1) * g            (first moment)
        r <- beta2 * r + (1 - beta2) * g * g        (second moment)
        s_hat = s / (1 - beta1^t),   r_hat = r / (1 - beta2^t)
        w <- w - lr * s_hat / (sqrt(r_hat) + eps)

    s and r start at 0, which biases them towards 0 early on; dividing by
    1 - beta^t removes that bias.  On the first step s_hat = g and r_hat = g * g,
    so every coordinate moves by lr * g / (|g| + eps), about lr * sign(g).
    state: {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "s", "r", "t"}.
    """
    where = "adam_update"
    w, dw = _arrays(w, dw, where)
    state = _read_state(state, {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
                        ("s", "r", "t"), where)
    t = state.get("t", 0)
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)) or t < 0:
        raise ValueError(f"{where}: the step count state['t'] must be an int >= 0, got {t!r}")
    t = int(t) + 1
    b1, b2 = state["beta1"], state["beta2"]
    s = b1 * _running(state, "s", w, where) + (1 - b1) * dw
    r = b2 * _running(state, "r", w, where) + (1 - b2) * dw * dw
    s_hat = s / (1 - b1**t)
    r_hat = r / (1 - b2**t)
    state.update(s=s, r=r, t=t)
    return np.subtract(w, state["lr"] * s_hat / (np.sqrt(r_hat) + state["eps"]), out=out), state


# ----------------------------------------------------------------------------
# Optimiser classes: one rule applied to every array of a model, in place
# ----------------------------------------------------------------------------
class Optimizer(ABC):
    """Applies ``rule`` to every parameter array of a model, keeping one state per key.

    opt = Adam(lr=1e-3)
    opt.step(model.params, model.grads)     # updates the model's arrays in place

    params, grads: dicts name -> array with the same keys and shapes (as given by
    ``Sequential.params`` and ``Sequential.grads``).  Hyper-parameters are given
    to the constructor and can be changed between steps (``opt.lr = 0.01``, which
    is how a learning-rate schedule is applied); the running quantities of
    parameter ``k`` live in ``opt.state[k]``.

    A subclass names its update rule, ``rule = staticmethod(sgd_update)``; a subclass
    without one raises a TypeError when it is defined.
    """

    @staticmethod
    @abstractmethod
    def rule(w: ArrayLike, dw: ArrayLike, state: State | None = None,
             out: Array | None = None) -> tuple[Array, State]:
        """One of the <rule>_update functions: (w, dw, state, out=) -> (w_next, state)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls.rule, "__isabstractmethod__", False) or not callable(cls.rule):
            raise TypeError(
                f"{cls.__name__}: an Optimizer subclass must set its update rule, e.g. "
                "rule = staticmethod(sgd_update): a function (w, dw, state, out=None) -> (w, state)"
            )

    def __init__(self, **hyper: float) -> None:
        name = type(self).__name__
        running = sorted(set(hyper) & set(_RUNNING))
        if running:
            raise ValueError(f"{name}: {running} are running quantities kept per parameter, "
                             "not hyper-parameters")
        # Check the names and values now, not at the first step.
        _, defaults = self.rule(np.zeros(1), np.zeros(1), dict(hyper))
        self.hyper: dict[str, float] = {k: v for k, v in defaults.items() if k not in _RUNNING}
        self.state: dict[str, State] = {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"

    @property
    def lr(self) -> float:
        return self.hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        # validated by the rule's own check on the next step; catch bad values now too
        value = float(value)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{type(self).__name__}: the learning rate lr must be finite and >= 0, got {value}")
        self.hyper["lr"] = value

    def step(self, params: Mapping[str, Array], grads: Mapping[str, ArrayLike]) -> None:
        """w <- rule(w, grads[k]) for every k, w = params[k], written into w in place."""
        name = type(self).__name__
        missing = sorted(set(params) - set(grads))
        if missing:
            raise ValueError(f"{name}.step: no gradient for parameter(s) {missing}")
        for key, w in params.items():
            if not isinstance(w, np.ndarray):
                raise TypeError(
                    f"{name}.step: parameter {key!r} must be a numpy array to be updated in place, "
                    f"got {type(w).__name__}"
                )
            state = {**self.state.get(key, {}), **self.hyper}
            try:
                # out=w: the rule's last operation writes the new values into the model's array
                _, self.state[key] = self.rule(w, grads[key], state, out=w)
            except (ValueError, TypeError) as err:
                raise type(err)(f"{name}.step, parameter {key!r}: {err}") from None


class SGD(Optimizer):
    """w <- w - lr * g (see sgd_update)."""
    rule = staticmethod(sgd_update)


class Momentum(Optimizer):
    """v <- momentum * v - lr * g;  w <- w + v (see momentum_update)."""
    rule = staticmethod(momentum_update)


class Nesterov(Optimizer):
    """Look-ahead Nesterov momentum (see nesterov_update)."""
    rule = staticmethod(nesterov_update)


class AdaGrad(Optimizer):
    """r <- r + g*g;  w <- w - lr * g / (sqrt(r) + eps) (see adagrad_update)."""
    rule = staticmethod(adagrad_update)


class RMSProp(Optimizer):
    """r <- rho r + (1 - rho) g*g;  w <- w - lr * g / (sqrt(r) + eps) (see rmsprop_update)."""
    rule = staticmethod(rmsprop_update)


class Adam(Optimizer):
    """Bias-corrected adaptive moments (see adam_update)."""
    rule = staticmethod(adam_update)


# ----------------------------------------------------------------------------
# Learning-rate schedules: functions of the epoch (or iteration) k
# ----------------------------------------------------------------------------
def step_decay(lr0: float, k: int, drop: float = 0.5, every: int = 10) -> float:
    """Step decay: multiply the learning rate by ``drop`` every ``every`` epochs.

        lr_k = lr0 * drop ** floor(k / every)
    """
    if lr0 < 0 or not 0 < drop <= 1 or int(every) < 1 or k < 0:
        raise ValueError(
            f"step_decay: need lr0 >= 0, 0 < drop <= 1, every >= 1 and k >= 0, "
            f"got lr0={lr0}, drop={drop}, every={every}, k={k}"
        )
    return float(lr0 * drop ** (int(k) // int(every)))


def linear_decay(lr0: float, k: int, tau: int, lr_end: float | None = None) -> float:
    """Linear decay until iteration tau, constant afterwards (as in the lecture).

        alpha = min(k / tau, 1),   lr_k = (1 - alpha) * lr0 + alpha * lr_end

    lr_end defaults to lr0 / 100 (a common rule of thumb: about 1% of lr0).
    """
    lr_end = lr0 / 100 if lr_end is None else lr_end
    if lr0 < 0 or lr_end < 0 or int(tau) < 1 or k < 0:
        raise ValueError(
            f"linear_decay: need lr0 >= 0, lr_end >= 0, tau >= 1 and k >= 0, "
            f"got lr0={lr0}, lr_end={lr_end}, tau={tau}, k={k}"
        )
    alpha = min(k / int(tau), 1.0)
    return float((1 - alpha) * lr0 + alpha * lr_end)
