"""Declaring an assignment's checks: which functions to call, on which cases, and how to judge.

An assignment is a folder (``solutions/A2/``): the notebook ``A2.ipynb`` and
``checks.py``, which nbgrader releases with the notebook.  ``checks.py``
declares each graded *part* in a few lines::

    import numpy as np
    from coursekit.grading.spec import Assignment, Case, call

    A2 = Assignment("A2")
    A2.part(
        "linear",
        calls=[call("linear_forward", "x", "W", "b", returns=("out", "cache")),
               call("linear_backward", "dout", "cache", returns=("dx", "dW", "db"))],
        compare=("out", "dx", "dW", "db"),
        visible=[Case("x (4, 3), W (5, 3)", code='''
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    W = rng.standard_normal((5, 3))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    ''')],
    )

A part is graded by two test cells of the notebook: ``linear_visible`` runs the
visible cases (``Case`` objects, public, reproducible from their code) and
``linear_hidden`` the hidden ones, whose generator is written inside the
hidden-test block of that test cell, so nbgrader never releases it::

    ### BEGIN HIDDEN TESTS
    @grading.hidden_cases("linear_hidden")
    def cases():
        rng = np.random.default_rng(20)
        return [("a batch of 1", {"x": ..., "W": ..., "b": ..., "dout": ...})]
    ### END HIDDEN TESTS

Every case is judged against the *instructor's solution* run on the same
inputs through the same calls (the grader caches those outputs); a custom
``judge`` can add or replace criteria (statistics, accuracy, ...).

This module runs on both sides: in the grader, and inside the sandbox next to
the student's code, where it must not import anything but the standard
library and NumPy.
"""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_RECORDED_ELEMENTS = 5_000_000


# ---------------------------------------------------------------------------
# arguments of a call
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """The value bound to ``name`` in the case: an input, or what an earlier call returned."""

    name: str

    def resolve(self, env: dict, fns: dict):
        return env[self.name]

    def render(self, names: tuple = ()) -> str:
        return self.name


@dataclass(frozen=True)
class Scalar(Ref):
    """A 0-d input passed as a Python float (``lam``, ``momentum``)."""

    def resolve(self, env: dict, fns: dict):
        return float(np.asarray(env[self.name]).reshape(()))

    def render(self, names: tuple = ()) -> str:
        return f"float({self.name})"


@dataclass(frozen=True)
class Integer(Ref):
    """A 0-d input passed as a Python int (``seed``, ``steps``)."""

    def resolve(self, env: dict, fns: dict):
        return int(np.asarray(env[self.name]).reshape(()))

    def render(self, names: tuple = ()) -> str:
        return f"int({self.name})"


@dataclass(frozen=True)
class Boolean(Ref):
    """A 0-d input passed as a Python bool (``batch_norm``)."""

    def resolve(self, env: dict, fns: dict):
        return bool(np.asarray(env[self.name]).reshape(()))

    def render(self, names: tuple = ()) -> str:
        return f"bool({self.name})"


@dataclass(frozen=True)
class Copy(Ref):
    """A fresh copy of an input, so that an in-place change can be recorded separately."""

    def resolve(self, env: dict, fns: dict):
        return np.array(env[self.name], copy=True)

    def render(self, names: tuple = ()) -> str:
        return f"{self.name}.copy()"


@dataclass(frozen=True)
class Literal:
    """A constant (a number, a string, True/False, None)."""

    value: Any

    def resolve(self, env: dict, fns: dict):
        return self.value

    def render(self, names: tuple = ()) -> str:
        return repr(self.value)


@dataclass(frozen=True)
class DictOf:
    """A dict built from inputs: ``DictOf({"W1": "W1", "b1": "b1"})`` or ``dict_of("W1", "b1")``.

    With ``prefix``, every input whose name starts with it: ``DictOf(prefix="p_")``
    passes ``{"W1": p_W1, ...}`` (for parts whose parameters vary per case).
    """

    keys: tuple = ()
    prefix: str | None = None  # "" takes every input

    def resolve(self, env: dict, fns: dict):
        if self.prefix is not None:
            return {k[len(self.prefix):]: v for k, v in env.items()
                    if k.startswith(self.prefix) and not k.startswith("_")}
        return {key: env[name] for key, name in self.keys}

    def render(self, names: tuple = ()) -> str:
        """``{"W": p_W, ...}`` with the names of the case being shown."""
        keys = self.keys if self.prefix is None else \
            tuple((n[len(self.prefix):], n) for n in names if n.startswith(self.prefix))
        return "{" + ", ".join(f"{key!r}: {name}" for key, name in keys) + "}"


def dict_of(*names: str) -> DictOf:
    """``{"W1": W1, "b1": b1, ...}`` from the inputs of those names."""
    return DictOf(tuple((n, n) for n in names))


@dataclass(frozen=True)
class Helper:
    """The result of calling ``function`` (defined in checks.py) on resolved arguments.

    For the callables a part hands to the student's code (a test function for
    ``numerical_gradient``, a loss for ``gradient_check``, an update rule):
    they are built from the case's inputs, so they carry no expected value and
    no answer flag.
    """

    function: Callable
    args: tuple = ()

    def resolve(self, env: dict, fns: dict):
        return self.function(*(_arg(a).resolve(env, fns) for a in self.args))

    def render(self, names: tuple = ()) -> str:
        inner = ", ".join(_arg(a).render(names) for a in self.args)
        return f"checks.{self.function.__name__}({inner})"


@dataclass(frozen=True)
class Student:
    """The student's own function ``name`` (passed to another of their functions)."""

    name: str

    def resolve(self, env: dict, fns: dict):
        return fns[self.name]

    def render(self, names: tuple = ()) -> str:
        return self.name


def _arg(value):
    """A plain string is a reference to a name of the case."""
    return Ref(value) if isinstance(value, str) else value


# ---------------------------------------------------------------------------
# calls, cases, parts
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """``returns = function(*args, **kwargs)``.

    ``function`` names the student's function, or is a function of checks.py
    that drives the student's code (e.g. runs an update rule for T steps; pass
    the student's function to it with :class:`Student`).
    """

    function: Any
    args: tuple = ()
    kwargs: tuple = ()  # ((name, arg), ...)
    returns: Any = None  # None, a name, or a tuple of names to unpack into

    @property
    def name(self) -> str:
        return self.function if isinstance(self.function, str) else f"checks.{self.function.__name__}"

    def uses_checks(self) -> bool:
        """True when reproducing this call needs ``import checks`` (a helper of checks.py)."""
        args = list(self.args) + [v for _, v in self.kwargs]
        return (callable(self.function) and self.function is not _same) or \
            any(isinstance(a, Helper) for a in args)

    def signature(self, names: tuple = ()) -> str:
        parts = [_arg(a).render(names) for a in self.args] + [f"{k}={_arg(v).render(names)}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})"

    def render(self, names: tuple = ()) -> str:
        if self.function is _same:
            return f"{self.returns} = {_arg(self.args[0]).render(names)}"
        if self.returns is None:
            return self.signature(names)
        target = self.returns if isinstance(self.returns, str) else ", ".join(self.returns)
        return f"{target} = {self.signature(names)}"

    def run(self, env: dict, fns: dict) -> None:
        """Call the student's function and bind what it returns in ``env``."""
        fn = fns.get(self.function) if isinstance(self.function, str) else self.function
        if not callable(fn):
            raise NameError(f"{self.function} is not defined (run the cell that defines it)")
        result = fn(*(_arg(a).resolve(env, fns) for a in self.args),
                    **{k: _arg(v).resolve(env, fns) for k, v in self.kwargs})
        if self.returns is None:
            return
        if isinstance(self.returns, str):
            env[self.returns] = result
            return
        n = len(self.returns)
        if not isinstance(result, tuple) or len(result) != n:
            got = f"a tuple of length {len(result)}" if isinstance(result, tuple) else type(result).__name__
            raise TypeError(f"{self.signature()} must return a tuple of {n} values "
                            f"({', '.join(self.returns)}), got {got}")
        env.update(zip(self.returns, result))


def call(function, *args, returns=None, **kwargs) -> Call:
    """Shorthand: ``call("linear_forward", "x", "W", "b", returns=("out", "cache"))``."""
    return Call(function, tuple(args), tuple(kwargs.items()), returns)


def _same(value):
    return value


def bind(name: str, value) -> Call:
    """``name = value``: give a built argument a name, to pass it on and record it afterwards."""
    return Call(_same, (value,), (), name)


@dataclass(frozen=True)
class Case:
    """One visible case: a description and either the inputs or code that makes them.

    ``code`` is run with ``np`` (NumPy) in scope; the names it binds are the
    case's inputs (it may import what it needs, e.g. ``from coursekit.grading
    import digits_split``).  A failing visible case shows this code, so the
    student can rebuild the inputs and call their function.
    """

    description: str
    code: str = ""
    inputs: dict = field(default_factory=dict)

    def make_inputs(self) -> dict:
        if not self.code:
            return dict(self.inputs)
        scope = {"np": np}
        exec(compile(textwrap.dedent(self.code), f"<case {self.description}>", "exec"), scope)
        # the inputs are the arrays and numbers it binds (not rng, modules or functions)
        return {k: v for k, v in scope.items() if not k.startswith("_")
                and isinstance(v, (np.ndarray, np.generic, int, float, bool))}

    def snippet(self) -> str:
        """Code that rebuilds this case's inputs (for the student's message)."""
        if self.code:
            return textwrap.dedent(self.code).strip()
        return "\n".join(f"{k} = np.{np.asarray(v)!r}" for k, v in self.inputs.items())


Judge = Callable[[dict, dict, "dict | None"], list]


@dataclass
class Part:
    """A graded part: the calls, what to record, how to judge, the visible cases."""

    name: str
    calls: tuple
    compare: tuple = ()  # recorded names compared with the solution's outputs
    record: tuple = ()  # more recorded names, for a custom judge ((alias, name) pairs allowed)
    rtol: float = 1e-6
    atol: float = 1e-9
    judge: Judge | None = None  # (inputs, outputs, expected) -> problems; replaces the comparison
    extra_judge: Judge | None = None  # runs after the comparison
    visible: tuple = ()
    time_limit: float = 10.0  # seconds for all the cases of one test cell
    title: str = ""  # "Linear layer", shown in the feedback

    @property
    def functions(self) -> tuple:
        """The student's functions this part calls or hands to other functions."""
        names = [c.function for c in self.calls if isinstance(c.function, str)]
        todo = [a for c in self.calls for a in list(c.args) + [v for _, v in c.kwargs]]
        while todo:
            arg = todo.pop(0)
            if isinstance(arg, Student):
                names.append(arg.name)
            elif isinstance(arg, Helper):
                todo += list(arg.args)
        return tuple(dict.fromkeys(names))

    def recorded(self) -> list:
        """(alias, name) of every value recorded after the calls."""
        pairs = [(n, n) for n in self.compare]
        pairs += [(r, r) if isinstance(r, str) else tuple(r) for r in self.record]
        return list(dict.fromkeys(pairs))

    def render(self, names: tuple = ()) -> str:
        return "\n".join(c.render(names) for c in self.calls)


class Assignment:
    """The parts of one assignment, and which coursekit modules its sandbox may hold."""

    def __init__(self, name: str, allow: tuple = ("data",)):
        self.name = name
        self.allow = tuple(allow)  # coursekit modules students may use (the rest is not installed)
        self.parts: dict = {}

    def part(self, name: str, **kwargs) -> Part:
        if name in self.parts:
            raise ValueError(f"{self.name}: part {name!r} is declared twice")
        kwargs["calls"] = tuple(kwargs["calls"])
        kwargs["visible"] = tuple(kwargs.get("visible", ()))
        for key in ("compare", "record"):
            kwargs[key] = tuple(kwargs.get(key, ()))
        self.parts[name] = Part(name, **kwargs)
        return self.parts[name]

    def check(self, grade_id: str) -> tuple:
        """(part, "visible" | "hidden") graded by the test cell ``grade_id``.

        ``<part>_visible`` and ``<part>`` run the visible cases, ``<part>_hidden``
        the hidden ones.  KeyError for a grade id that names no part.
        """
        for suffix, kind in (("_visible", "visible"), ("_hidden", "hidden"), ("", "visible")):
            base = grade_id[: len(grade_id) - len(suffix)] if suffix and grade_id.endswith(suffix) \
                else (grade_id if not suffix else None)
            if base in self.parts:
                return self.parts[base], kind
        raise KeyError(f"{self.name}: no part graded by the test cell {grade_id!r}; "
                       f"parts: {', '.join(self.parts)}")


# ---------------------------------------------------------------------------
# running one case (inside the sandbox, or in a student's kernel for visible cases)
# ---------------------------------------------------------------------------
def numeric_array(value, name: str) -> np.ndarray:
    """A detached numeric copy of ``value``, or TypeError/ValueError saying what is wrong."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # anything that is not an array
        raise TypeError(f"{name} is {type(value).__name__}, expected numbers ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} is {type(value).__name__} with dtype {arr.dtype}, expected numbers")
    if arr.size > MAX_RECORDED_ELEMENTS:
        raise ValueError(f"{name} has {arr.size} elements, too many to record")
    return np.array(arr, copy=True)


def flatten(alias: str, value) -> dict:
    """``value`` as named arrays: a dict becomes ``alias.key`` entries (one level deep)."""
    if isinstance(value, dict):
        if len(value) > 1000:
            raise ValueError(f"{alias} has {len(value)} entries, too many to record")
        return {f"{alias}.{k}": numeric_array(v, f"{alias}[{k!r}]") for k, v in value.items()
                if isinstance(k, str)}
    return {alias: numeric_array(value, alias)}


def run_case(part: Part, inputs: dict, fns: dict) -> dict:
    """Run the part's calls on ``inputs`` with the student's functions ``fns``.

    Returns the recorded values as arrays; raises whatever the student's code
    raises (the caller records it as this case's error).
    """
    env = dict(inputs)
    for c in part.calls:
        c.run(env, fns)
    out = {}
    for alias, name in part.recorded():
        if name not in env:
            raise NameError(f"nothing named {name!r} was returned")
        out.update(flatten(alias, env[name]))
    return out


def run_cases(part: Part, cases: list, fns: dict) -> tuple:
    """(arrays keyed "<case>/<name>", errors) of the part's calls on every case's inputs."""
    arrays, errors = {}, []
    for index, inputs in enumerate(cases):
        try:
            for name, value in run_case(part, inputs, fns).items():
                arrays[f"{index}/{name}"] = value
        except BaseException as exc:  # timeouts and SystemExit too
            errors.append({"case": index, "type": type(exc).__name__[:100], "message": _message(exc)})
    return arrays, errors


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:500]
    except Exception:  # a broken __str__
        return "<str failed>"
