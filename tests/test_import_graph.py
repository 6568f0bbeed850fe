"""No import cycle anywhere in coursekit.

The graph is built from the source with ``ast``: every ``import`` and
``from ... import`` of every module of the package, including imports inside
functions and under ``if TYPE_CHECKING:`` (an import moved into a function to
dodge a cycle is still a cycle: the boundary is in the wrong place).  Relative
imports are resolved.  Importing ``a.b.c`` also runs the ``__init__`` of ``a.b``,
so that package is an edge too, except when the importer lives inside it (a
package is always initialised before its own submodules run).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "coursekit"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if name in out and out[name].name == "__init__.py":
            continue  # x/__init__.py and x.py: Python imports the package
        out[name] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _resolve(node: ast.ImportFrom, importer: str, modules: dict[str, Path]) -> str:
    """The absolute module named by ``from <node.module> import ...`` inside ``importer``."""
    if node.level == 0:
        return node.module or ""
    package = importer if _is_package(importer, modules) else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _targets(node: ast.AST, importer: str, modules: dict[str, Path]) -> list[str]:
    """The package's modules that one import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = _resolve(node, importer, modules)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                 for alias in node.names]
    else:
        return []
    out = []
    for name in names:
        parts = name.split(".")
        # the module itself and every package above it that the importer is not inside
        for k in range(len(parts), 0, -1):
            candidate = ".".join(parts[:k])
            if candidate in modules and not (importer == candidate
                                             or importer.startswith(candidate + ".")):
                out.append(candidate)
    return out


def import_graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """importer -> {imported module: line of the first import}, within the package."""
    modules = module_names(root)
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target in _targets(node, name, modules):
                graph[name].setdefault(target, node.lineno)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with a cycle (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected component that has one."""
    return [_shortest_cycle(graph, set(c), c[0]) for c in strongly_connected(graph)]


def _shortest_cycle(graph: dict[str, dict[str, int]], members: set[str], start: str) -> list[str]:
    """start -> ... -> start, by breadth-first search inside one component."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w in members and w not in parent:
                    parent[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # Tarjan said there is one


def describe(cycle: list[str], graph: dict[str, dict[str, int]], modules: dict[str, Path]) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:]):
        path = modules[a].relative_to(ROOT.parent)
        steps.append(f"  {a} imports {b}  ({path}:{graph[a][b]})")
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def test_the_graph_sees_every_kind_of_import(tmp_path):
    """The scanner itself: relative, nested-in-function and parent-package imports."""
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .sub.c import g\n")
    (pkg / "sub" / "__init__.py").write_text("from .c import g\n")
    (pkg / "sub" / "c.py").write_text("from ..a import x\nfrom . import d\n")
    (pkg / "sub" / "d.py").write_text("import coursekit.sub\n")
    graph = import_graph(pkg)
    assert graph["coursekit.a"] == {"coursekit.b": 1}
    assert set(graph["coursekit.b"]) == {"coursekit.sub.c", "coursekit.sub"}
    assert set(graph["coursekit.sub.c"]) == {"coursekit.a", "coursekit.sub.d"}
    assert graph["coursekit.sub.d"] == {}, "a package's own submodule does not depend on it"
    cycles = find_cycles(graph)
    assert len(cycles) == 1 and cycles[0][0] == cycles[0][-1]
    assert set(cycles[0]) == {"coursekit.a", "coursekit.b", "coursekit.sub.c"}


def test_no_import_cycle_in_coursekit():
    graph = import_graph()
    modules = module_names()
    components = strongly_connected(graph)
    if components:
        report = []
        for members in components:
            cycle = _shortest_cycle(graph, set(members), members[0])
            report.append(f"modules in one cycle: {', '.join(members)}\n"
                          f"for example {describe(cycle, graph, modules)}")
        pytest.fail(f"{len(components)} import cycle(s) in {PACKAGE} (move the shared piece down, "
                    "see STYLE.md's dependency direction):\n" + "\n".join(report))


def test_the_library_never_imports_grading_or_plotting_from_below():
    """STYLE.md's direction: the core never imports experiments, viz, widgets or grading."""
    graph = import_graph()
    core = ["functional", "layers", "losses", "init", "optim", "gradcheck", "autodiff", "train",
            "data", "_checks", "_rng"]
    upper = ("experiments", "viz", "widgets", "grading", "_grader", "cli")
    wrong = [f"{PACKAGE}.{name} imports {target}"
             for name in core for mod in graph if mod == f"{PACKAGE}.{name}"
             or mod.startswith(f"{PACKAGE}.{name}.")
             for target in graph[mod] if target.split(".")[1] in upper]
    assert not wrong, "\n".join(wrong)
    experiments = [f"{mod} imports {t}" for mod in graph if mod.startswith(f"{PACKAGE}.experiments")
                   for t in graph[mod] if t.split(".")[1] in ("viz", "widgets")]
    assert not experiments, "viz imports experiments, never the reverse:\n" + "\n".join(experiments)
