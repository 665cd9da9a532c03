"""Validate a built site tree before it is published: ``check_site(root) -> [problems]``.

What is checked (an empty list means the tree may be published):

* every expected page exists: the global pages, and for every ``data/<slug>.json`` the
  symbol page, one page per range listed in that JSON, the embed page, the CSV and the
  social image;
* every internal link and asset (``href``, ``src``, ``srcset``, ``poster``, CSS ``url()``,
  sitemap/feed ``<loc>``/``<link>`` under the site's base URL) resolves to a file;
* every ``.json`` file parses, and the symbol data, snapshot and snapshot index files
  match their schema (:data:`SYMBOL_SCHEMA`, :data:`SNAPSHOT_SCHEMA`, :data:`SNAPSHOT_INDEX_SCHEMA`);
* no file is empty, and every HTML page has a title and visible content.

Problems are returned as ``"<path>: <what is wrong> (<how to fix>)"`` strings.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from sitegen.config import RANGES

GLOBAL_PAGES = (
    "index.html",
    "methodology/index.html",
    "404.html",
    "sitemap.xml",
    "robots.txt",
    "feed.xml",
)
# Per symbol; "{slug}" and "{range}" are filled in from data/<slug>.json.
SYMBOL_PAGES = (
    "{slug}/index.html",
    "embed/{slug}/index.html",
    "data/{slug}.csv",
    "og/{slug}.png",
)
RANGE_PAGE = "{slug}/{range}/index.html"
IGNORED_PREFIXES = (".",)  # marker and dot files never reach GitHub Pages

# --------------------------------------------------------------------------------------
# A small JSON-schema-like validator: enough for our files, no dependency.
# A schema is one of:
#   type object (str, int, float, bool, list, dict, type(None)), or a tuple of them
#   Num / Str(pattern) / OneOf(values) / Nullable(schema)
#   ListOf(schema, min_len)
#   Obj({key: schema}, optional={key: schema})   extra keys are allowed
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    min: float | None = None
    integer: bool = False


@dataclass(frozen=True)
class Str:
    pattern: str | None = None


@dataclass(frozen=True)
class OneOf:
    values: tuple[object, ...]


@dataclass(frozen=True)
class Nullable:
    schema: object


@dataclass(frozen=True)
class ListOf:
    item: object
    min_len: int = 0


@dataclass(frozen=True)
class Obj:
    required: dict[str, object]
    optional: dict[str, object] | None = None


ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|\+00:00)$"
SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"

CLUSTER = Obj({
    "side": OneOf(("long", "short")),
    "price": Num(min=0),
    "usd": Num(min=0),
    "distance_pct": Num(),
})

SYMBOL_SCHEMA = Obj(
    {
        "generated_at": Str(ISO_UTC),
        "as_of": Str(ISO_UTC),
        "symbol": Str(r"^[A-Z0-9]{1,20}/[A-Z0-9]{2,10}:[A-Z0-9]{2,10}$"),
        "slug": Str(SLUG),
        "stale": bool,
        "exchanges": ListOf(Str(), 1),
        "ranges": ListOf(OneOf(tuple(RANGES)), 1),
        "parameters": dict,
    },
    optional={
        "stale_since": Nullable(Str(ISO_UTC)),
        "clusters": ListOf(CLUSTER),
        "last_price": Num(min=0),
        "volume_model": bool,
        "source": Str(),
        "notes": ListOf(Str()),
    },
)

SNAPSHOT_SCHEMA = Obj(
    {
        "symbol": Str(r"^[A-Z0-9]{1,20}/[A-Z0-9]{2,10}:[A-Z0-9]{2,10}$"),
        "slug": Str(SLUG),
        "hour": Str(r"^\d{4}-\d{2}-\d{2}T\d{2}$"),
        "as_of": Str(ISO_UTC),
        "stale": bool,
        "last_price": Nullable(Num(min=0)),
        "price_low": ListOf(Num(min=0)),
        "price_high": ListOf(Num(min=0)),
        "long_usd": ListOf(Num(min=0)),
        "short_usd": ListOf(Num(min=0)),
        "clusters": ListOf(CLUSTER),
    },
)

SNAPSHOT_INDEX_SCHEMA = Obj(
    {
        "generated_at": Str(ISO_UTC),
        "retention_hours": Num(min=1, integer=True),
        "snapshots": ListOf(
            Obj({
                "hour": Str(r"^\d{4}-\d{2}-\d{2}T\d{2}$"),
                "files": dict,
            })
        ),
    }
)

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false",
               list: "a list", dict: "an object", type(None): "null"}


def validate(value: Any, schema: object, where: str = "$") -> list[str]:
    """Return the places where ``value`` does not match ``schema`` (empty = valid)."""
    if isinstance(schema, Nullable):
        return [] if value is None else validate(value, schema.schema, where)
    if isinstance(schema, type | tuple):
        types = schema if isinstance(schema, tuple) else (schema,)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if ok:
            return []
        want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        return [f"{where}: expected {want}, got {_describe(value)}"]
    if isinstance(schema, Num):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{where}: expected a number, got {_describe(value)}"]
        if not math.isfinite(value):
            return [f"{where}: expected a finite number, got {value!r}"]
        if schema.integer and not isinstance(value, int):
            return [f"{where}: expected a whole number, got {value!r}"]
        if schema.min is not None and value < schema.min:
            return [f"{where}: expected a number >= {schema.min:g}, got {value!r}"]
        return []
    if isinstance(schema, Str):
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {_describe(value)}"]
        if schema.pattern and not re.match(schema.pattern, value):
            return [f"{where}: {value[:60]!r} does not match {schema.pattern}"]
        return []
    if isinstance(schema, OneOf):
        return [] if value in schema.values else [
            f"{where}: expected one of {list(schema.values)}, got {_describe(value)}"
        ]
    if isinstance(schema, ListOf):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {_describe(value)}"]
        if len(value) < schema.min_len:
            return [f"{where}: expected at least {schema.min_len} item(s), got {len(value)}"]
        out: list[str] = []
        for i, item in enumerate(value):
            out.extend(validate(item, schema.item, f"{where}[{i}]"))
            if len(out) >= 5:  # one bad column would otherwise flood the report
                break
        return out
    if isinstance(schema, Obj):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {_describe(value)}"]
        out = []
        for key, sub in schema.required.items():
            if key not in value:
                out.append(f"{where}: missing required key {key!r}")
            else:
                out.extend(validate(value[key], sub, f"{where}.{key}"))
        for key, sub in (schema.optional or {}).items():
            if key in value:
                out.extend(validate(value[key], sub, f"{where}.{key}"))
        return out
    raise TypeError(f"unknown schema node {schema!r}")


def _describe(value: Any) -> str:
    text = json.dumps(value)[:40] if not isinstance(value, float) or math.isfinite(value) else str(value)
    return f"{_TYPE_NAMES.get(type(value), type(value).__name__)} {text}"


# --------------------------------------------------------------------------------------
# Link extraction
# --------------------------------------------------------------------------------------

_LINK_ATTRS = {"href", "src", "poster", "data", "action"}
_IMAGE_METAS = {"og:image", "og:image:url", "og:image:secure_url", "twitter:image"}


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.title = ""
        self._in_title = False
        self.has_body_content = False
        self._skip_depth = 0  # inside <script>/<style>/<head>
        self._lazy_src = False  # inside the list of BokehJS files liqmap.js loads on demand

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name, value in attrs:
            if value is None:
                continue
            if name in _LINK_ATTRS and tag != "meta":
                if tag == "link" and (a.get("rel") or "").lower() in ("preconnect", "dns-prefetch"):
                    continue
                self.links.append(value)
            elif name in ("srcset", "imagesrcset"):
                self.links.extend(part.strip().split(" ")[0] for part in value.split(",") if part.strip())
        meta_name = (a.get("property") or a.get("name") or "").lower()
        if tag == "meta" and meta_name in _IMAGE_METAS and a.get("content"):
            self.links.append(a["content"] or "")
        if tag == "title":
            self._in_title = True
        if tag in ("img", "svg", "canvas", "iframe", "video", "picture", "object", "embed"):
            self.has_body_content = True
        if tag == "div" and (a.get("id") or a.get("data-root-id")):
            self.has_body_content = True  # Bokeh mounts its plots into empty divs
        if tag in ("script", "style"):
            self._skip_depth += 1
        self._lazy_src = tag == "script" and a.get("id") == "liqmap-bokeh-src"
        # The static heatmap picture is an inline-style background (templates/_macros.html).
        self.links.extend(m.group(2) for m in _CSS_URL_RE.finditer(a.get("style") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in ("script", "style") and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._lazy_src:
            try:
                urls = json.loads(data)
            except ValueError:
                urls = []
            self.links.extend(u for u in urls if isinstance(u, str))
            self._lazy_src = False
        if self._in_title:
            self.title += data
        elif not self._skip_depth and data.strip():
            self.has_body_content = True


_CSS_URL_RE = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_CSS_IMPORT_RE = re.compile(r"""@import\s+(['"])([^'"]+)\1""")


def _is_external(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return bool(scheme) or url.startswith("//")


def _resolve(page: str, url: str, base_url: str | None) -> str | None:
    """Site-relative path a link on ``page`` points to, or None for external/fragment links."""
    url = url.strip()
    if not url or url.startswith(("#", "data:", "blob:", "javascript:", "mailto:", "tel:")):
        return None
    if base_url and url.startswith(base_url):
        url = url[len(base_url):]
        path = unquote(urlsplit(url).path)
        return path if path else ""
    if _is_external(url):
        return None
    path = unquote(urlsplit(url).path)
    if not path:
        return None  # "?x=1" on the same page
    if path.startswith("/"):
        base_path = urlsplit(base_url).path if base_url else ""
        if base_path and path.startswith(base_path):
            return path[len(base_path):]  # e.g. the 404 page, served at any depth
        return "/" + path  # root-relative outside the site's path: reported by the caller
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
    if path.endswith("/") and joined != ".":
        joined += "/"
    return "" if joined in (".", "./") else joined


def _target_exists(files: set[str], dirs: set[str], target: str) -> bool:
    if target in ("", "/"):
        return "index.html" in files
    if target.endswith("/"):
        return target.rstrip("/") + "/index.html" in files
    if target in files:
        return True
    # GitHub Pages serves "/btc-usdt" as "/btc-usdt/" when the folder has an index
    return target in dirs and target + "/index.html" in files


# --------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(IGNORED_PREFIXES) for part in rel.split("/")):
            continue
        if path.is_file():
            yield rel


def _base_url_from(files: Mapping[str, bytes]) -> str | None:
    robots = files.get("robots.txt")
    if robots:
        m = re.search(r"^Sitemap:\s*(\S+)sitemap\.xml\s*$", robots.decode("utf-8", "replace"), re.M)
        if m:
            return m.group(1)
    return None


def check_site(root: Path, *, base_url: str | None = None) -> list[str]:
    """Every problem that should stop ``root`` from being published (empty list = OK).

    ``base_url`` (absolute, ending in "/") makes absolute links to the site itself count as
    internal links; by default it is read from the ``Sitemap:`` line of ``robots.txt``.
    """
    root = Path(root)
    if not root.is_dir():
        return [f"{root}: not a folder (build the site first: liqmap build --out {root})"]
    return check_files({rel: (root / rel).read_bytes() for rel in _walk(root)}, base_url=base_url)


def check_files(files: Mapping[str, bytes], *, base_url: str | None = None) -> list[str]:
    """:func:`check_site` for a tree held in memory as ``{posix path: bytes}``."""
    names = set(files)
    dirs = {posixpath.dirname(f) for f in names}
    for d in list(dirs):
        while d:
            d = posixpath.dirname(d)
            dirs.add(d)
    base_url = base_url or _base_url_from(files)
    problems: list[str] = []

    # 1. expected pages
    expected: dict[str, str] = {p: "every site has it" for p in GLOBAL_PAGES}
    data_files = sorted(f for f in names if re.fullmatch(r"data/[^/]+\.json", f))
    if not data_files:
        problems.append("data/: no data/<slug>.json files: the site has no symbols (did every symbol fail?)")
    for df in data_files:
        slug = df[len("data/"):-len(".json")]
        payload = _load_json(files[df], df, problems)
        if payload is None:
            continue
        errs = validate(payload, SYMBOL_SCHEMA)
        problems.extend(f"{df}: schema: {e} (the renderer must write this key/type)" for e in errs)
        if isinstance(payload, dict) and payload.get("slug") not in (None, slug):
            problems.append(f"{df}: slug {payload.get('slug')!r} does not match the file name {slug!r}")
        for pattern in SYMBOL_PAGES:
            expected[pattern.format(slug=slug)] = f"{df} lists symbol {slug}"
        ranges = payload.get("ranges") if isinstance(payload, dict) else None
        for r in ranges if isinstance(ranges, list) else []:
            if isinstance(r, str) and r in RANGES:
                expected[RANGE_PAGE.format(slug=slug, range=r)] = f"{df} lists range {r}"
    for path, why in expected.items():
        if path not in names:
            problems.append(f"{path}: missing ({why}; the renderer must write it)")

    # 2. every file: not empty, JSON parses, links resolve
    for rel in sorted(names):
        content = files[rel]
        if len(content) == 0:
            problems.append(f"{rel}: empty file")
            continue
        if rel.endswith(".json") and rel not in data_files:
            payload = _load_json(content, rel, problems)
            schema = _schema_for(rel)
            if payload is not None and schema is not None:
                errs = validate(payload, schema)
                problems.extend(f"{rel}: schema: {e}" for e in errs)
                if rel == "snapshots/index.json" and not errs:
                    for entry in payload["snapshots"]:
                        for listed in entry["files"].values():
                            if listed not in names:
                                problems.append(f"{rel}: lists {listed!r}, which is not in the site")
        elif rel.endswith((".html", ".htm")):
            _check_html(content, rel, names, dirs, base_url, problems)
        elif rel.endswith(".css"):
            text = content.decode("utf-8", "replace")
            links = [m.group(2) for m in _CSS_URL_RE.finditer(text)]
            links += [m.group(2) for m in _CSS_IMPORT_RE.finditer(text)]
            _check_links(rel, links, names, dirs, base_url, problems)
        elif rel.endswith(".xml"):
            _check_xml(content, rel, names, dirs, base_url, problems)
    return problems


def internal_links(rel: str, content: bytes, base_url: str | None = None) -> list[str]:
    """Site paths an HTML or CSS file links to (what must exist for it to work)."""
    if rel.endswith((".html", ".htm")):
        parser = _PageParser()
        parser.feed(content.decode("utf-8", "replace"))
        links = parser.links
    elif rel.endswith(".css"):
        text = content.decode("utf-8", "replace")
        links = [m.group(2) for m in _CSS_URL_RE.finditer(text)]
    else:
        return []
    out = []
    for url in links:
        target = _resolve(rel, url, base_url)
        if target is None or target.startswith(("//", "..")):
            continue
        out.append(target + "index.html" if target.endswith("/") or not target else target)
    return out


def _schema_for(rel: str) -> object | None:
    if rel == "snapshots/index.json":
        return SNAPSHOT_INDEX_SCHEMA
    if re.fullmatch(r"snapshots/\d{4}-\d{2}-\d{2}T\d{2}/[^/]+\.json", rel):
        return SNAPSHOT_SCHEMA
    return None


def _load_json(content: bytes, rel: str, problems: list[str]) -> Any:
    try:
        return json.loads(content, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        problems.append(f"{rel}: not valid JSON: {e}")
        return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (write null for missing numbers)")


def _check_links(
    rel: str, links: list[str], files: set[str], dirs: set[str], base_url: str | None,
    problems: list[str],
) -> None:
    seen: set[str] = set()
    for url in links:
        if url in seen:
            continue
        seen.add(url)
        target = _resolve(rel, url, base_url)
        if target is None:
            continue
        if target.startswith("//"):
            problems.append(
                f"{rel}: root-relative link {url!r} is outside the site's path "
                f"{urlsplit(base_url).path if base_url else '(unknown base URL)'}; use a relative URL"
            )
            continue
        if target.startswith("../") or target == "..":
            problems.append(f"{rel}: link {url!r} points outside the site")
            continue
        if not _target_exists(files, dirs, target):
            wanted = target + "index.html" if target.endswith("/") or not target else target
            problems.append(f"{rel}: broken link {url!r} (no file {wanted!r} in the site)")


def _check_html(
    content: bytes, rel: str, files: set[str], dirs: set[str], base_url: str | None,
    problems: list[str],
) -> None:
    text = content.decode("utf-8", "replace")
    parser = _PageParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception as e:  # html.parser is lenient; anything raised means garbage
        problems.append(f"{rel}: cannot parse HTML: {e}")
        return
    if not parser.title.strip():
        problems.append(f"{rel}: page has no <title>")
    if not parser.has_body_content:
        problems.append(f"{rel}: page is empty (no visible text, image or chart)")
    _check_links(rel, parser.links, files, dirs, base_url, problems)


def _check_xml(
    content: bytes, rel: str, files: set[str], dirs: set[str], base_url: str | None,
    problems: list[str],
) -> None:
    try:
        tree = ElementTree.fromstring(content)
    except ElementTree.ParseError as e:
        problems.append(f"{rel}: not well-formed XML: {e}")
        return
    if not base_url:
        return
    links: list[str] = []
    for el in tree.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("loc", "id") and el.text:
            links.append(el.text.strip())
        elif tag == "link":
            if el.get("href"):
                links.append(el.get("href", ""))
            elif el.text:
                links.append(el.text.strip())
    internal = [u for u in links if u.startswith(base_url)]
    _check_links(rel, internal, files, dirs, base_url, problems)

