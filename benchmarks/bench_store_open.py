"""What the integrity check on open costs: open a full-size store with and without it.

A store holding the default retention (120 days) for 3 symbols x 4 exchanges: 5m and 1h
candles, hourly open interest and 8-hourly funding. Each open is timed cold in a fresh
process-level cache (the check runs once per process and file version), and the open
itself without the check, side by side in one run.

    python benchmarks/bench_store_open.py [--days 120] [--repeat 5]

The last line printed is a JSON object: {"rows", "size_mb", "open_ms", "open_checked_ms", "ratio", ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sitegen import store as store_module
from sitegen.store import Store

EXCHANGES = ("binanceusdm", "bybit", "okx", "hyperliquid")
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
T0 = 1_760_000_000_000 - 1_760_000_000_000 % 3_600_000


def fill(path: Path, days: int) -> int:
    rows = 0
    with Store(path) as st:
        for ex in EXCHANGES:
            for i, sym in enumerate(SYMBOLS):
                base = 100.0 * (i + 1)
                c5 = [(T0 + k * 300_000, base, base + 1, base - 1, base + 0.5, 10.0, 5.0) for k in range(days * 288)]
                c1 = [(T0 + k * 3_600_000, base, base + 2, base - 2, base + 1, 99.0, 40.0) for k in range(days * 24)]
                oi = [(T0 + k * 3_600_000, 1000.0 + k, 1e8 + k) for k in range(days * 24)]
                fu = [(T0 + k * 28_800_000, 0.0001) for k in range(days * 3)]
                st.write(ex, sym, candles={"5m": c5, "1h": c1}, open_interest={"1h": oi}, funding=fu)
                rows += len(c5) + len(c1) + len(oi) + len(fu)
    return rows


def time_open(path: Path, *, check: bool, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        store_module._CHECKED.clear()
        if not check:  # mark this file version as checked: the open skips quick_check
            st = path.stat()
            store_module._CHECKED.add((str(path.resolve()), st.st_mtime_ns, st.st_size))
        started = time.perf_counter()
        with Store(path, read_only=True) as s:
            s.db.execute("SELECT 1").fetchone()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "liqmap.sqlite"
        rows = fill(path, args.days)
        size_mb = path.stat().st_size / 1e6
        plain = time_open(path, check=False, repeat=args.repeat)
        checked = time_open(path, check=True, repeat=args.repeat)
    print(f"store: {rows:,} rows, {size_mb:.1f} MB ({args.days} days, {len(EXCHANGES)}x{len(SYMBOLS)} series)")
    print(f"open without check: {plain:.1f} ms; with PRAGMA quick_check: {checked:.1f} ms "
          f"({checked / plain:.1f}x, +{checked - plain:.0f} ms once per build or fetch)")
    print(json.dumps({"rows": rows, "size_mb": round(size_mb, 1), "open_ms": round(plain, 2),
                      "open_checked_ms": round(checked, 2), "ratio": round(checked / plain, 1)}))


if __name__ == "__main__":
    main()
