"""Honest freshness (issue #11 items 5 and 6), through the CLI against the loopback exchange:
fresh means the data reaches the build time within [build] stale_after_hours; an exchange
that failed this run is named on the page and in the data JSON; min_fresh_share counts only
fresh symbols, so it fires while the store holds old data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from sitegen import cli
from sitegen.sources import live
from tests.fakex.harness import HOUR, NOW, options
from tests.fakex.server import FakeExchanges

ARGS = ["--exchanges", "okx,hyperliquid", "--symbols", "BTC/USDT:USDT,ETH/USDT:USDT"]


def write_cfg(tmp_path: Path, extra: str = "") -> list[str]:
    path = tmp_path / "liqmap.toml"
    path.write_text(
        '[data]\nretention_days = 2\nranges = ["12h"]\n[site]\nbase_url = "https://example.test/liqmap/"\n' + extra
    )
    return ["--config", str(path)]


def later(monkeypatch: pytest.MonkeyPatch, server: FakeExchanges, hours: int) -> None:
    """Move the exchange's and the fetcher's clock forward (both read it from the options)."""
    server.now_ms = NOW + hours * HOUR
    monkeypatch.setattr(live, "DEFAULT_OPTIONS", options(server, now_ms=server.now_ms))


@pytest.mark.slow  # whole-site renders: CI runs it with -m slow
def test_one_exchange_failing_is_named_on_the_page_and_in_the_json(server: FakeExchanges, tmp_path: Path) -> None:
    server.add_fault("okx", "status", times=None, status=503, body="service unavailable")
    out = tmp_path / "site"
    res = CliRunner().invoke(cli.main, ["build", *write_cfg(tmp_path), "--state", str(tmp_path / "st"),
                                        "--out", str(out), *ARGS])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "data" / "btc-usdt.json").read_text())
    assert data["failed_exchanges"] == ["okx"]
    assert data["exchanges"] == ["hyperliquid"]
    assert data["stale"] is False  # hyperliquid's data reaches the build time
    page = BeautifulSoup((out / "btc-usdt" / "index.html").read_bytes(), "html.parser")
    note = page.select_one("[data-failed-exchanges]")
    assert note is not None and "okx" in note.get_text()
    assert "failed this run on okx" in res.output


def test_all_exchanges_down_with_an_old_store_fails_the_gate(
    server: FakeExchanges, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One worker, in the build's own process: the gate is the point here, not the worker pool
    # (starting one costs seconds of CPU in processes the test only waits for).
    cfg = write_cfg(tmp_path, "[build]\nworkers = 1\n")
    state, out = str(tmp_path / "st"), tmp_path / "site"
    runner = CliRunner()
    assert runner.invoke(cli.main, ["fetch", *cfg, "--state", state, *ARGS]).exit_code == 0
    later(monkeypatch, server, 6)
    server.geo_block("okx")
    server.geo_block("hyperliquid")
    res = runner.invoke(cli.main, ["build", *cfg, "--state", state, "--out", str(out), *ARGS])
    assert res.exit_code != 0
    assert "only 0 of 2 symbols have fresh data" in res.output
    assert "more than 2 h before the build" in res.output
    assert not out.exists()


@pytest.mark.slow  # whole-site renders: CI runs it with -m slow
def test_stale_after_hours_is_honoured_and_old_data_is_published_marked_stale(
    server: FakeExchanges, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_cfg(tmp_path, "[build]\nstale_after_hours = 3\nmin_fresh_share = 0\n")
    state, out = str(tmp_path / "st"), tmp_path / "site"
    runner = CliRunner()
    assert runner.invoke(cli.main, ["fetch", *cfg, "--state", state, *ARGS]).exit_code == 0
    later(monkeypatch, server, 4)  # 4 h after the store's last bar, offline: older than 3 h
    res = runner.invoke(cli.main, ["build", *cfg, "--offline", "--state", state, "--out", str(out), *ARGS])
    assert res.exit_code == 0, res.output
    assert "0 fresh, 2 stale, 0 failed" in res.output
    data = json.loads((out / "data" / "eth-usdt.json").read_text())
    assert data["stale"] is True and data["stale_since"] == data["as_of"]
    page = BeautifulSoup((out / "eth-usdt" / "index.html").read_bytes(), "html.parser")
    badge = page.select_one("[data-stale-badge]")
    assert badge is not None and not badge.has_attr("hidden")
    assert badge["data-stale-after"] == "3.0"  # the setting, not a hard-coded 2 hours
    meth = (out / "methodology" / "index.html").read_text()
    assert "more than 3 hours old" in meth

    later(monkeypatch, server, 2)  # within 3 h: fresh again, no badge
    res = runner.invoke(cli.main, ["build", *cfg, "--offline", "--state", state, "--out", str(out), *ARGS])
    assert "2 fresh, 0 stale, 0 failed" in res.output, res.output
