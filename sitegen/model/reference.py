"""A plain-Python, bar-by-bar implementation of the model: the oracle for the vectorised engine.

Slow on purpose (a loop over bars and positions). Model v2: a new position can be
liquidated inside its own bar along the assumed path (O->L->H->C up, O->H->L->C down),
walked here segment by segment; the unlocated term and the dollar scale are applied to the
outputs exactly as the engine does. The tests check that
:func:`sitegen.model.engine.run_model` gives the same numbers, and
``benchmarks/bench_model.py`` times both on a small size.
"""

from __future__ import annotations

import math

import numpy as np

from sitegen.model.engine import (
    MAX_CLOSE_SHARE,
    PATH_SLACK,
    entry_prices,
    flows,
    multipliers,
    typical_price,
    unlocated,
    up_weight,
)
from sitegen.model.types import ModelInput, ModelParams


def run_model_loop(
    inp: ModelInput, params: ModelParams, price_edges: np.ndarray, mult: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Heat (2, L, T, B) float64 and predicted/closed liquidations (2, T) by simulation."""
    fl = flows(inp, params)
    k, lev, w = multipliers(params, inp.tiers, inp.margin_form)
    if mult is not None:
        k = np.asarray(mult, dtype=np.float64)
    low = np.asarray(inp.low, float)
    high = np.asarray(inp.high, float)
    j = max(int(params.entry_points), 1)
    entries = entry_prices(low, high, typical_price(inp), j)
    t_n, n_bins, n_lev = low.shape[0], price_edges.shape[0] - 1, lev.shape[0]
    heat = np.zeros((2, n_lev, t_n, n_bins))
    pred = np.zeros((2, t_n))
    closed = np.zeros((2, t_n))
    new = (fl.new_long, fl.new_short)
    # a position: [liquidation price, leverage index, row or -1 when off the grid, USD]
    book: list[list[list[float]]] = [[], []]
    opn = np.asarray(inp.open, float)
    close = np.asarray(inp.close, float)
    open_before = np.zeros((2, t_n))
    for t in range(t_n):
        for side in (0, 1):
            open_before[side, t] = sum(pos[3] for pos in book[side])
            alive = []
            for pos in book[side]:
                crossed = low[t] <= pos[0] if side == 0 else high[t] >= pos[0]
                if crossed:
                    pred[side, t] += pos[3]
                else:
                    alive.append(pos)
            book[side] = alive
        # new positions: the part their own bar liquidates, along the assumed path
        staged: list[list[list[float]]] = [[], []]
        for side in (0, 1):
            for li in range(n_lev):
                for e in entries[t]:
                    usd = w[li] * new[side][t] / j
                    if usd <= 0:
                        continue
                    price = e * k[side, li]
                    same = 0.0
                    if params.intrabar == "path":
                        same = _same_bar(opn[t], high[t], low[t], close[t], e, price, side)
                    pred[side, t] += usd * same
                    staged[side].append([price, float(li), usd * (1.0 - same)])
        share = 0.0
        prev = fl.oi_prev[t]
        if math.isfinite(prev) and prev > 0:
            share = min(max(fl.oi_drop[t] - pred[0, t] - pred[1, t], 0.0) / prev, MAX_CLOSE_SHARE)
        factor = (1.0 - share) * math.exp(fl.log_decay[t])
        for side in (0, 1):
            for pos in book[side]:
                closed[side, t] += pos[3] * (1.0 - factor)
                pos[3] *= factor
            for price, lev_i, usd in staged[side]:
                if usd <= 0:
                    continue
                row = int(np.searchsorted(price_edges, price, side="right")) - 1
                row = row if 0 <= row < n_bins else -1
                book[side].append([price, lev_i, float(row), usd])
            for pos in book[side]:
                if pos[2] >= 0:
                    heat[side, int(pos[1]), t, int(pos[2])] += pos[3]
    ul, us = unlocated(inp, float(params.unlocated_coef), fl, open_before)
    scale = float(params.usd_scale)
    total = scale * (pred + np.stack([ul, us]))
    return {
        "heat": heat, "predicted": pred, "closed": closed,
        "scaled_heat": heat * scale, "total": total,
    }


def _same_bar(o: float, h: float, lo: float, c: float, e: float, p: float, side: int) -> float:
    """Share of entries at ``e`` liquidated at ``p`` inside their own bar: walk the path.

    Each pass of the path through ``e`` carries an equal share; a pass counts when the rest
    of the path reaches ``p``. The rising and falling paths are weighted by ``up_weight``
    (half each for an unchanged close).
    """
    w = float(up_weight(o, c))
    paths = [(w, [o, lo, h, c]), (1.0 - w, [o, h, lo, c])]
    out = 0.0
    for weight, pts in paths:
        passes = hits = 0
        for i in range(3):
            a, b = pts[i], pts[i + 1]
            if min(a, b) * (1 - PATH_SLACK) <= e <= max(a, b) * (1 + PATH_SLACK):
                passes += 1
                rest = pts[i + 1 :]
                if (min(rest) <= p) if side == 0 else (max(rest) >= p):
                    hits += 1
        out += weight * hits / max(passes, 1)
    return out
