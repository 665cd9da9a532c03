"""Liquidation prices per exchange: real Binance position rows, hand-computed Bybit/OKX cases."""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitegen.model import liqprice as lp
from sitegen.model.engine import leverage_set, multipliers
from sitegen.model.tiers import packaged_tiers
from sitegen.model.types import ModelParams
from sitegen.series import LeverageTier

DATA = Path(__file__).parent / "data" / "model"


def _ccxt_fixture() -> dict:
    return json.loads((DATA / "ccxt_binance_positions.json").read_text())


def _btc_brackets() -> np.ndarray:
    """ccxt's recorded BTC/USDT:USDT brackets ([floor, mmr] pairs) as a TierTable."""
    pairs = _ccxt_fixture()["options"]["leverageBrackets"]["BTC/USDT:USDT"]
    floors = [float(f) for f, _ in pairs]
    mmrs = [float(m) for _, m in pairs]
    caps = [*floors[1:], floors[-1] * 10]
    cum = lp.cum_from_rates(floors, mmrs)
    return np.column_stack([floors, caps, mmrs, cum, np.full(len(floors), 125.0)])


def _linear_rows() -> list[dict]:
    rows = []
    for case in _ccxt_fixture()["methods"]["fetchPositions"]:
        for raw, parsed in zip(case["httpResponse"], case["parsedResponse"], strict=False):
            if raw["symbol"] == "BTCUSDT":
                rows.append({"raw": raw, "parsed": parsed})
    return rows


def test_fixture_has_the_real_binance_rows() -> None:
    rows = _linear_rows()
    assert len(rows) == 2
    assert {r["raw"]["liquidationPrice"] for r in rows} == {"64846.98753790", "64846.78939917"}


@pytest.mark.parametrize("row", _linear_rows(), ids=["case1", "case2"])
def test_binance_maintenance_margin_to_the_cent(row: dict) -> None:
    raw = row["raw"]
    notional = float(raw["notional"])  # quantity x mark price
    assert notional == pytest.approx(float(raw["positionAmt"]) * float(raw["markPrice"]), abs=0.005)
    mm = float(lp.maintenance_margin(notional, _btc_brackets()))
    assert mm == pytest.approx(float(raw["maintMargin"]), abs=0.005)


@pytest.mark.parametrize("row", _linear_rows(), ids=["case1", "case2"])
def test_binance_liquidation_price_to_the_cent(row: dict) -> None:
    """Binance's liquidationPrice from entry, size, bracket and the position's margin.

    The rows are cross-margin with one position, so the margin is the wallet balance that
    ccxt reports as ``collateral``; the isolated formula with ``L = Q * E / margin`` is then
    Binance's formula exactly.
    """
    raw, parsed = row["raw"], row["parsed"]
    qty = float(raw["positionAmt"])
    entry = float(raw["entryPrice"])
    margin = float(parsed["collateral"])
    mmr, cum, _ = lp.tier_lookup(float(raw["notional"]), _btc_brackets())
    leverage = qty * entry / margin
    price = float(lp.liq_price_long(entry, leverage, mmr, cum, qty))
    assert price == pytest.approx(float(raw["liquidationPrice"]), abs=0.01)


def test_binance_hand_computed_second_bracket() -> None:
    # 2 BTC at 50,000 (100k notional: bracket 2, mmr 0.5 %, cum 50), 20x isolated:
    # 5000 + 2 (P - 50000) = 0.005 * 2 P - 50  ->  P = 94950 / 1.99
    tiers = packaged_tiers("binanceusdm", "BTC/USDT:USDT")
    mmr, cum, max_lev = lp.tier_lookup(100_000.0, tiers)
    assert (float(mmr), float(cum), float(max_lev)) == (0.005, 50.0, 100.0)
    assert float(lp.liq_price_long(50_000, 20, mmr, cum, 2)) == pytest.approx(94950 / 1.99, abs=1e-6)
    # short: 5000 - 2 (P - 50000) = 0.01 P - 50  ->  P = 105050 / 2.01
    assert float(lp.liq_price_short(50_000, 20, mmr, cum, 2)) == pytest.approx(105050 / 2.01, abs=1e-6)


def test_binance_small_position_first_bracket() -> None:
    assert float(lp.liq_price_long(100, 10, 0.004)) == pytest.approx(90 / 0.996)
    assert float(lp.liq_price_short(100, 10, 0.004)) == pytest.approx(110 / 1.004)


def test_bybit_hand_computed() -> None:
    """Bybit charges maintenance at the entry price: P = E - (IM - MM) / Q."""
    # 0.1 BTC at 60,000, 50x, tier 1 (0.5 %, no deduction)
    assert float(lp.liq_price_long(60_000, 50, 0.005, 0, 0.1, form="bybit")) == pytest.approx(59_100)
    assert float(lp.liq_price_short(60_000, 50, 0.005, 0, 0.1, form="bybit")) == pytest.approx(60_900)
    # 2.3M notional (tier 2: 0.56 %, deduction 1200) at 60,000, 50x:
    qty = 2_300_000 / 60_000
    im = 2_300_000 / 50
    mm = 2_300_000 * 0.0056 - 1200
    tiers = packaged_tiers("bybit", "BTC/USDT:USDT")
    mmr, ded, _ = lp.tier_lookup(2_300_000, tiers)
    assert (float(mmr), float(ded)) == (0.0056, 1200.0)
    got = float(lp.liq_price_long(60_000, 50, mmr, ded, qty, form="bybit"))
    assert got == pytest.approx(60_000 - (im - mm) / qty, abs=1e-6)
    assert got == pytest.approx(59_104.696, abs=0.001)


def test_okx_hand_computed_with_fee() -> None:
    """OKX: margin + PnL = (mmr + fee) x notional at the liquidation price, no deduction."""
    # 1 ETH at 3000, 20x, mmr 0.4 %, taker fee 0.05 %: P = 3000 * 0.95 / (1 - 0.0045)
    got = float(lp.liq_price_long(3000, 20, 0.004, 123.0, 1.0, form="okx", fee_rate=0.0005))
    assert got == pytest.approx(2850 / 0.9955)
    got_s = float(lp.liq_price_short(3000, 20, 0.004, 0.0, 1.0, form="okx", fee_rate=0.0005))
    assert got_s == pytest.approx(3150 / 1.0045)


@settings(max_examples=200, deadline=None)
@given(
    entry=st.floats(1.0, 1e6),
    leverage=st.floats(1.0, 125.0),
    notional=st.floats(10.0, 5e8),
)
def test_binance_formula_is_the_margin_equilibrium(entry: float, leverage: float, notional: float) -> None:
    """At the liquidation price, margin + PnL equals the maintenance margin at that price."""
    tiers = packaged_tiers("binanceusdm", "BTC/USDT:USDT")
    qty = notional / entry
    mmr, cum, _ = lp.tier_lookup(notional, tiers)
    margin = notional / leverage
    p_long = float(lp.liq_price_long(entry, leverage, mmr, cum, qty))
    p_short = float(lp.liq_price_short(entry, leverage, mmr, cum, qty))
    scale = notional * 1e-9 + 1e-9
    assert margin + qty * (p_long - entry) == pytest.approx(qty * p_long * mmr - cum, abs=scale)
    assert margin - qty * (p_short - entry) == pytest.approx(qty * p_short * mmr - cum, abs=scale)


def test_cum_matches_binance_and_bybit_published_amounts() -> None:
    """cum / mm deduction follow the continuity rule on the real tables."""
    text = resources.files("sitegen.model.tiers").joinpath("tiers.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    for exchange, symbol in (("binanceusdm", "BTC/USDT:USDT"), ("binanceusdm", "SOL/USDT:USDT"),
                             ("bybit", "BTC/USDT:USDT")):
        sel = [r for r in rows if r["exchange"] == exchange and r["symbol"] == symbol]
        floors = [float(r["floor"]) for r in sel]
        mmrs = [float(r["mmr"]) for r in sel]
        published = np.array([float(r["cum"]) for r in sel])
        assert np.allclose(lp.cum_from_rates(floors, mmrs), published, atol=0.005), (exchange, symbol)


def test_tier_conversions() -> None:
    t = lp.tier_table([LeverageTier(50_000, 600_000, 0.005, 50, 100), LeverageTier(0, 50_000, 0.004, 0, 125)])
    assert t is not None and t.shape == (2, 5) and t[0, 0] == 0
    assert lp.tier_table([]) is None
    open_ended = lp.tier_table([LeverageTier(0, float("inf"), 0.0125, 0, 40)])  # one flat tier
    assert open_ended is not None and float(lp.tier_lookup(1e9, open_ended)[2]) == 40
    with pytest.raises(ValueError, match="NaN"):
        lp.validate_tiers(np.array([[0, 1, float("nan"), 0, 10]]))
    by = lp.bybit_tiers([2_000_000, 2_600_000], [0.005, 0.0056], [100, 90])
    assert by[1].tolist() == [2_000_000, 2_600_000, 0.0056, pytest.approx(1200), 90]
    ok = lp.okx_tiers([1000, 2000], 0.01, 50_000, [0.004, 0.005], [100, 75])
    assert ok[:, 1].tolist() == [500_000, 1_000_000] and ok[:, 3].tolist() == [0, 0]
    with pytest.raises(ValueError, match="strictly increasing"):
        lp.validate_tiers(np.array([[0, 1, 0.01, 0, 10], [0, 2, 0.02, 0, 5]], float))
    with pytest.raises(ValueError, match="unknown margin form"):
        lp.liq_price_long(1, 2, 0.01, form="kraken")


def test_packaged_okx_tiers_convert_base_to_usd() -> None:
    t = packaged_tiers("okx", "BTC/USDT:USDT", price=50_000)
    assert t is not None and t[0, 1] == pytest.approx(500_000)
    assert packaged_tiers("okx", "BTC/USDT:USDT") is None  # needs a price
    assert packaged_tiers("kraken", "BTC/USDT:USDT") is None


def test_leverage_capped_by_bracket_and_never_divides_mmr_by_leverage() -> None:
    tiers = packaged_tiers("binanceusdm", "SOL/USDT:USDT")  # bracket 1 allows 100x
    params = ModelParams(leverages=(10.0, 150.0), leverage_weights=(1.0, 3.0))
    lev, w, mmr, cum = leverage_set(params, tiers)
    assert lev.tolist() == [10.0, 100.0] and w.tolist() == [0.25, 0.75]
    assert (mmr, cum) == (0.005, 0.0)
    k, _, _ = multipliers(params, tiers)
    assert k[0, 0] == pytest.approx(0.9 / (1 - 0.005))  # m not divided by L
    assert k[1, 1] == pytest.approx(1.01 / 1.005)


def test_margin_form_by_exchange() -> None:
    """The form comes from each exchange's adapter; the model only knows the forms."""
    from sitegen.sources.adapters import ADAPTERS

    forms = {e: a.margin_form for e, a in ADAPTERS.items()}
    assert forms == {"binanceusdm": "binance", "bybit": "bybit", "okx": "okx", "hyperliquid": "binance"}
    assert set(forms.values()) <= set(lp.MARGIN_FORMS)
