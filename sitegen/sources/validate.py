"""Checks on what an exchange sent, applied at the source before anything is stored.

Pure functions on plain rows: each returns the clean rows and a list of human notes saying
what was dropped or repaired and why (the caller logs them). Nothing is invented: a missing
bar stays missing (``find_gaps`` reports it so the fetcher can ask again).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

CandleRow = tuple[int, float, float, float, float, float, float | None]


def _finite_pos(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def clean_candles(
    raw: Iterable[Sequence[object]], tf_ms: int, *, closed_before_ms: int | None = None
) -> tuple[list[CandleRow], list[str]]:
    """Validate OHLCV rows ``[ts, open, high, low, close, volume(, taker_buy)]``.

    Drops rows with a missing/NaN/zero/negative price, a high below the low or outside
    open/close, a negative or NaN volume, or a timestamp off the ``tf_ms`` grid; drops bars
    not closed at ``closed_before_ms`` (still forming); sorts by time and keeps the last copy
    of a duplicated timestamp. Returns ``(rows, notes)``.
    """
    notes: list[str] = []
    bad_price = bad_range = bad_volume = off_grid = forming = 0
    by_ts: dict[int, CandleRow] = {}
    dups = 0
    last_ts: int | None = None
    out_of_order = False
    for r in raw:
        ts = r[0] if len(r) > 0 else None
        if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
            bad_price += 1
            continue
        ts = int(ts)
        o, h, lo, c = (r[i] if len(r) > i else None for i in (1, 2, 3, 4))
        v = r[5] if len(r) > 5 else None
        if not all(_finite_pos(x) for x in (o, h, lo, c)):
            bad_price += 1
            continue
        assert isinstance(o, float | int) and isinstance(h, float | int)
        assert isinstance(lo, float | int) and isinstance(c, float | int)
        if h < lo or h < max(o, c) or lo > min(o, c):
            bad_range += 1
            continue
        if v is None or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            bad_volume += 1
            continue
        if ts % tf_ms:
            off_grid += 1
            continue
        if closed_before_ms is not None and ts + tf_ms > closed_before_ms:
            forming += 1
            continue
        tb = r[6] if len(r) > 6 else None
        tbv = float(tb) if isinstance(tb, int | float) and math.isfinite(tb) and tb >= 0 else None
        if last_ts is not None and ts < last_ts:
            out_of_order = True
        last_ts = ts
        if ts in by_ts:
            dups += 1
        by_ts[ts] = (ts, float(o), float(h), float(lo), float(c), float(v), tbv)
    if bad_price:
        notes.append(f"dropped {bad_price} bar(s) with a missing, NaN, zero or negative price")
    if bad_range:
        notes.append(f"dropped {bad_range} bar(s) whose high/low do not contain open and close")
    if bad_volume:
        notes.append(f"dropped {bad_volume} bar(s) with a missing or negative volume")
    if off_grid:
        notes.append(f"dropped {off_grid} bar(s) not aligned to the {tf_ms // 60_000}m grid")
    if dups:
        notes.append(f"merged {dups} duplicated bar(s) (kept the last copy)")
    if out_of_order:
        notes.append("bars arrived out of order; sorted by time")
    del forming  # the open bar is expected, not worth a note
    rows, outlier_notes = clip_outliers([by_ts[t] for t in sorted(by_ts)])
    return rows, notes + outlier_notes


# A price this many times above (or below) the median close of a bar's neighbours is not a
# market move: the largest one-bar crashes of listed perpetuals stay well inside x3.
OUTLIER_FACTOR = 3.0
OUTLIER_NEIGHBOURS = 5  # on each side


def clip_outliers(
    rows: Sequence[CandleRow], *, factor: float = OUTLIER_FACTOR, neighbours: int = OUTLIER_NEIGHBOURS,
) -> tuple[list[CandleRow], list[str]]:
    """Bars whose prices are absurd against their neighbours, dropped or clipped, with notes.

    ``rows`` sorted by time. The reference is the median close of up to ``neighbours`` bars
    on each side (at least two in all, else the bar is left as it is). A bar whose open or
    close lies outside ``[ref / factor, ref * factor]`` is dropped (nothing of it can be
    trusted); a bar with only its wick out there keeps its body and loses the wick (high
    and low clipped to open/close). One such bar (high x10,000) would otherwise stretch
    the price grid of the whole map.
    """
    closes = [r[4] for r in rows]
    out: list[CandleRow] = []
    dropped: list[str] = []
    clipped: list[str] = []
    for i, row in enumerate(rows):
        around = closes[max(0, i - neighbours):i] + closes[i + 1:i + 1 + neighbours]
        if len(around) < 2:
            out.append(row)
            continue
        ref = statistics.median(around)
        lo_ok, hi_ok = ref / factor, ref * factor
        ts, o, h, lo, c, v, tb = row
        if not (lo_ok <= o <= hi_ok and lo_ok <= c <= hi_ok):
            dropped.append(f"{_utc(ts)} (open {o:g}, close {c:g}, neighbours {ref:g})")
            continue
        if h > hi_ok or lo < lo_ok:
            clipped.append(f"{_utc(ts)} (high {h:g}, low {lo:g}, neighbours {ref:g})")
            row = (ts, o, h if h <= hi_ok else max(o, c), lo if lo >= lo_ok else min(o, c), c, v, tb)
        out.append(row)
    notes = []
    if dropped:
        notes.append(
            f"dropped {len(dropped)} bar(s) priced over {factor:g}x away from their neighbours: "
            + "; ".join(dropped[:3])
        )
    if clipped:
        notes.append(
            f"clipped the wick of {len(clipped)} bar(s) reaching over {factor:g}x away from their "
            "neighbours to the bar's open/close: " + "; ".join(clipped[:3])
        )
    return out, notes


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def find_gaps(timestamps: Sequence[int], step_ms: int) -> list[tuple[int, int]]:
    """Runs of missing grid points between consecutive timestamps: ``[(first_missing, last_missing)]``."""
    gaps = []
    for a, b in itertools.pairwise(timestamps):
        if b - a > step_ms:
            gaps.append((a + step_ms, b - step_ms))
    return gaps


def clean_points(
    raw: Iterable[tuple[object, object]], *, allow_negative: bool, what: str
) -> tuple[list[tuple[int, float]], list[str]]:
    """Validate ``(ts, value)`` points (funding rates may be negative, open interest may not)."""
    notes: list[str] = []
    bad = dups = 0
    out: dict[int, float] = {}
    for ts, v in raw:
        if (
            not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts)
            or not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v)
            or (not allow_negative and v < 0)
        ):
            bad += 1
            continue
        if int(ts) in out:
            dups += 1
        out[int(ts)] = float(v)
    if bad:
        notes.append(f"dropped {bad} {what} value(s) that were missing, NaN or out of range")
    if dups:
        notes.append(f"merged {dups} duplicated {what} value(s)")
    return sorted(out.items()), notes


def tiers_binance_form(
    tiers: Sequence[tuple[float, float, float, float]],
) -> list[tuple[float, float, float, float, float]]:
    """``(min_notional, max_notional, mmr, max_leverage)`` brackets -> Binance form with ``cum``.

    Binance's maintenance amount makes the margin continuous at each bracket floor:
    ``cum_i = cum_{i-1} + floor_i * (mmr_i - mmr_{i-1})``, ``cum_0 = 0``.
    """
    out = []
    cum = 0.0
    prev_mmr = None
    for lo, hi, mmr, lev in sorted(tiers):
        if prev_mmr is not None:
            cum += lo * (mmr - prev_mmr)
        out.append((float(lo), float(hi), float(mmr), cum, float(lev)))
        prev_mmr = mmr
    return out
