"""Issue 14 item 2: a real default symbol list, and a symbol an exchange does not list is
skipped there with a calm note ("not listed on okx"), never an error or a stale mark.

The listing check reads the recorded market lists in tests/data/exchange/listed_perps.csv
(see its README); the skip is shown through the loopback exchange with real ccxt."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from sitegen import cli
from sitegen.build import _StoreSource, sample_symbols
from sitegen.config import DEFAULT_SYMBOLS, load_config
from sitegen.errors import NotListed
from sitegen.sources.exchanges import UnknownSymbol, resolve_symbol
from sitegen.sources.sample import SAMPLE_SYMBOLS
from sitegen.store import Store
from tests.fakex.harness import run_fetch
from tests.fakex.server import FakeExchanges

LISTED = Path(__file__).resolve().parent / "data" / "exchange" / "listed_perps.csv"


def recorded_markets() -> dict[str, dict[str, dict[str, bool]]]:
    """{exchange: {ccxt market symbol: market}} from the recorded lists."""
    out: dict[str, dict[str, dict[str, bool]]] = {}
    with LISTED.open(newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["exchange"], {})[row["market"]] = {"swap": True}
    return out


def test_default_list_is_thirty_plus_usdt_perps_listed_on_the_recorded_markets() -> None:
    symbols = load_config(None).symbols
    assert symbols == DEFAULT_SYMBOLS and len(symbols) >= 30
    assert all(s.endswith("/USDT:USDT") for s in symbols)
    markets = recorded_markets()
    assert set(markets) == {"binanceusdm", "hyperliquid"}
    for exchange, listed in markets.items():
        # the existing symbol rule (Hyperliquid reads BASE/USDT:USDT as BASE/USDC:USDC)
        resolved = {s: resolve_symbol(exchange, s, listed) for s in symbols}
        assert len(set(resolved.values())) == len(symbols), exchange
    # the rule does not invent a listing: a recorded Binance-only perp is not on Hyperliquid
    try:
        resolve_symbol("hyperliquid", "1000PEPE/USDT:USDT", markets["hyperliquid"])
    except UnknownSymbol as e:
        assert "not listed on hyperliquid" in str(e)
    else:
        raise AssertionError("1000PEPE resolved on hyperliquid")


def test_the_sample_build_stays_three_symbols() -> None:
    assert sample_symbols(load_config(None)).symbols == SAMPLE_SYMBOLS
    one = load_config(None, symbols=["ETH/USDT:USDT", "XRP/USDT:USDT"])
    assert sample_symbols(one).symbols == ("ETH/USDT:USDT",)


def test_a_symbol_missing_from_one_exchange_is_skipped_there_and_the_others_fetched(
    server: FakeExchanges, tmp_path: Path
) -> None:
    server.formats.unlisted = {"okx": {"ETH"}}
    db = tmp_path / "st" / "liqmap.sqlite"
    db.parent.mkdir()
    report = run_fetch(server, db, exchanges=("okx", "hyperliquid"),
                       symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"))
    assert report.failed == ()
    assert [(r.exchange, r.symbol, r.message) for r in report.unlisted] == [
        ("okx", "ETH/USDT:USDT", "not listed on okx")
    ]
    assert {(r.exchange, r.symbol) for r in report.ok} == {
        ("okx", "BTC/USDT:USDT"), ("hyperliquid", "BTC/USDT:USDT"), ("hyperliquid", "ETH/USDT:USDT")
    }
    assert report.messages == ("ETH/USDT:USDT: not listed on okx",)
    assert server.count("okx", "ETH-USDT") == 0  # no request for a market that is not there
    with Store(db) as st:
        assert st.count("candles", "okx", "ETH/USDT:USDT") == 0
        assert st.count("candles", "hyperliquid", "ETH/USDT:USDT") > 0
        assert st.last_error("okx", "ETH/USDT:USDT") == "not listed on okx"


def test_a_market_delisted_since_the_last_fetch_is_skipped_not_drawn_from_old_rows(
    server: FakeExchanges, tmp_path: Path
) -> None:
    db = tmp_path / "liqmap.sqlite"
    run_fetch(server, db, exchanges=("okx",), symbols=("ETH/USDT:USDT",))
    server.formats.unlisted = {"okx": {"ETH"}}
    report = run_fetch(server, db, exchanges=("okx",), symbols=("ETH/USDT:USDT",))
    assert report.failed == () and len(report.unlisted) == 1
    with Store(db) as st:
        assert st.count("candles", "okx", "ETH/USDT:USDT") > 0  # rows of before stay stored
    with pytest.raises(NotListed, match=r"^not listed on okx$"):
        _StoreSource(db).load("okx", "ETH/USDT:USDT")


@pytest.mark.slow  # two whole-site builds: CI runs it with -m slow
def test_the_build_notes_it_calmly_on_the_page_and_in_the_json(server: FakeExchanges, tmp_path: Path) -> None:
    server.formats.unlisted = {"okx": {"ETH"}}
    cfg = tmp_path / "liqmap.toml"
    cfg.write_text('[data]\nretention_days = 2\nranges = ["12h"]\n[site]\nbase_url = "https://example.test/liqmap/"\n')
    args = ["--config", str(cfg), "--state", str(tmp_path / "st"), "--exchanges", "okx,hyperliquid",
            "--symbols", "ETH/USDT:USDT"]
    for extra in ([], ["--offline"]):  # the offline build reads the fetch's note from the store
        out = tmp_path / f"site{len(extra)}"
        res = CliRunner().invoke(cli.main, ["build", *args, *extra, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "note: ETH/USDT:USDT: not listed on okx (skipped there)" in res.output
        assert "failed" not in res.output.split("Wrote")[1].split("\n", 1)[1]  # no failure note
        data = json.loads((out / "data" / "eth-usdt.json").read_text())
        assert data["unlisted_exchanges"] == ["okx"]
        assert data["failed_exchanges"] == [] and data["exchanges"] == ["hyperliquid"]
        assert data["stale"] is False
        page = BeautifulSoup((out / "eth-usdt" / "index.html").read_bytes(), "html.parser")
        note = page.select_one("[data-unlisted-exchanges]")
        assert note is not None and note.get_text().startswith("Not listed on okx")
        assert page.select_one("[data-failed-exchanges]") is None
        assert page.select_one("[data-stale-badge]").has_attr("hidden")
