"""The grades CSV, read from the course's gradebook every time, with reasons an instructor can act on.

Scores come from nbgrader's gradebook -- so a manual grade given in formgrader
appears in the next export without regrading -- and the reasons from the
grader's per-submission report (``.coursekit/reports``) and stored result.
"""
from __future__ import annotations

import csv
import os
import re

from nbgrader.api import Gradebook, MissingEntry

from coursekit.grading import course

LIMIT_SIGNS = {"MemoryError": "memory limit hit", "BlockingIOError": "process limit hit",
               "Resource temporarily unavailable": "process limit hit", "File too large": "file size limit hit",
               "OSError: [Errno 27]": "file size limit hit"}
# coursekit modules a submission tried to use that the grader's sandbox does not hold
REFERENCE = re.compile(r"No module named '(coursekit\.[a-z_]+)'"
                       r"|No such file or directory: '[^']*/coursekit/([a-z_]+)\.py'")


def part_of(grade_id: str) -> str:
    """The part a graded cell belongs to: 'linear_hidden' -> 'linear'."""
    return re.sub(r"_(visible|hidden)$", "", grade_id)


def gradebook_rows(db_url: str, assignment: str) -> dict:
    """student -> {"score", "max_score", "cells": {grade id: (score or None, max score, kind)}}."""
    out = {}
    with Gradebook(db_url, course.COURSE_ID) as gb:
        try:
            submissions = gb.assignment_submissions(assignment)
        except MissingEntry:
            return {}
        for sub in submissions:
            cells = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    # nbgrader's Grade.score says 0 for an answer nobody has graded yet: look closer
                    given = g.manual_score if g.manual_score is not None else g.auto_score
                    manual = g.cell_type == "markdown" or g.auto_score is None
                    cells[g.name] = (None if given is None else float(given), float(g.max_score),
                                     "manual" if manual else "auto")
            out[sub.student.id] = {"score": float(sub.score or 0.0), "max_score": float(sub.max_score),
                                   "cells": cells}
    return out


def part_columns(cells_by_student: dict) -> list:
    """The parts, in the order their cells appear."""
    names = []
    for row in cells_by_student.values():
        for gid in row["cells"]:
            if part_of(gid) not in names:
                names.append(part_of(gid))
    return names


def reasons(result: dict) -> list:
    """Human-readable reasons for the CSV, most important first."""
    report = result.get("report") or {}
    out = list(result.get("notes", [])) + list(report.get("notes", []))
    if report.get("isolation") == "none":
        out.insert(0, "graded WITHOUT isolation (--unsafe-no-sandbox)")
    parts = report.get("parts", {})
    replaced = [g for g, p in parts.items() if p.get("helpers_replaced")]
    if replaced:
        out.append("tampering detected: test cells finished without reaching the grader (" + ", ".join(replaced) + ")")
    names = report.get("cell_names", {})
    out += [_name_cells(e, names) for e in report.get("events", [])]
    errors = report.get("cell_errors", [])
    problems = [p for part in parts.values() for p in part.get("problems", [])]
    timeouts = [e for e in errors if e["error"].startswith("CellTimeout")]
    for e in timeouts:
        out.append(f"{_cell(e['cell'], names)} hit the cell time limit (interrupted; later cells ran)")
    used = sorted({m if m.startswith("coursekit.") else f"coursekit.{f}"
                   for text in [e["error"] for e in errors] + problems
                   for m, f in REFERENCE.findall(text)})
    if used:
        out.append("uses coursekit's reference implementation (" + ", ".join(used)
                   + " is not available when grading)")
    for text in [e["error"] for e in errors] + problems:
        for sign, what in LIMIT_SIGNS.items():
            if sign in text and what not in out:
                out.append(what)
    if report.get("truncated"):
        out.append(f"output truncated in {report['truncated']} cell(s)")
    real = [e for e in errors if not e["error"].startswith(("NotImplementedError", "CellTimeout", "CellFailed"))
            and not REFERENCE.search(e["error"]) and not any(s in e["error"] for s in LIMIT_SIGNS)]
    if real:
        out.append(f"error in the notebook: {_cell(real[0]['cell'], names)}: {real[0]['error'][:160]}")
    failed = [g for g, p in parts.items() if not p.get("passed")]
    if failed:
        out.append("failed checks: " + ", ".join(failed))
    return out


def _cell(number, names: dict) -> str:
    gid = names.get(str(number)) or names.get(number)
    return f"cell {number} ({gid})" if gid else f"cell {number}"


def _name_cells(event: str, names: dict) -> str:
    return re.sub(r"^cell (\d+)", lambda m: _cell(m.group(1), names), event)


def rows(db_url: str, assignment: str, results: list, flags: dict) -> tuple:
    """(CSV rows, part names) for the stored ``results``, with scores from the gradebook."""
    book = gradebook_rows(db_url, assignment)
    parts = part_columns(book)
    out = []
    for result in results:
        student = result["student"]
        entry = book.get(student) if result.get("status") == "graded" else None
        row = {"student": student, "submission": result.get("submission", student),
               "status": result.get("status", "failed"), "score": "", "max_score": "",
               "manual": "", "reason": "", "similarity": flags.get(student, ""),
               "isolation": result.get("isolation", ""), "feedback": result.get("feedback", "")}
        if entry is not None:
            row["score"], row["max_score"] = round(entry["score"], 3), round(entry["max_score"], 3)
            pending = [gid for gid, (score, _, kind) in entry["cells"].items() if score is None and kind == "manual"]
            row["manual"] = ("needs manual grading: " + ", ".join(pending)) if pending else ""
            for part in parts:
                scores = [s for gid, (s, _, _) in entry["cells"].items() if part_of(gid) == part]
                row[part] = "" if any(s is None for s in scores) else round(sum(scores), 3)
        row["reason"] = "; ".join(reasons(result))
        out.append(row)
    return out, parts


def write_csv(path: str, table: list, parts: list) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    columns = ["student", "submission", "status", "score", "max_score", *parts, "manual", "reason",
               "similarity", "isolation", "feedback"]
    with open(path + ".tmp", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(table)
    os.replace(path + ".tmp", path)


def summary(table: list, parts: list) -> str:
    graded = [r for r in table if r["status"] == "graded"]
    failed = [r for r in table if r["status"] != "graded"]
    lines = [f"graded: {len(graded)}   failed: {len(failed)}   total: {len(table)}"]
    lines += [f"  FAILED {r['student']}: {r['reason']}" for r in failed]
    if graded:
        mean = sum(float(r["score"]) for r in graded) / len(graded)
        lines.append(f"mean score: {mean:.2f} / {graded[0]['max_score']}")
        lines.append("mean score per part:")
        for part in parts:
            values = [float(r[part]) for r in graded if r.get(part, "") != ""]
            shown = f"{sum(values) / len(values):6.2f}" if values else "   (manual)"
            lines.append(f"  {part:<16} {shown}")
    manual = [r for r in graded if r["manual"]]
    if manual:
        lines.append(f"needs manual grading (formgrader): {len(manual)} submission(s)")
    flagged = [r for r in graded if r["similarity"]]
    if flagged:
        lines.append(f"similarity flags (review, scores unchanged): {len(flagged)}")
    noted = [r for r in graded if r["reason"]]
    if noted:
        lines.append("notes:")
        lines += [f"  {r['student']}: {r['reason'][:300]}" for r in noted]
    return "\n".join(lines)


def compare_with_expected(table: list, expected_csv: str, assignment: str) -> list:
    """Differences between ``table`` and an expected-results CSV; [] when all match.

    Columns: assignment, student, score, reason_contains.  Each listed student
    of ``assignment`` must be graded, score ``score`` (to 0.01) and have
    ``reason_contains`` in its reason (an empty cell requires an empty reason).
    """
    by_student = {r["student"]: r for r in table}
    problems, listed = [], set()
    with open(expected_csv, newline="", encoding="utf-8") as fh:
        for exp in csv.DictReader(fh):
            if exp["assignment"] != assignment:
                continue
            listed.add(exp["student"])
            row = by_student.get(exp["student"])
            if row is None:
                problems.append(f"{exp['student']}: not graded")
                continue
            if row["status"] != "graded":
                problems.append(f"{exp['student']}: status {row['status']} ({row['reason']})")
                continue
            if abs(float(row["score"]) - float(exp["score"])) > 0.01:
                problems.append(f"{exp['student']}: score {row['score']}, expected {exp['score']}")
            want, got = exp["reason_contains"], row["reason"]
            if (want and want not in got) or (not want and got):
                problems.append(f"{exp['student']}: reason {got!r}, expected "
                                + (f"to contain {want!r}" if want else "no reason"))
    problems += [f"{s}: graded but not listed in {os.path.basename(expected_csv)}"
                 for s in sorted(set(by_student) - listed)]
    return problems
