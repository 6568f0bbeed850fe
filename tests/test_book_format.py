"""The book's sources follow the conventions of book/README.md (fast, no build).

- no code line of any page is longer than 72 characters (the HTML column holds
  about 75 at the code font size; a longer line scrolls sideways);
- no heading contains math (headings become the sidebar and search results,
  where math is not typeset);
- every erratum box has the class `erratum` and a `:name:` the errata appendix
  can link to, and boxes titled "Erratum" are never plain notes;
- every {cite} key exists in book/references.bib.
Each failure names the file and the line, so the author can go straight there.
`make format-book` fixes most long lines (book/format_book.py).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
sys.path.insert(0, str(BOOK))
sys.path.insert(0, str(BOOK / "_ext"))
import errata_index  # noqa: E402  (book/_ext/errata_index.py)
from format_book import LINE_LENGTH  # noqa: E402  (book/format_book.py)

CODE_FENCE = re.compile(r"^```\{code-cell\}")


def toc_pages() -> list[Path]:
    text = (BOOK / "_toc.yml").read_text(encoding="utf8")
    names = [re.search(r"^root:\s*(\S+)", text, re.M).group(1)]
    names += re.findall(r"^\s*-\s*file:\s*(\S+)", text, re.M)
    return [BOOK / f"{name}.md" for name in names if (BOOK / f"{name}.md").is_file()]


def code_lines(path: Path):
    """(line number, text) of every line of code inside the page's code cells."""
    lines = path.read_text(encoding="utf8").split("\n")
    i = 0
    while i < len(lines):
        if not CODE_FENCE.match(lines[i]):
            i += 1
            continue
        i += 1
        if i < len(lines) and lines[i].strip() == "---":  # YAML options block
            i += 1
            while i < len(lines) and lines[i].strip() != "---":
                i += 1
            i += 1
        while i < len(lines) and lines[i].startswith(":") and re.match(r"^:\w+:", lines[i]):
            i += 1  # short options such as :tags: [hide-input]
        while i < len(lines) and lines[i].rstrip() != "```":
            yield i + 1, lines[i]
            i += 1
        i += 1


def headings(path: Path):
    """(line number, text) of every Markdown heading outside code cells."""
    in_fence = False
    for number, line in enumerate(path.read_text(encoding="utf8").split("\n"), start=1):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(r"^#{1,6} ", line):
            yield number, line


PAGES = toc_pages()


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_code_lines_fit_the_column(page):
    long = [f"{page.name}:{number}: {len(text)} characters: {text.strip()[:60]}"
            for number, text in code_lines(page) if len(text) > LINE_LENGTH]
    assert not long, (
        f"{len(long)} code line(s) longer than {LINE_LENGTH} characters scroll sideways "
        f"in the HTML book; run `make format-book` and shorten the rest by hand:\n"
        + "\n".join(long[:40]))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_headings_have_no_math(page):
    bad = [f"{page.name}:{number}: {text}" for number, text in headings(page) if "$" in text]
    assert not bad, ("math in a heading shows as raw TeX in the sidebar and search "
                     "results; move the formula into the text:\n" + "\n".join(bad))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_erratum_boxes_are_well_formed(page):
    _, problems = errata_index.boxes_in(page.read_text(encoding="utf8"), page.stem)
    if not page.stem.startswith("ch"):
        return
    assert not problems, "\n".join(problems)


def test_every_cited_key_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (BOOK / "references.bib").read_text(), re.M))
    assert len(keys) >= 30
    missing = []
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf8").split("\n"), start=1):
            for role in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", line):
                missing += [f"{page.name}:{number}: {key.strip()}"
                            for key in role.split(",") if key.strip() not in keys]
    assert not missing, "cited keys missing from book/references.bib:\n" + "\n".join(missing)


def test_the_checker_finds_code_lines_and_headings(tmp_path):
    page = tmp_path / "ch99_x.md"
    page.write_text(
        "# Title\n\n## A $k$ heading\n\n```{code-cell} ipython3\n---\ntags: [hide-cell]\n"
        "---\n" + "x = 1  # " + "y" * 80 + "\n```\n\n```{code-cell} ipython3\n"
        ":tags: [hide-input]\n# not a heading\nz = 2\n```\n")
    lines = list(code_lines(page))
    assert [number for number, _ in lines] == [9, 14, 15]
    assert [number for number, _ in headings(page)] == [1, 3]
