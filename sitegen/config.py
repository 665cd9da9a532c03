"""Configuration: ``liqmap.toml`` merged with command-line overrides, validated once.

Every setting is declared once, below, as a field of :class:`Config` (or of
:class:`ModelSettings` for ``[model]``) made with :func:`setting`: its section, type, bounds,
default and help text. The loader, the documented ``liqmap.toml`` (:func:`document`, written by
``python -m sitegen.config > liqmap.toml``) and the methodology page's parameter table all
follow from those declarations. This module is plain data: it imports nothing of the model,
so loading a config does not load numpy; ``build`` turns :class:`ModelSettings` into the
model's ``ModelParams``.

``load_config(path, **overrides)`` is the only entry point. Every problem raises
:class:`~sitegen.errors.ConfigError` with a message that says what is wrong, where, and
how to fix it.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sitegen.errors import ConfigError

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
# How many bars of each timeframe the model runs over: the longest range of that timeframe
# plus warm-up, so positions opened before the visible window are on the map (the build reads
# this many; the store keeps them, see ``keep_days``).
MODEL_BARS = {"5m": 3 * RANGES["1w"][1], "1h": RANGES["3m"][1] + RANGES["1m"][1]}
# Extra days the store keeps beyond what the model reads: a skipped hourly run or two, and the
# bars a shifting window needs, are never refetched.
KEEP_MARGIN_DAYS = {"5m": 1.0, "1h": 2.0}
_TF_MINUTES = {"5m": 5, "1h": 60}


def keep_days(timeframe: str, cap_days: float) -> float:
    """Days of ``timeframe`` bars the store keeps (and a first fetch asks for): what the pages
    read (``MODEL_BARS``) plus a margin, at most ``cap_days`` ([data] retention_days).
    5m: 21 + 1 = 22 days; 1h: 120 + 2 = 122 days (open interest and funding follow 1h)."""
    need = MODEL_BARS[timeframe] * _TF_MINUTES[timeframe] / 1440 + KEEP_MARGIN_DAYS[timeframe]
    return min(need, float(cap_days))


# The one spelling of a unified perpetual symbol; the JSON schemas carry the same pattern
# (tests/test_schemas.py checks they agree).
SYMBOL_PATTERN = r"^[A-Z0-9]{1,20}/[A-Z0-9]{2,10}:[A-Z0-9]{2,10}$"
SYMBOL_RE = re.compile(SYMBOL_PATTERN)
DEFAULT_CONFIG_NAME = "liqmap.toml"
# The default symbol list: 32 large, liquid USDT-margined perpetuals, each listed in both real
# recorded market lists in tests/data/exchange/listed_perps.csv (Binance USDⓈ-M and
# Hyperliquid; tests/test_symbol_list.py checks it). Bybit and OKX list them too as far as we
# know, but no recording of their lists was at hand: an exchange that does not list one is
# skipped for it with a note ("not listed on okx"), never an error. The embedded sample has
# BTC, ETH and SOL only; `liqmap build --sample` builds those.
DEFAULT_SYMBOLS = tuple(f"{base}/USDT:USDT" for base in (
    "BTC", "ETH", "SOL", "XRP", "BNB", "DOGE", "ADA", "TRX", "LINK", "AVAX", "SUI", "TON", "LTC",
    "BCH", "DOT", "XLM", "HBAR", "NEAR", "APT", "UNI", "AAVE", "ARB", "OP", "ATOM", "FIL", "ETC",
    "INJ", "TIA", "WLD", "SEI", "ENA", "ONDO",
))
SECTIONS = ("site", "data", "model", "build")


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
class Setting:
    """How one setting is read, bounded and documented.

    ``kind`` is one of: ``str``, ``url``, ``path``, ``int``, ``float``, ``floats`` (a list of
    numbers), ``choice``, ``symbols``, ``exchanges``, ``ranges``. ``lo``/``hi`` bound a number
    (each item of ``floats``); ``zero_ok`` also admits 0 below ``lo`` (0 = "off").
    """

    section: str
    kind: str
    help: str
    lo: float | None = None
    hi: float | None = None
    zero_ok: bool = False
    choices: tuple[str, ...] = ()
    note: str = ""  # an inline comment in the documented liqmap.toml

    def bounds_text(self) -> str:
        if self.lo is None and self.hi is None:
            return ""
        text = f"between {self.lo:g} and {self.hi:g}" if self.hi is not None else f">= {self.lo:g}"
        return f"0 (off) or {text}" if self.zero_ok else text


def setting(section: str, kind: str, default: Any, help: str, **kw: Any) -> Any:
    """Declare one setting: a dataclass field whose metadata is its :class:`Setting`."""
    meta = {"setting": Setting(section, kind, help, **kw)}
    if isinstance(default, list | dict):
        raise TypeError("use a tuple for list defaults")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ModelSettings:
    """``[model]``: every assumption of the model, as plain values.

    To add a model parameter: add the field to ``sitegen.model.types.ModelParams`` and one
    ``setting("model", ...)`` line here with the same name and default
    (tests/test_settings.py checks the two agree); the loader, ``liqmap.toml`` and the
    methodology page follow.
    """

    leverages: tuple[float, ...] = setting(
        "model", "floats", (2.0, 2.91, 4.24, 6.18, 9.0, 13.1, 19.1, 27.8, 40.5, 58.9, 85.8, 125.0),
        "Leverages (x) new positions are opened at, each capped by the bracket's maximum", lo=1, hi=200,
        note="12 log-spaced leverages, 2x to 125x")
    leverage_weights: tuple[float, ...] = setting(
        "model", "floats",
        (0.1914, 0.1587, 0.1315, 0.1089, 0.0902, 0.0748, 0.0619, 0.0513, 0.0425, 0.0353, 0.0292, 0.0242),
        "Share of new notional at each leverage (normalised to sum 1)", lo=0.0001, hi=1000,
        note="proportional to L^-0.5, calibrated")
    side_attribution: str = setting(
        "model", "choice", "symmetric", "How new open interest is split between longs and shorts",
        choices=("symmetric", "taker"), note='or "taker"')
    entry_points: int = setting(
        "model", "int", 5, "Entry prices spread over each bar", lo=1, hi=64, note="calibrated")
    decay_half_life_hours: float = setting(
        "model", "float", 0.0, "Extra decay of all positions, half-life in hours", lo=1, hi=10_000,
        zero_ok=True, note="0 = positions live until liquidated or closed by falling OI")
    intrabar: str = setting(
        "model", "choice", "path",
        "Same-bar liquidation along the assumed intrabar path (O-L-H-C up bar, O-H-L-C down bar)",
        choices=("path", "off"), note='"off" = never in the opening bar (v1)')
    unlocated_coef: float = setting(
        "model", "float", 0.5,
        "Unlocated liquidations per bar = this x open interest x (adverse log move)^2, predicted series only",
        lo=0, hi=100, note="0 = none; calibrated")
    usd_scale: float = setting(
        "model", "float", 0.175, "Pooled dollar scale on every model output, model USD per USD of OI flow",
        lo=0.0001, hi=100, note="calibrated")
    bin_pct: float = setting("model", "float", 0.2, "Price grid step, percent", lo=0.05, hi=5)
    grid_span_pct: float = setting(
        "model", "float", 30.0, "The price grid covers the last close +- this percent (and the traded range)",
        lo=1, hi=100)
    position_notional_usd: float = setting(
        "model", "float", 10_000.0,
        "Typical position size, USD: picks the maintenance bracket and max leverage", lo=1, hi=1e9)
    volume_ma_bars: int = setting(
        "model", "int", 48, "Volume model (no open interest): moving-average window, bars", lo=1, hi=5000)
    volume_oi_ratio: float = setting(
        "model", "float", 0.10,
        "Volume model: new notional per USD of volume above its average", lo=0, hi=10)
    volume_decay_half_life_hours: float = setting(
        "model", "float", 48.0, "Volume model: positions fade with this half-life, hours", lo=1, hi=10_000)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# [build] workers = 0 uses one worker per CPU core, at most this many (each takes a few
# hundred MB for the symbol it holds).
MAX_AUTO_WORKERS = 4


def build_workers(configured: int) -> int:
    """Worker processes for ``[build] workers`` (0 = one per core, capped)."""
    return configured if configured > 0 else max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


@dataclass(frozen=True)
class Config:
    title: str = setting("site", "str", "liqmap: open crypto liquidation heatmaps", "Site title")
    base_url: str = setting(
        "site", "url", "https://liqmap.github.io/liqmap/",
        "Absolute URL the site is published at (canonical links, sitemap, feed, Open Graph)")
    # Path is immutable, so a Path default is safe to share (RUF009 does not know it).
    out_dir: Path = setting("site", "path", Path("site"), "Where `liqmap build` writes the site")  # noqa: RUF009
    symbols: tuple[str, ...] = setting(
        "data", "symbols", DEFAULT_SYMBOLS,
        "Unified ccxt symbols (perpetual swaps). Page URLs use slugs: BTC/USDT:USDT -> btc-usdt. "
        "An exchange that does not list one is skipped for it, with a note",
        note="32 large USDT perps listed on Binance and Hyperliquid (see tests/data/exchange/README.md)")
    exchanges: tuple[str, ...] = setting(
        "data", "exchanges", KNOWN_EXCHANGES,
        "ccxt exchange ids. Hyperliquid lists USDC perps: BTC/USDT:USDT is read there as BTC/USDC:USDC")
    ranges: tuple[str, ...] = setting(
        "data", "ranges", tuple(RANGES), "Page ranges; a range is published only where the data covers it")
    state_dir: Path = setting("data", "path", Path(".liqmap"), "Local store of fetched history (SQLite)")  # noqa: RUF009
    retention_days: int = setting(
        "data", "int", 130,
        "At most this many days of history per timeframe in the store. It keeps what the pages read plus a "
        "margin (5m bars: 22 days, 1h bars, open interest and funding: 122 days), or less when this is "
        "smaller; a first fetch asks only for that, and older rows are pruned", lo=1, hi=730)
    backfill_budget_s: float = setting(
        "data", "float", 420.0,
        "Seconds after the start of a fetch at which it stops fetching older history (the backfill); every "
        "symbol is brought up to now first, whatever this says. The next runs go on from where it stopped, "
        "newest first, and the longer ranges are published as the history covers them",
        lo=1, hi=86_400, zero_ok=True, note="0 = no limit: fetch all history in one run")
    proxy_env: str = setting(
        "data", "str", "LIQMAP_PROXY",
        "Environment variable that holds an HTTPS proxy URL for exchanges that block the runner")
    model: ModelSettings = field(default_factory=ModelSettings)
    min_fresh_share: float = setting(
        "build", "float", 0.5, "The build succeeds when at least this share of symbols has fresh data",
        lo=0, hi=1)
    stale_after_hours: float = setting(
        "build", "float", 2.0,
        "Data that ends more than this many hours before the build is stale (not fresh), and its page says so",
        lo=0.1, hi=720)
    workers: int = setting(
        "build", "int", 0,
        "Worker processes that model and render symbols in parallel (each holds one symbol at a time)",
        lo=1, hi=64, zero_ok=True,
        note=f"0 = one per CPU core, at most {MAX_AUTO_WORKERS}; 1 = all in the build's own process")
    source_file: str = "<defaults>"


def declared(cls: type = Config) -> dict[str, Setting]:
    """{attribute name: Setting} of ``cls`` in declaration order."""
    return {f.name: f.metadata["setting"] for f in fields(cls) if "setting" in f.metadata}


def _default(cls: type, name: str) -> Any:
    f = next(f for f in fields(cls) if f.name == name)
    if f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


def _close_match(word: str, options: list[str]) -> str:
    m = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean '{m[0]}'?)" if m else f" (known: {', '.join(options)})"


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Read ``path`` (or ``./liqmap.toml`` when it exists), apply non-None overrides, validate.

    Overrides use the attribute names of :class:`Config` (``symbols``, ``out_dir``,
    ``base_url``, ``state_dir``, ...) or of :class:`ModelSettings`.
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

    top, model = declared(Config), declared(ModelSettings)
    values: dict[str, tuple[Any, str]] = {}
    model_values: dict[str, tuple[Any, str]] = {}
    for section, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"{where}: '{section}' must be a table like [{section}]{_close_match(section, list(SECTIONS))}"
            )
        if section not in SECTIONS:
            raise ConfigError(f"{where}: unknown section [{section}]{_close_match(section, list(SECTIONS))}")
        known = model if section == "model" else {k: s for k, s in top.items() if s.section == section}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(
                    f"{where}: [{section}] unknown key '{key}'{_close_match(key, sorted(known))}"
                )
            (model_values if section == "model" else values)[key] = (value, f"[{section}] {key}")

    for key, value in overrides.items():
        if value is None:
            continue
        origin = f"--{key.replace('_', '-')}"
        if key in model:
            model_values[key] = (value, origin)
        elif key in top:
            values[key] = (value, origin)
        else:
            raise TypeError(f"load_config: unknown override {key!r}")
    out: dict[str, Any] = {"source_file": where}
    for name, (value, origin) in values.items():
        out[name] = _check(top[name], value, f"{where}: {origin}")
    out["model"] = _validate_model(model_values, where)
    config = Config(**out)
    try:
        check_state_outside_out(config.state_dir, config.out_dir)
    except ValueError as e:
        origin = values.get("state_dir", values.get("out_dir", (None, "[data] state_dir")))[1]
        raise ConfigError(f"{where}: {origin}: {e}") from None
    return config


def _number_ok(s: Setting, v: float) -> bool:
    if s.zero_ok and v == 0:
        return True
    return (s.lo is None or v >= s.lo) and (s.hi is None or v <= s.hi)


def _names(value: Any) -> Any:
    return [x.strip() for x in value.split(",") if x.strip()] if isinstance(value, str) else value


def _check(s: Setting, value: Any, where: str) -> Any:
    """The clean value of one setting, or a ConfigError that names ``where``."""

    def err(msg: str, sub: str = "") -> ConfigError:
        return ConfigError(f"{where}{sub}: {msg}")

    if s.kind in ("str", "url"):
        if not isinstance(value, str) or not value.strip():
            raise err(f"must be a non-empty string, got {value!r}")
        if s.kind == "url":
            try:
                value = check_base_url(value)
            except ValueError as e:
                raise err(str(e)) from None
        return value
    if s.kind == "path":
        if not isinstance(value, str | Path) or not str(value).strip():
            raise err(f"must be a path, got {value!r}")
        return Path(value)
    if s.kind == "choice":
        if value not in s.choices:
            raise err(f"must be {' or '.join(repr(c) for c in s.choices)}, got {value!r}")
        return value
    if s.kind in ("int", "float"):
        whole = s.kind == "int"
        if isinstance(value, bool) or not isinstance(value, int if whole else int | float) or not math.isfinite(value):
            raise err(f"must be a {'whole number' if whole else 'number'} ({s.bounds_text()}), got {value!r}")
        if not _number_ok(s, value):
            raise err(f"must be {s.bounds_text()}, got {value!r}")
        return value if whole else float(value)
    if s.kind == "floats":
        if not isinstance(value, list | tuple) or not value or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and _number_ok(s, v)
            for v in value
        ):
            raise err(f"must be a non-empty list of numbers, each {s.bounds_text()}, got {value!r}")
        return tuple(float(v) for v in value)
    if s.kind == "symbols":
        value = _names(value)
        if not isinstance(value, list | tuple) or not value:
            raise err("must be a non-empty list of ccxt symbols like 'BTC/USDT:USDT'")
        syms: list[str] = []
        for i, sym in enumerate(value):
            if not isinstance(sym, str) or not SYMBOL_RE.match(sym):
                hint = ""
                if isinstance(sym, str) and re.match(r"^[A-Z0-9]+USDT$", sym.upper()):
                    hint = f" (did you mean '{sym.upper()[:-4]}/USDT:USDT'?)"
                raise err(f"{sym!r} is not a unified perpetual symbol BASE/QUOTE:SETTLE{hint}", f"[{i}]")
            if sym in syms:
                raise err(f"{sym!r} is listed twice", f"[{i}]")
            syms.append(sym)
        for i, why in check_slug_collisions(syms).items():
            raise err(why, f"[{i}]")
        return tuple(syms)
    if s.kind in ("exchanges", "ranges"):
        options = list(KNOWN_EXCHANGES) if s.kind == "exchanges" else list(RANGES)
        what = "exchange" if s.kind == "exchanges" else "range"
        value = _names(value)
        if not isinstance(value, list | tuple) or not value:
            raise err(f"must be a non-empty list of: {', '.join(options)}")
        for i, item in enumerate(value):
            if item not in options:
                raise err(f"unknown {what} {item!r}{_close_match(str(item), options)}", f"[{i}]")
        if s.kind == "ranges":
            return tuple(r for r in RANGES if r in value)
        return tuple(dict.fromkeys(value))
    raise TypeError(f"unknown setting kind {s.kind!r}")


def _validate_model(values: dict[str, tuple[Any, str]], where: str) -> ModelSettings:
    decl = declared(ModelSettings)
    clean = {key: _check(decl[key], value, f"{where}: [model] {key}") for key, (value, _) in values.items()}
    params = ModelSettings(**clean)
    if len(params.leverages) != len(params.leverage_weights):
        raise ConfigError(
            f"{where}: [model] leverage_weights: has {len(params.leverage_weights)} weights for "
            f"{len(params.leverages)} leverages (give one weight per leverage)"
        )
    return params


def _toml_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return f"{value:g}" if value != int(value) or abs(value) >= 1e16 else str(int(value))
    return str(value)


def document() -> str:
    """The documented ``liqmap.toml``: every setting, its help, bounds and default value."""
    lines = [
        "# liqmap configuration. Every key is optional; the values below are the defaults.",
        "# Flags on the command line (--symbols, --out, --base-url, ...) override this file.",
        "# Generated from the declarations in sitegen/config.py: python -m sitegen.config > liqmap.toml",
    ]
    for section in SECTIONS:
        cls: type = ModelSettings if section == "model" else Config
        lines += ["", f"[{section}]"]
        for name, s in declared(cls).items():
            if s.section != section:
                continue
            bounds = f" ({s.bounds_text()})" if s.bounds_text() else ""
            lines.append(f"# {s.help}{bounds}.")
            note = f"   # {s.note}" if s.note else ""
            lines.append(f"{name} = {_toml_value(_default(cls, name))}{note}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m sitegen.config > liqmap.toml
    import sys

    sys.stdout.write(document())
