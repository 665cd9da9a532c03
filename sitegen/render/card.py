"""A symbol's card: its :class:`~sitegen.render.summary.Summary` without the model arrays.

Once a symbol's own files are written, the build keeps only its card: everything the index,
methodology page, feed, sitemap, 404 and snapshots read (``s.base``, ``s.pair``,
``s.report.slug``, ``s.last_price``, ``s.nearest_long``, ``s.headlines``, ``s.describe()``,
``s.data_hash``, ``page_context(s.report)``, ...). A card is plain data and round-trips
through JSON exactly (:func:`card_to_json` / :func:`card_from_json`): worker processes hand
it back this way and a shard writes its cards into its manifest. Nothing is pickled.

Every field of :class:`Summary` is carried, whatever it is (new fields need no change here,
as long as they are made of numbers, strings, datetimes, tuples/lists and dataclasses).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from functools import cache
from typing import Any

from sitegen.liquidations import Accuracy, Realised
from sitegen.render.exchange_view import page_exchanges
from sitegen.render.summary import Summary
from sitegen.report import SymbolReport


@dataclasses.dataclass(frozen=True)
class RealisedFacts:
    """What the global pages read of a symbol's realised liquidations."""

    sources: tuple[str, ...]
    event_count: int


@dataclasses.dataclass(frozen=True)
class ReportCard:
    """A :class:`SymbolReport` without its model results, candles and realised events."""

    symbol: str
    slug: str
    exchanges: tuple[str, ...]
    ranges: tuple[str, ...]
    as_of: datetime
    source: str = "live"
    volume_model: bool = False
    stale: bool = False
    stale_since: datetime | None = None
    notes: tuple[str, ...] = ()
    failed_exchanges: tuple[str, ...] = ()
    unlisted_exchanges: tuple[str, ...] = ()
    page_exchanges: tuple[str, ...] = ()  # exchanges with a page of their own (exchange selector)
    realised: RealisedFacts | None = None
    accuracy: tuple[Accuracy, ...] = ()


def report_card(report: SymbolReport) -> ReportCard:
    realised: Realised | None = report.realised
    return ReportCard(
        symbol=report.symbol, slug=report.slug, exchanges=report.exchanges, ranges=report.ranges,
        as_of=report.as_of, source=report.source, volume_model=report.volume_model, stale=report.stale,
        stale_since=report.stale_since, notes=report.notes, failed_exchanges=report.failed_exchanges,
        unlisted_exchanges=report.unlisted_exchanges,
        page_exchanges=page_exchanges(report),
        realised=RealisedFacts(realised.sources, realised.event_count) if realised else None,
        accuracy=report.accuracy,
    )


Card = Summary[ReportCard]


def card_of(s: Summary[SymbolReport]) -> Card:
    """The card of a full summary: every field, the report made light."""
    values = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
    values["report"] = report_card(s.report)
    return Summary(**values)


def card_to_json(card: Card) -> dict[str, Any]:
    """A JSON-able dict (floats round-trip exactly through ``json``)."""
    out = _encode(card)
    assert isinstance(out, dict)
    return out


def card_from_json(data: dict[str, Any]) -> Card:
    """The card :func:`card_to_json` wrote; a malformed one raises ``ValueError``."""
    try:
        values = _decode_fields(Summary, data, skip=("report",))
        values["report"] = _decode(ReportCard, data["report"])
        return Summary(**values)
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"not a symbol card: {e!r}") from None


def _encode(obj: object) -> object:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, list | tuple):
        return [_encode(x) for x in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"a card cannot hold {type(obj).__name__} ({obj!r:.60})")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode_fields(cls: type, data: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    hints = _hints(cls)
    return {f.name: _decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(cls) if f.init and f.name not in skip and f.name in data}


def _decode(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        return _decode(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value, strict=True))
    if origin is list:
        (arg,) = typing.get_args(tp)
        return [_decode(arg, v) for v in value]
    if tp is datetime:
        return datetime.fromisoformat(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp(**_decode_fields(tp, value))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (bool, int, float, str) and not isinstance(value, tp):
        raise TypeError(f"expected {tp.__name__}, got {value!r:.60}")
    return value
