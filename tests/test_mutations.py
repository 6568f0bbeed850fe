"""Every planted bug of the catalogue makes the module's own unit tests fail.

For each entry of tests/mutation_catalogue.py the mutated source of the module is
compiled and served by an import hook in place of the file, every coursekit module
and test module is imported afresh (so layers built on a mutated functional, and
the tests themselves, use the mutant), and the test functions of the module's own
test files (OWN_TESTS) run in this process, fastest first, until one fails.  The
originals are restored afterwards.  A baseline run of the same tests on the
unmutated code must pass first: it proves that a failure comes from the mutation,
not from the way the tests are run here.

Tests that need a pytest fixture (capsys, tmp_path, ...) are not run here; the
hypothesis tests run with the database off, no shrinking and a fixed seed.

    .venv/bin/python tests/test_mutations.py        prints the catalogue and its kill rate
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import inspect
import io
import itertools
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from _pytest.mark.structures import ParameterSet
from hypothesis import HealthCheck, Phase, settings

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # standalone run: the test modules import each other
    sys.path.insert(0, str(TESTS))

from mutation_catalogue import CATALOGUE, OWN_TESTS, Mutation  # noqa: E402

PACKAGE = "coursekit"
# A mutant that runs longer than HANG_FACTOR times its tests' baseline time (plus a few
# seconds) hangs: it counts as killed.  The factor is large enough that load on the
# machine never turns a surviving mutant into a timed-out one.
HANG_FACTOR, HANG_MARGIN = 5.0, 10.0

settings.register_profile("mutants", database=None, derandomize=True, deadline=None, print_blob=False,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate],
                          suppress_health_check=list(HealthCheck))


# ----------------------------------------------------------------------------
# Serving a mutated module
# ----------------------------------------------------------------------------
class _SourceLoader(importlib.abc.Loader):
    def __init__(self, source: str, path: str) -> None:
        self.source, self.path = source, path

    def create_module(self, spec: Any) -> None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        module.__file__ = self.path
        exec(compile(self.source, self.path, "exec"), module.__dict__)


class _MutantFinder(importlib.abc.MetaPathFinder):
    """Finds one module name and serves it from the given source instead of its file."""

    def __init__(self, name: str, source: str, path: str) -> None:
        self.name, self.loader, self.path = name, _SourceLoader(source, path), path

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_loader(fullname, self.loader, origin=self.path)


def module_file(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin, f"{name} is not importable"
    return Path(spec.origin)


def mutated_source(mutation: Mutation) -> str:
    source = module_file(mutation.module).read_text()
    found = source.count(mutation.find)
    assert found == 1, (f"{mutation.module}: the catalogue's text for '{mutation.bug}' occurs {found} "
                        f"times (must be exactly once): update tests/mutation_catalogue.py\n{mutation.find}")
    return source.replace(mutation.find, mutation.replace)


def _is_fresh(name: str, module: ModuleType | None) -> bool:
    """Modules re-imported for every run: coursekit's and the test modules."""
    if name == PACKAGE or name.startswith(PACKAGE + "."):
        return True
    path = getattr(module, "__file__", None) or ""
    return Path(path).parent == TESTS and name != "mutation_catalogue" and name != __name__


@contextlib.contextmanager
def fresh_modules(mutant: tuple[str, str, str] | None = None) -> Iterator[None]:
    """Forget coursekit and the test modules (serving ``mutant`` = (name, source, path)
    instead of its file), and put the originals back afterwards."""
    saved = {n: m for n, m in sys.modules.items() if _is_fresh(n, m)}
    finder = _MutantFinder(*mutant) if mutant else None
    for name in saved:
        del sys.modules[name]
    if finder:
        sys.meta_path.insert(0, finder)
    previous_profile = settings.get_current_profile_name()
    settings.load_profile("mutants")
    try:
        yield
    finally:
        settings.load_profile(previous_profile)
        if finder:
            sys.meta_path.remove(finder)
        for name in [n for n, m in sys.modules.items() if _is_fresh(n, m)]:
            del sys.modules[name]
        sys.modules.update(saved)


# ----------------------------------------------------------------------------
# Running test functions without pytest's collection
# ----------------------------------------------------------------------------
@dataclass
class Case:
    module: str
    name: str
    kwargs: dict[str, Any]

    @property
    def id(self) -> str:
        args = ",".join(f"{v!r}"[:20] for v in self.kwargs.values())
        return f"{self.module}::{self.name}" + (f"[{args}]" if args else "")


def _parametrize(fn: Callable[..., Any]) -> list[dict[str, Any]] | None:
    """The cartesian product of the function's parametrize marks (None: needs a fixture)."""
    grids = [[{}]]
    for mark in getattr(fn, "pytestmark", []):
        if mark.name in ("skip", "skipif", "xfail"):
            return None
        if mark.name != "parametrize":
            continue
        names, values = mark.args[0], mark.args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        rows = []
        for value in values:
            if isinstance(value, ParameterSet):  # pytest.param(...)
                value = value.values if len(names) > 1 else value.values[0]
            rows.append(dict(zip(names, value if len(names) > 1 else (value,))))
        grids.append(rows)
    cases = [dict(itertools.chain.from_iterable(d.items() for d in combo)) for combo in itertools.product(*grids)]
    wanted = set(inspect.signature(fn).parameters)
    if any(wanted - set(case) for case in cases):
        return None  # a fixture this runner does not provide
    return cases


def collect(module: ModuleType) -> list[tuple[Case, Callable[..., Any]]]:
    out = []
    for name, fn in vars(module).items():
        if not name.startswith("test_") or not callable(fn) or getattr(fn, "__module__", None) != module.__name__:
            continue
        for kwargs in _parametrize(fn) or []:
            out.append((Case(module.__name__, name, kwargs), fn))
    return out


class _TimeUp(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise _TimeUp after ``seconds`` (main thread only; elsewhere no limit)."""
    def stop(*_: Any) -> None:
        raise _TimeUp(f"over {seconds:g} s")

    try:
        old = signal.signal(signal.SIGALRM, stop)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cases(test_modules: tuple[str, ...], order: dict[str, float] | None = None,
              stop_at_first: bool = True) -> tuple[list[str], dict[str, float]]:
    """Import the test modules afresh and run their cases; returns (failures, seconds per case)."""
    cases = [c for name in test_modules for c in collect(importlib.import_module(name))]
    if order:
        cases.sort(key=lambda c: order.get(c[0].id, 0.0))
    failures, seconds = [], {}
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
            warnings.catch_warnings(), np.errstate():
        warnings.simplefilter("ignore")
        for case, fn in cases:
            start = time.perf_counter()
            try:
                with np.errstate():  # a test that changes NumPy's error handling does not leak it
                    fn(**case.kwargs)
            except (_TimeUp, KeyboardInterrupt):
                raise
            except BaseException as err:  # any failure of a test counts, SystemExit included
                first_line = str(err).splitlines()[0][:120] if str(err) else ""
                failures.append(f"{case.id}: {type(err).__name__}: {first_line}")
                if stop_at_first:
                    break
            finally:
                seconds[case.id] = time.perf_counter() - start
    return failures, seconds


# ----------------------------------------------------------------------------
# The catalogue run
# ----------------------------------------------------------------------------
@dataclass
class Result:
    mutation: Mutation
    killed: bool
    by: str
    seconds: float


def baseline(modules: set[str]) -> dict[str, float]:
    """Run every test once on the original code: all must pass; returns their durations."""
    tests = tuple(dict.fromkeys(t for m in sorted(modules) for t in OWN_TESTS[m]))
    with fresh_modules():
        failures, seconds = run_cases(tests, stop_at_first=False)
    assert not failures, "the unmutated code fails tests run this way:\n" + "\n".join(failures)
    return seconds


def run_mutation(mutation: Mutation, order: dict[str, float]) -> Result:
    source = mutated_source(mutation)
    tests = OWN_TESTS[mutation.module]
    limit = HANG_MARGIN + HANG_FACTOR * sum(t for case, t in order.items() if case.split("::")[0] in tests)
    start = time.perf_counter()
    with fresh_modules((mutation.module, source, str(module_file(mutation.module)))):
        try:
            with time_limit(limit):
                failures, _ = run_cases(tests, order)
        except _TimeUp as err:
            failures = [f"timed out ({err})"]
        except Exception as err:  # the mutant does not even import
            failures = [f"import failed: {type(err).__name__}: {err}"]
    return Result(mutation, bool(failures), failures[0] if failures else "", time.perf_counter() - start)


def run_catalogue(catalogue: list[Mutation] = CATALOGUE) -> list[Result]:
    order = baseline({m.module for m in catalogue})
    return [run_mutation(m, order) for m in catalogue]


def report(results: list[Result]) -> str:
    killed = sum(r.killed for r in results)
    lines = [f"planted-bug catalogue: {len(results)} mutations, {killed} killed, "
             f"kill rate {killed / len(results):.1%}"]
    kinds: dict[str, list[Result]] = {}
    for r in results:
        kinds.setdefault(r.mutation.kind, []).append(r)
    for kind, rs in kinds.items():
        targets = sorted({r.mutation.target for r in rs})
        lines.append(f"  {kind:<12} {sum(r.killed for r in rs):>3}/{len(rs):<3} ({', '.join(targets)})")
    for r in results:
        if not r.killed:
            lines.append(f"SURVIVED  {r.mutation.module}: {r.mutation.target}: {r.mutation.bug}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------------
def test_every_catalogue_entry_applies_and_compiles():
    for mutation in CATALOGUE:
        assert mutation.module in OWN_TESTS, f"no unit tests named for {mutation.module}"
        compile(mutated_source(mutation), mutation.module, "exec")


def test_the_catalogue_covers_every_core_op_layer_loss_initialiser_and_optimiser():
    targets = {m.target for m in CATALOGUE}
    required = {"linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "swish", "softmax",
                "softmax_cross_entropy", "mse", "batchnorm", "dropout",
                "Linear", "Activation", "BatchNorm", "Dropout", "Sequential",
                "l2_penalty", "Loss",
                "he_normal", "he_uniform", "xavier_normal", "xavier_uniform", "normal", "orthogonal", "lsuv",
                "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "Optimizer",
                "numerical_gradient", "relative_error"}
    assert not required - targets, f"no planted bug for {sorted(required - targets)}"


def test_a_mutant_is_really_what_the_tests_import():
    """The hook is honest: inside the run, coursekit.functional is the mutated code."""
    mutation = next(m for m in CATALOGUE if m.bug.startswith("relu_backward with >="))
    with fresh_modules((mutation.module, mutated_source(mutation), str(module_file(mutation.module)))):
        functional = importlib.import_module("coursekit.functional")
        layers = importlib.import_module("coursekit.layers")
        _, cache = functional.relu_forward(np.zeros((1, 2)))
        assert functional.relu_backward(np.ones((1, 2)), cache).tolist() == [[1.0, 1.0]]
        assert layers.ReLU.pair.backward is functional.relu_backward
    from coursekit import functional as original  # restored afterwards
    assert original.relu_backward(np.ones((1, 2)), original.relu_forward(np.zeros((1, 2)))[1]).tolist() == [[0, 0]]


@pytest.mark.slow
def test_every_planted_bug_is_caught_by_the_modules_own_tests():
    results = run_catalogue()
    text = report(results)
    print("\n" + text)
    survivors = [r for r in results if not r.killed]
    assert not survivors, text


if __name__ == "__main__":
    start = time.perf_counter()
    results = run_catalogue()
    for r in results:
        status = "killed" if r.killed else "SURVIVED"
        print(f"{status:<8} {r.seconds:5.2f}s  {r.mutation.module:<28} {r.mutation.target:<22} "
              f"{r.mutation.bug}\n{'':>16}{r.by[:110]}")
    print(report(results))
    print(f"{time.perf_counter() - start:.1f} s")
