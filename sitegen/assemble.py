"""The second half of every build: from the symbols' cards to a complete, swapped-in site.

The symbols' own files are already in the staged tree (written by :func:`sitegen.build.build_site`
a symbol at a time, or hard-linked from shard parts by :func:`assemble_parts`); what is kept of
each symbol is its card (:mod:`sitegen.render.card`). :func:`finish_site` then applies the
freshness rule, keeps the last good pages of failed symbols, renders the global files (index,
methodology, 404, feed, sitemap, robots, static files, schemas), adds the hourly snapshots,
checks the site plan and commits the tree (validation and atomic swap,
:class:`sitegen.site.writer.StagedSite`).

A shard (``liqmap build --shard K/N``) writes its symbols' files and a manifest
(``_liqmap/shard-K-of-N.json``: the cards, failures, notes, the BokehJS bundles and script
policy of its pages) into a partial tree; ``liqmap assemble PARTS...`` checks that the parts
belong together and finishes the site from them. Manifests are JSON, never pickles.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sitegen import __version__, plan
from sitegen.config import Config, slugify
from sitegen.errors import BuildError, not_listed_note
from sitegen.render.assets import BOKEH_VERSION
from sitegen.render.card import Card, card_from_json, card_to_json
from sitegen.report import KeptSymbol, SiteData
from sitegen.site.lastgood import Carried, after_render_refusals, plan_carry_over
from sitegen.site.pagepolicy import PagePolicy, policy_of
from sitegen.site.safetree import read_regular_file
from sitegen.site.snapshots import accuracy_history, add_snapshots
from sitegen.site.writer import StagedSite
from sitegen.times import iso, parse_iso

log = logging.getLogger(__name__)

MANIFEST_DIR = "_liqmap"  # in a shard's partial tree only; never published
MANIFEST_FORMAT = 1


def manifest_path(k: int, n: int) -> str:
    return f"{MANIFEST_DIR}/shard-{k}-of-{n}.json"


@dataclass
class SymbolsDone:
    """What the symbols of one build (or of all shards) left besides their files."""

    cards: list[Card] = field(default_factory=list)  # config order
    failures: dict[str, str] = field(default_factory=dict)  # symbol -> why
    notes: list[str] = field(default_factory=list)
    bundles: set[str] = field(default_factory=set)  # BokehJS files the pages load
    scripts: set[str] = field(default_factory=set)  # page policy (sitegen.site.pagepolicy)
    csps: set[str] = field(default_factory=set)
    files: dict[str, list[str]] = field(default_factory=dict)  # slug -> its files

    @property
    def policy(self) -> PagePolicy:
        return PagePolicy(frozenset(self.scripts), frozenset(self.csps))


@dataclass(frozen=True)
class Finished:
    fresh: tuple[str, ...]
    stale: tuple[str, ...]
    failed: tuple[str, ...]
    files: int
    notes: tuple[str, ...]


def nav_of(symbols: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The symbol menu of the pages: (slug, base) per symbol."""
    return tuple((slugify(s), s.split("/")[0]) for s in symbols)


def require_fresh_share(config: Config, done: SymbolsDone, total: int, hint: str = "") -> None:
    """The build fails (nothing is written) when too few symbols are fresh."""
    fresh = [c for c in done.cards if not c.report.stale]
    share = len(fresh) / total if total else 0.0
    if share >= config.min_fresh_share and done.cards:
        return
    by_reason: dict[str, list[str]] = {}
    for s, why in done.failures.items():
        by_reason.setdefault(why, []).append(s)
    detail = "; ".join(
        [f"{', '.join(syms)}: {why}" for why, syms in by_reason.items()]
        + [f"{c.report.symbol}: data ends {c.report.as_of:%Y-%m-%d %H:%M} UTC, more than "
           f"{config.stale_after_hours:g} h before the build" for c in done.cards if c.report.stale]
    )
    if "local store" in detail and hint:
        detail += f" ({hint})"
    raise BuildError(
        f"only {len(fresh)} of {total} symbols have fresh data "
        f"(need {config.min_fresh_share:.0%}); nothing was written. {detail}"
    )


def _kept(carried: Sequence[Carried]) -> tuple[KeptSymbol, ...]:
    return tuple(KeptSymbol(c.symbol, c.slug, c.as_of, c.stale_since, c.last_price, c.summary) for c in carried)


def _replace_file(stage: StagedSite, rel: str, content: bytes) -> None:
    """Rewrite one staged file by a rename (a file linked from a shard part is never changed in place)."""
    target = stage.root.joinpath(*rel.split("/"))
    tmp = target.with_name(f".{target.name}.nav")
    tmp.write_bytes(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def finish_site(
    stage: StagedSite,
    config: Config,
    done: SymbolsDone,
    site: SiteData,
    *,
    rendered_nav: Sequence[tuple[str, str]],
    standalone: bool,
    progress: Callable[[str], None] | None = None,
) -> Finished:
    """Keep-last-good, global files, snapshots, plan check, validation and swap (see the module)."""
    # Here, not at the top: Bokeh and the page templates load only once there is something
    # to render (a build whose fetch fails exits without them, about 0.7 s sooner).
    from sitegen.render.pages import check_plan, render_global_files, reorder_nav

    cards = done.cards
    fresh_plan = plan.SitePlan({c.report.slug: c.report.ranges for c in cards},
                                {c.report.slug: c.report.page_exchanges for c in cards})
    kept, not_kept = plan_carry_over(
        config.out_dir, done.failures, set(fresh_plan.files), now=site.generated_at, base_url=config.base_url
    )
    site = replace(site, symbols=(), accuracy_history=accuracy_history(config.out_dir))
    symbol_names = stage.names
    thumbs = {c.report.slug: stage.read(plan.path("thumb", c.report.slug)) for c in cards} if standalone else None
    if progress:
        progress("rendering the index, feed and sitemap")
    while True:
        nav = tuple((c.report.slug, c.base) for c in cards) + tuple(
            (c.slug, c.symbol.split("/")[0]) for c, _ in kept)
        site = replace(site, kept=_kept([c for c, _ in kept]), nav=nav)
        global_files = render_global_files(site, list(cards), standalone=standalone, bokeh_files=done.bundles,
                                           symbol_paths=symbol_names, thumbs=thumbs)
        html = [c for rel, c in global_files.items() if rel.endswith(".html")]
        policy = policy_of(html)
        policy = PagePolicy(policy.scripts | done.policy.scripts, policy.csps | done.policy.csps)
        refused = after_render_refusals(kept, {}, config.base_url, policy=policy,
                                        names=[*symbol_names, *global_files])
        if not refused:
            break
        # rare (a tampered cache, or kept pages that need an older BokehJS): drop them and
        # render the global files again, so no page lists a symbol the site does not carry
        for symbol, why in refused.items():
            log.warning("%s: cannot keep the last good pages: %s", symbol, why)
        not_kept.update(refused)
        kept = [k for k in kept if k[0].symbol not in refused]
    if tuple(rendered_nav) != nav:
        # Symbol pages were rendered listing every configured symbol; some failed, or are
        # kept from the last good build (listed last, as on the index): fix their menus.
        slugs = [slug for slug, _ in nav]
        for c in cards:
            for rel in done.files.get(c.report.slug, ()):
                if rel.endswith(".html"):
                    _replace_file(stage, rel, reorder_nav(stage.read(rel), slugs))
    check_plan(fresh_plan, [*symbol_names, *global_files])
    stage.add(global_files)
    carried = [c for c, _ in kept]
    data_files: dict[str, bytes] = {}
    for c in cards:
        rel = plan.path("data_json", c.report.slug)
        data_files[rel] = stage.read(rel)
    for _, own in kept:
        stage.add(own)
    snaps = add_snapshots(data_files, config.out_dir, now=site.generated_at)
    stage.add({rel: content for rel, content in snaps.items() if rel not in data_files})

    stale = tuple(c.report.symbol for c in cards if c.report.stale) + tuple(c.symbol for c in carried)
    failed = tuple(s for s in done.failures if s not in stale)
    notes = list(done.notes)
    for c in cards:
        r = c.report
        if r.stale:
            notes.append(f"{r.symbol}: data ends {r.as_of:%Y-%m-%d %H:%M} UTC (published marked stale)")
        if r.failed_exchanges:
            notes.append(f"{r.symbol}: failed this run on {', '.join(r.failed_exchanges)}")
        if r.unlisted_exchanges:
            notes.append(f"{r.symbol}: {not_listed_note(', '.join(r.unlisted_exchanges))} (skipped there)")
    files = len(stage.names)
    if progress:
        progress("checking the new site")
    stage.commit(validate=True)
    for symbol, why in done.failures.items():
        kept_one = next((c for c in carried if c.symbol == symbol), None)
        outcome = (
            f"kept the last good pages of {kept_one.stale_since:%Y-%m-%d %H:%M} UTC, marked stale"
            if kept_one else f"not shown: {not_kept.get(symbol, 'nothing to keep')}"
        )
        notes.append(f"{symbol}: {why} ({outcome})")
    return Finished(
        fresh=tuple(c.report.symbol for c in cards if not c.report.stale),
        stale=stale, failed=failed, files=files, notes=tuple(notes),
    )


# -- shards ---------------------------------------------------------------------------------

def _config_key(config: Config, standalone: bool) -> dict[str, Any]:
    """What every part of one site must have been built with."""
    return {
        "liqmap": __version__,
        "bokeh": BOKEH_VERSION,
        "symbols": list(config.symbols),
        "ranges": list(config.ranges),
        "base_url": config.base_url,
        "title": config.title,
        "model": {k: list(v) if isinstance(v, tuple) else v for k, v in config.model.as_dict().items()},
        "standalone": standalone,
    }


def manifest(
    config: Config, k: int, n: int, done: SymbolsDone, generated_at: datetime, *, standalone: bool,
    nav: Sequence[tuple[str, str]],
) -> bytes:
    """The manifest of shard ``k`` of ``n`` (JSON)."""
    payload = {
        "format": MANIFEST_FORMAT,
        "shard": [k, n],
        "generated_at": iso(generated_at),
        **_config_key(config, standalone),
        "nav": [list(x) for x in nav],
        "cards": [card_to_json(c) for c in done.cards],
        "failures": done.failures,
        "notes": done.notes,
        "files": done.files,
        "bundles": sorted(done.bundles),
        "scripts": sorted(done.scripts),
        "csps": sorted(done.csps),
    }
    return (json.dumps(payload, indent=1) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Part:
    root: Path
    shard: tuple[int, int]
    generated_at: datetime
    nav: tuple[tuple[str, str], ...]
    done: SymbolsDone


def read_part(root: Path, config: Config, *, standalone: bool) -> list[Part]:
    """The shard manifests in the partial tree ``root``, checked against ``config``."""
    folder = root / MANIFEST_DIR
    if not folder.is_dir() or folder.is_symlink():
        raise BuildError(f"{root}: not a shard's part (no {MANIFEST_DIR}/ folder); build it with "
                         "`liqmap build --shard K/N --out DIR`")
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith("shard-") and p.name.endswith(".json"))
    if not names:
        raise BuildError(f"{root}: no shard manifest in {MANIFEST_DIR}/")
    want = _config_key(config, standalone)
    parts = []
    for name in names:
        rel = f"{MANIFEST_DIR}/{name}"
        try:
            data = json.loads(read_regular_file(root, rel))
            if data.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"manifest format {data.get('format')!r}, this liqmap reads {MANIFEST_FORMAT}")
            k, n = (int(x) for x in data["shard"])
            for key, value in want.items():
                if data.get(key) != value:
                    raise BuildError(
                        f"{root / rel}: built with {key} = {data.get(key)!r:.120}, but this assemble has "
                        f"{value!r:.120}; build every part with the same liqmap, Bokeh and config"
                    )
            cards = [card_from_json(c) for c in data["cards"]]
            done = SymbolsDone(
                cards=cards, failures={str(s): str(w) for s, w in data["failures"].items()},
                notes=[str(x) for x in data["notes"]],
                bundles={str(x) for x in data["bundles"]}, scripts={str(x) for x in data["scripts"]},
                csps={str(x) for x in data["csps"]},
                files={str(s): [str(p) for p in ps] for s, ps in data["files"].items()},
            )
            parts.append(Part(root, (k, n), parse_iso(data["generated_at"]),
                              tuple((str(a), str(b)) for a, b in data["nav"]), done))
        except BuildError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BuildError(f"{root / rel}: unreadable shard manifest ({e}); build that part again") from None
    return parts


def merge_parts(parts: Sequence[Part], config: Config) -> SymbolsDone:
    """One :class:`SymbolsDone` from every shard; refuses duplicates, overlaps and gaps."""
    if not parts:
        raise BuildError("assemble needs at least one part")
    ns = {p.shard[1] for p in parts}
    if len(ns) != 1:
        splits = ", ".join(f"{p.shard[0]}/{p.shard[1]}" for p in parts)
        raise BuildError(f"the parts come from different splits ({splits}); build them with one N")
    n = ns.pop()
    seen: dict[int, Path] = {}
    for p in parts:
        k = p.shard[0]
        if k in seen:
            raise BuildError(f"shard {k}/{n} is given twice ({seen[k]} and {p.root})")
        seen[k] = p.root
    missing = [k for k in range(1, n + 1) if k not in seen]
    if missing:
        raise BuildError(f"shard(s) {', '.join(f'{k}/{n}' for k in missing)} missing; assemble needs all {n} parts")
    owner: dict[str, Path] = {}
    for p in parts:
        for sym in [c.report.symbol for c in p.done.cards] + list(p.done.failures):
            if sym in owner:
                raise BuildError(f"{sym} is in two parts ({owner[sym]} and {p.root}); each symbol belongs to one shard")
            owner[sym] = p.root
    absent = [s for s in config.symbols if s not in owner]
    if absent:
        raise BuildError(f"no part has {', '.join(absent)}; build every shard of the same config")
    order = {s: i for i, s in enumerate(config.symbols)}
    merged = SymbolsDone()
    for p in sorted(parts, key=lambda p: p.shard[0]):
        merged.cards += p.done.cards
        merged.failures.update(p.done.failures)
        merged.notes += p.done.notes
        merged.bundles |= p.done.bundles
        merged.scripts |= p.done.scripts
        merged.csps |= p.done.csps
        merged.files.update(p.done.files)
    merged.cards.sort(key=lambda c: order[c.report.symbol])
    merged.failures = {s: merged.failures[s] for s in sorted(merged.failures, key=order.__getitem__)}
    return merged


def link_parts(stage: StagedSite, parts: Sequence[Part]) -> None:
    """Hard-link each part's symbol files into the staged site: only files the site plan names
    for that part's symbols, only regular files."""
    for p in parts:
        for c in p.done.cards:
            slug = c.report.slug
            listed = p.done.files.get(slug, [])
            planned = set(plan.symbol_files(slug, c.report.ranges, c.report.page_exchanges))
            odd, missing = sorted(set(listed) - planned), sorted(planned - set(listed))
            if odd:
                raise BuildError(f"{p.root}: the manifest lists {odd[:3]} for {slug}, "
                                 "which the site plan does not name; build that part again")
            if missing:
                raise BuildError(f"{p.root}: the manifest lacks {missing[:3]} for {slug}; build that part again")
            stage.link(p.root, listed)


def parts_files(parts: Sequence[Part]) -> Mapping[str, list[str]]:
    return {slug: files for p in parts for slug, files in p.done.files.items()}
