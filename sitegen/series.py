"""Market data as frozen dataclasses of numpy arrays: what ``sources/`` hands to the rest.

No ccxt dict ever travels past ``sources/``; everything downstream sees these types.
All timestamps are int64 milliseconds since the epoch, UTC, at the *open* of the bar,
strictly increasing. Prices are in the quote currency (USDT/USDC ~ USD).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TIMEFRAME_MS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}


@dataclass(frozen=True)
class Candles:
    """OHLCV bars of one timeframe. ``volume`` is in base units (BTC for BTC/USDT)."""

    timeframe: str
    timestamp: np.ndarray  # int64 ms, shape (T,)
    open: np.ndarray  # float64, (T,)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    taker_buy_volume: np.ndarray | None = None  # base units, where the exchange reports it

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    def tail(self, n: int) -> Candles:
        """The last ``n`` bars."""
        s = slice(max(len(self) - n, 0), None)
        tb = None if self.taker_buy_volume is None else self.taker_buy_volume[s]
        return Candles(
            self.timeframe, self.timestamp[s], self.open[s], self.high[s], self.low[s],
            self.close[s], self.volume[s], tb,
        )


@dataclass(frozen=True)
class OpenInterest:
    """Open interest in USD, each value converted with the price of its own bar."""

    timeframe: str
    timestamp: np.ndarray  # int64 ms, (N,)
    value_usd: np.ndarray  # float64, (N,)
    # True: value i is the open interest at the *end* of the period that opens at
    # timestamp[i] (the sample / Coinglass convention). False: it is a snapshot taken at
    # timestamp[i] itself. The model aligns both to bar closes (sitegen.model.adapt).
    at_close: bool = True


@dataclass(frozen=True)
class Funding:
    """Funding rate events: a fraction per funding interval (0.0001 = 0.01 %)."""

    timestamp: np.ndarray  # int64 ms, (N,)
    rate: np.ndarray  # float64, (N,)


@dataclass(frozen=True)
class LeverageTier:
    """One maintenance-margin bracket, Binance form (other exchanges converted to it).

    A position of notional ``N`` in ``[min_notional, max_notional)`` has maintenance margin
    ``N * mmr - cum``; ``max_leverage`` is the highest leverage allowed in the bracket.
    """

    min_notional: float
    max_notional: float
    mmr: float
    cum: float
    max_leverage: float


@dataclass(frozen=True)
class MarketSeries:
    """Everything known about one symbol on one exchange."""

    exchange: str  # ccxt id, e.g. "binanceusdm"
    symbol: str  # ccxt unified symbol on that exchange, e.g. "BTC/USDT:USDT"
    candles: dict[str, Candles]  # by timeframe ("5m", "1h")
    open_interest: OpenInterest | None = None
    funding: Funding | None = None
    tiers: tuple[LeverageTier, ...] = field(default_factory=tuple)
    source: str = "live"  # "live", "store" or "sample": shown on the page
    # The exchange's own name for the market where it differs from ``symbol`` (Hyperliquid
    # lists BTC/USDC:USDC for the configured BTC/USDT:USDT); None when they are the same.
    market_symbol: str | None = None
    fetched_at_ms: int | None = None  # when the store last fetched it successfully
