"""Structure of the site built from the embedded sample: every page, link and JSON file."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from bs4 import BeautifulSoup

SLUGS = ("btc-usdt", "eth-usdt", "sol-usdt")


def pages(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="module")
def parsed(sample_site: Path) -> dict[Path, BeautifulSoup]:
    """Every HTML page of the sample site, parsed once for the tests that read them all."""
    return {page: soup(page) for page in pages(sample_site)}


def test_expected_pages_exist(sample_site: Path) -> None:
    expected = ["index.html", "404.html", "robots.txt", "sitemap.xml", "methodology/index.html",
                "overview/index.html"]
    for slug in SLUGS:
        expected += [f"{slug}/index.html", f"embed/{slug}/index.html", f"data/{slug}.json"]
    for rel in expected:
        f = sample_site / rel
        assert f.is_file(), f"{rel} missing"
        assert f.stat().st_size > 200, f"{rel} is (nearly) empty"


def test_range_pages_only_where_data_covers_them(sample_site: Path) -> None:
    # The sample has five weeks of 5m and 1h bars: 12h..1w and 1m are covered, 3m is not.
    for slug in SLUGS:
        for rng in ("12h", "24h", "3d", "1w", "1m"):
            assert (sample_site / slug / rng / "index.html").is_file(), f"{slug}/{rng}"
        assert not (sample_site / slug / "3m").exists()


def test_every_internal_link_and_asset_resolves(sample_site: Path, parsed: dict[Path, BeautifulSoup]) -> None:
    missing = []
    for page, doc in parsed.items():
        # served at the base URL's path (/liqmap/), as Pages does: root-relative links count
        base = "http://site.test/liqmap/" + page.relative_to(sample_site).as_posix()
        for tag in doc.find_all(["a", "link", "script", "img", "iframe"]):
            ref = tag.get("href") or tag.get("src")
            if not ref or ref.startswith(("#", "mailto:", "data:", "javascript:")):
                continue
            url = urlparse(urljoin(base, ref))
            if url.netloc != "site.test":
                continue  # absolute links (canonical, og:image) point at the public base URL
            if not url.path.startswith("/liqmap/"):
                missing.append(f"{page.relative_to(sample_site)} -> {ref} (outside the site)")
                continue
            target = sample_site / url.path[len("/liqmap/"):]
            if url.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                missing.append(f"{page.relative_to(sample_site)} -> {ref}")
    assert not missing, "broken links:\n" + "\n".join(missing[:20])


def test_no_external_requests(parsed: dict[Path, BeautifulSoup]) -> None:
    assert parsed
    for page, doc in parsed.items():
        for tag in doc.find_all(["script", "img", "iframe"]):
            src = tag.get("src") or ""
            assert not re.match(r"^(https?:)?//", src), f"{page}: external {tag.name} {src}"
        for tag in doc.find_all("link", rel="stylesheet"):
            assert not re.match(r"^(https?:)?//", tag.get("href", "")), f"{page}: external css"


def test_one_shared_bokehjs_copy(sample_site: Path) -> None:
    copies = list((sample_site / "static").rglob("bokeh*.min.js"))
    main = [p for p in copies if p.name == "bokeh.min.js"]
    assert len(main) == 1, copies
    for slug in SLUGS:
        html = (sample_site / slug / "index.html").read_text(encoding="utf-8")
        page = soup(sample_site / slug / "index.html")
        # Listed for liqmap.js to load on demand, never a render-blocking <script src>.
        lazy = json.loads(page.select_one("script#liqmap-bokeh-src").string)
        assert any(s.endswith("bokeh.min.js") for s in lazy), lazy
        assert not any("bokeh" in (s.get("src") or "") for s in page.find_all("script"))
        assert "Bokeh=" not in html[:5000]  # BokehJS itself is not inlined


def test_every_page_says_when_its_data_ends(sample_site: Path) -> None:
    for slug in SLUGS:
        for rel in (f"{slug}/index.html", f"embed/{slug}/index.html"):
            text = soup(sample_site / rel).get_text(" ")
            assert re.search(r"as of \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", text), rel
            assert "2026-01-29" in text  # the sample ends on 2026-01-29


def test_volume_model_is_labelled(sample_site: Path) -> None:
    btc = soup(sample_site / "btc-usdt" / "index.html").get_text(" ").lower()
    eth = soup(sample_site / "eth-usdt" / "index.html").get_text(" ").lower()
    assert "volume model" in eth
    assert "volume model" not in btc.replace("volume model (", "")  # BTC has open interest


def test_data_json(sample_site: Path) -> None:
    for slug in SLUGS:
        data = json.loads((sample_site / "data" / f"{slug}.json").read_text(encoding="utf-8"))
        assert data["symbol"].lower().startswith(slug.split("-")[0])
        for key in ("generated_at", "stale", "parameters"):
            assert key in data, f"{slug}.json lacks {key}"
        params = data["parameters"]
        assert params["leverages"] and len(params["leverages"]) == len(params["leverage_weights"])


def test_sitemap_and_robots(sample_site: Path) -> None:
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    tree = ET.parse(sample_site / "sitemap.xml")
    locs = [e.text or "" for e in tree.findall(".//s:loc", ns)]
    assert all(loc.startswith("https://example.test/liqmap/") for loc in locs)
    for slug in SLUGS:
        assert f"https://example.test/liqmap/{slug}/" in locs
    assert not any("/embed/" in loc for loc in locs)
    robots = (sample_site / "robots.txt").read_text(encoding="utf-8")
    assert "Sitemap: https://example.test/liqmap/sitemap.xml" in robots


@pytest.mark.parametrize("slug", SLUGS)
def test_symbol_page_has_heatmap_and_map(sample_site: Path, slug: str) -> None:
    html = (sample_site / slug / "index.html").read_text(encoding="utf-8")
    # Bokeh's document JSON (doc.js beside the page) holds an Image glyph (the heatmap) and
    # the map's figures; the page holds their placeholders.
    doc = (sample_site / slug / "doc.js").read_text(encoding="utf-8")
    assert '"type":"object","name":"Image"' in doc and '"name":"liqmap"' in doc
    assert "data-root-id" in html
