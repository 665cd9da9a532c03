"""A small, complete, valid site as ``{path: bytes}``, independent of the renderer.

Used by the writer/check/keep-last-good tests to break one thing at a time.
"""

from __future__ import annotations

import json

from sitegen import plan
from sitegen.docfile import doc_script
from sitegen.schemas import published

BASE = "https://example.test/liqmap/"


def page(title: str, body: str, depth: int) -> bytes:
    up = "../" * depth
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><link rel='stylesheet' href='{up}static/site.css'></head>"
        f"<body><nav><a href='{up}'>home</a> <a href='{up}methodology/'>method</a></nav>"
        f"{body}</body></html>"
    ).encode()


def symbol_json(symbol: str, slug: str, ranges: list[str], *, stale: bool = False) -> dict:
    return {
        "generated_at": "2026-01-29T18:00:00Z",
        "as_of": "2026-01-29T17:55:00Z",
        "symbol": symbol,
        "slug": slug,
        "stale": stale,
        "stale_since": None,
        "exchanges": ["binanceusdm"],
        "ranges": ranges,
        "parameters": {"leverages": [5, 10]},
        "last_price": 100.0,
        "clusters": [{"side": "long", "price": 95.0, "usd": 1e6, "distance_pct": -5.0}],
        "liquidation_map": {
            "price_low": [94.9, 104.9], "price_high": [95.1, 105.1],
            "long_usd": [1e6, 0.0], "short_usd": [0.0, 2e6],
        },
    }


def make_site(slugs: dict[str, str] | None = None, ranges: tuple[str, ...] = ("12h", "24h")) -> dict[str, bytes]:
    slugs = slugs or {"BTC/USDT:USDT": "btc-usdt", "ETH/USDT:USDT": "eth-usdt"}
    files: dict[str, bytes] = {}
    links = "".join(f"<a href='{s}/'>{sym}</a>" for sym, s in slugs.items())
    files["index.html"] = page("liqmap", f"<main>{links}</main>", 0)
    files["methodology/index.html"] = page("method", "<p>model</p>", 1)
    up_links = "".join(f"<a href='../{s}/'>{sym}</a>" for sym, s in slugs.items())
    files["overview/index.html"] = page("overview", f"<main>{up_links}</main>", 1)
    files["404.html"] = page("not found", "<p>not found</p>", 0)
    files["static/site.css"] = b"body{background:url('img/bg.svg')}"
    files.update(published())
    files["static/img/bg.svg"] = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    urls = "".join(f"<url><loc>{BASE}{s}/</loc></url>" for s in slugs.values())
    files["sitemap.xml"] = (
        "<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        f"<url><loc>{BASE}</loc></url>{urls}</urlset>"
    ).encode()
    files["robots.txt"] = f"User-agent: *\nAllow: /\nSitemap: {BASE}sitemap.xml\n".encode()
    files["feed.xml"] = (
        "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>t</title>"
        f"<link href='{BASE}'/><id>{BASE}</id></feed>"
    ).encode()
    for sym, slug in slugs.items():
        rl = "".join(f"<a href='{r}/'>{r}</a>" for r in ranges)
        files[f"{slug}/index.html"] = page(sym, f"<h1>{sym}</h1>{rl}<img src='../og/{slug}.png'>", 1)
        for r in ranges:
            files[f"{slug}/{r}/index.html"] = page(f"{sym} {r}", f"<h1>{sym} {r}</h1><a href='../'>up</a>", 2)
            files[f"{slug}/{r}/heatmap.webp"] = b"RIFF\x00\x00\x00\x00WEBPfake"
            files[f"embed/{slug}/{r}/index.html"] = page(f"{sym} {r}", "<div id='chart'></div>", 3)
            files[f"oembed/{slug}/{r}.json"] = json.dumps({"version": "1.0", "type": "rich",
                                                           "html": "<iframe></iframe>", "width": 800,
                                                           "height": 480}).encode()
        files[f"embed/{slug}/index.html"] = page(sym, "<div id='chart'></div>", 2)
        for chart_page in [f"{slug}/index.html", f"embed/{slug}/index.html",
                           *(f"{d}{slug}/{r}/index.html" for r in ranges for d in ("", "embed/"))]:
            files[plan.doc_path(chart_page)] = doc_script('{"doc": {"roots": []}}')
        files[f"data/{slug}.json"] = json.dumps(symbol_json(sym, slug, list(ranges))).encode()
        files[f"data/{slug}.csv"] = b"price,long_usd,short_usd\n95,1000000,0\n"
        files[f"og/{slug}.png"] = b"\x89PNG\r\n\x1a\nfake"
        files[f"og/{slug}-thumb.png"] = b"\x89PNG\r\n\x1a\nthumb"
        files[f"oembed/{slug}.json"] = json.dumps({"version": "1.0", "type": "rich", "html": "<iframe></iframe>",
                                                  "width": 800, "height": 480}).encode()
    return files
