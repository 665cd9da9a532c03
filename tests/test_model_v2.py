"""Model v2 terms: intrabar path, unlocated liquidations, gross flows, dollar scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitegen.model import ModelInput, ModelParams, price_grid, run_model
from sitegen.model.engine import adverse_moves, flows, same_bar_share, solve
from sitegen.model.reference import _same_bar, run_model_loop

HOUR = 3_600_000
V2 = ModelParams(
    leverages=(3.0, 10.0, 50.0), leverage_weights=(0.5, 0.3, 0.2), entry_points=3,
    decay_half_life_hours=20.0, intrabar="path", unlocated_coef=2.5, usd_scale=0.7,
)


def random_input(seed: int, t: int = 150) -> ModelInput:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.012, t)))
    o = np.concatenate([[100.0], c[:-1]])
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.006, t)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.006, t)))
    oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.03, t)))
    return ModelInput(np.arange(t, dtype=np.int64) * HOUR, o, h, lo, c, np.zeros(t), oi_usd=oi, bar_ms=HOUR)


def test_same_bar_share_hand_computed() -> None:
    # up bar O=100 -> L=80 -> H=110 -> C=105; long entry 95, level 85.5: the pass on O->L
    # sees the low (hit), the pass on L->H only sees C afterwards (miss): 1/2
    assert same_bar_share(100.0, 110.0, 80.0, 105.0, 95.0, 85.5, 0) == pytest.approx(0.5)
    # short at 104.5 from the same entry: both passes see H = 110 afterwards
    assert same_bar_share(100.0, 110.0, 80.0, 105.0, 95.0, 104.5, 1) == pytest.approx(1.0)
    # down bar O=105 -> H=110 -> L=80 -> C=100: long entry 95 passes on H->L (hit) and L->C
    assert same_bar_share(105.0, 110.0, 80.0, 100.0, 95.0, 85.5, 0) == pytest.approx(0.5)
    # a level the bar never reaches is never liquidated in it
    assert same_bar_share(100.0, 110.0, 80.0, 105.0, 95.0, 79.0, 0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    st.floats(90, 110), st.floats(90, 110), st.floats(0, 0.1), st.floats(0, 0.1),
    st.floats(0, 1), st.floats(0.001, 0.2), st.integers(0, 1),
)
def test_same_bar_share_matches_a_walk_along_the_path(
    o: float, c: float, up: float, down: float, u: float, dist: float, side: int
) -> None:
    h = max(o, c) * (1 + up)
    lo = min(o, c) * (1 - down)
    e = lo + u * (h - lo)
    p = e * (1 - dist) if side == 0 else e * (1 + dist)  # levels lie beyond the entry
    got = float(same_bar_share(o, h, lo, c, e, p, side))
    assert got == pytest.approx(_same_bar(o, h, lo, c, e, p, side))
    # the mirror image (prices -> K / price) swaps the sides
    m = 1e4
    assert got == pytest.approx(float(same_bar_share(m / o, m / lo, m / h, m / c, m / e, m / p, 1 - side)))


def test_engine_matches_oracle_with_every_v2_term_on() -> None:
    inp = random_input(11)
    edges = price_grid(40, 250, 0.5)
    r = run_model(inp, V2, edges, chunk_cells=20_000)
    ref = run_model_loop(inp, V2, edges)
    scale = ref["scaled_heat"].max()
    assert np.abs(r.heat_long_by_leverage - ref["scaled_heat"][0]).max() <= 1e-6 * scale
    assert np.abs(r.heat_short_by_leverage - ref["scaled_heat"][1]).max() <= 1e-6 * scale
    assert np.allclose(r.predicted_long, ref["total"][0], rtol=1e-9, atol=1e-6)
    assert np.allclose(r.predicted_short, ref["total"][1], rtol=1e-9, atol=1e-6)
    s = solve(inp, V2)
    assert s.longs.same_bar.sum() > 0 and s.shorts.same_bar.sum() > 0  # the path term is used


def test_unlocated_zero_changes_nothing_and_scales_with_squared_move() -> None:
    inp = random_input(3)
    off = ModelParams(**{**V2.__dict__, "unlocated_coef": 0.0})
    a, b = solve(inp, off), solve(inp, V2)
    assert np.array_equal(a.predicted_long, b.predicted_long)  # levels untouched
    assert not a.unlocated_long.any() and not a.unlocated_short.any()
    ml, ms = adverse_moves(inp)
    prev = np.concatenate([[inp.oi_usd[0]], inp.oi_usd[:-1]])
    assert np.allclose(b.unlocated_long, 2.5 * prev * ml**2)
    assert np.allclose(b.unlocated_short, 2.5 * prev * ms**2)
    ra, rb = run_model(inp, off), run_model(inp, V2)
    assert np.array_equal(ra.heat_long, rb.heat_long)
    assert np.allclose(rb.predicted_long - ra.predicted_long, 0.7 * b.unlocated_long)


def test_usd_scale_scales_every_output() -> None:
    inp = random_input(5)
    one = ModelParams(**{**V2.__dict__, "usd_scale": 1.0})
    edges = price_grid(40, 250, 0.5)
    r1, r2 = run_model(inp, one, edges), run_model(inp, V2, edges)
    assert np.allclose(r2.heat_long, 0.7 * r1.heat_long, rtol=1e-6)
    assert np.allclose(r2.predicted_short, 0.7 * r1.predicted_short, rtol=1e-12)
    with pytest.raises(ValueError, match="usd_scale"):
        solve(inp, ModelParams(usd_scale=0.0))


def test_gross_flows_replace_the_net_change() -> None:
    inp = random_input(9, t=20)
    up = np.full(20, 5e4)
    down = np.full(20, 3e4)
    down[4] = np.nan  # unknown: that bar keeps the net change
    g = ModelInput(**{**inp.__dict__, "oi_up_usd": up, "oi_down_usd": down})
    net, gross = flows(inp, V2), flows(g, V2)
    assert gross.new_long[1] == 5e4 and gross.oi_drop[1] == 3e4
    assert gross.new_long[4] == net.new_long[4] and gross.oi_drop[4] == net.oi_drop[4]
    assert gross.new_long[0] == net.new_long[0]  # first bar: no previous OI, volume fallback
    # more gross opening and closing: more positions enter the book
    assert solve(g, V2).new_long.sum() > solve(inp, V2).new_long.sum()


def test_intrabar_off_is_the_v1_engine() -> None:
    inp = random_input(2)
    s = solve(inp, ModelParams(**{**V2.__dict__, "intrabar": "off"}))
    assert not s.longs.same_bar.any()
    assert np.all(s.longs.liq_bar > s.longs.bar)
    with pytest.raises(ValueError, match="intrabar"):
        solve(inp, ModelParams(intrabar="sideways"))


def test_finer_open_interest_gives_gross_flows_per_bar() -> None:
    from sitegen.model.adapt import gross_open_interest_flows
    from sitegen.series import OpenInterest

    five = 300_000
    # 5m open interest at the close of each 5m period: 0..23 -> two hourly bars
    ts = np.arange(24, dtype=np.int64) * five
    vals = np.array([100, 110, 105, 120, 90, 95, 100, 100, 130, 125, 120, 121] * 2, float)
    got = gross_open_interest_flows(np.array([0, HOUR], np.int64), HOUR, OpenInterest("5m", ts, vals))
    assert got is not None
    up, down = got
    # bar 0 (0, 1h]: observations at 5m..60m: 11 changes inside it, one short of 12: unknown
    assert np.isnan(up[0]) and np.isnan(down[0])
    # bar 1 (1h, 2h]: the change into 65m (121 -> 100) and the 11 inside
    steps = np.diff(vals)[11:23]
    assert up[1] == pytest.approx(steps[steps > 0].sum())
    assert down[1] == pytest.approx(-steps[steps < 0].sum())
    # hourly open interest under hourly bars: nothing finer, the net change is used
    assert gross_open_interest_flows(np.array([0], np.int64), HOUR, OpenInterest("1h", ts * 12, vals)) is None


def test_model_v2_keys_are_validated(tmp_path: Path) -> None:  # config: small local checks
    from sitegen.config import load_config
    from sitegen.errors import ConfigError

    p = tmp_path / "c.toml"
    p.write_text('[model]\nintrabar = "sideways"\n')
    with pytest.raises(ConfigError, match="intrabar: must be 'path' or 'off'"):
        load_config(p)
    p.write_text("[model]\nusd_scale = 0\n")
    with pytest.raises(ConfigError, match=r"usd_scale: must be between 0\.0001 and 100"):
        load_config(p)
    p.write_text('[model]\nunlocated_coef = 0\nintrabar = "off"\nusd_scale = 1\n')
    m = load_config(p).model
    assert (m.unlocated_coef, m.intrabar, m.usd_scale) == (0.0, "off", 1.0)
