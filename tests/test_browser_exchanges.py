"""Issue 14 item 3 in headless Chromium: the exchange selector works (a click opens the page
of that exchange, whose heading says so), without JavaScript too, on a phone and a desktop.

The site is a real build of the embedded BTC sample served as two exchanges: Binance as
recorded, and OKX without its open-interest history (so its model is the volume model and
its numbers differ)."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sitegen.build import build_site
from sitegen.config import load_config
from sitegen.series import MarketSeries
from sitegen.sources.sample import SampleSource
from tests.test_browser import _watch, wake

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a whole-site build


class TwoExchanges:
    """The embedded sample, served as Binance and as OKX without open interest."""

    name = "sample"
    exchanges = ("binanceusdm", "okx")

    def __init__(self) -> None:
        self.sample = SampleSource()

    def load(self, exchange: str, symbol: str) -> MarketSeries:
        series = dataclasses.replace(self.sample.load("binanceusdm", symbol), exchange=exchange)
        return series if exchange == "binanceusdm" else dataclasses.replace(series, open_interest=None)

    def realised(self, symbol: str):  # type: ignore[no-untyped-def]
        return self.sample.realised(symbol)


@pytest.fixture(scope="module")
def two_site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("two") / "site"
    config = load_config(None, out_dir=out, symbols=["BTC/USDT:USDT"], ranges="24h,1w",
                         base_url="https://example.test/liqmap/")
    source = TwoExchanges()
    build_site(config, source=source, exchanges=source.exchanges, now=datetime(2026, 1, 29, 18, 0, tzinfo=UTC))
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(("width", "js"), [(375, True), (1280, True), (375, False)])
def test_the_selector_opens_the_page_of_that_exchange(browser, two_site_url: str, width: int, js: bool) -> None:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": width, "height": 800}, java_script_enabled=js)
    try:
        page = ctx.new_page()
        problems: list[str] = []
        _watch(page, problems)
        page.goto(two_site_url + "btc-usdt/1w/", wait_until="load")
        nav = page.get_by_role("navigation", name="Exchange")
        assert nav.get_by_role("link", name="All").get_attribute("aria-current") == "true"
        assert _fits(page, width)
        nav.get_by_role("link", name="OKX").click()
        page.wait_for_url("**/btc-usdt/x/okx/")
        assert page.locator("h1").inner_text().startswith("BTC/USDT on OKX")
        assert page.locator(".hero .badge.vm").inner_text() == "volume model"  # OKX's own model
        nav = page.get_by_role("navigation", name="Exchange")
        assert nav.get_by_role("link", name="OKX").get_attribute("aria-current") == "page"
        assert nav.get_by_role("link", name="All").get_attribute("aria-current") is None
        assert _fits(page, width)
        okx_first = page.locator(".clusters tbody tr").first.inner_text()
        if js:  # the interactive charts load there as on every page
            wake(page)
            page.wait_for_selector("html[data-live]", state="attached", timeout=20_000)
            page.wait_for_selector(".heat .bk-root-holder canvas, .heat .bk-root-holder .bk-Canvas",
                                   state="attached", timeout=20_000)
        nav.get_by_role("link", name="Binance").click()
        page.wait_for_url("**/btc-usdt/x/binanceusdm/")
        assert page.locator("h1").inner_text().startswith("BTC/USDT on Binance")
        assert page.locator(".clusters tbody tr").first.inner_text() != okx_first  # its own numbers
        page.get_by_role("navigation", name="Exchange").get_by_role("link", name="All").click()
        page.wait_for_url(two_site_url + "btc-usdt/")
        assert page.locator("h1").inner_text().startswith("BTC/USDT perpetual")
        assert problems == []
    finally:
        ctx.close()


def _fits(page: Any, width: int) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= width)

