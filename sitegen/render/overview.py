"""The market overview page: every symbol ranked by the liquidations near its price.

One row per symbol with the estimated USD of long and of short liquidations within
``NEAR_BAND_PCT`` (5 %) and ``BAND_PCT`` (10 %) of the last price and the distance to the
nearest large cluster on each side. The rows read only plain numbers, strings and Levels of
each :class:`~sitegen.render.summary.Summary` (never the model arrays), so the page can be
rendered from light summaries kept after each symbol was built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sitegen.render.levels import Level
from sitegen.render.summary import BAND_PCT, NEAR_BAND_PCT, Summary


@dataclass(frozen=True)
class OverviewRow:
    slug: str
    base: str
    pair: str
    last_price: float
    long_near_usd: float  # longs within NEAR_BAND_PCT below price
    short_near_usd: float
    long_band_usd: float  # longs within BAND_PCT below price
    short_band_usd: float
    nearest_long: Level | None  # nearest large cluster below price
    nearest_short: Level | None
    volume_model: bool
    stale: bool

    @property
    def near_usd(self) -> float:
        """Both sides within NEAR_BAND_PCT: the default ranking."""
        return self.long_near_usd + self.short_near_usd

    @property
    def long_distance_pct(self) -> float | None:
        """How far price must fall to the nearest large long cluster, percent (positive)."""
        return abs(self.nearest_long.distance_pct) if self.nearest_long else None

    @property
    def short_distance_pct(self) -> float | None:
        return abs(self.nearest_short.distance_pct) if self.nearest_short else None


# How the rows can be ranked: key -> (what the reader reads, value, largest first?).
# A missing value (no cluster on that side) always ranks last.
RANKINGS: dict[str, tuple[str, Callable[[OverviewRow], float | None], bool]] = {
    "near": (f"long + short within {NEAR_BAND_PCT:g} %", lambda r: r.near_usd, True),
    "long_near": (f"longs within {NEAR_BAND_PCT:g} %", lambda r: r.long_near_usd, True),
    "short_near": (f"shorts within {NEAR_BAND_PCT:g} %", lambda r: r.short_near_usd, True),
    "long_band": (f"longs within {BAND_PCT:g} %", lambda r: r.long_band_usd, True),
    "short_band": (f"shorts within {BAND_PCT:g} %", lambda r: r.short_band_usd, True),
    "long_distance": ("distance to the nearest large long cluster", lambda r: r.long_distance_pct, False),
    "short_distance": ("distance to the nearest large short cluster", lambda r: r.short_distance_pct, False),
}
DEFAULT_RANKING = "near"


def overview_row(s: Summary) -> OverviewRow:
    """The plain facts of one symbol the overview shows (no model arrays)."""
    r = s.report
    return OverviewRow(
        slug=r.slug,
        base=s.base,
        pair=s.pair,
        last_price=s.last_price,
        long_near_usd=s.long_band5_usd,
        short_near_usd=s.short_band5_usd,
        long_band_usd=s.long_band_usd,
        short_band_usd=s.short_band_usd,
        nearest_long=s.nearest_long,
        nearest_short=s.nearest_short,
        volume_model=r.volume_model,
        stale=r.stale,
    )


def rank(rows: Sequence[OverviewRow], by: str = DEFAULT_RANKING) -> list[OverviewRow]:
    """``rows`` in the order of ranking ``by`` (see :data:`RANKINGS`); ties by symbol, rows
    without a value (no cluster on that side, a non-finite number) last."""
    if by not in RANKINGS:
        raise KeyError(f"overview: unknown ranking {by!r} (one of {', '.join(RANKINGS)})")
    _, value, largest_first = RANKINGS[by]

    def key(row: OverviewRow) -> tuple[int, float, str]:
        v = value(row)
        if v is None or not math.isfinite(v):
            return (1, 0.0, row.base)
        return (0, -v if largest_first else v, row.base)

    return sorted(rows, key=key)


def overview_vars(summaries: Sequence[Summary], thumbs: Mapping[str, str], rel: str) -> dict[str, Any]:
    """Template variables of ``overview.html``. ``thumbs`` maps slug to the thumbnail's
    site-relative path or data: URL (as the index has them); ``rel`` leads to the site root."""
    rows = rank([overview_row(s) for s in summaries])
    return {
        "rows": rows,
        "thumb_src": {slug: src if src.startswith("data:") else rel + src for slug, src in thumbs.items()},
        "near_pct": NEAR_BAND_PCT,
        "band_pct": BAND_PCT,
        "ranked_by": RANKINGS[DEFAULT_RANKING][0],
        "description": (
            f"Market overview: {len(rows)} perpetual futures ranked by the estimated long and short "
            f"liquidations within {NEAR_BAND_PCT:g} % and {BAND_PCT:g} % of price, and by the distance "
            "to the nearest large liquidation cluster on each side."
        ),
        "og_image": "",
    }
