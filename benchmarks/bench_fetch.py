"""Fetch benchmark: 10 symbols x 3 exchanges against the loopback exchange server.

Every request gets 50 ms of injected latency; the server enforces each exchange's documented
public rate limit and rejects (and counts) any excess. The same fetch runs twice into fresh
stores: one request at a time over all exchanges (sequential), then the production setting
(exchanges in parallel, symbols concurrently within each exchange's limiter). It also
measures the store's size per symbol-month with a month of real bars.

    python benchmarks/bench_fetch.py [--exchanges binanceusdm,bybit,hyperliquid] [--days 2]

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
import subprocess
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

FIXTURE_END = 1_768_867_200_000  # 2026-01-20 00:00 UTC: the last 5m fixture bar closes here
HOUR = 3_600_000
DAY = 86_400_000


def run(mode: str, exchanges: list[str], symbols: list[str], days: int, latency: float) -> dict:
    # Data shifted so that it ends now: ccxt picks some endpoints by the real clock (OKX).
    now = int(time.time() * 1000) // HOUR * HOUR
    shift = now - FIXTURE_END
    # The server runs in a process of its own, as an exchange would: its work does not
    # compete with the client for this interpreter's lock.
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakex.server", "--now", str(now), "--latency", str(latency),
         "--extra", str(len(symbols) - 3), "--shift", str(shift)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        url = server.stdout.readline().strip()
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
        server.stdin.write("stats\n")
        server.stdin.flush()
        stats = json.loads(server.stdout.readline())
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    return {
        "seconds": seconds, "requests": stats["requests"], "rejected": stats["rejected"],
        "max_in_flight": stats["max_in_flight"], "ok": len(report.ok),
        "pairs": len(report.symbols), "candle_rows": rows, "failed": list(report.messages),
    }


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exchanges", default="binanceusdm,bybit,hyperliquid")
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--days", type=int, default=2, help="history to fetch (retention_days)")
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("ccxt").setLevel(logging.ERROR)
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
    }))


if __name__ == "__main__":
    main()
