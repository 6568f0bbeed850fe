"""Copy the browser assets the HTML book needs from node_modules/ into _assets/.

The book must work with no network, so nothing is loaded from a CDN. `npm ci`
(run by `make book-assets`) installs the packages pinned in package-lock.json
into book/node_modules/ (246 MB, ignored by git). This script copies the few
files the pages actually load into book/_assets/ (also ignored), which
_config.yml lists as `html_static_path`, so Sphinx copies them to
`_build/html/_static/`:

  _assets/mathjax/tex-chtml.js            MathJax 3 (TeX input, CommonHTML output,
                                          menu and assistive MathML built in)
  _assets/mathjax/output/chtml/fonts/woff-v2/   the math fonts tex-chtml.js loads
  _assets/mathjax/input/tex/extensions/   TeX packages MathJax autoloads on demand
                                          (e.g. \\boldsymbol, \\cancel, \\bbox)
  _assets/widgets/require.js              RequireJS, needed by embed-amd.js
  _assets/widgets/require-config.js       ours (static_src/): tells RequireJS where the
                                          widget bundle's fonts are
  _assets/widgets/embed-amd.js            @jupyter-widgets/html-manager 1.0.6: renders
                                          saved widget state without a kernel
  _assets/widgets/*.woff2, *.woff         Font Awesome, used by widget icons

The folder is deliberately not called `_static`: Jupyter Book 1 adds a
<script> tag for every .js file found in `<book>/_static`.

Usage: python book/copy_assets.py            (from anywhere)
Exit status 1 with a message if `npm ci` has not been run.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

BOOK = Path(__file__).resolve().parent
NODE = BOOK / "node_modules"
DEST = BOOK / "_assets"

MATHJAX = NODE / "mathjax" / "es5"
HTML_MANAGER = NODE / "@jupyter-widgets" / "html-manager" / "dist"
REQUIREJS = NODE / "requirejs"

# (source, destination relative to DEST); directories are copied whole.
COPIES = [
    (MATHJAX / "tex-chtml.js", "mathjax/tex-chtml.js"),
    (MATHJAX / "output" / "chtml" / "fonts" / "woff-v2", "mathjax/output/chtml/fonts/woff-v2"),
    (MATHJAX / "input" / "tex" / "extensions", "mathjax/input/tex/extensions"),
    (NODE / "mathjax" / "LICENSE", "mathjax/LICENSE"),
    (REQUIREJS / "require.js", "widgets/require.js"),
    (HTML_MANAGER / "embed-amd.js", "widgets/embed-amd.js"),
    (HTML_MANAGER.parent / "LICENSE", "widgets/LICENSE"),
    (BOOK / "static_src" / "require-config.js", "widgets/require-config.js"),
]
# Font Awesome files that embed-amd.js references next to itself (hashed names).
# Every browser the book targets reads woff2; woff is the fallback it names next.
FONT_SUFFIXES = (".woff2", ".woff")


def copy_assets() -> int:
    """Recreate DEST from node_modules; return the total size in bytes."""
    if not NODE.is_dir():
        sys.exit(f"copy_assets: {NODE} is missing: run `npm ci` in {BOOK} (or `make book-assets`)")
    if DEST.exists():
        shutil.rmtree(DEST)
    for src, rel in COPIES:
        if not src.exists():
            sys.exit(f"copy_assets: expected {src} in the npm install; run `npm ci` in {BOOK}")
        target = DEST / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copy2(src, target)
    fonts = [p for p in HTML_MANAGER.iterdir() if p.suffix in FONT_SUFFIXES]
    if not fonts:
        sys.exit(f"copy_assets: no Font Awesome files found in {HTML_MANAGER}")
    for font in fonts:
        shutil.copy2(font, DEST / "widgets" / font.name)
    return sum(p.stat().st_size for p in DEST.rglob("*") if p.is_file())


if __name__ == "__main__":
    total = copy_assets()
    n_files = sum(1 for p in DEST.rglob("*") if p.is_file())
    print(f"copy_assets: {n_files} files, {total / 1e6:.1f} MB in {DEST}")
