"""Build the HTML book: execute every chapter, fail on any error, report times.

    python book/build.py                 # -> book/_build/html  (what `make book` runs)
    python book/build.py --out DIR       # -> DIR/_build/html   (what the tests run)
    python book/build.py --book SRC      # build another source folder (tests)

It runs Jupyter Book 1 with
  --all            a fresh Sphinx environment, so every page is re-read and every
                   notebook re-executed (execute_notebooks: force in _config.yml),
                   even if only coursekit changed;
  -W --keep-going  any warning fails the build, after all pages were tried. A cell
                   that raises (unless tagged `raises-exception`) is reported by
                   myst-nb as a warning, so it fails the build, and so do broken
                   references and bad directives.
then prints the execution time of every notebook (report_times.py) and writes
the same table to <build>/_build/execution_times.txt (for maintainers; the
students' HTML has no build report).

Exit status: 0 only if the build succeeded and every notebook executed.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BOOK = Path(__file__).resolve().parent
sys.path.insert(0, str(BOOK))
import report_times  # noqa: E402  (a sibling script, not a package)

REQUIRED_ASSETS = ["mathjax/tex-chtml.js", "widgets/require.js", "widgets/embed-amd.js"]


def pages_missing_from_toc(book: Path) -> list[str]:
    """Source pages under `book` that _toc.yml does not list (so are not built)."""
    toc = (book / "_toc.yml").read_text(encoding="utf8")
    listed = set(re.findall(r"^\s*(?:-\s*file|root):\s*(\S+)", toc, re.M))
    skip = {"_build", "node_modules", "_assets", ".ipynb_checkpoints"}
    missing = []
    for path in sorted(book.rglob("*")):
        relative = path.relative_to(book)
        if (path.suffix in {".md", ".ipynb"} and path.name != "README.md"
                and not skip.intersection(relative.parts)
                and relative.with_suffix("").as_posix() not in listed):
            missing.append(relative.as_posix())
    return missing


def build(out: Path | None = None, book: Path = BOOK) -> int:
    """Build the book in `book` into `out` (default: `book`); return the exit status."""
    missing = [name for name in REQUIRED_ASSETS if not (book / "_assets" / name).is_file()]
    if missing:
        print(
            f"book/build.py: offline assets missing from {book / '_assets'}: {missing}. "
            "Run `make book-assets` (npm ci + copy_assets.py) first.",
            file=sys.stderr,
        )
        return 2
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(book), "--all", "-W", "--keep-going"]
    if out is not None:
        command += ["--path-output", str(out)]
    env = dict(os.environ)
    # `make test` exports MPLBACKEND=Agg for headless runs; a kernel that inherits
    # it draws no inline figures. Let ipykernel choose its inline backend.
    env.pop("MPLBACKEND", None)
    # One BLAS thread per kernel: the chapters' speed comparisons (loop vs vectorised,
    # VJP vs Jacobian) must not depend on whether another process is using the second
    # core, and a multi-threaded BLAS oversubscribed by a parallel test run can stall.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    start = time.perf_counter()
    status = subprocess.run(command, env=env).returncode
    elapsed = time.perf_counter() - start
    build_dir = (out if out is not None else book) / "_build"
    print()
    times_status = report_times.main([str(build_dir)])
    report_times.write_report(build_dir)
    print(f"book/build.py: jupyter-book finished in {elapsed:.1f} s with exit status {status}")
    for page in pages_missing_from_toc(book):
        print(f"book/build.py: warning: {page} is not listed in _toc.yml, so it was "
              "neither executed nor built (add one line `  - file: NAME` to _toc.yml)")
    if status == 0 and times_status != 0:
        status = times_status
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="build into OUT/_build/html instead of book/_build/html")
    parser.add_argument("--book", type=Path, default=BOOK,
                        help="the book's source folder (default: this script's folder)")
    args = parser.parse_args(argv)
    return build(args.out, args.book.resolve())


if __name__ == "__main__":
    sys.exit(main())
