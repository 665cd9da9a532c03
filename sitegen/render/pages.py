"""Every page of the site: Bokeh documents rendered through our Jinja templates.

``render_site(site)`` gathers the whole tree in memory as {relative posix path: bytes};
the build writes it atomically. Each page carries a Content-Security-Policy whose script
hashes are computed here, after rendering, from the exact inline scripts of that page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bokeh.models import Model
from bokeh.settings import settings

from sitegen.config import RANGES
from sitegen.render import assets
from sitegen.render.bokehpage import bokeh_page
from sitegen.render.figures import (
    AXIS_TEXT,
    CANDLE_DOWN,
    CANDLE_UP,
    LONG_COLOUR,
    SHORT_COLOUR,
    Mark,
    heatmap_figure,
    map_figure,
    predicted_figure,
)
from sitegen.render.levels import (
    RangeView,
    colour_high,
    default_range,
    fmt_price,
    fmt_usd,
    range_view,
)
from sitegen.render.poster import poster_webp
from sitegen.render.summary import (
    BAND_PCT,
    Summary,
    iso,
    side_cumulative,
    summarise,
    symbol_csv,
    symbol_json,
)
from sitegen.report import SiteData, SymbolReport

log = logging.getLogger(__name__)

CSP_PLACEHOLDER = "__LIQMAP_CSP__"
STALE_AFTER_HOURS = 2.0
COMPRESSION_LEVEL = 9
RANGE_TITLES = {"12h": "12 hours", "24h": "24 hours", "3d": "3 days", "1w": "1 week",
                "1m": "1 month", "3m": "3 months"}
_INLINE_SCRIPT_RE = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", re.S | re.I)


def csp_for(html: str) -> str:
    """The policy for ``html``: own files only, plus the sha256 of each inline script."""
    hashes = []
    for attrs, body in _INLINE_SCRIPT_RE.findall(html):
        if "application/json" in attrs:
            continue  # data blocks are never executed
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    script_src = " ".join(["'self'", *dict.fromkeys(hashes)])
    return (
        "default-src 'self'; "
        f"script-src {script_src}; "
        # Bokeh sets inline styles on its elements and in its shadow roots.
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'none'"
    )


def with_csp(html: str) -> str:
    if CSP_PLACEHOLDER not in html:
        raise AssertionError("page template lacks the CSP meta tag")
    return html.replace(CSP_PLACEHOLDER, csp_for(html), 1)


@contextmanager
def _compression(level: int) -> Iterator[None]:
    """Bokeh's gzip level for arrays; 9 for offline builds (default 2)."""
    settings.compression_level.set_value(level)
    try:
        yield
    finally:
        settings.compression_level.unset_value()


@dataclass
class _Ctx:
    site: SiteData
    standalone: bool
    bokeh_files: set[str]
    posters: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def common(self, rel: str, path: str) -> dict[str, Any]:
        """Variables every template sees; ``rel`` leads from the page back to the site root."""
        static = assets.static_files()
        url = self.site.base_url + (path[: -len("index.html")] if path.endswith("index.html") else path)
        return {
            "site": self.site,
            "rel": rel,
            "path": path,
            "canonical": url,
            "standalone": self.standalone,
            "inline_css": static["css/site.css"].decode("utf-8") if self.standalone else "",
            "inline_js": static["js/liqmap.js"].decode("utf-8") if self.standalone else "",
            "csp": CSP_PLACEHOLDER,
            "generated_iso": iso(self.site.generated_at),
            "generated_text": _utc_text(self.site.generated_at),
            "stale_after_hours": STALE_AFTER_HOURS,
            "symbols": [(r.slug, r.symbol.split("/")[0]) for r in (*self.site.symbols, *self.site.kept)],
            "fmt_usd": fmt_usd,
            "fmt_price": fmt_price,
            "long_colour": LONG_COLOUR,
            "short_colour": SHORT_COLOUR,
        }


def _utc_text(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _bokeh_page(
    ctx: _Ctx, template: str, models: list[Model], title: str, variables: dict[str, Any]
) -> bytes:
    html = bokeh_page(models, assets.jinja_env().get_template(template), title, variables,
                      standalone=ctx.standalone, bokeh_files=ctx.bokeh_files)
    return with_csp(html).encode("utf-8")


def _plain_page(ctx: _Ctx, template: str, variables: dict[str, Any]) -> bytes:
    html = assets.jinja_env().get_template(template).render(
        **variables, bokeh_js="", roots=None
    )
    return with_csp(html).encode("utf-8")


def _column_text(bar_ms: int) -> str:
    minutes = bar_ms // 60_000
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h"


# Reader-facing names of the model parameters, shared by the symbol and methodology pages.
# A parameter missing here still shows, under its own key with spaces.
PARAM_NAMES: dict[str, str] = {
    "side_attribution": "side attribution",
    "entry_points": "entry prices per bar",
    "decay_half_life_hours": "decay half-life",
    "bin_pct": "price row height",
    "grid_span_pct": "price grid span",
    "position_notional_usd": "typical position (for the margin tier)",
    "volume_ma_bars": "volume model average",
    "volume_oi_ratio": "volume model: new notional per unit of excess taker volume",
    "volume_decay_half_life_hours": "volume model decay half-life",
}


def _param_value(key: str, value: object) -> str:
    if key.endswith("_hours") and isinstance(value, int | float):
        return "none" if value == 0 else f"{value:g} h"
    if key.endswith("_pct") and isinstance(value, int | float):
        return f"{value:g} %"
    if key.endswith("_usd") and isinstance(value, int | float):
        return fmt_usd(float(value))
    if key.endswith("_bars") and isinstance(value, int | float):
        return f"{value:g} bars"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parameter_rows(params: Any) -> list[tuple[str, str]]:
    """(friendly name, value) for every model parameter, the leverage mix first."""
    d = params.as_dict()
    rows = []
    if "leverages" in d and "leverage_weights" in d:
        rows.append(("leverage mix", ", ".join(
            f"{lev:g}x {w:.0%}" for lev, w in zip(d["leverages"], d["leverage_weights"], strict=True))))
    for k, v in d.items():
        if k in ("leverages", "leverage_weights"):
            continue
        rows.append((PARAM_NAMES.get(k, k.replace("_", " ")), _param_value(k, v)))
    return rows


def _parameters(report: SymbolReport, s: Summary, tf: str) -> list[tuple[str, str]]:
    p = report.results[tf].params
    shown = {"leverage mix", *(PARAM_NAMES[k] for k in ("side_attribution", "entry_points",
                                                          "decay_half_life_hours", "bin_pct",
                                                          "position_notional_usd"))}
    rows = [r for r in parameter_rows(p) if r[0] in shown]
    rows += [
        ("position source", "volume model (no open-interest history)" if report.volume_model
         else "open-interest changes"),
        ("model bar", tf),
        ("exchanges", ", ".join(report.exchanges)),
        ("data source", report.source),
    ]
    if report.volume_model:
        rows.append(("volume model", f"{p.volume_oi_ratio:g} new notional per unit of excess taker "
                                     f"volume, {p.volume_ma_bars}-bar average"))
    return rows


EMBED_HEIGHT = 480  # px, the iframe of the embed snippet and of the oEmbed answer


# -- the files each range adds (the site plan should name these; listed here in one place) --

def embed_path(slug: str, rng: str, default: str) -> str:
    """The chart-only page of one range; the default range keeps the short URL."""
    return f"embed/{slug}/index.html" if rng == default else f"embed/{slug}/{rng}/index.html"


def oembed_path(slug: str, rng: str, default: str) -> str:
    return f"oembed/{slug}.json" if rng == default else f"oembed/{slug}/{rng}.json"


def poster_path(slug: str, rng: str) -> str:
    """The static heatmap picture shown before the interactive chart loads."""
    return f"{slug}/{rng}/heatmap.webp"


def _embed_snippet(site: SiteData, report: SymbolReport, rng: str | None = None) -> str:
    """The iframe a blogger pastes (the README shows the default range's, word for word)."""
    default = default_range(report)
    rng = rng or default
    base = report.symbol.split("/")[0]
    url = site.base_url + embed_path(report.slug, rng, default)[: -len("index.html")]
    what = "" if rng == default else f", {RANGE_TITLES[rng]}"
    return (
        f'<iframe src="{url}" title="{base} liquidation heatmap{what} '
        f'(liqmap)" loading="lazy" width="100%" height="{EMBED_HEIGHT}" style="border:0" '
        f'sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox"></iframe>'
    )


def _cumulatives(view: RangeView) -> tuple[dict[str, Any], dict[str, Any]]:
    edges = view.price_edges
    last = view.last_close
    cl, cs = side_cumulative(edges, view.long[-1].astype(float), view.short[-1].astype(float), last)
    cum_long: dict[str, Any] = {"all": cl}
    cum_short: dict[str, Any] = {"all": cs}
    for g, lg, sg in zip(view.groups, view.long_by_group, view.short_by_group, strict=True):
        gl, gs = side_cumulative(edges, lg[-1].astype(float), sg[-1].astype(float), last)
        cum_long[g.key] = gl
        cum_short[g.key] = gs
    return cum_long, cum_short


def _symbol_vars(ctx: _Ctx, s: Summary, rng: str, rel: str, path: str, canonical_path: str) -> dict[str, Any]:
    report = s.report
    v = ctx.common(rel, path)
    v["canonical"] = ctx.site.base_url + canonical_path
    v.update(
        report=report,
        s=s,
        rng=rng,
        range_title=RANGE_TITLES[rng],
        ranges=[(r, RANGE_TITLES[r], r == rng) for r in report.ranges],
        default_range=default_range(report),
        as_of_iso=iso(report.as_of),
        as_of_text=_utc_text(report.as_of),
        stale_since_text=_utc_text(report.stale_since) if report.stale_since else "",
        parameters=_parameters(report, s, RANGES[rng][0]),
        band_pct=BAND_PCT,
        # Versioned: social sites cache previews hard; a new hash means a new picture.
        og_image=f"{ctx.site.base_url}og/{report.slug}.png?v={s.data_hash}",
        description=s.describe(),
        embed_snippet=_embed_snippet(ctx.site, report, rng),
        embed_href=rel + embed_path(report.slug, rng, default_range(report)),
        oembed_url=ctx.site.base_url + oembed_path(report.slug, rng, default_range(report)),
        poster_src=_poster_url(ctx, s, rng, rel),
        sample_date=report.as_of.strftime("%Y-%m-%d") if report.source == "sample" else "",
        candle_up=CANDLE_UP,
        candle_down=CANDLE_DOWN,
        axis_text=AXIS_TEXT,
    )
    return v


def _group_highs(view: RangeView) -> dict[str, float]:
    """Colour-scale top per leverage group, so a filtered view uses the whole palette."""
    return {g.key: colour_high(view, i) for i, g in enumerate(view.groups)}


def _poster_url(ctx: _Ctx, s: Summary, rng: str, rel: str) -> str:
    if ctx.standalone:
        return "data:image/webp;base64," + base64.b64encode(ctx.posters[(s.report.slug, rng)]).decode()
    return rel + poster_path(s.report.slug, rng)


def _marks(s: Summary, top: int = 6) -> tuple[Mark, ...]:
    """The headline levels (nearest large cluster each side) and the largest clusters."""
    heads = [lv for lv in (s.nearest_long, s.nearest_short) if lv is not None]
    out = [Mark(lv.side, lv.price, lv.usd, lv.distance_pct, True) for lv in heads]
    seen = {(lv.side, lv.price) for lv in heads}
    for lv in s.levels[:top]:
        if (lv.side, lv.price) not in seen:
            out.append(Mark(lv.side, lv.price, lv.usd, lv.distance_pct, False))
            seen.add((lv.side, lv.price))
    return tuple(out)


def _marks_json(marks: tuple[Mark, ...], last: float) -> str:
    """The key levels for liqmap.js's off-screen labels (same text as the chart's labels)."""
    return json.dumps([{"side": m.side, "price": m.price, "text": m.short_text(last)} for m in marks])


def _symbol_pages(ctx: _Ctx, s: Summary) -> dict[str, bytes]:
    report = s.report
    out: dict[str, bytes] = {}
    default = default_range(report)
    marks = _marks(s)
    # The default window shows the nearest large cluster on each side.
    include = tuple(lv.price for lv in (s.nearest_long, s.nearest_short) if lv is not None)
    for rng in report.ranges:
        view = range_view(report, rng, include=include)
        poster = poster_webp(view)
        ctx.posters[(report.slug, rng)] = poster
        if not ctx.standalone:
            out[poster_path(report.slug, rng)] = poster
        cum_long, cum_short = _cumulatives(view)
        row_pct = report.results[RANGES[rng][0]].params.bin_pct
        pages = [(f"{report.slug}/{rng}/index.html", "../../")]
        if rng == default:
            pages.append((f"{report.slug}/index.html", "../"))
        for path, rel in pages:
            # Fresh Bokeh models per page: a model belongs to one document.
            heat = heatmap_figure(view, colorbar_title=f"estimated liquidations per {row_pct:g} % price row",
                                  marks=marks)
            liq = map_figure(view, cum_long, cum_short)
            pred = predicted_figure(view, heat.figure.x_range)
            canonical = f"{report.slug}/" if rng == default else f"{report.slug}/{rng}/"
            v = _symbol_vars(ctx, s, rng, rel, path, canonical)
            v.update(
                groups=view.groups,
                colour_high=heat.high,
                group_highs=_group_highs(view),
                view=view,
                column_text=_column_text(view.bar_ms),
                row_pct=row_pct,
                marks_json=_marks_json(marks, view.last_close),
            )
            title = f"{s.pair} liquidation heatmap, {RANGE_TITLES[rng]} · liqmap"
            out[path] = _bokeh_page(ctx, "symbol.html", [heat.figure, liq, pred], title, v)
        # Embed: chart only, one per range.
        heat = heatmap_figure(view, embed=True, height=420, marks=marks)
        path = embed_path(report.slug, rng, default)
        erel = "../" * path.count("/")
        v = _symbol_vars(ctx, s, rng, erel, path, f"{report.slug}/" if rng == default else f"{report.slug}/{rng}/")
        v.update(groups=view.groups, colour_high=heat.high, group_highs=_group_highs(view), view=view,
                 marks_json=_marks_json(marks, view.last_close))
        out[path] = _bokeh_page(ctx, "embed.html", [heat.figure],
                                f"{s.pair} liquidation heatmap, {RANGE_TITLES[rng]} · liqmap", v)
    return out


def render_pages(site: SiteData, summaries: list[Summary], *, standalone: bool) -> tuple[dict[str, bytes], set[str]]:
    """All HTML pages; returns the pages and the BokehJS bundles they reference."""
    ctx = _Ctx(site, standalone, set())
    out: dict[str, bytes] = {}
    with _compression(COMPRESSION_LEVEL):
        for s in summaries:
            out.update(_symbol_pages(ctx, s))
    index_vars = ctx.common("", "index.html")
    index_vars.update(summaries=summaries, description=_site_description(site, summaries),
                      og_image=f"{site.base_url}og/{summaries[0].report.slug}.png" if summaries else "",
                      thumbs=_thumb_urls(summaries, standalone))
    out["index.html"] = _plain_page(ctx, "index.html", index_vars)
    meth = ctx.common("../", "methodology/index.html")
    meth.update(evaluation=_evaluation_rows(site.evaluation), params=site.params,
                param_rows=parameter_rows(site.params),
                evaluation_extra=_evaluation_extra(site.evaluation),
                evaluation_raw=site.evaluation, summaries=summaries,
                description="How liqmap estimates liquidation levels, every parameter, and how well "
                            "the model matched real liquidations.", og_image="")
    out["methodology/index.html"] = _plain_page(ctx, "methodology.html", meth)
    nf = ctx.common("", "404.html")
    # GitHub Pages serves 404.html for any missing path: a <base> makes its relative links
    # resolve against the site root whatever the depth of the missing URL.
    nf["base_href"] = site.base_url
    nf.update(description="Page not found.", og_image="")
    out["404.html"] = _plain_page(ctx, "404.html", nf)
    return out, ctx.bokeh_files


def _thumb_urls(summaries: list[Summary], standalone: bool) -> dict[str, str]:
    from sitegen.site.og import thumbnail_png

    out = {}
    for s in summaries:
        if standalone:
            png = thumbnail_png(s)
            out[s.report.slug] = "data:image/png;base64," + base64.b64encode(png).decode()
        else:
            out[s.report.slug] = f"og/{s.report.slug}-thumb.png"
    return out


def _site_description(site: SiteData, summaries: list[Summary]) -> str:
    names = ", ".join(s.base for s in summaries)
    return (
        f"Free, open liquidation heatmaps for {names} perpetual futures: where leveraged "
        "longs and shorts would be liquidated, with the method, parameters and data published."
    )


def _evaluation_rows(ev: dict[str, object] | None) -> list[dict[str, Any]]:
    """Rows of the accuracy table from the calibration report, or [] when there is none."""
    if not ev:
        return []
    rows = []
    for side in ("long", "short"):
        part = ev.get(side)
        if not isinstance(part, dict):
            continue
        rows.append({
            "side": side,
            "model_logcorr": part.get("model_logcorr"),
            "baseline_logcorr": part.get("baseline_logcorr"),
            "model_top10": part.get("model_top10"),
            "baseline_top10": part.get("baseline_top10"),
        })
        rows[-1]["verdict"] = _verdict(rows[-1])
    return rows


def _evaluation_extra(ev: dict[str, object] | None) -> list[tuple[str, str]]:
    """The calibration report's other facts as (label, text); epoch-ms times become UTC dates."""
    out = []
    for k, v in (ev or {}).items():
        if k in ("long", "short") or isinstance(v, dict | list):
            continue
        if k in ("start", "end", "start_ms", "end_ms") and isinstance(v, int | float) and v > 1e11:
            v = _utc_text(datetime.fromtimestamp(v / 1000, UTC))
        out.append((k.replace("_", " "), str(v)))
    return out


def _verdict(row: dict[str, Any]) -> str:
    pairs = [("model_logcorr", "baseline_logcorr"), ("model_top10", "baseline_top10")]
    wins = [row.get(m) > row.get(b) for m, b in pairs  # type: ignore[operator]
            if isinstance(row.get(m), int | float) and isinstance(row.get(b), int | float)]
    if not wins:
        return "–"
    if all(wins):
        return "beats the baseline on both scores"
    if any(wins):
        return "beats the baseline on one score of two"
    return "does not beat the baseline"


def render_data(summaries: list[Summary], site: SiteData) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for s in summaries:
        out[f"data/{s.report.slug}.json"] = symbol_json(site, s)
        out[f"data/{s.report.slug}.csv"] = symbol_csv(s)
        default = default_range(s.report)
        for rng in s.report.ranges:
            out[oembed_path(s.report.slug, rng, default)] = oembed_json(site, s.report, rng)
    return out


def oembed_json(site: SiteData, report: SymbolReport, rng: str | None = None) -> bytes:
    """oEmbed 1.0 "rich" answer, found through each symbol and range page's discovery link.

    Blog engines that honour discovery (WordPress) turn a pasted page URL into the iframe.
    """
    base = report.symbol.split("/")[0]
    what = "" if rng in (None, default_range(report)) else f", {RANGE_TITLES[rng]}"
    payload = {
        "version": "1.0",
        "type": "rich",
        "provider_name": "liqmap",
        "provider_url": site.base_url,
        "title": f"{base} liquidation heatmap{what} (liqmap)",
        "html": _embed_snippet(site, report, rng),
        "width": 800,
        "height": EMBED_HEIGHT,
        "thumbnail_url": f"{site.base_url}og/{report.slug}.png",
        "thumbnail_width": 1200,
        "thumbnail_height": 630,
        "cache_age": 3600,
    }
    return json.dumps(payload, indent=1).encode("utf-8")


def render_static(bokeh_files: set[str], standalone: bool) -> dict[str, bytes]:
    out = {f"static/{rel}": data for rel, data in assets.static_files().items()}
    if not standalone:
        for name in sorted(bokeh_files):
            out[f"{assets.BOKEH_STATIC_DIR}/{name}"] = assets.bokeh_js_file(name)
    return out


def render_site(site: SiteData, *, standalone: bool = False) -> dict[str, bytes]:
    """Every file of the site as {relative posix path: bytes}. No file I/O besides reading
    the packaged templates and static files.

    ``standalone=True`` inlines BokehJS, the CSS and the page script into every page, so each
    HTML file works on its own (e.g. opened from disk).
    """
    from sitegen.site.feeds import feed_xml, robots_txt, sitemap_xml
    from sitegen.site.og import og_png, thumbnail_png

    summaries = [summarise(r) for r in site.symbols]
    files: dict[str, bytes] = {}
    pages, bokeh_files = render_pages(site, summaries, standalone=standalone)
    files.update(pages)
    files.update(render_data(summaries, site))
    for s in summaries:
        files[f"og/{s.report.slug}.png"] = og_png(s, site)
        files[f"og/{s.report.slug}-thumb.png"] = thumbnail_png(s)
    files.update(render_static(bokeh_files, standalone))
    files["sitemap.xml"] = sitemap_xml(site, summaries, list(files))
    files["robots.txt"] = robots_txt(site)
    files["feed.xml"] = feed_xml(site, summaries)
    log.info("rendered %d files (%d pages)", len(files), sum(p.endswith(".html") for p in files))
    return files
