"""The symbol menu stays short with a long symbol list (issue 14: 30+ symbols): it names the
first few symbols and the page's own, then links to the index, which lists them all."""

from __future__ import annotations

from dataclasses import replace

from bs4 import BeautifulSoup
from test_render import synthetic_site

from sitegen.render.pages import NAV_SYMBOLS, render_page, reorder_nav


def _menu(html: bytes) -> list[str]:
    return [a.get_text() for a in BeautifulSoup(html, "html.parser").select('nav[aria-label="Symbols"] a')]


def test_a_long_symbol_list_gives_a_short_menu_and_a_link_to_all() -> None:
    others = tuple((f"s{i}-usdt", f"S{i}") for i in range(30))
    site = replace(synthetic_site(), nav=(*others[:10], ("btc-usdt", "BTC"), *others[10:]))
    index = render_page(site, "index.html")
    assert _menu(index) == [f"S{i}" for i in range(NAV_SYMBOLS)] + ["All symbols", "Overview", "Method"]
    page = render_page(site, "btc-usdt/index.html")  # the 11th symbol: its own page names it, marked
    menu = BeautifulSoup(page, "html.parser").select('nav[aria-label="Symbols"] a')
    assert [a.get_text() for a in menu] == [*(f"S{i}" for i in range(NAV_SYMBOLS)), "BTC", "All symbols",
                                            "Overview", "Method"]
    assert menu[NAV_SYMBOLS].get("aria-current") == "page"
    # the build's menu rewrite (symbols that failed) keeps the link to all of them
    assert _menu(reorder_nav(index, ["s1-usdt", "s0-usdt"])) == ["S1", "S0", "All symbols", "Overview", "Method"]


def test_a_short_list_has_every_symbol_and_no_link_to_all() -> None:
    site = synthetic_site()
    assert "All symbols" not in _menu(render_page(site, "index.html"))
