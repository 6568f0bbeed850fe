"""Sphinx extension: every chapter page offers its executed notebook for download.

myst-nb executes each text notebook and writes the result, outputs included, to
`<build>/jupyter_execute/<page>.ipynb`. sphinx-book-theme shows an `.ipynb`
entry in a page's download menu only when `ipynb_source` is set in the page
context, which it does itself only when a Binder/JupyterHub launch button is
configured (the offline book has none). This extension sets it for every
executed page and copies the notebook next to the page's source in
`_sources/`, and at the end of the build writes all of them into one archive,
`<html>/ARCHIVE` (linked from the preface).
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

ARCHIVE = "coursekit-notebooks.zip"


def executed_notebook(app, pagename: str) -> Path:
    return Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"


def offer_notebook(app, pagename, templatename, context, doctree) -> None:
    """Before the theme builds its header buttons: point the .ipynb entry at a copy."""
    source = executed_notebook(app, pagename)
    if doctree is None or not source.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def write_archive(app, exception) -> None:
    """All executed notebooks of the book in one zip file, in reading order."""
    if exception is not None or app.builder.format != "html":
        return
    sources = Path(app.outdir) / "_sources"
    order = {name: i for i, name in enumerate(_reading_order(app))}
    notebooks = sorted(sources.glob("*.ipynb"), key=lambda p: (order.get(p.stem, 999), p.stem))
    with zipfile.ZipFile(Path(app.outdir) / ARCHIVE, "w", zipfile.ZIP_DEFLATED) as archive:
        for notebook in notebooks:
            archive.write(notebook, f"coursekit-notebooks/{notebook.name}")


def _reading_order(app) -> list[str]:
    """Docnames in the order of the book (the root, then the table of contents)."""
    order, seen = [], set()

    def visit(doc: str) -> None:
        if doc in seen:
            return
        seen.add(doc)
        order.append(doc)
        for child in app.env.toctree_includes.get(doc, []):
            visit(child)

    visit(app.config.root_doc)
    return order


def setup(app):
    # sphinx-book-theme adds its header buttons at the default priority (500)
    app.connect("html-page-context", offer_notebook, priority=400)
    app.connect("build-finished", write_archive)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
