"""Maintenance-margin tiers shipped with the package (see README.md here for provenance)."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

import numpy as np

from sitegen.model.liqprice import validate_tiers
from sitegen.model.types import TierTable


@lru_cache(maxsize=1)
def _rows() -> tuple[dict[str, str], ...]:
    text = resources.files(__name__).joinpath("tiers.csv").read_text(encoding="utf-8")
    return tuple(csv.DictReader(io.StringIO(text)))


def packaged_tiers(exchange: str, symbol: str, price: float | None = None) -> TierTable | None:
    """The shipped tier table of ``symbol`` (ccxt unified, e.g. ``BTC/USDT:USDT``) on ``exchange``.

    Bounds given in base currency are converted to USD at ``price``; without a price such
    tables are unavailable. Returns None when nothing is shipped for the pair.
    """
    rows = [r for r in _rows() if r["exchange"] == exchange and r["symbol"] == symbol]
    if not rows:
        return None
    out = []
    for r in rows:
        scale = 1.0
        if r["unit"] == "base":
            if price is None or not price > 0:
                return None
            scale = price
        out.append(
            (float(r["floor"]) * scale, float(r["cap"]) * scale, float(r["mmr"]), float(r["cum"]),
             float(r["max_leverage"]))
        )
    return validate_tiers(np.array(sorted(out), dtype=np.float64))
