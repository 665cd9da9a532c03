"""Fetch benchmark: 10 symbols x 3 exchanges against the loopback exchange server.

Every request gets 50 ms of injected latency; the server enforces each exchange's documented
public rate limit and rejects (and counts) any excess. The same fetch runs twice into fresh
stores: one request at a time over all exchanges (sequential), then the production setting
(exchanges in parallel, symbols concurrently within each exchange's limiter). It also
measures the store's size per symbol-month with a month of real bars.

    python benchmarks/bench_fetch.py [--exchanges binanceusdm,bybit,hyperliquid] [--days 2]
    python benchmarks/bench_fetch.py --requests-only [--hours 8]

First it counts requests per symbol in hourly updates through the loopback exchange, asking
for everything every run (before issue 14) and reusing what one answer holds (after), and
turns them into the fetch time for 100 symbols at each exchange's rate limit; beside it, the
first fetch into an empty store before (120 days of 5m and 1h) and after (what the pages read).

The last line printed is a JSON object: {"sequential_s", "concurrent_s", "speedup", ...}.

The default exchanges are Binance USDⓈ-M, Bybit and Hyperliquid, whose limits leave room for
ten symbols at once. OKX allows only 10 funding-history and 10 open-interest-history
requests per 2 s (per endpoint), so ten OKX symbols take at least one extra window (~2.5 s)
however concurrent the client is; ``--exchanges binanceusdm,bybit,okx`` measures that case.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sitegen.config import load_config  # noqa: E402
from sitegen.sources.live import FetchOptions, fetch_all  # noqa: E402
from sitegen.store import Store  # noqa: E402
from tests.fakex.data import load_coin  # noqa: E402
from tests.fakex.harness import FIXTURE_END, start_process, stop_process  # noqa: E402

HOUR = 3_600_000
DAY = 86_400_000


def run(mode: str, exchanges: list[str], symbols: list[str], days: int, latency: float) -> dict:
    # Data shifted so that it ends now: ccxt picks some endpoints by the real clock (OKX).
    now = int(time.time() * 1000) // HOUR * HOUR
    server, url = start_process(ROOT, now, extra=len(symbols) - 3, latency=latency)
    try:
        opts = FetchOptions(
            api_urls={e: url for e in exchanges}, now_ms=now, backoff_s=0.05,
            max_in_flight=1 if mode == "sequential" else None,
            symbol_concurrency=1 if mode == "sequential" else len(symbols),
        )
        config = load_config(None, exchanges=exchanges, symbols=symbols, retention_days=days)
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.sqlite") as store:
            t0 = time.perf_counter()
            report = fetch_all(config, store, options=opts)
            seconds = time.perf_counter() - t0
            rows = store.count("candles")
    finally:
        stats = stop_process(server)
    return {
        "seconds": seconds, "requests": stats["requests"], "rejected": stats["rejected"],
        "max_in_flight": stats["max_in_flight"], "ok": len(report.ok),
        "pairs": len(report.symbols), "candle_rows": rows, "failed": list(report.messages),
    }


# -- requests per symbol, before and after issue 14 (one request for many) ------------------

# Requests that load an exchange's markets: once per run, whatever the symbol count.
MARKET_CALLS = {"binanceusdm": ("exchangeInfo",), "bybit": ("instruments-info",), "okx": ("instruments",),
                "hyperliquid": ("spotMeta", "meta")}


def _kind(exchange: str, path: str, params: dict) -> str:
    """A short name for a request: its path, or Hyperliquid's info type."""
    if exchange == "hyperliquid":
        return str(params.get("type", path))
    return path.rstrip("/").split("/")[-1]


def hourly_requests(hours: int) -> dict:
    """A first fill of 3 symbols x 4 exchanges, then ``hours`` hourly updates twice, on copies
    of that store: asking for everything every run (before) and with reuse (after). Counts,
    per exchange and request kind, the requests per run and the client's rate-limiter cost."""
    import shutil

    from sitegen.sources import live
    from sitegen.sources.exchanges import PROFILES
    from tests.fakex.data import load_universe
    from tests.fakex.server import FakeExchanges

    symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
    exchanges = ["binanceusdm", "bybit", "okx", "hyperliquid"]
    now = int(time.time() * 1000) // HOUR * HOUR
    units: dict[str, float] = {}  # exchange -> ccxt limiter cost units of the current count
    rate_ms: dict[str, float] = {}
    original = live.make_client

    def counting_client(exchange: str, options: FetchOptions, proxy: str | None = None):  # type: ignore[no-untyped-def]
        ex = original(exchange, options, proxy)
        cost = ex.calculate_rate_limiter_cost
        rate_ms[exchange] = PROFILES[exchange].rate_limit_ms  # production pacing (the run is loosened)

        def counted(*a, **kw):  # type: ignore[no-untyped-def]
            c = cost(*a, **kw)
            units[exchange] = units.get(exchange, 0.0) + float(c)
            return c

        ex.calculate_rate_limiter_cost = counted
        return ex

    live.make_client = counting_client  # type: ignore[assignment]
    out: dict = {}
    try:
        universe = load_universe(0, now + hours * HOUR - FIXTURE_END)
        with FakeExchanges(universe, now) as srv, tempfile.TemporaryDirectory() as tmp:
            srv.enforce_limits = False
            config = load_config(None, exchanges=exchanges, symbols=symbols, retention_days=2,
                                 backfill_budget_s=0)

            def opts(at: int, reuse: bool) -> FetchOptions:
                return FetchOptions(api_urls=srv.api_urls(), now_ms=at, backoff_s=0.01, limit_scale=1000.0,
                                    reuse=reuse)

            first = Path(tmp) / "first.sqlite"
            with Store(first) as st:
                fetch_all(config, st, options=opts(now, True))
            for mode, reuse in (("before", False), ("after", True)):
                db = Path(tmp) / f"{mode}.sqlite"
                shutil.copy(first, db)
                start = len(srv.requests)
                units.clear()
                for h in range(1, hours + 1):
                    srv.now_ms = now + h * HOUR
                    with Store(db) as st:
                        fetch_all(config, st, options=opts(now + h * HOUR, reuse))
                kinds: dict[str, dict[str, float]] = {e: {} for e in exchanges}
                for e, path, params in srv.requests[start:]:
                    k = _kind(e, path, params)
                    kinds[e][k] = kinds[e].get(k, 0) + 1 / hours
                out[mode] = {"kinds": kinds, "units": {e: units.get(e, 0.0) / hours for e in exchanges}}
    finally:
        live.make_client = original  # type: ignore[assignment]
    out["symbols"] = len(symbols)
    out["rate_ms"] = rate_ms
    return out


def estimate_100(counts: dict, mode: str, exchange: str, n: int = 100) -> tuple[float, float]:
    """(requests per symbol per run, seconds for ``n`` symbols) from the exchange's limiter:
    ccxt's rolling window (cost units x ms per unit), or OKX's limit per endpoint (the
    endpoints run side by side, so the slowest one decides)."""
    from sitegen.sources.adapters import adapter

    kinds = counts[mode]["kinds"][exchange]
    fixed = {k: v for k, v in kinds.items() if k in MARKET_CALLS[exchange]}
    per_symbol = {k: (v - fixed.get(k, 0)) / counts["symbols"] for k, v in kinds.items()}
    # Hyperliquid's metaAndAssetCtxs answers for every market at once: a fixed cost per run
    shared = {"metaAndAssetCtxs"} if exchange == "hyperliquid" else set()
    fixed.update({k: kinds[k] for k in shared if k in kinds})
    per_symbol = {k: v for k, v in per_symbol.items() if k not in fixed}
    requests = sum(per_symbol.values())
    limits = adapter(exchange).endpoint_limits
    if limits is not None:
        window_s, caps = limits
        cap_of = {path.split("/")[-1]: cap for path, cap in caps.items()}
        seconds = max(
            ((per_symbol.get(k, 0) * n + fixed.get(k, 0)) / cap_of.get(k, min(caps.values())) * window_s
             for k in set(per_symbol) | set(fixed)),
            default=0.0,
        )
    else:
        total = sum(kinds.values())
        unit_per_request = counts[mode]["units"][exchange] / total if total else 0.0
        calls = requests * n + sum(fixed.values())
        seconds = calls * unit_per_request * counts["rate_ms"][exchange] / 1000
    return requests, seconds


def first_fill_pages(exchange: str, days: dict[str, float]) -> dict[str, int]:
    """Requests a first fetch of one symbol makes, per endpoint, for ``days`` of 5m and of 1h
    history (open interest and funding follow 1h), from the adapter's page sizes. OKX serves
    the recent 1439 bars 300 to a page from market/candles, older ones 100 from history-candles."""
    import math

    from sitegen.sources.adapters import adapter

    ad = adapter(exchange)
    p = ad.profile
    out: dict[str, int] = {"candles": 0, "history-candles": 0}
    for tf, minutes in (("5m", 5), ("1h", 60)):
        bars = int(days[tf] * 1440 / minutes)
        recent = min(bars, ad.recent_candles[0]) if ad.recent_candles else 0
        if ad.recent_candles:
            out["candles"] += math.ceil(recent / ad.recent_candles[1])
        out["history-candles"] += math.ceil((bars - recent) / p.ohlcv_limit)
    if p.oi == "history":
        oi_days = min(days["1h"], p.oi_history_days or days["1h"])
        out["open-interest-history"] = math.ceil(oi_days * 24 / p.oi_limit)
    out["funding-rate-history"] = math.ceil(days["1h"] * 24 / p.funding_limit)  # windows of limit x 1 h
    if p.tiers:
        out["position-tiers"] = 1
    return out


def first_fill_seconds(exchange: str, days: dict[str, float], counts: dict, n: int = 100) -> float:
    """Seconds a first fetch of ``n`` symbols takes at the client's rate limit (see estimate_100)."""
    from sitegen.sources.adapters import adapter

    pages = first_fill_pages(exchange, days)
    limits = adapter(exchange).endpoint_limits
    if limits is not None:
        window_s, caps = limits
        cap_of = {path.split("/")[-1]: cap for path, cap in caps.items()}
        return max(v * n / cap_of[k] * window_s for k, v in pages.items() if v)
    kinds = counts["before"]["kinds"][exchange]
    total = sum(kinds.values())
    unit_per_request = counts["before"]["units"][exchange] / total if total else 0.0
    return sum(pages.values()) * n * unit_per_request * counts["rate_ms"][exchange] / 1000


def store_size_per_symbol_month() -> tuple[float, dict[str, int]]:
    """Bytes of a store holding 30 days of one symbol on one exchange (real BTC bars, repeated)."""
    btc = load_coin("BTC")
    start = 1_767_225_600_000  # 2026-01-01
    rows: dict[str, list[tuple]] = {"5m": [], "1h": []}
    for tf, step in (("5m", 300_000), ("1h", HOUR)):
        src = btc.candles[tf]
        n = 30 * DAY // step
        rows[tf] = [
            (start + i * step, *src[i % len(src)][1:6], src[i % len(src)][5] / 2) for i in range(n)
        ]
    oi = [(start + i * HOUR, 80_000.0 + i, 7.5e9 + i) for i in range(30 * 24)]
    funding = [(start + i * 8 * HOUR, 0.0001) for i in range(90)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "size.sqlite"
        with Store(path) as st:
            st.write("binanceusdm", "BTC/USDT:USDT", candles=rows, open_interest={"1h": oi},
                     funding=funding)
        con = sqlite3.connect(path)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("VACUUM")
        con.close()
        size = path.stat().st_size
        counts = {"5m": len(rows["5m"]), "1h": len(rows["1h"]), "oi": len(oi), "funding": len(funding)}
    return size, counts


def requests_report(hours: int) -> dict:
    """Print requests per symbol and estimated fetch times for 100 symbols, before and after."""
    from sitegen.config import keep_days

    counts = hourly_requests(hours)
    print(f"hourly update: requests per symbol and run ({counts['symbols']} symbols x {hours} hourly runs "
          "through the loopback exchange), and the fetch time for 100 symbols at each exchange's rate limit")
    print(f"{'exchange':<12} {'req/symbol before':>18} {'after':>8} {'100 symbols before':>19} {'after':>8}")
    hourly: dict[str, dict[str, float]] = {}
    for e in counts["before"]["kinds"]:
        rb, sb = estimate_100(counts, "before", e)
        ra, sa = estimate_100(counts, "after", e)
        hourly[e] = {"req_per_symbol_before": round(rb, 2), "req_per_symbol_after": round(ra, 2),
                     "s_100_before": round(sb, 1), "s_100_after": round(sa, 1)}
        print(f"{e:<12} {rb:>18.2f} {ra:>8.2f} {sb:>17.0f} s {sa:>6.0f} s")
    before_days = {"5m": 120.0, "1h": 120.0}  # retention_days = 120 for every series
    after_days = {tf: keep_days(tf, 130) for tf in ("5m", "1h")}
    print("first fetch into an empty store, 100 symbols, at each exchange's rate limit (pages from the "
          "adapters' page sizes; after = one run with no backfill budget):")
    print(f"{'exchange':<12} {'before (120 d of 5m and 1h)':>28} {'after (5m 22 d, 1h 122 d)':>27}")
    first: dict[str, dict[str, float]] = {}
    for e in counts["before"]["kinds"]:
        b = first_fill_seconds(e, before_days, counts)
        a = first_fill_seconds(e, after_days, counts)
        first[e] = {"s_100_before": round(b), "s_100_after": round(a)}
        print(f"{e:<12} {b / 60:>24.1f} min {a / 60:>23.1f} min")
    return {"hourly_per_symbol": hourly, "first_fill_100": first, "hours": hours}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exchanges", default="binanceusdm,bybit,hyperliquid")
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--days", type=int, default=2, help="history to fetch (retention_days)")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--hours", type=int, default=8, help="hourly updates counted per mode (funding: every 8 h)")
    ap.add_argument("--requests-only", action="store_true", help="only the requests-per-symbol comparison")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("ccxt").setLevel(logging.ERROR)
    requests = requests_report(args.hours)
    if args.requests_only:
        print(json.dumps(requests))
        return
    exchanges = args.exchanges.split(",")
    base = ["BTC", "ETH", "SOL"] + [f"X{i}" for i in range(1, args.symbols - 2)]
    symbols = [f"{c}/USDT:USDT" for c in base[: args.symbols]]
    seq = run("sequential", exchanges, symbols, args.days, args.latency)
    print(f"sequential: {seq['seconds']:.2f} s, {seq['requests']} requests, "
          f"{seq['ok']}/{seq['pairs']} ok, rejected {seq['rejected']}")
    conc = run("concurrent", exchanges, symbols, args.days, args.latency)
    print(f"concurrent: {conc['seconds']:.2f} s, {conc['requests']} requests, "
          f"{conc['ok']}/{conc['pairs']} ok, rejected {conc['rejected']}, "
          f"server saw up to {conc['max_in_flight']} requests at once")
    for m in seq["failed"] + conc["failed"]:
        print("  failed:", m)
    size, counts = store_size_per_symbol_month()
    print(f"store: {size / 1024:.0f} KiB per symbol-month on one exchange ({counts})")
    print(json.dumps({
        "sequential_s": round(seq["seconds"], 3),
        "concurrent_s": round(conc["seconds"], 3),
        "speedup": round(seq["seconds"] / conc["seconds"], 2),
        "exchanges": exchanges,
        "symbols": len(symbols),
        "latency_ms": round(args.latency * 1000),
        "requests": conc["requests"],
        "rate_limit_rejections": sum(seq["rejected"].values()) + sum(conc["rejected"].values()),
        "all_ok": seq["ok"] == seq["pairs"] and conc["ok"] == conc["pairs"],
        "store_bytes_per_symbol_month": size,
        **requests,
    }))


if __name__ == "__main__":
    main()
