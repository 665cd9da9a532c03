"""Per-symbol facts for the pages and the data files: clusters, headlines, per exchange.

Pure (numpy + the model's own cluster finder), no bokeh/jinja: the same numbers feed the
HTML, ``data/<slug>.json`` / ``.csv``, the Open Graph image and the feed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

from sitegen.config import RANGES
from sitegen.model.types import Cluster, ModelResult
from sitegen.render.exchange_view import page_exchanges
from sitegen.render.levels import (
    Level,
    change_pct,
    default_range,
    fmt_usd,
    headline,
    levels,
    nearest_large,
)
from sitegen.render.realised_data import accuracy_block, realised_block, realised_by_row
from sitegen.report import SiteData, SymbolReport
from sitegen.times import iso

TOP_CLUSTERS = 10  # the table and the JSON
NEAREST_FROM = 40  # "nearest large cluster" looks among this many, not only the giants
BAND_PCT = 10.0  # "within 10 % of price" totals
NEAR_BAND_PCT = 5.0  # the narrower band of the market overview ("within 5 %")
SCHEMA_VERSION = 1


def model_clusters(result: ModelResult, top: int) -> list[Cluster]:
    """The model's largest clusters at the last bar (``sitegen.model.clusters``)."""
    from sitegen.model.outputs import clusters

    return list(clusters(result, top))


def main_timeframe(report: SymbolReport) -> str:
    return RANGES[default_range(report)][0]


@dataclass(frozen=True)
class ExchangeRow:
    exchange: str
    long_usd: float  # longs within BAND_PCT below price
    short_usd: float
    volume_model: bool


class ReportLike(Protocol):
    """What every :class:`Summary` knows of its symbol: a :class:`SymbolReport` (with the model
    arrays, for the symbol's own files) or a :class:`sitegen.render.card.ReportCard` (without
    them, for the index, feed, sitemap and the other global files)."""

    @property
    def symbol(self) -> str: ...


R = TypeVar("R", bound=ReportLike)


@dataclass(frozen=True)
class Summary(Generic[R]):
    """The headline facts of one symbol. ``Summary[SymbolReport]`` renders the symbol's files;
    its card (:func:`sitegen.render.card.card_of`, the same fields with a light report) renders
    the global ones and travels as JSON between processes and shards."""

    report: R
    timeframe: str
    last_price: float
    change_24h: float | None
    levels: list[Level]  # largest first, both sides
    nearest_long: Level | None
    nearest_short: Level | None
    long_band_usd: float
    short_band_usd: float
    long_band5_usd: float  # longs within NEAR_BAND_PCT below price
    short_band5_usd: float  # shorts within NEAR_BAND_PCT above price
    per_exchange: list[ExchangeRow]
    data_hash: str  # changes only when the data does (sitemap lastmod, feed entries)

    @property
    def headlines(self) -> list[str]:
        out = [headline(self.nearest_long, self.last_price), headline(self.nearest_short, self.last_price)]
        return [h for h in out if h]

    @property
    def base(self) -> str:
        return self.report.symbol.split("/")[0]

    @property
    def pair(self) -> str:
        base, _, rest = self.report.symbol.partition("/")
        return f"{base}/{rest.split(':')[0]}"

    def describe(self) -> str:
        """A plain-text description (meta description, og, feed, screen readers)."""
        parts = [
            f"{self.pair} perpetual at ${self.last_price:,.{2 if self.last_price < 1000 else 0}f}.",
            f"Estimated {fmt_usd(self.long_band_usd)} of long and {fmt_usd(self.short_band_usd)} "
            f"of short liquidations within {BAND_PCT:.0f} % of price.",
            *self.headlines,
        ]
        return " ".join(parts)


def _band(result: ModelResult, last: float, pct: float = BAND_PCT) -> tuple[float, float]:
    """USD of longs within ``pct`` % below ``last`` and of shorts within ``pct`` % above it."""
    c = result.price_centers
    lo, hi = last * (1 - pct / 100), last * (1 + pct / 100)
    long_usd = float(result.map_long[(c >= lo) & (c <= last)].sum())
    short_usd = float(result.map_short[(c > last) & (c <= hi)].sum())
    return long_usd, short_usd


def _levels_for(result: ModelResult, top: int = TOP_CLUSTERS) -> list[Level]:
    from sitegen.model.outputs import cumulative

    cl, cs = cumulative(result)
    return levels(model_clusters(result, top), result.price_centers, cl, cs)


def data_hash(report: SymbolReport, tf: str) -> str:
    """Hash of what the pages show; Bokeh HTML is not byte-stable, so never hash that."""
    res = report.results[tf]
    h = hashlib.sha256()
    h.update(report.symbol.encode())
    h.update(np.ascontiguousarray(res.timestamp[-1:]).tobytes())
    h.update(np.ascontiguousarray(res.close[-1:]).tobytes())
    h.update(np.ascontiguousarray(res.heat_long[-1]).tobytes())
    h.update(np.ascontiguousarray(res.heat_short[-1]).tobytes())
    h.update(json.dumps(res.params.as_dict(), sort_keys=True).encode())
    h.update(str(report.stale).encode())
    return h.hexdigest()[:16]


def summarise(report: SymbolReport) -> Summary[SymbolReport]:
    tf = main_timeframe(report)
    result = report.results[tf]
    last = float(result.close[-1])
    lv = _levels_for(result, NEAREST_FROM)
    long_band, short_band = _band(result, last)
    long_band5, short_band5 = _band(result, last, NEAR_BAND_PCT)
    rows = []
    for ex, res in sorted(report.per_exchange.get(tf, {}).items()):
        lb, sb = _band(res, last)
        rows.append(
            ExchangeRow(
                exchange=ex,
                long_usd=lb,
                short_usd=sb,
                volume_model=res.volume_model,
            )
        )
    return Summary(
        report=report,
        timeframe=tf,
        last_price=last,
        change_24h=change_pct(report.candles[tf]),
        levels=sorted(lv, key=lambda x: -x.usd)[:TOP_CLUSTERS],
        nearest_long=nearest_large(lv, "long"),
        nearest_short=nearest_large(lv, "short"),
        long_band_usd=long_band,
        short_band_usd=short_band,
        long_band5_usd=long_band5,
        short_band5_usd=short_band5,
        per_exchange=rows,
        data_hash=data_hash(report, tf),
    )


def _level_dict(lv: Level) -> dict[str, object]:
    return {
        "side": lv.side,
        "price": round(lv.price, 8),
        "usd": round(lv.usd, 2),
        "distance_pct": round(lv.distance_pct, 3),
        "cumulative_usd": round(lv.cumulative_usd, 2),
    }


def _map_rows(report: SymbolReport, tf: str) -> tuple[ModelResult, np.ndarray, np.ndarray, np.ndarray]:
    from sitegen.model.outputs import cumulative

    res = report.results[tf]
    cl, cs = cumulative(res)
    return res, np.asarray(res.price_edges), cl, cs


def symbol_json(site: SiteData, s: Summary) -> bytes:
    """``data/<slug>.json``: everything behind the page, with times, staleness and parameters."""
    r = s.report
    res, edges, cl, cs = _map_rows(r, s.timeframe)
    keep = (res.map_long > 0) | (res.map_short > 0)
    payload: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "symbol": r.symbol,
        "slug": r.slug,
        "generated_at": iso(site.generated_at),
        "as_of": iso(r.as_of),
        "stale": r.stale,
        "stale_since": iso(r.stale_since) if r.stale_since else None,
        "source": r.source,
        "volume_model": r.volume_model,
        "exchanges": list(r.exchanges),
        "failed_exchanges": list(r.failed_exchanges),
        "unlisted_exchanges": list(r.unlisted_exchanges),
        "exchange_pages": list(page_exchanges(r)),
        "ranges": list(r.ranges),
        "timeframe": s.timeframe,
        "last_price": s.last_price,
        "change_24h_pct": None if s.change_24h is None else round(s.change_24h, 3),
        "parameters": r.results[s.timeframe].params.as_dict(),
        "summary": s.headlines,
        "within_pct": BAND_PCT,
        "long_usd_within": round(s.long_band_usd, 2),
        "short_usd_within": round(s.short_band_usd, 2),
        "bands": [
            {"within_pct": pct, "long_usd": round(lo, 2), "short_usd": round(sh, 2)}
            for pct, lo, sh in ((NEAR_BAND_PCT, s.long_band5_usd, s.short_band5_usd),
                                (BAND_PCT, s.long_band_usd, s.short_band_usd))
        ],
        "clusters": [_level_dict(lv) for lv in s.levels],
        "per_exchange": [
            {
                "exchange": row.exchange,
                "long_usd_within": round(row.long_usd, 2),
                "short_usd_within": round(row.short_usd, 2),
                "volume_model": row.volume_model,
            }
            for row in s.per_exchange
        ],
        "notes": list(r.notes),
        "liquidation_map": {
            "units": "USD of estimated liquidations per price row at the last bar",
            "price_low": [round(float(x), 8) for x in edges[:-1][keep]],
            "price_high": [round(float(x), 8) for x in edges[1:][keep]],
            "long_usd": [round(float(x), 2) for x in res.map_long[keep]],
            "short_usd": [round(float(x), 2) for x in res.map_short[keep]],
            "cum_long_usd": [round(float(x), 2) for x in cl[keep]],
            "cum_short_usd": [round(float(x), 2) for x in cs[keep]],
        },
        "predicted_liquidations": _predicted(res),
        "realised": _realised(r, res),
        "accuracy": accuracy_block(r.accuracy[0]) if r.accuracy else None,
        "accuracy_30d": accuracy_block(r.accuracy[1]) if len(r.accuracy) > 1 else None,
        "data_hash": s.data_hash,
    }
    return json.dumps(payload, indent=1, allow_nan=False).encode("utf-8")


PREDICTED_BARS = 288  # one day of 5-minute bars (12 days of hourly ones)


def _predicted(res: ModelResult) -> dict[str, object]:
    """The model's predicted liquidations per bar, the series the methodology page scores."""
    n = min(PREDICTED_BARS, int(res.timestamp.size))
    return {
        "units": "USD the model predicts liquidated in each bar, at its levels plus unlocated, in "
                 "calibrated dollars (bar open time, ms UTC)",
        "timestamp_ms": [int(t) for t in res.timestamp[-n:]],
        "long_usd": [round(float(x), 2) for x in res.predicted_long[-n:]],
        "short_usd": [round(float(x), 2) for x in res.predicted_short[-n:]],
    }


def _realised(r: SymbolReport, res: ModelResult) -> dict[str, object] | None:
    """Realised USD per bar over the same window as ``predicted_liquidations``."""
    n = min(PREDICTED_BARS, int(res.timestamp.size))
    bar_ms = int(res.timestamp[-1] - res.timestamp[-2]) if res.timestamp.size > 1 else 300_000
    return realised_block(r.realised, res.timestamp[-n:], bar_ms)


def symbol_csv(s: Summary) -> bytes:
    """``data/<slug>.csv``: the liquidation map, one row per non-empty price row, with the
    single realised liquidations of the published window (the last ``PREDICTED_BARS`` bars)
    summed into the same price rows."""
    res, edges, cl, cs = _map_rows(s.report, s.timeframe)
    n = min(PREDICTED_BARS, int(res.timestamp.size))
    bar_ms = int(res.timestamp[-1] - res.timestamp[-2]) if res.timestamp.size > 1 else 300_000
    rl, rs = realised_by_row(s.report.realised, edges, int(res.timestamp[-n]), int(res.timestamp[-1]) + bar_ms)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["price_low", "price_high", "long_usd", "short_usd", "cum_long_usd", "cum_short_usd",
                "realised_long_usd", "realised_short_usd"])
    for i in np.flatnonzero((res.map_long > 0) | (res.map_short > 0) | (rl > 0) | (rs > 0)):
        w.writerow([
            f"{edges[i]:.8g}", f"{edges[i + 1]:.8g}", f"{res.map_long[i]:.2f}",
            f"{res.map_short[i]:.2f}", f"{cl[i]:.2f}", f"{cs[i]:.2f}", f"{rl[i]:.2f}", f"{rs[i]:.2f}",
        ])
    return buf.getvalue().encode("utf-8")
