"""Filter and sort on the index and the market overview, in headless Chromium (issue #14 item 4).

Shares the session's sample site and browser (conftest.py): the sample has BTC, ETH and SOL.
Every page load collects console errors and CSP violations; the pages have none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_browser import _watch
from tests.test_browser_phone import CLS_JS

pytestmark = pytest.mark.browser

TABLES = {"index.html": "symbols", "overview/index.html": "overview"}


@pytest.fixture
def open_at(browser, site_url) -> Iterator:  # type: ignore[no-untyped-def]
    """Open a page at 1280 px, or on a 375 px touch phone; returns (page, problems)."""
    contexts = []

    def _open(path: str, width: int = 1280, *, js: bool = True) -> tuple[Any, list[str]]:
        if width <= 480:
            ctx = browser.new_context(viewport={"width": width, "height": 812}, is_mobile=True,
                                      has_touch=True, device_scale_factor=2, java_script_enabled=js)
        else:
            ctx = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=js)
        contexts.append(ctx)
        page = ctx.new_page()
        problems: list[str] = []
        _watch(page, problems)
        page.goto(site_url + path, wait_until="load")
        return page, problems

    yield _open
    for ctx in contexts:
        ctx.close()


def visible_bases(page: Any, table: str) -> list[str]:
    """The base of each row the reader can see, top to bottom."""
    return page.evaluate(f"""() => [...document.querySelectorAll('#{table} tbody tr')]
      .filter(tr => tr.getClientRects().length > 0)
      .map(tr => tr.querySelector('th[scope=row]').getAttribute('data-value'))""")


def column_values(page: Any, table: str, col: int) -> list[float]:
    return page.evaluate(f"""() => [...document.querySelectorAll('#{table} tbody tr')]
      .map(tr => parseFloat(tr.cells[{col}].getAttribute('data-value')))""")


@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("path", list(TABLES))
def test_typing_so_leaves_only_sol(open_at, path: str, width: int) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at(path, width)
    table = TABLES[path]
    box = page.locator(f"input[data-filter={table}]")
    count = page.locator(f"[data-filter-count={table}]")
    assert box.is_visible() and count.inner_text() == "3 symbols"
    box.press_sequentially("s")  # every pair has an "s" (USDT)
    assert sorted(visible_bases(page, table)) == ["BTC", "ETH", "SOL"]
    box.press_sequentially("o")
    assert visible_bases(page, table) == ["SOL"]
    assert count.inner_text() == "1 of 3 symbols"
    box.fill("ETH-USDT")  # the slug, any case
    assert visible_bases(page, table) == ["ETH"]
    box.fill("xyz")
    assert visible_bases(page, table) == [] and count.inner_text() == "0 of 3 symbols"
    box.fill("")
    assert len(visible_bases(page, table)) == 3 and count.inner_text() == "3 symbols"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert problems == []


@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("path", list(TABLES))
def test_price_header_sorts_and_sets_aria_sort(open_at, path: str, width: int) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at(path, width)
    table = TABLES[path]
    price = page.locator(f"#{table} thead th").nth(2)
    button = price.locator("button")
    assert button.inner_text() == "Price"
    assert button.is_visible()  # on a phone the column heads are a row of sort buttons
    button.click()
    assert price.get_attribute("aria-sort") == "ascending"
    assert visible_bases(page, table) == ["SOL", "ETH", "BTC"]
    prices = column_values(page, table, 2)
    assert prices == sorted(prices)
    button.focus()
    page.keyboard.press("Enter")  # the keyboard works as well as a click
    assert price.get_attribute("aria-sort") == "descending"
    assert visible_bases(page, table) == ["BTC", "ETH", "SOL"]
    assert page.locator(f"#{table} thead th[aria-sort]").count() == 1
    assert problems == []


def test_overview_usd_columns_sort_largest_first_and_distances_nearest_first(open_at) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at("overview/index.html")
    heads = page.locator("#overview thead th")
    # Ranked by both sides within 5 % when it opens.
    totals = column_values(page, "overview", 3)
    assert totals == sorted(totals, reverse=True)
    assert heads.nth(3).get_attribute("aria-sort") == "descending"
    for col in (4, 5, 6, 7):
        heads.nth(col).get_by_role("button").click()
        assert heads.nth(col).get_attribute("aria-sort") == "descending"
        values = column_values(page, "overview", col)
        assert values == sorted(values, reverse=True), col
    for col in (8, 9):
        heads.nth(col).get_by_role("button").click()
        assert heads.nth(col).get_attribute("aria-sort") == "ascending"
        values = column_values(page, "overview", col)
        assert values == sorted(values), col
    # Sorting and filtering together: the filter keeps holding after a sort.
    page.locator("input[data-filter=overview]").fill("so")
    heads.nth(2).get_by_role("button").click()
    assert visible_bases(page, "overview") == ["SOL"]
    assert problems == []


@pytest.mark.parametrize("path", list(TABLES))
def test_phone_cards_do_not_shift_or_scroll_sideways(open_at, path: str) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_at(path, 375)
    page.wait_for_timeout(300)
    assert page.evaluate(CLS_JS) <= 0.05
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    table = TABLES[path]
    assert page.evaluate(f"getComputedStyle(document.querySelector('#{table} tbody tr')).display") in ("flex", "grid")
    # Thumbnails keep their declared size.
    sizes = page.evaluate(f"""() => [...document.querySelectorAll('#{table} tbody img')].map(i => {{
      const r = i.getBoundingClientRect();
      return [r.width, r.height, +i.getAttribute('width'), +i.getAttribute('height')]; }})""")
    assert sizes and all(abs(w - aw) < 1 and abs(h - ah) < 1 for w, h, aw, ah in sizes), sizes
    assert problems == []


@pytest.mark.parametrize("path", list(TABLES))
def test_without_javascript_the_table_is_complete_and_no_dead_box_shows(open_at, path: str) -> None:  # type: ignore[no-untyped-def]
    for width in (1280, 375):
        page, _ = open_at(path, width, js=False)
        table = TABLES[path]
        assert sorted(visible_bases(page, table)) == ["BTC", "ETH", "SOL"]
        assert not page.locator(f"input[data-filter={table}]").is_visible()


def test_the_address_can_carry_the_filter(open_at) -> None:  # type: ignore[no-untyped-def]
    """``?q=so`` opens the page filtered (a link to "the SOL row"); the text is only a value."""
    page, problems = open_at("index.html?q=SO")
    assert page.locator("input[data-filter=symbols]").input_value() == "SO"
    assert visible_bases(page, "symbols") == ["SOL"]
    page, problems2 = open_at("overview/index.html?q=%3Cimg%20src%3Dx%3E")
    assert page.locator("input[data-filter=overview]").input_value() == "<img src=x>"
    assert visible_bases(page, "overview") == [] and page.locator("img[src=x]").count() == 0
    assert problems == [] and problems2 == []
