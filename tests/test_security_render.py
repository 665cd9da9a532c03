"""Hostile strings from outside (symbol, exchange, notes, title) cannot inject markup.

Jinja autoescape is on; a report whose symbol/exchange/notes carry ``<script>``, event
handler attributes and ``</script>`` break-outs is rendered into the whole site, and no page
contains the raw markup; in Chromium the pages run none of it and raise no CSP violation.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup

from sitegen.build import analyse_symbol, model_params
from sitegen.config import load_config
from sitegen.render import render_site
from sitegen.report import SiteData
from sitegen.sources.sample import load_sample
from tests.conftest import shared_once

# The pages and files are the point here, not the image bytes (conftest.quick_png).
pytestmark = pytest.mark.usefixtures("quick_png")

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '"><img src=x onerror="window.__pwned=2">'
BREAK = "</script><script>window.__pwned=3</script>"
HOSTILE_SYMBOL = f"BTC/USDT:USDT{SCRIPT}"
HOSTILE_EXCHANGE = f"okx{IMG}"
HOSTILE_NOTE = f"okx: {BREAK} {IMG} &amp; 'quote'"
RAW = ("<script>window.__pwned", "<img src=x", 'onerror="window.__pwned', "</script><script>window")


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, bytes]:
    """Rendered once per run and shared by the xdist workers (read-only)."""
    return shared_once(tmp_path_factory, worker_id, "hostile-site", _render_hostile_site)


def _render_hostile_site() -> dict[str, bytes]:
    config = load_config(None, ranges="12h", symbols="BTC/USDT:USDT")  # one range: every kind of page
    report = analyse_symbol("BTC/USDT:USDT", [load_sample("BTC/USDT:USDT")], config)
    per_exchange = {tf: {HOSTILE_EXCHANGE: next(iter(by_ex.values()))} for tf, by_ex in report.per_exchange.items()}
    report = dataclasses.replace(
        report, symbol=HOSTILE_SYMBOL, exchanges=(HOSTILE_EXCHANGE,), per_exchange=per_exchange,
        notes=(HOSTILE_NOTE,), stale=True, stale_since=datetime(2026, 1, 29, 12, tzinfo=UTC),
    )
    site = SiteData(
        title=f"liqmap {SCRIPT}", base_url="https://example.test/liqmap/",
        generated_at=datetime(2026, 1, 29, 18, tzinfo=UTC), symbols=(report,), params=model_params(config),
        evaluation=None, version="0",
    )
    return render_site(site)


def test_no_raw_markup_anywhere(hostile_files: dict[str, bytes]) -> None:
    checked = 0
    for path, content in hostile_files.items():
        if not path.endswith((".html", ".xml", ".txt")):
            continue
        text = content.decode("utf-8")
        for raw in RAW:
            assert raw not in text, f"{path}: contains raw {raw!r}"
        checked += 1
    assert checked >= 5


def test_hostile_text_is_shown_escaped(hostile_files: dict[str, bytes]) -> None:
    page = hostile_files["btc-usdt/index.html"].decode("utf-8")
    soup = BeautifulSoup(page, "html.parser")
    text = soup.get_text()
    assert HOSTILE_NOTE in text  # shown to the reader as text, not run
    assert "&lt;script&gt;" in page or "&lt;/script&gt;" in page
    assert not soup.find_all(attrs={"onerror": True})
    assert not soup.find_all("img", src="x")
    for script in soup.find_all("script"):
        assert "__pwned" not in (script.string or ""), "a hostile string became script code"


def test_data_files_keep_the_string_as_data(hostile_files: dict[str, bytes]) -> None:
    import json

    data = json.loads(hostile_files["data/btc-usdt.json"])
    assert data["symbol"] == HOSTILE_SYMBOL  # JSON is data, served as application/json
    assert HOSTILE_NOTE in data["notes"]


@pytest.fixture(scope="module")
def hostile_url(hostile_files: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("hostile")
    for rel, content in hostile_files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
@pytest.mark.parametrize("path", ["btc-usdt/index.html", "embed/btc-usdt/index.html", "index.html",
                                  "methodology/index.html", "overview/index.html"])
def test_chromium_runs_none_of_it_and_csp_is_satisfied(browser, hostile_url: str, path: str) -> None:  # type: ignore[no-untyped-def]
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation',"
            " e => { window.__csp = (window.__csp || []).concat(e.violatedDirective + ' ' + e.blockedURI); });"
        )
        page.goto(hostile_url + path, wait_until="load")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("window.__csp || []") == []
        assert problems == []
        csp = page.locator("meta[http-equiv='Content-Security-Policy']").get_attribute("content") or ""
        assert "script-src" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert HOSTILE_NOTE in page.inner_text("body") or path != "btc-usdt/index.html"
    finally:
        ctx.close()
