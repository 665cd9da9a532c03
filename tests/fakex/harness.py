"""Helpers shared by the fetch tests and the benchmark: run a fetch against the fake server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sitegen.config import load_config
from sitegen.sources.live import FetchOptions, FetchReport, fetch_all
from sitegen.store import Store
from tests.fakex.server import FakeExchanges

# 2026-01-19 00:00 UTC: inside the fixture window (5m bars from 01-16, 1h from 01-06).
NOW = 1_768_780_800_000
FIXTURE_END = 1_768_867_200_000  # 2026-01-20 00:00 UTC: the last 5m fixture bar closes here
HOUR = 3_600_000
DAY = 86_400_000
ALL = ("binanceusdm", "bybit", "okx", "hyperliquid")
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")


def options(server: FakeExchanges, **kw: Any) -> FetchOptions:
    base: dict[str, Any] = {
        "api_urls": server.api_urls(),
        "now_ms": server.now_ms,
        "backoff_s": 0.001,
        "max_backoff_s": 0.05,
        "timeout_ms": 2_000,
        "close_wait_ms": 0,  # no TLS on the loopback: nothing to wait for when a client closes
        # Tests check correctness, not pacing: loosen the client's limiter so they run fast
        # (the benchmark keeps the production limits and the server's enforcement).
        "limit_scale": 1.0 if server.enforce_limits else 1000.0,
    }
    base.update(kw)
    return FetchOptions(**base)


def run_fetch(
    server: FakeExchanges,
    db: Path,
    *,
    exchanges: Sequence[str] = ALL,
    symbols: Sequence[str] = SYMBOLS,
    retention_days: int = 2,
    **kw: Any,
) -> FetchReport:
    config = load_config(
        None, exchanges=list(exchanges), symbols=list(symbols), retention_days=retention_days
    )
    with Store(db) as store:
        return fetch_all(config, store, options=options(server, **kw))


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every data row of the store, sorted: for 'nothing changed' and 'nothing lost' checks."""
    con = sqlite3.connect(db)
    try:
        return {
            t: sorted(con.execute(f"SELECT * FROM {t}").fetchall())
            for t in ("candles", "open_interest", "funding", "tiers")
        }
    finally:
        con.close()


def candle_ts(db: Path, exchange: str, symbol: str, tf: str) -> list[int]:
    with Store(db) as st:
        return [r[0] for r in st.candle_rows(exchange, symbol, tf)]


def start_process(
    root: Path, now: int, *, extra: int = 0, latency: float = 0.0
) -> tuple[subprocess.Popen[str], str]:
    """The fake exchanges in a process of their own (as an exchange would be: its work does
    not compete with the client for one interpreter's lock), serving data shifted to end at
    ``now`` plus ``extra`` price-scaled symbols; returns the process and its loopback URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakex.server", "--now", str(now), "--latency", str(latency),
         "--extra", str(extra), "--shift", str(now - FIXTURE_END)],
        cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        server.kill()
        raise SystemExit(f"fake exchange did not start on loopback (got {url!r})")
    return server, url


def stop_process(server: subprocess.Popen[str]) -> dict[str, Any]:
    """Stop a :func:`start_process` server; returns its counters (requests, rejected, ...)."""
    assert server.stdin is not None and server.stdout is not None
    try:
        server.stdin.write("stats\n")
        server.stdin.flush()
        stats: dict[str, Any] = json.loads(server.stdout.readline())
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    return stats
