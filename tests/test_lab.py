"""JupyterLab as `make lab` starts it: chapters open as notebooks, build folders hidden.

`make lab` runs `jupyter lab --config=jupyter/jupyter_lab_config.py` after
installing jupyter/overrides.json into the environment's lab settings
(`make lab-settings`). This test starts the same server on a free local port,
with the repository's overrides.json as its settings (so it checks the file in
the repository, installed or not), and checks through the server API and in
headless Chromium that a chapter opens with the Jupytext notebook factory.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "jupyter" / "jupyter_lab_config.py"
OVERRIDES = ROOT / "jupyter" / "overrides.json"
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "coursekit-lab-test"
CHAPTER = "ch02_jacobians.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    settings = tmp_path_factory.mktemp("lab-settings")
    shutil.copy(OVERRIDES, settings / "overrides.json")
    runtime = tmp_path_factory.mktemp("lab-runtime")
    port = free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime))
    command = [
        str(Path(sys.executable).parent / "jupyter"), "lab", f"--config={CONFIG}",
        "--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
        f"--LabApp.app_settings_dir={settings}", "--allow-root",
        "--ServerApp.open_browser=False",
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(f"{base}/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read() if server.poll() is not None else ""
                    pytest.fail(f"jupyter lab did not start:\n{output[-3000:]}")
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.slow
def test_lab_serves_the_book_without_build_folders(lab):
    listing = get_json(f"{lab}/api/contents/")
    names = {item["name"] for item in listing["content"]}
    assert CHAPTER in names and "preface.md" in names, f"lab does not start in book/: {names}"
    shown = names & {"_build", "node_modules", "_assets", "_ext", "__pycache__"}
    assert not shown, f"the file browser shows build folders to students: {shown}"


@pytest.mark.slow
def test_text_notebooks_default_to_the_jupytext_notebook_viewer(lab):
    plugin = get_json(f"{lab}/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = plugin["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers.get("markdown") == "Jupytext Notebook", viewers
    assert viewers.get("myst") == "Jupytext Notebook", viewers


@pytest.mark.slow
def test_a_chapter_opens_as_a_notebook_in_the_browser(lab):
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing: run `make browser`")
        pytest.skip(f"{CHROMIUM} is missing: run `make browser`")
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{lab}/lab/tree/{CHAPTER}?token={TOKEN}")
            page.wait_for_selector(".jp-MainAreaWidget .jp-Cell, .jp-FileEditor",
                                   timeout=90_000)
            if page.query_selector(".jp-NotebookPanel"):
                # the chapter's title, rendered from its first Markdown cell
                page.wait_for_selector(".jp-NotebookPanel .jp-MarkdownCell h1",
                                       timeout=60_000)
            opened = page.evaluate("""() => ({
                notebooks: document.querySelectorAll('.jp-NotebookPanel').length,
                editors: document.querySelectorAll('.jp-FileEditor').length,
                cells: document.querySelectorAll('.jp-NotebookPanel .jp-Cell').length,
                first: document.querySelector('.jp-NotebookPanel .jp-MarkdownCell h1')
                       ?.textContent || ''})""")
        finally:
            browser.close()
    assert opened["editors"] == 0, f"{CHAPTER} opened as a text file: {opened}"
    # JupyterLab renders cells lazily: the chapter's title is enough
    assert opened["notebooks"] == 1 and opened["cells"] >= 1, opened
    assert "Gradients, Jacobians and the chain rule" in opened["first"], opened
