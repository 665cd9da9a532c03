"""Keep last good: a symbol that failed this build keeps its previous pages, marked stale.

For each failed symbol, :func:`carry_over` copies that symbol's files from the previous
site (``out_dir`` before the swap) into the new tree:

* the files the site plan (:mod:`sitegen.plan`) names for that symbol (pages, range pages,
  embed, data, oEmbed, images), and nothing else found in its folders;
* ``data/<slug>.json`` is rewritten with ``"stale": true`` and ``"stale_since"`` (the time of
  the last good data: the previous ``stale_since`` if it was already stale, else its ``as_of``);
* every carried HTML page gets ``data-stale="true" data-stale-since="<ISO>"`` on its
  ``<body>`` tag, and its stale badge (``<span data-stale-badge ...>``) is shown with the
  text "stale since <time> UTC";
* nothing else: only regular files that the site plan names for that symbol
  (:func:`symbol_plan`) are read, never through a link (:mod:`sitegen.site.safetree`), and
  shared assets are never taken from the previous tree (it comes from a cache and may have
  been tampered with).

A symbol is not carried (and counts as failed) when there is no previous data, the previous
data is unreadable, older than ``max_age_hours``, its folders hold anything the plan does
not name (a link, a pipe, an extra file), a carried page runs a script or policy that no
fresh page of this build has (:mod:`sitegen.site.pagepolicy`), or its pages would have
broken links in the new tree (e.g. to a symbol that is gone, or to an older BokehJS).
Pure over bytes; reads only ``prev_dir``.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sitegen import plan, schemas
from sitegen.config import slugify
from sitegen.docfile import doc_payload
from sitegen.site.links import internal_links
from sitegen.site.pagepolicy import PagePolicy, page_problems, policy_of
from sitegen.site.safetree import UnsafeEntry, read_regular_file, regular_files, unexpected_entries
from sitegen.site.writer import MARKER
from sitegen.times import iso, parse_iso

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


def symbol_paths(names: set[str] | list[str], slug: str) -> list[str]:
    """The files of one symbol among ``names`` that the site plan names (nothing else is carried)."""
    return plan.owned_by(names, slug)


def symbol_plan(
    slug: str, ranges: list[str] | tuple[str, ...], exchanges: list[str] | tuple[str, ...] = ()
) -> set[str]:
    """Every file the site plan names for one symbol with these ``ranges`` and exchange pages."""
    return set(plan.symbol_files(slug, ranges, exchanges))


def symbol_area(slug: str) -> tuple[tuple[str, ...], set[str]]:
    """The folders a symbol owns alone, and its single files in shared folders."""
    folders = (f"{slug}/", f"embed/{slug}/", f"oembed/{slug}/")
    singles = {p for p in plan.symbol_files(slug, ()) if not p.startswith(folders)}
    return folders, singles


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
    old = data.get("notes")
    notes = [n for n in (old if isinstance(old, list) else []) if isinstance(n, str) and not n.startswith("kept from ")]
    notes.append(f"kept from the last good build: refreshing failed at {iso(now)}")
    data["notes"] = notes
    return json.dumps(data, indent=1, allow_nan=False).encode("utf-8")


def _exists(names: set[str], target: str) -> bool:
    return target in names or f"{target}/index.html" in names  # "/btc-usdt" serves its index


def _previous_names(prev_dir: Path) -> tuple[set[str], list[str]]:
    """(regular files, links and other non-files) of the previous tree; nothing followed."""
    return regular_files(prev_dir)


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
    ``files`` itself is not modified. (The build plans with :func:`plan_carry_over` before
    rendering and merges after, so the site is rendered once.)
    """
    policy = fresh_policy(files)
    kept, not_kept = plan_carry_over(
        prev_dir, failed, set(files), now=now, max_age_hours=max_age_hours, base_url=base_url,
        policy=policy,
    )
    merged = dict(files)
    for _, own in kept:
        merged.update(own)
    return merged, [c for c, _ in kept], not_kept


def fresh_policy(files: Mapping[str, bytes]) -> PagePolicy:
    """What the fresh pages of this build run (carried pages may run nothing else)."""
    return policy_of(c for rel, c in files.items() if rel.endswith((".html", ".htm")))


def after_render_refusals(
    kept: list[tuple[Carried, dict[str, bytes]]], files: Mapping[str, bytes], base_url: str | None = None,
    *, policy: PagePolicy | None = None, names: Collection[str] | None = None,
) -> dict[str, str]:
    """{symbol: why} for kept symbols that the rendered site cannot take after all: a page
    runs something this build's pages do not (:mod:`sitegen.site.pagepolicy`), or links to
    a shared asset the new site lacks (e.g. an older BokehJS). Shared assets are never taken
    from the previous tree: it comes from a cache. A build that streams its pages to disk
    passes their ``policy`` and ``names`` instead of the ``files``."""
    if not kept:
        return {}
    policy = policy if policy is not None else fresh_policy(files)
    names = set(names if names is not None else files) | {p for _, own in kept for p in own}
    out: dict[str, str] = {}
    for carried, own in kept:
        for rel, content in own.items():
            if posixpath.splitext(rel)[1] not in (".html", ".htm"):
                continue
            problems = page_problems(rel, content, policy)
            problems += [f"{rel} links to {t}, which is not in the new site"
                         for t in internal_links(rel, content, base_url) if not _exists(names, t)]
            if problems:
                out[carried.symbol] = f"{problems[0]}; its pages are not carried"
                break
    return out


def plan_carry_over(
    prev_dir: Path | None,
    failed: Mapping[str, str],
    names: set[str],
    *,
    now: datetime,
    max_age_hours: float = DEFAULT_MAX_AGE_HOURS,
    base_url: str | None = None,
    policy: PagePolicy | None = None,
) -> tuple[list[tuple[Carried, dict[str, bytes]]], dict[str, str]]:
    """Which failed symbols keep their previous pages, decided before rendering.

    ``names`` are the paths the new site will have (from the site plan). Returns
    ``([(carried symbol, its files marked stale)], {symbol: why it could not be kept})``.
    ``policy`` (what this build's pages run) is checked here when known; before rendering
    it is not, and the build applies :func:`policy_refusals` after rendering.
    """
    not_kept: dict[str, str] = {}
    if not failed:
        return [], not_kept
    if prev_dir is None or not (Path(prev_dir) / MARKER).is_file():
        return [], {s: "no previous site to keep pages from" for s in failed}
    prev_dir = Path(prev_dir)
    prev_names = _previous_names(prev_dir)
    candidates: dict[str, tuple[Carried, dict[str, bytes]]] = {}
    for symbol in failed:
        slug = slugify(symbol)
        kept, why = _load_previous(prev_dir, prev_names, symbol, slug, names, now, max_age_hours, policy)
        if kept is None:
            not_kept[symbol] = why
            log.warning("%s: cannot keep the last good pages: %s", symbol, why)
            continue
        candidates[symbol] = kept

    # Drop symbols whose pages would link to something missing; repeat, since dropping one
    # symbol can break the links of another kept one.
    # Before rendering, ``names`` has no shared assets yet: links into static/ are taken on
    # trust here and checked against the rendered files by :func:`after_render_refusals`.
    provisional_static = not any(n.startswith("static/") for n in names)
    while True:
        all_names = set(names) | {p for _, own in candidates.values() for p in own}
        broken: dict[str, str] = {}
        for symbol, (_, own) in candidates.items():
            for rel, content in own.items():
                for target in internal_links(rel, content, base_url):
                    if _exists(all_names, target) or (provisional_static and target.startswith("static/")):
                        continue
                    broken.setdefault(symbol, f"{rel} links to {target}, which is not in the new site")
        if not broken:
            break
        for symbol, why in broken.items():
            log.warning("%s: cannot keep the last good pages: %s", symbol, why)
            not_kept[symbol] = why
            del candidates[symbol]
    return list(candidates.values()), not_kept


def _load_previous(
    prev_dir: Path,
    prev: tuple[set[str], list[str]],
    symbol: str,
    slug: str,
    files: Collection[str],
    now: datetime,
    max_age_hours: float,
    policy: PagePolicy | None,
) -> tuple[tuple[Carried, dict[str, bytes]] | None, str]:
    prev_names, prev_other = prev
    data_rel = f"data/{slug}.json"
    folders, singles = symbol_area(slug)
    if data_rel not in prev_names:
        if data_rel in prev_other:
            return None, f"previous {data_rel} is not a regular file (a link?); nothing is carried"
        return None, f"the previous site has no {data_rel}"
    try:
        payload = json.loads(read_regular_file(prev_dir, data_rel))
    except (OSError, ValueError) as e:
        return None, f"previous {data_rel} is unreadable: {e}"
    errors = schemas.validate(payload, "symbol")
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
    planned = symbol_plan(slug, [r for r in payload.get("ranges", []) if isinstance(r, str)],
                          [e for e in payload.get("exchange_pages", []) if isinstance(e, str)])
    odd = unexpected_entries(prev_names, prev_other, folders, singles, planned)
    if odd:
        return None, (
            f"the previous site holds {', '.join(odd[:3])} among its files, which the site plan "
            "does not name as a regular file; a tampered tree is never carried"
        )
    missing = sorted(planned - prev_names - {f"og/{slug}-thumb.png", f"oembed/{slug}.json"})
    if missing:
        return None, f"the previous site lacks {missing[0]}, so its pages are incomplete"
    own_paths = sorted(planned & prev_names)
    clash = [p for p in own_paths if p in files]
    if clash:
        return None, f"this build already writes {clash[0]}"
    own: dict[str, bytes] = {}
    for rel in own_paths:
        try:
            content = read_regular_file(prev_dir, rel)
        except (OSError, UnsafeEntry) as e:
            return None, f"previous {rel} cannot be carried: {e}"
        if rel == data_rel:
            content = mark_json_stale(payload, since, now)
        elif posixpath.splitext(rel)[1] in (".html", ".htm"):
            problems = page_problems(rel, content, policy) if policy is not None else []
            if problems:
                return None, f"{problems[0]}; its pages are not carried"
            content = mark_html_stale(content, since)
        elif plan.is_doc(rel):
            try:
                doc_payload(content)  # it runs as script: only the one assignment is carried
            except ValueError as e:
                return None, f"previous {rel}: {e}; its pages are not carried"
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
