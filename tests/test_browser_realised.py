"""Realised liquidations on the sample's BTC page, in headless Chromium: the markers are
drawn, their tooltip gives time, price, side, USD and exchange, and their legend entry
hides and shows them. Fixtures (browser, sample site) are in conftest.py."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from tests.test_browser import HEATMAP, TOOLTIP_TEXT_JS, _pixels, open_page  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

# Where the largest realised marker and the legend entry are, in page coordinates.
FIND_JS = """() => {
  const views = Bokeh.index.roots ? [...Bokeh.index.roots] : Object.values(Bokeh.index);
  const heat = views.find(v => v.model.name === 'heatmap');
  const rvs = [...heat.renderer_views.values()];
  const rv = rvs.find(v => v.model.name === 'realised_markers');
  const legend = rvs.find(v => v.model.type === 'Legend' || v.model.constructor.name === 'Legend');
  const d = rv.model.data_source.data;
  const i = d.usd.indexOf(Math.max(...d.usd));
  const rect = heat.canvas_view.el.getBoundingClientRect();
  const bb = legend.bbox;
  return {
    n: d.usd.length, usd: d.usd[i], side: d.side[i], visible: rv.model.visible,
    x: rect.left + heat.frame.x_scale.compute(d.t[i]),
    y: rect.top + heat.frame.y_scale.compute(d.price[i]),
    lx: rect.left + bb.x + 12, ly: rect.top + bb.y + bb.height / 2,
  };
}"""
VISIBLE_JS = """() => {
  const views = Bokeh.index.roots ? [...Bokeh.index.roots] : Object.values(Bokeh.index);
  const heat = views.find(v => v.model.name === 'heatmap');
  return [...heat.renderer_views.values()].find(v => v.model.name === 'realised_markers').model.visible;
}"""


def _find(page: Any) -> dict[str, Any]:
    return page.evaluate(FIND_JS)


def test_markers_tooltip_and_legend_toggle(open_page) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (the shared fixture)
    loaded = open_page("btc-usdt/index.html")
    page = loaded.page
    found = _find(page)
    assert found["n"] > 20 and found["visible"]  # the sample's hourly BTC totals are drawn
    page.mouse.move(found["x"], found["y"])
    page.wait_for_timeout(300)
    text = page.evaluate(TOOLTIP_TEXT_JS)
    for label in ("time", "UTC", "price", "side", f"{found['side']} liquidated", "USD", "exchange",
                  "Coinglass"):
        assert label in text, f"marker tooltip lacks {label!r}"
    assert "???" not in text and "NaN" not in text
    heat = page.locator(HEATMAP).first
    page.mouse.move(0, 0)
    page.wait_for_timeout(200)
    before = _pixels(heat.screenshot())
    page.mouse.click(found["lx"], found["ly"])  # the legend entry
    page.wait_for_timeout(300)
    assert page.evaluate(VISIBLE_JS) is False
    hidden = _pixels(heat.screenshot())
    assert np.mean(np.any(before != hidden, axis=2)) > 0.002, "hiding the markers changed nothing"
    page.mouse.click(found["lx"], found["ly"])
    page.wait_for_timeout(300)
    assert page.evaluate(VISIBLE_JS) is True
    assert loaded.problems == []


def test_single_events_on_the_month_page(open_page) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (the shared fixture)
    """The recorded Binance force orders of 2026-01-06 are on the 1-month page, at their price."""
    page = open_page("btc-usdt/1m/index.html").page
    notes = page.evaluate("""() => {
      const views = Bokeh.index.roots ? [...Bokeh.index.roots] : Object.values(Bokeh.index);
      const heat = views.find(v => v.model.name === 'heatmap');
      const rv = [...heat.renderer_views.values()].find(v => v.model.name === 'realised_markers');
      const d = rv.model.data_source.data;
      return d.note.filter((n, i) => n === 'single liquidation' && d.exchange[i] === 'binanceusdm').length;
    }""")
    assert notes == 63  # every BTC force order of the embedded recording
    text = page.locator(".live-accuracy").inner_text()
    assert "Last 7 days" in text and re.search(r"\b0\.\d\d\b", text) and "one liquidation per symbol per second" in text
