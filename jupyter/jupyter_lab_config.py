"""JupyterLab settings for reading the book (`make lab` passes this file with --config).

The chapters are MyST text notebooks (book/chNN_*.md): jupytext opens them as
notebooks, by default, through the settings override jupyter/overrides.json
(installed by `make lab-settings` into the environment's
share/jupyter/lab/settings/). Here: the server starts in book/ and the file
browser hides what students need not see (build output, npm packages, copied
web assets, caches).
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent

c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)

c.ServerApp.root_dir = str(HERE.parent / "book")
c.ContentsManager.hide_globs = [
    "_build", "_assets", "_ext", "node_modules", "static_src",
    "__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", ".DS_Store", "*~",
    "package.json", "package-lock.json",
]
