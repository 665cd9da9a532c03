"""One exchange alone (issue 14 item 3): which exchanges get their own page, the report of one
exchange, and the exchange selector every symbol page shows. Pure; no bokeh, no I/O.

Each symbol with data from two or more exchanges gets, besides its pages of all exchanges
together, one page per exchange for the default range (``{slug}/x/{exchange}/``, named in
:mod:`sitegen.plan`): that exchange's heatmap, liquidation map and clusters from its own model
run, on the same price grid as the aggregate. The pages are static (no CustomJS under the
CSP), reached by a row of links that works without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sitegen import plan
from sitegen.config import RANGES
from sitegen.render.levels import default_range
from sitegen.report import SymbolReport

# How the pages name an exchange (the data files keep the ccxt id).
EXCHANGE_NAMES = {"binanceusdm": "Binance", "bybit": "Bybit", "okx": "OKX", "hyperliquid": "Hyperliquid"}


def exchange_name(exchange: str) -> str:
    return EXCHANGE_NAMES.get(exchange, exchange)


def page_exchanges(report: SymbolReport) -> tuple[str, ...]:
    """The exchanges that get their own page: those with a model run for the default range,
    in the report's order; none when fewer than two (the page of all would repeat itself)."""
    tf = RANGES[default_range(report)][0]
    have = report.per_exchange.get(tf, {})
    out = tuple(e for e in report.exchanges if e in have)
    return out if len(out) >= 2 else ()


def exchange_report(report: SymbolReport, exchange: str) -> SymbolReport:
    """``report`` as if ``exchange`` were the only one: its own model results per timeframe
    (same price grid), the default range only. The candles stay the reference exchange's (the
    report keeps one price series); realised liquidations and live accuracy are left to the
    page of all exchanges, whose recordings they come from."""
    results = {tf: by_ex[exchange] for tf, by_ex in report.per_exchange.items() if exchange in by_ex}
    return replace(
        report,
        exchanges=(exchange,),
        results=results,
        per_exchange={tf: {exchange: res} for tf, res in results.items()},
        ranges=(default_range(report),),
        volume_model=any(r.volume_model for r in results.values()),
        realised=None,
        accuracy=(),
        notes=(),
        failed_exchanges=(),
        unlisted_exchanges=(),
    )


@dataclass(frozen=True)
class NavItem:
    label: str  # "All", "OKX"
    href: str  # relative to the page
    current: str  # aria-current: "page" (this page), "true" (the choice this page shows), ""
    title: str


def exchange_nav(report: SymbolReport, current: str | None, rel: str, rng: str | None = None) -> tuple[NavItem, ...]:
    """The selector: all exchanges together, then each exchange alone (default range).

    ``current`` is the exchange of this page (None on the pages of all exchanges), ``rng`` the
    range a page of all exchanges shows. Empty when the symbol has no exchange pages.
    """
    exchanges = page_exchanges(report)
    if not exchanges:
        return ()
    default = default_range(report)
    all_mark = "" if current is not None else ("page" if rng in (None, default) else "true")
    items = [NavItem("All", rel + plan.url("page", report.slug), all_mark,
                     f"{', '.join(exchange_name(e) for e in exchanges)} together, {default}")]
    items += [
        NavItem(exchange_name(e), rel + plan.url("exchange_page", report.slug, exchange=e),
                "page" if e == current else "", f"{exchange_name(e)} alone, {default}")
        for e in exchanges
    ]
    return tuple(items)
