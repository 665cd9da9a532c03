"""Phone-first pages in headless Chromium (issue #12): what a reader on a phone gets.

Shares the session's sample site and browser (conftest.py). Mobile emulation is a 375 x 812
touch screen; a swipe is a real touch sequence sent through the DevTools protocol, so the
browser's own touch-action and scrolling decide what happens, as on a phone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from sitegen.render.levels import fmt_usd
from tests.test_browser import TOOLTIP_TEXT_JS, _painted, _watch, bring_in, wake

pytestmark = pytest.mark.browser

SYMBOL = "btc-usdt/index.html"
HEATMAP = ".heat .bk-root-holder"
# Sum of the layout shifts without recent input (what Lighthouse calls CLS, for one page load).
CLS_JS = """() => new Promise(resolve => {
  let total = 0;
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) { if (!e.hadRecentInput) total += e.value; }
  }).observe({type: 'layout-shift', buffered: true});
  setTimeout(() => resolve(total), 300);
})"""
USD_RE = re.compile(r"-?\$\d+(\.\d)?[KMBT]?")


@pytest.fixture
def open_at(browser, site_url) -> Iterator:  # type: ignore[no-untyped-def]
    """Open a page on a 375 px touch phone (``phone=True``) or a 1280 px desktop."""
    contexts = []

    def _open(path: str, *, phone: bool = True, live: bool = False) -> tuple[Any, list[str]]:
        if phone:
            ctx = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True,
                                      has_touch=True, device_scale_factor=2)
        else:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        problems: list[str] = []
        _watch(page, problems)
        page.goto(site_url + path, wait_until="load")
        if live:
            if phone:
                box = page.locator("h1").bounding_box()
                page.touchscreen.tap(box["x"] + 4, box["y"] + 4)  # a tap on text: the first touch
            else:
                wake(page)
            page.wait_for_selector("html[data-live]", state="attached", timeout=15_000)
            page.wait_for_timeout(250)
        return page, problems

    yield _open
    for ctx in contexts:
        ctx.close()


def _swipe(page: Any, x: float, y: float, dy: float = -300, steps: int = 10) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for i in range(1, steps + 1):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y + dy * i / steps}]})
        page.wait_for_timeout(16)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_timeout(400)


def _y_range(page: Any) -> list[float]:
    return page.evaluate("""() => { const f = Bokeh.documents[0].get_model_by_name('heatmap');
                                    return [f.y_range.start, f.y_range.end]; }""")


@pytest.mark.parametrize("path", [SYMBOL, "btc-usdt/1w/index.html", "embed/btc-usdt/index.html"])
def test_first_view_is_the_picture_and_bokehjs_waits_for_the_reader(open_at, path: str) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at(path)
    page.wait_for_timeout(600)
    assert page.evaluate("typeof window.Bokeh") == "undefined", "BokehJS loaded without being asked"
    assert not page.evaluate("[...document.scripts].some(s => /bokeh/.test(s.src))")
    poster = page.locator(".chart-box .poster").first
    colours, share = _painted(poster.screenshot())
    assert colours > 100 and share > 0.3, f"{path}: the static heatmap looks blank ({colours} colours)"
    assert page.evaluate(CLS_JS) <= 0.05
    box = page.locator("h1, .embed-head a").first.bounding_box()
    page.touchscreen.tap(box["x"] + 4, box["y"] + 4)
    page.wait_for_selector("html[data-live]", state="attached", timeout=15_000)
    page.wait_for_timeout(200)
    assert not poster.is_visible(), "the picture stays over the interactive chart"
    colours, share = _painted(page.locator(".chart-box .bk-root-holder").first.screenshot())
    assert colours > 100 and share > 0.3, f"{path}: the interactive heatmap looks blank"
    assert problems == [], problems


def test_a_vertical_swipe_over_the_heatmap_scrolls_the_page(open_at) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at(SYMBOL, live=True)
    before = _y_range(page)
    box = page.locator(HEATMAP).bounding_box()
    assert box["y"] + 400 < 812, "the heatmap should be on the first screen for this test"
    _swipe(page, box["x"] + box["width"] / 2, box["y"] + 380)
    assert page.evaluate("window.scrollY") > 150, "a swipe over the chart did not scroll the page"
    assert _y_range(page) == before, "the swipe panned the chart instead"
    # Pan and zoom stay one tap away: the toolbar is shown on a touch screen.
    assert page.evaluate("Bokeh.documents[0].get_model_by_name('heatmap').toolbar.autohide") is False
    assert problems == []


def test_a_tap_shows_the_tooltip_with_distance_and_cumulative_usd(open_at) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at(SYMBOL, live=True)
    box = page.locator(HEATMAP).bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.45)
    page.wait_for_timeout(400)
    text = page.evaluate(TOOLTIP_TEXT_JS)
    for label in ("price", "longs", "shorts", "from last price", "cumulative to here"):
        assert label in text, f"tooltip lacks {label!r}"
    assert re.search(r"from last price:?\s*[+-]\d+\.\d %", text), text[-400:]
    assert USD_RE.search(text.split("cumulative to here")[1]), text[-400:]
    assert not re.search(r"\$\d+(\.\d+)?[kmbt]\b", text), "numbro's lower-case units in the tooltip"
    assert problems == []


def test_map_axis_labels_do_not_run_together_at_375(open_at) -> None:  # type: ignore[no-untyped-def]
    page, _ = open_at(SYMBOL, live=True)
    bring_in(page, ".map")
    gaps = page.evaluate("""() => {
      const fig = Bokeh.documents[0].get_model_by_name('liqmap');
      const ax = fig.below[0];
      const ticks = ax.ticker.get_ticks(fig.x_range.start, fig.x_range.end, fig.x_range, NaN).major;
      const labels = ax.formatter.doFormat(ticks, {loc: 0});
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.font = '11px Helvetica, Arial, sans-serif';
      const holder = document.querySelector('.map .bk-root-holder').getBoundingClientRect();
      const frame = holder.width - 110;  // both y axes with their labels
      const px = t => (t - fig.x_range.start) / (fig.x_range.end - fig.x_range.start) * frame;
      const out = [];
      for (let i = 1; i < ticks.length; i++) {
        const w = (ctx.measureText(labels[i - 1]).width + ctx.measureText(labels[i]).width) / 2;
        out.push(px(ticks[i]) - px(ticks[i - 1]) - w);
      }
      return out;
    }""")
    assert gaps and min(gaps) > 6, f"price labels of the liquidation map touch at 375 px: {gaps}"


def test_index_is_cards_on_a_phone_no_number_wraps_and_nothing_shifts(open_at) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at("index.html")
    page.wait_for_timeout(300)
    assert page.evaluate(CLS_JS) <= 0.05
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    rows = page.locator("table.index tbody tr")
    assert rows.count() == 3
    assert page.evaluate("getComputedStyle(document.querySelector('table.index tbody tr')).display") == "flex"
    # Each number on one line: its text box is one line tall.
    heights = page.evaluate("""() => [...document.querySelectorAll('table.index td.num')].map(td => {
      const r = document.createRange(); r.selectNodeContents(td.querySelector('.nw') || td);
      const lh = parseFloat(getComputedStyle(td).fontSize) * 1.5;
      return [td.textContent.trim(), r.getClientRects().length, r.getBoundingClientRect().height / lh];
    })""")
    for text, _rects, lines in heights:
        if text and text != "–":
            assert lines < 1.6 or "·" in text, f"{text!r} wraps ({lines:.1f} lines)"
    prices = page.evaluate("""() => [...document.querySelectorAll(
      'table.index td.num .nw, table.index td[data-label=Price]')].map(e => {
        const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects().length; })""")
    assert prices and max(prices) == 1, f"a price wraps: {prices}"
    assert problems == []


def test_recorded_sample_says_so_instead_of_a_stale_alarm(open_at) -> None:  # type: ignore[no-untyped-def]
    for path in ("index.html", SYMBOL, "embed/btc-usdt/12h/index.html"):
        page, _ = open_at(path)
        page.wait_for_timeout(200)
        text = page.locator("body").inner_text()
        assert "recorded sample, 2026-01-29" in text, path
        assert page.locator("[data-stale-badge]:visible").count() == 0, f"{path}: red stale badge"


def test_light_theme_plot_areas_follow_the_page(open_at) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at(SYMBOL + "?theme=light", phone=False, live=True)
    bring_in(page, ".predicted")
    bring_in(page, ".map")
    colours = page.evaluate("""() => { const d = Bokeh.documents[0];
      return [d.get_model_by_name('liqmap').background_fill_color,
              d.get_model_by_name('predicted').background_fill_color,
              d.get_model_by_name('cum_long_line').glyph.line_color]; }""")
    assert colours[:2] == ["#ffffff", "#ffffff"], colours
    assert colours[2] != "#b8dcff", "the cumulative-longs line keeps its dark-theme tint"
    from tests.test_browser import _pixels

    liq = _pixels(page.locator(".map .bk-root-holder").screenshot())
    assert liq.mean() > 170, f"the liquidation map's plot area is dark in the light theme ({liq.mean():.0f})"
    page.click("[data-theme-toggle]")  # back to dark: the plot areas follow at once
    page.wait_for_timeout(300)
    assert _pixels(page.locator(".map .bk-root-holder").screenshot()).mean() < 100
    assert problems == []


def test_one_number_style_in_the_charts_and_the_page(open_at) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at(SYMBOL, phone=False, live=True)
    values = [442e6, 3.7e9, 3e9, -100e6, 950, 949.5, 12_300, 999.97e6, 9.96e6, 0, 1.234e9, 2.25e6, 0.5]
    assert page.evaluate("v => v.map(window.liqmapFmtUsd)", values) == [fmt_usd(v) for v in values]
    ticks = page.evaluate("""() => Bokeh.documents[0].get_model_by_name('heatmap').below
      .filter(m => m.color_mapper).map(bar => bar.formatter.doFormat([1e7, 3.7e9, 0], {loc: 0}))[0]""")
    assert ticks == ["$10M", "$3.7B", "$0"]
    body = page.locator("main").inner_text()
    assert not re.search(r"\$\d+(\.\d+)?[kmb]\b", body)
    assert problems == []


def test_key_levels_are_on_the_chart_and_named_when_off_screen(open_at) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at(SYMBOL, phone=False, live=True)
    marks = json.loads(page.locator("[data-heat-controls]").get_attribute("data-marks"))
    lo, hi = _y_range(page)
    heads = marks[:2]  # the headline levels: the nearest large cluster on each side
    assert {m["side"] for m in heads} == {"long", "short"}
    for m in heads:
        assert lo <= m["price"] <= hi, f"headline level {m['text']} is outside the default window"
    # Zoom in around the price: the levels now above and below are named along the edges.
    state = page.evaluate("""() => new Promise(resolve => {
      const d = Bokeh.documents[0], f = d.get_model_by_name('heatmap');
      const last = parseFloat(document.querySelector('[data-heat-controls]').getAttribute('data-last'));
      const high0 = d.get_model_by_name('heat_mapper').high;
      f.y_range.setv({start: last * 0.995, end: last * 1.005});
      setTimeout(() => {
        const a = d.get_model_by_name('off_above'), b = d.get_model_by_name('off_below');
        resolve({above: [a.visible, a.text], below: [b.visible, b.text], high0,
                 high1: d.get_model_by_name('heat_mapper').high});
      }, 400);
    })""")
    assert state["above"][0] and state["above"][1].startswith("▲ $"), state
    assert state["below"][0] and state["below"][1].startswith("▼ $"), state
    assert state["high1"] != state["high0"], "the colour scale ignores what is on screen"
    assert problems == []


def test_every_range_has_its_own_embed_page(open_at) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at("btc-usdt/1w/index.html", phone=False)
    snippet = page.locator("#embed-code").input_value()
    src = re.search(r'src="([^"]+)"', snippet).group(1)
    assert src.endswith("/embed/btc-usdt/1w/")
    link = page.locator(".links a", has_text="chart only").get_attribute("href")
    embed, eproblems = open_at(link.replace("../../", "").replace("../", ""), phone=False, live=True)
    assert "1 week" in embed.locator(".embed-head").inner_text()
    colours, share = _painted(embed.locator(".embed-chart .bk-root-holder").screenshot())
    assert colours > 100 and share > 0.3
    assert problems == [] and eproblems == []


def test_the_document_is_not_in_the_html_and_arrives_with_the_first_tap(open_at, site_url) -> None:  # type: ignore[no-untyped-def]
    """The 1-month page (the largest) is small HTML; its Bokeh document (doc.js beside it) is
    fetched on the first tap, and a figure below the fold is built only when it comes into view."""
    path = "btc-usdt/1m/index.html"
    page, problems = open_at(path)
    html = page.request.get(site_url + path).text()
    assert len(html.encode()) < 40_000, f"{path} is {len(html.encode())} bytes"
    assert 'id="liqmap-bokeh-docs"' not in html and '"type":"object"' not in html, "document JSON in the HTML"
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.wait_for_timeout(300)
    assert not any("doc.js" in u for u in fetched), "the document loaded before the reader asked"
    box = page.locator("h1").bounding_box()
    page.touchscreen.tap(box["x"] + 4, box["y"] + 4)
    page.wait_for_selector("html[data-live]", state="attached", timeout=15_000)
    assert sum("/btc-usdt/1m/doc.js?v=" in u for u in fetched) == 1, fetched
    assert page.locator(".heat .bk-root-holder[data-built]").count() == 1
    # The liquidation map is far below the fold on a phone: not built, not yet in the document.
    assert page.locator(".map .bk-root-holder[data-built]").count() == 0
    assert page.evaluate("Bokeh.documents[0].get_model_by_name('liqmap')") is None
    bring_in(page, ".predicted")
    bring_in(page, ".map")
    # Added to the same document (one Bokeh document per page), drawn, in the page's theme;
    # the predicted panel still pans with the heatmap (one shared time axis).
    assert page.evaluate("Bokeh.documents.length") == 1
    assert page.evaluate("""() => { const d = Bokeh.documents[0];
      return d.get_model_by_name('predicted').x_range === d.get_model_by_name('heatmap').x_range; }""")
    assert page.evaluate("Bokeh.documents[0].get_model_by_name('liqmap').background_fill_color") == "#0d1017"
    colours, share = _painted(page.locator(".map .bk-root-holder").screenshot())
    assert colours > 50 and share > 0.2, f"the liquidation map looks blank ({colours} colours)"
    assert problems == [], problems
