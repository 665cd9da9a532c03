"""sitemap.xml, robots.txt and the Atom feed.

All three are byte-stable for the same data: dates come from each symbol's data time
(``as_of``) and entry ids from a hash of its data, never from the build clock, so a feed
reader sees a new entry only when the numbers change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

from sitegen.render.summary import Summary
from sitegen.report import SiteData
from sitegen.times import iso


def _lastmod(summaries: list[Summary], fallback: datetime) -> datetime:
    return max((s.report.as_of for s in summaries), default=fallback)


def sitemap_xml(site: SiteData, summaries: list[Summary], paths: list[str]) -> bytes:
    """Canonical pages only (no embeds, no 404), each with the time of its data."""
    by_slug = {s.report.slug: s for s in summaries}
    newest = _lastmod(summaries, site.generated_at)
    urls: list[tuple[str, datetime]] = []
    for path in sorted(paths):
        if not path.endswith("index.html") or path.startswith("embed/"):
            continue
        slug = path.split("/")[0]
        when = by_slug[slug].report.as_of if slug in by_slug else newest
        urls.append((site.base_url + path[: -len("index.html")], when))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    for kept in site.kept:  # pages carried over from the last good build
        urls.append((f"{site.base_url}{kept.slug}/", kept.as_of))
    for loc, when in urls:
        lines.append(f"  <url><loc>{escape(loc)}</loc><lastmod>{iso(when)}</lastmod></url>")
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def robots_value(text: str) -> str:
    """``text`` made safe for one robots.txt line: percent-encoded, no line break can survive.

    The config accepts only clean base URLs; this is the second lock, so that no value can
    ever add a ``Disallow: /`` line of its own.
    """
    return quote(text, safe="/:%@!$&'()*+,;=-._~")


def robots_txt(site: SiteData) -> bytes:
    base_path = robots_value(urlsplit(site.base_url).path or "/")
    return (
        "# liqmap: estimated crypto liquidation levels, rebuilt from public market data.\n"
        "# Everything here may be crawled except the chart-only embed pages (iframe targets);\n"
        "# the numbers are free to reuse from data/<symbol>.json and .csv.\n"
        "User-agent: *\n"
        f"Disallow: {base_path}embed/\n"
        f"Sitemap: {robots_value(site.base_url)}sitemap.xml\n"
    ).encode()


def _tag_authority(site: SiteData) -> str:
    return urlsplit(site.base_url).hostname or "liqmap"


def feed_xml(site: SiteData, summaries: list[Summary]) -> bytes:
    """Atom (RFC 4287): one entry per symbol; its id changes only when its data does."""
    host = _tag_authority(site)
    updated = _lastmod(summaries, site.generated_at)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"  <title>{escape(site.title)}</title>",
        f"  <id>{escape(site.base_url)}</id>",
        f'  <link rel="alternate" type="text/html" href="{escape(site.base_url)}"/>',
        f'  <link rel="self" type="application/atom+xml" href="{escape(site.base_url)}feed.xml"/>',
        # the hourly snapshot history (liquidation map and clusters of every build)
        f'  <link rel="related" type="application/json" href="{escape(site.base_url)}snapshots/index.json"/>',
        f"  <updated>{iso(updated)}</updated>",
        "  <author><name>liqmap</name></author>",
    ]
    for s in summaries:
        r = s.report
        day = r.as_of.astimezone(UTC).strftime("%Y-%m-%d")
        url = f"{site.base_url}{r.slug}/"
        title = f"{s.pair} liquidation levels as of {r.as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        out += [
            "  <entry>",
            f"    <title>{escape(title)}</title>",
            f"    <id>tag:{escape(host)},{day}:{escape(r.slug)}/{s.data_hash}</id>",
            f'    <link rel="alternate" type="text/html" href="{escape(url)}"/>',
            f"    <updated>{iso(r.as_of)}</updated>",
            f"    <summary>{escape(s.describe())}</summary>",
            "  </entry>",
        ]
    out.append("</feed>")
    return ("\n".join(out) + "\n").encode("utf-8")
