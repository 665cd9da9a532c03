"""Hourly snapshots: a small history of each symbol's liquidation map that accumulates.

Each build adds ``snapshots/<YYYY-MM-DDTHH>/<slug>.json`` for every fresh symbol (the
liquidation map at the last bar and the clusters, taken from ``data/<slug>.json``; not the
heatmap), carries the previous snapshots over from the previous site, drops those older
than the retention window, and writes ``snapshots/index.json`` (newest hour first; paths are
relative to the site root). GitHub Pages replaces the whole site on each deploy, so history
only survives by being carried from build to build (the previous site travels in the
actions cache, see ``.github/workflows/publish.yml``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sitegen import schemas
from sitegen.site.safetree import read_regular_file
from sitegen.site.writer import MARKER
from sitegen.times import iso

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"
INDEX = f"{SNAPSHOT_DIR}/index.json"
DEFAULT_RETENTION_HOURS = 7 * 24
_HOUR_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")
_DATA_RE = re.compile(r"^data/([a-z0-9-]+)\.json$")


def hour_key(dt: datetime) -> str:
    """``2026-01-29T17`` for any time in that UTC hour."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _hour_start(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def snapshot_of(data: Mapping[str, object], hour: str) -> dict[str, object]:
    """The small per-hour record of one ``data/<slug>.json`` payload."""
    lm = data.get("liquidation_map")
    lm = lm if isinstance(lm, dict) else {}
    columns = {k: lm.get(k, []) for k in ("price_low", "price_high", "long_usd", "short_usd")}
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError(f"{data.get('slug')}: liquidation_map columns are missing or of unequal length")
    clusters = data.get("clusters")
    out = {
        "symbol": data["symbol"],
        "slug": data["slug"],
        "hour": hour,
        "as_of": data["as_of"],
        "stale": bool(data.get("stale", False)),
        "last_price": data.get("last_price"),
        "price_low": columns["price_low"],
        "price_high": columns["price_high"],
        # whole dollars are plenty for a history; keeps each file a few KB
        "long_usd": [round(float(x)) for x in columns["long_usd"]],
        "short_usd": [round(float(x)) for x in columns["short_usd"]],
        "clusters": [
            {k: c[k] for k in ("side", "price", "usd", "distance_pct") if k in c}
            for c in (clusters if isinstance(clusters, list) else [])
            if isinstance(c, dict)
        ],
    }
    acc = _accuracy_of(data.get("accuracy"))
    if acc is not None:
        out["accuracy"] = acc
    return out


def _accuracy_of(acc: object) -> dict[str, object] | None:
    """The 7-day live accuracy of a data file, small, for the history on the methodology page."""
    if not isinstance(acc, dict):
        return None
    row: dict[str, object] = {"bars": acc.get("bars"), "sources": acc.get("sources", [])}
    for side in ("long", "short"):
        part = acc.get(side)
        row[side] = part.get("logcorr") if isinstance(part, dict) else None
        row[f"{side}_base"] = part.get("baseline_logcorr") if isinstance(part, dict) else None
    return row


def accuracy_history(prev_dir: Path | None, limit: int = 48) -> tuple[dict[str, object], ...]:
    """Live accuracy of the previous builds, newest hour first (at most ``limit`` rows), read
    from the snapshots of the site at ``prev_dir``; () when there is none."""
    base = None if prev_dir is None else Path(prev_dir) / SNAPSHOT_DIR
    if base is None or not (Path(prev_dir) / MARKER).is_file() or not base.is_dir():  # type: ignore[arg-type]
        return ()
    rows: list[dict[str, object]] = []
    for path in sorted(base.glob("*/*.json"), reverse=True):
        if not _HOUR_RE.match(path.parent.name):
            continue
        try:
            payload = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        acc = payload.get("accuracy") if isinstance(payload, dict) else None
        if isinstance(acc, dict):
            rows.append({"hour": path.parent.name, "symbol": str(payload.get("symbol", "")), **acc})
        if len(rows) >= limit:
            break
    return tuple(rows)


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def add_snapshots(
    files: Mapping[str, bytes],
    prev_dir: Path | None,
    *,
    now: datetime,
    retention_hours: int = DEFAULT_RETENTION_HOURS,
) -> dict[str, bytes]:
    """``files`` plus this hour's snapshots, the kept previous ones, and the index."""
    if retention_hours < 1:
        raise ValueError(f"retention_hours must be >= 1, got {retention_hours}")
    out = dict(files)
    hour = hour_key(now)
    oldest = _hour_start(hour) - timedelta(hours=retention_hours - 1)
    snaps: dict[str, bytes] = {}

    if prev_dir is not None and (Path(prev_dir) / MARKER).is_file() and (Path(prev_dir) / SNAPSHOT_DIR).is_dir():
        for path in sorted((Path(prev_dir) / SNAPSHOT_DIR).glob("*/*.json")):
            key = path.parent.name
            if not _HOUR_RE.match(key) or _hour_start(key) < oldest or _hour_start(key) > _hour_start(hour):
                continue
            rel = f"{SNAPSHOT_DIR}/{key}/{path.name}"
            try:
                # the previous tree comes from a cache: regular files only, no link followed
                raw = read_regular_file(Path(prev_dir), rel)
                payload = json.loads(raw)
            except (OSError, ValueError) as e:  # UnsafeEntry is a ValueError
                log.warning("%s: dropping an unreadable snapshot: %s", rel, e)
                continue
            problems = schemas.validate(payload, "snapshot")
            if problems:
                log.warning("%s: dropping a snapshot that does not match the schema: %s", rel, problems[0])
                continue
            snaps[rel] = raw

    for rel, content in files.items():
        m = _DATA_RE.match(rel)
        if not m:
            continue
        try:
            data = json.loads(content)
            if data.get("stale"):
                continue  # nothing new to record for a symbol kept from an earlier build
            snaps[f"{SNAPSHOT_DIR}/{hour}/{m.group(1)}.json"] = _dump(snapshot_of(data, hour))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("%s: no snapshot this hour: %s", rel, e)

    by_hour: dict[str, dict[str, str]] = {}
    for rel in snaps:
        _, key, name = rel.split("/")
        by_hour.setdefault(key, {})[name[: -len(".json")]] = rel
    index = {
        "generated_at": iso(now),
        "retention_hours": retention_hours,
        "snapshots": [
            {"hour": key, "files": dict(sorted(by_hour[key].items()))}
            for key in sorted(by_hour, reverse=True)
        ],
    }
    for rel in snaps:
        if rel in out:
            raise ValueError(f"{rel}: the renderer already wrote a snapshot path")
    out.update(snaps)
    out[INDEX] = _dump(index)
    return out
