"""Validate a built site tree before it is published: ``check_site(root) -> [problems]``.

What is checked (an empty list means the tree may be published):

* every file the site plan (:mod:`sitegen.plan`) names exists: the global pages, and for
  every ``data/<slug>.json`` every artifact of that symbol, with one page per range listed
  in that JSON;
* every internal link and asset (``href``, ``src``, ``srcset``, ``poster``, CSS ``url()``,
  sitemap/feed ``<loc>``/``<link>`` under the site's base URL) resolves to a file;
* every ``.json`` file parses, and the symbol data, snapshot and snapshot index files
  match their published JSON Schema (:mod:`sitegen.schemas`);
* every chart page's document file (``doc.js``) is exactly one JSON assignment
  (:mod:`sitegen.docfile`), since it runs as script;
* no file is empty, and every HTML page has a title and visible content.

Problems are returned as ``"<path>: <what is wrong> (<how to fix>)"`` strings.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from sitegen import plan, schemas
from sitegen.config import RANGES
from sitegen.docfile import doc_payload
from sitegen.site.links import CSS_IMPORT_RE, CSS_URL_RE, PageParser, resolve, target_exists
from sitegen.site.safetree import UnsafeEntry, read_regular_file, regular_files

IGNORED_PREFIXES = (".",)  # marker and dot files never reach GitHub Pages


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
    # Links are never followed: the Pages upload dereferences them, so a link to
    # /proc/self/environ would publish the build's environment (secrets included).
    names, other = regular_files(root)
    problems = [
        f"{rel}: is not a regular file (a symbolic link, pipe or device); a published site "
        "holds regular files only (remove it)" for rel in other
    ]
    files: dict[str, bytes] = {}
    for rel in sorted(names):
        try:
            files[rel] = read_regular_file(root, rel, allow_hard_links=True)
        except (OSError, UnsafeEntry) as e:
            problems.append(f"{rel}: cannot be read: {e}")
    return problems + check_files(files, base_url=base_url)


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
    expected: dict[str, str] = {p: "every site has it" for p in plan.GLOBAL_FILES.values()}
    data_files = sorted(f for f in names if re.fullmatch(r"data/[^/]+\.json", f))
    if not data_files:
        problems.append("data/: no data/<slug>.json files: the site has no symbols (did every symbol fail?)")
    for df in data_files:
        slug = df[len("data/"):-len(".json")]
        payload = _load_json(files[df], df, problems)
        if payload is None:
            continue
        errs = schemas.validate(payload, "symbol")
        problems.extend(f"{df}: schema: {e} (the renderer must write this key/type)" for e in errs)
        if isinstance(payload, dict) and payload.get("slug") not in (None, slug):
            problems.append(f"{df}: slug {payload.get('slug')!r} does not match the file name {slug!r}")
        ranges = payload.get("ranges") if isinstance(payload, dict) else None
        ranges = [r for r in ranges if isinstance(r, str) and r in RANGES] if isinstance(ranges, list) else []
        for path in plan.symbol_files(slug, ()):
            expected.setdefault(path, f"{df} lists symbol {slug}")
        for r in ranges:
            for path in plan.symbol_files(slug, (r,)):
                expected.setdefault(path, f"{df} lists range {r}")
        for e in _exchange_pages(payload):
            for path in plan.symbol_files(slug, (), (e,)):
                expected.setdefault(path, f"{df} lists the exchange page {e}")
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
                errs = schemas.validate(payload, schema)
                problems.extend(f"{rel}: schema: {e}" for e in errs)
                if rel == "snapshots/index.json" and not errs:
                    for entry in payload["snapshots"]:
                        for listed in entry["files"].values():
                            if listed not in names:
                                problems.append(f"{rel}: lists {listed!r}, which is not in the site")
        elif plan.is_doc(rel):
            try:
                doc_payload(content)
            except ValueError as e:
                problems.append(f"{rel}: {e}")
        elif rel.endswith((".html", ".htm")):
            _check_html(content, rel, names, dirs, base_url, problems)
        elif rel.endswith(".css"):
            text = content.decode("utf-8", "replace")
            links = [m.group(2) for m in CSS_URL_RE.finditer(text)]
            links += [m.group(2) for m in CSS_IMPORT_RE.finditer(text)]
            _check_links(rel, links, names, dirs, base_url, problems)
        elif rel.endswith(".xml"):
            _check_xml(content, rel, names, dirs, base_url, problems)
    return problems


def _exchange_pages(payload: object) -> list[str]:
    """The exchanges a symbol's data file says have their own page (``exchange_pages``)."""
    pages = payload.get("exchange_pages") if isinstance(payload, dict) else None
    if not isinstance(pages, list):
        return []
    return [e for e in pages if isinstance(e, str) and re.fullmatch(r"[a-z0-9]{1,30}", e)]


def _schema_for(rel: str) -> str | None:
    if rel == "snapshots/index.json":
        return "snapshot_index"
    if re.fullmatch(r"snapshots/\d{4}-\d{2}-\d{2}T\d{2}/[^/]+\.json", rel):
        return "snapshot"
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
        target = resolve(rel, url, base_url)
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
        if not target_exists(files, dirs, target):
            wanted = target + "index.html" if target.endswith("/") or not target else target
            problems.append(f"{rel}: broken link {url!r} (no file {wanted!r} in the site)")


def _check_html(
    content: bytes, rel: str, files: set[str], dirs: set[str], base_url: str | None,
    problems: list[str],
) -> None:
    text = content.decode("utf-8", "replace")
    parser = PageParser()
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

