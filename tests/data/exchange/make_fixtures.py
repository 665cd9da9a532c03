"""Regenerate the fixtures in this folder from the project's shared real data set.

Run by hand (never by the tests): python tests/data/exchange/make_fixtures.py /path/to/shared/data
Every value is copied unchanged; only the time window is cut and the columns renamed.
"""

from __future__ import annotations

import csv
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
KLINES = "binance-um-klines-freqtrade-2025-12_2026-01"
REGIME = "coinglass-btc-aggregated-ismethanhtung/coinglass_BTC_regime_1h__2025-12-04_2026-02-28__c8a9730.csv"
TIERS = "leverage-tiers/bybit_BTCUSDT_risk_limit_tiers__margin-parameters-page.csv"
FRAGMENTS = "leverage-tiers/tier_fragments_bybit_okx_binance__various.csv"


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def window(start: str, end: str) -> tuple[int, int]:
    return ms(start), ms(end)


def main(shared: Path) -> None:
    w5 = window("2026-01-16T00:00:00Z", "2026-01-20T00:00:00Z")
    w1 = window("2026-01-06T00:00:00Z", "2026-01-20T00:00:00Z")
    for base in ("BTC", "ETH", "SOL"):
        for tf, (lo, hi) in (("5m", w5), ("1h", w1)):
            src = shared / KLINES / f"{base}_USDT_USDT-{tf}-futures.csv"
            with src.open() as f, (HERE / f"candles_{base}_{tf}.csv").open("w", newline="") as g:
                out = csv.writer(g)
                out.writerow(["ts", "open", "high", "low", "close", "volume"])
                for r in csv.DictReader(f):
                    t = ms(r["date"])
                    if lo <= t < hi:
                        out.writerow([t, r["open"], r["high"], r["low"], r["close"], r["volume"]])
        src = shared / KLINES / f"{base}_USDT_USDT-1h-funding_rate.csv"
        with src.open() as f, (HERE / f"funding_{base}.csv").open("w", newline="") as g:
            out = csv.writer(g)
            out.writerow(["ts", "rate"])
            for r in csv.DictReader(f):
                t = ms(r["date"])
                if w1[0] <= t < w1[1]:
                    out.writerow([t, r["open"]])
    with (shared / REGIME).open() as f, (HERE / "oi_BTC_1h.csv").open("w", newline="") as g:
        out = csv.writer(g)
        out.writerow(["ts", "oi_usd"])
        for r in csv.DictReader(f):
            t = int(r["timestamp"])
            if w1[0] <= t < w1[1]:
                out.writerow([t, r["oi_close"]])
    shutil.copyfile(shared / TIERS, HERE / "bybit_BTCUSDT_risk_limit.csv")
    with (shared / FRAGMENTS).open() as f, (HERE / "okx_position_tiers.csv").open("w", newline="") as g:
        reader = csv.DictReader(f)
        out = csv.DictWriter(g, fieldnames=reader.fieldnames or [])
        out.writeheader()
        out.writerows(r for r in reader if r["exchange"] == "okx")
    print("fixtures written", datetime.now(UTC).isoformat())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
