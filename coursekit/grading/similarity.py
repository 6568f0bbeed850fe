"""A similarity report: each submission's answer cells against coursekit's source and each other.

Uses copydetect (winnowing fingerprints, as in MOSS): code is tokenised with
names and literals normalised, so renaming variables or reformatting does not
hide a copy.  The release's own code (stubs, given helpers) is boilerplate and
never counts.  For every submission the report gives the largest share of its
answer tokens found in one other source; at or above :data:`FLAG_THRESHOLD`
the grades CSV flags it for review.  It never changes a score.

The HTML report is self-contained (no script, nothing from a CDN).
"""
from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass

from coursekit.grading import sandbox, source

FLAG_THRESHOLD = 0.5  # share of a submission's answer tokens matched in one other source
NOISE_TOKENS = 25  # shorter matches are ignored: short correct answers look alike by necessity


@dataclass
class Match:
    student: str
    other: str  # another student's id, or "coursekit/<file>"
    share: float  # of the student's answer tokens
    student_code: str  # highlighted HTML from copydetect
    other_code: str


def answer_code(nb) -> str:
    """The code of the notebook's answer cells (nbgrader solution cells), in order."""
    return "\n\n".join(str(c.source) for c in nb.cells
                       if c.get("cell_type") == "code" and source.nbgrader_meta(c).get("solution"))


def reference_files(allow: tuple) -> list:
    """coursekit's library sources an assignment forbids (the grader's sandbox lacks them)."""
    keep = set(allow) | set(sandbox.HELPERS) | {"__init__", "cli"}
    out = []
    for dirpath, dirs, names in os.walk(sandbox.PACKAGE_DIR):
        dirs[:] = sorted(d for d in dirs if d not in ("grading", "__pycache__"))
        for name in sorted(names):
            rel = os.path.relpath(os.path.join(dirpath, name), sandbox.PACKAGE_DIR)
            top = rel[:-3].split(os.sep)[0]
            if name.endswith(".py") and top not in keep and not top.startswith("_"):
                out.append(os.path.join(dirpath, name))
    return out


def compare(answers: dict, boilerplate: str, references: list) -> tuple:
    """(best match per student, every match at or above the threshold) for ``answers``: id -> code."""
    # imported here: copydetect imports matplotlib.pyplot (0.6 s), which every other command,
    # a student's `coursekit validate` included, would pay for without using it
    from copydetect import CopyDetector

    with tempfile.TemporaryDirectory(prefix="coursekit-similarity-") as tmp:
        students = os.path.join(tmp, "students")
        os.makedirs(students)
        detector = CopyDetector(noise_t=NOISE_TOKENS, guarantee_t=NOISE_TOKENS, display_t=FLAG_THRESHOLD,
                                autoopen=False, silent=True, extensions=["py"])
        by_path: dict = {}
        for student, code in answers.items():
            path = os.path.join(students, f"{len(by_path):05d}.py")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(code)
            by_path[path] = student
            detector.add_file(path, "testref")
        for ref in references:
            detector.add_file(ref, "ref")
        stub = os.path.join(tmp, "boilerplate.py")
        with open(stub, "w", encoding="utf-8") as fh:
            fh.write(boilerplate)
        detector.add_file(stub, "boilerplate")
        if len(answers) == 0:
            return {}, []
        detector.run()
        best: dict = {}
        matches = []
        for test_sim, _, test_f, ref_f, test_code, ref_code, _ in detector.get_copied_code_list():
            student = by_path.get(test_f)
            other = by_path.get(ref_f) or "coursekit/" + os.path.relpath(ref_f, sandbox.PACKAGE_DIR)
            if student is None or other == student:
                continue
            matches.append(Match(student, other, float(test_sim), test_code, ref_code))
        for i, test_f in enumerate(detector.test_files):
            student = by_path[test_f]
            for j, ref_f in enumerate(detector.ref_files):
                other = by_path.get(ref_f) or "coursekit/" + os.path.relpath(ref_f, sandbox.PACKAGE_DIR)
                share = float(detector.similarity_matrix[i, j, 0]) if len(detector.similarity_matrix) else 0.0
                if other != student and share > best.get(student, (0.0, ""))[0]:
                    best[student] = (share, other)
        return best, sorted(matches, key=lambda m: -m.share)


def flag(best: tuple | None) -> str:
    """The CSV's similarity column: '' below the threshold, else 'review: 83% with <source>'."""
    if not best or best[0] < FLAG_THRESHOLD:
        return ""
    return f"review: {best[0]:.0%} of the answer code matches {best[1]}"


def write_report(path: str, assignment: str, best: dict, matches: list) -> None:
    """A self-contained HTML page: the table of flags, then each matching pair side by side."""
    rows = "".join(f"<tr><td>{html.escape(s)}</td><td>{share:.0%}</td><td>{html.escape(other)}</td></tr>"
                   for s, (share, other) in sorted(best.items(), key=lambda kv: -kv[1][0]))
    pairs = "".join(
        f"<h3>{html.escape(m.student)} &harr; {html.escape(m.other)}: {m.share:.0%} of "
        f"{html.escape(m.student)}'s answer code</h3><div class='pair'><pre>{m.student_code}</pre>"
        f"<pre>{m.other_code}</pre></div>" for m in matches)
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Similarity, {html.escape(assignment)}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:.2em .8em;border-bottom:1px solid #ccc}}
.pair{{display:flex;gap:1em}} .pair pre{{flex:1;white-space:pre-wrap;background:#f6f6f6;padding:.5em}}
span{{background:#ffe08a}}</style></head><body>
<h1>Similarity report: {html.escape(assignment)}</h1>
<p>Share of each submission's answer code (its nbgrader answer cells, the release's stubs excluded)
found in one other source: another submission or coursekit's own library. Matches shorter than
{NOISE_TOKENS} tokens are ignored. At {FLAG_THRESHOLD:.0%} or more the grades CSV flags the submission
for review; a flag is a reason to look, never a verdict, and no score changes because of it.</p>
<table><tr><th>student</th><th>largest share</th><th>with</th></tr>{rows}</table>
<h2>Matches at or above {FLAG_THRESHOLD:.0%}</h2>{pairs or "<p>None.</p>"}</body></html>"""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)


def report(assignment: str, notebooks: dict, release_nb, allow: tuple, path: str) -> dict:
    """Compare every graded notebook (id -> notebook); write the HTML report; id -> CSV flag."""
    answers = {student: answer_code(nb) for student, nb in notebooks.items()}
    best, matches = compare(answers, answer_code(release_nb), reference_files(allow))
    write_report(path, assignment, best, matches)
    return {student: flag(best.get(student)) for student in notebooks}

