"""The linter and the type checker run with the tests, so style never depends on memory.

Both are configured in pyproject.toml ([tool.ruff], [tool.mypy]: strict for the core
modules).  Each test runs the tool from the project's venv and fails with its findings.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: it is in the dev extra (pip install -e '.[dev]')")
    return found


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    book_scripts = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "book").glob("*.py"))
    result = run([tool("ruff"), "check", "--no-fix", "--output-format", "concise",
                  "coursekit", "tests", "benchmarks", *book_scripts])
    assert result.returncode == 0, f"ruff found problems:\n{result.stdout}{result.stderr}"


def test_mypy_finds_nothing():
    result = run([tool("mypy")])  # files and strictness from [tool.mypy] in pyproject.toml
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"


def test_the_core_is_checked_strictly():
    """The strict section names the core modules; a typo there would silently relax it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    strict = [o for o in config["overrides"] if o.get("disallow_untyped_defs")]
    assert len(strict) == 1
    modules = set(strict[0]["module"])
    for name in ("functional", "layers", "losses", "init", "optim", "gradcheck", "gradcheck.*",
                 "autodiff"):
        assert f"coursekit.{name}" in modules, name
    for name in modules:
        path = ROOT / name.replace(".*", "").replace(".", "/")
        assert path.with_suffix(".py").exists() or path.is_dir(), f"{name} is not a module"
