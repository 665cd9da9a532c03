"""The one place that knows the order of the stages: sources -> model -> render -> site.

``build_site(config, ...)`` takes one symbol at a time (``[build] workers`` at a time, in
worker processes): load, model, render, and write its files straight into the staged tree
beside ``--out`` (:class:`sitegen.site.writer.StagedSite`); only the symbol's card is kept.
:mod:`sitegen.assemble` then renders the global files from the cards, validates the tree and
swaps it in atomically, so memory does not grow with the symbol list. ``--shard K/N`` stops
after the symbols of shard K (a partial tree with a manifest) and ``assemble_site`` finishes
a site from all shards' parts: one code path for both. Policy for failures lives here: a
symbol whose data cannot be loaded (or rendered) is reported and, where a previous site
exists, kept as stale; the build fails (writing nothing) when too few symbols are fresh.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sitegen import __version__
from sitegen.accuracy import with_realised
from sitegen.assemble import (
    SymbolsDone,
    finish_site,
    link_parts,
    manifest,
    manifest_path,
    merge_parts,
    nav_of,
    read_part,
    require_fresh_share,
)
from sitegen.config import MODEL_BARS, RANGES, Config, build_workers, slugify
from sitegen.errors import NOT_LISTED, BuildError, LiqmapError, NotListed, SourceError, not_listed_note
from sitegen.evaluation import calibration_report
from sitegen.liquidations import Realised
from sitegen.model.calibration import CalibrationReport
from sitegen.model.types import ModelInput, ModelParams, ModelResult
from sitegen.report import SiteData, SymbolReport
from sitegen.series import TIMEFRAME_MS, Candles, MarketSeries
from sitegen.site.writer import StagedSite
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
    (Holds every report: the build uses :func:`model_symbol` one symbol at a time.)
    """
    reports: list[SymbolReport] = []
    failures: dict[str, str] = {}
    for symbol in config.symbols:
        report, why = model_symbol(symbol, config, source, exchanges, failed_this_run=failed_this_run)
        if report is None:
            failures[symbol] = why
            continue
        reports.append(report)
        if progress:
            progress(f"modelled {symbol} ({', '.join(report.exchanges)})")
    return reports, failures


def model_symbol(
    symbol: str,
    config: Config,
    source: SeriesSource,
    exchanges: Sequence[str],
    *,
    failed_this_run: Collection[tuple[str, str]] = (),
) -> tuple[SymbolReport | None, str]:
    """Load one symbol from every exchange and model it: ``(report, "")`` or ``(None, why)``."""
    series: list[MarketSeries] = []
    notes: list[str] = []
    unlisted: list[str] = []
    failed = [e for e in exchanges if (e, symbol) in failed_this_run]
    for exchange in exchanges:
        try:
            series.append(source.load(exchange, symbol))
        except NotListed:
            unlisted.append(exchange)  # said calmly on the page; not a failure, never stale
        except SourceError as e:
            log.info("%s", e)  # in the notes, and in the summary
            notes.append(str(e))
            failed.append(exchange)
    if not series:
        return None, _no_series(symbol, notes, unlisted)
    try:
        report = analyse_symbol(symbol, series, config, notes)
        report = with_realised(report, series, _realised(source, symbol))
    except LiqmapError as e:
        log.warning("%s: %s", symbol, e)
        return None, str(e)
    return replace(report, failed_exchanges=tuple(e for e in exchanges if e in failed),
                   unlisted_exchanges=tuple(unlisted)), ""


def judge_freshness(report: SymbolReport, now: datetime, stale_after_hours: float) -> SymbolReport:
    """Fresh means the data reaches ``now`` within ``stale_after_hours``; older data is
    published marked stale (since its last bar), whatever the fetch said."""
    if now - report.as_of <= timedelta(hours=stale_after_hours):
        return report
    return replace(report, stale=True, stale_since=report.as_of)


def _no_series(symbol: str, notes: Sequence[str], unlisted: Sequence[str] = ()) -> str:
    """Why ``symbol`` has no data, without repeating one sentence per exchange."""
    empty = [n.split(" ")[0] for n in notes if n.endswith(f"{symbol}: nothing in the local store")]
    others = [n for n in notes if not n.endswith(f"{symbol}: nothing in the local store")]
    parts = [f"nothing in the local store from {', '.join(empty)}"] if empty else []
    if unlisted:
        parts.append(not_listed_note(", ".join(unlisted)))
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


def _evaluation(config: Config) -> CalibrationReport | None:
    try:
        return calibration_report(model_params(config))
    except (LiqmapError, OSError, ValueError) as e:  # the site still builds without it
        log.warning("calibration report unavailable: %s", e)
        return None


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> (2, 3): shard K of N, 1 <= K <= N."""
    k_text, sep, n_text = text.partition("/")
    try:
        k, n = int(k_text), int(n_text)
    except ValueError:
        k = n = 0
    if not sep or not 1 <= k <= n:
        raise BuildError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. --shard 1/2")
    return k, n


def shard_symbols(symbols: Sequence[str], k: int, n: int) -> tuple[str, ...]:
    """The symbols of shard ``k`` of ``n``: every n-th by position in the config (stable)."""
    return tuple(s for i, s in enumerate(symbols) if i % n == k - 1)


@dataclass(frozen=True)
class SymbolJob:
    """One symbol to load, model, render and write: paths and settings only, no arrays."""

    symbol: str
    config: Config
    source: SeriesSource  # the sample, or the store (a path): each worker loads for itself
    exchanges: tuple[str, ...]
    failed_this_run: tuple[tuple[str, str], ...]
    site: SiteData  # title, base URL, build time, parameters, the symbol menu
    standalone: bool
    judge: bool  # judge freshness against the clock (never for the sample)
    root: str  # the staged tree the files go into
    owner_pid: int  # the build process; a worker orphaned by a killed build writes nothing


@dataclass(frozen=True)
class SymbolOutcome:
    """What a worker hands back (plain data): the card as JSON, or why the symbol failed."""

    symbol: str
    card: dict[str, object] | None
    failure: str = ""
    files: tuple[str, ...] = ()
    bundles: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()
    csps: tuple[str, ...] = ()


def build_symbol(job: SymbolJob) -> SymbolOutcome:
    """Load, model, summarise and render one symbol and write its files into ``job.root``.

    Runs in a worker process (or in the build's own): it returns only the symbol's card, so
    nothing of the model's arrays outlives it. A symbol that cannot be modelled or rendered is
    that symbol's failure; a damaged store or an unwritable disk stops the build.
    """
    from sitegen.render.card import card_of, card_to_json
    from sitegen.render.pages import render_symbol
    from sitegen.site.pagepolicy import policy_of
    from sitegen.site.writer import os_problem, write_tree

    symbol = job.symbol
    report, why = model_symbol(symbol, job.config, job.source, job.exchanges, failed_this_run=job.failed_this_run)
    if report is None:
        return SymbolOutcome(symbol, None, why)
    if job.judge:
        report = judge_freshness(report, job.site.generated_at, job.config.stale_after_hours)
    try:
        files, bundles, summary = render_symbol(job.site, report, standalone=job.standalone)
    except Exception as e:  # a renderer bug on this symbol's data: it fails, the others go on
        log.exception("%s: cannot render its pages", symbol)
        return SymbolOutcome(symbol, None, f"cannot render its pages: {type(e).__name__}: {e}")
    card = card_to_json(card_of(summary))
    del report, summary
    root = Path(job.root)
    if not root.is_dir() or not _alive(job.owner_pid):
        return SymbolOutcome(symbol, None, "the build that started this worker is gone")
    policy = policy_of(c for rel, c in files.items() if rel.endswith(".html"))
    try:
        write_tree(files, root)
    except OSError as e:  # a full disk, a read-only folder: the whole build stops, nothing swapped in
        raise BuildError(os_problem(e, job.config.out_dir)) from None
    return SymbolOutcome(symbol, card, "", tuple(files), tuple(sorted(bundles)),
                         tuple(sorted(policy.scripts)), tuple(sorted(policy.csps)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, not ours to signal
        return True
    return True


_NOISY_LOGGERS = ("bokeh", "asyncio", "ccxt", "urllib3", "aiohttp")


def _log_settings() -> tuple[int, str | None, dict[str, int]]:
    """The build process's logging (level, format of its handler, library levels), for its workers."""
    root = logging.getLogger()
    fmt = next((h.formatter._fmt for h in root.handlers if h.formatter is not None), None)
    return root.level, fmt, {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}


def _init_worker(level: int, fmt: str | None, named: dict[str, int]) -> None:
    """A worker logs as the build process does (same level and format, secrets masked)."""
    from sitegen.masking import install_secret_filter

    root = logging.getLogger()
    if fmt is not None and not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(fmt))
        root.addHandler(handler)
    root.setLevel(level)
    for name, lvl in named.items():
        logging.getLogger(name).setLevel(lvl)
    install_secret_filter()


def _pool_context() -> multiprocessing.context.BaseContext:
    """Workers start from a clean server process (not a fork of a threaded parent), with
    the heavy imports done once."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["sitegen.build", "sitegen.render.pages"])
    return ctx


def run_symbols(
    jobs: Sequence[SymbolJob], workers: int, progress: Callable[[str], None] | None = None
) -> list[SymbolOutcome]:
    """Every job, ``workers`` at a time in worker processes (1: in this process), in job order."""
    outcomes: dict[str, SymbolOutcome] = {}

    def done(o: SymbolOutcome) -> None:
        outcomes[o.symbol] = o
        if progress and o.card is not None:
            report = o.card["report"]
            assert isinstance(report, dict)
            progress(f"modelled {o.symbol} ({', '.join(report['exchanges'])})")

    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            done(build_symbol(job))
        return [outcomes[j.symbol] for j in jobs]
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=_pool_context(),
                             initializer=_init_worker, initargs=_log_settings()) as pool:
        futures = {pool.submit(build_symbol, job): job for job in jobs}
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    done(future.result())
                except BuildError:
                    raise
                except BrokenProcessPool as e:
                    done(SymbolOutcome(job.symbol, None, f"its worker process died ({e})"))
                except Exception as e:  # a bug in one symbol's work: that symbol fails
                    log.error("%s: failed in its worker: %s: %s", job.symbol, type(e).__name__, e)
                    done(SymbolOutcome(job.symbol, None, f"failed: {type(e).__name__}: {e}"))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [outcomes[j.symbol] for j in jobs]


def _collect(outcomes: Sequence[SymbolOutcome], stage: StagedSite) -> SymbolsDone:
    """Declare the workers' files to the staged tree and keep their cards."""
    from sitegen.render.card import card_from_json

    done = SymbolsDone()
    for o in outcomes:
        if o.card is None:
            done.failures[o.symbol] = o.failure
            continue
        stage.register(o.files)
        card = card_from_json(o.card)
        done.cards.append(card)
        done.files[card.report.slug] = list(o.files)
        done.bundles.update(o.bundles)
        done.scripts.update(o.scripts)
        done.csps.update(o.csps)
    return done


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
    shard: tuple[int, int] | None = None,
) -> BuildResult:
    """Build the whole site into ``config.out_dir``; see the module docstring for the policy.

    One symbol at a time (or ``[build] workers`` at a time, in worker processes): each is
    loaded, modelled and rendered, its files go straight into the staged tree, and only its
    card is kept (:mod:`sitegen.assemble` renders the global files from the cards). With
    ``shard=(k, n)`` only the symbols of shard k are built, into a partial tree with their
    manifest, for ``liqmap assemble``.
    """
    started = time.perf_counter()
    notes: list[str] = []
    failed_this_run: set[tuple[str, str]] = set()
    if sample and source is None:
        config = sample_symbols(config)  # the symbols the embedded sample has
    symbols = shard_symbols(config.symbols, *shard) if shard else config.symbols
    # The sample is a fixed recording: it is never judged against the clock.
    judge = not sample and getattr(source, "name", "") != "sample"
    if source is None:
        if sample:
            from sitegen.sources.sample import SampleSource

            source = SampleSource()
            exchanges = SampleSource.exchanges
        else:
            source, fetch_notes, failed_this_run = _live_source(
                replace(config, symbols=symbols), offline=offline, progress=progress, fetch_options=fetch_options
            )
            notes.extend(fetch_notes)
            if now is None:
                now = _fetch_clock()
    if exchanges is None:
        exchanges = config.exchanges
    generated_at = (now or datetime.now(UTC)).replace(microsecond=0)
    nav = nav_of(config.symbols)
    job_site = SiteData(
        title=config.title, base_url=config.base_url, generated_at=generated_at, symbols=(),
        params=model_params(config), version=__version__, stale_after_hours=config.stale_after_hours, nav=nav,
    )
    with StagedSite(config.out_dir) as stage, _disk_problems(config.out_dir):
        jobs = [
            SymbolJob(symbol, config, source, tuple(exchanges),
                      tuple(p for p in failed_this_run if p[1] == symbol), job_site, standalone, judge,
                      str(stage.root), os.getpid())
            for symbol in symbols
        ]
        outcomes = run_symbols(jobs, build_workers(config.workers), progress)
        done = _collect(outcomes, stage)
        done.notes = notes
        if shard is not None:
            k, n = shard
            stage.add({manifest_path(k, n): manifest(config, k, n, done, generated_at, standalone=standalone,
                                                     nav=nav)})
            stage.commit(validate=False)
            return BuildResult(
                out_dir=config.out_dir, fresh=tuple(c.report.symbol for c in done.cards if not c.report.stale),
                stale=tuple(c.report.symbol for c in done.cards if c.report.stale), failed=tuple(done.failures),
                files=len(stage.names), seconds=time.perf_counter() - started, notes=tuple(notes),
            )
        from sitegen.store import STORE_FILE

        require_fresh_share(config, done, len(config.symbols), hint=f"store: {config.state_dir / STORE_FILE}")
        site = replace(job_site, evaluation=_evaluation(config))
        finished = finish_site(stage, config, done, site, rendered_nav=nav, standalone=standalone, progress=progress)
    return BuildResult(
        out_dir=config.out_dir, fresh=finished.fresh, stale=finished.stale, failed=finished.failed,
        files=finished.files, seconds=time.perf_counter() - started, notes=finished.notes,
    )


@contextmanager
def _disk_problems(out_dir: Path) -> Iterator[None]:
    """An OSError while staging the site (full disk, permissions) is one clear BuildError."""
    from sitegen.site.writer import os_problem

    try:
        yield
    except OSError as e:
        raise BuildError(os_problem(e, out_dir)) from None


def assemble_site(
    config: Config, parts: Sequence[Path], *, standalone: bool = False,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Merge the partial trees of ``liqmap build --shard K/N`` into one site at ``config.out_dir``:
    global files from the shards' cards, keep-last-good, snapshots, validation, atomic swap."""
    started = time.perf_counter()
    found = [p for root in parts for p in read_part(Path(root), config, standalone=standalone)]
    done = merge_parts(found, config)
    navs = {p.nav for p in found}
    if len(navs) != 1:
        raise BuildError("the parts list different symbol menus; build every shard of the same config")
    generated_at = max(p.generated_at for p in found)
    site = SiteData(
        title=config.title, base_url=config.base_url, generated_at=generated_at, symbols=(),
        params=model_params(config), evaluation=_evaluation(config), version=__version__,
        stale_after_hours=config.stale_after_hours, nav=navs.pop(),
    )
    require_fresh_share(config, done, len(config.symbols))
    with StagedSite(config.out_dir) as stage, _disk_problems(config.out_dir):
        if progress:
            progress(f"linking the symbols of {len(found)} part(s)")
        link_parts(stage, found)
        assert site.nav is not None
        finished = finish_site(stage, config, done, site, rendered_nav=site.nav, standalone=standalone,
                               progress=progress)
    return BuildResult(
        out_dir=config.out_dir, fresh=finished.fresh, stale=finished.stale, failed=finished.failed,
        files=finished.files, seconds=time.perf_counter() - started, notes=finished.notes,
    )


def sample_symbols(config: Config) -> Config:
    """The config narrowed to the symbols the embedded sample has (BTC, ETH, SOL): the default
    list is long, the sample stays three symbols. A list with none of them is left as it is
    (each symbol then fails with a message that names the sample's symbols)."""
    from sitegen.sources.sample import SAMPLE_SYMBOLS

    kept = tuple(s for s in config.symbols if s in SAMPLE_SYMBOLS)
    if not kept or kept == config.symbols:
        return config
    log.info("the embedded sample has %s; the other %d configured symbols are not built",
             ", ".join(kept), len(config.symbols) - len(kept))
    return replace(config, symbols=kept)


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
                noted = store.last_error(exchange, symbol) or ""
                series = None if noted.startswith(NOT_LISTED) else store.load_series(exchange, symbol)
        except sqlite3.Error as e:  # damage past what quick_check looks at
            raise BuildError(store_problem(self.path, e, "cannot read the store")) from None
        if noted.startswith(NOT_LISTED):
            # The last fetch found no such market there (never listed, or delisted since:
            # rows stored before are not drawn as if they were current).
            raise NotListed(not_listed_note(exchange))
        if series is None:
            raise SourceError(f"{exchange} {symbol}: nothing in the local store")
        return series

    def realised(self, symbol: str) -> Realised:
        from sitegen.store import Store

        with Store(self.path, read_only=True) as store:
            return store.load_realised(symbol)
