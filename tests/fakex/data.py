"""The market data the fake exchanges serve: real Binance USDⓈ-M series from tests/data/exchange.

See tests/data/exchange/README.md for where every file comes from. All four fake exchanges
serve the same real series (each in its own JSON shape): what is tested is the transport,
the formats and the fetch logic, not cross-exchange differences.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "exchange"
REAL_COINS = ("BTC", "ETH", "SOL")

Bar = tuple[int, float, float, float, float, float]


@dataclass
class CoinData:
    candles: dict[str, list[Bar]]  # "5m" / "1h" -> bars ascending
    funding: list[tuple[int, float]]
    oi_usd: list[tuple[int, float]]  # hourly open interest in USD (BTC only; real)
    tiers: list[dict[str, str]] = field(default_factory=list)  # bybit risk-limit rows
    okx_tiers: list[dict[str, str]] = field(default_factory=list)  # okx position tiers

    def close_at(self, ts: int) -> float | None:
        for tf in ("1h", "5m"):
            for b in self.candles[tf]:
                if b[0] == ts:
                    return b[4]
        return None


def _read(name: str) -> list[dict[str, str]]:
    path = DATA / name
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def load_coin(coin: str) -> CoinData:
    candles = {
        tf: [
            (int(r["ts"]), float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]),
             float(r["volume"]))
            for r in _read(f"candles_{coin}_{tf}.csv")
        ]
        for tf in ("5m", "1h")
    }
    funding = [(int(r["ts"]), float(r["rate"])) for r in _read(f"funding_{coin}.csv")]
    oi = [(int(r["ts"]), float(r["oi_usd"])) for r in _read(f"oi_{coin}_1h.csv")]
    tiers = _read(f"bybit_{coin}USDT_risk_limit.csv")
    okx = [r for r in _read("okx_position_tiers.csv") if r["symbol"] == f"{coin}-USDT-SWAP"]
    return CoinData(candles, funding, oi, tiers, okx)


def scaled(src: CoinData, factor: float, shift_ms: int = 0) -> CoinData:
    """A copy with prices multiplied by ``factor`` (benchmark symbols beyond the three real ones)."""
    candles = {
        tf: [(t + shift_ms, o * factor, h * factor, lo * factor, c * factor, v) for t, o, h, lo, c, v in bars]
        for tf, bars in src.candles.items()
    }
    return CoinData(
        candles,
        [(t + shift_ms, r) for t, r in src.funding],
        [(t + shift_ms, v * factor) for t, v in src.oi_usd],
        list(src.tiers),
        list(src.okx_tiers),
    )


def load_universe(extra: int = 0, shift_ms: int = 0) -> dict[str, CoinData]:
    """BTC, ETH, SOL (real) plus ``extra`` scaled copies named X1, X2, ... (for the benchmark)."""
    coins = {c: load_coin(c) for c in REAL_COINS}
    if shift_ms:
        coins = {c: scaled(d, 1.0, shift_ms) for c, d in coins.items()}
    for i in range(extra):
        src = coins[REAL_COINS[i % 3]]
        coins[f"X{i + 1}"] = scaled(src, 1.0 + 0.01 * (i + 1))
    return coins
