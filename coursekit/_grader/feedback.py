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

from nbgrader.preprocessors import NbGraderPreprocessor

from coursekit._grader.preprocessor import hidden_lines, scrub_outputs

_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.S)
_MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
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
    html = _MATHJAX_BLOCK.sub("", html)
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
