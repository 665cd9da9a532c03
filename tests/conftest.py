"""Shared fixtures. The sample site is built once per test session and shared (read-only)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitegen.config import load_config

# A fixed build time, so that page content does not depend on when the tests run.
BUILD_TIME = datetime(2026, 1, 29, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole site built from the embedded sample; treat it as read-only."""
    from sitegen.build import build_site

    out = tmp_path_factory.mktemp("sample") / "site"
    config = load_config(None, out_dir=out, base_url="https://example.test/liqmap/")
    build_site(config, sample=True, now=BUILD_TIME)
    return out


# -- browser fixtures (tests/test_browser*.py) -------------------------------------------

# Debian's Chromium by default; LIQMAP_CHROMIUM names another Chromium/Chrome (set by .ci/run).
CHROMIUM = os.environ.get("LIQMAP_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# Extra pages the test server answers from memory (the built site stays read-only).
EXTRA_PAGES: dict[str, bytes] = {
    "/__sandbox.html": (
        b'<!DOCTYPE html><html><head><meta charset="utf-8"><title>host</title>'
        b'<link rel="icon" href="data:,"></head><body>'
        b'<iframe id="f" src="/embed/btc-usdt/index.html" sandbox="allow-scripts" '
        b'width="360" height="420" style="border:0"></iframe></body></html>'
    ),
}


@pytest.fixture(scope="session")
def site_url(sample_site: Path):
    """The sample site served over HTTP on 127.0.0.1 (a free port), for the whole session."""
    import functools
    import http.server
    import threading

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = EXTRA_PAGES.get(self.path)
            if body is None:
                super().do_GET()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(sample_site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole session (Playwright)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
