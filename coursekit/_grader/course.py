"""The nbgrader configuration of the course, in one place.

Used by the repository's ``nbgrader_config.py`` (so plain ``nbgrader
generate_assignment A2`` works from the root) and by ``coursekit grade``, which
points the same settings at a separate working folder.
"""
from __future__ import annotations

import os

from traitlets.config import Config

COURSE_ID = "coursekit"


def repo_root() -> str:
    """The course root, the folder holding ``solutions/`` and ``assignments/``.

    $COURSEKIT_COURSE_ROOT if set, else the current folder if it has a
    ``solutions/`` folder, else the repository this package lives in.
    """
    if os.environ.get("COURSEKIT_COURSE_ROOT"):
        return os.environ["COURSEKIT_COURSE_ROOT"]
    if os.path.isdir(os.path.join(os.getcwd(), "solutions")):
        return os.getcwd()
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def configure(c: Config, *, root: str, source: str | None = None, release: str | None = None,
              db_url: str | None = None, report_dir: str = "", scratch_dir: str = "",
              cell_timeout: int = 30, time_limit: float = 120.0) -> Config:
    """Fill ``c`` with the course's nbgrader settings.

    root: the course directory (``submitted/``, ``autograded/``, ``feedback/``);
    source/release: the instructor and student versions (default
    ``<root>/solutions`` and ``<root>/assignments``); db_url: the gradebook
    (default ``sqlite:///<root>/gradebook.db``).
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests,
                                        GetGrades, IgnorePattern, LimitOutput, SaveAutoGrades)

    from coursekit._grader.feedback import FeedbackExporter, OfflineFeedback
    from coursekit._grader.preprocessor import SandboxedExecute

    root = os.path.abspath(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.root = root
    c.CourseDirectory.source_directory = os.path.abspath(source or os.path.join(root, "solutions"))
    c.CourseDirectory.release_directory = os.path.abspath(release or os.path.join(root, "assignments"))
    c.CourseDirectory.db_url = db_url or f"sqlite:///{os.path.join(root, 'gradebook.db')}"
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    # a deleted test cell is put back (nbgrader's default leaves it out)
    c.OverwriteCells.add_missing_cells = True
    c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                           LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                           CheckCellMetadata]
    c.SandboxedExecute.cell_timeout = int(cell_timeout)
    c.SandboxedExecute.time_limit = float(time_limit)
    c.SandboxedExecute.report_dir = report_dir
    c.SandboxedExecute.scratch_dir = scratch_dir
    # the hidden tests' cases: <source>/_hidden/<A>.py, read by the grader, never copied to a release
    c.SandboxedExecute.solutions_dir = c.CourseDirectory.source_directory
    # OfflineFeedback must see the hidden tests (to scrub their lines) before they go
    c.GenerateFeedback.preprocessors = [GetGrades, OfflineFeedback, ClearHiddenTests,
                                        CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.exporter_class = FeedbackExporter
    return c
