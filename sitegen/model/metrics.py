"""Score predicted against realised liquidations (DESIGN.md section 3, "Evaluation"). Pure.

Per side and per bar: the correlation of ``log(1 + predicted)`` with ``log(1 + realised)``
and the *top-decile capture* (share of realised liquidation USD that falls in the 10 % of
bars the model ranks highest), each beside the naive baseline ``OI * (open - low) / open``
(longs) and ``OI * (high - open) / open`` (shorts). Also: the same scores for the located
part alone (the map's own levels, without the unlocated term), the capture the realised
series would reach ranking itself (the oracle), and predicted / realised USD.

Every function here takes arrays and returns frozen dataclasses; reading files, the
calibration search and the sample-window run live above the model, in
:mod:`sitegen.evaluation`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np

from sitegen.model.engine import solve
from sitegen.model.types import ModelInput, ModelParams

HOUR_MS = 3_600_000
# Falling market: bars whose close is more than 3 % below the close 24 hours earlier.
FALLING_HOURS = 24
FALLING_RETURN = -0.03


@dataclass(frozen=True)
class EvalData:
    """The columns of an evaluation series as arrays (T,).

    ``oi_high``/``oi_low`` (optional): the highest and lowest open interest inside each bar,
    from which gross flows are estimated (:func:`gross_from_range`).
    """

    timestamp: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    oi_usd: np.ndarray
    liq_long: np.ndarray
    liq_short: np.ndarray
    oi_high: np.ndarray | None = None
    oi_low: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])


@dataclass(frozen=True)
class SideScore:
    """One side's scores over a set of bars. None = undefined (constant series, nothing realised)."""

    model_logcorr: float | None  # total: located + unlocated
    baseline_logcorr: float | None
    model_top10: float | None
    baseline_top10: float | None
    levels_logcorr: float | None  # located part only (the map's levels)
    levels_top10: float | None
    oracle_top10: float | None  # the realised series ranking itself: the best possible capture
    pred_to_real_usd: float | None  # predicted / realised total USD
    predicted_usd: float
    realised_usd: float

    @property
    def top10_of_oracle(self) -> float | None:
        """The model's top-10 capture as a share of the oracle's."""
        if self.model_top10 is None or not self.oracle_top10:
            return None
        return self.model_top10 / self.oracle_top10

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


@dataclass(frozen=True)
class Scores:
    long: SideScore
    short: SideScore
    bars: int

    def as_dict(self) -> dict[str, object]:
        return {"long": self.long.as_dict(), "short": self.short.as_dict(), "bars": self.bars}


@dataclass(frozen=True)
class MonthRatio:
    """Predicted / realised USD over one full calendar month (UTC)."""

    month: str  # "YYYY-MM"
    bars: int
    long: float | None
    short: float | None


@dataclass(frozen=True)
class Section:
    """Scores over a span of bars, its full calendar months and its falling-market bars."""

    scores: Scores
    months: tuple[MonthRatio, ...]
    falling: Scores | None  # bars with a 24 h return below -3 % (None: no such bars)

    def as_dict(self) -> dict[str, object]:
        return {
            **self.scores.as_dict(),
            "months": [asdict(m) for m in self.months],
            "falling_market": None if self.falling is None else self.falling.as_dict(),
        }


@dataclass(frozen=True)
class Evaluation:
    """The evaluation of one series: all bars, and with ``halves`` the fit and check halves."""

    all: Section
    first: Section | None
    second: Section | None
    oi_share: float  # the open-interest bridge the predictions were divided by

    def as_dict(self) -> dict[str, object]:
        out = self.all.as_dict()
        out["oi_share"] = self.oi_share
        if self.first is not None and self.second is not None:
            out["halves"] = {"first": self.first.as_dict(), "second": self.second.as_dict()}
        return out


@dataclass(frozen=True)
class Predictions:
    """Model predictions on an evaluation series, in realised-coverage USD (T,) each."""

    long: np.ndarray  # total: located + unlocated
    short: np.ndarray
    located_long: np.ndarray
    located_short: np.ndarray


def log_corr(pred: np.ndarray, real: np.ndarray) -> float | None:
    """Pearson correlation of log(1 + pred) and log(1 + real); None when either is constant."""
    a = np.log1p(np.maximum(np.asarray(pred, float), 0.0))
    b = np.log1p(np.maximum(np.asarray(real, float), 0.0))
    if a.shape[0] < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def top_decile_capture(pred: np.ndarray, real: np.ndarray, share: float = 0.1) -> float | None:
    """Share of realised USD in the ``share`` of bars with the highest prediction.

    Ties are broken by time (earliest first), so a model that predicts nothing does not get
    lucky. None when nothing was realised.
    """
    real = np.maximum(np.asarray(real, float), 0.0)
    total = float(real.sum())
    if total <= 0 or real.shape[0] == 0:
        return None
    k = max(1, math.ceil(share * real.shape[0]))
    top = np.argsort(-np.asarray(pred, float), kind="stable")[:k]
    return float(real[top].sum() / total)


def baseline(data: EvalData) -> tuple[np.ndarray, np.ndarray]:
    """Naive baseline per bar: OI x the bar's move below / above its open."""
    long_ = data.oi_usd * (data.open - data.low) / data.open
    short = data.oi_usd * (data.high - data.open) / data.open
    return long_, short


def gross_from_range(
    prev: np.ndarray, cur: np.ndarray, high: np.ndarray, low: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gross rises and falls of open interest inside bars from its range, (up, down) (T,).

    The shortest path from ``prev`` through both extremes to ``cur``: down to ``low`` first
    when open interest ended higher (``prev -> low -> high -> cur``), up to ``high`` first
    otherwise. ``up - down = cur - prev`` always. The extremes are widened to include
    ``prev`` and ``cur``. NaN where any input is unknown.
    """
    prev, cur, high, low = (np.asarray(x, dtype=np.float64) for x in (prev, cur, high, low))
    hi = np.maximum(high, np.maximum(prev, cur))
    lo = np.minimum(low, np.minimum(prev, cur))
    rising = cur >= prev
    up = np.where(rising, hi - lo, (hi - prev) + (cur - lo))
    down = np.where(rising, (prev - lo) + (hi - cur), hi - lo)
    return up, down


def model_input_from(data: EvalData) -> ModelInput:
    """The model input of an evaluation series (no volume: the file has none)."""
    ts = data.timestamp
    bar_ms = int(np.median(np.diff(ts))) if ts.shape[0] > 1 else HOUR_MS
    up = down = None
    if data.oi_high is not None and data.oi_low is not None:
        prev = np.concatenate([[np.nan], data.oi_usd[:-1]])
        up, down = gross_from_range(prev, data.oi_usd, data.oi_high, data.oi_low)
    return ModelInput(
        timestamp=ts, open=data.open, high=data.high, low=data.low, close=data.close,
        volume=np.zeros(ts.shape[0]), oi_usd=data.oi_usd, oi_up_usd=up, oi_down_usd=down,
        bar_ms=bar_ms,
    )


def predictions(data: EvalData, params: ModelParams, oi_share: float = 1.0) -> Predictions:
    """Run the model over ``data``; USD divided by ``oi_share`` (the open-interest bridge).

    ``oi_share`` is the share of the open interest behind the realised liquidations that the
    file's ``open_interest_usd`` column covers (the model is linear in open interest, so the
    model of the whole market is the model of the covered part divided by its share).
    """
    if not (math.isfinite(oi_share) and 0 < oi_share <= 1):
        raise ValueError(f"oi_share must be in (0, 1], got {oi_share!r}")
    sol = solve(model_input_from(data), params)
    k = params.usd_scale / oi_share
    total_l, total_s = sol.total(k)
    return Predictions(total_l, total_s, k * sol.predicted_long, k * sol.predicted_short)


def side_score(
    pred: np.ndarray, located: np.ndarray, base: np.ndarray, real: np.ndarray
) -> SideScore:
    """Every score of one side over the same bars."""
    p_usd, r_usd = float(np.sum(pred)), float(np.sum(real))
    return SideScore(
        model_logcorr=log_corr(pred, real),
        baseline_logcorr=log_corr(base, real),
        model_top10=top_decile_capture(pred, real),
        baseline_top10=top_decile_capture(base, real),
        levels_logcorr=log_corr(located, real),
        levels_top10=top_decile_capture(located, real),
        oracle_top10=top_decile_capture(real, real),
        pred_to_real_usd=p_usd / r_usd if r_usd > 0 else None,
        predicted_usd=p_usd,
        realised_usd=r_usd,
    )


def scores(pred: Predictions, data: EvalData, sel: np.ndarray | slice) -> Scores:
    """Both sides' scores over the bars ``sel`` (a slice or a boolean mask)."""
    base_l, base_s = baseline(data)
    return Scores(
        long=side_score(pred.long[sel], pred.located_long[sel], base_l[sel], data.liq_long[sel]),
        short=side_score(pred.short[sel], pred.located_short[sel], base_s[sel], data.liq_short[sel]),
        bars=int(np.arange(len(data))[sel].shape[0]),
    )


def falling_mask(timestamp: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Bars whose close is more than 3 % below the close of the bar 24 h earlier (bool, T)."""
    ts = np.asarray(timestamp, dtype=np.int64)
    i = np.searchsorted(ts, ts - FALLING_HOURS * HOUR_MS)
    ok = (i < ts.shape[0]) & (ts[np.minimum(i, ts.shape[0] - 1)] == ts - FALLING_HOURS * HOUR_MS)
    ref = np.asarray(close, float)[np.minimum(i, ts.shape[0] - 1)]
    return ok & (np.asarray(close, float) / ref - 1.0 < FALLING_RETURN)


def full_months(timestamp: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(``"YYYY-MM"``, bool mask) of each calendar month (UTC) the bars cover from start to end.

    A month counts when the series has bars at or before its first hour and at or after its
    last hour (single missing bars inside are allowed).
    """
    ts = np.asarray(timestamp, dtype=np.int64)
    if ts.shape[0] == 0:
        return []
    bar = int(np.median(np.diff(ts))) if ts.shape[0] > 1 else HOUR_MS
    first = datetime.fromtimestamp(int(ts[0]) / 1000, UTC)
    y, m = first.year, first.month
    out = []
    while True:
        start = int(datetime(y, m, 1, tzinfo=UTC).timestamp() * 1000)
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        end = int(datetime(ny, nm, 1, tzinfo=UTC).timestamp() * 1000)
        if start > ts[-1]:
            break
        if ts[0] <= start and ts[-1] >= end - bar:
            out.append((f"{y:04d}-{m:02d}", (ts >= start) & (ts < end)))
        y, m = ny, nm
    return out


def section(pred: Predictions, data: EvalData, sel: slice) -> Section:
    """Scores over ``sel``, its full months and its falling-market bars."""
    idx = np.zeros(len(data), bool)
    idx[sel] = True
    months = []
    for label, mask in full_months(data.timestamp[sel]):
        m = np.zeros(len(data), bool)
        m[np.flatnonzero(idx)[mask]] = True
        rl, rs = float(data.liq_long[m].sum()), float(data.liq_short[m].sum())
        months.append(MonthRatio(
            label, int(m.sum()),
            float(pred.long[m].sum()) / rl if rl > 0 else None,
            float(pred.short[m].sum()) / rs if rs > 0 else None,
        ))
    fall = falling_mask(data.timestamp, data.close) & idx
    falling = scores(pred, data, fall) if fall.sum() >= 2 else None
    return Section(scores(pred, data, sel), tuple(months), falling)


def evaluate_data(
    data: EvalData, params: ModelParams, *, halves: bool = False, oi_share: float = 1.0
) -> Evaluation:
    """Run the model over ``data`` and score it; with ``halves`` also per half (fit/check).

    The model always runs over the whole series (it is causal); halves only split the scoring.
    """
    pred = predictions(data, params, oi_share)
    mid = len(data) // 2
    return Evaluation(
        all=section(pred, data, slice(None)),
        first=section(pred, data, slice(0, mid)) if halves else None,
        second=section(pred, data, slice(mid, None)) if halves else None,
        oi_share=oi_share,
    )
