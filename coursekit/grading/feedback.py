"""Feedback pages that help without giving away the hidden tests, readable and offline.

``OfflineFeedback`` runs inside nbgrader's generate_feedback, after
``GetGrades`` (cell scores) and before ``ClearHiddenTests``:

* every output loses the lines that quote a hidden test; outputs are capped;
* LaTeX in markdown cells becomes MathML, which browsers render without any
  script (no MathJax, nothing from a CDN);
* a notebook with thousands of cells keeps its graded cells and the first
  ``max_other_cells`` others, with a note;
* the page's summary is prepared: every graded cell named by its part
  ("Part 3 — Batch norm backward (hidden tests)"), the score of each part, and
  the first problem to fix (``resources["coursekit_summary"]``, drawn by the
  ``coursekit_feedback`` template).
"""
from __future__ import annotations

import os
import re

import nbformat
from docutils.utils.math import latex2mathml
from jinja2 import BytecodeCache
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Int, Unicode

from coursekit.grading import preprocessors, source

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.S)
_MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_MATHJAX_COMMENT = re.compile(r"<!--[^>]*mathjax[^>]*-->", re.I)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.I | re.S)
# macros docutils' converter lacks, and their equivalents it knows
_TEX_SUBSTITUTES = {r"\dots": r"\ldots"}


def hidden_lines(nb) -> list:
    """Every non-trivial source line inside a hidden-test block of any cell."""
    lines = []
    for cell in nb.cells:
        _, block = source.split_hidden(str(cell.source))
        lines += [ln.strip() for ln in block.splitlines() if len(ln.strip()) >= 6]
    return lines


def scrub_text(text: str, secret: list) -> str:
    """Drop every line of ``text`` that contains a hidden-test source line."""
    if not secret:
        return text
    return "\n".join(ln for ln in text.split("\n") if not any(s in ln for s in secret))


def scrub_outputs(outputs: list, secret: list, cap: int) -> list:
    clean = []
    for out in outputs:
        out = nbformat.from_dict(dict(out))
        if out.get("output_type") == "error":
            out["traceback"] = [scrub_text(str(t), secret)[:cap] for t in out.get("traceback", [])][:40]
            out["evalue"] = scrub_text(str(out.get("evalue", "")), secret)[:cap]
        elif out.get("output_type") == "stream":
            out["text"] = scrub_text(str(out.get("text", "")), secret)[:cap]
        elif "data" in out:
            out["data"] = {k: scrub_text(v, secret)[:cap] for k, v in out["data"].items()
                           if isinstance(v, str) and k in ("text/plain", "text/html", "text/markdown")}
        clean.append(out)
    return clean


def tex_to_mathml(tex: str, block: bool) -> str:
    """MathML for ``tex`` (docutils' converter); the TeX in <code> if it cannot convert."""
    for macro, replacement in _TEX_SUBSTITUTES.items():
        tex = re.sub(re.escape(macro) + r"(?![A-Za-z])", replacement.replace("\\", "\\\\"), tex)
    try:
        mathml = latex2mathml.tex2mathml(tex.strip(), as_block=block)
    except Exception:  # unsupported macro: show the source, never fail
        return f"<code>{tex}</code>"
    return re.sub(r">\s+<", "><", mathml).strip()


def markdown_math_to_mathml(text: str) -> str:
    text = _DISPLAY.sub(lambda m: "\n\n" + tex_to_mathml(m.group(1), True) + "\n\n", text)
    return _INLINE.sub(lambda m: tex_to_mathml(m.group(1), False), text)


def strip_scripts(html: str) -> str:
    """Remove the template's MathJax loader and every <script> element."""
    html = _MATHJAX_COMMENT.sub("", _MATHJAX_BLOCK.sub("", html))
    return _SCRIPT.sub("", html)


def summary(nb, report: dict | None) -> dict:
    """What the top of the page shows: part scores, cell labels, the first thing to fix."""
    parts_report = (report or {}).get("parts", {})
    labels: dict = {}
    per_part: dict = {}
    manual: list = []
    for cell in nb.cells:
        meta = source.nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        gid, points, score = meta["grade_id"], float(meta.get("points", 0)), meta.get("score")
        info = parts_report.get(gid)
        if info:
            kind = "hidden tests" if info["kind"] == "hidden" else "visible tests"
            labels[gid] = f"{info['part']} ({kind})"
            title = info["part"]
        else:
            title = f"Written answer {gid}" if cell.cell_type == "markdown" else gid
            labels[gid] = f"{title} (manual grading)" if meta.get("solution") else title
        earned, most = per_part.get(title, (0.0, 0.0))
        if score is None:
            manual.append(gid)
        per_part[title] = (earned + float(score or 0.0), most + points)
    rows = [{"title": t, "score": f"{e:g} / {m:g}"} for t, (e, m) in per_part.items()]
    first = next((f"{info['part']}: {info['problems'][0]}" for gid, info in parts_report.items()
                  if not info.get("passed") and info.get("problems")), "")
    pending = (f"{len(manual)} written answer(s) still need manual grading: the score may rise."
               if manual else "")
    return {"labels": labels, "parts": rows, "first_fix": first[:600], "manual_pending": pending}


class OfflineFeedback(NbGraderPreprocessor):
    """Scrub hidden-test lines, cap outputs and cells, math to MathML, prepare the summary."""

    state_dir = Unicode("", help="<course>/.coursekit, where the grading reports are.").tag(config=True)
    max_output_chars = Int(20_000, help="Characters kept of each output in the feedback.").tag(config=True)
    max_other_cells = Int(300, help="Ungraded cells kept in the feedback of a huge notebook.").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        report = preprocessors.read_report(self.state_dir, info.get("assignment", ""), info.get("student", ""))
        resources["coursekit_summary"] = summary(nb, report)
        secret = hidden_lines(nb)
        kept, others = [], 0
        for cell in nb.cells:
            graded = bool(source.nbgrader_meta(cell))
            others += not graded
            if not graded and others > self.max_other_cells:
                continue
            if cell.cell_type == "code":
                cell.outputs = scrub_outputs(cell.get("outputs", []), secret, self.max_output_chars)
            elif cell.cell_type == "markdown":
                cell.source = markdown_math_to_mathml(cell.source)
            kept.append(cell)
        if others > self.max_other_cells:
            kept.append(nbformat.v4.new_markdown_cell(
                f"*{others - self.max_other_cells} more cells of this notebook are not shown here.*"))
        nb.cells = kept
        return nb, resources


class _MemoryBytecodeCache(BytecodeCache):
    """Compiled Jinja templates kept in memory, shared by every exporter of the process."""

    store: dict = {}

    def load_bytecode(self, bucket):
        code = self.store.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket):
        self.store[bucket.key] = bucket.bytecode_to_string()


_BYTECODE_CACHE = _MemoryBytecodeCache()


class FeedbackExporter(HTMLExporter):
    """nbgrader's HTML feedback with the course's template, cached templates, no scripts."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _BYTECODE_CACHE
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter's version minus its final BeautifulSoup pass (alt texts and
        # tab stops for the lab template, unused here: 0.15 s per student)
        language = nb.metadata.get("language_info", {})
        resources = self._init_resources(resources)
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=language.get("pygments_lexer", language.get("name")),
                                             parent=self)))
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        output, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return strip_scripts(output), resources
