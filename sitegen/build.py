"""The one place that knows the order of the stages: sources -> model -> render -> site.

``build_site(config, ...)`` gathers everything first, then writes the whole tree at once
(atomically, through :mod:`sitegen.site.writer`). Policy for failures lives here: a symbol
whose data cannot be loaded is reported and, where a previous site exists, kept as stale;
the build fails (writing nothing) when too few symbols are fresh.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sitegen import __version__, plan
from sitegen.accuracy import with_realised
from sitegen.config import MODEL_BARS, RANGES, Config, slugify
from sitegen.errors import BuildError, LiqmapError, SourceError
from sitegen.evaluation import calibration_report
from sitegen.liquidations import Realised
from sitegen.model.calibration import CalibrationReport
from sitegen.model.types import ModelInput, ModelParams, ModelResult
from sitegen.plan import FileSet
from sitegen.report import KeptSymbol, SiteData, SymbolReport
from sitegen.series import TIMEFRAME_MS, Candles, MarketSeries
from sitegen.sources.adapters import adapter

if TYPE_CHECKING:
    from sitegen.sources.exchanges import FetchOptions

log = logging.getLogger(__name__)



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


def model_params(config: Config) -> ModelParams:
    """The model's parameters from the plain ``[model]`` settings of the config."""
    return ModelParams(**config.model.as_dict())


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

    params = model_params(config)
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
        # one grid per timeframe, shared by every exchange: the reference exchange's default grid
        edges = model.default_grid(_model_input(ref, tf, bars), params)
        tf_results = {}
        for s in series:
            if tf not in s.candles or len(s.candles[tf]) == 0:
                continue
            inp = _model_input(s, tf, bars)
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
    if not ranges:
        raise SourceError(
            f"{symbol}: none of the configured ranges ({', '.join(config.ranges)}) can be shown: "
            f"they need {'/'.join(sorted({RANGES[r][0] for r in config.ranges}))} bars and the data has "
            f"only {'/'.join(sorted(candles))} bars"
        )
    notes = (*notes, *_history_note(config.ranges, ranges, candles, series))
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


def _history_note(
    wanted: Sequence[str], shown: Sequence[str], candles: dict[str, Candles], series: Sequence[MarketSeries]
) -> tuple[str, ...]:
    """Say which ranges wait for history (a store still filling, or a young market); the
    embedded sample is a fixed recording and says nothing."""
    missing = [r for r in wanted if r not in shown]
    if not missing or all(s.source == "sample" for s in series):
        return ()
    held = ", ".join(
        f"{(c.timestamp[-1] - c.timestamp[0]) / 86_400_000 + TIMEFRAME_MS[tf] / 86_400_000:.1f} days of {tf} bars"
        for tf, c in sorted(candles.items(), key=lambda kv: TIMEFRAME_MS[kv[0]]) if len(c)
    )
    return (
        f"Ranges not published yet: {', '.join(missing)}. The data holds {held} so far; older history "
        "is fetched a little more every run (or the market is younger than the range)",
    )


def _model_input(s: MarketSeries, tf: str, bars: int) -> ModelInput:
    """The model's input from the last ``bars`` candles of ``tf``, in the exchange's margin form."""
    from sitegen import model

    return model.model_input(_trim(s, tf, bars), tf, margin_form=adapter(s.exchange).margin_form)


def _trim(s: MarketSeries, tf: str, bars: int) -> MarketSeries:
    """Keep the last ``bars`` candles of ``tf`` (and only that timeframe) for the model."""
    return replace(s, candles={tf: s.candles[tf].tail(bars)})


def gather(
    config: Config,
    source: SeriesSource,
    exchanges: Sequence[str],
    progress: Callable[[str], None] | None = None,
    *,
    failed_this_run: Collection[tuple[str, str]] = (),
) -> tuple[list[SymbolReport], dict[str, str]]:
    """Load and model every symbol; returns the reports and {symbol: reason} for failures.

    ``failed_this_run`` holds the (exchange, symbol) pairs whose fetch failed this run; with
    the exchanges that could not be loaded they become each report's ``failed_exchanges``.
    """
    reports: list[SymbolReport] = []
    failures: dict[str, str] = {}
    for symbol in config.symbols:
        series: list[MarketSeries] = []
        notes: list[str] = []
        failed = [e for e in exchanges if (e, symbol) in failed_this_run]
        for exchange in exchanges:
            try:
                series.append(source.load(exchange, symbol))
            except SourceError as e:
                log.info("%s", e)  # in the notes, and in the summary
                notes.append(str(e))
                failed.append(exchange)
        if not series:
            failures[symbol] = _no_series(symbol, notes)
            continue
        try:
            report = analyse_symbol(symbol, series, config, notes)
            report = with_realised(report, series, _realised(source, symbol))
        except LiqmapError as e:
            log.warning("%s: %s", symbol, e)
            failures[symbol] = str(e)
            continue
        reports.append(replace(report, failed_exchanges=tuple(e for e in exchanges if e in failed)))
        if progress:
            progress(f"modelled {symbol} ({', '.join(s.exchange for s in series)})")
    return reports, failures


def judge_freshness(report: SymbolReport, now: datetime, stale_after_hours: float) -> SymbolReport:
    """Fresh means the data reaches ``now`` within ``stale_after_hours``; older data is
    published marked stale (since its last bar), whatever the fetch said."""
    if now - report.as_of <= timedelta(hours=stale_after_hours):
        return report
    return replace(report, stale=True, stale_since=report.as_of)


def _no_series(symbol: str, notes: Sequence[str]) -> str:
    """Why ``symbol`` has no data, without repeating one sentence per exchange."""
    empty = [n.split(" ")[0] for n in notes if n.endswith(f"{symbol}: nothing in the local store")]
    others = [n for n in notes if not n.endswith(f"{symbol}: nothing in the local store")]
    parts = [f"nothing in the local store from {', '.join(empty)}"] if empty else []
    return "; ".join([*parts, *others]) or "no data"


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


def _evaluation(config: Config) -> CalibrationReport | None:
    try:
        return calibration_report(model_params(config))
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
    fetch_options: FetchOptions | None = None,
) -> BuildResult:
    """Build the whole site into ``config.out_dir``; see the module docstring for the policy."""
    from sitegen.render import render_site
    from sitegen.site.lastgood import after_render_refusals, plan_carry_over
    from sitegen.site.snapshots import accuracy_history, add_snapshots
    from sitegen.site.writer import write_site

    started = time.perf_counter()
    notes: list[str] = []
    failed_this_run: set[tuple[str, str]] = set()
    # The sample is a fixed recording: it is never judged against the clock.
    judge = not sample and getattr(source, "name", "") != "sample"
    if source is None:
        if sample:
            from sitegen.sources.sample import SampleSource

            source = SampleSource()
            exchanges = SampleSource.exchanges
        else:
            source, fetch_notes, failed_this_run = _live_source(
                config, offline=offline, progress=progress, fetch_options=fetch_options
            )
            notes.extend(fetch_notes)
            if now is None:
                now = _fetch_clock()
    if exchanges is None:
        exchanges = config.exchanges
    generated_at = (now or datetime.now(UTC)).replace(microsecond=0)
    reports, failures = gather(config, source, exchanges, progress, failed_this_run=failed_this_run)
    if judge:
        reports = [judge_freshness(r, generated_at, config.stale_after_hours) for r in reports]
    fresh = tuple(r.symbol for r in reports if not r.stale)
    share = len(fresh) / len(config.symbols)
    if share < config.min_fresh_share or not reports:
        by_reason: dict[str, list[str]] = {}
        for s, why in failures.items():
            by_reason.setdefault(why, []).append(s)
        detail = "; ".join(
            [f"{', '.join(syms)}: {why}" for why, syms in by_reason.items()]
            + [f"{r.symbol}: data ends {r.as_of:%Y-%m-%d %H:%M} UTC, more than "
               f"{config.stale_after_hours:g} h before the build" for r in reports if r.stale]
        )
        if "local store" in detail:
            from sitegen.store import STORE_FILE

            detail += f" (store: {config.state_dir / STORE_FILE})"
        raise BuildError(
            f"only {len(fresh)} of {len(config.symbols)} symbols have fresh data "
            f"(need {config.min_fresh_share:.0%}); nothing was written. {detail}"
        )
    # keep last good: failed symbols keep their previous pages (marked stale) and stay listed
    # on the index; decided before rendering from the site plan, so the site renders once.
    # Then the hourly snapshot history is carried forward. Both read the previous tree.
    fresh_plan = plan.SitePlan({r.slug: r.ranges for r in reports})
    kept, not_kept = plan_carry_over(
        config.out_dir, failures, set(fresh_plan.files), now=generated_at, base_url=config.base_url
    )
    site = SiteData(
        title=config.title,
        base_url=config.base_url,
        generated_at=generated_at,
        symbols=tuple(reports),
        params=model_params(config),
        evaluation=_evaluation(config),
        version=__version__,
        kept=_kept([c for c, _ in kept]),
        stale_after_hours=config.stale_after_hours,
        accuracy_history=accuracy_history(config.out_dir),
    )
    if progress:
        progress("rendering pages")
    rendered = render_site(site, standalone=standalone)
    refused = after_render_refusals(kept, rendered, config.base_url)
    if refused:
        # rare (a tampered cache, or kept pages that need an older BokehJS): drop them and
        # render again, so no page lists a symbol the site does not carry
        for symbol, why in refused.items():
            log.warning("%s: cannot keep the last good pages: %s", symbol, why)
        not_kept.update(refused)
        kept = [k for k in kept if k[0].symbol not in refused]
        site = replace(site, kept=_kept([c for c, _ in kept]))
        rendered = render_site(site, standalone=standalone)
    carried = [c for c, _ in kept]
    files = FileSet(rendered)
    for _, own in kept:
        files.update(own)  # refuses a path the fresh site already has
    written = add_snapshots(files, config.out_dir, now=site.generated_at)
    stale = tuple(r.symbol for r in reports if r.stale) + tuple(c.symbol for c in carried)
    failed = tuple(s for s in failures if s not in stale)
    for r in reports:
        if r.stale:
            notes.append(f"{r.symbol}: data ends {r.as_of:%Y-%m-%d %H:%M} UTC (published marked stale)")
        if r.failed_exchanges:
            notes.append(f"{r.symbol}: failed this run on {', '.join(r.failed_exchanges)}")
    write_site(written, config.out_dir)
    for symbol, why in failures.items():
        kept_one = next((c for c in carried if c.symbol == symbol), None)
        outcome = (
            f"kept the last good pages of {kept_one.stale_since:%Y-%m-%d %H:%M} UTC, marked stale"
            if kept_one else f"not shown: {not_kept.get(symbol, 'nothing to keep')}"
        )
        notes.append(f"{symbol}: {why} ({outcome})")
    return BuildResult(
        out_dir=config.out_dir,
        fresh=fresh,
        stale=stale,
        failed=failed,
        files=len(written),
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )


def _live_source(
    config: Config, *, offline: bool, progress: Callable[[str], None] | None,
    fetch_options: FetchOptions | None = None,
) -> tuple[SeriesSource, list[str], set[tuple[str, str]]]:
    """Fetch into the local store (unless offline), then read every series from the store.

    Returns the source, the fetch's messages and the (exchange, symbol) pairs that failed.
    """
    from sitegen.sources.live import down_summary, fetch_all, new_paths, remove_new_store
    from sitegen.store import STORE_FILE, Store

    notes: list[str] = []
    failed: set[tuple[str, str]] = set()
    path = config.state_dir / STORE_FILE
    if not offline:
        made = new_paths(path)
        with Store(path) as store:
            report = fetch_all(config, store, progress=progress, options=fetch_options)
            empty = not report.ok and store.count("candles") == 0
        if empty:
            if made:
                remove_new_store(path, made)
            raise BuildError(
                f"could not fetch any data ({down_summary(report)}); nothing was written"
                f"{' and no store was created' if made else ''}. Check the network or set a proxy "
                f"(${config.proxy_env}); `liqmap build --sample` builds the site offline from the "
                "embedded sample data"
            )
        notes.extend(report.messages)
        failed = {(r.exchange, r.symbol) for r in report.failed}
    elif not path.exists():
        raise BuildError(
            f"{path}: no local store yet; run `liqmap fetch` (or build without --offline) first"
        )
    # Open it once up front: a damaged or unreadable store is one clear error, not one per
    # (exchange, symbol) pair.
    with Store(path, read_only=True):
        pass
    return _StoreSource(path), notes, failed


def _fetch_clock() -> datetime:
    """The fetcher's clock (tests replace it to replay recorded exchanges), as the build time."""
    from sitegen.sources.live import clock_ms

    return datetime.fromtimestamp(clock_ms() / 1000, UTC)


class _StoreSource:
    name = "store"

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, exchange: str, symbol: str) -> MarketSeries:
        from sitegen.store import Store, store_problem

        try:
            with Store(self.path, read_only=True) as store:
                series = store.load_series(exchange, symbol)
        except sqlite3.Error as e:  # damage past what quick_check looks at
            raise BuildError(store_problem(self.path, e, "cannot read the store")) from None
        if series is None:
            raise SourceError(f"{exchange} {symbol}: nothing in the local store")
        return series

    def realised(self, symbol: str) -> Realised:
        from sitegen.store import Store

        with Store(self.path, read_only=True) as store:
            return store.load_realised(symbol)
