"""Views of a model result: multi-exchange aggregate, clusters, cumulative curves. numpy only."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sitegen.model.types import Cluster, ModelResult


def aggregate(results: Sequence[ModelResult]) -> ModelResult:
    """Sum several exchanges' results on one price grid (USD adds up).

    Timestamps: the **union** of all bars. An exchange without a bar at some time contributes
    its last earlier heat row (positions persist between its bars) and no predicted
    liquidations; before its first bar it contributes nothing. ``close`` is taken from the
    first result (in the given order) that has the bar. Per-leverage arrays are summed by
    leverage position when every result has them; otherwise they are empty (0, T, B).
    All results must share ``price_edges`` exactly; ``ValueError`` otherwise.
    """
    if not results:
        raise ValueError("aggregate() needs at least one model result")
    if len(results) == 1:
        return results[0]
    edges = results[0].price_edges
    for r in results[1:]:
        if r.price_edges.shape != edges.shape or not np.array_equal(r.price_edges, edges):
            raise ValueError(
                "aggregate() needs every result on the same price grid: pass one "
                "price_edges array to run_model for all exchanges"
            )
    ts = np.unique(np.concatenate([r.timestamp for r in results]))
    t, n_bins = ts.shape[0], edges.shape[0] - 1
    n_lev = len(results[0].leverages)
    with_lev = all(
        r.heat_long_by_leverage.shape[0] == n_lev and len(r.leverages) == n_lev for r in results
    )
    heat_l = np.zeros((t, n_bins), np.float32)
    heat_s = np.zeros((t, n_bins), np.float32)
    lev_l = np.zeros((n_lev if with_lev else 0, t, n_bins), np.float32)
    lev_s = np.zeros_like(lev_l)
    pred_l = np.zeros(t)
    pred_s = np.zeros(t)
    close = np.full(t, np.nan)
    for r in results:
        idx = np.searchsorted(r.timestamp, ts, side="right") - 1  # last row at or before
        has = idx >= 0
        src = idx[has]
        heat_l[has] += r.heat_long[src]
        heat_s[has] += r.heat_short[src]
        if with_lev:
            lev_l[:, has] += r.heat_long_by_leverage[:, src]
            lev_s[:, has] += r.heat_short_by_leverage[:, src]
        exact = has & (r.timestamp[np.maximum(idx, 0)] == ts)
        pred_l[exact] += r.predicted_long[idx[exact]]
        pred_s[exact] += r.predicted_short[idx[exact]]
        fill = exact & np.isnan(close)
        close[fill] = r.close[idx[fill]]
    # bars no result has exactly cannot occur (ts is the union), so close is complete
    leverages = results[0].leverages
    if any(r.leverages != leverages for r in results):
        leverages = tuple(float(x) for x in results[0].params.leverages)
    exchanges: tuple[str, ...] = tuple(dict.fromkeys(e for r in results for e in r.exchanges))
    return ModelResult(
        timestamp=ts,
        close=close,
        price_edges=edges,
        heat_long=heat_l,
        heat_short=heat_s,
        heat_long_by_leverage=lev_l,
        heat_short_by_leverage=lev_s,
        predicted_long=pred_l,
        predicted_short=pred_s,
        leverages=leverages,
        params=results[0].params,
        volume_model=any(r.volume_model for r in results),
        exchanges=exchanges,
    )


def _row_of(edges: np.ndarray, price: float) -> int:
    """Index of the price row that holds ``price``, clipped to the grid."""
    return int(np.clip(np.searchsorted(edges, price, side="right") - 1, 0, edges.shape[0] - 2))


def cumulative(result: ModelResult) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative liquidation curves at the last bar, USD, each shape (B,).

    ``long[b]``: long notional liquidated if price falls from the last close to row ``b``
    (sum of rows ``b`` .. the close's row; 0 above the close's row). ``short[b]``: short
    notional liquidated if price rises to row ``b`` (0 below the close's row). Long is
    non-increasing in price, short non-decreasing.
    """
    return cumulative_curves(result.price_edges, result.map_long, result.map_short, float(result.close[-1]))


def cumulative_curves(
    edges: np.ndarray, long_map: np.ndarray, short_map: np.ndarray, last: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cumulative` for any pair of maps (B,) on ``edges`` (B+1,) and a last price, USD
    (float64): the per-leverage-group curves of the page use it too."""
    k = _row_of(edges, last)
    ml = np.asarray(long_map, dtype=np.float64)
    ms = np.asarray(short_map, dtype=np.float64)
    long_cum = np.zeros_like(ml)
    short_cum = np.zeros_like(ms)
    long_cum[: k + 1] = np.cumsum(ml[: k + 1][::-1])[::-1]
    short_cum[k:] = np.cumsum(ms[k:])
    return long_cum, short_cum


def _window_max(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """max(x[i - left : i + right + 1]) with -inf padding (vectorised, O(B x window))."""
    pad = np.concatenate([np.full(left, -np.inf), x, np.full(right, -np.inf)])
    win = np.lib.stride_tricks.sliding_window_view(pad, left + right + 1)
    return win.max(axis=1)


def _side_clusters(
    values: np.ndarray, edges: np.ndarray, side: str, last: float, half: int
) -> list[Cluster]:
    n = values.shape[0]
    if n == 0 or not np.any(values > 0):
        return []
    right = _window_max(values, 0, half)  # rows i .. i + half
    left = _window_max(np.concatenate([[-np.inf], values[:-1]]), half - 1, 0)  # i - half .. i - 1
    # peak: positive, strictly above its left side within `half` (ties go to the lowest
    # row), and at least as large as its right side
    peaks = np.flatnonzero((values > 0) & (values > left) & (values >= right))
    if peaks.size == 0:
        return []
    rows = np.arange(n)
    # assign each row to its nearest peak; rows farther than `half` rows belong to none
    pos = np.clip(np.searchsorted(peaks, rows), 1, peaks.size - 1) if peaks.size > 1 else None
    if pos is None:
        nearest = np.zeros(n, dtype=np.int64)
    else:
        lo, hi = peaks[pos - 1], peaks[pos]
        nearest = np.where(np.abs(rows - lo) <= np.abs(hi - rows), pos - 1, pos)
    dist = np.abs(rows - peaks[nearest])
    member = (dist <= half) & (values > 0)
    usd = np.bincount(nearest[member], weights=values[member], minlength=peaks.size).astype(float)
    centers = np.sqrt(edges[:-1] * edges[1:])
    wsum = np.bincount(nearest[member], weights=values[member] * centers[member], minlength=peaks.size)
    price = np.where(usd > 0, wsum / np.where(usd > 0, usd, 1.0), centers[peaks])
    return [
        Cluster(side, float(p), float(u), float((p / last - 1.0) * 100.0))
        for p, u in zip(price, usd, strict=True)
        if u > 0
    ]


def clusters(result: ModelResult, top: int = 10, min_gap_pct: float = 0.5) -> list[Cluster]:
    """The ``top`` largest liquidation bands at the last bar, both sides, largest first.

    A band is a local peak of the liquidation map (no larger row within ``min_gap_pct``
    percent) plus the rows nearer to it than to any other peak, up to ``min_gap_pct`` away.
    ``price`` is the notional-weighted centre of the band, ``usd`` its total.
    """
    edges = result.price_edges
    step = math.log(float(edges[1] / edges[0]))
    half = max(1, round(math.log1p(min_gap_pct / 100.0) / step))
    last = float(result.close[-1])
    out = _side_clusters(result.map_long, edges, "long", last, half)
    out += _side_clusters(result.map_short, edges, "short", last, half)
    out.sort(key=lambda c: c.usd, reverse=True)
    return out[: max(int(top), 0)]
