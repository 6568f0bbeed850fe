"""Sphinx extension: the errata appendix, generated from the chapters' erratum boxes.

Every chapter marks a mistake in the source lectures with a box

    :::{admonition} Erratum (lecture file 004, slide "<slide title>")
    :class: warning erratum
    :name: erratum-chNN-K
    What the slide says, what is right, and why.
    :::

When Sphinx reads `errata.md`, this extension replaces the line
`<!-- errata-index -->` in it with MyST text built from those boxes (the
`source-read` event), so the builder parses it like any other page: math,
emphasis and references render, every box's text appears in full, and each
entry links to its box in the chapter (where the cell that proves the
correction follows it). The appendix is grouped by chapter, with a table by
lecture file at the top. Only boxes with the class `erratum` are listed.

A box titled "Erratum ..." without the class, with the class but without a
`:name:` of the form `erratum-chNN-K`, or with an unterminated fence is reported
as a Sphinx warning, which fails `make book` (it builds with -W).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from sphinx.util import logging

logger = logging.getLogger(__name__)

PAGE = "errata"
MARKER = "<!-- errata-index -->"
FENCE = re.compile(r"^(?P<colons>:{3,})\{admonition\}\s*(?P<title>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
NAME = re.compile(r"^erratum-ch(?P<chapter>\d{2})-(?P<k>\d+)$")
LECTURE = re.compile(r"lecture file (\d{3})")
EQUATION_LABEL = re.compile(r"^(\$\$.*?\$\$|\s*\$\$)\s*\([\w-]+\)\s*$", re.M)
TARGET_LINE = re.compile(r"^\([\w-]+\)=\s*$", re.M)


@dataclass
class Box:
    """One erratum box of a chapter."""

    chapter: str      # docname, e.g. "ch04_klayer"
    name: str         # the box's :name:, e.g. "erratum-ch04-2"
    where: str        # the parenthesis of the title: lecture file and slide
    body: str         # the box's text, MyST
    line: int         # 1-based line of the opening fence

    @property
    def lecture(self) -> str:
        found = LECTURE.search(self.where)
        return found.group(1) if found else "other"


def boxes_in(text: str, chapter: str) -> tuple[list[Box], list[str]]:
    """The erratum boxes of one chapter's source, and a problem report per bad box."""
    lines = text.splitlines()
    boxes: list[Box] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, colons, title = i, fence["colons"], fence["title"].strip()
        i += 1
        options = {}
        while i < len(lines) and OPTION.match(lines[i]):
            option = OPTION.match(lines[i])
            options[option["key"]] = option["value"].strip()
            i += 1
        body_start = i
        while i < len(lines) and lines[i].strip() != colons:
            i += 1
        if i == len(lines):
            problems.append(f"{chapter}.md:{start + 1}: admonition fence never closed")
            break
        body = "\n".join(lines[body_start:i]).strip()
        i += 1
        classes = options.get("class", "").split()
        is_titled_erratum = title.startswith("Erratum")
        if "erratum" not in classes:
            if is_titled_erratum:
                problems.append(f"{chapter}.md:{start + 1}: a box titled 'Erratum' needs "
                                "`:class: warning erratum` (or, if it is not a mistake of "
                                "the lecture, a plain :::{note})")
            continue
        name = options.get("name", "")
        where = re.match(r"Erratum\s*\((.*)\)\s*$", title)
        if not NAME.match(name) or not name.startswith(f"erratum-{chapter[:4]}-"):
            problems.append(f"{chapter}.md:{start + 1}: erratum box needs "
                            f"`:name: erratum-{chapter[:4]}-K`, found {name!r}")
            continue
        if not where:
            problems.append(f"{chapter}.md:{start + 1}: erratum title must read "
                            "'Erratum (lecture file NNN, slide \"...\")'")
            continue
        boxes.append(Box(chapter, name, where.group(1).strip(), body, start + 1))
    return boxes, problems


def toc_chapters(srcdir: Path) -> list[tuple[str, int | None]]:
    """(docname, chapter number or None) of every chapter file in _toc.yml, in order.

    Chapters are the files named chNN_*; their number is their position among
    the files of numbered parts (the book numbers chapters continuously).
    """
    toc = yaml.safe_load((srcdir / "_toc.yml").read_text(encoding="utf8"))
    parts = toc.get("parts") or [{"chapters": toc.get("chapters", []), "numbered": False}]
    found, number = [], 0
    for part in parts:
        numbered = bool(part.get("numbered")) or bool(toc.get("options", {}).get("numbered"))
        for entry in part.get("chapters", []):
            if numbered:
                number += 1
            if re.match(r"ch\d{2}_", entry.get("file", "")):
                found.append((entry["file"], number if numbered else None))
    return found


def chapter_title(text: str) -> str:
    found = re.search(r"^# (.+)$", text, re.M)
    return found.group(1).strip() if found else "?"


def copy_of(body: str) -> str:
    """The box's text for the appendix: labels dropped (they belong to the chapter)."""
    body = TARGET_LINE.sub("", body)
    return EQUATION_LABEL.sub(lambda m: m.group(1), body)


def render(srcdir: Path) -> tuple[str, list[str]]:
    """The MyST text of the generated appendix, and the problems found on the way."""
    problems: list[str] = []
    sections: list[str] = []
    by_lecture: dict[str, list[str]] = {}
    total = 0
    for chapter, number in toc_chapters(srcdir):
        text = (srcdir / f"{chapter}.md").read_text(encoding="utf8")
        boxes, bad = boxes_in(text, chapter)
        problems += bad
        if not boxes:
            continue
        label = f"Chapter {number}" if number else chapter
        entries = [f"## {label}: {chapter_title(text)}", ""]
        for k, box in enumerate(boxes, start=1):
            short = f"{number}.{k}" if number else f"{chapter} {k}"
            link = f"{{ref}}`Erratum {short} <{box.name}>`"
            by_lecture.setdefault(box.lecture, []).append(f"{{ref}}`{short} <{box.name}>`")
            entries += [
                f"(errata-{box.name})=",
                f"**{link}** ({box.where})",
                "",
                copy_of(box.body),
                "",
            ]
            total += 1
        sections.append("\n".join(entries))
    table = ["| lecture file | errata |", "|---|---|"]
    for lecture in sorted(by_lecture):
        table.append(f"| {lecture} | {', '.join(by_lecture[lecture])} |")
    head = [
        f"The chapters found **{total}** mistakes in the lectures. By lecture file:",
        "",
        *table,
        "",
    ]
    return "\n".join(head) + "\n" + "\n\n".join(sections) + "\n", problems


def on_source_read(app, docname: str, source: list[str]) -> None:
    if docname != PAGE:
        return
    if MARKER not in source[0]:
        logger.warning(f"{PAGE}.md: the marker {MARKER} is missing; the errata index "
                       "was not generated", location=docname)
        return
    text, problems = render(Path(app.srcdir))
    for problem in problems:
        logger.warning(f"errata index: {problem}", location=docname)
    source[0] = source[0].replace(MARKER, text)


def always_outdated(app, env, added, changed, removed) -> list[str]:
    """Re-read the appendix whenever any chapter is re-read (its source is the chapters)."""
    return [PAGE] if (added or changed) and PAGE in env.found_docs else []


def setup(app):
    app.connect("source-read", on_source_read)
    app.connect("env-get-outdated", always_outdated)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
