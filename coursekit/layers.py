"""Layers: the functional pairs wrapped with parameters and a cache.

Every layer is a subclass of :class:`Layer` and provides

    forward(x, train=True) -> y      keeps what backward needs
    backward(dy) -> dx               fills self.grads, returns dJ/dx
    params, grads                    dicts with the same keys and shapes

``Layer`` declares forward and backward abstract, so a subclass that forgets one
cannot be instantiated (the TypeError names the missing method).  An element-wise
activation only names its functional pair (see :class:`Activation`).

The mathematics lives in coursekit.functional; a layer only remembers state.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt

from . import _checks
from . import functional as F
from . import init as initialisers
from ._rng import as_generator
from ._types import Array, ArrayLike, Seed


class _NamedErrors:
    """Context manager: re-raise ValueError, TypeError and FloatingPointError with the
    layer and method prefixed ("Linear(4, 2).forward: ..."); free when nothing fails."""

    __slots__ = ("layer", "method")

    def __init__(self, layer: object, method: str) -> None:
        self.layer, self.method = layer, method

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: Any) -> None:
        if isinstance(err, (ValueError, TypeError, FloatingPointError)):
            raise type(err)(f"{self.layer!r}.{self.method}: {err}") from None


class Layer(ABC):
    """Base class of every layer: what a subclass must provide, and shared helpers.

    A subclass implements ``forward(x, train=True)`` and ``backward(dy)``, and sets
    ``self.params`` / ``self.grads`` (empty dicts, from ``Layer.__init__``, for a
    layer without parameters).  ``backward_params`` has a default.
    """

    params: dict[str, Array]
    grads: dict[str, Array]

    def __init__(self) -> None:
        self.params = {}
        self.grads = {}
        self._cache: Any = None

    @abstractmethod
    def forward(self, x: ArrayLike, train: bool = True) -> Array:
        """y = layer(x); keep in the cache what backward needs.  train=False is test mode."""

    @abstractmethod
    def backward(self, dy: ArrayLike) -> Array:
        """dJ/dx from dy = dJ/dy (the shape of the last output); fill self.grads."""

    def backward_params(self, dy: ArrayLike) -> None:
        """Fill self.grads only: the backward pass of a first layer, whose input is data.

        dJ/dx of the data is never used in training.  The default runs backward(dy)
        and drops dJ/dx; Linear overrides it to skip that product altogether.
        """
        self.backward(dy)

    def __call__(self, x: ArrayLike, train: bool = True) -> Array:
        return self.forward(x, train=train)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _named_errors(self, method: str) -> _NamedErrors:
        """``with self._named_errors("forward"):`` prefixes shape and dtype errors from
        the functional core with this layer's name."""
        return _NamedErrors(self, method)

    def _last_cache(self) -> Any:
        if self._cache is None:
            raise RuntimeError(
                f"{self!r}.backward was called before forward: run forward(x) first, "
                "so the layer has the inputs its gradient depends on"
            )
        return self._cache


class Linear(Layer):
    """Fully connected layer, S = X W^T + b.

    params: W: (out_features, in_features) = (m, d), b: (out_features,)
    forward: x (N, d) -> s (N, m);  backward: ds (N, m) -> dx (N, d), fills dW, db.
    init: a name from coursekit.init ("he_normal", "xavier_normal", ...) or a
    function (shape, rng) -> array.  Biases start at zero.
    """

    def __init__(self, in_features: int, out_features: int, init: str | initialisers.Initialiser = "he_normal",
                 rng: Seed = None, dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(
                f"Linear: in_features and out_features must be positive, got ({in_features}, {out_features})"
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
        W = initialisers.get(init)((self.out_features, self.in_features), rng=as_generator(rng))
        self.params = {"W": np.asarray(W, dtype=dtype), "b": np.zeros(self.out_features, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"

    def forward(self, x: ArrayLike, train: bool = True) -> Array:
        with self._named_errors("forward"):
            if np.ndim(x) == 2 and np.shape(x)[1] != self.params["W"].shape[1]:
                # the layer's own W is not the suspect: x has the wrong width for this layer
                _checks.batch(x, "x", "linear_forward", features=self.params["W"].shape[1])
            s, self._cache = F.linear_forward(x, self.params["W"], self.params["b"])
        return s

    def backward(self, dy: ArrayLike, input_grad: bool = True) -> Array:
        """Fill grads["W"], grads["b"]; return dJ/dx (None when input_grad=False)."""
        with self._named_errors("backward"):
            dx, self.grads["W"], self.grads["b"] = F.linear_backward(
                dy, self._last_cache(), input_grad=input_grad)
        return dx  # type: ignore[return-value]  # None only when the caller asked for it

    def backward_params(self, dy: ArrayLike) -> None:
        """dW and db without dx = dy W (a third of this layer's backward work)."""
        self.backward(dy, input_grad=False)


class FunctionalPair(NamedTuple):
    """An element-wise operation of coursekit.functional: op_forward and op_backward."""

    forward: Callable[..., tuple[Array, Any]]
    backward: Callable[[ArrayLike, Any], Array]


class Activation(Layer):
    """An element-wise activation h = f(s): no parameters, Jacobian diag f'(s).

    A subclass names its functional pair, and its hyper-parameters if it has any:

        class ReLU(Activation):
            pair = FunctionalPair(F.relu_forward, F.relu_backward)

    Defining a subclass without ``pair`` raises a TypeError at once.
    """

    pair: ClassVar[FunctionalPair]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(getattr(cls, "pair", None), FunctionalPair):
            raise TypeError(
                f"{cls.__name__}: an Activation subclass must set the class attribute "
                "pair = FunctionalPair(op_forward, op_backward), the functions of "
                "coursekit.functional that compute h = f(s) and dJ/ds"
            )

    def hyper(self) -> dict[str, float]:
        """Keyword arguments passed to the forward function (alpha, beta, ...)."""
        return {}

    def forward(self, x: ArrayLike, train: bool = True) -> Array:
        with self._named_errors("forward"):
            out, self._cache = self.pair.forward(x, **self.hyper())
        return out

    def backward(self, dy: ArrayLike) -> Array:
        with self._named_errors("backward"):
            return self.pair.backward(dy, self._last_cache())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.hyper().items())
        return f"{type(self).__name__}({args})"


class ReLU(Activation):
    """h = max(0, s)."""
    pair = FunctionalPair(F.relu_forward, F.relu_backward)


class Sigmoid(Activation):
    """h = 1 / (1 + exp(-s))."""
    pair = FunctionalPair(F.sigmoid_forward, F.sigmoid_backward)


class Tanh(Activation):
    """h = tanh(s)."""
    pair = FunctionalPair(F.tanh_forward, F.tanh_backward)


class LeakyReLU(Activation):
    """h = s if s > 0 else alpha * s."""
    pair = FunctionalPair(F.leaky_relu_forward, F.leaky_relu_backward)

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def hyper(self) -> dict[str, float]:
        return {"alpha": self.alpha}


class ELU(Activation):
    """h = s if s > 0 else alpha * (exp(s) - 1)."""
    pair = FunctionalPair(F.elu_forward, F.elu_backward)

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def hyper(self) -> dict[str, float]:
        return {"alpha": self.alpha}


class Swish(Activation):
    """h = s * sigmoid(beta * s); beta is a fixed hyper-parameter here."""
    pair = FunctionalPair(F.swish_forward, F.swish_backward)

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)

    def hyper(self) -> dict[str, float]:
        return {"beta": self.beta}


class BatchNorm(Layer):
    """Batch normalisation over the batch, one (gamma, beta) pair per feature.

    params: gamma: (D,) (starts at 1), beta: (D,) (starts at 0).
    train=True normalises with the batch statistics and updates the running averages
        running = momentum * running + (1 - momentum) * batch_statistic;
    train=False normalises with the running averages (test time).
    The batch variance is the biased 1/N one, as in the lecture.
    """

    def __init__(self, num_features: int, momentum: float = 0.9, eps: float = 1e-5,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.momentum = _checks.probability(momentum, "momentum", "BatchNorm", allow_one=True)
        self.eps = float(eps)
        self.params = {"gamma": np.ones(num_features, dtype=dtype),
                       "beta": np.zeros(num_features, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features})"

    def forward(self, x: ArrayLike, train: bool = True) -> Array:
        with self._named_errors("forward"):
            _checks.batch(x, "x", "batchnorm_forward", features=self.num_features)
            out, self._cache = F.batchnorm_forward(
                x, self.params["gamma"], self.params["beta"], eps=self.eps, train=train,
                running_mean=self.running_mean, running_var=self.running_var)
        if train:
            m = self.momentum
            self.running_mean = m * self.running_mean + (1 - m) * self._cache.mean
            self.running_var = m * self.running_var + (1 - m) * self._cache.var
        return out

    def backward(self, dy: ArrayLike) -> Array:
        with self._named_errors("backward"):
            dx, self.grads["gamma"], self.grads["beta"] = F.batchnorm_backward(dy, self._last_cache())
        return dx


class Dropout(Layer):
    """Inverted dropout: in training drop each unit with probability p and scale by 1/(1-p)."""

    def __init__(self, p: float = 0.5, rng: Seed = None) -> None:
        super().__init__()
        self.p = _checks.probability(p, "p (the drop probability)", "Dropout")
        self.rng = as_generator(rng)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

    def forward(self, x: ArrayLike, train: bool = True) -> Array:
        with self._named_errors("forward"):
            out, self._cache = F.dropout_forward(x, self.p, self.rng, train=train)
        return out

    def backward(self, dy: ArrayLike) -> Array:
        with self._named_errors("backward"):
            return F.dropout_backward(dy, self._last_cache())


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    params and grads are flat dicts keyed "<index>.<name>" ("0.W", "2.gamma"),
    holding the layers' own arrays, so an optimiser that updates them in place
    updates the model.  Assigning ``model.params = values`` copies ``values``
    into those arrays; it needs exactly the same keys and shapes.
    """

    def __init__(self, *layers: Layer) -> None:
        # no Layer.__init__: params and grads are views of the layers' dicts, not own ones
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a coursekit Layer")
        self.layers = list(layers)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    @property  # a view of the layers' dicts, not an attribute of its own
    def params(self) -> dict[str, Array]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    @params.setter
    def params(self, values: Mapping[str, ArrayLike]) -> None:
        """Copy ``values`` into the layers' parameter arrays (same keys, same shapes)."""
        own = self.params
        if not isinstance(values, Mapping) or set(values) != set(own):
            keys = sorted(values) if isinstance(values, Mapping) else type(values).__name__
            raise ValueError(
                f"Sequential.params: expected a dict with exactly the keys {sorted(own)}, got {keys}; "
                "the parameters are the layers' arrays, so only their values can be replaced"
            )
        arrays = {key: np.asarray(value) for key, value in values.items()}
        for key, value in arrays.items():
            if value.shape != own[key].shape:
                raise ValueError(f"Sequential.params: expected {key!r} of shape {own[key].shape}, "
                                 f"got {value.shape}")
        for key, value in arrays.items():
            own[key][...] = value

    @property  # a view of the layers' dicts, not an attribute of its own
    def grads(self) -> dict[str, Array]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    @grads.setter
    def grads(self, values: object) -> None:
        raise AttributeError("Sequential.grads is computed by backward from its layers' grads; "
                             "it cannot be assigned")

    def forward(self, x: ArrayLike, train: bool = True) -> Array:
        for layer in self.layers:
            x = layer.forward(x, train=train)
        return np.asarray(x)

    def forward_to(self, x: ArrayLike, k: int, train: bool = True) -> Array:
        """Output of the first ``k`` layers (used to look inside the network)."""
        for layer in self.layers[:k]:
            x = layer.forward(x, train=train)
        return np.asarray(x)

    def backward(self, dy: ArrayLike, input_grad: bool = True) -> Array:
        """Backward through every layer; returns dJ/dx.

        input_grad=False is for training: dJ/dx of the data is not needed, so the
        first layer only fills its grads (backward_params) and None is returned.
        """
        if not input_grad:
            self.backward_params(dy)
            return None  # type: ignore[return-value]  # None only when the caller asked for it
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return np.asarray(dy)

    def backward_params(self, dy: ArrayLike) -> None:
        """Fill every layer's grads; the first layer skips dJ/dx of the data."""
        if not self.layers:
            return
        for layer in reversed(self.layers[1:]):
            dy = layer.backward(dy)
        self.layers[0].backward_params(dy)
