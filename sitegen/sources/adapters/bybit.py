"""Bybit linear perpetuals."""

from __future__ import annotations

from sitegen.sources.adapters.base import Adapter, Profile

ADAPTER = Adapter(
    id="bybit",
    # 600 requests per 5 s per IP documented; we use 100. CloudFront answers 403 to US addresses.
    profile=Profile(1000, "history", 200, None, 200, True, ("linear",), 5_000, 10, (451, 403)),
    margin_form="bybit",
)
