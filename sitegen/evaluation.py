"""Evaluation above the model: reading the interchange CSV, calibration, the methodology report.

The pure scores live in :mod:`sitegen.model.metrics` (``log_corr``, ``top_decile_capture``,
``baseline``, ``evaluate_data``); this module reads files (size-limited, every problem
named with the file), runs the declared calibration search on the packaged calibration
series, scores the embedded sample window, and assembles :class:`CalibrationReport` for the
methodology page.

Interchange CSV: ``timestamp,open,high,low,close,open_interest_usd,liq_long_usd,liq_short_usd``
(timestamp = bar open, ms UTC; one row per bar; ``.gz`` read transparently), optionally
``oi_high_usd,oi_low_usd`` (the highest and lowest open interest inside each bar: the model
then uses gross flows). Input limit: :data:`MAX_INPUT_BYTES` of CSV text after
decompression, fields of at most 128 KiB.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import zlib
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np

from sitegen.errors import DataError
from sitegen.model.adapt import model_input
from sitegen.model.calibration import CalibrationReport, GridRow, SampleRun, SampleWindow, Selection
from sitegen.model.engine import solve
from sitegen.model.metrics import (
    EvalData,
    Evaluation,
    Scores,
    baseline,
    evaluate_data,
    model_input_from,
    side_score,
)
from sitegen.model.types import ModelInput, ModelParams, power_law_weights
from sitegen.sources.sample import load_sample

COLUMNS = (
    "timestamp", "open", "high", "low", "close", "open_interest_usd", "liq_long_usd", "liq_short_usd",
)
OPTIONAL_COLUMNS = ("oi_high_usd", "oi_low_usd")
CALIBRATION_FILE = "calibration_btc_1h.csv.gz"
MAX_LISTED = 20
# Largest evaluation input, as CSV text after decompression: a year of 5-minute bars is
# about 10 MB, so 64 MiB leaves room while a small gzip bomb cannot exhaust memory.
MAX_INPUT_BYTES = 64 * 1024 * 1024
READ_CHUNK = 1 << 20

# The open-interest bridge. The calibration file's liquidations cover Binance + Bybit + OKX,
# its open interest Binance alone. The model is linear in open interest, so the model of the
# three exchanges is the model of Binance's open interest divided by Binance's share of the
# three. Measured share: 0.59 = Binance 4.48 of 7.57 bn USD (Binance 4.48, Bybit 1.64,
# OKX 1.46) in the only three-exchange open-interest snapshot we hold (ETHUSDT, 2026-04-03,
# pcdogyu/MultipleExchangeLiquidationMap), in line with Binance's usual ~55-65 % of the
# three for BTC. Live pages sum every exchange's own open interest, so no bridge applies
# there: the same model dollars are the whole market's.
CALIBRATION_OI_SHARE = 0.59

CALIBRATION_DATASET = (
    "BTC, hourly, 2025-12-04 06:00 to 2026-02-28 23:00 UTC: Binance spot BTCUSDT candles, "
    "Binance BTCUSDT perpetual open interest (USD, at each hour's close) and realised "
    "long/short liquidations aggregated over Binance, Bybit and OKX, all from the Coinglass v4 "
    "API export in ismethanhtung/btc-liquidations-analysis (commit c8a97300)."
)
CALIBRATION_METHOD = (
    "The model always runs over the whole series (it is causal: a bar's prediction uses only "
    "that bar and earlier ones); scores are computed per half. Every parameter was chosen by a "
    "small declared grid search that looked only at the first half (fit): the leverage mix "
    "(weights proportional to L^-alpha over 12 leverages from 2x to 125x), the number of entry "
    "points per bar, the decay half-life, the intrabar path and the unlocated coefficient; the "
    "pooled dollar scale makes predicted and realised totals equal on the first half. Ties "
    "(within 0.005) go to the simplest setting. The second half (check) is out of sample."
)
BRIDGE_TEXT = (
    f"The file's open interest is Binance's alone while its liquidations are Binance + Bybit + "
    f"OKX: predictions are divided by Binance's share of the three exchanges' open interest, "
    f"{CALIBRATION_OI_SHARE:.2f} (measured on a three-exchange snapshot). Live pages sum the "
    f"open interest of every exchange they show, so no such factor applies there."
)


# ---------------------------------------------------------------------------- reading


def _row_problems(
    ts: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
    oi: np.ndarray, ll: np.ndarray, ls: np.ndarray,
    oi_high: np.ndarray | None = None, oi_low: np.ndarray | None = None,
) -> list[tuple[int, str]]:
    """(row index, reason) for every bad row; vectorised checks."""
    found: dict[int, list[str]] = {}

    def flag(mask: np.ndarray, reason: str) -> None:
        for i in np.flatnonzero(mask):
            found.setdefault(int(i), []).append(reason)

    extra = [x for x in (oi_high, oi_low) if x is not None]
    allv = np.stack([ts, o, h, lo, c, oi, ll, ls, *extra])
    flag(~np.all(np.isfinite(allv), axis=0), "NaN, infinite or empty value")
    with np.errstate(invalid="ignore"):
        prices = np.stack([o, h, lo, c])
        flag(np.any(prices <= 0, axis=0), "non-positive price")
        flag((h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (h < lo), "high/low do not bound open/close")
        flag((oi < 0) | (ll < 0) | (ls < 0), "negative open interest or liquidations")
        if oi_high is not None and oi_low is not None:
            flag((oi_low < 0) | (oi_high < oi_low), "oi_high_usd below oi_low_usd or negative")
        d = np.diff(ts)
        flag(np.concatenate([[False], d == 0]), "duplicate timestamp (same as the previous row)")
        flag(np.concatenate([[False], d < 0]), "timestamp earlier than the previous row")
    return sorted((i, "; ".join(r)) for i, r in found.items())


def _format_problems(where: str, problems: list[tuple[int, str]], unit: str) -> str:
    listed = [f"  {unit} {i}: {reason}" for i, reason in problems[:MAX_LISTED]]
    more = len(problems) - MAX_LISTED
    tail = [f"  ... and {more} more"] if more > 0 else []
    return "\n".join(
        [f"{where}: {len(problems)} bad row(s); fix or remove them and run again:", *listed, *tail]
    )


def parse_csv(text: str, where: str) -> EvalData:
    """Parse interchange CSV text; :class:`DataError` with line numbers on any bad row."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{where}: empty file (expected the header {','.join(COLUMNS)})")
        names = [h.strip() for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise DataError(
                f"{where}: line 1: missing column(s) {', '.join(missing)} "
                f"(the header must contain {','.join(COLUMNS)})"
            )
        has_range = all(c in names for c in OPTIONAL_COLUMNS)
        wanted = COLUMNS + (OPTIONAL_COLUMNS if has_range else ())
        pos = [names.index(c) for c in wanted]
        rows: list[list[float]] = []
        lines: list[int] = []
        problems: list[tuple[int, str]] = []
        for rec in reader:
            lineno = reader.line_num
            if not rec or all(not f.strip() for f in rec):
                continue  # blank line
            if len(rec) < len(names):
                problems.append((lineno, f"{len(rec)} fields, expected {len(names)}"))
                continue
            vals = []
            for p in pos:
                try:
                    vals.append(float(rec[p]))
                except ValueError:
                    vals.append(math.nan)
            rows.append(vals)
            lines.append(lineno)
    except csv.Error as e:
        # e.g. a field over csv.field_size_limit() (128 KiB): not an evaluation file
        raise DataError(f"{where}: line {reader.line_num}: not valid CSV ({e})") from None
    if rows:
        arr = np.array(rows, dtype=np.float64).T
        problems += [(lines[i], reason) for i, reason in _row_problems(*arr)]
    if problems:
        problems.sort()
        raise DataError(_format_problems(where, problems, "line"))
    if len(rows) < 2:
        raise DataError(f"{where}: needs at least 2 bars, found {len(rows)}")
    return EvalData(arr[0].astype(np.int64), *arr[1:])


def _read_limited(p: Path) -> bytes:
    """The file's bytes, gunzipped when compressed; at most MAX_INPUT_BYTES, else DataError."""
    limit_mb = MAX_INPUT_BYTES // (1024 * 1024)
    try:
        with p.open("rb") as fh:
            head = fh.read(2)
            fh.seek(0)
            if head == b"\x1f\x8b":
                stream: io.BufferedIOBase = gzip.GzipFile(fileobj=fh)
                what = "decompresses to"
            else:
                stream = fh
                what = "is"
            parts, size = [], 0
            while size <= MAX_INPUT_BYTES:
                chunk = stream.read(READ_CHUNK)
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
            if size > MAX_INPUT_BYTES:
                raise DataError(
                    f"{p}: {what} more than {limit_mb} MiB of CSV, the evaluation input limit; "
                    "split the file by date and evaluate the parts"
                )
    except EOFError:
        raise DataError(
            f"{p}: truncated gzip file (the compressed stream ends early); "
            "copy or download it again"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{p}: not a valid gzip file ({e})") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e.strerror or e}") from None
    return b"".join(parts)


def read_csv(path: str | Path) -> EvalData:
    """Read an interchange CSV (optionally gzip-compressed), within the input limit."""
    p = Path(path)
    raw = _read_limited(p)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not UTF-8 text ({e})") from None
    return parse_csv(text, str(p))


def evaluate_csv(
    path: str | Path, params: ModelParams, *, halves: bool = False,
    oi_share: float = CALIBRATION_OI_SHARE,
) -> Evaluation:
    """Score the model on an interchange CSV (see :func:`sitegen.model.metrics.evaluate_data`)."""
    return evaluate_data(read_csv(path), params, halves=halves, oi_share=oi_share)


def evaluate_arrays(
    timestamp: np.ndarray, open: np.ndarray, high: np.ndarray, low: np.ndarray,
    close: np.ndarray, open_interest_usd: np.ndarray, liq_long_usd: np.ndarray,
    liq_short_usd: np.ndarray, params: ModelParams, *, halves: bool = False,
    oi_share: float = 1.0,
) -> Evaluation:
    """Score the model on arrays of the interchange columns (validated like the CSV).

    Raises :class:`~sitegen.errors.DataError` listing bad rows (0-based bar indices).
    """
    cols = [timestamp, open, high, low, close, open_interest_usd, liq_long_usd, liq_short_usd]
    arrays = [np.asarray(c, dtype=np.float64) for c in cols]
    n = arrays[0].shape[0]
    if any(a.shape != (n,) for a in arrays):
        raise DataError("evaluate_arrays: all columns must be 1-D arrays of the same length")
    problems = _row_problems(*arrays)
    if problems:
        raise DataError(_format_problems("arrays", problems, "bar"))
    data = EvalData(arrays[0].astype(np.int64), *arrays[1:])
    return evaluate_data(data, params, halves=halves, oi_share=oi_share)


def calibration_data() -> EvalData:
    """The packaged calibration series (``sitegen/sample/calibration_btc_1h.csv.gz``)."""
    ref = resources.files("sitegen.sample").joinpath(CALIBRATION_FILE)
    text = gzip.decompress(ref.read_bytes()).decode("utf-8")
    return parse_csv(text, f"sitegen/sample/{CALIBRATION_FILE}")


# ---------------------------------------------------------------------------- calibration

# The calibration search, declared before looking at the second half. The pooled dollar
# scale is not searched: for each setting it is the one that makes predicted and realised
# totals (both sides) equal on the first half.
CALIBRATION_GRID: dict[str, tuple[object, ...]] = {
    "intrabar": ("off", "path"),
    "unlocated_coef": (0.0, 0.5, 1.0, 2.0, 5.0, 10.0),
    "entry_points": (3, 5, 9),
    "alpha": (0.0, 0.5, 1.0, 1.5),
    "decay_half_life_hours": (0.0, 720.0, 168.0),
}
# Settings whose fit score is within this of the best count as tied; the simplest wins, in
# this order: no intrabar path, the smallest unlocated coefficient, the fewest entry points,
# the most even leverage weights, no decay (then the slowest).
CALIBRATION_TOLERANCE = 0.005


def power_weights(leverages: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    """Leverage weights proportional to ``L ** -alpha``, normalised, rounded to 4 decimals."""
    return power_law_weights(leverages, alpha)


def _sig3(x: float) -> float:
    return float(f"{x:.3g}")


def _mean_logcorr(a: float | None, b: float | None) -> float:
    return float(np.mean([v if v is not None else 0.0 for v in (a, b)]))


def calibrate(
    data: EvalData | None = None, base: ModelParams | None = None,
    oi_share: float = CALIBRATION_OI_SHARE,
) -> Selection:
    """Grid search on the first half of ``data`` (default: the packaged calibration series).

    Score = mean over both sides of the first half's total log-correlation, with the pooled
    scale fitted on the first half. The unlocated term and the scale need no new model run:
    each (intrabar, entry points, alpha, decay) setting is solved once.
    """
    from sitegen.model.metrics import log_corr

    data = calibration_data() if data is None else data
    base = ModelParams() if base is None else base
    mid = len(data) // 2
    fit, check = slice(0, mid), slice(mid, None)
    inp = model_input_from(data)
    real = data.liq_long + data.liq_short
    rows = []
    for intrabar in CALIBRATION_GRID["intrabar"]:
        for points in CALIBRATION_GRID["entry_points"]:
            for alpha in CALIBRATION_GRID["alpha"]:
                for half_life in CALIBRATION_GRID["decay_half_life_hours"]:
                    p = replace(
                        base, intrabar=str(intrabar), entry_points=int(points),  # type: ignore[call-overload]
                        leverage_weights=power_weights(base.leverages, float(alpha)),  # type: ignore[arg-type]
                        decay_half_life_hours=float(half_life), unlocated_coef=1.0, usd_scale=1.0,  # type: ignore[arg-type]
                    )
                    sol = solve(inp, p)
                    loc = np.stack([sol.predicted_long, sol.predicted_short]) / oi_share
                    unl = np.stack([sol.unlocated_long, sol.unlocated_short]) / oi_share
                    for coef in CALIBRATION_GRID["unlocated_coef"]:
                        total = loc + float(coef) * unl  # type: ignore[arg-type,operator]
                        denom = float(total[:, fit].sum())
                        scale = _sig3(float(real[fit].sum()) / denom) if denom > 0 else 1.0
                        pred = scale * total
                        rows.append(GridRow(
                            str(intrabar), float(coef), int(points), float(alpha),  # type: ignore[call-overload, arg-type]
                            float(half_life), scale,  # type: ignore[arg-type]
                            _mean_logcorr(log_corr(pred[0, fit], data.liq_long[fit]),
                                          log_corr(pred[1, fit], data.liq_short[fit])),
                            _mean_logcorr(log_corr(pred[0, check], data.liq_long[check]),
                                          log_corr(pred[1, check], data.liq_short[check])),
                        ))
    best = max(r.fit for r in rows)
    tied = [r for r in rows if r.fit >= best - CALIBRATION_TOLERANCE]
    chosen = min(tied, key=GridRow.simplicity)
    rule = (
        f"score = mean log-correlation of both sides on the first half, with the pooled dollar "
        f"scale fitted on the first half; settings within {CALIBRATION_TOLERANCE} of the best count "
        f"as tied and the simplest wins (no intrabar path, smallest unlocated coefficient, fewest "
        f"entry points, most even leverage weights, least decay); grid: "
        + "; ".join(f"{k} in {list(v)}" for k, v in CALIBRATION_GRID.items())
    )
    return Selection(rule, tuple(rows), chosen, chosen.params(base) == base)


# ---------------------------------------------------------------------------- sample window


def sample_window_check(
    params: ModelParams, warmup_hours: int = 24, oi_share: float = CALIBRATION_OI_SHARE
) -> SampleWindow:
    """Score the model on the embedded BTC sample (Binance futures candles with volume).

    The sample window (2025-12-26 to 2026-01-29) lies inside the calibration series, so its
    realised hourly liquidations are known. Four runs, each summed to hours and scored on
    the hours after ``warmup_hours``: hourly or 5-minute bars, driven by open interest or by
    the volume fallback (open interest withheld). Shows what the 5-minute page model and
    the volume model are worth, and whether one unlocated coefficient holds across bar
    lengths (its 5-minute sum over its hourly sum, :attr:`SampleWindow.unlocated_5m_to_1h`).
    """
    series = load_sample("BTC/USDT:USDT")
    data = calibration_data()
    base_l, base_s = baseline(data)
    runs = []
    hours = 0
    k = params.usd_scale / oi_share
    for tf in ("1h", "5m"):
        inp = model_input(series, tf)
        for driver, run_inp in (
            ("open interest", inp),
            ("volume", ModelInput(**{**inp.__dict__, "oi_usd": None})),
        ):
            sol = solve(run_inp, params)
            hour = (run_inp.timestamp // 3_600_000) * 3_600_000
            uniq, inv = np.unique(hour, return_inverse=True)
            tl, ts_ = sol.total(k)
            sums = [np.bincount(inv, weights=x) for x in (
                tl, ts_, k * sol.predicted_long, k * sol.predicted_short,
                k * (sol.unlocated_long + sol.unlocated_short),
            )]
            _, ia, ib = np.intersect1d(uniq, data.timestamp, return_indices=True)
            ia, ib = ia[warmup_hours:], ib[warmup_hours:]
            hours = int(ia.shape[0])
            scores = Scores(
                side_score(sums[0][ia], sums[2][ia], base_l[ib], data.liq_long[ib]),
                side_score(sums[1][ia], sums[3][ia], base_s[ib], data.liq_short[ib]),
                hours,
            )
            runs.append(SampleRun(tf, driver, scores, float(sums[4][ia].sum())))
    return SampleWindow(
        description=(
            "Embedded Binance BTC/USDT:USDT sample (futures candles with volume, hourly open "
            "interest), model summed to hours, scored against the realised liquidations of "
            f"the calibration series; first {warmup_hours} h skipped as warm-up. The window "
            "overlaps the fit half, and volume_oi_ratio was set on this sample (to match the "
            "total new notional of open interest, not to the liquidation scores)."
        ),
        hours=hours,
        runs=tuple(runs),
    )


# ---------------------------------------------------------------------------- report


def calibration_report(params: ModelParams) -> CalibrationReport:
    """Evaluation on the packaged calibration data, for the methodology page."""
    data = calibration_data()
    return CalibrationReport(
        evaluation=evaluate_data(data, params, halves=True, oi_share=CALIBRATION_OI_SHARE),
        selection=calibrate(data, params),
        sample_window=sample_window_check(params),
        dataset=CALIBRATION_DATASET,
        method=CALIBRATION_METHOD,
        bridge=BRIDGE_TEXT,
        oi_share=CALIBRATION_OI_SHARE,
        file=f"sitegen/sample/{CALIBRATION_FILE}",
        start=int(data.timestamp[0]),
        end=int(data.timestamp[-1]),
        params=params,
    )


# ---------------------------------------------------------------------------- text


def _fmt(v: float | None, width: int = 6) -> str:
    return f"{'n/a':>{width}}" if v is None else f"{v:{width}.3f}"


def format_table(ev: Evaluation) -> str:
    """Plain-text report of an evaluation: per section and side, total and located scores."""
    lines = [
        "log-corr and top-10 % capture: total (located + unlocated), located (the map's levels), "
        "baseline; top-10 as a share of the oracle; predicted / realised USD.",
        f"Predictions divided by the open-interest share {ev.oi_share:g} (--oi-share).",
        f"{'side':<6} {'logcorr':>7} {'located':>7} {'base':>6} {'top10':>6} {'located':>7} "
        f"{'base':>6} {'/oracle':>7} {'pred/real':>9}",
    ]
    sections = [("all", ev.all)]
    if ev.first is not None and ev.second is not None:
        sections += [("first half", ev.first), ("second half", ev.second)]
    for label, sec in sections:
        lines.append(f"{label}, {sec.scores.bars} bars:")
        for side in ("long", "short"):
            s = getattr(sec.scores, side)
            lines.append(
                f"{side:<6} {_fmt(s.model_logcorr, 7)} {_fmt(s.levels_logcorr, 7)} "
                f"{_fmt(s.baseline_logcorr)} {_fmt(s.model_top10)} {_fmt(s.levels_top10, 7)} "
                f"{_fmt(s.baseline_top10)} {_fmt(s.top10_of_oracle, 7)} {_fmt(s.pred_to_real_usd, 9)}"
            )
        for m in sec.months:
            lines.append(
                f"  month {m.month} ({m.bars} bars): predicted / realised USD long "
                f"{_fmt(m.long, 5).strip()}, short {_fmt(m.short, 5).strip()}"
            )
        f = sec.falling
        if f is not None:
            lines.append(
                f"  falling market (24h return < -3 %, {f.bars} bars): log-corr long "
                f"{_fmt(f.long.model_logcorr).strip()}, short {_fmt(f.short.model_logcorr).strip()}"
            )
    return "\n".join(lines)
