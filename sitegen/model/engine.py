"""The open-interest-flow liquidation engine (DESIGN.md section 3), vectorised numpy.

Vocabulary: a *cohort* is the notional opened in one bar ``t``, on one side, at one entry
point ``j`` and one leverage ``l``. It has one liquidation price ``P`` and lives until the
first *later* bar whose low (long) or high (short) reaches ``P``; meanwhile it shrinks by the
closing factor of every later bar (open interest falling for reasons other than the model's
own liquidations, plus optional decay).

Model v2 adds, all optional through ``ModelParams``: same-bar liquidation along an assumed
intrabar path (``same_bar_share``; part of the open-interest fixed point), gross flows from
finer open interest (``ModelInput.oi_up_usd``/``oi_down_usd``), an *unlocated* per-bar term
added to the predicted series only (``unlocated``), and one pooled dollar scale on every
output (``usd_scale``, applied in ``run_model``; ``Solved`` stays in open-interest units).

How the engine avoids Python loops over bars x price rows:

1. *First later bar that reaches a level*: a sparse table of running minima of ``low``
   (maxima of ``high``) and a binary-lifting search, vectorised over all cohorts at once
   (``O(cohorts x log T)``).
2. *Closing factors*: with ``F_t`` the product of all per-bar survival factors up to ``t``,
   a cohort opened at ``t`` holds ``n * F_u / F_t`` at bar ``u``. The factors depend on the
   model's own liquidations, which depend on the factors; this triangular system is solved by
   a few vectorised fixed-point passes (each pass is a ``bincount``), until it stops changing.
3. *Heatmap*: difference arrays. A cohort adds ``n / F_t`` at (t, row) and removes it at its
   liquidation bar; a running sum over time (row by row, ``running_sum``) multiplied by
   ``F_u`` gives the survivors.
   The time axis is processed in chunks, carrying the running state, so memory stays bounded
   (``chunk_cells``) whatever the number of bars. Logarithms of ``F`` keep a year of decay
   from underflowing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sitegen.model.liqprice import liq_price_long, liq_price_short, tier_lookup
from sitegen.model.types import ModelInput, ModelParams, ModelResult

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
# Largest share of open interest one bar may close (keeps log(1 - c) finite).
MAX_CLOSE_SHARE = 0.999
# Within one heat chunk the survival factor may not fall by more than e^-CHUNK_LOG_SPAN, so
# the scaled difference-array values stay far from float64 overflow.
CHUNK_LOG_SPAN = 300.0
FIXED_POINT_PASSES = 12


# ---------------------------------------------------------------------------- grid


def price_grid(low: float, high: float, bin_pct: float) -> np.ndarray:
    """Log-spaced price edges from ``low`` up to at least ``high``; step ``bin_pct`` percent.

    Returns float64 (B + 1,), ``edges[k] = low * (1 + bin_pct/100) ** k``.
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high <= low:
        raise ValueError(f"price grid needs 0 < low < high, got low={low}, high={high}")
    if not 0 < bin_pct < 100:
        raise ValueError(f"bin_pct must be in (0, 100) percent, got {bin_pct}")
    step = math.log1p(bin_pct / 100.0)
    n = max(math.ceil(math.log(high / low) / step - 1e-9), 1)
    return low * np.exp(step * np.arange(n + 1, dtype=np.float64))


def default_grid(inp: ModelInput, params: ModelParams) -> np.ndarray:
    """Grid around the data: the traded range and the last close +- ``grid_span_pct``."""
    span = 1.0 + params.grid_span_pct / 100.0
    last = float(inp.close[-1])
    low = min(float(np.min(inp.low)), last / span)
    high = max(float(np.max(inp.high)), last * span)
    return price_grid(low, high, params.bin_pct)


# ---------------------------------------------------------------------------- inputs


def _check_input(inp: ModelInput) -> int:
    t = int(np.asarray(inp.timestamp).shape[0])
    if t == 0:
        raise ValueError("model input has no bars")
    for name in ("open", "high", "low", "close", "volume"):
        arr = np.asarray(getattr(inp, name))
        if arr.shape != (t,):
            raise ValueError(f"model input '{name}' has shape {arr.shape}, expected ({t},)")
    prices = np.stack([inp.open, inp.high, inp.low, inp.close]).astype(np.float64)
    if not np.all(np.isfinite(prices)) or np.any(prices <= 0):
        bad = np.flatnonzero(~np.all(np.isfinite(prices) & (prices > 0), axis=0))
        raise ValueError(f"model input has non-positive or NaN prices at bars {bad[:10].tolist()}")
    for name in ("oi_usd", "taker_buy_volume"):
        arr = getattr(inp, name)
        if arr is not None and np.asarray(arr).shape != (t,):
            raise ValueError(f"model input '{name}' has shape {np.asarray(arr).shape}, expected ({t},)")
    return t


def typical_price(inp: ModelInput) -> np.ndarray:
    """Geometric typical price (high x low x close) ** (1/3), USD (T,)."""
    h, lo, c = (np.asarray(x, dtype=np.float64) for x in (inp.high, inp.low, inp.close))
    return np.exp((np.log(h) + np.log(lo) + np.log(c)) / 3.0)


def entry_prices(low: np.ndarray, high: np.ndarray, mode: np.ndarray, points: int) -> np.ndarray:
    """``points`` equal-weight entry prices per bar, shape (T, J).

    They are the quantiles ``(j + 0.5) / J`` of a triangular distribution of log price on
    [log low, log high] with its mode at log ``mode`` (the typical price): more entries near
    where the bar traded most. Working in log price makes a mirrored price path (p -> K/p)
    give exactly mirrored entries.
    """
    a = np.log(np.asarray(low, float))[:, None]
    b = np.log(np.asarray(high, float))[:, None]
    c = np.clip(np.log(np.asarray(mode, float))[:, None], a, b)
    p = (np.arange(points, dtype=np.float64) + 0.5) / points
    width = b - a
    safe = np.where(width > 0, width, 1.0)
    fc = np.where(width > 0, (c - a) / safe, 0.5)
    left = a + np.sqrt(np.maximum(p * width * (c - a), 0.0))
    right = b - np.sqrt(np.maximum((1.0 - p) * width * (b - c), 0.0))
    # clipped: exp(log(x)) may miss x by an ulp, and the intrabar path compares with low/high
    return np.clip(np.exp(np.where(p < fc, left, right)), np.exp(a), np.exp(b))


@dataclass(frozen=True)
class Flows:
    """Per-bar notional flows that drive the model (USD, shape (T,))."""

    new_long: np.ndarray
    new_short: np.ndarray
    oi_drop: np.ndarray  # max(OI_{t-1} - OI_t, 0) where both are known, else 0
    oi_prev: np.ndarray  # OI_{t-1} where known, else NaN
    log_decay: np.ndarray  # log survival factor of decay per bar (<= 0)
    volume_bars: np.ndarray  # bool, bars whose new notional came from the volume fallback


def flows(inp: ModelInput, params: ModelParams) -> Flows:
    """New notional per side, open-interest drops and decay per bar (steps 1, 5 and 6).

    * OI known at t-1 and t: new = max(OI_t - OI_{t-1}, 0).
    * Otherwise (no OI, or the first bar of the series): the volume fallback,
      new = volume_oi_ratio * max(quote volume - its trailing mean over volume_ma_bars, 0);
      such bars also decay with ``volume_decay_half_life_hours`` (no OI to close them).
    """
    t = int(np.asarray(inp.timestamp).shape[0])
    tp = typical_price(inp)
    qvol = np.nan_to_num(np.asarray(inp.volume, float), nan=0.0) * tp
    if inp.oi_usd is None:
        oi = np.full(t, np.nan)
    else:
        oi = np.asarray(inp.oi_usd, dtype=np.float64).copy()
        oi[~np.isfinite(oi) | (oi < 0)] = np.nan
    prev = np.concatenate([[np.nan], oi[:-1]])
    known = np.isfinite(oi) & np.isfinite(prev)
    delta = np.where(known, oi - np.where(known, prev, 0.0), 0.0)
    new_oi = np.maximum(delta, 0.0)
    drop = np.maximum(-delta, 0.0)
    if inp.oi_up_usd is not None and inp.oi_down_usd is not None:
        # Gross flows from finer open interest: positions opened and closed inside the bar
        # (the net change hides a bar that opened much and closed much).
        up = np.asarray(inp.oi_up_usd, dtype=np.float64)
        down = np.asarray(inp.oi_down_usd, dtype=np.float64)
        gross = known & np.isfinite(up) & np.isfinite(down) & (up >= 0) & (down >= 0)
        new_oi = np.where(gross, up, new_oi)
        drop = np.where(gross, down, drop)

    # Volume fallback: trailing mean of the previous `w` bars (expanding at the start).
    w = max(int(params.volume_ma_bars), 1)
    csum = np.concatenate([[0.0], np.cumsum(qvol)])
    idx = np.arange(t)
    lo = np.maximum(idx - w, 0)
    cnt = idx - lo
    mean = np.where(cnt > 0, (csum[idx] - csum[lo]) / np.maximum(cnt, 1), qvol)
    new_vol = params.volume_oi_ratio * np.maximum(qvol - mean, 0.0)
    volume_bars = ~known
    new = np.where(known, new_oi, new_vol)

    if params.side_attribution == "taker" and inp.taker_buy_volume is not None:
        share = np.asarray(inp.taker_buy_volume, float) / np.where(
            np.asarray(inp.volume, float) > 0, np.asarray(inp.volume, float), np.nan
        )
        share = np.clip(np.nan_to_num(share, nan=0.5), 0.0, 1.0)
        new_long, new_short = new * 2.0 * share, new * 2.0 * (1.0 - share)
    else:
        if params.side_attribution == "taker":
            log.info("side_attribution='taker' but no taker volume: using symmetric attribution")
        elif params.side_attribution != "symmetric":
            raise ValueError(
                f"side_attribution must be 'symmetric' or 'taker', got {params.side_attribution!r}"
            )
        new_long, new_short = new, new.copy()

    bar_hours = inp.bar_ms / HOUR_MS
    log_decay = np.zeros(t)
    if params.decay_half_life_hours > 0:
        log_decay -= math.log(2.0) * bar_hours / params.decay_half_life_hours
    if params.volume_decay_half_life_hours > 0:
        extra = math.log(2.0) * bar_hours / params.volume_decay_half_life_hours
        log_decay = np.where(volume_bars, np.minimum(log_decay, -extra), log_decay)
    return Flows(new_long, new_short, drop, np.where(known, prev, np.nan), log_decay, volume_bars)


# ---------------------------------------------------------------------------- levels


@dataclass(frozen=True)
class Cohorts:
    """All cohorts of one side, flattened (N,). ``leverage`` indexes params.leverages.

    ``notional`` is what enters the book after the opening bar; the part the opening bar
    itself liquidates (intrabar path) is in ``same_bar`` (T,), summed per bar.
    """

    bar: np.ndarray  # int32 bar the cohort was opened in (ascending)
    leverage: np.ndarray  # int32 index into the leverage list
    price: np.ndarray  # float64 liquidation price
    notional: np.ndarray  # float64 USD at opening (after the same-bar liquidation)
    liq_bar: np.ndarray  # int32 first later bar that reaches price; T = never
    same_bar: np.ndarray  # float64 (T,) USD liquidated inside the bar that opened it


INTRABAR_MODES = ("path", "off")
# Relative slack when comparing an entry with the bar's open and close (see same_bar_share).
PATH_SLACK = 1e-9


def same_bar_share(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
    entry: np.ndarray, level: np.ndarray, side: int,
) -> np.ndarray:
    """Share of a cohort liquidated inside the bar that opened it, in [0, 1].

    The bar's path is assumed O->L->H->C when it closes up and O->H->L->C when it closes
    down (half of each for an unchanged close, so a mirrored path gives mirrored shares).
    Each pass of the path through the entry price carries an equal share of the entries;
    that share is liquidated in the bar when the rest of the path reaches ``level`` (below
    the entry for longs, ``side`` 0; above for shorts, ``side`` 1). Arrays broadcast
    together; bar values must have a trailing axis for each extra axis of ``entry``.
    """
    e, p = entry, level

    def f(mask: np.ndarray) -> np.ndarray:
        return np.asarray(mask, dtype=np.float64)

    # Entries can sit exactly on the open or close (a bar with no wick on that side): compare
    # with a relative slack, so rounding (e.g. in a mirrored path) cannot flip a pass.
    def le(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return f(x <= y * (1.0 + PATH_SLACK))

    def ge(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return f(x >= y * (1.0 - PATH_SLACK))

    e_le_o, e_ge_o, e_le_c, e_ge_c = le(e, o), ge(e, o), le(e, c), ge(e, c)
    n_up = 1.0 + e_le_o + e_ge_c  # passes through the entry on O->L->H->C
    n_down = 1.0 + e_ge_o + e_le_c  # on O->H->L->C
    if side == 0:
        # up bar: passes on O->L (entry <= O) see the rest reach L; on L->H (always) and
        # H->C (entry >= C) the rest reaches C. Down bar: passes on O->H (entry >= O) and
        # H->L (always) see L; on L->C (entry <= C) the rest only rises.
        up = (e_le_o * f(lo <= p) + f(c <= p) * (1.0 + e_ge_c)) / n_up
        down = (e_ge_o + 1.0) * f(lo <= p) / n_down
    else:
        # the mirror image: up bar, passes on O->L and L->H see H, on H->C nothing;
        # down bar, O->H sees H, H->L and L->C see C
        up = (e_le_o + 1.0) * f(h >= p) / n_up
        down = (e_ge_o * f(h >= p) + f(c >= p) * (1.0 + e_le_c)) / n_down
    w = up_weight(o, c)
    return w * up + (1.0 - w) * down


# A close within this relative distance of the open blends the two paths (half each at an
# exact tie); far below any listed contract's tick, so every real bar has one direction.
DIRECTION_BAND = 1e-7


def up_weight(o: np.ndarray | float, c: np.ndarray | float) -> np.ndarray:
    """Weight of the O->L->H->C path: 1 for a rising bar, 0 for a falling one, 1/2 at a tie.

    Continuous across a tiny band around the tie, so a rounding step (e.g. in a mirrored
    path, K / price) moves the weight by about 1e-9 instead of flipping the whole bar.
    """
    r = np.log(np.asarray(c, dtype=np.float64) / np.asarray(o, dtype=np.float64))
    return np.clip(0.5 + r / (2.0 * DIRECTION_BAND), 0.0, 1.0)


def leverage_set(
    params: ModelParams, tiers: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Effective leverages (capped by the bracket's max leverage), weights, mmr and cum.

    The bracket is the one of ``position_notional_usd``; weights are normalised to sum 1.
    """
    lev = np.asarray(params.leverages, dtype=np.float64)
    w = np.asarray(params.leverage_weights, dtype=np.float64)
    if lev.shape != w.shape or lev.size == 0:
        raise ValueError(
            f"{len(params.leverages)} leverages but {len(params.leverage_weights)} weights "
            "(give one weight per leverage)"
        )
    if np.any(lev < 1) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("leverages must be >= 1 and weights >= 0 with a positive sum")
    mmr, cum, max_lev = (float(v) for v in tier_lookup(params.position_notional_usd, tiers))
    # A leverage above what the bracket allows is opened at the bracket's maximum instead;
    # also never beyond 1/mmr, where the position would be liquidated at its entry.
    cap = min(max_lev, 0.95 / mmr)
    return np.minimum(lev, cap), w / w.sum(), mmr, cum


def _sparse_min_table(x: np.ndarray) -> np.ndarray:
    """table[k, i] = min(x[i : i + 2**k]) where the block fits in x, else -inf; shape (K, T+1).

    The -inf padding makes an incomplete block (running past the end) never skippable, and
    column T lets a search that has passed every bar stay put.
    """
    t = x.shape[0]
    levels = max(int(t).bit_length(), 1)
    table = np.full((levels, t + 1), -np.inf)
    table[0, :t] = x
    for k in range(1, levels):
        half = 1 << (k - 1)
        n = t - (1 << k) + 1
        if n <= 0:
            break
        np.minimum(table[k - 1, :n], table[k - 1, half : half + n], out=table[k, :n])
    return table


def first_reach(x: np.ndarray, start: np.ndarray, level: np.ndarray) -> np.ndarray:
    """For each query, the first index ``s >= start`` with ``x[s] <= level``; ``len(x)`` if none.

    Vectorised binary lifting over a sparse table of block minima: O(Q log T). Invariant:
    every bar in [start, pos) stays above the level; a block is skipped when its minimum does.
    """
    t = x.shape[0]
    table = _sparse_min_table(np.asarray(x, dtype=np.float64))
    pos = np.minimum(np.asarray(start, dtype=np.int64), t)
    lvl = np.asarray(level, dtype=np.float64)
    for k in range(table.shape[0] - 1, -1, -1):
        pos += (table[k][pos] > lvl).astype(np.int64) << k
    return pos


def multipliers(
    params: ModelParams, tiers: np.ndarray | None, form: str = "binance"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Liquidation price / entry price per side and leverage, shape (2, L); and L, weights.

    With a typical position of ``N = position_notional_usd``, ``Q = N / E``, every exchange
    formula is proportional to the entry price (``cum / Q = cum * E / N``), so one multiplier
    per side and leverage describes all levels.
    """
    lev, w, mmr, cum = leverage_set(params, tiers)
    n = params.position_notional_usd
    k_long = liq_price_long(1.0, lev, mmr, cum, n, form=form)
    k_short = liq_price_short(1.0, lev, mmr, cum, n, form=form)
    return np.stack([k_long, k_short]), lev, w


def cohorts(
    inp: ModelInput, params: ModelParams, fl: Flows, mult: np.ndarray | None = None
) -> tuple[Cohorts, Cohorts, np.ndarray]:
    """Long and short cohorts with their liquidation prices and liquidation bars.

    ``mult`` (2, L) overrides the exchange's liquidation multipliers (tests, what-if
    studies). Returns (longs, shorts, effective leverages).
    """
    t = int(np.asarray(inp.timestamp).shape[0])
    k, lev, w = multipliers(params, inp.tiers, inp.margin_form)
    if mult is not None:
        k = np.asarray(mult, dtype=np.float64)
        if k.shape != (2, lev.shape[0]):
            raise ValueError(f"multipliers must have shape (2, {lev.shape[0]}), got {k.shape}")
    low = np.asarray(inp.low, dtype=np.float64)
    high = np.asarray(inp.high, dtype=np.float64)
    j = max(int(params.entry_points), 1)
    entries = entry_prices(low, high, typical_price(inp), j)  # (T, J)
    n_lev = lev.shape[0]
    # cohorts ordered by (bar, leverage, entry point): sorted by opening bar
    shape = (t, n_lev, j)
    bars = np.broadcast_to(np.arange(t, dtype=np.int32)[:, None, None], shape).ravel()
    levi = np.broadcast_to(np.arange(n_lev, dtype=np.int32)[None, :, None], shape).ravel()
    if params.intrabar not in INTRABAR_MODES:
        raise ValueError(f"intrabar must be one of {INTRABAR_MODES}, got {params.intrabar!r}")
    bar_ohlc = [np.asarray(x, dtype=np.float64)[:, None, None] for x in (inp.open, high, low, inp.close)]
    out = []
    for side, new in enumerate((fl.new_long, fl.new_short)):
        price3 = entries[:, None, :] * k[side][None, :, None]  # (T, L, J)
        notional3 = np.broadcast_to(new[:, None, None] * w[None, :, None] / j, shape)
        same = np.zeros(t)
        if params.intrabar == "path":
            f = same_bar_share(bar_ohlc[0], bar_ohlc[1], bar_ohlc[2], bar_ohlc[3], entries[:, None, :], price3, side)
            same = (notional3 * f).reshape(t, -1).sum(axis=1)
            notional3 = notional3 * (1.0 - f)
        price, notional = price3.ravel(), notional3.ravel()
        keep = notional > 0
        b, li, p, nn = bars[keep], levi[keep], price[keep], notional[keep]
        start = b.astype(np.int64) + 1  # what the opening bar did not take: later bars
        liq = first_reach(low, start, p) if side == 0 else first_reach(-high, start, -p)
        out.append(Cohorts(b, li, p, nn, liq.astype(np.int32), same))
    return out[0], out[1], lev


# ---------------------------------------------------------------------------- closing


def _shifted(log_f: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """log F at ``idx - 1`` with log F[-1] = 0."""
    padded = np.concatenate([[0.0], log_f])
    return padded[idx]


@dataclass(frozen=True)
class _Hits:
    """The cohorts of one side that some bar liquidates: liquidation bar, opening bar, USD."""

    bar: np.ndarray
    opened: np.ndarray
    notional: np.ndarray

    @classmethod
    def of(cls, c: Cohorts, t: int) -> _Hits:
        hit = c.liq_bar < t
        return cls(c.liq_bar[hit], c.bar[hit], c.notional[hit])

    def per_bar(self, log_f: np.ndarray, t: int) -> np.ndarray:
        """USD liquidated in each bar: notional times the survival since the opening bar."""
        amount = self.notional * np.exp(_shifted(log_f, self.bar) - log_f[self.opened])
        return np.bincount(self.bar, weights=amount, minlength=t).astype(np.float64, copy=False)


def predicted(c: Cohorts, log_f: np.ndarray, t: int) -> np.ndarray:
    """USD each bar liquidates: cohort notional times the survival since its opening bar."""
    return _Hits.of(c, t).per_bar(log_f, t)


def survival(
    longs: Cohorts, shorts: Cohorts, fl: Flows, t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve for log F (T,) and the later-bar liquidations per side (T,) each.

    The returned predictions are the cohorts liquidated after their opening bar (the
    same-bar part is in ``Cohorts.same_bar``). Bar ``t`` closes the share
    ``max(drop_t - liq_t, 0) / OI_{t-1}`` of every open position on
    both sides: the part of the open-interest fall that the model's own liquidations
    (``liq_t`` = long + short, same-bar included) do not explain.
    """
    hl, hs = _Hits.of(longs, t), _Hits.of(shorts, t)
    log_f = np.cumsum(fl.log_decay)
    denom = np.where(np.isfinite(fl.oi_prev) & (fl.oi_prev > 0), fl.oi_prev, np.inf)
    same = longs.same_bar + shorts.same_bar  # same-bar liquidations explain OI falls too
    change = 0.0
    for _ in range(FIXED_POINT_PASSES):
        liq = hl.per_bar(log_f, t) + hs.per_bar(log_f, t) + same
        share = np.clip(np.maximum(fl.oi_drop - liq, 0.0) / denom, 0.0, MAX_CLOSE_SHARE)
        new_log_f = np.cumsum(np.log1p(-share) + fl.log_decay)
        change = float(np.max(np.abs(new_log_f - log_f))) if t else 0.0
        log_f = new_log_f
        if change < 1e-12:
            break
    else:
        log.debug("closing factors: fixed point not fully converged (last change %.2e)", change)
    return log_f, hl.per_bar(log_f, t), hs.per_bar(log_f, t)


# ---------------------------------------------------------------------------- heat


def _chunks(log_f: np.ndarray, rows: int, start: int = 0) -> list[tuple[int, int]]:
    """Split [start, T) into runs of at most ``rows`` bars and at most CHUNK_LOG_SPAN of decay."""
    t = log_f.shape[0]
    out = []
    a = start
    while a < t:
        base = log_f[a - 1] if a > 0 else 0.0
        e = min(a + rows, t)
        # first bar where the survival has fallen more than the span since the chunk base
        over = np.flatnonzero(log_f[a:e] < base - CHUNK_LOG_SPAN)
        if over.size:
            e = max(a + int(over[0]), a + 1)
        out.append((a, e))
        a = e
    return out


def heat_chunks(
    longs: Cohorts,
    shorts: Cohorts,
    log_f: np.ndarray,
    edges: np.ndarray,
    n_lev: int,
    *,
    by_leverage: bool = True,
    start_row: int = 0,
    chunk_cells: int = 8_000_000,
    dtype: type = np.float32,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(row0, heat)`` for consecutive blocks of bars from ``start_row`` on.

    ``heat`` is ``dtype`` (float32) of shape (2, L, n, B) (side 0 = long, 1 = short), or (2, 1, n, B)
    with ``by_leverage=False`` (summed over leverage). Bars before ``start_row`` are folded
    into the running state without building their rows. Peak memory is about
    ``chunk_cells * 12`` bytes.
    """
    t = log_f.shape[0]
    n_bins = edges.shape[0] - 1
    ll = n_lev if by_leverage else 1
    rows = max(1, chunk_cells // (2 * ll * n_bins))

    # Four event streams, each sorted by the row it acts on: per side, +v at the opening bar
    # (cohorts are sorted by bar) and -v at the liquidation bar. v is scaled per chunk.
    streams: list[_Stream] = []
    dust = 0.0
    for side, c in enumerate((longs, shorts)):
        b = np.searchsorted(edges, c.price, side="right") - 1
        inside = (b >= 0) & (b < n_bins)
        lev = c.leverage[inside].astype(np.int32) if by_leverage else 0
        key = ((side * ll + lev) * n_bins + b[inside]).astype(np.int32)
        opened = c.bar[inside].astype(np.int32)
        notional = c.notional[inside]
        liq = c.liq_bar[inside]
        if notional.size:
            dust = max(dust, 1e-9 * float(notional.max()))
        streams.append(_Stream(opened, key, notional, opened))
        gone = np.flatnonzero(liq < t)
        order = gone[np.argsort(liq[gone], kind="stable")]
        streams.append(_Stream(liq[order].astype(np.int32), key[order], -notional[order], opened[order]))

    n_keys = 2 * ll * n_bins
    log_prev = np.concatenate([[0.0], log_f])  # log F[a - 1] at index a
    carry = np.zeros(n_keys)  # survivors after the previous chunk, real USD
    if start_row > 0:  # fold the bars before start_row into the carry; build no rows
        base = log_prev[start_row]
        for st in streams:
            k = int(np.searchsorted(st.row, start_row, side="left"))
            v = st.amount[:k] * np.exp(base - log_f[st.opened[:k]])
            carry += np.bincount(st.key[:k], weights=v, minlength=n_keys)

    for a, e in _chunks(log_f, rows, start_row):
        n = e - a
        base = log_prev[a]
        flat_parts, v_parts = [], []
        for st in streams:
            i0 = int(np.searchsorted(st.row, a, side="left"))
            i1 = int(np.searchsorted(st.row, e, side="left"))
            # time-major block (n, 2L*B): events sorted by row scatter almost sequentially
            flat_parts.append((st.row[i0:i1] - a).astype(np.int64) * n_keys + st.key[i0:i1])
            v_parts.append(st.amount[i0:i1] * np.exp(base - log_f[st.opened[i0:i1]]))
        diff = np.bincount(
            np.concatenate(flat_parts), weights=np.concatenate(v_parts), minlength=n * n_keys
        ).astype(np.float64, copy=False)
        diff = diff.reshape(n, n_keys)
        diff[0] += carry
        running_sum(diff)
        factor = np.exp(log_f[a:e] - base)
        carry = diff[-1] * factor[-1]
        # scale and narrow to the output type in one pass over the block
        out: np.ndarray = np.empty((n, n_keys), dtype)
        np.multiply(diff, factor[:, None], out=out, casting="unsafe")
        # Cancellation in the running sums leaves ~1e-16 x notional where a level was fully
        # removed; clear such dust so a crossed row is exactly empty.
        # (a multiply by the mask, then abs for the -0.0 it leaves: much faster than a
        # masked assignment, since most cells of a block are empty)
        np.multiply(out, out >= dust, out=out)
        np.abs(out, out=out)
        yield a, out.reshape(n, 2, ll, n_bins).transpose(1, 2, 0, 3)


def running_sum(block: np.ndarray) -> np.ndarray:
    """In-place cumulative sum over axis 0 of a C-ordered 2-D block, row by row with np.add.

    Same numbers as ``np.cumsum(block, axis=0)``, but each step reads and writes whole
    contiguous rows, where ``cumsum`` along axis 0 walks the array with a whole-row stride
    (several times slower on wide blocks, see benchmarks/bench_model.py).
    """
    for i in range(1, block.shape[0]):
        np.add(block[i - 1], block[i], out=block[i])
    return block


@dataclass(frozen=True)
class _Stream:
    row: np.ndarray  # int32, ascending: the bar the event acts on
    key: np.ndarray  # int32 (side * L + leverage) * B + price row
    amount: np.ndarray  # float64 USD at opening, negative for removals
    opened: np.ndarray  # int32 bar the cohort was opened in


# ---------------------------------------------------------------------------- run


@dataclass(frozen=True)
class Solved:
    """Everything the engine computes before building heat rows. Per-bar arrays are (T,) USD."""

    longs: Cohorts
    shorts: Cohorts
    leverages: np.ndarray
    log_f: np.ndarray  # log of the cumulative survival factor after each bar
    predicted_long: np.ndarray  # located: liquidated at the model's levels in each bar
    predicted_short: np.ndarray
    new_long: np.ndarray  # opened in each bar
    new_short: np.ndarray
    closed_long: np.ndarray  # closed by falling open interest or decay in each bar
    closed_short: np.ndarray
    open_long: np.ndarray  # surviving after each bar (all prices, also off the grid)
    open_short: np.ndarray
    volume_bars: np.ndarray  # bool, bars driven by the volume fallback
    # unlocated liquidations (not tied to a level, not in the book; ``unlocated_coef``)
    unlocated_long: np.ndarray
    unlocated_short: np.ndarray

    def total(self, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Predicted liquidations per bar, located + unlocated, times ``scale``: (long, short)."""
        return (
            scale * (self.predicted_long + self.unlocated_long),
            scale * (self.predicted_short + self.unlocated_short),
        )


# The adverse move of a bar for the unlocated term: this share of its log range plus the
# rest of its open-to-low (longs) or open-to-high (shorts) log move.
UNLOCATED_RANGE_MIX = 0.5


def adverse_moves(inp: ModelInput) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar adverse log moves (long, short), each (T,) >= 0.

    long  = MIX * log(high / low) + (1 - MIX) * log(open / low)
    short = MIX * log(high / low) + (1 - MIX) * log(high / open)
    """
    o, h, lo = (np.asarray(x, dtype=np.float64) for x in (inp.open, inp.high, inp.low))
    rng = np.log(h / lo)
    mix = UNLOCATED_RANGE_MIX
    return mix * rng + (1 - mix) * np.log(o / lo), mix * rng + (1 - mix) * np.log(h / o)


def unlocated(
    inp: ModelInput, coef: float, fl: Flows, open_before: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unlocated liquidations per bar (long, short), USD (T,) each.

    ``coef x OI x move^2``: OI is the open interest before the bar (at its close where the
    previous value is unknown); where there is none (volume model) the model's own open
    notional of that side before the bar, ``open_before`` (2, T). The squared log move scales
    with the bar length like a variance, so one coefficient serves every timeframe.
    """
    t = int(np.asarray(inp.timestamp).shape[0])
    if coef == 0:
        return np.zeros(t), np.zeros(t)
    oi = np.full(t, np.nan) if inp.oi_usd is None else np.asarray(inp.oi_usd, dtype=np.float64)
    ref = np.where(np.isfinite(fl.oi_prev), fl.oi_prev, oi)
    ml, ms = adverse_moves(inp)
    out = []
    for side, move in enumerate((ml, ms)):
        base = np.where(np.isfinite(ref) & (ref >= 0), ref, open_before[side])
        out.append(coef * base * move**2)
    return out[0], out[1]


def totals(
    new: np.ndarray, liquidated: np.ndarray, log_f: np.ndarray
) -> np.ndarray:
    """Surviving notional after each bar (all prices), float64 (T,).

    ``S_t = keep_t * (S_{t-1} - liquidated_t) + new_t`` with ``keep_t = F_t / F_{t-1}``,
    solved with cumulative sums in segments where F falls by at most e^CHUNK_LOG_SPAN.
    Computed from the per-bar flows, independently of the heatmap.
    """
    t = log_f.shape[0]
    out = np.zeros(t)
    log_prev = np.concatenate([[0.0], log_f])
    carry = 0.0
    for a, e in _chunks(log_f, t):
        base = log_prev[a]
        flow = new[a:e] * np.exp(base - log_f[a:e]) - liquidated[a:e] * np.exp(base - log_prev[a:e])
        seg = (carry + np.cumsum(flow)) * np.exp(log_f[a:e] - base)
        out[a:e] = seg
        carry = float(seg[-1])
    return np.maximum(out, 0.0)


def solve(inp: ModelInput, params: ModelParams, mult: np.ndarray | None = None) -> Solved:
    """Cohorts, liquidation bars, closing factors and per-bar flows (no heat rows).

    ``mult`` optionally overrides the liquidation multipliers (see :func:`cohorts`).
    """
    t = _check_input(inp)
    if not (math.isfinite(params.usd_scale) and params.usd_scale > 0):
        raise ValueError(f"usd_scale must be a positive number, got {params.usd_scale!r}")
    if not (math.isfinite(params.unlocated_coef) and params.unlocated_coef >= 0):
        raise ValueError(f"unlocated_coef must be a number >= 0, got {params.unlocated_coef!r}")
    fl = flows(inp, params)
    longs, shorts, lev = cohorts(inp, params, fl, mult)
    log_f, pl, ps = survival(longs, shorts, fl, t)
    # what enters the book is the new notional less the part its own bar liquidated
    open_ = np.stack([
        totals(fl.new_long - longs.same_bar, pl, log_f),
        totals(fl.new_short - shorts.same_bar, ps, log_f),
    ])
    # bar t closes the share 1 - keep_t of what was open before it and not liquidated in it
    keep = np.exp(np.diff(np.concatenate([[0.0], log_f])))
    open_prev = np.concatenate([np.zeros((2, 1)), open_[:, :-1]], axis=1)
    closed = np.maximum(open_prev - np.stack([pl, ps]), 0.0) * (1.0 - keep)
    ul, us = unlocated(inp, float(params.unlocated_coef), fl, open_prev)
    return Solved(
        longs, shorts, lev, log_f, pl + longs.same_bar, ps + shorts.same_bar,
        fl.new_long, fl.new_short, closed[0], closed[1], open_[0], open_[1], fl.volume_bars,
        ul, us,
    )


def run_model(
    inp: ModelInput,
    params: ModelParams,
    price_edges: np.ndarray | None = None,
    *,
    keep_last: int | None = None,
    by_leverage: bool = True,
    chunk_cells: int = 8_000_000,
    multipliers: np.ndarray | None = None,
) -> ModelResult:
    """Run the model on one exchange's bars; see the module docstring for the method.

    ``price_edges`` (B+1,) increasing; None builds :func:`default_grid`. ``keep_last`` keeps
    only the last N bars in the result (all of timestamp, close, heat and predictions; the
    earlier bars still shape the state). ``by_leverage=False`` leaves the per-leverage
    arrays empty, shape (0, T, B), to save memory. Memory: the result holds
    ``2 * (L + 1) * T * B`` float32 (``2 * T * B`` without per-leverage arrays) plus
    ``chunk_cells * 12`` bytes of working space. ``multipliers`` (2, L) overrides the
    exchange's liquidation price / entry price ratios (tests and what-if studies).
    """
    sol = solve(inp, params, multipliers)
    edges = default_grid(inp, params) if price_edges is None else np.asarray(price_edges, np.float64)
    if edges.ndim != 1 or edges.shape[0] < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("price_edges must be an increasing 1-D array of at least 2 edges")
    t = sol.log_f.shape[0]
    n_bins = edges.shape[0] - 1
    n_lev = sol.leverages.shape[0]
    start = 0 if keep_last is None else max(t - int(keep_last), 0)
    kept = t - start
    heat_l = np.zeros((kept, n_bins), np.float32)
    heat_s = np.zeros((kept, n_bins), np.float32)
    ll = n_lev if by_leverage else 0
    lev_l = np.zeros((ll, kept, n_bins), np.float32)
    lev_s = np.zeros((ll, kept, n_bins), np.float32)
    scale = float(params.usd_scale)
    for a, block in heat_chunks(
        sol.longs, sol.shorts, sol.log_f, edges, n_lev,
        by_leverage=by_leverage, start_row=start, chunk_cells=chunk_cells,
    ):
        r0, r1 = a - start, a - start + block.shape[2]
        if scale != 1.0:
            block *= np.float32(scale)
        heat_l[r0:r1] = block[0].sum(axis=0)
        heat_s[r0:r1] = block[1].sum(axis=0)
        if by_leverage:
            lev_l[:, r0:r1] = block[0]
            lev_s[:, r0:r1] = block[1]
    volume_model = bool(np.mean(sol.volume_bars[start:]) > 0.5) if kept else False
    pred_l, pred_s = sol.total(scale)
    return ModelResult(
        timestamp=np.asarray(inp.timestamp, np.int64)[start:].copy(),
        close=np.asarray(inp.close, np.float64)[start:].copy(),
        price_edges=edges,
        heat_long=heat_l,
        heat_short=heat_s,
        heat_long_by_leverage=lev_l,
        heat_short_by_leverage=lev_s,
        predicted_long=pred_l[start:].copy(),
        predicted_short=pred_s[start:].copy(),
        leverages=tuple(float(x) for x in sol.leverages),
        params=params,
        volume_model=volume_model,
        exchanges=(inp.exchange,) if inp.exchange else (),
    )
