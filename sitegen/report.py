"""What the build hands to the renderer: one :class:`SymbolReport` per symbol, one :class:`SiteData`.

Frozen, numpy-backed, and free of bokeh/jinja/ccxt so both sides can be tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sitegen.liquidations import Accuracy, Realised
from sitegen.model.calibration import CalibrationReport
from sitegen.model.types import ModelParams, ModelResult
from sitegen.series import Candles, Funding


@dataclass(frozen=True)
class SymbolReport:
    symbol: str  # unified symbol, e.g. "BTC/USDT:USDT"
    slug: str  # "btc-usdt"
    exchanges: tuple[str, ...]  # exchanges whose data went into the aggregate
    # Aggregated (all exchanges, one price grid) model output per timeframe: "5m", "1h".
    results: dict[str, ModelResult]
    # Per-exchange model output on the same grid, per timeframe: {tf: {exchange: result}}.
    per_exchange: dict[str, dict[str, ModelResult]]
    # Reference candles per timeframe (first exchange in config order that has them).
    candles: dict[str, Candles]
    funding: Funding | None
    ranges: tuple[str, ...]  # range names the data covers, e.g. ("12h", "24h", "3d", "1w", "1m")
    as_of: datetime  # UTC close time of the last bar used
    source: str = "live"  # "live", "store" or "sample"
    volume_model: bool = False  # True when open interest was missing (volume fallback)
    stale: bool = False  # True when this build could not refresh the symbol
    stale_since: datetime | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)  # human messages (e.g. "okx: geo-blocked")
    # Exchanges that failed this run for this symbol (fetch or load); named on the page and in the JSON.
    failed_exchanges: tuple[str, ...] = ()
    # Configured exchanges that do not list this symbol (skipped there, said calmly; not a failure).
    unlisted_exchanges: tuple[str, ...] = ()
    realised: Realised | None = None  # realised liquidations (events, hourly totals, coverage)
    accuracy: tuple[Accuracy, ...] = ()  # live accuracy, 7 and 30 days (sitegen/accuracy.py)


@dataclass(frozen=True)
class KeptSymbol:
    """A symbol this build could not refresh whose last good pages are kept (marked stale)."""

    symbol: str
    slug: str
    as_of: datetime  # close time of the last bar of the kept data
    stale_since: datetime
    last_price: float | None = None
    summary: tuple[str, ...] = ()  # the kept page's headline sentences


@dataclass(frozen=True)
class SiteData:
    title: str
    base_url: str  # absolute, ends with "/"
    generated_at: datetime  # UTC
    symbols: tuple[SymbolReport, ...]
    params: ModelParams
    evaluation: CalibrationReport | None = None  # accuracy for the methodology page
    version: str = "0"
    kept: tuple[KeptSymbol, ...] = ()  # listed on the index, nav and sitemap, pages carried over
    stale_after_hours: float = 2.0  # [build] stale_after_hours: pages badge data older than this
    # Live accuracy of earlier builds, newest first, from the hourly snapshots:
    # ({"hour", "symbol", "bars", "long", "long_base", "short", "short_base"}, ...)
    accuracy_history: tuple[dict[str, object], ...] = ()
    # The symbol menu of every page, (slug, base) in order; None: ``symbols`` then ``kept``.
    # Set when pages are rendered a symbol at a time (the build) and the list is known ahead.
    nav: tuple[tuple[str, str], ...] | None = None
