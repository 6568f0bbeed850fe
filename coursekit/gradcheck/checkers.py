"""Gradient checks of a function, a functional pair, a layer and a whole model.

Each builds a scalar J and its analytic gradients, then calls check_gradients
(coursekit.gradcheck.engine) and returns its GradCheckReport.  A layer or a model
is left exactly as it was found: see LayerState.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _checks
from .._rng import as_generator
from .._types import Array, ArrayLike, Seed
from ..layers import BatchNorm, Dropout, Layer, Sequential
from ..losses import Loss, l2_penalty
from .engine import check_gradients
from .report import GradCheckReport, Thresholds
from .simple import DEFAULT_H

Penalty = Callable[[Mapping[str, Array], float], tuple[float, Mapping[str, Array]]]


def check_function(f: Callable[[Array], Any], x: ArrayLike, grad: ArrayLike | Callable[[Array], Any],
                   mode: str = "full", h: float = DEFAULT_H, k: int = 10, directions: int = 10,
                   rng: Seed = None, thresholds: Thresholds | None = None) -> GradCheckReport:
    """Check the gradient of a scalar function f: array -> float.

    x: float array (copied; the caller's array is not touched).
    grad: the analytic gradient at x (array of x's shape) or a callable grad(x).
    One row, named "x".  See check_gradients for modes and thresholds.
    """
    where = "check_function"
    x = np.array(_checks.float_array(x, "x", where), copy=True)
    g = grad(x.copy()) if callable(grad) else grad
    return check_gradients(lambda: f(x), {"x": x}, {"x": g}, mode=mode, h=h, k=k,
                           directions=directions, rng=rng, thresholds=thresholds,
                           title="check_function", where=where)


def check_op(forward: Callable[..., tuple[Any, Any]], backward: Callable[[Array, Any], Any],
             inputs: dict[str, ArrayLike], mode: str = "full", h: float = DEFAULT_H, k: int = 10,
             directions: int = 10, rng: Seed = None,
             thresholds: Thresholds | None = None) -> GradCheckReport:
    """Check a functional forward/backward pair, ``out, cache = forward(*inputs)``.

    inputs: name -> float array, in the order forward takes them (copied).
    backward(dout, cache) must return dJ/d(input) for every input, in the same order
    (one array, or a tuple).  A random upstream gradient dout ~ N(0, 1) (drawn from
    ``rng``) turns the output into the scalar J = sum(dout * out), whose gradient is
    exactly what backward computes.  One row per input.
    """
    where = "check_op"
    if not isinstance(inputs, dict) or not inputs:
        raise TypeError(f"{where}: inputs must be a non-empty dict name -> array, got {inputs!r}")
    arrays = {n: np.array(_checks.float_array(a, n, where), copy=True) for n, a in inputs.items()}
    gen = as_generator(rng)
    out, cache = forward(*arrays.values())
    out = np.array(out, copy=True)
    dout = gen.standard_normal(out.shape).astype(out.dtype)
    back = backward(dout, cache)
    back = back if isinstance(back, tuple) else (back,)
    if len(back) != len(arrays):
        raise ValueError(f"{where}: backward returned {len(back)} gradients for "
                         f"{len(arrays)} inputs {list(arrays)}")

    def J() -> float:
        return float(np.sum(dout * forward(*arrays.values())[0]))

    return check_gradients(J, arrays, dict(zip(arrays, back)), mode=mode, h=h, k=k,
                           directions=directions, rng=gen,
                           scale=float(np.sum(np.abs(dout * out))), thresholds=thresholds,
                           title=f"check_op({getattr(forward, '__name__', 'forward')})", where=where)


@dataclass
class LayerState:
    """What a forward and backward pass may change in one layer, copied: its cache,
    its grads, BatchNorm's running averages and Dropout's random generator."""

    layer: Layer
    cache: Any
    grads: dict[str, Array]
    running: tuple[Array, Array] | None
    rng_state: Mapping[str, Any] | None

    @classmethod
    def save(cls, layer: Layer) -> LayerState:
        running = ((layer.running_mean.copy(), layer.running_var.copy())
                   if isinstance(layer, BatchNorm) else None)
        rng_state = layer.rng.bit_generator.state if isinstance(layer, Dropout) else None
        grads = {} if isinstance(layer, Sequential) else {k: v.copy() for k, v in layer.grads.items()}
        return cls(layer, getattr(layer, "_cache", None), grads, running, rng_state)

    def rewind_rng(self) -> None:
        """Dropout draws the same mask again on its next forward pass."""
        if isinstance(self.layer, Dropout) and self.rng_state is not None:
            self.layer.rng.bit_generator.state = self.rng_state

    def restore(self) -> None:
        self.rewind_rng()
        if isinstance(self.layer, Sequential):
            return  # its state is that of its layers, restored one by one
        self.layer._cache = self.cache
        self.layer.grads = {k: v.copy() for k, v in self.grads.items()}
        if isinstance(self.layer, BatchNorm) and self.running is not None:
            self.layer.running_mean, self.layer.running_var = (a.copy() for a in self.running)


def _all_layers(layer: object) -> list[Layer]:
    """The coursekit layers to save: the layer and, in a Sequential, every layer inside it."""
    if not isinstance(layer, Layer):
        return []  # a duck-typed model: its own state is its business
    inner = layer.layers if isinstance(layer, Sequential) else []
    return [layer] + [sub for child in inner for sub in _all_layers(child)]


def _layer_params(layer: Any, where: str) -> dict[str, Array]:
    for attr in ("forward", "backward"):
        if not callable(getattr(layer, attr, None)):
            raise TypeError(f"{where}: expected a layer with forward and backward methods, "
                            f"got {type(layer).__name__}")
    params = layer.params
    if not isinstance(params, dict):
        raise TypeError(f"{where}: {layer!r}.params must be a dict name -> array")
    return params


def check_layer(layer: Layer, x: ArrayLike, mode: str = "full", h: float = DEFAULT_H, k: int = 10,
                directions: int = 10, rng: Seed = None, train: bool = True,
                thresholds: Thresholds | None = None) -> GradCheckReport:
    """Check a layer's backward: dx and every parameter gradient.

    layer: a coursekit layer (forward(x, train), backward(dy), params, grads).
    x: (N, D) float input (copied).  An upstream gradient dy ~ N(0, 1) of the output's
    shape (drawn from ``rng``) contracts the output into the scalar
        J = sum(dy * layer.forward(x, train))
    so dJ/dx = layer.backward(dy) and dJ/dparams = layer.grads.  Rows: "x" (the input
    gradient) and one per parameter.  A Dropout layer's generator is rewound before
    every forward pass, so every pass draws the same mask; the layer's state is
    restored afterwards (LayerState).
    """
    where = "check_layer"
    params = _layer_params(layer, where)
    x = np.array(_checks.float_array(x, "x", where), copy=True)
    gen = as_generator(rng)
    saved = [LayerState.save(each) for each in _all_layers(layer)]
    try:
        y = np.array(layer.forward(x, train=train), copy=True)
        dy = gen.standard_normal(y.shape).astype(y.dtype)
        grads = {"x": np.array(layer.backward(dy), copy=True)}
        grads.update({n: np.array(g, copy=True) for n, g in layer.grads.items()})

        def J() -> float:
            for state in saved:
                state.rewind_rng()
            return float(np.sum(dy * layer.forward(x, train=train)))

        return check_gradients(J, {"x": x, **params}, grads, mode=mode, h=h, k=k,
                               directions=directions, rng=gen,
                               scale=float(np.sum(np.abs(dy * y))), thresholds=thresholds,
                               title=f"check_layer({layer!r})".replace("\n", " "), where=where)
    finally:
        for state in saved:
            state.restore()


def _model_gradients(model: Layer, loss: Loss, l2: float, penalty: Penalty,
                     where: str) -> dict[str, Array]:
    """model.backward(loss.backward()) plus the penalty's gradients, after a forward pass."""
    model.backward(loss.backward())
    grads = {n: np.array(g, dtype=np.float64, copy=True) for n, g in model.grads.items()}
    if l2:
        for name, g in penalty(model.params, l2)[1].items():
            if name not in grads:
                raise ValueError(f"{where}: the penalty returned a gradient for {name!r}, "
                                 f"which is not a parameter of the model ({sorted(grads)})")
            grads[name] = grads[name] + g
    return grads


def check_model(model: Layer, loss: Loss, x: ArrayLike, y: ArrayLike, l2: float = 0.0,
                penalty: Penalty | None = None, mode: str = "directional", h: float = DEFAULT_H,
                k: int = 10, directions: int = 10, rng: Seed = None, train: bool = True,
                thresholds: Thresholds | None = None) -> GradCheckReport:
    """Check the gradients of a whole model with its loss (and an L2 term).

        J(theta) = loss(model(x), y) + penalty(model.params, l2)[0]

    model: a coursekit layer, usually a Sequential; loss: a coursekit.losses object
    (forward(scores, y) -> float, backward() -> dscores).  The analytic gradient is
    model.backward(loss.backward()) plus, when l2 > 0, the penalty's gradients.
    penalty: a function (params, lam) -> (value, grads), default
    coursekit.losses.l2_penalty (lam * sum ||W||^2 over weight matrices); pass your
    own to check it in context.  One row per parameter ("0.W", "0.b", ...).
    The default mode is "directional": 2 * directions forward passes per parameter
    array, whatever the model's size.  Model state is restored afterwards.
    """
    where = "check_model"
    params = _layer_params(model, where)
    for attr in ("forward", "backward"):
        if not callable(getattr(loss, attr, None)):
            raise TypeError(f"{where}: expected a coursekit loss with forward and backward, "
                            f"got {type(loss).__name__}")
    penalise: Penalty = l2_penalty if penalty is None else penalty
    l2 = float(l2)
    if l2 < 0:
        raise ValueError(f"{where}: l2 must be >= 0, got {l2}")
    x = np.array(_checks.float_array(x, "x", where), copy=True)
    saved = [LayerState.save(each) for each in _all_layers(model)]
    try:
        def J() -> float:
            for state in saved:
                state.rewind_rng()
            value = loss.forward(model.forward(x, train=train), y)
            return float(value + (penalise(model.params, l2)[0] if l2 else 0.0))

        J()
        grads = _model_gradients(model, loss, l2, penalise, where)
        return check_gradients(J, params, grads, mode=mode, h=h, k=k, directions=directions,
                               rng=rng, thresholds=thresholds,
                               title=f"check_model({type(model).__name__} + {type(loss).__name__}"
                                     f"{f', l2={l2:g}' if l2 else ''})", where=where)
    finally:
        for state in saved:
            state.restore()
