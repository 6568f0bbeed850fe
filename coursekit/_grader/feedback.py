"""Feedback that helps without giving away the hidden tests, and works offline.

``OfflineFeedback`` runs inside nbgrader's generate_feedback, before
``ClearHiddenTests`` removes the hidden-test blocks from the sources:

* every output (tracebacks included) loses the lines that quote a hidden test;
* LaTeX in markdown cells (``$...$``, ``$$...$$``) becomes MathML, which
  browsers render natively -- no MathJax, no script from a CDN.

:func:`strip_remote_scripts` then removes the CDN MathJax loader that the
nbgrader feedback template always emits.
"""
from __future__ import annotations

import re

from jinja2 import BytecodeCache
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader.preprocessors import NbGraderPreprocessor

from coursekit._grader.preprocessor import hidden_lines, scrub_outputs

_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.S)
_MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_MATHJAX_COMMENT = re.compile(r"<!--[^>]*mathjax[^>]*-->", re.I)
_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", re.I)


def tex_to_mathml(tex: str, block: bool) -> str:
    """MathML for ``tex`` (docutils' converter); the TeX in <code> if it cannot convert."""
    from docutils.utils.math import latex2mathml

    try:
        mathml = latex2mathml.tex2mathml(tex.strip(), as_block=block)
    except Exception:  # noqa: BLE001 - unsupported macro: show the source, never fail
        return f"<code>{tex}</code>"
    return re.sub(r">\s+<", "><", mathml).strip()


def markdown_math_to_mathml(text: str) -> str:
    text = _DISPLAY.sub(lambda m: "\n\n" + tex_to_mathml(m.group(1), True) + "\n\n", text)
    return _INLINE.sub(lambda m: tex_to_mathml(m.group(1), False), text)


def strip_remote_scripts(html: str) -> str:
    """Remove the template's MathJax loader and any <script src="http..."> tag."""
    html = _MATHJAX_COMMENT.sub("", _MATHJAX_BLOCK.sub("", html))
    return _REMOTE_SCRIPT.sub("", html)


class OfflineFeedback(NbGraderPreprocessor):
    """Scrub hidden-test lines from outputs; turn markdown math into MathML."""

    def preprocess(self, nb, resources):
        secret = hidden_lines(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = scrub_outputs(cell.get("outputs", []), secret)
            elif cell.cell_type == "markdown":
                cell.source = markdown_math_to_mathml(cell.source)
        return nb, resources


class _MemoryBytecodeCache(BytecodeCache):
    """Compiled Jinja templates kept in memory, shared by every exporter of the process.

    nbgrader makes a new exporter per student, and each one would otherwise
    compile the feedback template again (about 0.2 s of every submission).
    """

    store: dict = {}

    def load_bytecode(self, bucket):
        code = self.store.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket):
        self.store[bucket.key] = bucket.bytecode_to_string()


_BYTECODE_CACHE = _MemoryBytecodeCache()


class FeedbackExporter(HTMLExporter):
    """nbgrader's HTML feedback exporter, with cached templates and no remote scripts."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _BYTECODE_CACHE
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter's version, minus its final BeautifulSoup pass (alt texts and
        # tab stops for the lab template's classes, which the feedback template does
        # not use): that pass alone cost about 0.15 s per student
        lexer = nb.metadata.get("language_info", {}).get("pygments_lexer",
                                                         nb.metadata.get("language_info", {}).get("name"))
        resources = self._init_resources(resources)
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        output, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return strip_remote_scripts(output), resources
