"""A plain-Python, bar-by-bar implementation of the model: the oracle for the vectorised engine.

Slow on purpose (a loop over bars and positions). The tests check that
:func:`sitegen.model.engine.run_model` gives the same numbers, and
``benchmarks/bench_model.py`` times both on a small size.
"""

from __future__ import annotations

import math

import numpy as np

from sitegen.model.engine import MAX_CLOSE_SHARE, entry_prices, flows, multipliers, typical_price
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
    for t in range(t_n):
        for side in (0, 1):
            alive = []
            for pos in book[side]:
                crossed = low[t] <= pos[0] if side == 0 else high[t] >= pos[0]
                if crossed:
                    pred[side, t] += pos[3]
                else:
                    alive.append(pos)
            book[side] = alive
        share = 0.0
        prev = fl.oi_prev[t]
        if math.isfinite(prev) and prev > 0:
            share = min(max(fl.oi_drop[t] - pred[0, t] - pred[1, t], 0.0) / prev, MAX_CLOSE_SHARE)
        factor = (1.0 - share) * math.exp(fl.log_decay[t])
        for side in (0, 1):
            for pos in book[side]:
                closed[side, t] += pos[3] * (1.0 - factor)
                pos[3] *= factor
            for li in range(n_lev):
                for e in entries[t]:
                    usd = w[li] * new[side][t] / j
                    if usd <= 0:
                        continue
                    price = e * k[side, li]
                    row = int(np.searchsorted(price_edges, price, side="right")) - 1
                    row = row if 0 <= row < n_bins else -1
                    book[side].append([price, float(li), float(row), usd])
            for pos in book[side]:
                if pos[2] >= 0:
                    heat[side, int(pos[1]), t, int(pos[2])] += pos[3]
    return {"heat": heat, "predicted": pred, "closed": closed}
