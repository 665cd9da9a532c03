"""What an exchange adapter declares: limits, symbol rules, paging quirks, open-interest and
tier sources, and the liquidation-price (margin) form. One module per exchange fills it in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Profile:
    """What one exchange offers and how hard we may ask.

    ``window_ms``/``rate_limit_ms`` configure ccxt's rolling-window limiter: at most
    ``window_ms / rate_limit_ms`` ccxt cost units per window. Each is at or below the
    exchange's documented public limit (see each adapter module).
    """

    ohlcv_limit: int  # rows per candle page
    oi: str | None  # "history", "snapshot" or None
    oi_limit: int
    oi_history_days: float | None  # how far back the OI history endpoint answers
    funding_limit: int
    tiers: bool  # public leverage tiers through fetch_market_leverage_tiers
    markets_types: tuple[str, ...]
    window_ms: int
    rate_limit_ms: float
    geo_status: tuple[int, ...] = (451,)
    tiers_in_contracts: bool = False  # tier bounds in contracts, not quote currency (OKX)
    # No tier table, but a documented rule: maintenance margin is half the initial margin at the
    # market's maximum leverage (Hyperliquid), one bracket for every size.
    mmr_from_max_leverage: bool = False


# (session, client, market id resolver input, label, timeframe, since, until, limit) -> rows
# in ccxt's OHLCV order plus the taker-buy volume: [ts, o, h, l, c, v, taker_buy].
CandlePage = Callable[[Any, Any, str, str, str, int, int, int], Awaitable[list[Any]]]


@dataclass(frozen=True)
class Adapter:
    """Everything that differs between exchanges; the fetcher and the build read only this."""

    id: str  # ccxt id
    profile: Profile
    margin_form: str = "binance"  # liquidation-price form passed to the model: binance, bybit, okx
    # Settle currency the exchange lists every perpetual in (BASE/USDT:USDT -> BASE/USDC:USDC).
    settle_alias: str | None = None
    # Our own limiter per API path instead of ccxt's single bucket: (window s, {path: requests}).
    endpoint_limits: tuple[float, dict[str, int]] | None = None
    # Count every call at least this many ccxt cost units (the exchange weighs them alike).
    min_call_cost: float | None = None
    # Recent bars come from another endpoint with bigger pages: (how many bars count as
    # recent, rows per page there).
    recent_candles: tuple[int, int] | None = None
    # Candle pages read raw (to keep the taker-buy volume ccxt drops); None = fetch_ohlcv.
    candle_page: CandlePage | None = None
    # Funding history pages by exclusive "after" (older than) instead of ccxt's "until".
    funding_pages_by_after: bool = False
    # The hourly update of 1h bars is built from the 5m bars fetched in the same run, saving a
    # request per symbol where requests are what bounds the fetch.
    hours_from_5m: bool = False
    # Key of the base-currency amount in ccxt's open-interest history rows.
    oi_amount_key: str = "openInterestAmount"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def candle_page_rows(self, since_ms: int, now_ms: int, step_ms: int, default: int) -> int:
        """Rows per candle page for a walk that starts at ``since_ms``."""
        if self.recent_candles and since_ms >= now_ms - self.recent_candles[0] * step_ms:
            return self.recent_candles[1]
        return default

    def funding_params(self, until_ms: int) -> dict[str, Any]:
        return {"after": until_ms + 1} if self.funding_pages_by_after else {"until": until_ms}
