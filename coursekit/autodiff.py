"""A tiny automatic-differentiation engine on scalars, in both directions.

Reverse mode (backpropagation): every arithmetic operation on a ``Value`` makes
a new node that remembers its parents and the *local derivative* of itself with
respect to each parent.  ``out.backward()`` visits the nodes from the output
back to the inputs (reverse topological order) and applies the two rules of the
lectures' path-aggregation view of the chain rule:

    multiply local derivatives along a path,  add the contributions of all paths:
        parent.grad += local_derivative * node.grad

One backward pass gives d(out)/d(x) for *every* input x at once.

Forward mode (dual numbers): a ``Dual`` carries a value and a tangent
``dot = dx/d(input)`` for one chosen input; every operation applies the chain
rule to the tangent as it computes the value.  One forward pass gives the
derivative of *every* output with respect to *one* input; a gradient of n
inputs needs n passes (``forward_gradient``).

The lectures' example d = a * (a + b) at a = 4, b = 3:

    >>> a, b = Value(4.0, label="a"), Value(3.0, label="b")
    >>> d = a * (a + b); d.backward()
    >>> a.grad, b.grad          # 2a + b and a
    (11.0, 4.0)
    >>> forward_gradient(lambda a, b: a * (a + b), [4.0, 3.0])
    [11.0, 4.0]

Expressions written with the module functions ``exp``, ``log``, ``tanh``,
``sigmoid``, ``relu`` work unchanged on floats, Values and Duals.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

Number = float | int


def _sigmoid(x: float) -> float:
    """1 / (1 + exp(-x)) without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class Value:
    """A scalar node of a computational graph.

    data: the forward value; grad: d(output)/d(this node), filled by backward();
    parents: the nodes this one was computed from; local_grads: d(this)/d(parent)
    for each parent (same order); op: the operation's label ("+", "*", "tanh", ...).
    """

    def __init__(self, data: Number, parents: Iterable[Value] = (), local_grads: Iterable[Number] = (),
                 op: str = "", label: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        self.parents = tuple(parents)
        self.local_grads = tuple(float(g) for g in local_grads)
        self.op = op
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # -- arithmetic: each returns a new node with its local derivatives ----------
    def __add__(self, other: Value | Number) -> Value:
        other = _as_value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other: Value | Number) -> Value:
        other = _as_value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __pow__(self, k: Number) -> Value:
        if isinstance(k, (Value, Dual)):
            raise TypeError("Value ** k: only a constant (int or float) exponent is supported")
        k = float(k)
        return Value(self.data**k, (self,), (k * self.data ** (k - 1),), f"**{k:g}")

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), (-1.0,), "neg")

    def __sub__(self, other: Value | Number) -> Value:
        other = _as_value(other)
        return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")

    def __truediv__(self, other: Value | Number) -> Value:
        other = _as_value(other)
        # d(x/y)/dx = 1/y,  d(x/y)/dy = -x/y^2
        return Value(self.data / other.data, (self, other),
                     (1.0 / other.data, -self.data / other.data**2), "/")

    def __radd__(self, other: Value | Number) -> Value:
        return _as_value(other) + self

    def __rmul__(self, other: Value | Number) -> Value:
        return _as_value(other) * self

    def __rsub__(self, other: Value | Number) -> Value:
        return _as_value(other) - self

    def __rtruediv__(self, other: Value | Number) -> Value:
        return _as_value(other) / self

    # -- elementary functions ------------------------------------------------------
    def exp(self) -> Value:
        e = math.exp(self.data)
        return Value(e, (self,), (e,), "exp")

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"Value.log: needs a positive argument, got {self.data}")
        return Value(math.log(self.data), (self,), (1.0 / self.data,), "log")

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")

    def sigmoid(self) -> Value:
        s = _sigmoid(self.data)
        return Value(s, (self,), (s * (1.0 - s),), "sigmoid")

    def relu(self) -> Value:
        # subgradient 0 at 0, as in coursekit.functional.relu_backward
        return Value(max(self.data, 0.0), (self,), (1.0 if self.data > 0 else 0.0,), "relu")

    # -- reverse accumulation -----------------------------------------------------
    def backward(self) -> None:
        """Fill .grad of every node of the graph with d(self)/d(node).

        Grads are reset first (so calling backward twice gives the same result),
        then self.grad = 1 and, in reverse topological order, every node passes
        local_grad * node.grad to each parent.  A node used twice receives two
        contributions, which add up: the sum over paths.
        """
        order = topological_order(self)
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            for parent, local in zip(node.parents, node.local_grads):
                parent.grad += local * node.grad


def _as_value(x: Scalar | int) -> Value:
    if isinstance(x, Value):
        return x
    if isinstance(x, Dual):
        raise TypeError("cannot mix Value (reverse mode) and Dual (forward mode) in one expression")
    return Value(x, op="const", label=f"{float(x):g}")


def topological_order(root: Value) -> list[Value]:
    """All nodes that ``root`` depends on, each once, every node after its parents.

    Depth-first search with an explicit stack (deep graphs would overflow
    Python's recursion limit); a node is appended when all its parents are done.
    """
    order: list[Value] = []
    done: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if id(node) in done:
            continue
        if parents_done:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for parent in reversed(node.parents):  # reversed: first parent is visited first
            if id(parent) not in done:
                stack.append((parent, False))
    return order


class Dual:
    """A dual number val + dot * eps with eps^2 = 0: forward-mode differentiation.

    val: the value; dot: its derivative with respect to the chosen input.
    The rule for f(u) is (f(u.val), f'(u.val) * u.dot): the chain rule, applied
    as the computation goes forward.
    """

    def __init__(self, val: Number, dot: Number = 0.0) -> None:
        self.val, self.dot = float(val), float(dot)

    def __repr__(self) -> str:
        return f"Dual(val={self.val:.6g}, dot={self.dot:.6g})"

    def __add__(self, o: Dual | Number) -> Dual:
        o = _as_dual(o)
        return Dual(self.val + o.val, self.dot + o.dot)

    def __sub__(self, o: Dual | Number) -> Dual:
        o = _as_dual(o)
        return Dual(self.val - o.val, self.dot - o.dot)

    def __mul__(self, o: Dual | Number) -> Dual:
        o = _as_dual(o)
        return Dual(self.val * o.val, self.dot * o.val + self.val * o.dot)

    def __truediv__(self, o: Dual | Number) -> Dual:
        o = _as_dual(o)
        return Dual(self.val / o.val, (self.dot * o.val - self.val * o.dot) / o.val**2)

    def __pow__(self, k: Number) -> Dual:
        if isinstance(k, (Value, Dual)):
            raise TypeError("Dual ** k: only a constant (int or float) exponent is supported")
        k = float(k)
        return Dual(self.val**k, k * self.val ** (k - 1) * self.dot)

    def __neg__(self) -> Dual:
        return Dual(-self.val, -self.dot)

    def __radd__(self, o: Dual | Number) -> Dual:
        return _as_dual(o) + self

    def __rsub__(self, o: Dual | Number) -> Dual:
        return _as_dual(o) - self

    def __rmul__(self, o: Dual | Number) -> Dual:
        return _as_dual(o) * self

    def __rtruediv__(self, o: Dual | Number) -> Dual:
        return _as_dual(o) / self

    def exp(self) -> Dual:
        e = math.exp(self.val)
        return Dual(e, e * self.dot)

    def log(self) -> Dual:
        if self.val <= 0:
            raise ValueError(f"Dual.log: needs a positive argument, got {self.val}")
        return Dual(math.log(self.val), self.dot / self.val)

    def tanh(self) -> Dual:
        t = math.tanh(self.val)
        return Dual(t, (1.0 - t * t) * self.dot)

    def sigmoid(self) -> Dual:
        s = _sigmoid(self.val)
        return Dual(s, s * (1.0 - s) * self.dot)

    def relu(self) -> Dual:
        return Dual(max(self.val, 0.0), self.dot if self.val > 0 else 0.0)


Scalar = float | Value | Dual
"""What the module functions exp, log, tanh, sigmoid and relu accept and return."""


def _as_dual(x: Scalar | int) -> Dual:
    if isinstance(x, Dual):
        return x
    if isinstance(x, Value):
        raise TypeError("cannot mix Value (reverse mode) and Dual (forward mode) in one expression")
    return Dual(x, 0.0)  # a constant: derivative 0


def forward_gradient(f: Callable[..., Scalar], inputs: Sequence[Number]) -> list[float]:
    """Gradient of the scalar function ``f(*inputs)`` by forward mode.

    One pass per input i, seeding dot = 1 on input i and 0 on the others, so a
    function of n inputs costs n forward passes (reverse mode needs one backward).
    """
    grads = []
    for i in range(len(inputs)):
        duals = [Dual(x, 1.0 if j == i else 0.0) for j, x in enumerate(inputs)]
        grads.append(_as_dual(f(*duals)).dot)
    return grads


def reverse_gradient(f: Callable[..., Scalar], inputs: Sequence[Number]) -> list[float]:
    """Gradient of the scalar function ``f(*inputs)`` by one reverse-mode pass."""
    values = [Value(x) for x in inputs]
    out = f(*values)
    if not isinstance(out, Value):
        return [0.0] * len(values)  # f does not depend on its inputs
    out.backward()
    return [v.grad for v in values]


# Functions that work on floats, Values and Duals alike, so one expression
# (say lambda a, b: tanh(a * b)) can be evaluated and differentiated both ways.
def exp(x: Scalar | int) -> Scalar:
    return x.exp() if isinstance(x, (Value, Dual)) else math.exp(x)


def log(x: Scalar | int) -> Scalar:
    return x.log() if isinstance(x, (Value, Dual)) else math.log(x)


def tanh(x: Scalar | int) -> Scalar:
    return x.tanh() if isinstance(x, (Value, Dual)) else math.tanh(x)


def sigmoid(x: Scalar | int) -> Scalar:
    return x.sigmoid() if isinstance(x, (Value, Dual)) else _sigmoid(x)


def relu(x: Scalar | int) -> Scalar:
    return x.relu() if isinstance(x, (Value, Dual)) else max(float(x), 0.0)
