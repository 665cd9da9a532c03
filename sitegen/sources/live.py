"""Live market data from the exchanges with async ccxt, written incrementally into the store.

``fetch_all(config, store)`` runs one ccxt client per exchange, all exchanges at once, and
the symbols of one exchange concurrently within that exchange's rate limit. For each
(exchange, symbol) it fetches 5m and 1h candles, open interest (history at 1h, or a snapshot
where the exchange has no history: Hyperliquid), funding history and public leverage tiers,
from the last stored row (with a small overlap) up to now, and writes them in ONE store
transaction. One failing exchange or symbol never stops the others; the report says what
happened to each.

Pagination is explicit (ccxt's own ``paginate`` stops silently after 10 calls): a series
is walked in windows ``[cursor, cursor + limit * step)`` that each hold at most ``limit``
rows, so every exchange answers the same way whether it anchors a page at its start or its
end; the cursor moves to just after the last row received (a truncated page is asked for
again from there) or to the end of an empty window (a gap or a time before listing).

Talking to the exchanges (clients, rate limits, retries, error translation, the symbol
resolution rule) lives in :mod:`sitegen.sources.exchanges`. Rows are stored, and the
aggregate keyed, under the configured symbol; the store remembers the exchange's own name
(Hyperliquid's ``BTC/USDC:USDC`` for ``BTC/USDT:USDT``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import math
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitegen.config import Config, keep_days
from sitegen.errors import SourceError, not_listed_note
from sitegen.masking import mask_url, watch_env
from sitegen.series import TIMEFRAME_MS, LeverageTier
from sitegen.sources.exchanges import (
    DNS_HINT,
    ExchangeSession,
    FetchOptions,
    GeoBlocked,
    UnknownSymbol,
    describe_error,
    make_client,
    resolve_symbol,
)
from sitegen.sources.validate import (
    CandleRow,
    clean_candles,
    clean_points,
    find_gaps,
    tiers_binance_form,
)
from sitegen.store import STORE_FILE, Store, store_problem
from sitegen.times import utc_text_ms

__all__ = [
    "DEFAULT_OPTIONS", "ExchangeResult", "FetchOptions", "FetchReport", "SymbolResult",
    "clock_ms", "fetch_all", "fetch_all_async", "fetch_into_state",
]

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
TIMEFRAMES = ("5m", "1h")
OI_TIMEFRAME = "1h"
# With FetchOptions.reuse: funding history is asked again only when the newest stored rate
# is this old (no page draws funding; every exchange here settles at most every 8 h, except
# Hyperliquid, hourly, whose rates then come eight at a time), and leverage tiers once a day.
FUNDING_REFRESH_MS = 8 * HOUR_MS
TIERS_REFRESH_MS = DAY_MS
# Candle bars still missing after asking again, as a share of the bars asked for, above which
# the (exchange, symbol) counts as failed this run rather than "ok with a few gaps".
GAP_FAIL_SHARE = 0.02


@dataclass(frozen=True)
class SymbolResult:
    exchange: str
    symbol: str  # as configured
    market_symbol: str | None  # as listed on the exchange
    ok: bool
    message: str
    rows: Mapping[str, int] = field(default_factory=dict)  # rows written per kind
    # False when the exchange does not list the symbol: skipped there with a note, not failed.
    listed: bool = True


@dataclass(frozen=True)
class ExchangeResult:
    exchange: str
    ok: bool
    blocked: bool  # geo-blocked (HTTP 451 / 403 from the region)
    message: str
    requests: int


@dataclass(frozen=True)
class FetchReport:
    symbols: tuple[SymbolResult, ...]
    exchanges: tuple[ExchangeResult, ...]
    seconds: float

    @property
    def ok(self) -> tuple[SymbolResult, ...]:
        return tuple(s for s in self.symbols if s.ok)

    @property
    def failed(self) -> tuple[SymbolResult, ...]:
        """Pairs that failed this run; a symbol an exchange does not list is not one of them."""
        return tuple(s for s in self.symbols if not s.ok and s.listed)

    @property
    def unlisted(self) -> tuple[SymbolResult, ...]:
        """Pairs skipped because the exchange does not list the symbol."""
        return tuple(s for s in self.symbols if not s.listed)

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.exchanges)

    @property
    def messages(self) -> tuple[str, ...]:
        """One line per blocked/failed exchange and per failed symbol (not those skipped
        because their exchange was down)."""
        out = [f"{e.exchange}: {e.message}" for e in self.exchanges if not e.ok]
        # a symbol skipped because its whole exchange was down is said once, above
        out += [
            f"{s.exchange} {s.symbol}: {s.message}" if s.listed else f"{s.symbol}: {s.message}"
            for s in self.symbols
            if not s.ok and not s.message.startswith("skipped: ")
        ]
        return tuple(out)

    def status(self, exchange: str, symbol: str) -> SymbolResult | None:
        for s in self.symbols:
            if s.exchange == exchange and s.symbol == symbol:
                return s
        return None

# -- pagination ---------------------------------------------------------------------------

Page = Callable[[int, int, int], Awaitable[list[Any]]]  # (since, until, limit) -> rows


async def _walk(
    page: Page, ts_of: Callable[[Any], int], since: int, until: int, step_ms: int, limit: int,
    *, advance_ms: int | None = None, short_page_ends: bool = False,
) -> tuple[list[Any], SourceError | None]:
    """Every row in ``[since, until]``, page by page; returns (rows so far, error or None).

    ``step_ms`` is the smallest spacing of rows (a window of ``limit`` steps never holds more
    than a page); after a non-empty page the cursor moves to the last row + ``advance_ms``
    (default: one step, the next grid point), after an empty one to the window's end.
    With ``short_page_ends`` a page with fewer than ``limit`` rows in a window that reaches
    ``until`` ends the walk (for series off a grid; the caller checks for holes).
    """
    advance = step_ms if advance_ms is None else advance_ms
    rows: list[Any] = []
    cursor = since
    # A bound on the walk: each call moves the cursor by >= one advance, usually a window.
    max_calls = 2 * math.ceil((until - since + 1) / (step_ms * max(limit, 1))) + 2 * limit + 8
    calls = 0
    while cursor <= until:
        window_end = min(cursor + limit * step_ms - 1, until)
        calls += 1
        if calls > max_calls:
            return rows, SourceError(f"pagination did not finish after {max_calls} pages")
        try:
            got = await page(cursor, window_end, limit)
        except SourceError as e:
            return rows, e
        inside = [r for r in got if cursor <= ts_of(r) <= window_end]
        if inside:
            # A short page is a gap or a truncated answer: going on from just after its
            # last row settles both (the next window then starts there).
            rows.extend(inside)
            cursor = max(ts_of(r) for r in inside) + advance
            if short_page_ends and window_end >= until and len(got) < limit:
                break
        else:
            cursor = window_end + 1
    return rows, None


async def _refetch(
    page: Page, ts_of: Callable[[Any], int], holes: list[tuple[int, int]], step_ms: int, limit: int,
    **walk: Any,
) -> list[Any]:
    """The one gap-refetch routine: ask again for each hole ``(from, to)``, page by page
    (:func:`_walk`), until the first error; returns the rows that came."""
    extra: list[Any] = []
    for a, b in holes:
        more, err = await _walk(page, ts_of, a, b, step_ms, limit, **walk)
        extra.extend(more)
        if err is not None:
            break
    return extra


def _funding_holes(ts: list[int], since: int, now: int) -> list[tuple[int, int]]:
    """Ranges ``(from, to)`` in ``[since, now]`` where funding times are more than 1.5
    intervals apart (the interval: the median spacing, 8 h when there are too few to tell),
    at both ends too."""
    pairs = list(itertools.pairwise(ts))
    spacing = sorted(b - a for a, b in pairs)[(len(pairs) - 1) // 2] if len(pairs) >= 2 else 8 * HOUR_MS
    if spacing <= 0:
        return []
    edges = [since - 1, *ts, now + 1]
    return [(a + 1, b - 1) for a, b in itertools.pairwise(edges) if b - a > 1.5 * spacing]


def _floor(ts: int, step: int) -> int:
    return ts - ts % step


def _ceil(ts: int, step: int) -> int:
    return ts + (-ts) % step


# -- one symbol ---------------------------------------------------------------------------


@dataclass
class _Fetched:
    candles: dict[str, list[CandleRow]] = field(default_factory=dict)
    oi: list[tuple[int, float | None, float]] = field(default_factory=list)
    funding: list[tuple[int, float]] = field(default_factory=list)
    tiers: list[LeverageTier] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    gap_notes: list[str] = field(default_factory=list)  # a few bars missing: reported, still ok


class _SymbolJob:
    def __init__(
        self, ex: ExchangeSession, store: Store, config: Config, symbol: str, market: str, now: int
    ) -> None:
        self.ex = ex
        self.store = store
        self.config = config
        self.symbol = symbol
        self.market = market
        self.now = now
        # The oldest bar kept per timeframe: what the pages read, capped by retention_days.
        # Open interest and funding follow the 1h bars (both models read hourly open interest).
        self.starts = {tf: now - int(keep_days(tf, config.retention_days) * DAY_MS) for tf in TIMEFRAMES}
        self.start = self.starts[OI_TIMEFRAME]
        self.where = f"{ex.id} {symbol}"
        # Candle bars still missing after the gap refetch: (missing, expected, message).
        self.gaps: list[tuple[int, int, str]] = []
        # Series new to the store: (kind, timeframe) -> where this run's first walk began;
        # recorded as the series' coverage when that walk finished (the backfill goes on
        # from there, older, in this and later runs).
        self.heads: dict[tuple[str, str], int] = {}
        self.head_ok: set[tuple[str, str]] = set()
        self.tiers_asked = False  # the exchange answered a tiers request this run

    def _since(self, kind: str, step: int, timeframe: str | None, head_rows: int = 0) -> int:
        """Where this run's walk of a series starts: just before its newest stored row, or,
        for a series new to the store, ``head_rows`` steps before now (one page: the recent
        bars first, older ones by the backfill) but never before the retention start."""
        tf = timeframe or ""
        start = self.starts.get(tf, self.start)
        first = _floor(start, step) + (step if start % step else 0)
        last = self.store.last_ts(self.ex.id, self.symbol, kind, timeframe)
        if last is None:
            since = max(first, _floor(self.now, step) - head_rows * step) if head_rows else first
            self.heads[(kind, tf)] = since
            return since
        return max(last - self.ex.options.overlap_bars * step, _floor(start, step))

    def _limit(self, default: int) -> int:
        return self.ex.options.page_limits.get(self.ex.id, default)

    async def candles(self, tf: str) -> tuple[list[CandleRow], str | None]:
        step = TIMEFRAME_MS[tf]
        client = self.ex.client
        ad = self.ex.adapter
        clock = client.milliseconds()
        recent = self._limit(ad.candle_page_rows(clock - step, clock, step, self.ex.profile.ohlcv_limit))
        since = self._since("candles", step, tf, head_rows=recent)
        limit = self._limit(ad.candle_page_rows(since, client.milliseconds(), step, self.ex.profile.ohlcv_limit))
        page = self._candle_page(tf)
        until = self.now - 1
        raw, err = await _walk(page, lambda r: int(r[0]), since, until, step, limit)
        rows, notes = clean_candles(raw, step, closed_before_ms=self.now)
        # Ask again for the holes, at the edges too: a bar dropped from one answer (or
        # rejected above) is usually there the next time.
        first, last = since + (-since) % step, _floor(self.now, step) - step
        edges = [first - step, *(r[0] for r in rows), last + step]
        gaps = find_gaps(edges, step) if first <= last else []
        if rows and gaps and gaps[0][0] == first and gaps[0][1] - first >= limit * step:
            # More than a page before the first bar: the market's history starts there.
            log.info("%s %s candles: history starts at %s", self.where, tf, utc_text_ms(rows[0][0]))
            first = rows[0][0]
            gaps = gaps[1:]
        if gaps and err is None:
            extra = await _refetch(page, lambda r: int(r[0]), gaps[: self.ex.options.gap_refetches], step, limit)
            if extra:
                rows, more_notes = clean_candles([*rows, *extra], step, closed_before_ms=self.now)
                notes += [n for n in more_notes if not n.startswith(("merged", "bars arrived"))]
            left = find_gaps([first - step, *(r[0] for r in rows), last + step], step)
            if left and rows and left[0][0] == first and ("candles", tf) in self.heads:
                # nothing before the first bar in the first page of a new series, even when
                # asked again: the market's history starts there
                left = left[1:]
            if left:
                missing = sum((b - a) // step + 1 for a, b in left)
                note = (
                    f"{tf} candles: {missing} of {(last - first) // step + 1} bar(s) missing in {len(left)} "
                    f"gap(s) after asking again, first at {utc_text_ms(left[0][0])} (the exchange's "
                    "answers were short, or it has no bars there; left as gaps)"
                )
                notes.append(note.split(": ", 1)[1])
                self.gaps.append((missing, (last - first) // step + 1, note))
            elif gaps:
                notes.append(f"repaired {len(gaps)} gap(s) by asking again")
        for n in notes:
            log.warning("%s %s candles: %s", self.where, tf, n)
        if err is None:
            self.head_ok.add(("candles", tf))
        return rows, (f"{tf} candles: {err}" if err else None)

    def _candle_page(self, tf: str) -> Page:
        client = self.ex.client
        ad = self.ex.adapter

        async def page(since: int, until: int, lim: int) -> list[Any]:
            if ad.candle_page is not None:
                return await ad.candle_page(self.ex, client, self.market, f"{self.symbol} {tf} candles",
                                            tf, since, until, lim)
            return await self.ex.call(
                f"{self.symbol} {tf} candles", client.fetch_ohlcv, self.market, tf, since, lim,
                {"until": until},
            )

        return page

    def _funding_page(self) -> Page:
        client = self.ex.client

        async def page(since: int, until: int, lim: int) -> list[Any]:
            params = self.ex.adapter.funding_params(until)
            return await self.ex.call(
                f"{self.symbol} funding", client.fetch_funding_rate_history, self.market, since,
                lim, params,
            )

        return page

    def _oi_page(self) -> Page:
        client = self.ex.client

        async def page(since: int, until: int, lim: int) -> list[Any]:
            return await self.ex.call(
                f"{self.symbol} open interest", client.fetch_open_interest_history, self.market,
                OI_TIMEFRAME, since, lim, {"until": until},
            )

        return page

    async def funding(self) -> tuple[list[tuple[int, float]], str | None]:
        limit = self._limit(self.ex.profile.funding_limit)
        page = self._funding_page()
        last = self.store.last_ts(self.ex.id, self.symbol, "funding")
        if self.ex.options.reuse and last is not None and last > self.now - FUNDING_REFRESH_MS:
            self.head_ok.add(("funding", ""))
            return [], None
        if last is None:
            since = max(self.start, self.now - limit * HOUR_MS)
            self.heads[("funding", "")] = since
        else:
            since = max(last - 8 * HOUR_MS, self.start)
        # Window width assumes the shortest funding interval (1h) so a window never holds
        # more than a page.
        ts_of: Callable[[Any], int] = lambda r: int(r["timestamp"] or 0)  # noqa: E731
        raw, err = await _walk(
            page, ts_of, since, self.now, HOUR_MS, limit,
            advance_ms=1,  # funding times are not on a grid (Hyperliquid's carry milliseconds)
            short_page_ends=True,
        )
        points, notes = clean_points(
            ((r.get("timestamp"), r.get("fundingRate")) for r in raw), allow_negative=True,
            what="funding",
        )
        # Funding comes at a regular interval: a hole much wider than it (a truncated page,
        # whichever end the exchange cut) is asked for again.
        holes = _funding_holes([t for t, _ in points], since, self.now) if err is None else []
        if holes:
            extra = await _refetch(page, ts_of, holes[: self.ex.options.gap_refetches], HOUR_MS, limit,
                                   advance_ms=1, short_page_ends=True)
            both = [*((t, r) for t, r in points), *((r.get("timestamp"), r.get("fundingRate")) for r in extra)]
            points, _ = clean_points(both, allow_negative=True, what="funding")
            left = _funding_holes([t for t, _ in points], since, self.now)
            notes.append(
                f"{len(left)} hole(s) in the funding history left as they are"
                if left else f"filled {len(holes)} hole(s) by asking again"
            )
        for n in notes:
            log.warning("%s funding: %s", self.where, n)
        if err is None:
            self.head_ok.add(("funding", ""))
        return points, (f"funding: {err}" if err else None)

    async def oi_history(
        self, closes: Mapping[int, float]
    ) -> tuple[list[tuple[int, float | None, float]], str | None]:
        step = TIMEFRAME_MS[OI_TIMEFRAME]
        limit = self._limit(self.ex.profile.oi_limit)
        page = self._oi_page()
        # Exchanges stamp a reading with the time it was taken; a reading at T closes the bar
        # that opened at T - step, and is stored there (see _oi_rows). So readings are asked
        # for from one step after the bars wanted, up to now.
        since = self._since("open_interest", step, OI_TIMEFRAME, head_rows=limit) + step
        if self.ex.profile.oi_history_days:
            oldest = _floor(self.now - int(self.ex.profile.oi_history_days * DAY_MS), step) + step
            since = max(since, oldest)
            if ("open_interest", OI_TIMEFRAME) in self.heads:
                self.heads[("open_interest", OI_TIMEFRAME)] = since - step
        raw, err = await _walk(page, lambda r: int(r["timestamp"] or 0), since, self.now, step, limit)
        rows = self._oi_rows(raw, closes)
        if err is None:
            self.head_ok.add(("open_interest", OI_TIMEFRAME))
        return rows, (f"open interest: {err}" if err else None)

    def _oi_rows(
        self, raw: list[dict[str, Any]], closes: Mapping[int, float]
    ) -> list[tuple[int, float | None, float]]:
        """Open interest in USD at the price of its own bar, stored at that bar's open time.

        A reading taken at ``T`` is the open interest at the close of the bar that opened at
        ``T - step``: it is stored at ``T - step`` (the convention of the embedded sample:
        the row of bar ``t`` holds the open interest at its end) and valued at that bar's
        close, the price at ``T`` (base amount x close).
        """
        step = TIMEFRAME_MS[OI_TIMEFRAME]
        out: dict[int, tuple[int, float | None, float]] = {}
        dropped = 0
        for r in raw:
            taken = r.get("timestamp")
            ts = int(taken) - step if isinstance(taken, int | float) else None
            amount = r.get(self.ex.adapter.oi_amount_key)
            value = r.get("openInterestValue")
            price = closes.get(ts) if ts is not None else None
            if isinstance(amount, int | float) and math.isfinite(amount) and amount >= 0 and price:
                usd = float(amount) * price
            elif isinstance(value, int | float) and math.isfinite(value) and value >= 0:
                usd = float(value)  # no bar to price it: the exchange's own USD figure
            else:
                dropped += 1
                continue
            if ts is None or ts % step:
                dropped += 1
                continue
            amt = float(amount) if isinstance(amount, int | float) and math.isfinite(amount) else None
            out[ts] = (ts, amt, usd)
        if dropped:
            log.warning("%s open interest: dropped %d unusable value(s)", self.where, dropped)
        return [out[t] for t in sorted(out)]

    def hours_from_5m(self, rows_5m: list[CandleRow]) -> list[CandleRow] | None:
        """The 1h bars this run would ask for, built from 5m bars (fetched now or stored):
        open of the first, highest high, lowest low, close of the last, volumes summed. None
        when any of those hours lacks one of its twelve 5m bars."""
        hour, five = TIMEFRAME_MS["1h"], TIMEFRAME_MS["5m"]
        # only hours not stored yet: the stored ones came from the exchange (or from here)
        # and stay as they are, so a second run changes nothing
        newest = self.store.last_ts(self.ex.id, self.symbol, "candles", "1h")
        since = self._since("candles", hour, "1h") if newest is None else newest + hour
        last = _floor(self.now, hour) - hour
        if since > last:
            return []
        bars = {r[0]: r for r in self.store.candle_rows(self.ex.id, self.symbol, "5m") if r[0] >= since}
        bars.update((r[0], r) for r in rows_5m)
        out: list[CandleRow] = []
        for h in range(since, last + 1, hour):
            parts = [bars.get(h + i * five) for i in range(hour // five)]
            if any(p is None for p in parts):
                return None
            ps = [p for p in parts if p is not None]
            taker = [p[6] for p in ps if p[6] is not None]
            out.append((h, ps[0][1], max(p[2] for p in ps), min(p[3] for p in ps), ps[-1][4],
                        math.fsum(p[5] for p in ps), math.fsum(taker) if len(taker) == len(ps) else None))
        return out

    # -- backfill: older history, newest first, one page per series and round ----------------

    def prune_points(self) -> dict[tuple[str, str], int]:
        """{(kind, timeframe): time before which rows are deleted} (retention per timeframe)."""
        out = {("candles", tf): self.starts[tf] for tf in TIMEFRAMES}
        out[("open_interest", OI_TIMEFRAME)] = self.start
        out[("funding", "")] = self.start
        return out

    def targets(self) -> dict[tuple[str, str], int]:
        """{(kind, timeframe): the oldest time the backfill fills the series back to}."""
        out = {("candles", tf): _ceil(self.starts[tf], TIMEFRAME_MS[tf]) for tf in TIMEFRAMES}
        if self.ex.profile.oi == "history":
            oi = _ceil(self.start, HOUR_MS)
            if self.ex.profile.oi_history_days:  # the endpoint answers only so far back
                oi = max(oi, _floor(self.now - int(self.ex.profile.oi_history_days * DAY_MS), HOUR_MS))
            out[("open_interest", OI_TIMEFRAME)] = oi
        out[("funding", "")] = self.start
        return out

    def frontier(self, kind: str, tf: str) -> int | None:
        """Where the series is complete from (its coverage; a store filled before coverage
        was recorded: its oldest row), or None before its first successful walk."""
        done = self.store.filled_from(self.ex.id, self.symbol, kind, tf)
        if done is not None:
            return done
        if (kind, tf) in self.heads and (kind, tf) not in self.head_ok:
            return None
        return self.store.first_ts(self.ex.id, self.symbol, kind, tf or None)

    def pending(self) -> dict[tuple[str, str], tuple[int, int]]:
        """{(kind, timeframe): (frontier, target)} of the series not filled back to target."""
        out = {}
        for key, target in self.targets().items():
            front = self.frontier(*key)
            if front is not None and front > target:
                out[key] = (front, target)
        return out

    async def backfill_chunk(self, kind: str, tf: str, frontier: int, target: int) -> tuple[list[Any], int | None]:
        """One page of the series older than ``frontier`` (never older than ``target``):
        (rows, new frontier), or (rows, None) when the page failed (asked again next round
        or run). The rows are ready for :meth:`Store.write`."""
        what = f"{self.where} {tf + ' ' if tf else ''}{kind.replace('_', ' ')} (backfill)"
        rows: list[Any]
        if kind == "candles":
            step = TIMEFRAME_MS[tf]
            ad = self.ex.adapter
            # ccxt picks the endpoint (and so the page size: OKX) by the client's clock
            clock = self.ex.client.milliseconds()

            def rows_at(t: int) -> int:
                return self._limit(ad.candle_page_rows(t, clock, step, self.ex.profile.ohlcv_limit))

            limit = rows_at(frontier - step)
            ws = max(target, frontier - limit * step)
            if rows_at(ws) < limit:  # the window's start is served by the smaller pages
                limit = rows_at(ws)
                ws = max(target, frontier - limit * step)
            page = self._candle_page(tf)
            raw, err = await _walk(page, lambda r: int(r[0]), ws, frontier - 1, step, limit)
            rows, _ = clean_candles(raw, step, closed_before_ms=self.now)
            holes = find_gaps([ws - step, *(r[0] for r in rows), frontier], step) if rows and err is None else []
            holes = [h for h in holes if h[0] > ws]  # a leading hole may be before the listing
            if holes:
                extra = await _refetch(page, lambda r: int(r[0]), holes[: self.ex.options.gap_refetches], step, limit)
                rows, _ = clean_candles([*rows, *extra], step, closed_before_ms=self.now)
                left = [h for h in find_gaps([ws - step, *(r[0] for r in rows), frontier], step) if h[0] > ws]
                if left:
                    missing = sum((b - a) // step + 1 for a, b in left)
                    log.warning("%s: %d bar(s) missing in %d gap(s) after asking again, first at %s (the "
                                "exchange has no bars there; left as gaps)", what, missing, len(left),
                                utc_text_ms(left[0][0]))
        elif kind == "open_interest":
            step = HOUR_MS
            limit = self._limit(self.ex.profile.oi_limit)
            ws = max(target, frontier - limit * step)
            # readings at T close the bar of T - step (see _oi_rows)
            raw, err = await _walk(self._oi_page(), lambda r: int(r["timestamp"] or 0), ws + step, frontier,
                                   step, limit)
            rows = self._oi_rows(raw, self.closes([], ws, frontier))
        else:
            step = HOUR_MS
            limit = self._limit(self.ex.profile.funding_limit)
            ws = max(target, frontier - limit * step)
            raw, err = await _walk(self._funding_page(), lambda r: int(r["timestamp"] or 0), ws, frontier - 1,
                                   step, limit, advance_ms=1, short_page_ends=True)
            rows, _ = clean_points(((r.get("timestamp"), r.get("fundingRate")) for r in raw),
                                   allow_negative=True, what="funding")
        if err is not None:
            log.warning("%s: %s (asked again later)", what, err)
            return rows, None
        if not rows:
            oldest = self.store.first_ts(self.ex.id, self.symbol, kind, tf or None)
            if oldest is None or oldest - ws >= 2 * limit * step:
                # two pages of nothing before the oldest row: the market's history starts there
                log.info("%s: nothing before %s; history starts there", what, utc_text_ms(oldest or frontier))
                return rows, target
        return rows, ws

    async def tiers(self) -> tuple[list[tuple[float, float, float, float]], str | None]:
        """Public tier brackets ``(min, max, mmr, max_leverage)`` in the exchange's own unit."""
        if self.ex.profile.mmr_from_max_leverage:
            return self.max_leverage_bracket(), None
        if not self.ex.profile.tiers:
            return [], None
        fetched = self.store.tiers_ms(self.ex.id, self.symbol)
        if self.ex.options.reuse and fetched is not None and self.now - TIERS_REFRESH_MS < fetched <= self.now:
            return [], None  # the stored table is less than a day old
        try:
            raw = await self.ex.call(
                f"{self.symbol} leverage tiers", self.ex.client.fetch_market_leverage_tiers,
                self.market,
            )
        except SourceError as e:  # a geo-block too: the exchange is marked, the rest is kept
            return [], f"leverage tiers: {e}"
        self.tiers_asked = True
        brackets = []
        for t in raw or []:
            lo, hi = t.get("minNotional"), t.get("maxNotional")
            mmr, lev = t.get("maintenanceMarginRate"), t.get("maxLeverage")
            if all(isinstance(x, int | float) and math.isfinite(x) for x in (lo, hi, mmr, lev)):
                brackets.append((float(lo), float(hi), float(mmr), float(lev)))
        return brackets, None

    def max_leverage_bracket(self) -> list[tuple[float, float, float, float]]:
        """One open-ended bracket with mmr = 1 / (2 x max leverage) from the market's limits."""
        market = (self.ex.client.markets or {}).get(self.market) or {}
        lev = ((market.get("limits") or {}).get("leverage") or {}).get("max")
        if not isinstance(lev, int | float) or not math.isfinite(lev) or lev < 1:
            log.warning("%s: the market states no maximum leverage; default margin tiers used", self.where)
            return []
        return [(0.0, 1e15, 0.5 / float(lev), float(lev))]

    def tiers_usd(
        self, brackets: list[tuple[float, float, float, float]], rows_1h: list[CandleRow]
    ) -> list[LeverageTier]:
        """Brackets in Binance form; contract-sized ones (OKX) valued at the last 1h close."""
        if not brackets:
            return []
        scale = 1.0
        if self.ex.profile.tiers_in_contracts:
            stored = self.store.candle_rows(self.ex.id, self.symbol, "1h")
            price = rows_1h[-1][4] if rows_1h else (stored[-1][4] if stored else None)
            market = (self.ex.client.markets or {}).get(self.market) or {}
            size = market.get("contractSize") or 1.0
            if not price:
                log.warning("%s leverage tiers: no price to value contracts at; skipped", self.where)
                return []
            scale = float(size) * float(price)
        rows = [(lo * scale, hi * scale, mmr, lev) for lo, hi, mmr, lev in brackets]
        return [LeverageTier(*row) for row in tiers_binance_form(rows)]

    def closes(self, rows: list[CandleRow], lo: int, hi: int) -> dict[int, float]:
        """1h closes by bar time from this fetch, filled in from the store."""
        out = {
            r[0]: r[4]
            for r in self.store.candle_rows(self.ex.id, self.symbol, OI_TIMEFRAME)
            if lo <= r[0] <= hi
        }
        out.update({r[0]: r[4] for r in rows})
        return out


async def _fetch_symbol(
    ex: ExchangeSession, store: Store, config: Config, symbol: str, now: int,
    snapshot: Mapping[str, Any] | None, progress: _Progress, jobs: list[_SymbolJob] | None = None,
) -> SymbolResult:
    where = f"{ex.id} {symbol}"
    try:
        market = resolve_symbol(ex.id, symbol, ex.client.markets or {})
    except UnknownSymbol as e:
        # Not an error: large symbols are missing on some exchanges. Said calmly, remembered in
        # the store (an offline build reads it), and the other exchanges go on.
        log.info("%s", e)
        store.note_error(ex.id, symbol, not_listed_note(ex.id))
        msg = not_listed_note(ex.id) + e.typo_hint  # a mistyped base gets the nearest listed name
        progress.symbol(where, msg)
        return SymbolResult(ex.id, symbol, None, False, msg, listed=False)
    job = _SymbolJob(ex, store, config, symbol, market, now)
    if jobs is not None:
        jobs.append(job)
    got = _Fetched()
    try:
        if ex.adapter.hours_from_5m and ex.options.reuse and store.last_ts(ex.id, symbol, "candles", "1h"):
            # the hourly update from the 5m bars this run fetched (one request, not two); a
            # new series, or an hour not fully covered by 5m bars, asks for 1h bars as usual
            c5, fund, tiers = await asyncio.gather(job.candles("5m"), job.funding(), job.tiers())
            derived = job.hours_from_5m(c5[0])
            c1 = (derived, None) if derived is not None else await job.candles("1h")
        else:
            c5, c1, fund, tiers = await asyncio.gather(
                job.candles("5m"), job.candles("1h"), job.funding(), job.tiers()
            )
        for tf, (rows, err) in zip(TIMEFRAMES, (c5, c1), strict=True):
            got.candles[tf] = rows
            if err:
                got.errors.append(err)
        for missing, expected, note in job.gaps:
            # A few bars an exchange really lacks are normal; a large share missing means its
            # answers are cut short (or it is broken): the symbol is not fresh from it.
            (got.errors if missing > GAP_FAIL_SHARE * expected else got.gap_notes).append(note)
        got.funding, err = fund
        if err:
            got.errors.append(err)
        brackets, err = tiers
        got.tiers = job.tiers_usd(brackets, got.candles["1h"])
        if err:
            got.errors.append(err)
        if ex.profile.oi == "history":
            oi_since = store.last_ts(ex.id, symbol, "open_interest", OI_TIMEFRAME) or job.start
            got.oi, err = await job.oi_history(job.closes(got.candles["1h"], oi_since - DAY_MS, now))
            if err:
                got.errors.append(err)
        elif ex.profile.oi == "snapshot" and snapshot is not None:
            got.oi = _snapshot_row(snapshot.get(market), now)
    except GeoBlocked as e:
        progress.symbol(where, str(e))
        return SymbolResult(ex.id, symbol, market, False, str(e))
    counts = {
        "5m": len(got.candles.get("5m", [])),
        "1h": len(got.candles.get("1h", [])),
        "open_interest": len(got.oi),
        "funding": len(got.funding),
        "tiers": len(got.tiers),
    }
    # The fetch of a pair is ok when nothing failed and the store has candles for it (an
    # update that found no new closed bar is still a success). Whether the symbol is fresh,
    # stale or failed is the build's decision (build.judge_freshness), from the data's age.
    has_candles = counts["5m"] + counts["1h"] > 0 or store.last_ts(ex.id, symbol, "candles") is not None
    ok = not got.errors and has_candles
    # Whatever arrived intact is kept, even when a later page failed: it is correct data,
    # and the next fetch goes on from there.
    try:
        store.write(
            ex.id, symbol,
            market_symbol=market,
            candles={tf: rows for tf, rows in got.candles.items() if rows},
            open_interest={OI_TIMEFRAME: got.oi} if got.oi else None,
            funding=got.funding,
            tiers=got.tiers or None,
            tiers_at_ms=now if job.tiers_asked else None,
            prune=job.prune_points(),
            filled_from={k: v for k, v in job.heads.items() if k in job.head_ok},
            ok_ms=now if ok else None,
        )
    except (sqlite3.Error, OSError) as e:
        msg = store_problem(store.path, e, "could not write to the store")
        log.error("%s: %s", where, msg)
        progress.symbol(where, msg)
        return SymbolResult(ex.id, symbol, market, False, msg, counts)
    if ok:
        msg = "ok (" + ", ".join(f"{k} {v}" for k, v in counts.items() if v) + ")"
        msg += "".join(f"; {n}" for n in got.gap_notes)
    elif got.errors:
        msg = "; ".join(got.errors)
        store.note_error(ex.id, symbol, msg)
    else:
        msg = "the exchange returned no candles for the configured range"
        store.note_error(ex.id, symbol, msg)
    log.debug("%s: %s", where, msg) if ok else log.info("%s: %s", where, msg)  # the report has it
    progress.symbol(where, msg)
    return SymbolResult(ex.id, symbol, market, ok, msg, counts)


def _snapshot_from_markets(client: Any, wanted: list[str]) -> dict[str, Any]:
    """The open-interest snapshot of ``wanted`` markets from the markets this run loaded:
    Hyperliquid answers the markets request with metaAndAssetCtxs, which holds every perp's
    open interest and mark price, so a second identical request would add nothing."""
    markets = client.markets or {}
    listed = [
        markets[m] for m in wanted
        if isinstance(markets.get(m), dict) and (markets[m].get("info") or {}).get("openInterest") is not None
    ]
    if not listed:
        return {}
    return dict(client.parse_open_interests(listed, wanted))


def _snapshot_row(oi: Any, now: int) -> list[tuple[int, float | None, float]]:
    """One open-interest snapshot (Hyperliquid) as the row of the current hour, in USD."""
    if not isinstance(oi, dict):
        return []
    amount = oi.get("openInterestAmount")
    info = oi.get("info") or {}
    try:
        price = float(info.get("markPx"))  # type: ignore[arg-type]  # None raises TypeError
    except (TypeError, ValueError):
        return []
    if not isinstance(amount, int | float) or not math.isfinite(amount) or amount < 0:
        return []
    if not math.isfinite(price) or price <= 0:
        return []
    return [(_floor(now, HOUR_MS), float(amount), float(amount) * price)]


async def _backfill(
    ex: ExchangeSession, store: Store, jobs: list[_SymbolJob], concurrency: int, deadline: float | None,
) -> tuple[int, int]:
    """Older history for every series not yet filled back to its target, newest first: one
    page per series per round, so every symbol gains alike, until all are filled or the
    deadline passes (the next run goes on from the coverage recorded in the store). Each
    page lands with the series' new coverage in ONE transaction: a run stopped at any point
    leaves no hole and nothing twice. Returns (pages written, series still pending)."""
    sem = asyncio.Semaphore(max(1, concurrency))
    failed: set[str] = set()  # symbols whose backfill failed this run: tried again next run
    pages = 0

    def over() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    async def one(job: _SymbolJob) -> None:
        nonlocal pages
        async with sem:
            if over():
                return
            pending = job.pending()
            got: dict[tuple[str, str], tuple[list[Any], int | None]] = {}
            try:
                # candles and funding first, together; then open interest, which is valued
                # at the 1h close of its bar
                for batch in ([k for k in pending if k[0] != "open_interest"],
                              [k for k in pending if k[0] == "open_interest"]):
                    chunks = await asyncio.gather(*(job.backfill_chunk(*k, *pending[k]) for k in batch))
                    got.update(zip(batch, chunks, strict=True))
            except SourceError as e:  # a geo-block: the exchange is marked, its backfill ends
                log.warning("%s backfill: %s", job.where, e)
                failed.add(job.symbol)
            filled = {k: f for k, (_, f) in got.items() if f is not None}
            if len(filled) < len(got):
                failed.add(job.symbol)
            if not filled:
                return
            c: dict[str, Sequence[CandleRow]] = {
                k[1]: rows for k, (rows, f) in got.items() if k[0] == "candles" and f is not None and rows
            }
            o = [r for k, (rows, f) in got.items() if k[0] == "open_interest" and f is not None for r in rows]
            fu = [r for k, (rows, f) in got.items() if k[0] == "funding" and f is not None for r in rows]
            try:
                store.write(ex.id, job.symbol, candles=c or None,
                            open_interest={OI_TIMEFRAME: o} if o else None, funding=fu or None,
                            filled_from=filled)
            except (sqlite3.Error, OSError) as e:
                log.error("%s backfill: %s", job.where, store_problem(store.path, e, "could not write to the store"))
                failed.add(job.symbol)
                return
            pages += len(filled)

    while not over() and not ex.blocked:
        live = [j for j in jobs if j.symbol not in failed and j.pending()]
        if not live:
            break
        await asyncio.gather(*(one(j) for j in live))
    left = sum(len(j.pending()) for j in jobs)
    return pages, left


async def _fetch_exchange(
    exchange: str, config: Config, store: Store, options: FetchOptions, proxy: str | None,
    gate: asyncio.Semaphore | None, now: int, progress: _Progress, deadline: float | None = None,
) -> tuple[ExchangeResult, list[SymbolResult]]:
    client = make_client(exchange, options, proxy)
    ex = ExchangeSession(exchange, client, options, gate)
    try:
        try:
            await ex.call("markets", client.load_markets)
        except SourceError as e:
            blocked = isinstance(e, GeoBlocked)
            msg = str(e) if blocked else f"cannot load markets: {e}"
            # the report's messages carry it to the summary; logged again only with -v
            log.info("%s: %s", exchange, msg)
            progress.exchange_down(exchange, msg, len(config.symbols))
            return (
                ExchangeResult(exchange, False, blocked, msg, ex.requests),
                [SymbolResult(exchange, s, None, False, f"skipped: {msg}") for s in config.symbols],
            )
        snapshot = None
        if ex.profile.oi == "snapshot":
            wanted = []
            for s in config.symbols:
                with contextlib.suppress(UnknownSymbol):
                    wanted.append(resolve_symbol(exchange, s, client.markets or {}))
            try:
                snapshot = _snapshot_from_markets(client, wanted) if options.reuse else None
                if not snapshot:
                    snapshot = await ex.call("open interest", client.fetch_open_interests, wanted)
            except GeoBlocked:
                raise
            except SourceError as e:
                log.warning("%s: open-interest snapshot failed: %s", exchange, e)
        sem = asyncio.Semaphore(max(1, options.symbol_concurrency))

        jobs: list[_SymbolJob] = []

        async def one(symbol: str) -> SymbolResult:
            async with sem:
                return await _fetch_symbol(ex, store, config, symbol, now, snapshot, progress, jobs)

        results = list(await asyncio.gather(*(one(s) for s in config.symbols)))
        # every symbol is up to now: older history with what is left of the time budget
        ok_jobs = [j for j in jobs if any(r.ok and r.symbol == j.symbol for r in results)]
        pages, left = await _backfill(ex, store, ok_jobs, options.symbol_concurrency, deadline)
        if pages or left:
            msg = f"{exchange}: backfill wrote {pages} page(s) of older history"
            msg += f"; {left} series not complete yet, the next run goes on" if left else "; history complete"
            log.info("%s", msg)
            progress.note(msg)
    except GeoBlocked as e:
        results = [SymbolResult(exchange, s, None, False, f"skipped: {e}") for s in config.symbols]
    finally:
        await client.close()
    if ex.blocked:
        log.warning("%s: %s", exchange, ex.blocked)
        return ExchangeResult(exchange, False, True, ex.blocked, ex.requests), [
            r if r.ok else SymbolResult(r.exchange, r.symbol, r.market_symbol, False, f"skipped: {ex.blocked}")
            for r in results
        ]
    n_ok = sum(r.ok for r in results)
    n_unlisted = sum(not r.listed for r in results)
    return (
        ExchangeResult(
            exchange, n_ok > 0, False,
            f"{n_ok}/{len(results)} symbols fetched" + (f" ({n_unlisted} not listed there)" if n_unlisted else ""),
            ex.requests,
        ),
        results,
    )


# What ``fetch_all`` uses when given no options (tests point it at the loopback server).
DEFAULT_OPTIONS = FetchOptions()


def clock_ms(options: FetchOptions | None = None) -> int:
    """Now, in epoch ms, as the fetch sees it (``options.now_ms`` when set, for replayed exchanges)."""
    options = options or DEFAULT_OPTIONS
    return options.now_ms if options.now_ms is not None else int(time.time() * 1000)


async def fetch_all_async(
    config: Config, store: Store, *, progress: Callable[[str], None] | None = None,
    options: FetchOptions | None = None,
) -> FetchReport:
    options = options or DEFAULT_OPTIONS
    started = time.perf_counter()
    now = clock_ms(options)
    watch_env(config.proxy_env)  # its value is masked in every log line and message from now on
    proxy = os.environ.get(config.proxy_env) or None
    if proxy:
        log.info("using the HTTPS proxy %s (from $%s)", mask_url(proxy), config.proxy_env)
    gate = asyncio.Semaphore(options.max_in_flight) if options.max_in_flight else None
    tracker = _Progress(progress, len(config.exchanges) * len(config.symbols))
    # Older history stops this long after the start; the next run resumes it (coverage).
    deadline = time.monotonic() + config.backfill_budget_s if config.backfill_budget_s else None
    outcomes = await asyncio.gather(
        *(
            _fetch_exchange(e, config, store, options, proxy, gate, now, tracker, deadline)
            for e in config.exchanges
        ),
        return_exceptions=True,
    )
    symbols: list[SymbolResult] = []
    exchanges: list[ExchangeResult] = []
    for exchange, outcome in zip(config.exchanges, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome  # KeyboardInterrupt, SystemExit, cancellation
            # A bug must not take the other exchanges down with it: report it, loudly.
            log.error("%s: unexpected error", exchange, exc_info=outcome)
            msg = f"unexpected error: {describe_error(outcome)} (please report it)"
            exchanges.append(ExchangeResult(exchange, False, False, msg, 0))
            symbols.extend(SymbolResult(exchange, s, None, False, f"skipped: {msg}") for s in config.symbols)
            continue
        ex_result, sym_results = outcome
        exchanges.append(ex_result)
        symbols.extend(sym_results)
    return FetchReport(tuple(symbols), tuple(exchanges), time.perf_counter() - started)


class _Progress:
    """Progress lines, ``[done/total] ...``, for the CLI's display (None: silent)."""

    def __init__(self, show: Callable[[str], None] | None, total: int) -> None:
        self.show = show
        self.total = total
        self.done = 0

    def symbol(self, where: str, message: str) -> None:
        self.done += 1
        if self.show:
            self.show(f"[{self.done}/{self.total}] fetch {where}: {message}")

    def note(self, message: str) -> None:
        if self.show:
            self.show(f"[{self.done}/{self.total}] {message}")

    def exchange_down(self, exchange: str, message: str, symbols: int) -> None:
        self.done += symbols
        if self.show:
            short = message.removeprefix("cannot load markets: ").split(" (")[0]
            self.show(f"[{self.done}/{self.total}] fetch {exchange}: {short[:100]} (exchange skipped)")


def fetch_into_state(
    config: Config, *, progress: Callable[[str], None] | None = None,
    options: FetchOptions | None = None,
) -> tuple[FetchReport, Path]:
    """``liqmap fetch``: update the store in ``config.state_dir``; returns (report, store path).

    A store this call created is removed again when nothing at all could be fetched, so
    "nothing was written" leaves nothing behind.
    """
    path = Path(config.state_dir) / STORE_FILE
    made = new_paths(path)
    with Store(path) as store:
        report = fetch_all(config, store, progress=progress, options=options)
        empty = not report.ok and store.count("candles") == 0
    if made and empty:
        remove_new_store(path, made)
    return report, path


def new_paths(path: Path) -> list[Path]:
    """The store file and the folders above it that do not exist yet (deepest last)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    return missing[::-1] if path in missing else []


def remove_new_store(path: Path, made: list[Path]) -> None:
    """Remove a store (and its -wal/-shm files and new folders) that a failed run created."""
    for extra in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        extra.unlink(missing_ok=True)
    for folder in reversed(made[:-1]):
        try:
            folder.rmdir()
        except OSError:
            break  # not empty: something else lives there now
    log.info("%s: removed again, nothing was fetched into it", path)


OFFLINE_HINT = "`liqmap build --sample` builds the site offline from the embedded sample data"


def summary_lines(report: FetchReport) -> list[str]:
    """``report.messages`` for a person: the DNS explanation once at the end, not on every line."""
    lines = [m.replace(f" ({DNS_HINT})", "") for m in report.messages]
    if any(DNS_HINT in m for m in report.messages):
        lines.append(f"{DNS_HINT}; {OFFLINE_HINT}")
    return lines


def down_summary(report: FetchReport) -> str:
    """The exchanges that failed, one short clause each, on one line; a shared explanation
    (the part in parentheses) is said once, not once per exchange."""
    heads: list[str] = []
    whys: dict[str, None] = {}
    for e in report.exchanges:
        if not e.ok:
            head, _, why = e.message.removeprefix("cannot load markets: ").partition(" (")
            heads.append(f"{e.exchange}: {head}")
            if why:
                whys[why.removesuffix(")")] = None
    if not heads:
        return "no exchange returned data"
    return "; ".join(heads) + (f" ({'; '.join(whys)})" if whys else "")


def fetch_all(
    config: Config, store: Store, *, progress: Callable[[str], None] | None = None,
    options: FetchOptions | None = None,
) -> FetchReport:
    """Fetch every configured (exchange, symbol) into ``store``; never raises for one failure.

    Returns a :class:`FetchReport` saying, per exchange and per symbol, what happened.
    """
    def run() -> FetchReport:
        return asyncio.run(fetch_all_async(config, store, progress=progress, options=options))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    # Called from inside a running event loop (a notebook, a browser driver): asyncio.run
    # cannot nest, so the fetch gets its own loop in a thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()
