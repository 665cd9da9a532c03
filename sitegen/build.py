"""The one place that knows the order of the stages: sources -> model -> render -> site.

``build_site(config, ...)`` gathers everything first, then writes the whole tree at once
(atomically, through :mod:`sitegen.site.writer`). Policy for failures lives here: a symbol
whose data cannot be loaded is reported and, where a previous site exists, kept as stale;
the build fails (writing nothing) when too few symbols are fresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from sitegen import __version__
from sitegen.accuracy import with_realised
from sitegen.config import RANGES, Config, slugify
from sitegen.errors import BuildError, LiqmapError, SourceError
from sitegen.liquidations import Realised
from sitegen.model.types import ModelResult
from sitegen.report import KeptSymbol, SiteData, SymbolReport
from sitegen.series import TIMEFRAME_MS, MarketSeries

log = logging.getLogger(__name__)

# How many bars of each timeframe the model runs over: the longest range of that timeframe
# plus warm-up, so positions opened before the visible window are on the map.
MODEL_BARS = {"5m": 3 * RANGES["1w"][1], "1h": RANGES["3m"][1] + RANGES["1m"][1]}


class SeriesSource(Protocol):
    """Anything that can hand over a symbol's market data for one exchange."""

    name: str

    def load(self, exchange: str, symbol: str) -> MarketSeries: ...


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    fresh: tuple[str, ...]
    stale: tuple[str, ...]  # kept from the previous site, marked stale
    failed: tuple[str, ...]  # no data at all this time and nothing to keep
    files: int
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def _reference(series: Sequence[MarketSeries], tf: str) -> MarketSeries | None:
    for s in series:
        if tf in s.candles and len(s.candles[tf]) > 0:
            return s
    return None


def analyse_symbol(
    symbol: str, series: Sequence[MarketSeries], config: Config, notes: Sequence[str] = ()
) -> SymbolReport:
    """Run the model for every exchange and timeframe of one symbol, on one shared price grid."""
    from sitegen import model

    params = config.model
    results = {}
    per_exchange: dict[str, dict[str, ModelResult]] = {}
    candles = {}
    volume_model = False
    for tf in ("5m", "1h"):
        ref = _reference(series, tf)
        if ref is None:
            continue
        bars = MODEL_BARS[tf]
        ref_c = ref.candles[tf].tail(bars)
        candles[tf] = ref_c
        span = 1 + params.grid_span_pct / 100
        last = float(ref_c.close[-1])
        low = min(float(np.min(ref_c.low)), last / span)
        high = max(float(np.max(ref_c.high)), last * span)
        edges = model.price_grid(low, high, params.bin_pct)
        tf_results = {}
        for s in series:
            if tf not in s.candles or len(s.candles[tf]) == 0:
                continue
            trimmed = _trim(s, tf, bars)
            inp = model.model_input(trimmed, tf)
            res = model.run_model(inp, params, price_edges=edges)
            tf_results[s.exchange] = res
            volume_model = volume_model or res.volume_model
        if not tf_results:
            continue
        results[tf] = model.aggregate(list(tf_results.values()))
        per_exchange[tf] = tf_results
    if not results:
        raise SourceError(f"{symbol}: no candles from any exchange")
    main_tf = "5m" if "5m" in candles else "1h"
    last_ts = int(candles[main_tf].timestamp[-1]) + TIMEFRAME_MS[main_tf]
    ranges = tuple(
        r for r in config.ranges
        if RANGES[r][0] in candles and len(candles[RANGES[r][0]]) >= RANGES[r][1]
    )
    if not ranges:  # short history: still show the shortest range, with the bars there are
        ranges = tuple(r for r in config.ranges if RANGES[r][0] in candles)[:1]
    return SymbolReport(
        symbol=symbol,
        slug=slugify(symbol),
        exchanges=tuple(s.exchange for s in series),
        results=results,
        per_exchange=per_exchange,
        candles=candles,
        funding=next((s.funding for s in series if s.funding is not None), None),
        ranges=ranges,
        as_of=datetime.fromtimestamp(last_ts / 1000, UTC),
        source=series[0].source,
        volume_model=volume_model,
        notes=tuple(notes),
    )


def _trim(s: MarketSeries, tf: str, bars: int) -> MarketSeries:
    """Keep the last ``bars`` candles of ``tf`` (and only that timeframe) for the model."""
    return replace(s, candles={tf: s.candles[tf].tail(bars)})


def gather(
    config: Config,
    source: SeriesSource,
    exchanges: Sequence[str],
    progress: Callable[[str], None] | None = None,
) -> tuple[list[SymbolReport], dict[str, str]]:
    """Load and model every symbol; returns the reports and {symbol: reason} for failures."""
    reports: list[SymbolReport] = []
    failures: dict[str, str] = {}
    for symbol in config.symbols:
        series: list[MarketSeries] = []
        notes: list[str] = []
        for exchange in exchanges:
            try:
                series.append(source.load(exchange, symbol))
            except SourceError as e:
                log.warning("%s", e)
                notes.append(str(e))
        if not series:
            failures[symbol] = "; ".join(notes) or "no data"
            continue
        try:
            report = analyse_symbol(symbol, series, config, notes)
            reports.append(with_realised(report, series, _realised(source, symbol)))
        except LiqmapError as e:
            log.warning("%s: %s", symbol, e)
            failures[symbol] = str(e)
            continue
        if progress:
            progress(f"modelled {symbol} ({', '.join(s.exchange for s in series)})")
    return reports, failures


def _realised(source: SeriesSource, symbol: str) -> Realised | None:
    """The source's realised liquidations of ``symbol``, where it has any (sample, store)."""
    get = getattr(source, "realised", None)
    if get is None:
        return None
    try:
        realised = get(symbol)
    except (LiqmapError, OSError, ValueError) as e:  # the pages still build without them
        log.warning("%s: realised liquidations unavailable: %s", symbol, e)
        return None
    return realised if realised else None


def _kept(carried: Sequence[object]) -> tuple[KeptSymbol, ...]:
    return tuple(
        KeptSymbol(c.symbol, c.slug, c.as_of, c.stale_since, c.last_price, c.summary)  # type: ignore[attr-defined]
        for c in carried
    )


def _evaluation(config: Config) -> dict[str, object] | None:
    from sitegen import model

    try:
        return model.calibration_report(config.model)
    except (LiqmapError, OSError, ValueError) as e:  # the site still builds without it
        log.warning("calibration report unavailable: %s", e)
        return None


def build_site(
    config: Config,
    *,
    sample: bool = False,
    offline: bool = False,
    standalone: bool = False,
    source: SeriesSource | None = None,
    exchanges: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> BuildResult:
    """Build the whole site into ``config.out_dir``; see the module docstring for the policy."""
    from sitegen.render import render_site
    from sitegen.site.lastgood import carry_over, find_kept
    from sitegen.site.snapshots import accuracy_history, add_snapshots
    from sitegen.site.writer import write_site

    started = time.perf_counter()
    notes: list[str] = []
    if source is None:
        if sample:
            from sitegen.sources.sample import SampleSource

            source = SampleSource()
            exchanges = SampleSource.exchanges
        else:
            source, fetch_notes = _live_source(config, offline=offline, progress=progress)
            notes.extend(fetch_notes)
    if exchanges is None:
        exchanges = config.exchanges
    reports, failures = gather(config, source, exchanges, progress)
    fresh = tuple(r.symbol for r in reports)
    share = len(fresh) / len(config.symbols)
    if share < config.min_fresh_share or not reports:
        detail = "; ".join(f"{s}: {why}" for s, why in failures.items())
        raise BuildError(
            f"only {len(fresh)} of {len(config.symbols)} symbols have fresh data "
            f"(need {config.min_fresh_share:.0%}); nothing was written. {detail}"
        )
    generated_at = (now or datetime.now(UTC)).replace(microsecond=0)
    # keep last good: failed symbols keep their previous pages (marked stale) and stay listed
    # on the index; then the hourly snapshot history is carried forward. Both read the
    # previous tree at out_dir.
    site = SiteData(
        title=config.title,
        base_url=config.base_url,
        generated_at=generated_at,
        symbols=tuple(reports),
        params=config.model,
        evaluation=_evaluation(config),
        version=__version__,
        kept=_kept(find_kept(config.out_dir, failures, now=generated_at)),
        accuracy_history=accuracy_history(config.out_dir),
    )
    if progress:
        progress("rendering pages")
    files = render_site(site, standalone=standalone)
    merged, carried, not_kept = carry_over(
        config.out_dir, failures, files, now=generated_at, base_url=config.base_url
    )
    if {c.symbol for c in carried} != {k.symbol for k in site.kept}:
        # a kept page would link to something this build lacks: list only what is carried
        site = replace(site, kept=_kept(carried))
        files = render_site(site, standalone=standalone)
        merged, carried, not_kept = carry_over(
            config.out_dir, failures, files, now=generated_at, base_url=config.base_url
        )
    files = merged
    files = add_snapshots(files, config.out_dir, now=site.generated_at)
    stale = tuple(c.symbol for c in carried)
    failed = tuple(s for s in failures if s not in stale)
    write_site(files, config.out_dir)
    for symbol, why in failures.items():
        kept = next((c for c in carried if c.symbol == symbol), None)
        outcome = (
            f"kept the last good pages of {kept.stale_since:%Y-%m-%d %H:%M} UTC, marked stale"
            if kept else f"not shown: {not_kept.get(symbol, 'nothing to keep')}"
        )
        notes.append(f"{symbol}: {why} ({outcome})")
    return BuildResult(
        out_dir=config.out_dir,
        fresh=fresh,
        stale=stale,
        failed=failed,
        files=len(files),
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )


def _live_source(
    config: Config, *, offline: bool, progress: Callable[[str], None] | None
) -> tuple[SeriesSource, list[str]]:
    """Fetch into the local store (unless offline), then read every series from the store."""
    from sitegen.sources.live import fetch_all
    from sitegen.store import Store

    notes: list[str] = []
    path = config.state_dir / "liqmap.sqlite"
    if not offline:
        with Store(path) as store:
            report = fetch_all(config, store, progress=progress)
        notes.extend(getattr(report, "messages", ()))
    elif not path.exists():
        raise BuildError(
            f"{path}: no local store yet; run `liqmap fetch` (or build without --offline) first"
        )
    return _StoreSource(path), notes


class _StoreSource:
    name = "store"

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, exchange: str, symbol: str) -> MarketSeries:
        from sitegen.store import Store

        with Store(self.path) as store:
            series = store.load_series(exchange, symbol)
        if series is None:
            raise SourceError(f"{exchange} {symbol}: nothing in the local store {self.path}")
        return series

    def realised(self, symbol: str) -> Realised:
        from sitegen.store import Store

        with Store(self.path) as store:
            return store.load_realised(symbol)
