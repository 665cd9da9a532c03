"""Inputs, parameters and outputs of the liquidation model (pure data, numpy only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

# (min_notional, max_notional, mmr, cum, max_leverage) per bracket, Binance form.
TierTable = np.ndarray  # float64, shape (K, 5)

# 12 log-spaced leverages from 2x to 125x (np.geomspace(2, 125, 12), 3 significant digits).
LEVERAGE_CONTINUUM: tuple[float, ...] = (
    2.0, 2.91, 4.24, 6.18, 9.0, 13.1, 19.1, 27.8, 40.5, 58.9, 85.8, 125.0,
)
# The calibrated defaults (the search's pick; a test keeps them in step with it).
DEFAULT_ALPHA = 0.5
DEFAULT_ENTRY_POINTS = 5
DEFAULT_HALF_LIFE = 0.0
DEFAULT_UNLOCATED = 0.5
DEFAULT_USD_SCALE = 0.175


def power_law_weights(leverages: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    """Leverage weights proportional to ``L ** -alpha``, normalised, rounded to 4 decimals."""
    w = np.asarray(leverages, dtype=np.float64) ** (-alpha)
    return tuple(round(float(x), 4) for x in w / w.sum())


DEFAULT_WEIGHTS = power_law_weights(LEVERAGE_CONTINUUM, DEFAULT_ALPHA)


@dataclass(frozen=True)
class ModelParams:
    """Every assumption of the model. Each one is printed on the page and in its JSON.

    Defaults are chosen on the first half of the calibration data by the declared search in
    ``sitegen.evaluation.calibrate`` (the second half is the out-of-sample check).
    """

    # Leverages (x) new positions are opened at: a continuum of 12 log-spaced values from 2x
    # to 125x, each capped by the exchange bracket's maximum leverage for a position of
    # `position_notional_usd`.
    leverages: tuple[float, ...] = LEVERAGE_CONTINUUM
    # Share of new notional at each leverage (normalised to sum 1): proportional to
    # L ** -alpha with the calibrated alpha (see `sitegen.evaluation.power_weights`).
    leverage_weights: tuple[float, ...] = DEFAULT_WEIGHTS
    # How new open interest is split between longs and shorts: "symmetric" (both sides get
    # all of it: every contract has a long and a short) or "taker" (by taker-buy share).
    side_attribution: str = "symmetric"
    # Entry prices per bar: equal-weight quantiles of a triangular distribution of log price
    # between the bar's low and high with its mode at the typical price. Calibrated.
    entry_points: int = DEFAULT_ENTRY_POINTS
    decay_half_life_hours: float = DEFAULT_HALF_LIFE  # extra decay of all positions; 0 = none
    # Same-bar liquidation along the assumed intrabar path (O->L->H->C for an up bar,
    # O->H->L->C for a down bar): "path", or "off" (a cohort is never liquidated in the bar
    # that opened it, the v1 model).
    intrabar: str = "path"
    # Unlocated liquidations (cross margin, account level: not tied to a drawn level), added
    # to the predicted series only: per bar, this x open interest x (adverse move)^2, with the
    # adverse move a mix of the bar's log range and its open-to-low (open-to-high) move.
    # 0 = none (the located model alone).
    unlocated_coef: float = DEFAULT_UNLOCATED
    # One pooled dollar scale on every model output (heat, map, predictions): model USD per
    # USD of open-interest flow. Fitted on the calibration half so predicted and realised
    # totals match after the open-interest-share bridge (see the methodology page).
    usd_scale: float = DEFAULT_USD_SCALE
    bin_pct: float = 0.2  # price grid step in percent (log spaced)
    grid_span_pct: float = 30.0  # grid covers last close +- this percent (and the traded range)
    position_notional_usd: float = 10_000.0  # typical position size used to pick the tier
    volume_ma_bars: int = 48  # moving average window for the volume fallback
    # Volume model: new notional per USD of quote volume above its moving average. 0.10 makes
    # the volume model open as much in total as open interest did on the BTC 5m sample.
    volume_oi_ratio: float = 0.10
    # Half-life of positions in the volume model, where no falling open interest closes them.
    volume_decay_half_life_hours: float = 48.0

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["leverages"] = list(self.leverages)
        d["leverage_weights"] = list(self.leverage_weights)
        return d



@dataclass(frozen=True)
class ModelInput:
    """One symbol on one exchange, one timeframe, aligned arrays of length T."""

    timestamp: np.ndarray  # int64 ms bar open, (T,)
    open: np.ndarray  # float64 (T,)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base units (T,)
    oi_usd: np.ndarray | None = None  # open interest in USD at each bar's close, NaN = unknown
    taker_buy_volume: np.ndarray | None = None  # base units (T,), for side_attribution="taker"
    # Gross open-interest flows inside each bar (USD, >= 0), from open interest at a finer
    # step than the bar: the sum of its rises and of its falls. NaN or None = unknown (the
    # net change of the bar is used).
    oi_up_usd: np.ndarray | None = None
    oi_down_usd: np.ndarray | None = None
    tiers: TierTable | None = None  # maintenance brackets; None = flat 0.4 % mmr, no cum
    bar_ms: int = 300_000
    margin_form: str = "binance"  # liquidation-price form: "binance", "okx" or "bybit"
    exchange: str = ""  # ccxt id, carried into ModelResult.exchanges


@dataclass(frozen=True)
class Cluster:
    """A band of estimated liquidations at the last bar."""

    side: str  # "long" or "short"
    price: float  # USD, centre of the band (notional-weighted)
    usd: float  # estimated notional liquidated if price reaches the band
    distance_pct: float  # signed, (price / last_close - 1) * 100


@dataclass(frozen=True)
class ModelResult:
    """Model output on a log-spaced price grid.

    heat_* hold, per bar and price row, the notional (USD) of open positions whose
    liquidation price lies in that row, *after* the bar (survivors only).
    """

    timestamp: np.ndarray  # int64 ms (T,)
    close: np.ndarray  # float64 (T,)
    price_edges: np.ndarray  # float64 (B+1,), increasing, log spaced
    heat_long: np.ndarray  # float32 (T, B) USD
    heat_short: np.ndarray  # float32 (T, B) USD
    heat_long_by_leverage: np.ndarray  # float32 (L, T, B), sums to heat_long over L
    heat_short_by_leverage: np.ndarray  # float32 (L, T, B)
    # float64 (T,) USD of longs the model predicts liquidated in each bar: located (at its
    # levels, same bar included) plus unlocated, times usd_scale
    predicted_long: np.ndarray
    predicted_short: np.ndarray  # float64 (T,)
    leverages: tuple[float, ...]
    params: ModelParams
    volume_model: bool  # True when open interest was missing and volume drove the model
    exchanges: tuple[str, ...] = field(default_factory=tuple)

    @property
    def price_centers(self) -> np.ndarray:
        return np.sqrt(self.price_edges[:-1] * self.price_edges[1:])

    @property
    def map_long(self) -> np.ndarray:
        """Long liquidation levels by price at the last bar, USD (B,)."""
        return self.heat_long[-1].astype(np.float64)

    @property
    def map_short(self) -> np.ndarray:
        return self.heat_short[-1].astype(np.float64)
