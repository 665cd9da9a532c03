"""Realised liquidations: the events exchanges publish, and their per-bar totals.

What ``sources/`` hands over (:class:`Liquidation`, one forced order), what the store keeps,
and what the pages and the live accuracy score read (:class:`Realised`: events plus per-bar
totals, with the spans during which each source was listening). Pure standard library +
numpy; no ccxt, no model.

Sides are the side of the *position* that was liquidated: a long is force-closed by a sell
order (Binance ``S = SELL``, OKX ``posSide = long``), a short by a buy.

Coverage matters more than anything here: an hour without events is a zero only where a
source was recording. Every bar therefore carries a ``covered`` flag, and the accuracy
score uses covered bars only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

SIDES = ("long", "short")


@dataclass(frozen=True)
class Liquidation:
    """One realised liquidation (a forced order), in USD.

    ``symbol`` is the configured unified symbol (``BTC/USDT:USDT``); ``ts`` ms UTC (the
    order's trade time); ``price`` the fill price where the source gives it (Binance ``ap``),
    else its order price; ``amount`` base units; ``usd`` = price x amount; ``source`` names
    the feed, e.g. ``binanceusdm:!forceOrder@arr`` or ``okx:rest``.
    """

    exchange: str
    symbol: str
    ts: int
    side: str
    price: float
    amount: float
    usd: float
    source: str

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"liquidation side must be 'long' or 'short', not {self.side!r}")
        for name in ("price", "amount", "usd"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and np.isfinite(v) and v > 0):
                raise ValueError(f"liquidation {name} must be a positive number, not {v!r}")
        if not isinstance(self.ts, int) or self.ts <= 0:
            raise ValueError(f"liquidation time must be positive epoch ms, not {self.ts!r}")


def side_of_order(order_side: str) -> str:
    """The liquidated position's side from the forced order's side (sell closes a long)."""
    s = order_side.strip().lower()
    if s == "sell":
        return "long"
    if s == "buy":
        return "short"
    raise ValueError(f"forced-order side must be buy or sell, not {order_side!r}")


@dataclass(frozen=True)
class Span:
    """A time a source was listening (or a bar series it covers), [start_ms, end_ms)."""

    exchange: str
    source: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class BarTotals:
    """Realised USD per bar from a source that only publishes totals (e.g. hourly aggregates)."""

    source: str  # human name, e.g. "Coinglass hourly aggregate (Binance + Bybit + OKX)"
    bar_ms: int
    timestamp: np.ndarray  # int64 (N,) bar open
    long_usd: np.ndarray  # float64 (N,)
    short_usd: np.ndarray  # float64 (N,)


@dataclass(frozen=True)
class Realised:
    """Everything known about one symbol's realised liquidations."""

    symbol: str
    events: tuple[Liquidation, ...] = ()
    spans: tuple[Span, ...] = ()  # when the event sources were listening
    totals: tuple[BarTotals, ...] = field(default_factory=tuple)

    @property
    def sources(self) -> tuple[str, ...]:
        names = [s.source for s in self.spans] + [t.source for t in self.totals]
        names += [e.source for e in self.events]
        return tuple(dict.fromkeys(names))

    @property
    def event_count(self) -> int:
        return len(self.events)

    def __bool__(self) -> bool:
        # A recording that heard no liquidation is still data (zeros), unlike no recording.
        return bool(self.events or self.totals or self.spans)


@dataclass(frozen=True)
class Bars:
    """Realised USD per bar on a given bar grid; ``covered`` is False where nobody listened."""

    timestamp: np.ndarray  # int64 (T,) bar open
    long_usd: np.ndarray  # float64 (T,)
    short_usd: np.ndarray  # float64 (T,)
    covered: np.ndarray  # bool (T,)
    sources: tuple[str, ...]  # the sources that covered at least one bar


def bucket_events(
    events: Iterable[Liquidation], timestamp: np.ndarray, bar_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum event USD into the bars opening at ``timestamp`` (T,), per side: (long (T,), short (T,))."""
    ts = np.asarray(timestamp, dtype=np.int64)
    out = {s: np.zeros(ts.shape[0], dtype=np.float64) for s in SIDES}
    if ts.shape[0] == 0:
        return out["long"], out["short"]
    evs = list(events)
    if not evs:
        return out["long"], out["short"]
    et = np.array([e.ts for e in evs], dtype=np.int64)
    usd = np.array([e.usd for e in evs], dtype=np.float64)
    side = np.array([e.side == "long" for e in evs])
    idx = np.searchsorted(ts, et, side="right") - 1
    ok = (idx >= 0) & (et < ts[np.clip(idx, 0, None)] + bar_ms)
    for name, mask in (("long", side), ("short", ~side)):
        sel = ok & mask
        out[name] += np.bincount(idx[sel], weights=usd[sel], minlength=ts.shape[0])
    return out["long"], out["short"]


# A bar counts as recorded when sources listened to at least this share of it: the hourly
# publishing job records about 55 minutes of each hour (README), and a bar heard in part
# under-counts by at most the unheard share.
COVER_SHARE = 0.9


def span_coverage(
    spans: Sequence[Span], timestamp: np.ndarray, bar_ms: int, share: float = COVER_SHARE
) -> np.ndarray:
    """True for bars that the union of ``spans`` covers for at least ``share`` of their length."""
    ts = np.asarray(timestamp, dtype=np.int64)
    heard = np.zeros(ts.shape[0], dtype=np.float64)
    union: list[list[int]] = []
    for sp in sorted(spans, key=lambda s: s.start_ms):
        if union and sp.start_ms <= union[-1][1]:
            union[-1][1] = max(union[-1][1], sp.end_ms)
        else:
            union.append([sp.start_ms, sp.end_ms])
    for a, b in union:
        heard += np.clip(np.minimum(ts + bar_ms, b) - np.maximum(ts, a), 0, None)
    return heard >= share * bar_ms


def on_bars(realised: Realised, timestamp: np.ndarray, bar_ms: int) -> Bars:
    """Realised USD per bar of ``timestamp``: bar totals where a totals source has that bar
    at the same length, else events summed where an event source was listening the whole bar.

    Totals win over events for the same bar: an aggregate over several exchanges is more
    complete than one exchange's throttled stream. Sources that cover no bar are not named.
    """
    ts = np.asarray(timestamp, dtype=np.int64)
    n = ts.shape[0]
    long_ = np.zeros(n)
    short = np.zeros(n)
    covered = np.zeros(n, dtype=bool)
    used: list[str] = []
    for tot in realised.totals:
        if bar_ms > tot.bar_ms and bar_ms % tot.bar_ms == 0 and n:
            # Longer bars (e.g. 2 h from hourly totals): a bar counts when every one of its
            # hours is there.
            k = bar_ms // tot.bar_ms
            lo = np.searchsorted(tot.timestamp, ts, side="left")
            hi = np.searchsorted(tot.timestamp, ts + bar_ms, side="left")
            cl = np.concatenate([[0.0], np.cumsum(tot.long_usd)])
            cs = np.concatenate([[0.0], np.cumsum(tot.short_usd)])
            full = ((hi - lo) == k) & ~covered
            if not np.any(full):
                continue
            long_[full] = (cl[hi] - cl[lo])[full]
            short[full] = (cs[hi] - cs[lo])[full]
            covered |= full
            used.append(tot.source)
            continue
        if tot.bar_ms != bar_ms:
            continue
        _, ia, ib = np.intersect1d(ts, tot.timestamp, return_indices=True)
        fresh = ia[~covered[ia]]
        if fresh.shape[0] == 0:
            continue
        pos = {int(a): int(b) for a, b in zip(ia, ib, strict=True)}
        sel = np.array([pos[int(a)] for a in fresh], dtype=np.int64)
        long_[fresh] = tot.long_usd[sel]
        short[fresh] = tot.short_usd[sel]
        covered[fresh] = True
        used.append(tot.source)
    ev_cov = span_coverage(realised.spans, ts, bar_ms) & ~covered
    if np.any(ev_cov):
        el, es = bucket_events(realised.events, ts, bar_ms)
        long_[ev_cov] = el[ev_cov]
        short[ev_cov] = es[ev_cov]
        covered |= ev_cov
        for sp in realised.spans:
            if np.any(ev_cov & (ts < sp.end_ms) & (ts + bar_ms > sp.start_ms)):
                used.append(sp.source)
    return Bars(ts, long_, short, covered, tuple(dict.fromkeys(used)))


def events_between(realised: Realised, start_ms: int, end_ms: int) -> list[Liquidation]:
    """The events in [start_ms, end_ms), oldest first."""
    return sorted((e for e in realised.events if start_ms <= e.ts < end_ms), key=lambda e: e.ts)


def merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Overlapping or touching spans of the same (exchange, source) joined into one."""
    out: list[Span] = []
    for sp in sorted(spans, key=lambda s: (s.exchange, s.source, s.start_ms)):
        last = out[-1] if out else None
        if last and (last.exchange, last.source) == (sp.exchange, sp.source) and sp.start_ms <= last.end_ms:
            out[-1] = Span(last.exchange, last.source, last.start_ms, max(last.end_ms, sp.end_ms))
        else:
            out.append(sp)
    return tuple(out)


@dataclass(frozen=True)
class SideScore:
    """One side's live score: the metrics of ``liqmap evaluate`` on covered bars."""

    logcorr: float | None
    baseline_logcorr: float | None
    top10: float | None
    baseline_top10: float | None
    pred_to_real_usd: float | None  # predicted USD / realised USD over the covered bars


@dataclass(frozen=True)
class Accuracy:
    """The model's predicted series scored against realised liquidations over a window."""

    window_days: int
    bars: int  # covered bars the score rests on
    bar_ms: int
    floor_bars: int  # below this many covered bars: "not enough data" (long/short None)
    sources: tuple[str, ...]
    long: SideScore | None
    short: SideScore | None

    @property
    def enough(self) -> bool:
        return self.long is not None and self.short is not None
