"""Liquidation prices of linear (USDT/USDC-margined) perpetual positions, per exchange.

Pure functions, numpy only. Prices in quote currency (USD), notional in USD.

Maintenance brackets travel as a :data:`~sitegen.model.types.TierTable`: a float64 array of
shape (K, 5) with columns ``(min_notional, max_notional, mmr, cum, max_leverage)`` in the
Binance form (maintenance margin of a position of notional ``N`` is ``N * mmr - cum``).
Bybit's "mm deduction" is the same number as Binance's ``cum``; OKX has no deduction
(``cum = 0``).

Formulas (isolated margin, initial margin = notional / L, fees ignored unless given):

* **Binance** (maintenance margin charged at the liquidation price)::

      long  P = E (1 - 1/L) / (1 - m) - cum / (Q (1 - m))
      short P = E (1 + 1/L) / (1 + m) + cum / (Q (1 + m))

* **OKX**: the same form with ``cum = 0`` and ``m`` = maintenance rate plus the taker fee
  rate of the liquidation order (``fee_rate``, 0 unless given).
* **Bybit** (maintenance margin charged at the entry price)::

      long  P = E (1 - 1/L + m) - deduction / Q
      short P = E (1 + 1/L - m) + deduction / Q

``m`` is never divided by ``L``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from sitegen.model.types import TierTable

MARGIN_FORMS = ("binance", "okx", "bybit")
# Used when no tier table is known: Binance's first BTCUSDT bracket (0.4 %, no deduction).
DEFAULT_MMR = 0.004


def _as_float_array(x: float | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def liq_price_long(
    entry: float | np.ndarray,
    leverage: float | np.ndarray,
    mmr: float | np.ndarray,
    cum: float | np.ndarray = 0.0,
    qty: float | np.ndarray = 1.0,
    form: str = "binance",
    fee_rate: float = 0.0,
) -> np.ndarray:
    """Liquidation price of an isolated long: entry ``E`` (USD), leverage ``L``, size ``Q`` (base).

    ``cum`` is the bracket's maintenance amount (Binance ``cum`` = Bybit mm deduction, USD).
    Broadcasts over arrays. ``form`` is one of :data:`MARGIN_FORMS`.
    """
    e, lev, m, c, q = map(_as_float_array, (entry, leverage, mmr, cum, qty))
    if form == "bybit":
        return e * (1.0 - 1.0 / lev + m) - c / q
    if form == "okx":
        m = m + fee_rate
        c = np.zeros_like(c)
    elif form != "binance":
        raise ValueError(f"unknown margin form {form!r} (use one of {', '.join(MARGIN_FORMS)})")
    return e * (1.0 - 1.0 / lev) / (1.0 - m) - c / (q * (1.0 - m))


def liq_price_short(
    entry: float | np.ndarray,
    leverage: float | np.ndarray,
    mmr: float | np.ndarray,
    cum: float | np.ndarray = 0.0,
    qty: float | np.ndarray = 1.0,
    form: str = "binance",
    fee_rate: float = 0.0,
) -> np.ndarray:
    """Liquidation price of an isolated short; same arguments as :func:`liq_price_long`."""
    e, lev, m, c, q = map(_as_float_array, (entry, leverage, mmr, cum, qty))
    if form == "bybit":
        return e * (1.0 + 1.0 / lev - m) + c / q
    if form == "okx":
        m = m + fee_rate
        c = np.zeros_like(c)
    elif form != "binance":
        raise ValueError(f"unknown margin form {form!r} (use one of {', '.join(MARGIN_FORMS)})")
    return e * (1.0 + 1.0 / lev) / (1.0 + m) + c / (q * (1.0 + m))


def maintenance_margin(notional: float | np.ndarray, tiers: TierTable | None) -> np.ndarray:
    """Maintenance margin (USD) of positions of ``notional`` USD: ``N * mmr - cum`` of its bracket."""
    n = np.abs(_as_float_array(notional))
    mmr, cum, _ = tier_lookup(n, tiers)
    return n * mmr - cum


def tier_lookup(
    notional: float | np.ndarray, tiers: TierTable | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mmr, cum, max_leverage)`` of the bracket holding each ``notional`` (USD).

    Notional above the last bracket uses the last bracket. Without a table: 0.4 %, 0, 125x.
    """
    n = np.abs(_as_float_array(notional))
    if tiers is None or len(tiers) == 0:
        return (np.full(n.shape, DEFAULT_MMR), np.zeros(n.shape), np.full(n.shape, 125.0))
    t = np.asarray(tiers, dtype=np.float64)
    # bracket k covers [min_k, max_k); pick the last bracket whose floor is <= notional
    idx = np.searchsorted(t[:, 0], n, side="right") - 1
    idx = np.clip(idx, 0, len(t) - 1)
    return t[idx, 2], t[idx, 3], t[idx, 4]


def validate_tiers(tiers: TierTable) -> TierTable:
    """Check a tier table (shape, order, positive rates) and return it as float64 (K, 5)."""
    t = np.asarray(tiers, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] != 5 or t.shape[0] == 0:
        raise ValueError(
            f"tier table must have shape (K, 5) = (min_notional, max_notional, mmr, cum, "
            f"max_leverage), got {t.shape}"
        )
    # the last bracket's cap may be open-ended (inf); everything else must be finite
    if not (np.all(np.isfinite(np.delete(t, 1, axis=1))) and not np.any(np.isnan(t[:, 1]))):
        raise ValueError("tier table contains NaN or infinite values (only a cap may be inf)")
    if np.any(np.diff(t[:, 0]) <= 0):
        raise ValueError("tier table floors (column 0) must be strictly increasing")
    if np.any(t[:, 2] <= 0) or np.any(t[:, 2] >= 1):
        raise ValueError("maintenance margin rates (column 2) must be in (0, 1)")
    if np.any(t[:, 4] < 1):
        raise ValueError("max leverage (column 4) must be >= 1")
    return t


def tier_table(tiers: Iterable[object]) -> TierTable | None:
    """Convert :class:`sitegen.series.LeverageTier` tuples (or rows of 5 numbers) to a TierTable.

    Returns None for an empty input. Rows are sorted by ``min_notional``.
    """
    rows: list[tuple[float, ...]] = []
    for t in tiers:
        if hasattr(t, "min_notional"):
            rows.append(
                (t.min_notional, t.max_notional, t.mmr, t.cum, t.max_leverage)  # type: ignore[attr-defined]
            )
        else:
            rows.append(tuple(float(v) for v in t))  # type: ignore[attr-defined]
    if not rows:
        return None
    arr = np.array(sorted(rows, key=lambda r: r[0]), dtype=np.float64)
    return validate_tiers(arr)


def cum_from_rates(floors: Sequence[float] | np.ndarray, mmrs: Sequence[float] | np.ndarray) -> np.ndarray:
    """Maintenance amounts that make ``N * mmr - cum`` continuous across bracket floors.

    ``cum_k = cum_{k-1} + floor_k * (mmr_k - mmr_{k-1})``; this is how Binance's ``cum`` and
    Bybit's mm deduction are defined.
    """
    f = np.asarray(floors, dtype=np.float64)
    m = np.asarray(mmrs, dtype=np.float64)
    steps = np.concatenate([[0.0], f[1:] * np.diff(m)])
    return np.cumsum(steps)


def bybit_tiers(
    risk_limits: Sequence[float], mmrs: Sequence[float], max_leverages: Sequence[float],
    deductions: Sequence[float] | None = None,
) -> TierTable:
    """Bybit risk-limit tiers -> TierTable. Tier k covers notional up to ``risk_limits[k]``.

    ``deductions`` (USD) default to the continuity rule of :func:`cum_from_rates`.
    """
    caps = np.asarray(risk_limits, dtype=np.float64)
    floors = np.concatenate([[0.0], caps[:-1]])
    m = np.asarray(mmrs, dtype=np.float64)
    cum = cum_from_rates(floors, m) if deductions is None else np.asarray(deductions, dtype=float)
    return validate_tiers(np.column_stack([floors, caps, m, cum, np.asarray(max_leverages, float)]))


def okx_tiers(
    max_contracts: Sequence[float], contract_value: float, price: float,
    mmrs: Sequence[float], max_leverages: Sequence[float],
) -> TierTable:
    """OKX position tiers (bounded in contracts) -> TierTable in USD at ``price``.

    OKX charges the tier's rate on the whole position (no deduction), so ``cum = 0``.
    """
    caps = np.asarray(max_contracts, dtype=np.float64) * contract_value * price
    floors = np.concatenate([[0.0], caps[:-1]])
    zeros = np.zeros(len(caps))
    return validate_tiers(
        np.column_stack([floors, caps, np.asarray(mmrs, float), zeros, np.asarray(max_leverages, float)])
    )
