"""A feedback page as a student reads it, in headless Chromium.

Takes three graded A2 submissions of the sample class (one correct, two with
mistakes and long messages), opens their feedback pages and checks: nothing
wider than the page (messages wrap), no raw LaTeX left in the visible text
(math is MathML), every graded cell in the summary named by its part, and the
top of the page giving the total, the part scores and the first thing to fix.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from coursekit.grading import sandbox

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage"]

REPORT_JS = r"""
() => {
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const style = getComputedStyle(el);
    if (el.scrollWidth > el.clientWidth + 1 && ['auto', 'scroll'].includes(style.overflowX))
      wide.push(el.tagName + ': ' + (el.innerText || '').slice(0, 80));
  }
  const page = document.documentElement.scrollWidth > window.innerWidth + 1;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const t = node.textContent;
    if (node.parentElement.closest('pre, code, .highlight, .input_area')) continue;
    if (/\$[^$]+\$|\\(frac|mathbf|partial|sum|lVert|operatorname)\b/.test(t)) raw.push(t.slice(0, 80));
  }
  const toc = [...document.querySelectorAll('#toc li')].map(li => li.innerText);
  const fix = document.querySelector('.coursekit-fix, .coursekit-allgood');
  const parts = [...document.querySelectorAll('table.coursekit-parts tr')].map(tr => tr.innerText);
  return {wide, page, raw, toc, fix: fix ? fix.innerText : '', parts, heading: document.querySelector('h4').innerText};
}
"""


@pytest.fixture(scope="module")
def pages(graded_class):
    if not sandbox.mode():
        pytest.fail(f"no sandbox: {sandbox.unavailable_reason()}")
    course = Path(graded_class("A2").course)  # the sample class's A2, graded once for all the tests
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run `make browser`")
    from playwright.sync_api import sync_playwright

    reports = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        for student in ("alice_correct", "bob_partial", "dave_transposed_dW"):
            page.goto((course / "feedback" / student / "A2" / "A2.html").as_uri(), wait_until="load")
            reports[student] = page.evaluate(REPORT_JS)
        browser.close()
    return reports


@pytest.mark.slow
@pytest.mark.xdist_group("class")
@pytest.mark.parametrize("student", ["alice_correct", "bob_partial", "dave_transposed_dW"])
def test_feedback_fits_the_page_and_has_no_raw_latex(pages, student):
    report = pages[student]
    assert not report["page"] and not report["wide"], report["wide"][:5]
    assert not report["raw"], report["raw"][:5]


@pytest.mark.slow
@pytest.mark.xdist_group("class")
def test_every_summary_entry_is_named_by_its_part_and_the_top_says_what_to_fix(pages):
    for report in pages.values():
        graded = [entry for entry in report["toc"] if "/" in entry or "manual" in entry]
        assert graded and all(entry.startswith(("Part ", "Written answer")) for entry in graded), report["toc"]
        assert "Test cell" not in " ".join(report["toc"])
        assert any(row.startswith("Part 1 \u2014 Linear layer") for row in report["parts"]), report["parts"]
        assert "score" in report["heading"]
    assert pages["alice_correct"]["fix"].startswith("Every automatic check passed")
    assert pages["dave_transposed_dW"]["fix"].startswith("First thing to fix: Part 1 \u2014 Linear layer")
    assert "dW" in pages["dave_transposed_dW"]["fix"]
