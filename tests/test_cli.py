"""The command line, driven in-process with click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen import __version__
from sitegen.cli import main


def test_help_shows_an_example() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "liqmap build --sample --out site" in result.output
    assert "build" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_build_help_lists_the_overrides() -> None:
    result = CliRunner().invoke(main, ["build", "--help"])
    assert result.exit_code == 0
    for flag in ("--config", "--sample", "--offline", "--out", "--symbols", "--base-url", "--state", "--standalone"):
        assert flag in result.output


def test_bad_config_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[data]\nsymbols = ["BTCUSDT"]\n', encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["build", "--sample", "--config", str(cfg), "--out", str(out)])
    assert result.exit_code == 2
    assert "bad.toml: [data] symbols[0]: 'BTCUSDT'" in result.output
    assert "did you mean 'BTC/USDT:USDT'?" in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [cfg]


def test_unknown_flag_value_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["build", "--sample", "--symbols", "nope", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "--symbols[0]" in result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.slow  # whole-site renders: CI runs it with -m slow
def test_build_sample_one_symbol(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(
        main, ["build", "--sample", "--symbols", "SOL/USDT:USDT", "--out", str(out), "--base-url", "https://x.test/"]
    )
    assert result.exit_code == 0, result.output
    assert "1 fresh, 0 stale, 0 failed" in result.output
    assert (out / "index.html").is_file()
    assert (out / "sol-usdt" / "index.html").is_file()
    data = json.loads((out / "data" / "sol-usdt.json").read_text(encoding="utf-8"))
    assert data["symbol"] == "SOL/USDT:USDT"
    assert not (out / "btc-usdt").exists()


def test_symbol_not_in_sample_fails_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["build", "--sample", "--symbols", "DOGE/USDT:USDT", "--out", str(out)])
    assert result.exit_code == 1
    assert "DOGE/USDT:USDT: not in the embedded sample" in result.output
    assert "nothing was written" in result.output
    assert not out.exists()
