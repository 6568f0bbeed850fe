"""The course's nbgrader configuration, in one place.

The course folder's ``nbgrader_config.py`` calls :func:`configure`, so plain
``nbgrader`` commands and formgrader, started in the course folder, use the
sandboxed grader; ``coursekit grade`` uses the same settings.

    <course>/solutions/<A>/      the instructor's source: notebook, checks.py
    <course>/assignments/<A>/    the student release (nbgrader's release folder)
    <course>/submitted/ autograded/ feedback/ gradebook.db   nbgrader's, as usual
    <course>/.coursekit/         the grader's caches, reports and staged submissions
"""
from __future__ import annotations

import os
import sys

import nbgrader
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets.config import Config

from coursekit.grading.feedback import TEMPLATES, FeedbackExporter, OfflineFeedback
from coursekit.grading.preprocessors import RestoreReleaseMetadata, SandboxedExecute

COURSE_ID = "coursekit"
STATE = ".coursekit"
_FORMGRADER = os.path.join(os.path.dirname(os.path.abspath(nbgrader.__file__)), "server_extensions", "formgrader")
# nbgrader's feedback template (which ours extends) and the Bootstrap stylesheet it inlines
NBGRADER_TEMPLATE_PATHS = [os.path.join(_FORMGRADER, "templates"),
                           os.path.join(_FORMGRADER, "static", "node_modules", "bootstrap", "dist", "css")]


def ensure_tools_on_path() -> None:
    """Put this Python's bin folder on PATH: nbgrader runs ``alembic`` from there for its gradebook."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def configure(c: Config, *, root: str, source: str | None = None, release: str | None = None,
              submitted: str | None = None, db_url: str | None = None, cell_timeout: float = 30.0,
              time_limit: float = 120.0, memory_mb: int = 2048, isolation: str = "sandbox") -> Config:
    """Fill ``c`` with the course's nbgrader settings for the course folder ``root``.

    source/release: the instructor and student folders (default ``solutions``
    and ``assignments`` in ``root``); submitted: where autograde reads
    submissions (default nbgrader's ``submitted``); db_url: the gradebook
    (default ``sqlite:///<root>/gradebook.db``).
    """
    ensure_tools_on_path()
    root = os.path.abspath(root)
    state = os.path.join(root, STATE)
    source_dir = os.path.abspath(source or os.path.join(root, "solutions"))
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.root = root
    c.CourseDirectory.source_directory = source_dir
    c.CourseDirectory.release_directory = os.path.abspath(release or os.path.join(root, "assignments"))
    if submitted:
        c.CourseDirectory.submitted_directory = submitted
    c.CourseDirectory.db_url = db_url or f"sqlite:///{os.path.join(root, 'gradebook.db')}"
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.tmp.npz"]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.OverwriteCells.add_missing_cells = True  # a deleted test cell is put back
    c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                          RestoreReleaseMetadata, OverwriteCells, CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                           LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    # nbconvert validates the whole notebook after every preprocessor by default; once, after
    # the last one, is as strict for the result and keeps a 20,000-cell notebook within its limit
    c.Exporter.optimistic_validation = True
    c.SandboxedExecute.cell_timeout = float(cell_timeout)
    c.SandboxedExecute.time_limit = float(time_limit)
    c.SandboxedExecute.memory_mb = int(memory_mb)
    c.SandboxedExecute.isolation = isolation
    c.SandboxedExecute.source_dir = source_dir
    c.SandboxedExecute.state_dir = state
    c.OfflineFeedback.state_dir = state
    c.RestoreReleaseMetadata.state_dir = state
    # OfflineFeedback must see the hidden tests (to scrub their lines) before they go
    c.GenerateFeedback.preprocessors = [GetGrades, OfflineFeedback, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.exporter_class = FeedbackExporter
    c.FeedbackExporter.template_name = "coursekit_feedback"
    c.FeedbackExporter.extra_template_basedirs = [TEMPLATES, NBGRADER_TEMPLATE_PATHS[0]]
    c.FeedbackExporter.extra_template_paths = NBGRADER_TEMPLATE_PATHS
    return c
