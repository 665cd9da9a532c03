"""Configuration: ``liqmap.toml`` merged with command-line overrides, validated once.

``load_config(path, **overrides)`` is the only entry point. Every problem raises
:class:`~sitegen.errors.ConfigError` with a message that says what is wrong, where, and
how to fix it.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sitegen.errors import ConfigError
from sitegen.model.types import ModelParams

KNOWN_EXCHANGES = ("binanceusdm", "bybit", "okx", "hyperliquid")
# Range name -> (timeframe the page uses, number of bars shown).
RANGES: dict[str, tuple[str, int]] = {
    "12h": ("5m", 144),
    "24h": ("5m", 288),
    "3d": ("5m", 864),
    "1w": ("5m", 2016),
    "1m": ("1h", 720),
    "3m": ("1h", 2160),
}
SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{2,10}:[A-Z0-9]{2,10}$")
DEFAULT_CONFIG_NAME = "liqmap.toml"


def slugify(symbol: str) -> str:
    """``BTC/USDT:USDT`` -> ``btc-usdt``; the page URL of a symbol."""
    base, _, rest = symbol.partition("/")
    quote = rest.split(":")[0]
    return f"{base}-{quote}".lower()


# Characters a base URL may not contain anywhere: whitespace and controls (a newline would
# inject lines into robots.txt), quotes and angle brackets (attribute and XML breakers),
# backslash (browsers read it as "/").
_BASE_URL_BAD = re.compile(r"[\x00-\x20\x7f\"'`<>\\{}|^]")


def check_base_url(value: object) -> str:
    """The site's base URL, normalised to end with ``/``; ``ValueError`` says what is wrong.

    Only an absolute ``http(s)://host[:port]/path`` is accepted: no whitespace, quotes or
    angle brackets, no user name or password, no query string or fragment (they would end
    up inside every canonical URL, the sitemap and the feed).
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    bad = _BASE_URL_BAD.search(value)
    if bad:
        raise ValueError(
            f"must be an absolute http(s) URL without spaces, quotes or control characters; "
            f"{value!r} contains {bad.group()!r} at position {bad.start()}"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"is not a valid URL ({e}), got {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http(s) URL like 'https://me.github.io/heat/', got {value!r}")
    if "?" in value or "#" in value:
        raise ValueError(f"must not have a query string or fragment ('?' or '#'), got {value!r}")
    if "@" in parts.netloc:
        raise ValueError(f"must not contain a user name or password, got {value!r}")
    del port  # read only so that a bad port fails here
    return value if value.endswith("/") else value + "/"


def check_slug_collisions(symbols: list[str] | tuple[str, ...]) -> dict[int, str]:
    """Indexes of symbols whose page slug is taken by an earlier one, with the reason.

    ``BTC/USDT:USDT`` and ``BTC/USDT:BTC`` differ only by settle currency and would share
    ``btc-usdt/``: navigation would list BTC twice and one data file carry the wrong symbol.
    """
    seen: dict[str, str] = {}
    clashes: dict[int, str] = {}
    for i, symbol in enumerate(symbols):
        slug = slugify(symbol)
        if slug in seen:
            clashes[i] = (
                f"{symbol!r} and {seen[slug]!r} would share the page {slug}/ (they differ only by "
                "settle currency); list one of them"
            )
        else:
            seen[slug] = symbol
    return clashes


def check_state_outside_out(state_dir: Path, out_dir: Path) -> None:
    """``ValueError`` when the store folder is the output folder or inside it.

    Every build replaces the output folder with the new site: a store kept in it would be
    at the mercy of each swap (and published with the site).
    """
    state = Path(os.path.realpath(state_dir))
    out = Path(os.path.realpath(out_dir))
    if state == out or out in state.parents:
        raise ValueError(
            f"the store folder {state_dir} is inside the output folder {out_dir}, which every "
            "build replaces and publishes; put the store beside it (e.g. --state .liqmap)"
        )


@dataclass(frozen=True)
class Config:
    title: str = "liqmap: open crypto liquidation heatmaps"
    base_url: str = "https://liqmap.github.io/liqmap/"
    out_dir: Path = Path("site")
    symbols: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
    exchanges: tuple[str, ...] = KNOWN_EXCHANGES
    ranges: tuple[str, ...] = tuple(RANGES)
    state_dir: Path = Path(".liqmap")
    retention_days: int = 120
    proxy_env: str = "LIQMAP_PROXY"
    model: ModelParams = field(default_factory=ModelParams)
    min_fresh_share: float = 0.5
    stale_after_hours: float = 2.0
    source_file: str = "<defaults>"

    @property
    def slugs(self) -> dict[str, str]:
        return {s: slugify(s) for s in self.symbols}


# (section, key) -> Config attribute
_KEYS: dict[tuple[str, str], str] = {
    ("site", "title"): "title",
    ("site", "base_url"): "base_url",
    ("site", "out_dir"): "out_dir",
    ("data", "symbols"): "symbols",
    ("data", "exchanges"): "exchanges",
    ("data", "ranges"): "ranges",
    ("data", "state_dir"): "state_dir",
    ("data", "retention_days"): "retention_days",
    ("data", "proxy_env"): "proxy_env",
    ("build", "min_fresh_share"): "min_fresh_share",
    ("build", "stale_after_hours"): "stale_after_hours",
}
_MODEL_KEYS = {f.name for f in fields(ModelParams)}


def _close_match(word: str, options: list[str]) -> str:
    import difflib

    m = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean '{m[0]}'?)" if m else f" (known: {', '.join(options)})"


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Read ``path`` (or ``./liqmap.toml`` when it exists), apply non-None overrides, validate.

    Overrides use the attribute names of :class:`Config` (``symbols``, ``out_dir``,
    ``base_url``, ``state_dir``, ...).
    """
    raw: dict[str, Any] = {}
    where = "<defaults>"
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = DEFAULT_CONFIG_NAME
    if path is not None:
        p = Path(path)
        where = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"{p}: config file not found (create it, or pass --config with an existing file)"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: cannot read config file: {e}") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e} (fix the syntax at that line)") from None

    values: dict[str, Any] = {}
    model_values: dict[str, Any] = {}
    for section, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"{where}: '{section}' must be a table like [{section}]"
                f"{_close_match(section, ['site', 'data', 'model', 'build'])}"
            )
        if section == "model":
            for key, value in table.items():
                if key not in _MODEL_KEYS:
                    raise ConfigError(
                        f"{where}: [model] unknown key '{key}'{_close_match(key, sorted(_MODEL_KEYS))}"
                    )
                model_values[key] = value
            continue
        if section not in ("site", "data", "build"):
            raise ConfigError(
                f"{where}: unknown section [{section}]"
                f"{_close_match(section, ['site', 'data', 'model', 'build'])}"
            )
        known = [k for (s, k) in _KEYS if s == section]
        for key, value in table.items():
            if (section, key) not in _KEYS:
                raise ConfigError(f"{where}: [{section}] unknown key '{key}'{_close_match(key, known)}")
            values[_KEYS[(section, key)]] = (value, f"[{section}] {key}")

    for key, value in overrides.items():
        if value is None:
            continue
        if key in _MODEL_KEYS:
            model_values[key] = value
        else:
            values[key] = (value, f"--{key.replace('_', '-')}")
    return _validate(values, model_values, where)


def _validate(values: dict[str, Any], model_values: dict[str, Any], where: str) -> Config:
    out: dict[str, Any] = {"source_file": where}

    def err(origin: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: {origin}: {msg}")

    for name, (value, origin) in values.items():
        if name in ("title", "base_url", "proxy_env"):
            if not isinstance(value, str) or not value.strip():
                raise err(origin, f"must be a non-empty string, got {value!r}")
            if name == "base_url":
                try:
                    value = check_base_url(value)
                except ValueError as e:
                    raise err(origin, str(e)) from None
            out[name] = value
        elif name in ("out_dir", "state_dir"):
            if not isinstance(value, str | Path) or not str(value).strip():
                raise err(origin, f"must be a path, got {value!r}")
            out[name] = Path(value)
        elif name == "symbols":
            if isinstance(value, str):
                value = [s.strip() for s in value.split(",") if s.strip()]
            if not isinstance(value, list | tuple) or not value:
                raise err(origin, "must be a non-empty list of ccxt symbols like 'BTC/USDT:USDT'")
            syms = []
            for i, s in enumerate(value):
                if not isinstance(s, str) or not SYMBOL_RE.match(s):
                    hint = ""
                    if isinstance(s, str) and re.match(r"^[A-Z0-9]+USDT$", s.upper()):
                        base = s.upper()[:-4]
                        hint = f" (did you mean '{base}/USDT:USDT'?)"
                    raise err(
                        f"{origin}[{i}]",
                        f"{s!r} is not a unified perpetual symbol BASE/QUOTE:SETTLE{hint}",
                    )
                if s in syms:
                    raise err(f"{origin}[{i}]", f"{s!r} is listed twice")
                syms.append(s)
            for i, why in check_slug_collisions(syms).items():
                raise err(f"{origin}[{i}]", why)
            out[name] = tuple(syms)
        elif name == "exchanges":
            if isinstance(value, str):
                value = [s.strip() for s in value.split(",") if s.strip()]
            if not isinstance(value, list | tuple) or not value:
                raise err(origin, f"must be a non-empty list of: {', '.join(KNOWN_EXCHANGES)}")
            for i, e in enumerate(value):
                if e not in KNOWN_EXCHANGES:
                    raise err(f"{origin}[{i}]", f"unknown exchange {e!r}{_close_match(str(e), list(KNOWN_EXCHANGES))}")
            out[name] = tuple(dict.fromkeys(value))
        elif name == "ranges":
            if isinstance(value, str):
                value = [s.strip() for s in value.split(",") if s.strip()]
            if not isinstance(value, list | tuple) or not value:
                raise err(origin, f"must be a non-empty list of: {', '.join(RANGES)}")
            for i, r in enumerate(value):
                if r not in RANGES:
                    raise err(f"{origin}[{i}]", f"unknown range {r!r}{_close_match(str(r), list(RANGES))}")
            out[name] = tuple(r for r in RANGES if r in value)
        elif name == "retention_days":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise err(origin, f"must be a whole number of days >= 1, got {value!r}")
            out[name] = value
        elif name in ("min_fresh_share", "stale_after_hours"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise err(origin, f"must be a number, got {value!r}")
            if name == "min_fresh_share" and not 0 <= value <= 1:
                raise err(origin, f"must be between 0 and 1, got {value!r}")
            if name == "stale_after_hours" and value <= 0:
                raise err(origin, f"must be > 0 hours, got {value!r}")
            out[name] = float(value)
    out["model"] = _validate_model(model_values, where)
    config = Config(**out)
    try:
        check_state_outside_out(config.state_dir, config.out_dir)
    except ValueError as e:
        origin = values.get("state_dir", values.get("out_dir", (None, "[data] state_dir")))[1]
        raise err(origin, str(e)) from None
    return config


def _validate_model(values: dict[str, Any], where: str) -> ModelParams:
    def err(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: [model] {key}: {msg}")

    clean: dict[str, Any] = {}
    defaults = ModelParams()
    for key, value in values.items():
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            if not isinstance(value, list | tuple) or not value or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                for v in value
            ):
                raise err(key, f"must be a non-empty list of positive numbers, got {value!r}")
            clean[key] = tuple(float(v) for v in value)
        elif isinstance(default, str):
            if key == "side_attribution" and value not in ("symmetric", "taker"):
                raise err(key, f"must be 'symmetric' or 'taker', got {value!r}")
            clean[key] = value
        elif isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise err(key, f"must be a whole number >= 1, got {value!r}")
            clean[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise err(key, f"must be a number >= 0, got {value!r}")
            clean[key] = float(value)
    params = ModelParams(**{**{f.name: getattr(defaults, f.name) for f in fields(ModelParams)}, **clean})
    if len(params.leverages) != len(params.leverage_weights):
        raise err(
            "leverage_weights",
            f"has {len(params.leverage_weights)} weights for {len(params.leverages)} leverages "
            "(give one weight per leverage)",
        )
    if any(lev < 1 or lev > 200 for lev in params.leverages):
        raise err("leverages", f"each leverage must be between 1 and 200, got {list(params.leverages)}")
    if not 0.01 <= params.bin_pct <= 5:
        raise err("bin_pct", f"must be between 0.01 and 5 percent, got {params.bin_pct}")
    return params
