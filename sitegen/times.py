"""The spellings of a time in liqmap's output, written once.

``iso(dt)`` -> ``2026-01-29T18:00:00Z`` (published files), ``parse_iso`` reads it back (and
``+00:00``), ``utc_text(dt)`` -> ``2026-01-29 18:00 UTC`` (pages and messages).
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def utc_text(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def utc_text_ms(ts_ms: int) -> str:
    """:func:`utc_text` of an epoch time in milliseconds."""
    return utc_text(datetime.fromtimestamp(ts_ms / 1000, UTC))
