"""The site plan: which files a site has, for which symbols and ranges, written down once.

Render writes exactly the files the plan names (and checks that it did), ``liqmap check``
expects them, keep-last-good carries only them, and the templates take their links from
:func:`path`. Plain data and pure functions; no I/O.

Adding an artifact kind (an embed page per range, a static picture per page, ...) is one
entry in :data:`SYMBOL_ARTIFACTS`, or in :data:`RANGE_ARTIFACTS` when there is one per range;
render then has to produce it (its check fails until it does) and ``liqmap check`` expects it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sitegen.errors import BuildError
from sitegen.schemas import PUBLISHED_DIR, SCHEMAS

# One per site.
GLOBAL_FILES: dict[str, str] = {
    "index": "index.html",
    "methodology": "methodology/index.html",
    "overview": "overview/index.html",  # every symbol ranked by the liquidations near price
    "not_found": "404.html",
    "sitemap": "sitemap.xml",
    "robots": "robots.txt",
    "feed": "feed.xml",
    # the JSON Schemas of the data files: schema_symbol, schema_snapshot, schema_snapshot_index
    **{f"schema_{name}": f"{PUBLISHED_DIR}/{file}" for name, file in SCHEMAS.items()},
}
# One per symbol: kind -> pattern with {slug}.
SYMBOL_ARTIFACTS: dict[str, str] = {
    "page": "{slug}/index.html",  # the default range
    "embed": "embed/{slug}/index.html",  # chart only, default range
    "data_json": "data/{slug}.json",
    "data_csv": "data/{slug}.csv",
    "oembed": "oembed/{slug}.json",
    "og": "og/{slug}.png",  # 1200x630 social preview
    "thumb": "og/{slug}-thumb.png",  # index thumbnail
    "page_doc": "{slug}/doc.js",  # the Bokeh document of the default page (sitegen/docfile.py)
    "embed_doc": "embed/{slug}/doc.js",  # ... of the default embed
}
# One per symbol and range: kind -> pattern with {slug} and {range}.
RANGE_ARTIFACTS: dict[str, str] = {
    "range_page": "{slug}/{range}/index.html",
    "poster": "{slug}/{range}/heatmap.webp",  # static picture shown until the chart loads
    "range_embed": "embed/{slug}/{range}/index.html",  # chart only, one per range
    "range_oembed": "oembed/{slug}/{range}.json",  # oEmbed answer for that range's page
    "range_doc": "{slug}/{range}/doc.js",  # the Bokeh document of the range page, loaded on demand
    "range_embed_doc": "embed/{slug}/{range}/doc.js",  # ... of the range's embed
}
# One per symbol and exchange, for symbols with data from two or more exchanges (issue 14
# item 3): the default range from that exchange's model alone. Kind -> pattern with {slug}
# and {exchange} (a ccxt id); each symbol's data/<slug>.json lists them in "exchange_pages".
EXCHANGE_ARTIFACTS: dict[str, str] = {
    "exchange_page": "{slug}/x/{exchange}/index.html",
    "exchange_poster": "{slug}/x/{exchange}/heatmap.webp",  # static picture until the chart loads
    "exchange_doc": "{slug}/x/{exchange}/doc.js",  # its Bokeh document, loaded on demand
}
# The chart pages and the file next to each that carries its Bokeh document.
PAGE_DOCS: dict[str, str] = {
    "page": "page_doc", "embed": "embed_doc", "range_page": "range_doc", "range_embed": "range_embed_doc",
    "exchange_page": "exchange_doc",
}
DOC_FILE = "doc.js"  # every *_doc pattern above ends in it
# Folders whose files render names itself (packaged CSS/JS, the BokehJS bundles of the
# installed version) and snapshot history added by the build.
SHARED_PREFIXES = ("static/", "snapshots/")


def path(kind: str, slug: str = "", range: str = "", exchange: str = "") -> str:
    """The site-relative file of one artifact, e.g. ``path("data_json", "btc-usdt")``."""
    if kind in GLOBAL_FILES:
        return GLOBAL_FILES[kind]
    if kind in SYMBOL_ARTIFACTS:
        return SYMBOL_ARTIFACTS[kind].format(slug=slug)
    if kind in RANGE_ARTIFACTS:
        if not range:
            raise ValueError(f"plan: {kind} needs a range")
        return RANGE_ARTIFACTS[kind].format(slug=slug, range=range)
    if kind in EXCHANGE_ARTIFACTS:
        if not exchange:
            raise ValueError(f"plan: {kind} needs an exchange")
        return EXCHANGE_ARTIFACTS[kind].format(slug=slug, exchange=exchange)
    raise KeyError(f"plan: unknown artifact kind {kind!r}")


def doc_path(page: str) -> str:
    """The document file of the chart page at site path ``page``: ``doc.js`` beside it."""
    if not page.endswith("index.html"):
        raise ValueError(f"plan: {page!r} is not a chart page")
    return page[: -len("index.html")] + DOC_FILE


def is_doc(rel: str) -> bool:
    """Whether site path ``rel`` is a chart page's document file (runs as script: check it)."""
    return posixpath.basename(rel) == DOC_FILE and not rel.startswith(SHARED_PREFIXES)


def url(kind: str, slug: str = "", range: str = "", exchange: str = "") -> str:
    """Like :func:`path`, but a folder's ``index.html`` becomes the folder URL (``btc-usdt/``)."""
    p = path(kind, slug, range, exchange)
    if p == "index.html":
        return ""
    return p[: -len("index.html")] if p.endswith("/index.html") else p


def symbol_files(slug: str, ranges: Iterable[str], exchanges: Iterable[str] = ()) -> dict[str, str]:
    """{path: kind} of every file one symbol has (with pages for ``ranges`` and ``exchanges``)."""
    out = {path(kind, slug): kind for kind in SYMBOL_ARTIFACTS}
    for r in ranges:
        out.update({path(kind, slug, r): kind for kind in RANGE_ARTIFACTS})
    for e in exchanges:
        out.update({path(kind, slug, exchange=e): kind for kind in EXCHANGE_ARTIFACTS})
    return out


@dataclass(frozen=True)
class SitePlan:
    """Every file a site has besides the shared folders: {path: kind}."""

    symbols: Mapping[str, tuple[str, ...]]  # slug -> ranges
    exchanges: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # slug -> exchange pages

    @property
    def files(self) -> dict[str, str]:
        out = {p: kind for kind, p in GLOBAL_FILES.items()}
        for slug, ranges in self.symbols.items():
            out.update(symbol_files(slug, ranges, self.exchanges.get(slug, ())))
        return out

    def unplanned(self, names: Iterable[str]) -> list[str]:
        """Paths among ``names`` the plan does not name (and no shared folder holds)."""
        files = self.files
        return sorted(n for n in names if n not in files and not n.startswith(SHARED_PREFIXES))

    def missing(self, names: Iterable[str]) -> list[str]:
        """Planned paths that are not among ``names``."""
        have = set(names)
        return sorted(p for p in self.files if p not in have)


def owned_by(names: Iterable[str], slug: str) -> list[str]:
    """The files among ``names`` that belong to symbol ``slug`` (any of its ranges)."""
    fixed = {path(kind, slug) for kind in SYMBOL_ARTIFACTS}
    per_range = [
        re.compile("^" + re.escape(p).replace(re.escape("{slug}"), re.escape(slug))
                   .replace(re.escape("{range}"), "[a-z0-9]+").replace(re.escape("{exchange}"), "[a-z0-9]+")
                   + "$")
        for p in (*RANGE_ARTIFACTS.values(), *EXCHANGE_ARTIFACTS.values())
    ]
    return sorted(n for n in names if n in fixed or any(r.match(n) for r in per_range))


class FileSet(dict[str, bytes]):
    """{path: bytes} that refuses a second write to one path (gather, then write once)."""

    def __setitem__(self, key: str, value: bytes) -> None:
        if key in self:
            raise BuildError(f"{key!r}: two parts of the build write this path; each path is written once")
        if posixpath.normpath(key) != key or key.startswith("/"):
            raise BuildError(f"{key!r}: not a clean site-relative path")
        super().__setitem__(key, value)

    def update(self, other: Mapping[str, bytes] | None = None, /, **kw: bytes) -> None:  # type: ignore[override]
        for k, v in {**(other or {}), **kw}.items():
            self[k] = v
