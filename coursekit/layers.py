"""Layers: the functional pairs wrapped with parameters and a cache.

Every layer has
    forward(x, train=True) -> y      keeps what backward needs
    backward(dy) -> dx               fills self.grads, returns dJ/dx
    params, grads                    dicts with the same keys and shapes

The mathematics lives in coursekit.functional; a layer only remembers state.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from . import _checks
from . import functional as F
from . import init as initialisers
from ._rng import as_generator


class Layer:
    """Base class: parameter dicts, the cache, and errors that name the layer."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    def __call__(self, x, train: bool = True):
        return self.forward(x, train=train)

    def __repr__(self):
        return f"{type(self).__name__}()"

    @contextmanager
    def _named_errors(self, method: str):
        """Prefix shape and dtype errors from the functional core with this layer's name."""
        try:
            yield
        except (ValueError, TypeError, FloatingPointError) as err:
            raise type(err)(f"{self!r}.{method}: {err}") from None

    def _last_cache(self):
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

    def __init__(self, in_features: int, out_features: int, init="he_normal", rng=None,
                 dtype=np.float64):
        super().__init__()
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(
                f"Linear: in_features and out_features must be positive, got ({in_features}, {out_features})"
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
        W = initialisers.get(init)((self.out_features, self.in_features), rng=as_generator(rng))
        self.params = {"W": np.asarray(W, dtype=dtype), "b": np.zeros(self.out_features, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features})"

    def forward(self, x, train: bool = True):
        with self._named_errors("forward"):
            s, self._cache = F.linear_forward(x, self.params["W"], self.params["b"])
        return s

    def backward(self, dy, input_grad: bool = True):
        """Fill grads["W"], grads["b"]; return dJ/dx (None when input_grad=False)."""
        with self._named_errors("backward"):
            dx, self.grads["W"], self.grads["b"] = F.linear_backward(
                dy, self._last_cache(), input_grad=input_grad)
        return dx


class Activation(Layer):
    """An element-wise activation h = f(s): no parameters, Jacobian diag f'(s)."""

    _forward = None  # a functional *_forward
    _backward = None  # the matching *_backward

    def _hyper(self) -> dict:
        return {}

    def forward(self, x, train: bool = True):
        with self._named_errors("forward"):
            out, self._cache = type(self)._forward(x, **self._hyper())
        return out

    def backward(self, dy):
        with self._named_errors("backward"):
            return type(self)._backward(dy, self._last_cache())


class ReLU(Activation):
    """h = max(0, s)."""
    _forward, _backward = F.relu_forward, F.relu_backward


class Sigmoid(Activation):
    """h = 1 / (1 + exp(-s))."""
    _forward, _backward = F.sigmoid_forward, F.sigmoid_backward


class Tanh(Activation):
    """h = tanh(s)."""
    _forward, _backward = F.tanh_forward, F.tanh_backward


class LeakyReLU(Activation):
    """h = s if s > 0 else alpha * s."""
    _forward, _backward = F.leaky_relu_forward, F.leaky_relu_backward

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = float(alpha)

    def _hyper(self):
        return {"alpha": self.alpha}

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


class ELU(Activation):
    """h = s if s > 0 else alpha * (exp(s) - 1)."""
    _forward, _backward = F.elu_forward, F.elu_backward

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def _hyper(self):
        return {"alpha": self.alpha}

    def __repr__(self):
        return f"ELU(alpha={self.alpha})"


class Swish(Activation):
    """h = s * sigmoid(beta * s); beta is a fixed hyper-parameter here."""
    _forward, _backward = F.swish_forward, F.swish_backward

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = float(beta)

    def _hyper(self):
        return {"beta": self.beta}

    def __repr__(self):
        return f"Swish(beta={self.beta})"


class BatchNorm(Layer):
    """Batch normalisation over the batch, one (gamma, beta) pair per feature.

    params: gamma: (D,) (starts at 1), beta: (D,) (starts at 0).
    train=True normalises with the batch statistics and updates the running averages
        running = momentum * running + (1 - momentum) * batch_statistic;
    train=False normalises with the running averages (test time).
    The batch variance is the biased 1/N one, as in the lecture.
    """

    def __init__(self, num_features: int, momentum: float = 0.9, eps: float = 1e-5,
                 dtype=np.float64):
        super().__init__()
        self.num_features = int(num_features)
        self.momentum = _checks.probability(momentum, "momentum", "BatchNorm", allow_one=True)
        self.eps = float(eps)
        self.params = {"gamma": np.ones(num_features, dtype=dtype),
                       "beta": np.zeros(num_features, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)

    def __repr__(self):
        return f"BatchNorm({self.num_features})"

    def forward(self, x, train: bool = True):
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

    def backward(self, dy):
        with self._named_errors("backward"):
            dx, self.grads["gamma"], self.grads["beta"] = F.batchnorm_backward(dy, self._last_cache())
        return dx


class Dropout(Layer):
    """Inverted dropout: in training drop each unit with probability p and scale by 1/(1-p)."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        self.p = _checks.probability(p, "p (the drop probability)", "Dropout")
        self.rng = as_generator(rng)

    def __repr__(self):
        return f"Dropout(p={self.p})"

    def forward(self, x, train: bool = True):
        with self._named_errors("forward"):
            out, self._cache = F.dropout_forward(x, self.p, self.rng, train=train)
        return out

    def backward(self, dy):
        with self._named_errors("backward"):
            return F.dropout_backward(dy, self._last_cache())


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    params and grads are flat dicts keyed "<index>.<name>" ("0.W", "2.gamma"),
    holding the layers' own arrays, so an optimiser that updates them in place
    updates the model.
    """

    def __init__(self, *layers: Layer):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a coursekit Layer")
        self.layers = list(layers)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    @property
    def params(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    @params.setter
    def params(self, value):
        if value:
            raise AttributeError("Sequential.params is built from its layers; set the layers' params")

    @property
    def grads(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    @grads.setter
    def grads(self, value):
        if value:
            raise AttributeError("Sequential.grads is built from its layers")

    def forward(self, x, train: bool = True):
        for layer in self.layers:
            x = layer.forward(x, train=train)
        return x

    def forward_to(self, x, k: int, train: bool = True):
        """Output of the first ``k`` layers (used to look inside the network)."""
        for layer in self.layers[:k]:
            x = layer.forward(x, train=train)
        return x

    def backward(self, dy, input_grad: bool = True):
        """Backward through every layer; returns dJ/dx.

        input_grad=False is for training: dJ/dx of the data is not needed, so a
        first Linear layer skips computing it and None is returned.
        """
        for layer in reversed(self.layers[1:]):
            dy = layer.backward(dy)
        if not self.layers:
            return dy
        first = self.layers[0]
        if isinstance(first, (Linear, Sequential)):
            return first.backward(dy, input_grad=input_grad)
        dx = first.backward(dy)
        return dx if input_grad else None
