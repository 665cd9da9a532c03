"""Realised liquidations and live accuracy as numbers and words: ``data/<slug>.json``
blocks, CSV columns, template rows. Pure numpy, no bokeh (see :mod:`sitegen.render.realised`
for the charts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from sitegen.liquidations import Accuracy, Realised, SideScore, events_between, on_bars

HOUR_MS = 3_600_000
BINANCE_LIMIT = (
    "Binance's force-order stream sends at most one liquidation per symbol per second (the "
    "latest), so bursts are under-counted."
)


def _side(s: SideScore | None) -> dict[str, float | None] | None:
    if s is None:
        return None
    r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
    return {
        "logcorr": r(s.logcorr),
        "baseline_logcorr": r(s.baseline_logcorr),
        "top10": r(s.top10),
        "baseline_top10": r(s.baseline_top10),
        "pred_to_real_usd": r(s.pred_to_real_usd),
    }


def accuracy_block(acc: Accuracy) -> dict[str, object]:
    """The ``accuracy`` / ``accuracy_30d`` object of ``data/<slug>.json``."""
    return {
        "window_days": acc.window_days,
        "bars": acc.bars,
        "bar_minutes": acc.bar_ms // 60_000,
        "floor_bars": acc.floor_bars,
        "enough_data": acc.enough,
        "sources": list(acc.sources),
        "long": _side(acc.long),
        "short": _side(acc.short),
    }


def realised_block(realised: Realised | None, timestamp: np.ndarray, bar_ms: int) -> dict[str, object] | None:
    """The ``realised`` object of ``data/<slug>.json``: USD per bar of ``timestamp`` (the
    published window of the main timeframe); null where no source covered the bar. When the
    main timeframe is finer than an hour, ``hourly`` gives the hourly totals of the window."""
    if not realised:
        return None
    ts = np.asarray(timestamp, dtype=np.int64)
    bars = on_bars(realised, ts, bar_ms)
    out: dict[str, object] = {
        "units": "USD of realised liquidations per bar (bar open time, ms UTC); null = not recorded",
        "bar_minutes": bar_ms // 60_000,
        "sources": list(bars.sources),
        "timestamp_ms": [int(t) for t in ts],
        "long_usd": [round(float(v), 2) if c else None for v, c in zip(bars.long_usd, bars.covered, strict=True)],
        "short_usd": [round(float(v), 2) if c else None for v, c in zip(bars.short_usd, bars.covered, strict=True)],
    }
    if bar_ms < HOUR_MS and ts.shape[0]:
        hours = np.unique((ts // HOUR_MS) * HOUR_MS)
        hb = on_bars(realised, hours, HOUR_MS)
        out["hourly"] = {
            "sources": list(hb.sources),
            "timestamp_ms": [int(t) for t in hours],
            "long_usd": [round(float(v), 2) if c else None for v, c in zip(hb.long_usd, hb.covered, strict=True)],
            "short_usd": [round(float(v), 2) if c else None for v, c in zip(hb.short_usd, hb.covered, strict=True)],
        }
    return out


def realised_by_row(
    realised: Realised | None, edges: np.ndarray, start_ms: int, end_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """USD of single realised liquidations per price row (B,) in [start_ms, end_ms), per side
    (for the CSV beside the liquidation map; hourly totals have no price and are left out)."""
    b = edges.shape[0] - 1
    long_, short = np.zeros(b), np.zeros(b)
    if not realised:
        return long_, short
    for e in events_between(realised, start_ms, end_ms):
        i = int(np.searchsorted(edges, e.price, side="right") - 1)
        if 0 <= i < b:
            (long_ if e.side == "long" else short)[i] += e.usd
    return long_, short


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:.0%}" if pct else f"{v:.2f}"


def accuracy_rows(acc: Accuracy) -> list[dict[str, Any]]:
    """Table rows for the templates: side, model vs baseline for both scores, USD ratio."""
    rows = []
    for side, s in (("long", acc.long), ("short", acc.short)):
        if s is None:
            continue
        rows.append({
            "side": side,
            "logcorr": _fmt(s.logcorr), "baseline_logcorr": _fmt(s.baseline_logcorr),
            "top10": _fmt(s.top10, pct=True), "baseline_top10": _fmt(s.baseline_top10, pct=True),
            "ratio": "n/a" if s.pred_to_real_usd is None else f"{s.pred_to_real_usd:.1f}x",
            "beats": s.logcorr is not None and s.baseline_logcorr is not None and s.logcorr > s.baseline_logcorr,
        })
    return rows


def accuracy_line(acc: Accuracy) -> str:
    """One sentence for the index and the feed: the score, or why there is none."""
    if not acc.enough:
        return (f"{acc.window_days} d: not enough data ({acc.bars} recorded hourly bars, "
                f"needs {acc.floor_bars})")
    assert acc.long is not None and acc.short is not None
    return (f"{acc.window_days} d, {acc.bars} bars: log-corr. long {_fmt(acc.long.logcorr)} "
            f"(baseline {_fmt(acc.long.baseline_logcorr)}), short {_fmt(acc.short.logcorr)} "
            f"(baseline {_fmt(acc.short.baseline_logcorr)})")


class RealisedLike(Protocol):
    """A :class:`Realised`, or what a symbol's card keeps of it (sources and event count)."""

    @property
    def sources(self) -> tuple[str, ...]: ...

    @property
    def event_count(self) -> int: ...


class ReportFacts(Protocol):
    """What :func:`page_context` reads of a symbol: its report, or its card."""

    @property
    def realised(self) -> RealisedLike | None: ...

    @property
    def accuracy(self) -> tuple[Accuracy, ...]: ...


def limits_of(realised: RealisedLike | None) -> list[str]:
    """What the sources miss, said on the page."""
    if not realised:
        return []
    out = []
    names = " ".join(realised.sources).lower()
    if "forceorder" in names:
        out.append(BINANCE_LIMIT)
    if "coinglass" in names:
        out.append("The hourly totals are Coinglass's aggregate of Binance, Bybit and OKX; "
                   "the model here runs on the exchanges listed on this page only, so predicted "
                   "and realised USD cover different markets: compare their shapes, not sizes.")
    return out


def utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def page_context(report: ReportFacts) -> dict[str, Any]:
    """What the templates need about realised liquidations and accuracy of one symbol."""
    return {
        "windows": [
            {"acc": a, "rows": accuracy_rows(a), "line": accuracy_line(a)} for a in report.accuracy
        ],
        "limits": limits_of(report.realised),
        "sources": list(report.realised.sources) if report.realised else [],
        "events": report.realised.event_count if report.realised else 0,
    }
