"""The vectorised engine: hand-computed cases, the plain-Python oracle, chunking, fallbacks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sitegen.model import ModelInput, ModelParams, price_grid, run_model
from sitegen.model.engine import (
    entry_prices,
    first_reach,
    flows,
    heat_chunks,
    solve,
)
from sitegen.model.reference import run_model_loop

HOUR = 3_600_000
# one leverage, one entry point, the v1 engine (no same-bar path, no unlocated term, scale 1):
# the hand-computed cases below; the v2 terms have their own in test_model_v2.py
ONE = ModelParams(
    leverages=(10.0,), leverage_weights=(1.0,), entry_points=1, intrabar="off",
    unlocated_coef=0.0, usd_scale=1.0,
)
K = np.array([[0.9], [1.1]])  # liquidation at -10 % (long) / +10 % (short)


def bars(
    low: list[float], high: list[float], oi: list[float] | None, close: list[float] | None = None
) -> ModelInput:
    lo = np.array(low, float)
    hi = np.array(high, float)
    c = np.array(close, float) if close is not None else np.sqrt(lo * hi)
    t = lo.shape[0]
    return ModelInput(
        timestamp=np.arange(t, dtype=np.int64) * HOUR, open=c.copy(), high=hi, low=lo, close=c,
        volume=np.zeros(t), oi_usd=None if oi is None else np.array(oi, float), bar_ms=HOUR,
    )


def random_input(seed: int, t: int = 200, oi: bool = True) -> ModelInput:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, t)))
    o = np.concatenate([[100.0], c[:-1]])
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.004, t)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.004, t)))
    vol = rng.lognormal(3, 1, t)
    oi_arr = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.02, t))) if oi else None
    return ModelInput(np.arange(t, dtype=np.int64) * HOUR, o, h, lo, c, vol, oi_usd=oi_arr, bar_ms=HOUR)


def test_price_grid_is_log_spaced_and_covers() -> None:
    e = price_grid(100, 200, 1.0)
    assert e[0] == 100 and e[-1] >= 200 and e[-2] < 200
    assert np.allclose(e[1:] / e[:-1], 1.01)
    with pytest.raises(ValueError, match="low < high"):
        price_grid(200, 100, 1.0)


def test_hand_computed_open_liquidate_close() -> None:
    # bar 0: OI appears (change unknown, no volume -> nothing opens)
    # bar 1: flat at 100, OI +1000 -> 1000 long at 90, 1000 short at 110
    # bar 2: 95..105, nothing reached
    # bar 3: low 89 reaches the long level (1000 liquidated); OI -500 is explained by it
    # bar 4: OI -500 with no liquidation: closes 500 / 1500 = 1/3 of the shorts
    inp = bars([100, 100, 95, 89, 92], [100, 100, 105, 100, 99], [0, 1000, 1000, 1500, 1000])
    inp = ModelInput(**{**inp.__dict__, "oi_usd": np.array([1000, 2000, 2000, 1500, 1000.0])})
    edges = price_grid(50, 200, 0.5)
    r = run_model(inp, ONE, edges, multipliers=K)
    assert r.predicted_long.tolist() == pytest.approx([0, 0, 0, 1000, 0])
    assert r.predicted_short.tolist() == pytest.approx([0, 0, 0, 0, 0])
    assert r.heat_long.sum(axis=1).tolist() == pytest.approx([0, 1000, 1000, 0, 0])
    assert r.heat_short.sum(axis=1).tolist() == pytest.approx([0, 1000, 1000, 1000, 2000 / 3])
    row = int(np.searchsorted(edges, 110.0, side="right") - 1)
    assert r.heat_short[4, row] == pytest.approx(2000 / 3)
    s = solve(inp, ONE, K)
    assert s.closed_short.tolist() == pytest.approx([0, 0, 0, 0, 1000 / 3])


def test_no_same_bar_lookahead() -> None:
    # bar 1 opens at ~100 with a low of 85: its own long level (90) survives that bar
    inp = bars([100, 85, 95], [100, 100, 100], [1000, 2000, 2000])
    r = run_model(inp, ONE, price_grid(50, 200, 0.5), multipliers=K)
    assert r.heat_long[1].sum() > 0 and r.predicted_long[1] == 0


def test_engine_matches_plain_python_oracle() -> None:
    inp = random_input(3, t=160)
    params = ModelParams(decay_half_life_hours=30.0, entry_points=3)
    edges = price_grid(50, 200, 0.5)
    r = run_model(inp, params, edges, chunk_cells=20_000)  # many chunks
    ref = run_model_loop(inp, params, edges)
    scale = ref["scaled_heat"].max()
    assert np.abs(r.heat_long_by_leverage - ref["scaled_heat"][0]).max() <= 1e-6 * scale
    assert np.abs(r.heat_short_by_leverage - ref["scaled_heat"][1]).max() <= 1e-6 * scale
    assert np.allclose(r.predicted_long, ref["total"][0], rtol=1e-9, atol=1e-6)
    assert np.allclose(r.predicted_short, ref["total"][1], rtol=1e-9, atol=1e-6)
    s = solve(inp, params)
    assert np.allclose(s.closed_long, ref["closed"][0], rtol=1e-9, atol=1e-6)


def test_chunking_and_keep_last_do_not_change_numbers() -> None:
    inp = random_input(5, t=300)
    params = ModelParams(decay_half_life_hours=12.0)
    edges = price_grid(60, 160, 0.25)
    full = run_model(inp, params, edges)
    small = run_model(inp, params, edges, chunk_cells=5_000)
    tail = run_model(inp, params, edges, keep_last=50, by_leverage=False)
    assert np.allclose(full.heat_long, small.heat_long, rtol=1e-5, atol=1e-3)
    assert tail.heat_long.shape == (50, edges.shape[0] - 1)
    assert tail.heat_long_by_leverage.shape == (0, 50, edges.shape[0] - 1)
    assert np.allclose(full.heat_short[-50:], tail.heat_short, rtol=1e-5, atol=1e-3)
    assert np.array_equal(full.timestamp[-50:], tail.timestamp)
    assert np.allclose(full.heat_long_by_leverage.sum(axis=0), full.heat_long, rtol=1e-5, atol=1e-2)


def test_strong_decay_over_a_long_series_stays_finite() -> None:
    inp = random_input(9, t=3000)
    params = ModelParams(decay_half_life_hours=1.0)  # 2^-3000 overall: would underflow naively
    r = run_model(inp, params, price_grid(10, 1000, 1.0), keep_last=10)
    assert np.all(np.isfinite(r.heat_long)) and np.all(r.heat_long >= 0)
    assert r.heat_long[-1].sum() > 0  # recent positions are still there


def test_volume_fallback_when_open_interest_is_missing() -> None:
    inp = random_input(7, t=200, oi=False)
    r = run_model(inp, ModelParams(), price_grid(50, 200, 0.5))
    assert r.volume_model
    assert r.heat_long[-1].sum() > 0
    fl = flows(inp, ModelParams())
    assert fl.volume_bars.all() and np.isnan(fl.oi_prev).all()
    # new notional only on bars whose quote volume beats the trailing mean
    assert (fl.new_long > 0).sum() < 200


def test_partially_known_open_interest_uses_oi_where_known() -> None:
    inp = random_input(11, t=100)
    oi = inp.oi_usd.copy()
    oi[90:] = np.nan
    r = run_model(ModelInput(**{**inp.__dict__, "oi_usd": oi}), ModelParams())
    assert not r.volume_model  # 11 of 100 bars on volume


def test_taker_attribution_splits_by_taker_share() -> None:
    inp = random_input(13, t=50)
    tb = inp.volume * 0.75
    taker = ModelInput(**{**inp.__dict__, "taker_buy_volume": tb})
    fl = flows(taker, ModelParams(side_attribution="taker"))
    sym = flows(taker, ModelParams())
    assert np.allclose(fl.new_long, 1.5 * sym.new_long)
    assert np.allclose(fl.new_short, 0.5 * sym.new_short)


def test_first_reach_matches_a_scan() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=257)
    start = rng.integers(0, 258, size=500)
    level = rng.normal(size=500) - 1
    got = first_reach(x, start, level)
    for s, lv, g in zip(start, level, got, strict=True):
        hits = [i for i in range(s, 257) if x[i] <= lv]
        assert g == (hits[0] if hits else 257)


def test_entry_points_lie_in_the_bar_and_mirror() -> None:
    lo, hi, mode = np.array([90.0, 100.0]), np.array([110.0, 100.0]), np.array([95.0, 100.0])
    e = entry_prices(lo, hi, mode, 5)
    assert np.all(e >= lo[:, None] - 1e-9) and np.all(e <= hi[:, None] + 1e-9)
    assert np.all(np.diff(e[0]) > 0) and np.allclose(e[1], 100.0)
    m = entry_prices(1e4 / hi, 1e4 / lo, 1e4 / mode, 5)
    assert np.allclose(m[0], 1e4 / e[0][::-1])


def test_bad_input_is_rejected() -> None:
    inp = bars([100, -1], [101, 102], [1, 2], close=[100, 101])
    with pytest.raises(ValueError, match="non-positive"):
        run_model(inp, ModelParams())
    with pytest.raises(ValueError, match="weights"):
        run_model(bars([100, 99], [101, 102], [1, 2]), ModelParams(leverages=(5.0,)))


def test_heat_chunks_memory_is_bounded() -> None:
    inp = random_input(17, t=400)
    s = solve(inp, ModelParams())
    edges = price_grid(50, 200, 0.2)
    n_lev = s.leverages.shape[0]
    sizes = [
        blk.shape[2]
        for _, blk in heat_chunks(s.longs, s.shorts, s.log_f, edges, n_lev, chunk_cells=50_000)
    ]
    assert sum(sizes) == 400 and max(sizes) <= 50_000 // (2 * n_lev * (edges.shape[0] - 1)) + 1


def test_chunks_respect_row_limit_and_decay_span() -> None:
    from sitegen.model.engine import CHUNK_LOG_SPAN, _chunks

    log_f = -np.arange(1000, dtype=float)  # survival falls by e^-1 per bar
    parts = _chunks(log_f, 400, start=100)
    assert parts[0][0] == 100 and parts[-1][1] == 1000
    assert all(b - a <= 400 for a, b in parts)
    assert all(a == b for (_, a), (b, _) in itertools.pairwise(parts))
    for a, b in parts:
        base = log_f[a - 1] if a > 0 else 0.0
        assert log_f[b - 1] >= base - CHUNK_LOG_SPAN
