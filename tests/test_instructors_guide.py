"""The instructor's guide's "new assignment" walk-through, followed literally.

book/instructors.md shows each file of the tiny assignment T1 in a
``{code-block}`` whose caption is its path, and the commands in a block
captioned ``run``.  This test writes those files as they are, runs those
commands one by one in a fresh course folder, and checks the outcome the guide
states.
"""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import textwrap

import pytest

from coursekit.grading import sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join(ROOT, "book", "instructors.md")
BLOCK = re.compile(r"```\{code-block\} (\w+)\n:caption: (.+?)\n(?::class: [\w-]+\n)?\n(.*?)\n```", re.S)

pytestmark = pytest.mark.slow


def guide_blocks() -> list:
    """(language, caption, text) of every captioned code block of the guide's walk-through."""
    text = open(GUIDE, encoding="utf-8").read()
    walkthrough = text[text.index("(sec-instructors-new)="):text.index("(sec-instructors-sandbox)=")]
    return BLOCK.findall(walkthrough)


def test_the_guide_has_the_files_and_the_commands():
    blocks = guide_blocks()
    captions = [c for _, c, _ in blocks]
    assert captions == ["drafts/T1.py", "solutions/T1/checks.py", "run"]


@pytest.mark.skipif(not sandbox.mode(), reason="grading needs the sandbox")
def test_following_the_guide_literally_makes_and_grades_a_new_assignment(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    for _language, caption, text in guide_blocks():
        if caption == "run":
            commands = [line for line in text.splitlines() if line.strip()]
            continue
        path = course / caption
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) + "\n", encoding="utf-8")
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
           "COURSEKIT_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    for command in commands:
        out = subprocess.run(["bash", "-c", command], cwd=course, env=env, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, f"{command}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert sorted(os.listdir(course / "assignments" / "T1")) == ["T1.ipynb", "checks.py", "visible_expected.npz"]
    release = (course / "assignments" / "T1" / "T1.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" not in release and "Rubric" not in release and "YOUR CODE HERE" in release
    with open(course / "reports" / "T1" / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"blank", "full"}
    assert float(rows["blank"]["score"]) == 0 and float(rows["blank"]["max_score"]) == 4
    assert float(rows["full"]["score"]) == 3 and rows["full"]["manual"] == "needs manual grading: derivation_written"
