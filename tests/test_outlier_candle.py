"""Issue 11 item 9: one absurd candle (high x10,000, low /10,000) is clipped, with a note.

Before: it was stored as is; the price grid stretched over eight orders of magnitude, the
map had 0 rows at 10 % and the page grew from 84 KB to 488 KB. Real ccxt against the
loopback exchange, a real SQLite store, a real offline build.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitegen.build import build_site
from sitegen.config import load_config
from sitegen.sources.validate import clip_outliers
from sitegen.store import Store
from tests.fakex.data import load_universe
from tests.fakex.harness import NOW, run_fetch
from tests.fakex.server import FakeExchanges

# The pages and files are the point here, not the image bytes (conftest.quick_png).
pytestmark = pytest.mark.usefixtures("quick_png")

BTC = "BTC/USDT:USDT"
UNIVERSE = load_universe()


def test_clip_outliers_by_hand() -> None:
    rows = [(i * 300_000, 100.0, 101.0, 99.0, 100.0, 5.0, None) for i in range(9)]
    rows[4] = (4 * 300_000, 100.0, 1_000_000.0, 0.01, 100.5, 5.0, None)  # absurd wick
    rows[6] = (6 * 300_000, 100.0, 1e6, 1e5, 1e6, 5.0, None)  # absurd body: dropped
    out, notes = clip_outliers(rows)
    assert len(out) == 8 and all(r[0] != 6 * 300_000 for r in out)
    assert out[4] == (4 * 300_000, 100.0, 100.5, 100.0, 100.5, 5.0, None)
    assert out[:4] == rows[:4]
    assert any(n.startswith("dropped 1 bar(s)") for n in notes)
    assert any(n.startswith("clipped the wick of 1 bar(s)") and "1970-01-01 00:20 UTC" in n for n in notes)
    # a real crash (-40 % in one bar) is a market move, left alone
    crash = [(i * 300_000, 100.0, 101.0, 99.0, 100.0, 5.0, None) for i in range(9)]
    crash[4] = (4 * 300_000, 100.0, 100.0, 60.0, 70.0, 5.0, None)
    assert clip_outliers(crash) == (crash, [])
    assert clip_outliers(rows[:2]) == (rows[:2], [])  # too few neighbours to judge


@pytest.fixture
def server() -> Iterator[FakeExchanges]:
    with FakeExchanges(UNIVERSE, NOW) as srv:
        srv.enforce_limits = False
        yield srv


def test_absurd_candle_from_the_exchange_is_clipped_and_the_map_survives(
    server: FakeExchanges, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fault = server.add_fault("binanceusdm", "absurd", "klines", times=None)
    db = tmp_path / "state" / "liqmap.sqlite"
    with caplog.at_level(logging.WARNING, logger="sitegen.sources.live"):
        report = run_fetch(server, db, exchanges=("binanceusdm",), symbols=(BTC,),
                           page_limits={"binanceusdm": 200})
    assert fault.hits >= 1 and report.symbols[0].ok
    assert any("clipped the wick" in r.getMessage() and "neighbours" in r.getMessage() for r in caplog.records)
    served = {b[0]: b for b in UNIVERSE["BTC"].candles["5m"]}
    with Store(db) as st:
        rows = st.candle_rows("binanceusdm", BTC, "5m")
    assert rows
    for r in rows:
        ts, o, h, lo, c = r[:5]
        assert h < 2 * max(o, c) and lo > 0.5 * min(o, c), r  # nothing absurd was stored
        want = served[ts]
        assert (o, c) == (want[1], want[4])  # bodies are the exchange's
    out = tmp_path / "site"
    config = load_config(None, out_dir=out, state_dir=db.parent, symbols=BTC, exchanges="binanceusdm",
                         ranges="12h")  # one range: the map is the same for every range
    build_site(config, offline=True, now=datetime.fromtimestamp(NOW / 1000, UTC))
    data = json.loads((out / "data" / "btc-usdt.json").read_text())
    lm = data["liquidation_map"]
    assert 10 < len(lm["price_low"]) < 5000
    assert sum(lm["long_usd"]) + sum(lm["short_usd"]) > 0
    assert max(lm["price_high"]) < 3 * data["last_price"]
