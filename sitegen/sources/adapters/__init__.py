"""Exchange adapters: one module per exchange holds what differs (symbol rules, paging
quirks, open-interest and tier sources, limits, the margin form); ``ADAPTERS`` maps the
ccxt id to it. To add an exchange: a module here with an ``ADAPTER``, listed below, and its
id in ``sitegen.config.KNOWN_EXCHANGES`` (a test checks the two agree)."""

from __future__ import annotations

from sitegen.sources.adapters import binanceusdm, bybit, hyperliquid, okx
from sitegen.sources.adapters.base import Adapter, Profile

ADAPTERS: dict[str, Adapter] = {m.ADAPTER.id: m.ADAPTER for m in (binanceusdm, bybit, okx, hyperliquid)}


def adapter(exchange: str) -> Adapter:
    """The adapter of ccxt id ``exchange`` (KeyError for an exchange liqmap does not know)."""
    return ADAPTERS[exchange]


__all__ = ["ADAPTERS", "Adapter", "Profile", "adapter"]
