"""What a reader sees, in headless Debian Chromium (Playwright), served over local HTTP.

One browser and one sample site per session (fixtures in conftest.py). Every page load
collects console errors, uncaught exceptions and CSP violations; a clean page has none.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

PAGES = {
    "index": "index.html",
    "symbol": "btc-usdt/index.html",
    "range": "btc-usdt/12h/index.html",
    "embed": "embed/btc-usdt/index.html",
    "volume-model symbol": "eth-usdt/1w/index.html",
    "methodology": "methodology/index.html",
    "overview": "overview/index.html",
}
HEATMAP = ".heat .bk-root-holder, .embed-chart .bk-root-holder"

# Text of every Bokeh tooltip, looking inside shadow roots.
TOOLTIP_TEXT_JS = """() => {
  const out = [];
  const walk = (node) => {
    for (const el of node.querySelectorAll('*')) {
      if (el.classList && [...el.classList].some(c => c.startsWith('bk-Tooltip'))) {
        const t = (el.shadowRoot ? el.shadowRoot.textContent : '') + el.textContent;
        if (t.trim()) out.push(t);
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return out.join('\\n');
}"""


@dataclass
class Loaded:
    page: Any
    problems: list[str] = field(default_factory=list)


def _watch(page: Any, problems: list[str]) -> None:
    def on_console(m: Any) -> None:
        if m.type in ("error", "warning"):
            problems.append(f"console {m.type}: {m.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))


@pytest.fixture
def open_page(browser, site_url) -> Iterator:  # type: ignore[no-untyped-def]
    contexts = []

    def _open(path: str, width: int = 1366, height: int = 900, wait_heat: bool = True) -> Loaded:
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        page = ctx.new_page()
        loaded = Loaded(page)
        _watch(page, loaded.problems)
        page.goto(site_url + path, wait_until="load")
        if wait_heat and page.locator(HEATMAP).count():
            wake(page)
            page.wait_for_selector("html[data-heat-ready]", state="attached", timeout=15_000)
            page.wait_for_timeout(150)  # one paint after the script wired the controls
        return loaded

    yield _open
    for ctx in contexts:
        ctx.close()


def wake(page: Any, x: float = 10, y: float = 10) -> None:
    """The charts load on the reader's first interaction: a real mouse move will do."""
    page.mouse.move(x, y)
    page.mouse.move(x + 30, y + 20, steps=3)


def bring_in(page: Any, figure: str) -> None:
    """Scroll a figure below the fold into view and wait until liqmap.js has built it (it
    builds such figures only when they come into view)."""
    page.locator(f"{figure} .bk-root-holder").scroll_into_view_if_needed()
    page.wait_for_selector(f"{figure} .bk-root-holder[data-built]", state="attached", timeout=15_000)
    page.wait_for_timeout(250)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _painted(png: bytes) -> tuple[int, float]:
    """(distinct colours, share of pixels differing from the most common colour)."""
    px = _pixels(png).reshape(-1, 3).astype(np.int32)
    # one integer per colour: a 1-D unique is far cheaper than np.unique(axis=0) on rows
    colours, counts = np.unique((px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2], return_counts=True)
    return len(colours), 1.0 - counts.max() / counts.sum()


@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_clean_and_fits_a_phone(open_page, name: str) -> None:  # type: ignore[no-untyped-def]
    desk = open_page(PAGES[name])
    assert desk.problems == [], f"{PAGES[name]}: {desk.problems}"
    phone = open_page(PAGES[name], width=375, height=740)
    assert phone.problems == [], f"{PAGES[name]} at 375 px: {phone.problems}"
    scroll_w = phone.page.evaluate("document.documentElement.scrollWidth")
    assert scroll_w <= 375, f"{PAGES[name]}: horizontal scroll at 375 px (content {scroll_w} px wide)"


@pytest.mark.parametrize("name", ["symbol", "range", "embed", "volume-model symbol"])  # with charts
def test_heatmap_is_painted(open_page, name: str) -> None:  # type: ignore[no-untyped-def]
    loaded = open_page(PAGES[name])
    shot = loaded.page.locator(HEATMAP).first.screenshot()
    colours, share = _painted(shot)
    # A painted heatmap has hundreds of palette colours over most of its area.
    assert colours > 200, f"{PAGES[name]}: heatmap looks blank ({colours} colours)"
    assert share > 0.3, f"{PAGES[name]}: only {share:.0%} of the heatmap differs from its background"


@pytest.mark.parametrize("name", ["symbol", "embed"])
def test_hover_shows_time_price_and_usd(open_page, name: str) -> None:  # type: ignore[no-untyped-def]
    loaded = open_page(PAGES[name])
    page = loaded.page
    box = page.locator(HEATMAP).first.bounding_box()
    assert box is not None
    assert page.evaluate(TOOLTIP_TEXT_JS) == ""
    # Inside the plot area (away from the toolbar above and the colour bar below).
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45)
    page.wait_for_timeout(300)
    text = page.evaluate(TOOLTIP_TEXT_JS)
    for label in ("time", "UTC", "price", "$", "longs", "shorts"):
        assert label in text, f"{PAGES[name]}: tooltip lacks {label!r}: {text!r}"
    assert "???" not in text and "NaN" not in text, f"tooltip has unresolved fields: {text!r}"
    assert loaded.problems == []


def test_leverage_filter_changes_the_heatmap_and_map(open_page) -> None:  # type: ignore[no-untyped-def]
    loaded = open_page(PAGES["symbol"])
    page = loaded.page
    heat = page.locator(".heat .bk-root-holder")
    liq = page.locator(".map .bk-root-holder")
    bring_in(page, ".map")
    before_heat, before_map = _pixels(heat.screenshot()), _pixels(liq.screenshot())
    page.check("input[name=lev][value=high]")
    page.wait_for_timeout(300)
    after_heat, after_map = _pixels(heat.screenshot()), _pixels(liq.screenshot())
    changed = np.mean(np.any(before_heat != after_heat, axis=2))
    assert changed > 0.05, f"high-leverage filter changed only {changed:.1%} of the heatmap"
    assert np.mean(np.any(before_map != after_map, axis=2)) > 0.01, "liquidation map did not change"
    assert "high" in page.locator("[data-lev-status]").inner_text()
    page.check("input[name=lev][value=all]")
    page.wait_for_timeout(300)
    back = _pixels(heat.screenshot())
    assert np.mean(np.any(before_heat != back, axis=2)) < 0.01, "'all' did not restore the heatmap"
    assert loaded.problems == []


def test_intensity_control_recolours(open_page) -> None:  # type: ignore[no-untyped-def]
    loaded = open_page(PAGES["range"])
    page = loaded.page
    heat = page.locator(".heat .bk-root-holder")
    before = _pixels(heat.screenshot())
    page.locator("[data-intensity]").fill("4")
    page.wait_for_timeout(300)
    after = _pixels(heat.screenshot())
    assert np.mean(np.any(before != after, axis=2)) > 0.05
    # Brighter: the mean luminance of the plot goes up.
    assert after.mean() > before.mean()


def test_index_table_sorts_without_a_server(open_page) -> None:  # type: ignore[no-untyped-def]
    page = open_page(PAGES["index"]).page
    names = lambda: page.locator("table.index tbody th[scope=row] a").all_inner_texts()  # noqa: E731
    first = names()
    assert len(first) == 3
    page.get_by_role("button", name="Price").click()
    asc = names()
    page.get_by_role("button", name="Price").click()
    desc = names()
    assert asc == list(reversed(desc)) and asc != desc
    assert desc[0] == "BTC/USDT"  # the highest price


def test_embed_works_in_a_sandboxed_iframe(open_page) -> None:  # type: ignore[no-untyped-def]
    loaded = open_page("__sandbox.html", wait_heat=False)
    frame = loaded.page.frame_locator("#f")
    box = loaded.page.locator("#f").bounding_box()
    assert box is not None
    wake(loaded.page, box["x"] + 20, box["y"] + 20)  # the first interaction loads the chart
    frame.locator("html[data-heat-ready]").wait_for(state="attached", timeout=15_000)
    loaded.page.wait_for_timeout(200)
    shot = frame.locator(".embed-chart .bk-root-holder").screenshot()
    colours, share = _painted(shot)
    assert colours > 200 and share > 0.3, f"embed in sandbox looks blank ({colours} colours)"
    link = frame.locator(".embed-head a").first
    assert link.get_attribute("target") == "_blank"
    assert loaded.problems == [], loaded.problems


@pytest.mark.slow  # whole-site renders: CI runs it with -m slow
def test_standalone_page_works_from_disk(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--standalone pages inline everything, so they open from file:// under their CSP."""
    from sitegen.render import render_site
    from tests.test_render import synthetic_site

    for rel, data in render_site(synthetic_site(), standalone=True).items():
        out = tmp_path / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        page = ctx.new_page()
        problems: list[str] = []
        _watch(page, problems)
        page.goto((tmp_path / "btc-usdt" / "index.html").as_uri())
        page.wait_for_selector("html[data-heat-ready]", state="attached", timeout=15_000)
        page.wait_for_timeout(150)
        colours, share = _painted(page.locator(HEATMAP).first.screenshot())
        assert colours > 100 and share > 0.3
        assert problems == []
    finally:
        ctx.close()
