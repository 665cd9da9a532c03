"""Links in the site's files: which site paths a page, a stylesheet or a feed points to.

Used by ``liqmap check`` (every internal link resolves) and keep-last-good (a kept page
must not link to something the new site lacks).
"""

from __future__ import annotations

import json
import posixpath
import re
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

_LINK_ATTRS = {"href", "src", "poster", "data", "action"}
_IMAGE_METAS = {"og:image", "og:image:url", "og:image:secure_url", "twitter:image"}


class PageParser(HTMLParser):
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
        self.links.extend(m.group(2) for m in CSS_URL_RE.finditer(a.get("style") or ""))

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


CSS_URL_RE = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
CSS_IMPORT_RE = re.compile(r"""@import\s+(['"])([^'"]+)\1""")


def _is_external(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return bool(scheme) or url.startswith("//")


def resolve(page: str, url: str, base_url: str | None) -> str | None:
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


def target_exists(files: set[str], dirs: set[str], target: str) -> bool:
    if target in ("", "/"):
        return "index.html" in files
    if target.endswith("/"):
        return target.rstrip("/") + "/index.html" in files
    if target in files:
        return True
    # GitHub Pages serves "/btc-usdt" as "/btc-usdt/" when the folder has an index
    return target in dirs and target + "/index.html" in files


def internal_links(rel: str, content: bytes, base_url: str | None = None) -> list[str]:
    """Site paths an HTML or CSS file links to (what must exist for it to work)."""
    if rel.endswith((".html", ".htm")):
        parser = PageParser()
        parser.feed(content.decode("utf-8", "replace"))
        links = parser.links
    elif rel.endswith(".css"):
        text = content.decode("utf-8", "replace")
        links = [m.group(2) for m in CSS_URL_RE.finditer(text)]
    else:
        return []
    out = []
    for url in links:
        target = resolve(rel, url, base_url)
        if target is None or target.startswith(("//", "..")):
            continue
        out.append(target + "index.html" if target.endswith("/") or not target else target)
    return out
