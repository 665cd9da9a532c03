"""Config loading: defaults, overrides, and messages that say what, where and how to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitegen.config import RANGES, load_config, slugify
from sitegen.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "liqmap.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_repo_config_matches_defaults() -> None:
    cfg = load_config(REPO / "liqmap.toml")
    assert cfg.symbols[:3] == ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
    assert len(cfg.symbols) >= 30  # issue 14 item 2; tests/test_symbol_list.py checks each
    assert cfg.exchanges == ("binanceusdm", "bybit", "okx", "hyperliquid")
    assert cfg.ranges == tuple(RANGES)
    assert cfg.base_url.endswith("/")
    assert len(cfg.model.leverages) == len(cfg.model.leverage_weights)


def test_flags_override_file(tmp_path: Path) -> None:
    p = write(tmp_path, '[data]\nsymbols = ["BTC/USDT:USDT"]\n[site]\nbase_url = "https://a.test/x"\n')
    cfg = load_config(p, symbols="ETH/USDT:USDT, SOL/USDT:USDT", out_dir=tmp_path / "o", base_url=None)
    assert cfg.symbols == ("ETH/USDT:USDT", "SOL/USDT:USDT")
    assert cfg.base_url == "https://a.test/x/"  # None flags leave the file's value; a slash is added
    assert cfg.out_dir == tmp_path / "o"


def test_slugify() -> None:
    assert slugify("BTC/USDT:USDT") == "btc-usdt"
    assert slugify("1000PEPE/USDC:USDC") == "1000pepe-usdc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[data]\nsymbols = ["BTCUSDT"]\n', "[data] symbols[0]: 'BTCUSDT' is not a unified perpetual symbol"),
        ('[data]\nsymbols = ["BTCUSDT"]\n', "did you mean 'BTC/USDT:USDT'?"),
        ('[data]\nexchanges = ["binance_usdm"]\n', "did you mean 'binanceusdm'?"),
        ("[data]\nsymbols = []\n", "must be a non-empty list"),
        ('[dta]\nsymbols = ["BTC/USDT:USDT"]\n', "unknown section [dta] (did you mean 'data'?)"),
        ('[site]\ntitel = "x"\n', "unknown key 'titel' (did you mean 'title'?)"),
        ('[site]\nbase_url = "example.com"\n', "must be an absolute http(s) URL"),
        ("[model]\nleverages = [5, 10]\n", "has 12 weights for 2 leverages"),
        ('[model]\nside_attribution = "random"\n', "must be 'symmetric' or 'taker'"),
        ("[model]\nbin_pct = -1\n", "bin_pct"),
        ("[build]\nmin_fresh_share = 2\n", "between 0 and 1"),
        ("[data\nsymbols = 1\n", "not valid TOML"),
        ('[data]\nranges = ["2w"]\n', "unknown range '2w'"),
    ],
)
def test_bad_config_says_what_and_where(tmp_path: Path, text: str, expected: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert expected in str(info.value)
    assert str(p) in str(info.value)
    assert info.value.exit_code == 2


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_bad_flag_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--symbols\[0\]"):
        load_config(None, symbols="btc")
