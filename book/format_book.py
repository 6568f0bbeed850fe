"""Format the code cells of the book's chapters to fit the HTML column.

    python book/format_book.py                  # every chNN_*.md and the preface
    python book/format_book.py book/ch04_klayer.md ...
    python book/format_book.py --check          # list what is too long, change nothing

The book's code column holds about 75 characters (measured in Chromium, see
README.md), so code lines are at most LINE_LENGTH = 72 characters. For each
code cell of a MyST text notebook this script

1. moves a trailing comment that makes its line too long onto its own line
   above the code (ruff would otherwise break the code to keep the comment);
2. re-wraps comment-only lines that are too long;
3. runs `ruff format --line-length 72` on the cell (cells ruff cannot parse,
   such as IPython magics, are left alone and reported).

Lines it cannot shorten (a long string, a long URL) are reported with their
file and line; shorten them by hand. tests/test_book_format.py fails on any
code line longer than LINE_LENGTH.
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import jupytext

BOOK = Path(__file__).resolve().parent
LINE_LENGTH = 72
RUFF = Path(sys.executable).parent / "ruff"


def default_pages() -> list[Path]:
    return [BOOK / "preface.md", *sorted(BOOK.glob("ch[0-9][0-9]_*.md"))]


def trailing_comments(source: str) -> dict[int, int]:
    """{0-based line: column of its trailing comment} for lines with code before a '#'."""
    found = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return found
    for token in tokens:
        if token.type == tokenize.COMMENT:
            row, col = token.start
            line = token.line
            if line[:col].strip():
                found[row - 1] = col
    return found


def lift_comments(source: str) -> str:
    """Move trailing comments of over-long lines above their line; re-wrap
    blocks of comment lines that hold a line that is too long."""
    lines = source.split("\n")
    trailing = trailing_comments(source)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if i in trailing and len(line) > LINE_LENGTH:
            col = trailing[i]
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(wrap_comment(indent, [line[col:]]))
            out.append(line[:col].rstrip())
            i += 1
        elif is_comment(line):
            indent = line[: len(line) - len(line.lstrip())]
            block = [line]
            while (i + len(block) < len(lines) and is_comment(lines[i + len(block)])
                   and lines[i + len(block)].startswith(indent + "#")):
                block.append(lines[i + len(block)])
            if any(len(b) > LINE_LENGTH for b in block):
                out.extend(wrap_comment(indent, block))
            else:
                out.extend(block)
            i += len(block)
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


def is_comment(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith("#") and not stripped.startswith("#!")


def wrap_comment(indent: str, comments: list[str]) -> list[str]:
    """Comment lines ('# ...') joined and wrapped to the line length."""
    words = " ".join(line.strip()[1:].strip() for line in comments)
    return textwrap.wrap(words, LINE_LENGTH, initial_indent=indent + "# ",
                         subsequent_indent=indent + "# ", break_long_words=False,
                         break_on_hyphens=False) or [indent + "#"]


MAGIC = "# __ipython_magic__ "


def ruff_format(source: str) -> str | None:
    """The cell formatted by ruff, or None if ruff cannot parse it.

    IPython magics (`%matplotlib inline`, `!ls`) are not Python: they are
    turned into marked comments for ruff and restored afterwards.
    """
    hidden = "\n".join(
        MAGIC + line if line.lstrip().startswith(("%", "!")) else line
        for line in source.split("\n"))
    proc = subprocess.run(
        [str(RUFF), "format", "--line-length", str(LINE_LENGTH), "--stdin-filename",
         "cell.py", "-"],
        input=hidden, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        return None
    return proc.stdout.rstrip("\n").replace(MAGIC, "")


def format_page(path: Path, check: bool) -> list[str]:
    """Format one page in place (unless check); return reports of lines still too long."""
    notebook = jupytext.read(path)
    changed, reports = False, []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        source = cell.source
        if not check:
            new = ruff_format(lift_comments(source))
            if new is None:
                reports.append(f"{path.name}: cell {index}: ruff could not parse it; left as is")
                new = source
            if new != source:
                cell.source, changed = new, True
        for number, line in enumerate(cell.source.split("\n"), start=1):
            if len(line) > LINE_LENGTH:
                reports.append(f"{path.name}: cell {index}, line {number}: "
                               f"{len(line)} characters: {line.strip()[:50]}...")
    if changed:
        jupytext.write(notebook, path, fmt="md:myst")
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="only report lines longer than the limit")
    args = parser.parse_args(argv)
    reports = []
    for page in args.pages or default_pages():
        reports += format_page(page.resolve(), args.check)
    print("\n".join(reports) if reports else f"every code line fits in {LINE_LENGTH} characters")
    return 1 if any("characters" in r for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
