"""Score the model against realised liquidations (DESIGN.md section 3, "Evaluation").

Per side and per bar: the correlation of ``log(1 + predicted)`` with ``log(1 + realised)``
and the *top-decile capture* (share of realised liquidation USD that falls in the 10 % of
bars the model ranks highest), each beside the naive baseline ``OI * (open - low) / open``
(longs) and ``OI * (high - open) / open`` (shorts).

The interchange CSV has the columns ``timestamp,open,high,low,close,open_interest_usd,
liq_long_usd,liq_short_usd`` (timestamp = bar open, ms UTC; one row per bar; ``.gz`` is
read transparently). This module reads files (the one place in ``model/`` that does), with
the standard library only.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from sitegen.errors import DataError
from sitegen.model.engine import solve
from sitegen.model.types import ModelInput, ModelParams

COLUMNS = (
    "timestamp", "open", "high", "low", "close", "open_interest_usd", "liq_long_usd", "liq_short_usd",
)
CALIBRATION_FILE = "calibration_btc_1h.csv.gz"
MAX_LISTED = 20

CALIBRATION_DATASET = (
    "BTC, hourly, 2025-12-04 06:00 to 2026-02-28 23:00 UTC: Binance spot BTCUSDT candles, "
    "Binance BTCUSDT perpetual open interest (USD, at each hour's close) and realised "
    "long/short liquidations aggregated over Binance, Bybit and OKX, all from the Coinglass v4 "
    "API export in ismethanhtung/btc-liquidations-analysis (commit c8a97300)."
)
CALIBRATION_METHOD = (
    "The model always runs over the whole series (it is causal: a bar's prediction uses only "
    "that bar and earlier ones); scores are computed per half. The defaults were chosen by a "
    "small grid search that looked only at the first half (fit): the leverage mix (weights "
    "proportional to L^-alpha over the tiers 5x-100x), the number of entry points per bar and "
    "the decay half-life, with ties going to the simplest setting. The second half (check) is "
    "out of sample for that choice."
)


@dataclass(frozen=True)
class EvalData:
    """The columns of an evaluation CSV as arrays (T,)."""

    timestamp: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    oi_usd: np.ndarray
    liq_long: np.ndarray
    liq_short: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])


def log_corr(pred: np.ndarray, real: np.ndarray) -> float | None:
    """Pearson correlation of log(1 + pred) and log(1 + real); None when either is constant."""
    a = np.log1p(np.maximum(np.asarray(pred, float), 0.0))
    b = np.log1p(np.maximum(np.asarray(real, float), 0.0))
    if a.shape[0] < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def top_decile_capture(pred: np.ndarray, real: np.ndarray, share: float = 0.1) -> float | None:
    """Share of realised USD in the ``share`` of bars with the highest prediction.

    Ties are broken by time (earliest first), so a model that predicts nothing does not get
    lucky. None when nothing was realised.
    """
    real = np.maximum(np.asarray(real, float), 0.0)
    total = float(real.sum())
    if total <= 0 or real.shape[0] == 0:
        return None
    k = max(1, math.ceil(share * real.shape[0]))
    top = np.argsort(-np.asarray(pred, float), kind="stable")[:k]
    return float(real[top].sum() / total)


def baseline(data: EvalData) -> tuple[np.ndarray, np.ndarray]:
    """Naive baseline per bar: OI x the bar's move below / above its open."""
    long_ = data.oi_usd * (data.open - data.low) / data.open
    short = data.oi_usd * (data.high - data.open) / data.open
    return long_, short


def model_input_from(data: EvalData) -> ModelInput:
    """The model input of an evaluation series (no volume: the CSV has none)."""
    ts = data.timestamp
    bar_ms = int(np.median(np.diff(ts))) if ts.shape[0] > 1 else 3_600_000
    return ModelInput(
        timestamp=ts, open=data.open, high=data.high, low=data.low, close=data.close,
        volume=np.zeros(ts.shape[0]), oi_usd=data.oi_usd, bar_ms=bar_ms,
    )


def _scores(
    pred_l: np.ndarray, pred_s: np.ndarray, base_l: np.ndarray, base_s: np.ndarray, data: EvalData,
    sl: slice,
) -> dict[str, object]:
    out: dict[str, object] = {}
    for side, pred, base, real in (
        ("long", pred_l, base_l, data.liq_long),
        ("short", pred_s, base_s, data.liq_short),
    ):
        out[side] = {
            "model_logcorr": log_corr(pred[sl], real[sl]),
            "baseline_logcorr": log_corr(base[sl], real[sl]),
            "model_top10": top_decile_capture(pred[sl], real[sl]),
            "baseline_top10": top_decile_capture(base[sl], real[sl]),
        }
    out["bars"] = int(np.arange(len(data))[sl].shape[0])
    return out


def evaluate_data(
    data: EvalData, params: ModelParams, *, halves: bool = False
) -> dict[str, object]:
    """Run the model over ``data`` and score it; with ``halves`` also per half (fit/check)."""
    sol = solve(model_input_from(data), params)
    base_l, base_s = baseline(data)
    result = _scores(sol.predicted_long, sol.predicted_short, base_l, base_s, data, slice(None))
    if halves:
        mid = len(data) // 2
        result["halves"] = {
            "first": _scores(sol.predicted_long, sol.predicted_short, base_l, base_s, data, slice(0, mid)),
            "second": _scores(sol.predicted_long, sol.predicted_short, base_l, base_s, data, slice(mid, None)),
        }
    return result


def evaluate_arrays(
    timestamp: np.ndarray, open: np.ndarray, high: np.ndarray, low: np.ndarray,
    close: np.ndarray, open_interest_usd: np.ndarray, liq_long_usd: np.ndarray,
    liq_short_usd: np.ndarray, params: ModelParams, *, halves: bool = False,
) -> dict[str, object]:
    """Score the model on arrays of the interchange columns (validated like the CSV).

    Returns ``{"long": {"model_logcorr", "baseline_logcorr", "model_top10",
    "baseline_top10"}, "short": {...}, "bars": N}`` (plus ``"halves"`` when asked).
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
    return evaluate_data(data, params, halves=halves)


def _row_problems(
    ts: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
    oi: np.ndarray, ll: np.ndarray, ls: np.ndarray,
) -> list[tuple[int, str]]:
    """(row index, reason) for every bad row; vectorised checks."""
    found: dict[int, list[str]] = {}

    def flag(mask: np.ndarray, reason: str) -> None:
        for i in np.flatnonzero(mask):
            found.setdefault(int(i), []).append(reason)

    allv = np.stack([ts, o, h, lo, c, oi, ll, ls])
    flag(~np.all(np.isfinite(allv), axis=0), "NaN, infinite or empty value")
    with np.errstate(invalid="ignore"):
        prices = np.stack([o, h, lo, c])
        flag(np.any(prices <= 0, axis=0), "non-positive price")
        flag((h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (h < lo), "high/low do not bound open/close")
        flag((oi < 0) | (ll < 0) | (ls < 0), "negative open interest or liquidations")
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
    pos = [names.index(c) for c in COLUMNS]
    rows: list[list[float]] = []
    lines: list[int] = []
    problems: list[tuple[int, str]] = []
    for lineno, rec in enumerate(reader, start=2):
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
    if rows:
        arr = np.array(rows, dtype=np.float64).T
        problems += [(lines[i], reason) for i, reason in _row_problems(*arr)]
    if problems:
        problems.sort()
        raise DataError(_format_problems(where, problems, "line"))
    if len(rows) < 2:
        raise DataError(f"{where}: needs at least 2 bars, found {len(rows)}")
    return EvalData(arr[0].astype(np.int64), *arr[1:])


def read_csv(path: str | Path) -> EvalData:
    """Read an interchange CSV (optionally gzip-compressed)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e.strerror or e}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except OSError as e:
            raise DataError(f"{p}: not a valid gzip file: {e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not UTF-8 text ({e})") from None
    return parse_csv(text, str(p))


def evaluate_csv(path: str | Path, params: ModelParams, *, halves: bool = False) -> dict[str, object]:
    """Score the model on an interchange CSV; see :func:`evaluate_arrays` for the result."""
    return evaluate_data(read_csv(path), params, halves=halves)


def calibration_data() -> EvalData:
    """The packaged calibration series (``sitegen/sample/calibration_btc_1h.csv.gz``)."""
    ref = resources.files("sitegen.sample").joinpath(CALIBRATION_FILE)
    text = gzip.decompress(ref.read_bytes()).decode("utf-8")
    return parse_csv(text, f"sitegen/sample/{CALIBRATION_FILE}")


# The calibration search, declared before looking at the second half: leverage weights
# proportional to L ** -alpha over the fixed tiers, entry points per bar, decay half-life.
CALIBRATION_GRID: dict[str, tuple[float, ...]] = {
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "entry_points": (1, 3, 5, 9),
    "decay_half_life_hours": (0.0, 48.0, 168.0),
}
# Settings whose fit score is within this of the best count as tied; the simplest wins
# (fewest entry points, then the most even leverage weights, then no decay).
CALIBRATION_TOLERANCE = 0.005


def power_weights(leverages: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    """Leverage weights proportional to ``L ** -alpha``, normalised, rounded to 4 decimals."""
    w = np.asarray(leverages, dtype=np.float64) ** (-alpha)
    return tuple(round(float(x), 4) for x in w / w.sum())


def calibrate(data: EvalData | None = None, base: ModelParams | None = None) -> dict[str, object]:
    """Grid search on the first half of ``data`` (default: the packaged calibration series).

    Score = mean over both sides of the first half's ``model_logcorr``. Returns
    ``{"grid": [rows], "chosen": {alpha, entry_points, decay_half_life_hours, fit, check},
    "rule": text}``; each row carries the fit score and, for the record, the second-half score
    (never used to choose).
    """
    data = calibration_data() if data is None else data
    base = ModelParams() if base is None else base
    rows = []
    for alpha in CALIBRATION_GRID["alpha"]:
        for points in CALIBRATION_GRID["entry_points"]:
            for half_life in CALIBRATION_GRID["decay_half_life_hours"]:
                params = ModelParams(**{
                    **base.__dict__,
                    "leverage_weights": power_weights(base.leverages, alpha),
                    "entry_points": int(points),
                    "decay_half_life_hours": float(half_life),
                })
                res = evaluate_data(data, params, halves=True)
                halves = res["halves"]
                assert isinstance(halves, dict)
                rows.append({
                    "alpha": alpha, "entry_points": int(points), "decay_half_life_hours": half_life,
                    "fit": _mean_logcorr(halves["first"]), "check": _mean_logcorr(halves["second"]),
                })
    best = max(r["fit"] for r in rows)
    tied = [r for r in rows if r["fit"] >= best - CALIBRATION_TOLERANCE]
    chosen = min(tied, key=lambda r: (r["entry_points"], r["alpha"], r["decay_half_life_hours"]))
    rule = (
        f"score = mean log-correlation of both sides on the first half; settings within "
        f"{CALIBRATION_TOLERANCE} of the best count as tied and the simplest wins (fewest entry "
        f"points, most even leverage weights, no decay); grid: "
        + "; ".join(f"{k} in {list(v)}" for k, v in CALIBRATION_GRID.items())
    )
    return {"grid": rows, "chosen": chosen, "rule": rule}


def _mean_logcorr(part: object) -> float:
    assert isinstance(part, dict)
    vals = [part[s]["model_logcorr"] for s in ("long", "short")]
    return float(np.mean([v if v is not None else 0.0 for v in vals]))


def sample_window_check(params: ModelParams, warmup_hours: int = 24) -> dict[str, object]:
    """Score the model on the embedded BTC sample (Binance futures candles with volume).

    The sample window (2025-12-26 to 2026-01-29) lies inside the calibration series, so its
    realised hourly liquidations are known. Four runs, each summed to hours and scored on
    the hours after ``warmup_hours``: hourly or 5-minute bars, driven by open interest or by
    the volume fallback (open interest withheld). Shows what the 5-minute page model and
    the volume model (used where an exchange has no open-interest history) are worth.
    """
    # Lazy import: the sample loader is plain stdlib + numpy reading of packaged files.
    from sitegen.model.adapt import model_input
    from sitegen.sources.sample import load_sample

    series = load_sample("BTC/USDT:USDT")
    data = calibration_data()
    base_l, base_s = baseline(data)
    rows = []
    hours = 0
    for tf in ("1h", "5m"):
        inp = model_input(series, tf)
        for driver, run_inp in (
            ("open interest", inp),
            ("volume", ModelInput(**{**inp.__dict__, "oi_usd": None})),
        ):
            sol = solve(run_inp, params)
            hour = (run_inp.timestamp // 3_600_000) * 3_600_000
            uniq, inv = np.unique(hour, return_inverse=True)
            pl = np.bincount(inv, weights=sol.predicted_long)
            ps = np.bincount(inv, weights=sol.predicted_short)
            _, ia, ib = np.intersect1d(uniq, data.timestamp, return_indices=True)
            ia, ib = ia[warmup_hours:], ib[warmup_hours:]
            hours = int(ia.shape[0])
            row: dict[str, object] = {"timeframe": tf, "driver": driver}
            for side, pred, base, real in (
                ("long", pl, base_l, data.liq_long), ("short", ps, base_s, data.liq_short),
            ):
                row[side] = {
                    "model_logcorr": log_corr(pred[ia], real[ib]),
                    "baseline_logcorr": log_corr(base[ib], real[ib]),
                    "model_top10": top_decile_capture(pred[ia], real[ib]),
                    "baseline_top10": top_decile_capture(base[ib], real[ib]),
                }
            rows.append(row)
    return {
        "description": (
            "Embedded Binance BTC/USDT:USDT sample (futures candles with volume, hourly open "
            "interest), model summed to hours, scored against the realised liquidations of "
            f"the calibration series; first {warmup_hours} h skipped as warm-up. The window "
            "overlaps the fit half, and volume_oi_ratio was set on this sample (to match the "
            "total new notional of open interest, not to the liquidation scores)."
        ),
        "hours": hours,
        "runs": rows,
    }


def _pair(part: object, side: str, key: str = "logcorr") -> str:
    assert isinstance(part, dict)
    s = part[side]
    m, b = s[f"model_{key}"], s[f"baseline_{key}"]
    return f"{side} {_num(m)} vs {_num(b)}"


def _num(v: object) -> str:
    return "n/a" if v is None else f"{float(v):.3f}"  # type: ignore[arg-type]


def _summary_halves(report: dict[str, object]) -> str:
    """One line per half, model vs baseline log-correlation (for the methodology page)."""
    halves = report["halves"]
    assert isinstance(halves, dict)
    first, second = halves["first"], halves["second"]
    return (
        f"log-correlation, model vs baseline: first half (fit, {first['bars']} bars): "
        f"{_pair(first, 'long')}, {_pair(first, 'short')}; second half (check, "
        f"{second['bars']} bars): {_pair(second, 'long')}, {_pair(second, 'short')}"
    )


def _summary_sample(check: object) -> str:
    assert isinstance(check, dict)
    runs = "; ".join(
        f"{r['timeframe']} bars driven by {r['driver']}: {_pair(r, 'long')}, {_pair(r, 'short')}"
        for r in check["runs"]
    )
    return f"embedded BTC sample, {check['hours']} hours, log-correlation model vs baseline: {runs}"


def calibration_report(params: ModelParams) -> dict[str, object]:
    """Evaluation on the packaged calibration data, for the methodology page.

    The evaluation dict of :func:`evaluate_arrays` (whole series, plus ``"halves"``:
    ``"first"`` = fit, ``"second"`` = check), plus ``"dataset"`` (what the data is),
    ``"method"`` (how the defaults were chosen), ``"selection"`` (the search rule, the
    winning setting with its fit/check scores, and whether ``params`` is that setting),
    ``"sample_window"`` (:func:`sample_window_check`: 5-minute and volume-model runs on the
    embedded sample), ``"totals_usd"`` (predicted vs realised USD over the whole series),
    ``"file"``, ``"start"``/``"end"`` (ms UTC) and ``"params"``.
    """
    data = calibration_data()
    report = evaluate_data(data, params, halves=True)
    search = calibrate(data, params)
    chosen = search["chosen"]
    assert isinstance(chosen, dict)
    report["selection"] = {
        "rule": search["rule"],
        "chosen": chosen,
        "scored_params_are_chosen": (
            params.entry_points == chosen["entry_points"]
            and params.decay_half_life_hours == chosen["decay_half_life_hours"]
            and params.leverage_weights == power_weights(params.leverages, chosen["alpha"])
        ),
    }
    report["sample_window"] = sample_window_check(params)
    sol = solve(model_input_from(data), params)
    # Magnitudes: the scores above are about *when*; this says how the USD sizes compare
    # (realised covers Binance+Bybit+OKX, the open interest Binance only).
    report["totals_usd"] = {
        "predicted_long": float(sol.predicted_long.sum()),
        "realised_long": float(data.liq_long.sum()),
        "predicted_short": float(sol.predicted_short.sum()),
        "realised_short": float(data.liq_short.sum()),
    }
    report["halves_summary"] = _summary_halves(report)
    report["sample_window_summary"] = _summary_sample(report["sample_window"])
    report.update(
        dataset=CALIBRATION_DATASET,
        method=CALIBRATION_METHOD,
        file=f"sitegen/sample/{CALIBRATION_FILE}",
        start=int(data.timestamp[0]),
        end=int(data.timestamp[-1]),
        params=params.as_dict(),
    )
    return report


def _fmt(v: object) -> str:
    return "   n/a" if v is None else f"{float(v):6.3f}"  # type: ignore[arg-type]


def format_table(result: dict[str, object]) -> str:
    """Plain-text table of an evaluation result (model beside baseline, per side)."""
    lines = [
        f"{'side':<6} {'log-corr model':>14} {'baseline':>9} {'top-10% model':>14} {'baseline':>9}"
    ]
    sections: list[tuple[str, dict[str, object]]] = [("all", result)]
    halves = result.get("halves")
    if isinstance(halves, dict):
        sections += [("first half", halves["first"]), ("second half", halves["second"])]
    for label, res in sections:
        lines.append(f"{label}, {res['bars']} bars:")
        for side in ("long", "short"):
            s = res[side]
            assert isinstance(s, dict)
            lines.append(
                f"{side:<6} {_fmt(s['model_logcorr']):>14} {_fmt(s['baseline_logcorr']):>9} "
                f"{_fmt(s['model_top10']):>14} {_fmt(s['baseline_top10']):>9}"
            )
    return "\n".join(lines)
