"""The HTML book: it builds, every chapter executes, and it works with no network.

One build of the whole book per test session (shared by the pytest-xdist
workers through a lock file), into a temporary folder, with the same command
`make book` runs (book/build.py). Then:
  - the build succeeded and every notebook in _toc.yml executed without error;
  - every page loads scripts and stylesheets only from inside the build;
  - math is left as MathJax input and MathJax itself is a file in the build;
  - headless Chromium, loading the preface from a local server, typesets the
    math, shows the executed figures and renders the saved widget;
  - a chapter with a failing cell fails the build (and `raises-exception`
    cells do not);
  - notebooks are stored without outputs.
Needs `make book-assets` (the npm assets) and, for the browser test, Chromium
(`make browser`); `make test` does both first.
"""
from __future__ import annotations

import fcntl
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD_SCRIPT = BOOK / "build.py"
CHROMIUM = Path("/usr/bin/chromium")
BUILD_TIMEOUT = 900  # seconds; the preface alone takes about 5

sys.path.insert(0, str(BOOK))
import report_times  # noqa: E402  (book/report_times.py)


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def front_matter(path: Path) -> str:
    """The YAML header between the leading '---' lines of a text notebook ('' if none)."""
    text = path.read_text(encoding="utf8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    return match.group(1) if match else ""


def toc_files() -> list[str]:
    """Every page named in book/_toc.yml (root first), without extension."""
    text = (BOOK / "_toc.yml").read_text(encoding="utf8")
    root = re.search(r"^root:\s*(\S+)", text, re.M).group(1)
    return [root] + re.findall(r"^\s*-\s*file:\s*(\S+)", text, re.M)


def source_of(page: str) -> Path:
    for suffix in (".md", ".ipynb"):
        if (BOOK / (page + suffix)).is_file():
            return BOOK / (page + suffix)
    raise AssertionError(f"_toc.yml lists {page!r} but book/{page}.md (or .ipynb) does not exist")


def is_notebook(path: Path) -> bool:
    """A page myst-nb executes: an .ipynb, or a text notebook with a kernelspec."""
    return path.suffix == ".ipynb" or "kernelspec:" in front_matter(path)


def book_sources() -> list[Path]:
    """Every .md/.ipynb under book/ that belongs to the book (not builds, not npm)."""
    skip = {"_build", "node_modules", "_assets", ".ipynb_checkpoints"}
    return sorted(
        p for p in BOOK.rglob("*")
        if p.suffix in {".md", ".ipynb"} and not skip.intersection(p.relative_to(BOOK).parts)
    )


class TagCollector(HTMLParser):
    """Collect <script> and <link> attributes, inline script bodies and math nodes."""

    def __init__(self):
        super().__init__()
        self.scripts: list[dict] = []
        self.links: list[dict] = []
        self.images: list[dict] = []
        self.inline_scripts: list[tuple[dict, str]] = []
        self.math_nodes = 0
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if "math" in classes:
            self.math_nodes += 1
        if tag == "script":
            self.scripts.append(attrs)
            if not attrs.get("src"):
                self._in_script = attrs
                self._body = []
        elif tag == "link":
            self.links.append(attrs)
        elif tag == "img":
            self.images.append(attrs)

    def handle_data(self, data):
        if self._in_script is not None:
            self._body.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.inline_scripts.append((self._in_script, "".join(self._body)))
            self._in_script = None


def parse_page(path: Path) -> TagCollector:
    collector = TagCollector()
    collector.feed(path.read_text(encoding="utf8"))
    return collector


FETCHED_RELS = {"stylesheet", "preload", "modulepreload", "icon", "prefetch", "manifest"}


def is_remote(url: str) -> bool:
    url = url.strip().lower()
    return url.startswith(("http://", "https://", "//")) or bool(urlsplit(url).netloc)


def local_target(page: Path, url: str) -> Path:
    """The file a relative URL on `page` points to (query and fragment dropped)."""
    return (page.parent / unquote(urlsplit(url).path)).resolve()


# The tests that read the build run on one pytest-xdist worker (`make test` uses
# --dist loadgroup): another worker would only wait for the build's lock.
pytestmark = pytest.mark.xdist_group("book")


@dataclass
class Build:
    returncode: int
    log: str
    build_dir: Path  # .../_build

    @property
    def html(self) -> Path:
        return self.build_dir / "html"


def run_build(book: Path, out: Path) -> subprocess.CompletedProcess:
    # one BLAS thread per kernel: the other pytest-xdist worker uses the second core
    env = dict(os.environ, PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--book", str(book), "--out", str(out)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=env, cwd=ROOT,
    )


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Build:
    """Build the real book once per session, shared by all xdist workers.

    COURSEKIT_BOOK_BUILD=<dir>/_build reuses a build made with
    `book/build.py --out <dir>` instead (for iterating on these tests only).
    """
    reuse = os.environ.get("COURSEKIT_BOOK_BUILD")
    if reuse:
        table = (Path(reuse) / "execution_times.txt").read_text(encoding="utf8")
        return Build(0, "Execution time per notebook (reused build):\n" + table, Path(reuse))
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, common to every worker
    out = root / "book-build"
    result_file = root / "book-build.json"
    with open(root / "book-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result_file.exists():
            proc = run_build(BOOK, out)
            result_file.write_text(json.dumps(
                {"returncode": proc.returncode, "log": proc.stdout + proc.stderr}))
        result = json.loads(result_file.read_text())
    return Build(result["returncode"], result["log"], out / "_build")


def require_success(build: Build) -> None:
    if build.returncode != 0:
        pytest.fail(f"the book build failed (exit {build.returncode}); end of its log:\n"
                    + build.log[-6000:])


# ----------------------------------------------------------------------------
# the build
# ----------------------------------------------------------------------------
@pytest.mark.slow
def test_book_builds_and_every_notebook_executes(built_book):
    require_success(built_book)
    times = report_times.execution_times(built_book.build_dir)
    notebooks = [page for page in toc_files() if is_notebook(source_of(page))]
    assert "preface" in notebooks, "the preface must be an executed notebook"
    for page in notebooks:
        assert page in times, f"{page} was not executed by the build"
        record = times[page]
        assert record["succeeded"], f"{page} failed to execute: {record['error']}"
        assert record["method"] == "force", f"{page} was not executed fresh: {record['method']}"
    for page in toc_files():
        assert (built_book.html / f"{page}.html").is_file(), f"no HTML page for {page}"
    # `make book` prints the per-notebook table; the test build printed it too
    assert "Execution time per notebook" in built_book.log
    assert re.search(r"^preface\s+\d+\.\d\s+ok$", built_book.log, re.M), built_book.log[-2000:]


@pytest.mark.slow
def test_pages_load_scripts_and_styles_only_from_the_build(built_book):
    require_success(built_book)
    pages = sorted(built_book.html.rglob("*.html"))
    assert len(pages) >= len(toc_files())
    for page in pages:
        if "_static" in page.relative_to(built_book.html).parts:
            continue
        tags = parse_page(page)
        # resources the browser fetches: scripts, stylesheets, preloads, icons
        fetched = [s["src"] for s in tags.scripts if s.get("src")]
        fetched += [link["href"] for link in tags.links
                    if link.get("href") and FETCHED_RELS.intersection((link.get("rel") or "").split())]
        if page.name != "index.html":  # index.html is only a redirect to the root page
            assert fetched, f"{page.name}: no scripts or stylesheets found (parser broken?)"
        for url in fetched:
            assert not is_remote(url), f"{page.name} loads {url} from the network"
            target = local_target(page, url)
            assert target.is_file(), f"{page.name} references {url}, which is not in the build"
            assert built_book.html.resolve() in target.parents, f"{page.name}: {url} leaves the build"
        # navigation links (next, prev, search, index) stay inside the book too
        for link in tags.links:
            assert not is_remote(link.get("href", "")), f"{page.name} links to {link['href']}"
        for attrs, body in tags.inline_scripts:
            if attrs.get("type") == "application/vnd.jupyter.widget-state+json":
                continue  # saved widget state: data, not code
            remote = re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}/[^\s\"']*", body)
            assert not remote, f"{page.name}: an inline script names remote URLs {remote}"
    # and no stylesheet pulls fonts or imports from elsewhere
    for css in built_book.html.rglob("*.css"):
        text = css.read_text(encoding="utf8", errors="replace")
        remote = re.findall(r"(?:url\(|@import)\s*[\"']?((?:https?:)?//[^)\"'\s]+)", text)
        assert not remote, f"{css.relative_to(built_book.html)} loads {remote}"


@pytest.mark.slow
def test_math_is_mathjax_input_and_mathjax_is_in_the_build(built_book):
    require_success(built_book)
    page = built_book.html / "preface.html"
    tags = parse_page(page)
    html = page.read_text(encoding="utf8")
    # Sphinx leaves TeX in the page, wrapped in MathJax's delimiters
    assert tags.math_nodes >= 10, f"expected the preface's formulas, found {tags.math_nodes}"
    assert r"\(s = Wx + b\)" in html
    assert r"\[" in html and r"\begin{aligned}" in html
    mathjax = [s["src"] for s in tags.scripts if "tex-chtml" in s.get("src", "")]
    assert len(mathjax) == 1, f"expected one MathJax script, found {mathjax}"
    target = local_target(page, mathjax[0])
    assert target == (built_book.html / "_static" / "mathjax" / "tex-chtml.js").resolve()
    head = target.read_text(encoding="utf8")[:200_000]
    assert "MathJax" in head and re.search(r'VERSION\s*=\s*"3\.', head), "not MathJax 3"
    fonts = list((target.parent / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) >= 20, "MathJax's CommonHTML fonts are missing from the build"


@pytest.mark.slow
def test_widget_runtime_is_in_the_build(built_book):
    require_success(built_book)
    page = built_book.html / "preface.html"
    tags = parse_page(page)
    states = [body for attrs, body in tags.inline_scripts
              if attrs.get("type") == "application/vnd.jupyter.widget-state+json"]
    assert len(states) == 1, "the preface's widget state was not saved in the page"
    models = json.loads(states[0])["state"].values()
    assert any(m["model_name"] == "FloatSliderModel" for m in models)
    sources = [s["src"] for s in tags.scripts if s.get("src")]
    for name in ("require.js", "require-config.js", "embed-amd.js"):
        matches = [src for src in sources if src.split("?")[0].endswith("widgets/" + name)]
        assert matches, f"{name} is not loaded by the preface"
        assert local_target(page, matches[0]).is_file()
    assert sources.index(next(s for s in sources if "require-config" in s)) < sources.index(
        next(s for s in sources if "embed-amd" in s)), "require-config.js must run before embed-amd.js"


# ----------------------------------------------------------------------------
# a real browser, no network: the preface from a local server
# ----------------------------------------------------------------------------
class RecordingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list  # (path, status), set per server

    def log_request(self, code="-", size="-"):
        self.requests.append((self.path, int(code) if str(code).isdigit() else code))

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def served_book(built_book):
    require_success(built_book)
    requests: list = []
    handler = functools.partial(
        type("Handler", (RecordingHandler,), {"requests": requests}),
        directory=str(built_book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def chromium(args: list[str], user_data_dir: Path) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    user_data_dir.mkdir()
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={user_data_dir}",
        "--virtual-time-budget=20000", *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_preface_renders_in_headless_chromium(served_book, built_book, tmp_path):
    base, requests = served_book
    result = chromium(["--dump-dom", f"{base}/preface.html"], tmp_path / "profile")
    dom = result.stdout
    assert result.returncode == 0 and "</html>" in dom, result.stderr[-3000:]

    # MathJax typeset every formula of the page, without TeX errors
    math_nodes = parse_page(built_book.html / "preface.html").math_nodes
    typeset = dom.count("<mjx-container")
    assert typeset >= math_nodes > 0, f"MathJax typeset {typeset} of {math_nodes} formulas"
    assert "<mjx-merror" not in dom, "MathJax reported a TeX error"

    # the figures the build computed are on the page, and were served
    images = [img["src"] for img in parse_page_text(dom).images if "_images/" in img.get("src", "")]
    assert images, "no executed-cell figure on the page"
    served = {urlsplit(path).path: status for path, status in requests}
    for src in images:
        assert served.get("/" + src.lstrip("/")) == 200, f"figure {src} was not served"

    # the saved widget state was rendered by the local widget runtime
    assert "widget-slider" in dom, "the slider widget was not rendered"

    # everything the page asked for was there (browsers always try /favicon.ico)
    missing = sorted({path for path, status in requests if status != 200} - {"/favicon.ico"})
    assert not missing, f"requests that failed: {missing}"
    assert any("/_static/mathjax/output/chtml/fonts/" in path for path, _ in requests)


def parse_page_text(html: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(html)
    return collector


# ----------------------------------------------------------------------------
# a failing cell fails the build; an expected exception does not
# ----------------------------------------------------------------------------
FAILING_CHAPTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---

# A chapter with a bug

```{code-cell} ipython3
:tags: [raises-exception]
1 / 0   # expected: shown as a traceback, does not stop the build
```

```{code-cell} ipython3
assert 1 + 1 == 3, "deliberate failure in a chapter"
```
"""


@pytest.mark.slow
def test_a_failing_cell_fails_the_build(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(BOOK / "_config.yml", book / "_config.yml")
    (book / "_assets").symlink_to(BOOK / "_assets", target_is_directory=True)
    (book / "_ext").symlink_to(BOOK / "_ext", target_is_directory=True)
    shutil.copy(BOOK / "references.bib", book / "references.bib")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: ch99_bug\n")
    (book / "intro.md").write_text("# Test book\n\nA book with one broken chapter.\n")
    (book / "ch99_bug.md").write_text(FAILING_CHAPTER)

    proc = run_build(book, tmp_path / "out")
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, "a chapter with a failing cell must fail the build:\n" + log[-3000:]
    # it failed on the assert, so the tagged ZeroDivisionError was allowed
    assert "deliberate failure in a chapter" in log, log[-3000:]
    assert re.search(r"^ch99_bug\s+\d+\.\d\s+FAILED", log, re.M), log[-3000:]


# ----------------------------------------------------------------------------
# sources
# ----------------------------------------------------------------------------
def test_every_toc_page_exists_and_code_pages_are_notebooks():
    pages = toc_files()
    assert pages[0] == "intro" and "preface" in pages
    assert len(pages) == len(set(pages)), "a page is listed twice in _toc.yml"
    for page in pages:
        path = source_of(page)
        if path.suffix == ".md" and "```{code-cell}" in path.read_text(encoding="utf8"):
            header = front_matter(path)
            assert "kernelspec:" in header and "format_name: myst" in header, (
                f"{path.name} has code cells but no jupytext/kernelspec header, "
                "so it would not be executed (see book/README.md)")


def test_notebooks_are_stored_without_outputs():
    import jupytext  # installed with the book extra

    sources = book_sources()
    assert any(p.name == "preface.md" for p in sources)
    for path in sources:
        if not is_notebook(path):
            continue
        notebook = jupytext.read(path)
        code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code_cells or path.suffix == ".ipynb", f"{path.name}: a notebook without code cells"
        for cell in code_cells:
            assert cell.get("outputs", []) == [], f"{path.name} is stored with outputs"
            assert cell.get("execution_count") is None, f"{path.name} is stored with execution counts"


# ----------------------------------------------------------------------------
# every page, as a reader sees it: Playwright + Debian's Chromium, 1200 px wide
# (the narrowest desktop layout: the text column is 688 px there)
# ----------------------------------------------------------------------------
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

# Runs in the page after MathJax has typeset it. Opens every collapsed cell
# first (hide-cell, hide-input), so hidden code is measured too.
PAGE_REPORT_JS = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  await new Promise(r => setTimeout(r, 50));
  const skip = 'script, style, pre, code, mjx-container, .MathJax, textarea, '
             + 'noscript, .widget-subarea, .jupyter-widgets, svg';
  const raw = [];
  const commands = 'frac|mathbf|partial|sum|begin|end|operatorname|left|right|lVert|top|odot|cdot'
                 + '|sqrt|alpha|beta|lambda|eta|epsilon';
  const tex = new RegExp('\\\\\\(|\\\\\\)|\\\\\\[|\\\\\\]|\\$\\$|\\\\(' + commands + ')\\b'
                         + '|\\$[^$\\s][^$]{0,80}\\$');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const style = getComputedStyle(parent);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const m = node.textContent.match(tex);
    if (m) {
      const i = node.textContent.indexOf(m[0]);
      raw.push(node.textContent.slice(Math.max(0, i - 40), i + 40).replace(/\s+/g, ' '));
    }
  }
  const wide = [];
  const article = document.querySelector('article.bd-article') || document.body;
  for (const pre of article.querySelectorAll('div.highlight pre, div.cell_output pre')) {
    if (pre.clientWidth === 0) continue;
    if (pre.scrollWidth > pre.clientWidth + 1) {
      const where = pre.closest('.cell_output') ? 'output' : 'code';
      const lines = pre.textContent.split('\n');
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
      wide.push(`${where} ${pre.scrollWidth}px in ${pre.clientWidth}px: ${longest.trim().slice(0, 70)}`);
    }
  }
  for (const eq of article.querySelectorAll('mjx-container[display="true"]')) {
    const box = eq.parentElement.getBoundingClientRect();
    const math = eq.querySelector('mjx-math');
    if (!math || box.width === 0) continue;
    const width = math.getBoundingClientRect().width;
    if (width > box.width + 1 || eq.scrollWidth > eq.clientWidth + 1) {
      wide.push(`equation ${Math.round(width)}px in ${Math.round(box.width)}px: `
                + (eq.getAttribute('aria-label') || eq.textContent).slice(0, 70));
    }
  }
  const errors = document.querySelectorAll('mjx-merror').length;
  const downloads = [...document.querySelectorAll('a')].map(a => a.getAttribute('href') || '')
      .filter(h => h.split('?')[0].endsWith('.ipynb'));
  return {raw, wide, errors, downloads, title: document.title};
}
"""


def book_pages(build: Build) -> list[str]:
    """Every HTML page a reader can reach: the _toc.yml pages plus search and index."""
    return [f"{page}.html" for page in toc_files()]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium_browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            yield chromium_browser
        finally:
            chromium_browser.close()


@pytest.mark.slow
def test_every_page_typesets_fits_and_offers_its_notebook(served_book, built_book, browser):
    base, requests = served_book
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    for name in book_pages(built_book):
        page.goto(f"{base}/{name}", wait_until="load")
        report = page.evaluate(PAGE_REPORT_JS)
        problems += [f"{name}: raw TeX in the text: ...{text}..." for text in report["raw"]]
        problems += [f"{name}: wider than the column: {text}" for text in report["wide"]]
        if report["errors"]:
            problems.append(f"{name}: MathJax reported {report['errors']} TeX error(s)")
        if "$" in report["title"] or "\\" in report["title"]:
            problems.append(f"{name}: TeX in the page title {report['title']!r}")
        stem = name[: -len(".html")]
        if is_notebook(source_of(stem)):
            links = [link for link in report["downloads"] if link.endswith(f"{stem}.ipynb")]
            if not links:
                problems.append(f"{name}: no .ipynb download link")
                continue
            response = page.request.get(f"{base}/{links[0].lstrip('/')}")
            notebook = json.loads(response.body()) if response.ok else {}
            outputs = [out for cell in notebook.get("cells", [])
                       for out in cell.get("outputs", [])]
            if not response.ok or not outputs:
                problems.append(f"{name}: {links[0]} is missing or not executed "
                                f"(HTTP {response.status}, {len(outputs)} outputs)")
    # search results quote the pages' text: their math is typeset too
    page.goto(f"{base}/search.html?q=softmax+jacobian", wait_until="load")
    page.wait_for_selector("#search-results p.context", timeout=30_000)
    page.wait_for_selector("#search-results mjx-container", timeout=30_000)
    page.wait_for_timeout(500)
    report = page.evaluate(PAGE_REPORT_JS)
    problems += [f"search.html: raw TeX in a result: ...{text}..." for text in report["raw"]]
    page.close()
    assert not problems, f"{len(problems)} problem(s) a reader would see:\n" + "\n".join(problems[:80])


@pytest.mark.slow
def test_the_book_offers_all_notebooks_in_one_archive(built_book):
    import zipfile

    require_success(built_book)
    archive = built_book.html / "coursekit-notebooks.zip"
    assert archive.is_file(), "coursekit-notebooks.zip was not written"
    with zipfile.ZipFile(archive) as zipped:
        names = [Path(name).stem for name in zipped.namelist()]
        executed = [page for page in toc_files() if is_notebook(source_of(page))]
        assert names == executed, f"the archive holds {names}, the book's notebooks are {executed}"
        first = json.loads(zipped.read(zipped.namelist()[0]))
        assert any(cell.get("outputs") for cell in first["cells"]), "notebooks are not executed"
    preface = (built_book.html / "preface.html").read_text(encoding="utf8")
    assert 'href="coursekit-notebooks.zip"' in preface, "the preface must link the archive"


@pytest.mark.slow
def test_build_report_is_for_maintainers_not_in_the_navigation(built_book):
    require_success(built_book)
    report = (built_book.build_dir / "execution_times.txt").read_text(encoding="utf8")
    assert re.search(r"^preface\s+\d+\.\d\s+ok$", report, re.M), report
    intro = (built_book.html / "intro.html").read_text(encoding="utf8")
    assert "exec_times" not in intro and "Build report" not in intro


@pytest.mark.slow
def test_errata_appendix_lists_every_erratum_box_in_full(built_book):
    sys.path.insert(0, str(BOOK / "_ext"))
    import errata_index

    require_success(built_book)
    page = (built_book.html / "errata.html").read_text(encoding="utf8")
    total = 0
    for chapter in [p for p in toc_files() if p.startswith("ch")]:
        boxes, problems = errata_index.boxes_in(source_of(chapter).read_text(encoding="utf8"), chapter)
        assert not problems, problems
        for box in boxes:
            total += 1
            assert f'href="{chapter}.html#{box.name}"' in page, f"no link to {box.name}"
            # the box's last words are on the page: its text is complete, not cut
            prose = re.sub(r"\{[\w:-]+\}`[^`]*`|\$[^$]*\$|`[^`]*`", " ", box.body)
            words = [w for w in re.sub(r"[^A-Za-z ]", " ", prose).split() if len(w) > 2][-4:]
            plain = re.sub(r"<[^>]+>", " ", page)
            assert all(word in plain for word in words), f"{box.name} is cut: {words}"
    assert total >= 20, f"only {total} erratum boxes found"
    assert "**" not in re.sub(r"<[^>]+>", "", page), "raw Markdown emphasis on the errata page"
