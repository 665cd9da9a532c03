"""The script policy of the pages one build writes, applied to pages it did not write.

A page carried over from the previous site (keep-last-good) must run only what a fresh
page of this build runs: every inline script, once Bokeh's random ids are normalised,
is one a fresh page has; scripts load only from the site's own ``static/`` folder; and
the Content-Security-Policy is the fresh pages' policy (apart from the script hashes).
An injected script or a loosened policy in a tampered cache entry stops the carry-over.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from sitegen.plan import DOC_FILE

_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BOKEH_ID_RE = re.compile(r'"p\d+"')
_HASH_RE = re.compile(r"\s*'sha(?:256|384|512)-[A-Za-z0-9+/=]+'")
_URL_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def normalise_script(body: str) -> str:
    """An inline script with Bokeh's per-page ids replaced, so equal code compares equal."""
    return _BOKEH_ID_RE.sub('"p#"', _UUID_RE.sub("#", body)).strip()


def _normalise_csp(csp: str) -> str:
    return " ".join(_HASH_RE.sub("", csp).split())


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inline: list[str] = []
        self.sources: list[str] = []
        self.csp: list[str] = []
        self.bases: list[str] = []
        self.lazy: list[str] = []  # scripts liqmap.js loads on demand (the liqmap-bokeh-src list)
        self._in_script: str | None = None
        self._lazy = False
        self._body: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "script":
            if "src" in a:
                self.sources.append(a["src"])
                self._in_script = "external"
            else:
                kind = a.get("type", "").lower()
                self._in_script = "data" if "json" in kind else "inline"
            self._lazy = a.get("id") == "liqmap-bokeh-src"
            self._body = []
        elif tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.csp.append(a.get("content", ""))
        elif tag == "base":
            self.bases.append(a.get("href", ""))
        for name, value in a.items():
            if name.startswith("on"):
                self.inline.append(f"<{tag} {name}={value}>")  # never in a page liqmap writes

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self._body.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_script:
            if self._in_script == "inline":
                self.inline.append("".join(self._body))
            elif self._lazy:
                try:
                    urls = json.loads("".join(self._body))
                except ValueError:
                    urls = ["(not a JSON list)"]
                urls = urls if isinstance(urls, list) else [repr(urls)]
                self.lazy.extend(u if isinstance(u, str) else repr(u) for u in urls)
            self._in_script = None
            self._lazy = False


def _parse(html: bytes) -> _Scripts:
    parser = _Scripts()
    parser.feed(html.decode("utf-8", "replace"))
    parser.close()
    return parser


@dataclass(frozen=True)
class PagePolicy:
    """What the fresh pages of one build run: normalised inline scripts and CSPs."""

    scripts: frozenset[str] = field(default_factory=frozenset)
    csps: frozenset[str] = field(default_factory=frozenset)


def policy_of(pages: Iterable[bytes]) -> PagePolicy:
    scripts: set[str] = set()
    csps: set[str] = set()
    for html in pages:
        p = _parse(html)
        scripts.update(normalise_script(s) for s in p.inline)
        csps.update(_normalise_csp(c) for c in p.csp)
    return PagePolicy(frozenset(scripts), frozenset(csps))


def page_problems(rel: str, html: bytes, policy: PagePolicy) -> list[str]:
    """Why ``html`` (at site path ``rel``) runs something fresh pages of this build do not."""
    p = _parse(html)
    problems = []
    for script in p.inline:
        if normalise_script(script) not in policy.scripts:
            problems.append(f"{rel}: has a script no page of this build has ({script.strip()[:60]!r}...)")
    for src in p.sources:
        if _URL_SCHEME_RE.match(src) or "static/" not in src:
            problems.append(f"{rel}: loads a script from {src!r}, not from the site's static/ folder")
    for src in p.lazy:
        # BokehJS from static/, or the page's own document file beside it (sitegen/docfile.py)
        own_doc = urlsplit(src).path == DOC_FILE
        if _URL_SCHEME_RE.match(src) or not (own_doc or "static/" in src):
            problems.append(f"{rel}: loads a script from {src!r}, not from static/ or its own {DOC_FILE}")
    for base in p.bases:
        problems.append(f"{rel}: has <base href={base!r}>")
    csps = {_normalise_csp(c) for c in p.csp}
    if len(p.csp) > 1 or not csps <= policy.csps or (policy.csps and not csps):
        problems.append(f"{rel}: its Content-Security-Policy is not the one this build writes")
    return problems
