"""Keep last good: a symbol that failed this build keeps its previous pages, marked stale.

For each failed symbol, :func:`carry_over` copies that symbol's files from the previous
site (``out_dir`` before the swap) into the new tree:

* ``<slug>/**`` (symbol and range pages), ``embed/<slug>/**``, ``data/<slug>.json|.csv``,
  ``og/<slug>.png`` and ``og/<slug>-*.png``;
* ``data/<slug>.json`` is rewritten with ``"stale": true`` and ``"stale_since"`` (the time of
  the last good data: the previous ``stale_since`` if it was already stale, else its ``as_of``);
* every carried HTML page gets ``data-stale="true" data-stale-since="<ISO>"`` on its
  ``<body>`` tag, and its stale badge (``<span data-stale-badge ...>``) is shown with the
  text "stale since <time> UTC";
* shared assets the carried pages still reference (a BokehJS of an older version under
  ``static/``) are carried too.

A symbol is not carried (and counts as failed) when there is no previous data, the previous
data is unreadable, older than ``max_age_hours``, or its pages would have broken links in the
new tree (e.g. to a symbol that is gone). Pure over bytes; reads only ``prev_dir``.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sitegen.config import slugify
from sitegen.site.check import SYMBOL_SCHEMA, internal_links, validate
from sitegen.site.writer import MARKER

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE_HOURS = 7 * 24
_BODY_RE = re.compile(rb"<body\b([^>]*)>", re.I)
_BADGE_RE = re.compile(rb"(<span\b[^>]*\bdata-stale-badge\b[^>]*?)\s*>[^<]*</span>", re.I)
_HIDDEN_RE = re.compile(rb"\s+hidden(?=[\s>/]|$)(?:=(?:\"\"|''|hidden))?", re.I)
_ATTR_RE = re.compile(rb"""\s+data-stale(?:-since)?\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*)""", re.I)


@dataclass(frozen=True)
class Carried:
    """A symbol whose previous pages were kept in this build."""

    symbol: str
    slug: str
    as_of: datetime  # close time of the last bar of the kept data
    stale_since: datetime  # time of the last good data
    files: tuple[str, ...]
    summary: tuple[str, ...] = ()  # the kept page's headline sentences
    last_price: float | None = None


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def symbol_paths(names: set[str] | list[str], slug: str) -> list[str]:
    """The files of one symbol among ``names`` (site-relative posix paths)."""
    own = (f"{slug}/", f"embed/{slug}/", f"oembed/{slug}/")
    singles = {f"data/{slug}.json", f"data/{slug}.csv", f"og/{slug}.png", f"oembed/{slug}.json"}
    og_prefix = f"og/{slug}-"
    return sorted(
        n for n in names
        if n.startswith(own) or n in singles or (n.startswith(og_prefix) and "/" not in n[3:])
    )


def mark_html_stale(html: bytes, stale_since: datetime) -> bytes:
    """Put ``data-stale="true" data-stale-since="..."`` on the ``<body>`` tag (replacing old ones)."""
    stamp = iso(stale_since).encode()

    def repl(m: re.Match[bytes]) -> bytes:
        attrs = _ATTR_RE.sub(b"", m.group(1))
        return b'<body data-stale="true" data-stale-since="' + stamp + b'"' + attrs + b">"

    def badge(m: re.Match[bytes]) -> bytes:
        tag = _HIDDEN_RE.sub(b"", m.group(1))
        text = f"stale since {stale_since.astimezone(UTC):%Y-%m-%d %H:%M} UTC".encode()
        return tag + b">" + text + b"</span>"

    out, _ = _BODY_RE.subn(repl, html, count=1)
    # the renderer's badge (templates/_macros.html): shown, with the time of the last good data
    out = _BADGE_RE.sub(badge, out)
    return out


def mark_json_stale(payload: dict[str, object], stale_since: datetime, now: datetime) -> bytes:
    data = dict(payload)
    data["stale"] = True
    data["stale_since"] = iso(stale_since)
    notes = [n for n in data.get("notes", []) or [] if isinstance(n, str) and not n.startswith("kept from ")]
    notes.append(f"kept from the last good build: refreshing failed at {iso(now)}")
    data["notes"] = notes
    return json.dumps(data, indent=1, allow_nan=False).encode("utf-8")


def _exists(names: set[str], target: str) -> bool:
    return target in names or f"{target}/index.html" in names  # "/btc-usdt" serves its index


def _previous_names(prev_dir: Path) -> set[str]:
    return {
        p.relative_to(prev_dir).as_posix() for p in prev_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(prev_dir).parts)
    }


def find_kept(
    prev_dir: Path | None,
    failed: Mapping[str, str],
    *,
    now: datetime,
    max_age_hours: float = DEFAULT_MAX_AGE_HOURS,
) -> list[Carried]:
    """The failed symbols whose previous pages can be kept, read before rendering.

    The renderer lists them on the index, in the navigation and in the sitemap;
    :func:`carry_over` then merges their files (and may still drop one whose links break).
    """
    if not failed or prev_dir is None or not (Path(prev_dir) / MARKER).is_file():
        return []
    prev_dir = Path(prev_dir)
    names = _previous_names(prev_dir)
    kept = []
    for symbol in failed:
        found, _ = _load_previous(prev_dir, names, symbol, slugify(symbol), {}, now, max_age_hours)
        if found is not None:
            kept.append(found[0])
    return kept


def carry_over(
    prev_dir: Path | None,
    failed: Mapping[str, str],
    files: Mapping[str, bytes],
    *,
    now: datetime,
    max_age_hours: float = DEFAULT_MAX_AGE_HOURS,
    base_url: str | None = None,
) -> tuple[dict[str, bytes], list[Carried], dict[str, str]]:
    """Merge the previous pages of the ``failed`` symbols ({symbol: reason}) into ``files``.

    Returns ``(merged files, carried symbols, {symbol: why it could not be kept})``.
    ``files`` itself is not modified.
    """
    merged = dict(files)
    not_kept: dict[str, str] = {}
    if not failed:
        return merged, [], not_kept
    if prev_dir is None or not (Path(prev_dir) / MARKER).is_file():
        return merged, [], {s: "no previous site to keep pages from" for s in failed}
    prev_dir = Path(prev_dir)
    prev_names = _previous_names(prev_dir)
    candidates: dict[str, tuple[Carried, dict[str, bytes]]] = {}
    for symbol in failed:
        slug = slugify(symbol)
        kept, why = _load_previous(prev_dir, prev_names, symbol, slug, files, now, max_age_hours)
        if kept is None:
            not_kept[symbol] = why
            log.warning("%s: cannot keep the last good pages: %s", symbol, why)
            continue
        candidates[symbol] = kept

    # Drop symbols whose pages would link to something missing; repeat, since dropping one
    # symbol can break the links of another kept one.
    while True:
        names = set(files) | {p for _, own in candidates.values() for p in own}
        extra_assets: dict[str, bytes] = {}
        broken: dict[str, str] = {}
        for symbol, (_, own) in candidates.items():
            for rel, content in own.items():
                for target in internal_links(rel, content, base_url):
                    if _exists(names, target) or target in extra_assets:
                        continue
                    if target.startswith("static/") and target in prev_names:
                        extra_assets[target] = (prev_dir / target).read_bytes()
                        continue
                    broken.setdefault(symbol, f"{rel} links to {target}, which is not in the new site")
        if not broken:
            break
        for symbol, why in broken.items():
            log.warning("%s: cannot keep the last good pages: %s", symbol, why)
            not_kept[symbol] = why
            del candidates[symbol]

    carried = []
    for carried_symbol, own in candidates.values():
        merged.update(own)
        carried.append(carried_symbol)
    for rel, content in extra_assets.items():
        merged.setdefault(rel, content)
    return merged, carried, not_kept


def _load_previous(
    prev_dir: Path,
    prev_names: set[str],
    symbol: str,
    slug: str,
    files: Mapping[str, bytes],
    now: datetime,
    max_age_hours: float,
) -> tuple[tuple[Carried, dict[str, bytes]] | None, str]:
    data_rel = f"data/{slug}.json"
    if data_rel not in prev_names:
        return None, f"the previous site has no {data_rel}"
    try:
        payload = json.loads((prev_dir / data_rel).read_bytes())
    except (OSError, ValueError) as e:
        return None, f"previous {data_rel} is unreadable: {e}"
    errors = validate(payload, SYMBOL_SCHEMA)
    if errors:
        return None, f"previous {data_rel} does not match the schema: {errors[0]}"
    if payload["symbol"] != symbol:
        return None, f"previous {data_rel} is for {payload['symbol']}, not {symbol}"
    as_of = parse_iso(payload["as_of"])
    since = parse_iso(payload["stale_since"]) if payload.get("stale_since") else as_of
    if now - since > timedelta(hours=max_age_hours):
        return None, (
            f"its last good data ({iso(since)}) is older than {max_age_hours:g} hours; "
            "the page is dropped rather than shown that stale"
        )
    own_paths = symbol_paths(prev_names, slug)
    clash = [p for p in own_paths if p in files]
    if clash:
        return None, f"this build already writes {clash[0]}"
    own: dict[str, bytes] = {}
    for rel in own_paths:
        content = (prev_dir / rel).read_bytes()
        if rel == data_rel:
            content = mark_json_stale(payload, since, now)
        elif posixpath.splitext(rel)[1] in (".html", ".htm"):
            content = mark_html_stale(content, since)
        own[rel] = content
    summary = payload.get("summary")
    carried = Carried(
        symbol=symbol,
        slug=slug,
        as_of=as_of,
        stale_since=since,
        files=tuple(own_paths),
        summary=tuple(s for s in summary if isinstance(s, str)) if isinstance(summary, list) else (),
        last_price=payload.get("last_price") if isinstance(payload.get("last_price"), int | float) else None,
    )
    return (carried, own), ""
