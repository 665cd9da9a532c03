"""Issue 14 item 3: the exchange selector and the page of each exchange alone.

A symbol with data from two or more exchanges gets ``{slug}/x/{exchange}/`` (the default
range from that exchange's own model run), named by the site plan, listed in the data JSON
(``exchange_pages``), expected by ``liqmap check`` and carried by keep-last-good; every page
of the symbol shows a selector of plain links with the current choice marked."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from bs4 import BeautifulSoup

from sitegen import plan
from sitegen.model import aggregate
from sitegen.render import render_site
from sitegen.render.exchange_view import exchange_nav, exchange_report, page_exchanges
from sitegen.render.pages import render_page
from sitegen.render.summary import summarise
from sitegen.report import SymbolReport
from sitegen.site.check import check_files
from tests.conftest import shared_once
from tests.test_render import synthetic_report, synthetic_site

# The pages and files are the point here, not the image bytes (conftest.quick_png).
pytestmark = pytest.mark.usefixtures("quick_png")

OKX_SHARE = 0.25  # the second exchange holds a quarter of the first one's positions


def two_exchange_report() -> SymbolReport:
    """The synthetic BTC report as Binance, plus OKX with a quarter of its positions, shorts
    only above 1 % of leverage tiers (so its clusters differ), on the same price grid."""
    one = synthetic_report()
    bn = one.results["5m"]
    okx = replace(
        bn, heat_long=bn.heat_long * OKX_SHARE, heat_short=bn.heat_short * OKX_SHARE,
        heat_long_by_leverage=bn.heat_long_by_leverage * OKX_SHARE,
        heat_short_by_leverage=bn.heat_short_by_leverage * OKX_SHARE, exchanges=("okx",),
    )
    return replace(one, exchanges=("binanceusdm", "okx"), results={"5m": aggregate([bn, okx])},
                   per_exchange={"5m": {"binanceusdm": bn, "okx": okx}}, ranges=("24h",))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, bytes]:
    """Rendered once per run and shared by the xdist workers (read-only)."""
    return shared_once(tmp_path_factory, worker_id, "exchange-pages-site",
                       lambda: render_site(synthetic_site(symbols=(two_exchange_report(),))))


def soup(files: dict[str, bytes], path: str) -> BeautifulSoup:
    return BeautifulSoup(files[path].decode("utf-8"), "html.parser")


def test_the_plan_names_the_exchange_pages() -> None:
    assert plan.path("exchange_page", "btc-usdt", exchange="okx") == "btc-usdt/x/okx/index.html"
    assert plan.url("exchange_page", "btc-usdt", exchange="okx") == "btc-usdt/x/okx/"
    files = plan.symbol_files("btc-usdt", ("24h",), ("binanceusdm", "okx"))
    assert {"btc-usdt/x/okx/index.html", "btc-usdt/x/okx/heatmap.webp",
            "btc-usdt/x/binanceusdm/index.html"} <= set(files)
    assert sorted(plan.owned_by(list(files), "btc-usdt")) == sorted(files)
    assert plan.owned_by(["btc-usdt/x/okx/index.html"], "eth-usdt") == []
    with pytest.raises(ValueError, match="needs an exchange"):
        plan.path("exchange_page", "btc-usdt")


def test_one_exchange_alone_has_its_own_numbers() -> None:
    report = two_exchange_report()
    assert page_exchanges(report) == ("binanceusdm", "okx")
    assert page_exchanges(synthetic_report()) == ()  # one exchange: the page of all is its page
    assert exchange_nav(synthetic_report(), None, "") == ()  # and no selector
    okx = exchange_report(report, "okx")
    assert okx.exchanges == ("okx",) and okx.ranges == ("24h",)
    assert okx.results["5m"] is report.per_exchange["5m"]["okx"]
    np.testing.assert_array_equal(okx.results["5m"].price_edges, report.results["5m"].price_edges)
    all_, alone = summarise(report), summarise(okx)
    assert alone.long_band_usd == pytest.approx(all_.long_band_usd * OKX_SHARE / (1 + OKX_SHARE))
    share = OKX_SHARE / (1 + OKX_SHARE)
    assert [lv.usd for lv in alone.levels] == pytest.approx([lv.usd * share for lv in all_.levels])


def test_the_selector_marks_the_current_choice() -> None:
    report = two_exchange_report()
    on_all = exchange_nav(report, None, "../")
    assert [(i.label, i.href, i.current) for i in on_all] == [
        ("All", "../btc-usdt/", "page"), ("Binance", "../btc-usdt/x/binanceusdm/", ""),
        ("OKX", "../btc-usdt/x/okx/", ""),
    ]
    assert exchange_nav(report, None, "../../", "1w")[0].current == "true"  # another range, all exchanges
    on_okx = exchange_nav(report, "okx", "../../../")
    assert [i.current for i in on_okx] == ["", "", "page"]


def test_every_page_of_the_symbol_has_the_selector_and_each_exchange_page_says_which(
    files: dict[str, bytes],
) -> None:
    for path in ("btc-usdt/index.html", "btc-usdt/24h/index.html"):
        nav = soup(files, path).select_one('nav[aria-label="Exchange"]')
        assert nav is not None
        assert [a.get_text() for a in nav.select("a")] == ["All", "Binance", "OKX"]
    current = soup(files, "btc-usdt/index.html").select_one('nav[aria-label="Exchange"] a[aria-current="page"]')
    assert current is not None and current.get_text() == "All"
    page = soup(files, "btc-usdt/x/okx/index.html")
    h1 = page.select_one("h1")
    assert h1["data-exchange"] == "okx" and h1.get_text().startswith("BTC/USDT on OKX")
    assert page.select_one('nav[aria-label="Exchange"] a[aria-current="page"]').get_text() == "OKX"
    assert page.select_one('link[rel="canonical"]')["href"] == "https://example.test/liqmap/btc-usdt/x/okx/"
    # its cluster table holds OKX's own clusters, not the sum
    alone = summarise(exchange_report(two_exchange_report(), "okx"))
    usd = [float(td["data-value"]) for td in page.select(".clusters tbody td:nth-of-type(3)")]
    assert usd == pytest.approx([lv.usd for lv in alone.levels])
    assert json.loads(files["data/btc-usdt.json"])["exchange_pages"] == ["binanceusdm", "okx"]
    assert b"<loc>https://example.test/liqmap/btc-usdt/x/okx/</loc>" in files["sitemap.xml"]


def test_the_site_with_exchange_pages_passes_the_check_and_a_missing_one_fails_it(files: dict[str, bytes]) -> None:
    def check(tree: dict[str, bytes]) -> list[str]:  # the build adds the snapshot history the feed links
        return [p for p in check_files(tree) if "snapshots/index.json" not in p]

    assert check(files) == []
    problems = check({k: v for k, v in files.items() if k != "btc-usdt/x/okx/index.html"})
    assert any(p.startswith("btc-usdt/x/okx/index.html: missing") and "exchange page okx" in p for p in problems)


def test_one_exchange_page_renders_alone() -> None:
    site = synthetic_site(symbols=(two_exchange_report(),))
    page = BeautifulSoup(render_page(site, "btc-usdt/x/binanceusdm/index.html"), "html.parser")
    assert page.select_one("h1")["data-exchange"] == "binanceusdm"
    with pytest.raises(KeyError):
        render_page(site, "btc-usdt/x/bybit/index.html")  # not an exchange of this symbol


def test_the_exchange_pages_are_within_the_page_weight_budget(files: dict[str, bytes]) -> None:
    pages = {k: len(v) for k, v in files.items() if "/x/" in k and k.endswith(".html")}
    assert len(pages) == 2 and max(pages.values()) < 600_000
