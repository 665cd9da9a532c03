"""`liqmap fetch`, `liqmap build` (live) and `liqmap build --offline` through the CLI, with the
live source pointed at the loopback exchange server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen import cli
from sitegen.store import Store
from tests.fakex.server import FakeExchanges

# Fetch then build whole sites through the CLI: run by CI with -m slow.
pytestmark = pytest.mark.slow

ARGS = ["--exchanges", "okx,hyperliquid", "--symbols", "BTC/USDT:USDT,ETH/USDT:USDT"]


@pytest.fixture
def cfg(tmp_path: Path) -> list[str]:
    """A config that keeps two days (the fixtures hold four days of 5m bars)."""
    path = tmp_path / "liqmap.toml"
    path.write_text('[data]\nretention_days = 2\n[site]\nbase_url = "https://example.test/liqmap/"\n')
    return ["--config", str(path)]


def test_fetch_then_offline_build_from_the_store(
    server: FakeExchanges, tmp_path: Path, cfg: list[str]
) -> None:
    state = tmp_path / "state"
    runner = CliRunner()
    res = runner.invoke(cli.main, ["fetch", *cfg, "--state", str(state), *ARGS])
    assert res.exit_code == 0, res.output
    assert "Fetched 4 of 4 (exchange, symbol) pairs" in res.output
    with Store(state / "liqmap.sqlite") as st:
        assert st.count("candles", "okx", "BTC/USDT:USDT") > 0
        assert st.load_series("hyperliquid", "ETH/USDT:USDT") is not None
    n = server.count()
    out = tmp_path / "site"
    res = runner.invoke(cli.main, ["build", *cfg, "--offline", "--state", str(state), "--out", str(out), *ARGS])
    assert res.exit_code == 0, res.output
    assert server.count() == n  # --offline asks the exchanges nothing
    data = json.loads((out / "data" / "btc-usdt.json").read_text())
    assert "okx" in json.dumps(data) and "hyperliquid" in json.dumps(data)


def test_live_build_fetches_first(server: FakeExchanges, tmp_path: Path, cfg: list[str]) -> None:
    out = tmp_path / "site"
    res = CliRunner().invoke(
        cli.main, ["build", *cfg, "--state", str(tmp_path / "st"), "--out", str(out), *ARGS]
    )
    assert res.exit_code == 0, res.output
    assert server.count("okx", "candles") > 0
    assert (out / "btc-usdt" / "index.html").is_file()


def test_fetch_reports_a_blocked_exchange_and_exits_0_when_others_work(
    server: FakeExchanges, tmp_path: Path, cfg: list[str]
) -> None:
    server.geo_block("okx")
    res = CliRunner().invoke(cli.main, ["fetch", *cfg, "--state", str(tmp_path / "s"), *ARGS])
    assert res.exit_code == 0, res.output
    assert "okx: geo-blocked (HTTP 451)" in res.output
    assert "Fetched 2 of 4" in res.output


def test_fetch_exits_1_when_nothing_could_be_fetched(
    server: FakeExchanges, tmp_path: Path, cfg: list[str]
) -> None:
    server.geo_block("okx")
    server.geo_block("hyperliquid")
    res = CliRunner().invoke(cli.main, ["fetch", *cfg, "--state", str(tmp_path / "s"), *ARGS])
    assert res.exit_code == 1
    summary = [line for line in res.output.splitlines() if line.startswith("  ")]
    assert len(summary) == 2 and all("geo-blocked (HTTP 451)" in line for line in summary)
