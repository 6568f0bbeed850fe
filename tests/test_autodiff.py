"""coursekit.autodiff: reverse mode (Value) and forward mode (Dual) on scalars."""
import math

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from coursekit import autodiff as ad


def numerical_derivative(f, xs, i, h=1e-6):
    """Central difference of the float function f(*xs) in argument i."""
    up, down = list(xs), list(xs)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2 * h)


# -- the lectures' example ----------------------------------------------------------
def test_lecture_example_reverse_mode():
    a, b = ad.Value(4.0, label="a"), ad.Value(3.0, label="b")
    c = a + b
    d = a * c
    d.backward()
    assert (c.data, d.data) == (7.0, 28.0)
    assert a.grad == 11.0, "dd/da = 2a + b = 11"
    assert b.grad == 4.0, "dd/db = a = 4"
    assert c.grad == 4.0 and d.grad == 1.0


def test_lecture_example_forward_mode_needs_one_pass_per_input():
    f = lambda a, b: a * (a + b)
    assert ad.forward_gradient(f, [4.0, 3.0]) == [11.0, 4.0]
    # one pass seeded on a gives dd/da only
    out = f(ad.Dual(4.0, 1.0), ad.Dual(3.0, 0.0))
    assert (out.val, out.dot) == (28.0, 11.0)
    out = f(ad.Dual(4.0, 0.0), ad.Dual(3.0, 1.0))
    assert out.dot == 4.0
    assert ad.reverse_gradient(f, [4.0, 3.0]) == [11.0, 4.0]


# -- graph structure --------------------------------------------------------------------
def test_topological_order_with_shared_subexpression():
    a, b = ad.Value(2.0, label="a"), ad.Value(-1.5, label="b")
    c = a * b          # used three times below
    e = c * c + c
    order = ad.topological_order(e)
    ids = [id(v) for v in order]
    assert len(ids) == len(set(ids)), "every node appears once"
    position = {id(v): i for i, v in enumerate(order)}
    for v in order:
        for p in v.parents:
            assert position[id(p)] < position[id(v)], "parents come before children"
    assert order[-1] is e and {id(a), id(b), id(c)} <= set(ids)
    e.backward()
    # de/dc = 2c + 1 accumulates over the three uses
    assert c.grad == pytest.approx(2 * c.data + 1)
    assert a.grad == pytest.approx((2 * c.data + 1) * b.data)
    assert b.grad == pytest.approx((2 * c.data + 1) * a.data)


def test_node_used_twice_accumulates():
    x = ad.Value(3.0)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad == 7.0


def test_backward_twice_gives_the_same_gradients():
    x, w = ad.Value(0.7), ad.Value(-1.3)
    y = ad.tanh(x * w) + x
    y.backward()
    first = (x.grad, w.grad)
    y.backward()
    assert (x.grad, w.grad) == first


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = ad.Value(1.0)
    y = x
    for _ in range(5000):
        y = y + x
    y.backward()
    assert y.data == 5001.0 and x.grad == 5001.0


# -- every operation against finite differences, both modes ----------------------
UNARY = {
    "exp": (ad.exp, 0.3),
    "log": (ad.log, 1.7),
    "tanh": (ad.tanh, -0.4),
    "sigmoid": (ad.sigmoid, 0.9),
    "relu+": (ad.relu, 0.8),
    "relu-": (ad.relu, -0.8),
    "neg": (lambda x: -x, 0.5),
    "pow": (lambda x: x**3, 1.2),
    "sqrt": (lambda x: x**0.5, 2.0),
    "rsub": (lambda x: 2.0 - x, 0.1),
    "rdiv": (lambda x: 2.0 / x, 0.6),
    "radd": (lambda x: 2.0 + x, 0.1),
    "rmul": (lambda x: 2.0 * x, 0.1),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_operations_match_finite_differences(name):
    f, x0 = UNARY[name]
    expected = numerical_derivative(f, [x0], 0)
    x = ad.Value(x0)
    y = f(x)
    y.backward()
    assert y.data == pytest.approx(f(x0), rel=1e-12)
    assert x.grad == pytest.approx(expected, rel=1e-6, abs=1e-9), f"reverse mode, {name}"
    assert ad.forward_gradient(f, [x0])[0] == pytest.approx(expected, rel=1e-6, abs=1e-9), f"forward mode, {name}"


BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
          "/": lambda a, b: a / b}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_operations_match_finite_differences(name):
    f = BINARY[name]
    xs = [1.3, -0.7]
    grads = ad.reverse_gradient(f, xs)
    for i in range(2):
        expected = numerical_derivative(f, xs, i)
        assert grads[i] == pytest.approx(expected, rel=1e-6), f"d({name})/dx{i}"
    assert ad.forward_gradient(f, xs) == pytest.approx(grads, rel=1e-12)


def test_large_arguments_do_not_overflow():
    for x0 in (-800.0, 800.0):
        x = ad.Value(x0)
        y = ad.sigmoid(x)
        y.backward()
        assert 0.0 <= y.data <= 1.0 and x.grad == pytest.approx(0.0, abs=1e-300)


# -- random expressions against HIPS autograd --------------------------------------------
VALUE_OPS = {"exp": ad.exp, "log": ad.log, "tanh": ad.tanh, "sigmoid": ad.sigmoid, "relu": ad.relu}
AUTOGRAD_OPS = {"exp": anp.exp, "log": anp.log, "tanh": anp.tanh,
                "sigmoid": lambda x: 1.0 / (1.0 + anp.exp(-x)), "relu": lambda x: anp.maximum(x, 0.0)}


def random_expression(rng, depth):
    """A random expression tree as a function (variables, ops) -> value.

    Arguments of log, / and exp are made safe (log(u^2 + 1), u / (v^2 + 1),
    exp(tanh u)) so every expression is finite and differentiable almost everywhere.
    """
    if depth == 0 or rng.random() < 0.2:
        if rng.random() < 0.75:
            i = int(rng.integers(3))
            return lambda xs, ops: xs[i]
        c = float(np.round(rng.normal(), 2))
        return lambda xs, ops: c
    kind = rng.choice(["+", "-", "*", "/", "pow", "neg", "exp", "log", "tanh", "sigmoid", "relu"])
    u = random_expression(rng, depth - 1)
    if kind in ("+", "-", "*", "/"):
        v = random_expression(rng, depth - 1)
        if kind == "+":
            return lambda xs, ops: u(xs, ops) + v(xs, ops)
        if kind == "-":
            return lambda xs, ops: u(xs, ops) - v(xs, ops)
        if kind == "*":
            return lambda xs, ops: u(xs, ops) * v(xs, ops)
        return lambda xs, ops: u(xs, ops) / (v(xs, ops) * v(xs, ops) + 1.0)
    if kind == "pow":
        return lambda xs, ops: (u(xs, ops) * u(xs, ops) + 0.5) ** 1.5
    if kind == "neg":
        return lambda xs, ops: -u(xs, ops)
    if kind == "exp":
        return lambda xs, ops: ops["exp"](ops["tanh"](u(xs, ops)))
    if kind == "log":
        return lambda xs, ops: ops["log"](u(xs, ops) * u(xs, ops) + 1.0)
    return lambda xs, ops: ops[kind](u(xs, ops))


@pytest.mark.parametrize("seed", range(40))
def test_random_expressions_match_autograd(seed):
    rng = np.random.default_rng(seed)
    while True:  # draw again until the expression depends on a variable
        expr = random_expression(rng, depth=5)
        x0 = rng.normal(size=3)
        values = [ad.Value(v) for v in x0]
        out = expr(values, VALUE_OPS)
        if isinstance(out, ad.Value):
            break
    out.backward()
    ours = np.array([v.grad for v in values])
    theirs = autograd.grad(lambda xs: expr(xs, AUTOGRAD_OPS) + 0.0 * xs[0])(x0)
    np.testing.assert_allclose(out.data, expr(list(x0), AUTOGRAD_OPS), rtol=1e-12)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12,
                               err_msg=f"reverse mode differs from autograd (seed {seed})")
    forward = ad.forward_gradient(lambda *xs: expr(list(xs), VALUE_OPS), list(x0))
    np.testing.assert_allclose(forward, theirs, rtol=1e-9, atol=1e-12,
                               err_msg=f"forward mode differs from autograd (seed {seed})")


# -- errors a student can act on -----------------------------------------------------------
def test_clear_errors():
    with pytest.raises(ValueError, match="positive"):
        ad.Value(-1.0).log()
    with pytest.raises(ValueError, match="positive"):
        ad.Dual(0.0).log()
    with pytest.raises(TypeError, match="constant"):
        ad.Value(2.0) ** ad.Value(3.0)
    with pytest.raises(TypeError, match="mix"):
        ad.Value(1.0) + ad.Dual(1.0)
    with pytest.raises(TypeError, match="mix"):
        ad.Dual(1.0) * ad.Value(1.0)


def test_module_functions_work_on_floats():
    assert ad.exp(1.0) == math.e
    assert ad.relu(-2.0) == 0.0 and ad.sigmoid(0.0) == 0.5
    assert ad.tanh(0.5) == math.tanh(0.5) and ad.log(math.e) == 1.0


def test_relu_has_derivative_zero_at_zero_in_both_modes():
    """The subgradient at the kink is 0, as in coursekit.functional.relu_backward."""
    x = ad.Value(0.0)
    ad.relu(x).backward()
    assert x.grad == 0.0
    assert ad.relu(ad.Dual(0.0, 1.0)).dot == 0.0
    assert ad.forward_gradient(ad.relu, [0.0]) == ad.reverse_gradient(ad.relu, [0.0]) == [0.0]
