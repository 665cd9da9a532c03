"""``liqmap record``: realised liquidations from the exchanges' public websocket streams.

What each source gives (ccxt 4.5.90, read in ``ccxt/pro/*.py`` and ``ccxt/*.py``):

=============  ============================================  =================================
exchange       stream (ccxt.pro)                             limits
=============  ============================================  =================================
binanceusdm    ``!forceOrder@arr`` (all USDⓈ-M markets),      at most ONE liquidation per symbol
               ``watch_liquidations_for_symbols([])``         per 1000 ms (the latest): bursts
                                                              are under-counted; no history
bybit          ``allLiquidation.<symbol>`` per symbol,        one subscription per symbol;
               ``watch_liquidations(symbol)``                 ``S`` is the *position* side
                                                              (Buy = a long was liquidated)
okx            ``liquidation-orders`` channel, instType SWAP  ccxt parses only the first
               ``watch_liquidations_for_symbols(symbols)``    ``details`` entry of a message
hyperliquid    none (ccxt has no public liquidation stream)   -
=============  ============================================  =================================

REST history: ccxt offers none without keys. ``fetchLiquidations`` is False on binanceusdm
and hyperliquid and unset (the base class raises NotSupported) on bybit and okx; Binance's
``forceOrders`` endpoints are the account's own (signed), and ccxt's OKX API map has no
public liquidation-orders endpoint. So realised liquidations come from recording, and a
site only knows the hours that someone recorded.

Every event is written with the source that heard it; every flush also extends the
*span* during which that connection was listening (up to its last frame), so an hour
without events counts as zero only where a source was listening (``sitegen.liquidations``).

Writes go in small transactions (every ``flush_s`` seconds or ``batch`` events): a SIGKILL
loses at most the events since the last flush and leaves the store consistent; SIGTERM and
SIGINT flush and exit cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ccxt
import ccxt.pro as ccxt_pro

from sitegen.errors import SourceError
from sitegen.liquidations import Liquidation, side_of_order
from sitegen.sources.exchanges import PROFILES
from sitegen.store import Store

log = logging.getLogger(__name__)

STREAMS: dict[str, str] = {
    "binanceusdm": "!forceOrder@arr",
    "bybit": "allLiquidation",
    "okx": "liquidation-orders",
}
MAX_PENDING = 100_000  # liquidations kept in memory while the store cannot be written


@dataclass(frozen=True)
class RecordOptions:
    """Knobs for tests and unusual deployments; the defaults are production."""

    api_urls: Mapping[str, str] = field(default_factory=dict)  # exchange -> REST base (mirror)
    ws_urls: Mapping[str, str] = field(default_factory=dict)  # exchange -> ws base (mirror)
    flush_s: float = 5.0  # write at least this often while events arrive
    batch: int = 200  # ... or as soon as this many are waiting
    silence_s: float = 300.0  # no frame for this long: the stream is dead, reconnect
    backoff_s: float = 1.0  # first reconnect delay; doubles each time up to max_backoff_s
    max_backoff_s: float = 60.0
    timeout_ms: int = 20_000
    retention_days: int | None = None  # prune events older than this on each flush
    # What ccxt waits after closing a client, in ms (None: ccxt's own 250 ms, which lets TLS
    # connections finish closing). Plain loopback tests need no wait.
    close_wait_ms: int | None = None


@dataclass
class RecordReport:
    events: int = 0  # new rows written
    frames: int = 0  # liquidations received (before de-duplication)
    malformed: int = 0  # frames dropped as unreadable
    skipped: int = 0  # received but not stored (other symbols, unusable values)
    reconnects: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def source_name(exchange: str) -> str:
    return f"{exchange}:{STREAMS.get(exchange, '?')}"


def _rebase(urls: Any, base: str, scheme: str) -> Any:
    if isinstance(urls, str):
        return re.sub(rf"^{scheme}://[^/]+", base.rstrip("/"), urls)
    if isinstance(urls, dict):
        return {k: _rebase(v, base, scheme) for k, v in urls.items()}
    return urls


def make_ws_client(exchange: str, options: RecordOptions, proxy: str | None = None) -> Any:
    """An async ccxt.pro client for ``exchange`` (REST for the markets, websocket for events)."""
    if exchange not in STREAMS:
        raise SourceError(
            f"{exchange}: no public liquidation stream in ccxt (record from "
            f"{', '.join(STREAMS)})"
        )
    cls = getattr(ccxt_pro, exchange)
    ex = cls({
        "timeout": options.timeout_ms,
        "options": {"defaultType": "swap",
                    "fetchMarkets": {"types": list(PROFILES[exchange].markets_types)}},
    })
    if options.close_wait_ms is not None:
        ex.timeout_on_exit = options.close_wait_ms
    if exchange in options.api_urls:
        ex.urls["api"] = _rebase(ex.urls["api"], options.api_urls[exchange], "https?")
    if exchange in options.ws_urls:
        ex.urls["api"] = _rebase(ex.urls["api"], options.ws_urls[exchange], "wss?")
    if proxy:
        ex.httpsProxy = proxy
        ex.wssProxy = proxy
    return ex


def capture(ex: Any, sink: list[Any], on_bad: Callable[[str], None]) -> None:
    """Make ``ex`` hand every parsed liquidation to ``sink`` and survive bad frames.

    ccxt.pro resolves one waiting future per message and returns only that message's
    liquidations (``newUpdates``): frames that arrive while nobody waits reach its cache but
    not the caller, and a burst loses events. Every stream parses each event through
    ``parse_ws_liquidation``, so we collect them there. A frame that is not JSON raises inside
    ccxt's receive loop and stops it; the guard drops that frame (counted) and keeps reading.
    """
    parse = ex.parse_ws_liquidation

    def parse_and_keep(raw: Any, market: Any = None) -> Any:
        liq = parse(raw, market)
        sink.append(liq)
        return liq

    ex.parse_ws_liquidation = parse_and_keep
    make = ex.client

    def guarded_client(url: str) -> Any:
        c = make(url)
        if not getattr(c, "liqmap_guarded", False):
            handle = c.handle_text_or_binary_message

            def guarded(data: Any) -> None:
                try:
                    handle(data)
                except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
                    on_bad(f"{type(e).__name__}: {str(e)[:80]} in frame {str(data)[:60]!r}")

            c.handle_text_or_binary_message = guarded
            c.liqmap_guarded = True
        return c

    ex.client = guarded_client


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


def normalise(
    exchange: str, raw: Mapping[str, Any], symbols: Mapping[str, str],
    contract_sizes: Mapping[str, float] | None = None,
) -> Liquidation | None:
    """A ccxt liquidation structure as a :class:`Liquidation`, or None when it is not one of
    ours (another symbol) or unusable (no price, size or time). ``symbols`` maps the exchange's
    unified symbol to the configured one; ``contract_sizes`` gives each market's contract
    size in base units (ccxt's ``safe_liquidation`` drops it when the parser passes no
    market, as OKX's does: 30.69 ETH-USDT-SWAP contracts are 3.069 ETH, not 30.69)."""
    symbol = symbols.get(str(raw.get("symbol")))
    if symbol is None:
        return None
    raw_info = raw.get("info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    ts = raw.get("timestamp")
    price = _num(raw.get("price"))
    if price is None and exchange == "binanceusdm":
        price = _num(info.get("p"))  # an unfilled order has no average price yet
    base = _num(raw.get("baseValue"))
    if base is None:
        size = _num(raw.get("contractSize")) or (contract_sizes or {}).get(str(raw.get("symbol"))) or 1.0
        contracts = _num(raw.get("contracts"))
        base = None if contracts is None else contracts * size
    if not isinstance(ts, int) or ts <= 0 or price is None or base is None:
        return None
    try:
        if exchange == "okx":
            details = info.get("details") or [{}]
            side = str(details[0].get("posSide", "")).lower()
            if side not in ("long", "short"):
                side = side_of_order(str(raw.get("side", "")))
        elif exchange == "bybit":
            # Bybit's allLiquidation "S" is the position side: Buy = a long was liquidated.
            side = {"buy": "long", "sell": "short"}[str(raw.get("side", "")).lower()]
        else:
            side = side_of_order(str(raw.get("side", "")))
    except (KeyError, ValueError):
        return None
    return Liquidation(exchange, symbol, ts, side, price, base, price * base, source_name(exchange))


class Recorder:
    """Records the configured streams into a store until stopped (or for a fixed time)."""

    def __init__(
        self,
        store: Store,
        exchanges: Sequence[str],
        symbols: Sequence[str],
        options: RecordOptions | None = None,
        *,
        proxy: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.exchanges = tuple(exchanges)
        self.symbols = tuple(symbols)
        self.options = options or RecordOptions()
        self.proxy = proxy
        self.clock = clock
        self.report = RecordReport()
        self.stop = asyncio.Event()
        self._pending: list[Liquidation] = []
        # per exchange: [span start ms, last frame ms] of the current connection
        self._spans: dict[str, list[int]] = {}
        self._flushed_spans: dict[str, tuple[int, int]] = {}
        self._last_flush = time.monotonic()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- writing ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what is waiting, and extend each listening span, in one transaction per
        exchange (small, so a kill loses little)."""
        pending, self._pending = self._pending, []
        try:
            self._write(pending)
        except sqlite3.Error as e:
            # Keep what was not written for the next flush (a locked or full disk may pass);
            # bounded, so a store that stays broken cannot eat the memory.
            self._pending = (pending + self._pending)[-MAX_PENDING:]
            msg = f"store write failed ({e}); {len(self._pending)} liquidations wait for the next flush"
            log.warning("%s", msg)
            self.report.errors.append(msg)
        self._last_flush = time.monotonic()

    def _write(self, pending: list[Liquidation]) -> None:
        keep_ms = None
        if self.options.retention_days:
            keep_ms = self._now_ms() - self.options.retention_days * 86_400_000
        by_ex: dict[str, list[Liquidation]] = {}
        for e in pending:
            by_ex.setdefault(e.exchange, []).append(e)
        for exchange in set(by_ex) | set(self._spans):
            span = self._spans.get(exchange)
            span_row = None
            if span is not None and self._flushed_spans.get(exchange) != tuple(span):
                span_row = (exchange, source_name(exchange), span[0], span[1])
            events = by_ex.get(exchange, [])
            if not events and span_row is None:
                continue
            self.report.events += self.store.write_liquidations(
                events, span=span_row, prune_before_ms=keep_ms
            )
            if span is not None:
                self._flushed_spans[exchange] = tuple(span)  # type: ignore[assignment]

    def _bad_frame(self, exchange: str) -> Callable[[str], None]:
        def note(message: str) -> None:
            self.report.malformed += 1
            log.warning("%s: dropped a malformed frame (%s)", exchange, message)

        return note

    def _take(
        self, exchange: str, items: Sequence[Mapping[str, Any]], symbols: Mapping[str, str],
        contract_sizes: Mapping[str, float] | None = None,
    ) -> None:
        now = self._now_ms()
        span = self._spans.setdefault(exchange, [now, now])
        span[1] = max(span[1], now)
        for raw in items:
            self.report.frames += 1
            ev = normalise(exchange, raw, symbols, contract_sizes) if isinstance(raw, Mapping) else None
            if ev is None:
                self.report.skipped += 1
                continue
            self._pending.append(ev)
        if len(self._pending) >= self.options.batch or (
            time.monotonic() - self._last_flush >= self.options.flush_s
        ):
            self.flush()

    # -- one exchange ----------------------------------------------------------------------

    async def _watch(self, client: Any, exchange: str, markets: Sequence[str]) -> list[Any]:
        if exchange == "binanceusdm":
            # The all-market stream: one connection for every symbol (filtered on arrival).
            return await client.watch_liquidations_for_symbols([])
        if exchange == "okx":
            return await client.watch_liquidations_for_symbols(list(markets))
        # bybit: one stream per symbol; wait for whichever speaks first.
        tasks = [asyncio.ensure_future(client.watch_liquidations(m)) for m in markets]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
        out: list[Any] = []
        for t in done:
            out.extend(t.result())
        return out

    async def _connect(self, exchange: str) -> tuple[Any, dict[str, str], list[Any]]:
        client = make_ws_client(exchange, self.options, self.proxy)
        sink: list[Any] = []
        capture(client, sink, self._bad_frame(exchange))
        try:
            await client.load_markets()
        except BaseException:
            await client.close()
            raise
        symbols: dict[str, str] = {}
        for s in self.symbols:
            if s in client.markets:
                symbols[s] = s
            else:
                # Hyperliquid-style settle aliases are not needed here: the streams list
                # USDT linear swaps under the configured names on all three exchanges.
                log.warning("%s: %s is not listed; not recorded", exchange, s)
        if not symbols:
            await client.close()
            raise SourceError(f"{exchange}: none of the configured symbols is listed")
        return client, symbols, sink

    async def _next(self, watch: Any) -> bool:
        """Wait for the next frame(s); False when stopped first, TimeoutError when silent."""
        task = asyncio.ensure_future(watch)
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            done, _ = await asyncio.wait(
                {task, stopper}, timeout=self.options.silence_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
        if task in done:
            task.result()  # raises what the stream raised
            return True
        if stopper in done:
            return False
        raise TimeoutError

    async def record_exchange(self, exchange: str) -> None:
        """Listen to ``exchange`` until stopped; reconnect with exponential backoff."""
        backoff = self.options.backoff_s
        attempt = 0
        while not self.stop.is_set():
            client = None
            sink: list[Any] = []
            symbols: dict[str, str] = {}
            sizes: dict[str, float] = {}
            try:
                client, symbols, sink = await self._connect(exchange)
                sizes = {
                    s: float(client.markets[s].get("contractSize") or 1.0) for s in symbols
                }
                self._spans.pop(exchange, None)  # a new connection starts a new span
                log.info("%s: listening to %s", exchange, STREAMS[exchange])
                while not self.stop.is_set():
                    # The return value is only a wake-up: the events are in the sink.
                    if not await self._next(self._watch(client, exchange, list(symbols))):
                        break  # stopped
                    backoff = self.options.backoff_s
                    items, sink[:] = list(sink), []
                    self._take(exchange, items, symbols, sizes)
            except TimeoutError:
                msg = f"{exchange}: no frame for {self.options.silence_s:g} s; reconnecting"
                log.warning("%s", msg)
                self.report.errors.append(msg)
            except (ccxt.NetworkError, ccxt.ExchangeError, SourceError, OSError) as e:
                msg = f"{exchange}: {type(e).__name__}: {str(e)[:200]}"
                log.warning("%s (reconnecting in %.1f s)", msg, backoff)
                self.report.errors.append(msg)
            finally:
                if client is not None and sink:
                    items, sink[:] = list(sink), []
                    self._take(exchange, items, symbols, sizes)
                self.flush()  # what this connection heard, before its span closes
                self._spans.pop(exchange, None)
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.close()
            if self.stop.is_set():
                break
            attempt += 1
            self.report.reconnects[exchange] = attempt
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), backoff)
            backoff = min(backoff * 2, self.options.max_backoff_s)

    async def _ticker(self) -> None:
        """Flush on time even when frames stop (so a quiet minute is still written)."""
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.options.flush_s)
            if self._pending:
                self.flush()

    async def run(self, duration_s: float | None = None) -> RecordReport:
        started = time.monotonic()
        tasks = [asyncio.ensure_future(self.record_exchange(e)) for e in self.exchanges]
        tasks.append(asyncio.ensure_future(self._ticker()))
        try:
            if duration_s is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), duration_s)
            else:
                await self.stop.wait()
        finally:
            self.stop.set()
            done, pending = await asyncio.wait(tasks, timeout=10)
            for t in pending:
                t.cancel()
            for t in done:
                if not t.cancelled() and t.exception() is not None:
                    self.report.errors.append(f"{type(t.exception()).__name__}: {t.exception()}")
            self.flush()
            self.report.seconds = time.monotonic() - started
        return self.report


def record(
    store_path: Path,
    exchanges: Sequence[str],
    symbols: Sequence[str],
    *,
    duration_s: float | None = None,
    options: RecordOptions | None = None,
    proxy: str | None = None,
) -> RecordReport:
    """Run the recorder in this process until SIGTERM/SIGINT (or ``duration_s``), then flush."""
    unknown = [e for e in exchanges if e not in STREAMS]
    if unknown:
        raise SourceError(
            f"{', '.join(unknown)}: no public liquidation stream in ccxt; record from "
            f"{', '.join(STREAMS)} (use --exchanges)"
        )

    async def main() -> RecordReport:
        with Store(store_path) as store:
            rec = Recorder(store, exchanges, symbols, options, proxy=proxy)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, rec.stop.set)
            return await rec.run(duration_s)

    return asyncio.run(main())
