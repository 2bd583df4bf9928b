"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), and the app on a real port.

``browser`` (session): headless Chromium at /usr/bin/chromium (never a downloaded build).
``page`` (function): a page in a fresh browser context, closed after the test. Every document it (or a
popup it opens) loads is checked with axe-core against WCAG 2.1 A/AA (tests/axe_audit.py); a violation
fails the test at teardown.
``live_server`` (function): the ``app`` fixture served by werkzeug on 127.0.0.1, a free port,
in a thread; ``live_server.url``; shut down after the test.
"""
from __future__ import annotations

import os
import re
import threading
from typing import Any

import pytest
from playwright.sync_api import expect
from werkzeug.serving import WSGIRequestHandler, make_server

from tests import axe_audit

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LiveServer:
    """A WSGI app served by werkzeug (threaded) in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"live-server:{self.port}", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium; never `playwright install`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    # bypass_csp lets the tests add axe-core to the page; the site's own policy is unchanged.
    context = browser.new_context(locale="zh-TW", timezone_id="Asia/Taipei", viewport={"width": 420, "height": 860},
                                  bypass_csp=True)
    context.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)
    # Nothing leaves the machine: pages only reach 127.0.0.1 (and data: URLs).
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])"), lambda route: route.fulfill(status=200, body="", content_type="text/plain"))
    found: list[dict] = []
    context.on("page", lambda opened: axe_audit.audit_each_document(opened, found))
    pg = context.new_page()
    yield pg
    for opened in list(context.pages):
        axe_audit.finish(opened, found)
    context.close()
    if found:
        pytest.fail("axe-core (WCAG 2.1 A/AA) found violations:\n" + axe_audit.report(found), pytrace=False)


@pytest.fixture
def live_server(app):
    # The sentence model takes seconds to load, more on a busy machine: loaded before any page waits for it (as
    # a worker loads it when it starts, `similar_vectors.warm`), not within a browser's page timeout.
    from models import similar_vectors

    similar_vectors.encoder()
    server = LiveServer(app)
    yield server
    server.shutdown()
