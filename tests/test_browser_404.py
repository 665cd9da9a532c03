"""Issue 11 item 15: the 404 page works wherever the site is served, in a real browser.

GitHub Pages answers any missing path with 404.html, at any depth. The page used a
``<base href=base_url>`` that its own CSP (``base-uri 'self'``) blocks on any other origin
(a local preview, a custom domain): links and CSS broke. Served here like Pages does,
from the root (preview, custom domain) and from the base URL's path (project site).
"""

from __future__ import annotations

import functools
import http.server
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def _serve(site: Path, prefix: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Pages(http.server.SimpleHTTPRequestHandler):
        """Like GitHub Pages: the site under ``prefix``, 404.html for anything missing."""

        def log_message(self, format: str, *args: object) -> None:
            pass

        def translate_path(self, path: str) -> str:
            path = path.split("?", 1)[0]
            if not path.startswith(prefix):
                return str(site / "__missing__")
            return super().translate_path("/" + path[len(prefix):])

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            if code != 404:
                super().send_error(code, message, explain)
                return
            body = (site / "404.html").read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Pages, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(params=["/", "/liqmap/"], ids=["at-root", "under-base-path"])
def served(request: pytest.FixtureRequest, sample_site: Path) -> Iterator[tuple[str, str]]:
    server, origin = _serve(sample_site, request.param)
    yield origin, request.param
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("missing", ["no/such/page", "btc-usdt/99y/index.html", "404.html"])
def test_404_links_and_css_work_wherever_it_is_served(browser, served, missing: str) -> None:  # type: ignore[no-untyped-def]
    origin, prefix = served
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(origin + prefix + missing, wait_until="load")
        assert page.locator("h1").inner_text() == "Page not found"
        # styled: the header bar gets its flex layout from the site's CSS
        assert page.evaluate("getComputedStyle(document.querySelector('header.top')).display") == "flex"
        hrefs = page.evaluate("[...document.querySelectorAll('main a, header a')].map(a => a.href)")
        assert f"{origin}{prefix}btc-usdt/index.html" in hrefs
        for href in hrefs:
            with urllib.request.urlopen(href, timeout=10) as r:  # every link leads to a real page
                assert r.status == 200, href
        icon = page.evaluate("document.querySelector('header img').src")
        with urllib.request.urlopen(icon, timeout=10) as r:
            assert r.status == 200
        page.locator("main a", has_text="BTC").click()
        page.wait_for_load_state("load")
        assert page.url == f"{origin}{prefix}btc-usdt/index.html"
        assert not [p for p in problems if "Content Security Policy" in p or "base" in p.lower()], problems
    finally:
        ctx.close()


def test_404_has_no_base_element(sample_site: Path) -> None:
    html = (sample_site / "404.html").read_text()
    assert "<base" not in html
