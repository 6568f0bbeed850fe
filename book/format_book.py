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
3. runs `ruff format --line-length 72` on the cell (IPython magics are
   hidden from ruff and put back);
4. re-wraps docstring lines that are too long, and splits a string literal
   that is too long, inside brackets, into adjacent literals at spaces
   (never inside an f-string's {...}), then runs ruff again.

Lines it cannot shorten (a long string outside brackets, a long URL) are
reported with their file and line; shorten them by hand. tests/test_book_format.py fails on any
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



def _bracket_depths(source: str) -> dict[tuple[int, int], int]:
    """Bracket depth at the start of every token, keyed by (row, col)."""
    depth, depths = 0, {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        depths[token.start] = depth
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
    return depths


def _split_points(body: str) -> list[int]:
    """Indices just after a space in a string body, outside f-string braces."""
    points, depth, i = [], 0, 0
    while i < len(body):
        pair = body[i:i + 2]
        if pair in ("{{", "}}") and depth == 0:
            i += 2
            continue
        if body[i] == "{":
            depth += 1
        elif body[i] == "}":
            depth -= 1
        elif body[i] == " " and depth == 0:
            points.append(i + 1)
        i += 1
    return points


def _pieces(prefix: str, quote: str, body: str, first: int, width: int) -> list[str]:
    """Split a literal's body into literals of at most `first`, then `width`, characters."""
    overhead = len(prefix) + 2 * len(quote)
    pieces, start, room = [], 0, first
    points = _split_points(body)
    while len(body) - start + overhead > room:
        fitting = [p for p in points if start < p and p - start + overhead <= room]
        if not fitting:
            break
        end = fitting[-1]
        pieces.append(body[start:end])
        start, room = end, width
    pieces.append(body[start:])

    def literal(piece: str) -> str:
        keep = prefix if "{" in piece or "f" not in prefix.lower() else prefix.replace(
            "f", "").replace("F", "")
        return f"{keep}{quote}{piece}{quote}"

    return [literal(piece) for piece in pieces]


def split_long_strings(source: str) -> str:
    """Split over-long one-line string literals inside brackets; re-wrap docstring lines."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        depths = _bracket_depths(source)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return source
    lines = source.split("\n")
    edits = []  # (row, col_start, col_end, replacement lines)
    for token in tokens:
        if token.type != tokenize.STRING:
            continue
        (row, col), (end_row, end_col) = token.start, token.end
        text = token.string
        prefix = text[: len(text) - len(text.lstrip("rRbBfFuU"))]
        quote = text[len(prefix):len(prefix) + 3]
        if quote in ('"""', "\'\'\'"):
            if row == end_row and len(lines[row - 1]) > LINE_LENGTH:
                edits.append((row, col, end_col, _wrap_docstring(prefix, quote, text, col)))
            elif row != end_row:
                for r in range(row - 1, end_row):
                    line = lines[r]
                    if len(line) > LINE_LENGTH and line.strip():
                        start = col if r == row - 1 else len(line) - len(line.lstrip())
                        wrapped = textwrap.wrap(line[start:], LINE_LENGTH - start,
                                                break_long_words=False, break_on_hyphens=False)
                        edits.append((r + 1, start, len(line), wrapped))
            continue
        quote = text[len(prefix)]
        if row != end_row or len(lines[row - 1]) <= LINE_LENGTH or depths.get(token.start, 0) == 0:
            continue
        body = text[len(prefix) + 1:-1]
        pieces = _pieces(prefix, quote, body, LINE_LENGTH - col, LINE_LENGTH - col)
        if len(pieces) > 1:
            edits.append((row, col, end_col, pieces))
    for row, start, end, new in sorted(edits, reverse=True):
        line = lines[row - 1]
        indent = " " * start
        replacement = [line[:start] + new[0]] + [indent + piece for piece in new[1:]]
        replacement[-1] += line[end:]
        lines[row - 1:row] = replacement
    return "\n".join(lines)


def _wrap_docstring(prefix: str, quote: str, text: str, col: int) -> list[str]:
    """A one-line docstring that is too long, as a wrapped multi-line docstring."""
    body = text[len(prefix) + 3:-3].strip()
    return textwrap.wrap(f"{prefix}{quote}{body}{quote}", LINE_LENGTH - col,
                         break_long_words=False, break_on_hyphens=False)


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
    before = [c.source for c in notebook.cells if c.cell_type == "code"]
    changed, reports = False, []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        source = cell.source
        if not check:
            new = ruff_format(lift_comments(source))
            if new is not None and any(len(x) > LINE_LENGTH for x in new.split("\n")):
                new = ruff_format(split_long_strings(new)) or new
            if new is None:
                reports.append(f"{path.name}: cell {index}: ruff could not parse it; left as is")
                new = source
            if new != source:
                cell.source, changed = new, True
        for number, line in enumerate(cell.source.split("\n"), start=1):
            if len(line) > LINE_LENGTH:
                reports.append(f"{path.name}: cell {index}, line {number}: "
                               f"{len(line)} characters: {line.strip()[:50]}...")
    if changed:  # only the code bodies change: option blocks (captions) stay exactly as written
        after = [c.source for c in notebook.cells if c.cell_type == "code"]
        text = replace_code_bodies(path.read_text(encoding="utf-8"), before, after)
        path.write_text(text, encoding="utf-8")
    return reports


def code_cell_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the body of every ```{code-cell} fence, in order.

    The body starts after the fence line and its options (a --- YAML block or
    :key: lines) and ends before the closing ``` line.
    """
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    spans, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("```{code-cell}"):
            i += 1
            continue
        i += 1
        if i < len(lines) and lines[i] == "---":
            i += 1
            while lines[i] != "---":
                i += 1
            i += 1
        while i < len(lines) and lines[i].startswith(":"):
            i += 1
        start = i
        while not lines[i].startswith("```"):
            i += 1
        spans.append((offsets[start], offsets[i]))
        i += 1
    return spans


def replace_code_bodies(text: str, before: list[str], after: list[str]) -> str:
    """``text`` with the body of every code cell that changed (``before[k]`` -> ``after[k]``) replaced."""
    spans = code_cell_spans(text)
    if len(spans) != len(after):
        raise ValueError(f"found {len(spans)} code cells in the text, jupytext read {len(after)}")
    for (start, end), old, new in reversed(list(zip(spans, before, after))):
        if new != old:
            text = text[:start] + new.rstrip("\n") + "\n" + text[end:]
    return text


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
