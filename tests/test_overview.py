"""The market overview (issue #14 item 4): ranking order, the 5 % bands, and the page.

Rankings are checked on hand-made rows; the page on the small synthetic site of
tests/test_render.py, also rendered from summaries whose report carries no model arrays
(the build may keep only light summaries for the global pages).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup

from sitegen import plan
from sitegen.render import assets
from sitegen.render.levels import Level, fmt_usd
from sitegen.render.overview import DEFAULT_RANKING, RANKINGS, OverviewRow, overview_row, overview_vars, rank
from sitegen.render.pages import _Ctx, render_data, render_page
from sitegen.render.summary import BAND_PCT, NEAR_BAND_PCT, summarise
from sitegen.report import KeptSymbol
from sitegen.schemas import validate
from tests.test_render import synthetic_report, synthetic_site


def row(base: str, l5: float, s5: float, l10: float, s10: float,
        near_long: float | None, near_short: float | None) -> OverviewRow:
    def lv(side: str, d: float | None) -> Level | None:
        return None if d is None else Level(side, 100 * (1 + d / 100), 1e6, d, 2e6)

    return OverviewRow(
        slug=f"{base.lower()}-usdt", base=base, pair=f"{base}/USDT", last_price=100.0,
        long_near_usd=l5, short_near_usd=s5, long_band_usd=l10, short_band_usd=s10,
        nearest_long=lv("long", None if near_long is None else -near_long),
        nearest_short=lv("short", near_short), volume_model=False, stale=False,
    )


ROWS = [
    row("AAA", 10e6, 1e6, 30e6, 5e6, 2.0, 7.5),   # both 5 %: 11M
    row("BBB", 2e6, 30e6, 4e6, 50e6, 0.4, None),  # both 5 %: 32M
    row("CCC", 5e6, 6e6, 40e6, 9e6, None, 1.2),   # both 5 %: 11M, ties with AAA
    row("DDD", 0.0, 0.0, 1e6, 1e6, 9.0, 3.0),     # nothing within 5 %
]


def bases(rows: list[OverviewRow]) -> list[str]:
    return [r.base for r in rows]


@pytest.mark.parametrize("by, expected", [
    ("near", ["BBB", "AAA", "CCC", "DDD"]),  # largest first, a tie by name
    ("long_near", ["AAA", "CCC", "BBB", "DDD"]),
    ("short_near", ["BBB", "CCC", "AAA", "DDD"]),
    ("long_band", ["CCC", "AAA", "BBB", "DDD"]),
    ("short_band", ["BBB", "CCC", "AAA", "DDD"]),
    ("long_distance", ["BBB", "AAA", "DDD", "CCC"]),  # nearest first, no cluster last
    ("short_distance", ["CCC", "DDD", "AAA", "BBB"]),
])
def test_ranking_order(by: str, expected: list[str]) -> None:
    assert bases(rank(ROWS, by)) == expected
    assert bases(rank(list(reversed(ROWS)), by)) == expected  # input order does not matter


def test_default_ranking_is_both_sides_within_5_pct() -> None:
    assert DEFAULT_RANKING == "near"
    assert RANKINGS["near"][0] == "long + short within 5 %"
    assert bases(rank(ROWS)) == bases(rank(ROWS, "near"))
    assert ROWS[1].near_usd == 32e6
    assert ROWS[0].long_distance_pct == 2.0 and ROWS[1].short_distance_pct is None


def test_unknown_ranking_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match=r"unknown ranking 'size'.*near, long_near"):
        rank(ROWS, "size")


def test_bands_are_nested_and_published() -> None:
    site = synthetic_site()
    summaries = [summarise(r) for r in site.symbols]
    files = render_data(summaries, site)
    for s in summaries:
        assert NEAR_BAND_PCT == 5.0 and BAND_PCT == 10.0
        assert 0 < s.long_band5_usd <= s.long_band_usd
        assert 0 <= s.short_band5_usd <= s.short_band_usd
        data = json.loads(files[plan.path("data_json", s.report.slug)])
        assert validate(data, "symbol") == []
        assert data["bands"] == [
            {"within_pct": 5.0, "long_usd": round(s.long_band5_usd, 2), "short_usd": round(s.short_band5_usd, 2)},
            {"within_pct": 10.0, "long_usd": data["long_usd_within"], "short_usd": data["short_usd_within"]},
        ]


def test_a_band_sums_the_map_rows_between_price_and_the_edge() -> None:
    report = synthetic_report()
    s = summarise(report)
    res = report.results[s.timeframe]
    c, last = res.price_centers, s.last_price
    below = (c >= last * 0.95) & (c <= last)
    above = (c > last) & (c <= last * 1.05)
    assert s.long_band5_usd == pytest.approx(float(res.map_long[below].sum()))
    assert s.short_band5_usd == pytest.approx(float(res.map_short[above].sum()))


def _soup(html: bytes) -> BeautifulSoup:
    return BeautifulSoup(html.decode("utf-8"), "html.parser")


def test_overview_page_ranks_rows_with_thumbnails_and_house_numbers() -> None:
    site = synthetic_site(kept=(KeptSymbol("SOL/USDT:USDT", "sol-usdt", datetime(2026, 1, 29, 9, tzinfo=UTC),
                                           datetime(2026, 1, 29, 10, tzinfo=UTC), 120.5),))
    summaries = [summarise(r) for r in site.symbols]
    page = _soup(render_page(site, plan.path("overview")))
    body = page.select("table#overview tbody tr")
    expected = [r.pair for r in rank([overview_row(s) for s in summaries])] + ["SOL/USDT"]
    assert [tr.select_one("th[scope=row] a").get_text() for tr in body] == expected
    heads = [th.get_text(" ", strip=True) for th in page.select("table#overview thead th")]
    assert heads[3:8] == ["Both sides ±5\xa0%", "Longs −5\xa0%", "Shorts +5\xa0%", "Longs −10\xa0%", "Shorts +10\xa0%"]
    assert page.select_one("table#overview thead th[aria-sort=descending]").get_text(strip=True).startswith("Both")
    by_pair = {s.pair: s for s in summaries}
    for tr in body[:-1]:
        s = by_pair[tr.select_one("th a").get_text()]
        assert tr["data-search"] == f"{s.base} {s.pair} {s.report.slug}".lower()
        img = tr.select_one("img")
        assert img["src"] == "../" + plan.path("thumb", s.report.slug)
        assert (img["width"], img["height"]) == ("120", "63")
        cells = tr.select("td")
        assert [c.get_text(strip=True) for c in cells[2:7]] == [
            fmt_usd(s.long_band5_usd + s.short_band5_usd), fmt_usd(s.long_band5_usd),
            fmt_usd(s.short_band5_usd), fmt_usd(s.long_band_usd), fmt_usd(s.short_band_usd)]
        assert float(cells[3]["data-value"]) == pytest.approx(s.long_band5_usd, abs=0.01)
        if s.nearest_long:
            assert float(cells[7]["data-value"]) == pytest.approx(abs(s.nearest_long.distance_pct), abs=1e-3)
    # The kept symbol is listed, its numbers empty (they sort last).
    assert body[-1]["data-search"] == "sol sol/usdt sol-usdt"  # the filter finds it too
    assert [td.get("data-value") for td in body[-1].select("td.num")][1:] == [""] * 7
    # The filter box and the count; the nav links the page.
    assert page.select_one("input[data-filter=overview]")["type"] == "search"
    assert page.select_one("[data-filter-count=overview]").get_text() == "3 symbols"
    assert page.select_one("header nav a[aria-current=page]").get_text() == "Overview"


def test_index_has_the_filter_box_and_links_the_overview() -> None:
    site = synthetic_site()
    page = _soup(render_page(site, plan.path("index")))
    assert page.select_one("input[data-filter=symbols]")["aria-controls"] == "symbols"
    rows = page.select("table#symbols tbody tr")
    assert [r["data-search"] for r in rows] == ["btc btc/usdt btc-usdt", "eth eth/usdt eth-usdt"]
    assert page.select_one("header nav a[href='overview/']") is None  # the plan's file path is linked
    assert page.select_one(f"header nav a[href='{plan.path('overview')}']").get_text() == "Overview"
    # The head script marks the page before the first paint; the CSS shows the box only then.
    assert 'setAttribute("data-js","")' in page.select_one("head script").get_text()


def test_overview_reads_no_model_arrays() -> None:
    """The overview renders from summaries whose report has no results, candles or arrays."""
    site = synthetic_site()
    light = [dataclasses.replace(s, report=dataclasses.replace(s.report, results={}, per_exchange={}, candles={}))
             for s in (summarise(r) for r in site.symbols)]
    ctx = _Ctx(site, False, set())
    v = ctx.common("../", plan.path("overview"))
    v.update(overview_vars(light, {s.report.slug: plan.path("thumb", s.report.slug) for s in light}, "../"))
    html = assets.jinja_env().get_template("overview.html").render(**v, bokeh_js="", roots=None)
    soup = BeautifulSoup(html, "html.parser")
    assert len(soup.select("table#overview tbody tr")) == len(light)


def test_overview_is_in_the_plan_and_the_sitemap() -> None:
    from tests.golden import GOLDEN

    assert plan.path("overview") == "overview/index.html" and plan.url("overview") == "overview/"
    assert plan.path("overview") in plan.SitePlan({}).files  # render must write it, check expects it
    # tests/test_golden.py holds a fresh sample build to this file
    assert "<loc>https://example.test/liqmap/overview/</loc>" in (GOLDEN / "sitemap.xml").read_text()
