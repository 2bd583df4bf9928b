"""axe-core on every page the browser tests visit (issue 12 item 5: WCAG 2.1 A and AA, no violations).

axe.min.js comes with the PyPI package axe-playwright-python (a test extra; nothing is downloaded at
run time). The test browser context is created with ``bypass_csp=True`` so that the script can be
added to a page; the site's own Content-Security-Policy stays as strict as in production.

``audit_each_document(page, found)`` wraps the page's methods: before any call on the page, a
document that has finished loading and was not audited yet is run through axe, and its violations
are appended to ``found``. A page is therefore audited once it is stable and before the test acts on
it again, whatever moved it there (goto, a click, a form submission); ``finish`` audits the last one.
Only the site is audited, not the stubbed outside pages a link may open, and not the development
tools under /dev/ (the LINE simulator and the mail sink, never served in production).
"""
from __future__ import annotations

import functools
import importlib.resources
from urllib.parse import urlsplit

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SITE_HOSTS = ("127.0.0.1", "localhost")  # the app under test; stubbed outside pages are not ours
SKIPPED_PREFIXES = ("/dev/",)
WRAPPED = (
    "goto", "reload", "go_back", "go_forward", "click", "dblclick", "fill", "type", "press", "check", "uncheck",
    "select_option", "set_input_files", "hover", "focus", "tap", "locator", "get_by_role", "get_by_text",
    "get_by_label", "get_by_placeholder", "get_by_test_id", "get_by_title", "inner_text", "inner_html",
    "text_content", "input_value", "is_checked", "is_visible", "content", "title", "query_selector",
    "query_selector_all", "wait_for_selector", "eval_on_selector", "eval_on_selector_all", "get_attribute",
    "expect_navigation", "expect_popup", "wait_for_url", "wait_for_load_state", "screenshot",
)
_RUN = """async (tags) => {
  if (window.__axeAudited) { return null; }
  window.__axeAudited = true;
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200),
                                           summary: n.failureSummary}))}));
}"""


@functools.cache
def axe_source() -> str:
    return importlib.resources.files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")


def _audit(page, found: list[dict]) -> None:
    url = page.url
    parts = urlsplit(url)
    if parts.hostname not in SITE_HOSTS or parts.path.startswith(SKIPPED_PREFIXES):
        return
    try:
        if page.evaluate("() => document.readyState !== 'complete' || !!window.__axeAudited"):
            return
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.add_script_tag(content=axe_source())
        violations = page.evaluate(_RUN, TAGS)
    except Exception as error:  # the document went away mid-audit (a navigation): the next call audits the new one
        if "context was destroyed" in str(error) or "navigat" in str(error) or "Target" in str(error):
            return
        raise
    if violations is None:
        return
    page.axe_audited.append(parts.path)
    if violations:
        found.append({"url": url, "violations": violations})


def audit_each_document(page, found: list[dict]):
    """Wrap `page` so that each loaded document is audited before the next call on the page; the paths
    audited are listed in `page.axe_audited`."""
    page.axe_audited = []
    for name in WRAPPED:
        original = getattr(page, name)

        def wrapper(*args, _original=original, **kwargs):
            _audit(page, found)
            return _original(*args, **kwargs)

        setattr(page, name, wrapper)
    return page


def finish(page, found: list[dict]) -> None:
    """Audit the last document (after letting a pending load finish)."""
    if page.is_closed():
        return
    try:
        page.wait_for_load_state("load", timeout=5_000)
    except Exception:  # still loading after 5 s: nothing stable to audit
        return
    _audit(page, found)


def report(found: list[dict]) -> str:
    lines = []
    for entry in found:
        for v in entry["violations"]:
            lines.append(f"{entry['url']}: {v['id']} ({v['impact']}) {v['help']}")
            lines.extend(f"    {n['target']}: {n['html']}\n      {n['summary']}" for n in v["nodes"])
    return "\n".join(lines)
