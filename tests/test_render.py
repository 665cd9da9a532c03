"""The renderer: structure of every page, CSP, shared BokehJS, data files, feeds, sizes.

Most tests use a small synthetic SiteData (fast, every case controllable); the size test
uses the real sample site built once per session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from bokeh import __version__ as BOKEH_VERSION
from bs4 import BeautifulSoup

from sitegen import plan
from sitegen.docfile import doc_payload, doc_version
from sitegen.model.calibration import CalibrationReport
from sitegen.model.outputs import cumulative, cumulative_curves
from sitegen.model.types import ModelParams, ModelResult
from sitegen.render import render_site
from sitegen.render.levels import fmt_usd, headline, leverage_groups, range_view, round_sig
from sitegen.render.pages import render_data, render_page
from sitegen.render.summary import Level, summarise
from sitegen.report import SiteData, SymbolReport
from sitegen.schemas import validate
from sitegen.series import Candles
from tests.conftest import shared_once

# The pages and files are the point here, not the image bytes (conftest.quick_png).
pytestmark = pytest.mark.usefixtures("quick_png")

BAR = 300_000
T0 = 1_769_600_000_000  # 2026-01-28 11:33 UTC, on a 5-minute boundary below


def synthetic_report(
    symbol: str = "BTC/USDT:USDT", *, bars: int = 300, rows: int = 160, seed: int = 1,
    volume_model: bool = False, notes: tuple[str, ...] = (),
) -> SymbolReport:
    """A ModelResult with bands of positions below and above a random-walk price."""
    rng = np.random.default_rng(seed)
    ts = (T0 // BAR * BAR) + BAR * np.arange(bars, dtype=np.int64)
    close = 50_000 * np.exp(np.cumsum(rng.normal(0, 0.001, bars)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    edges = 40_000 * np.exp(np.log(1.002) * np.arange(rows + 1))
    centers = np.sqrt(edges[:-1] * edges[1:])
    params = ModelParams()
    lev = params.leverages
    by_lev_long = np.zeros((len(lev), bars, rows), np.float32)
    by_lev_short = np.zeros((len(lev), bars, rows), np.float32)
    for li, L in enumerate(lev):
        for t in range(bars):
            lp, sp = close[t] * (1 - 1 / L), close[t] * (1 + 1 / L)
            by_lev_long[li, t:, np.argmin(np.abs(centers - lp))] += 1e5 * (li + 1)
            by_lev_short[li, t:, np.argmin(np.abs(centers - sp))] += 2e5 * (li + 1)
    res = ModelResult(
        timestamp=ts, close=close, price_edges=edges,
        heat_long=by_lev_long.sum(0), heat_short=by_lev_short.sum(0),
        heat_long_by_leverage=by_lev_long, heat_short_by_leverage=by_lev_short,
        predicted_long=np.zeros(bars), predicted_short=np.zeros(bars),
        leverages=lev, params=params, volume_model=volume_model, exchanges=("binanceusdm",),
    )
    candles = Candles("5m", ts, open_, high, low, close, np.ones(bars))
    return SymbolReport(
        symbol=symbol, slug=symbol.split("/")[0].lower() + "-usdt", exchanges=("binanceusdm",),
        results={"5m": res}, per_exchange={"5m": {"binanceusdm": res}}, candles={"5m": candles},
        funding=None, ranges=("12h", "24h"),
        as_of=datetime.fromtimestamp((int(ts[-1]) + BAR) / 1000, UTC), source="sample",
        volume_model=volume_model, notes=notes,
    )


def synthetic_site(**kw: object) -> SiteData:
    reports = (
        synthetic_report(),
        synthetic_report("ETH/USDT:USDT", seed=2, volume_model=True,
                         notes=("okx: <script>alert(1)</script> geo-blocked",)),
    )
    base = dict(
        title="liqmap test", base_url="https://example.test/liqmap/",
        generated_at=datetime(2026, 1, 29, 18, 0, tzinfo=UTC), symbols=reports,
        params=ModelParams(), evaluation=None, version="9.9",
    )
    base.update(kw)
    return SiteData(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, bytes]:
    """The synthetic site, rendered once per run and shared by the xdist workers (read-only)."""
    return shared_once(tmp_path_factory, worker_id, "render-synthetic-site", lambda: render_site(synthetic_site()))


def soup(files: dict[str, bytes], path: str) -> BeautifulSoup:
    return BeautifulSoup(files[path].decode("utf-8"), "html.parser")


PAGES = ["index.html", "btc-usdt/index.html", "btc-usdt/12h/index.html", "btc-usdt/24h/index.html",
         "embed/btc-usdt/index.html", "eth-usdt/index.html", "methodology/index.html", "404.html"]


def test_every_file_of_the_site(files: dict[str, bytes]) -> None:
    for p in [*PAGES, "data/btc-usdt.json", "data/btc-usdt.csv", "og/btc-usdt.png", "sitemap.xml",
              "robots.txt", "feed.xml", "static/css/site.css", "static/js/liqmap.js"]:
        assert files.get(p), p
    bokeh = [p for p in files if p.startswith("static/bokeh/")]
    assert bokeh == [f"static/bokeh/{BOKEH_VERSION}/bokeh.min.js"]  # one shared copy, versioned path
    assert "3d" not in {p.split("/")[1] for p in files if p.startswith("btc-usdt/")}


@pytest.mark.parametrize("path", PAGES)
def test_csp_hashes_cover_exactly_the_inline_scripts(files: dict[str, bytes], path: str) -> None:
    html = files[path].decode("utf-8")
    doc = soup(files, path)
    meta = doc.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert meta is not None
    csp = meta["content"]
    assert "'unsafe-eval'" not in csp and "script-src 'self'" in csp
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", html, re.S)
    want = {
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for attrs, body in inline if "application/json" not in attrs
    }
    got = set(re.findall(r"'sha256-[^']+'", csp))
    assert got == want


@pytest.mark.parametrize("path", PAGES)
def test_no_external_requests(files: dict[str, bytes], path: str) -> None:
    doc = soup(files, path)
    for tag in doc.find_all(["script", "link", "img", "iframe"]):
        url = tag.get("src") or tag.get("href") or ""
        if tag.name == "link" and tag.get("rel") in (["canonical"], ["alternate"]):
            continue  # not fetched by a browser (oEmbed discovery must be an absolute URL)
        assert not re.match(r"^(https?:)?//", url), f"{path}: external {tag.name} {url}"


def test_pages_share_one_bokehjs_by_relative_path(files: dict[str, bytes]) -> None:
    for path, prefix in (("btc-usdt/index.html", "../"), ("btc-usdt/12h/index.html", "../../"),
                         ("embed/btc-usdt/index.html", "../../"), ("embed/btc-usdt/12h/index.html", "../../../")):
        doc = soup(files, path)
        srcs = [s["src"] for s in doc.find_all("script", src=True)]
        # No render-blocking BokehJS: liqmap.js loads the files listed in the page on demand.
        assert srcs == [f"{prefix}static/js/liqmap.js"], f"{path}: {srcs}"
        lazy = json.loads(doc.select_one("script#liqmap-bokeh-src").string)
        assert f"{prefix}static/bokeh/{BOKEH_VERSION}/bokeh.min.js" in lazy
        # BokehJS, then the page's own document file, its URL versioned by its content.
        *bundles, doc_url = lazy
        assert all(f"{u[len(prefix):]}" in files for u in bundles), lazy
        doc_file = files[plan.doc_path(path)]
        assert doc_url == f"doc.js?v={doc_version(doc_file)}"
        docs_json = doc_payload(doc_file)
        items = json.loads(doc.select_one("script#liqmap-bokeh-items").string)
        for item in items:
            assert item["docid"] in docs_json
            roots_in_doc = {r["id"] for r in docs_json[item["docid"]]["roots"]}
            for root_id, element_id in item["roots"].items():
                assert root_id in roots_in_doc
                assert doc.find(id=element_id) is not None, f"{path}: no element for root {element_id}"
        # The HTML carries no document: a chart page stays small whatever the range.
        assert doc.select_one("script#liqmap-bokeh-docs") is None
        assert '"type":"object"' not in files[path].decode()


def test_symbol_page_content(files: dict[str, bytes]) -> None:
    doc = soup(files, "btc-usdt/index.html")
    text = doc.get_text(" ")
    assert re.search(r"as of\s+2026-\d\d-\d\d \d\d:\d\d UTC", text)
    assert doc.find("time")["datetime"].endswith("Z")
    assert doc.find(attrs={"data-stale-badge": True}) is not None
    assert [a.get_text() for a in doc.select("nav.ranges a")] == ["12h", "24h"]
    assert doc.select_one("nav.ranges a[aria-current]").get_text() == "24h"
    levs = [i["value"] for i in doc.select("input[name=lev]")]
    assert levs == ["all", "high", "medium", "low"]
    assert doc.select_one("[data-intensity]") is not None
    assert "would liquidate about" in text
    rows = doc.select(".clusters tbody tr")
    assert rows and {r["class"][0] for r in rows} <= {"long", "short"}
    assert doc.select_one('a[href="../data/btc-usdt.json"]') and doc.select_one('a[href="../data/btc-usdt.csv"]')
    assert "embed/btc-usdt/" in doc.select_one("#embed-code").get_text()
    assert "leverage mix" in text and "binanceusdm" in text
    assert doc.find("link", rel="canonical")["href"] == "https://example.test/liqmap/btc-usdt/"
    assert doc.find("meta", property="og:image")["content"].startswith("https://example.test/liqmap/og/btc-usdt.png?v=")
    assert doc.find("meta", attrs={"name": "twitter:card"})["content"] == "summary_large_image"
    assert "OI model" in text and "volume model" not in text


def test_default_range_page_is_canonical(files: dict[str, bytes]) -> None:
    for path in ("btc-usdt/24h/index.html", "btc-usdt/index.html"):
        assert soup(files, path).find("link", rel="canonical")["href"].endswith("/btc-usdt/")
    assert soup(files, "btc-usdt/12h/index.html").find("link", rel="canonical")["href"].endswith("/btc-usdt/12h/")


def test_volume_model_is_labelled_and_notes_are_escaped(files: dict[str, bytes]) -> None:
    html = files["eth-usdt/index.html"].decode()
    assert "volume model" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html


def test_embed_page_is_chart_only_and_links_back(files: dict[str, bytes]) -> None:
    doc = soup(files, "embed/btc-usdt/index.html")
    assert doc.find("meta", attrs={"name": "robots"})["content"] == "noindex"
    assert doc.select_one("header.top") is None and doc.select_one("footer") is None
    assert doc.select_one(".embed-head a")["href"] == "https://example.test/liqmap/btc-usdt/"
    assert len(doc.select(".bk-root-holder")) == 1


def test_index_lists_every_symbol(files: dict[str, bytes]) -> None:
    doc = soup(files, "index.html")
    rows = doc.select("table.index tbody tr")
    assert [r.select_one("th a")["href"] for r in rows] == ["btc-usdt/index.html", "eth-usdt/index.html"]
    assert all(r.select_one("img")["src"].startswith("og/") for r in rows)
    assert doc.select("table[data-sortable] button[data-sort]")
    assert len(doc.select("[data-stale-badge]")) == 2


def test_methodology_without_and_with_evaluation(files: dict[str, bytes], calibration: CalibrationReport) -> None:
    assert "No calibration report" in soup(files, "methodology/index.html").get_text()
    rep = calibration  # calibration_report(ModelParams()), computed once per run (conftest.py)
    doc = soup({"m": render_page(synthetic_site(evaluation=rep), "methodology/index.html")}, "m")
    text = doc.get_text(" ")
    long_ = rep.evaluation.all.scores.long
    assert f"{long_.model_logcorr:.3f}" in text and f"{long_.levels_logcorr:.3f}" in text
    assert "2078" in text and "second half (check)" in text and "2026-01" in text
    assert "What the dollars mean" in text and "Falling markets" in text


def test_data_json_matches_the_schema(files: dict[str, bytes]) -> None:
    payload = json.loads(files["data/btc-usdt.json"])
    assert validate(payload, "symbol") == []
    assert payload["ranges"] == ["12h", "24h"] and payload["stale"] is False
    lm = payload["liquidation_map"]
    assert len(lm["price_low"]) == len(lm["long_usd"]) == len(lm["cum_short_usd"]) > 0
    csv_lines = files["data/btc-usdt.csv"].decode().splitlines()
    assert csv_lines[0].startswith("price_low,price_high,long_usd,short_usd")
    assert len(csv_lines) == len(lm["price_low"]) + 1


@pytest.mark.slow  # whole-site renders: CI runs it with -m slow
def test_feed_and_sitemap_change_only_with_the_data() -> None:
    a = render_site(synthetic_site())
    b = render_site(synthetic_site(generated_at=datetime(2026, 1, 29, 19, 0, tzinfo=UTC)))
    for p in ("feed.xml", "sitemap.xml", "robots.txt", "data/btc-usdt.csv", "og/btc-usdt.png"):
        assert a[p] == b[p], p
    changed = synthetic_site(symbols=(synthetic_report(bars=301), synthetic_site().symbols[1]))
    c = render_site(changed)
    assert a["feed.xml"] != c["feed.xml"]
    ids_a = re.findall(r"<id>(tag:[^<]+)</id>", a["feed.xml"].decode())
    ids_c = re.findall(r"<id>(tag:[^<]+)</id>", c["feed.xml"].decode())
    assert ids_a[1] == ids_c[1] and ids_a[0] != ids_c[0]  # only BTC's entry changed
    sm = a["sitemap.xml"].decode()
    assert "embed/" not in sm and "<lastmod>2026-" in sm
    assert "Disallow: /liqmap/embed/" in a["robots.txt"].decode()


@pytest.mark.slow  # whole-site renders: CI runs it with -m slow
def test_standalone_pages_are_self_contained() -> None:
    files = render_site(synthetic_site(), standalone=True)
    assert not any(p.startswith("static/bokeh/") for p in files)
    doc = soup(files, "btc-usdt/index.html")
    assert not doc.find_all("script", src=True) and not doc.find_all("link", rel="stylesheet")
    assert "Bokeh" in files["btc-usdt/index.html"].decode()[:3_000_000]
    assert soup(files, "index.html").select_one("table.index img")["src"].startswith("data:image/png")


# -- pure helpers ---------------------------------------------------------------------------

def test_round_sig_keeps_three_significant_digits() -> None:
    out = round_sig(np.array([123456.0, 0.0012345, 0.0, -98765.0, np.nan]))
    np.testing.assert_allclose(out, [123000.0, 0.00123, 0.0, -98800.0, 0.0], rtol=1e-6)
    assert out.dtype == np.float32


def test_leverage_groups_follow_the_parameters() -> None:
    g = leverage_groups((5.0, 10.0, 25.0, 50.0, 100.0))
    assert [(x.key, x.leverages) for x in g] == [("high", (50.0, 100.0)), ("medium", (25.0,)),
                                                   ("low", (5.0, 10.0))]
    assert [x.key for x in leverage_groups((3.0, 20.0))] == ["medium", "low"]
    assert g[0].label == "high (50x, 100x)"


def test_group_cumulative_uses_the_model_convention() -> None:
    rep = synthetic_report()
    res = rep.results["5m"]
    cl, cs = cumulative_curves(res.price_edges, res.map_long, res.map_short, float(res.close[-1]))
    ml, ms = cumulative(res)
    np.testing.assert_allclose(cl, ml, rtol=1e-6)
    np.testing.assert_allclose(cs, ms, rtol=1e-6)


def test_range_view_merges_long_ranges_and_cuts_rows() -> None:
    rep = replace(synthetic_report(bars=300), ranges=("24h",))
    v = range_view(rep, "24h", max_columns=100)
    assert v.long.shape[0] == 96 and v.bar_ms == 3 * BAR  # 288 bars -> 96 columns of 15 min
    assert v.long.shape[1] == v.price_edges.size - 1 < 160
    assert v.view_low < v.last_close < v.view_high
    total = sum(g.sum() for g in v.long_by_group)
    assert total == pytest.approx(v.long.sum(), rel=1e-2)


def test_headline_wording() -> None:
    lv = Level("long", 81_363.2, 1.7e8, -4.37, 4.65e8)
    assert headline(lv, 85_000) == "A fall below $81,363 (-4.4 %) would liquidate about $465M of longs."
    assert headline(None, 85_000) == ""
    # One number style everywhere (the examples): $442M, $3.7B, -$100M.
    cases = {1.234e9: "$1.2B", 940: "$940", 950: "$1.0K", 2.25e6: "$2.3M", 442e6: "$442M", 3.7e9: "$3.7B", 3e9: "$3.0B",
             -100e6: "-$100M", 12_300: "$12K", 999.97e6: "$1.0B", 9.96e6: "$10M", 0: "$0"}
    assert {x: fmt_usd(x) for x in cases} == cases


# -- the real sample site -------------------------------------------------------------------

def test_sample_symbol_pages_stay_small(sample_site: Path) -> None:
    """Largest range page per symbol <= 600 KB (BokehJS is shared, arrays gzip level 9)."""
    for page in sample_site.glob("*/*/index.html"):
        if page.parent.parent.name == "embed":
            continue
        size = page.stat().st_size
        assert size <= 600_000, f"{page.relative_to(sample_site)}: {size / 1000:.0f} KB"


def test_stale_symbol_says_since_when(files: dict[str, bytes]) -> None:
    stale = replace(synthetic_report(), stale=True, stale_since=datetime(2026, 1, 29, 15, 0, tzinfo=UTC))
    site = synthetic_site(symbols=(stale,))
    alone = {"btc-usdt/index.html": render_page(site, "btc-usdt/index.html"), **render_data([summarise(stale)], site)}
    badge = soup(alone, "btc-usdt/index.html").select_one("[data-stale-badge]")
    assert not badge.has_attr("hidden") and "stale since 2026-01-29 15:00 UTC" in badge.get_text()
    assert json.loads(alone["data/btc-usdt.json"])["stale"] is True
    fresh_badge = soup(files, "btc-usdt/index.html").select_one("[data-stale-badge]")  # synthetic_site()
    assert fresh_badge.has_attr("hidden")  # the browser shows it once the data is 2 h old


def test_symbol_without_any_positions_still_renders() -> None:
    """A fresh listing (or a quiet market) can have an all-zero map: say so, do not crash."""
    rep = synthetic_report()
    res = rep.results["5m"]
    empty = replace(
        res,
        heat_long=np.zeros_like(res.heat_long), heat_short=np.zeros_like(res.heat_short),
        heat_long_by_leverage=np.zeros_like(res.heat_long_by_leverage),
        heat_short_by_leverage=np.zeros_like(res.heat_short_by_leverage),
    )
    rep = replace(rep, results={"5m": empty}, per_exchange={"5m": {"binanceusdm": empty}})
    site = synthetic_site(symbols=(rep,))
    files = {"btc-usdt/index.html": render_page(site, "btc-usdt/index.html"), **render_data([summarise(rep)], site)}
    text = soup(files, "btc-usdt/index.html").get_text(" ")
    assert "No clusters" in text and "would liquidate" not in text
    assert json.loads(files["data/btc-usdt.json"])["clusters"] == []


def test_predicted_liquidations_reach_the_json_and_the_page() -> None:
    report = synthetic_report(bars=300)
    res = report.results["5m"]
    pl = np.arange(300, dtype=np.float64) * 1_000.0
    ps = np.arange(300, dtype=np.float64)[::-1] * 500.0
    res = replace(res, predicted_long=pl, predicted_short=ps)
    report = replace(report, results={"5m": res}, per_exchange={"5m": {"binanceusdm": res}})
    site = synthetic_site(symbols=(report,))
    files = {"btc-usdt/index.html": render_page(site, "btc-usdt/index.html"), **render_data([summarise(report)], site)}
    pred = json.loads(files["data/btc-usdt.json"])["predicted_liquidations"]
    assert pred["timestamp_ms"] == [int(t) for t in res.timestamp[-288:]]
    assert pred["long_usd"] == [float(x) for x in pl[-288:]]
    assert pred["short_usd"] == [float(x) for x in ps[-288:]]
    page = files["btc-usdt/index.html"].decode()
    doc = render_page(site, "btc-usdt/doc.js").decode()  # the figures' document, beside the page
    assert '"name":"predicted"' in doc and "Predicted liquidations" in page
    # A range that merges bars sums what the model liquidates in each merged column.
    view = range_view(report, "24h", max_columns=96)
    assert view.predicted_long.size == 96
    assert view.predicted_long.sum() == pytest.approx(pl[-288:].sum())
    assert view.predicted_short[0] == pytest.approx(ps[-288:][:3].sum())


def test_oembed_answer_and_its_discovery_link(files: dict[str, bytes]) -> None:
    answer = json.loads(files["oembed/btc-usdt.json"])
    assert answer["version"] == "1.0" and answer["type"] == "rich"
    assert answer["html"].startswith('<iframe src="https://example.test/liqmap/embed/btc-usdt/"')
    assert 'sandbox="allow-scripts' in answer["html"]
    assert answer["thumbnail_url"] == "https://example.test/liqmap/og/btc-usdt.png"
    assert "og/btc-usdt.png" in files
    link = soup(files, "btc-usdt/index.html").find("link", type="application/json+oembed")
    assert link is not None and link["href"] == "https://example.test/liqmap/oembed/btc-usdt.json"


def test_one_page_renders_alone_like_in_the_whole_site(files: dict[str, bytes]) -> None:
    site = synthetic_site()
    for path in ("btc-usdt/24h/index.html", "btc-usdt/index.html", "embed/btc-usdt/index.html"):
        alone = soup({"p": render_page(site, path)}, "p")
        whole = soup(files, path)
        assert alone.title.get_text() == whole.title.get_text()
        assert alone.select_one("link[rel=canonical]")["href"] == whole.select_one("link[rel=canonical]")["href"]
    index = soup({"i": render_page(site, "index.html")}, "i")
    assert index.title.get_text() == soup(files, "index.html").title.get_text()
    with pytest.raises(KeyError):
        render_page(site, "data/btc-usdt.json")


def test_every_range_has_an_embed_page_and_an_oembed_answer(files: dict[str, bytes]) -> None:
    for rng, embed, oembed in (("24h", "embed/btc-usdt/", "oembed/btc-usdt.json"),
                               ("12h", "embed/btc-usdt/12h/", "oembed/btc-usdt/12h.json")):
        page = soup(files, f"btc-usdt/{rng}/index.html")
        link = page.find("link", type="application/json+oembed")
        assert link["href"] == f"https://example.test/liqmap/{oembed}"
        answer = json.loads(files[oembed])
        snippet = page.select_one("#embed-code").get_text()
        assert answer["html"] == snippet  # the blog gets exactly what the page offers
        assert f'src="https://example.test/liqmap/{embed}"' in snippet
        assert f"{embed}index.html" in files
        chart_only = page.find("a", string="chart only")["href"]
        assert chart_only.endswith(f"{embed}index.html")
        # Each page shows its own static heatmap picture first, and it exists.
        poster = re.search(r"url\('([^']+)'\)", page.select_one(".poster")["style"]).group(1)
        assert f"btc-usdt/{rng}/heatmap.webp" in poster and f"btc-usdt/{rng}/heatmap.webp" in files
        assert files[f"btc-usdt/{rng}/heatmap.webp"][8:12] == b"WEBP"


def test_readme_snippet_is_the_pages(sample_site: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    in_readme = re.search(r"<iframe[^\n]*</iframe>", readme).group(0)
    import tomllib

    root = Path(__file__).resolve().parents[1]
    published = tomllib.loads((root / "liqmap.toml").read_text(encoding="utf-8"))["site"]["base_url"]
    page = BeautifulSoup((sample_site / "btc-usdt" / "index.html").read_bytes(), "html.parser")
    built = json.loads((sample_site / "oembed" / "btc-usdt.json").read_bytes())["provider_url"]
    # The test build uses its own base URL; the README shows the published site's.
    assert page.select_one("#embed-code").get_text().replace(built, published) == in_readme


def test_default_window_shows_the_nearest_cluster_each_side(files: dict[str, bytes]) -> None:
    from sitegen.render.summary import summarise

    s = summarise(synthetic_report())
    include = tuple(lv.price for lv in (s.nearest_long, s.nearest_short) if lv is not None)
    view = range_view(s.report, "24h", include=include)
    for p in include:
        assert view.view_low < p < view.view_high


def test_methodology_uses_the_symbol_pages_parameter_names(files: dict[str, bytes]) -> None:
    meth = soup(files, "methodology/index.html").get_text(" ")
    sym = soup(files, "btc-usdt/index.html")
    for dt in sym.select(".params dt"):
        name = dt.get_text()
        if name in ("position source", "model bar", "exchanges", "data source"):
            continue  # per symbol, not model parameters
        assert name in meth, f"methodology lacks {name!r}"
    assert "bin pct" not in meth and "position notional usd" not in meth
