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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape as html_escape
from typing import Any, cast
from urllib.parse import urlsplit

from bokeh.models import Model, Range1d
from bokeh.settings import settings

from sitegen import plan, schemas
from sitegen.accuracy import FLOOR_BARS
from sitegen.config import RANGES, ModelSettings, declared
from sitegen.model.calibration import CalibrationReport
from sitegen.model.outputs import cumulative_curves
from sitegen.model.types import ModelParams
from sitegen.plan import FileSet
from sitegen.render import assets
from sitegen.render.bokehpage import BokehDoc, bokeh_doc, doc_page
from sitegen.render.exchange_view import exchange_name, exchange_nav, exchange_report, page_exchanges
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
from sitegen.render.overview import overview_vars
from sitegen.render.poster import poster_webp
from sitegen.render.realised import add_markers, add_to_panel
from sitegen.render.realised_data import page_context
from sitegen.render.summary import (
    BAND_PCT,
    Summary,
    summarise,
    symbol_csv,
    symbol_json,
)
from sitegen.report import SiteData, SymbolReport
from sitegen.times import iso, utc_text

log = logging.getLogger(__name__)

CSP_PLACEHOLDER = "__LIQMAP_CSP__"
COMPRESSION_LEVEL = 9
NAV_SYMBOLS = 5  # symbols named in every page's menu; the index lists them all
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
    docs: dict[str, bytes] = field(default_factory=dict)  # path -> document file of a chart page

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
            "generated_text": utc_text(self.site.generated_at),
            "stale_after_hours": self.site.stale_after_hours,
            "symbols": list(self.site.nav) if self.site.nav is not None
            else [(r.slug, r.symbol.split("/")[0]) for r in self.site.symbols]
            + [(k.slug, k.symbol.split("/")[0]) for k in self.site.kept],
            "nav_symbols": NAV_SYMBOLS,
            "fmt_usd": fmt_usd,
            "fmt_price": fmt_price,
            "path_of": plan.path,  # templates take their links from the site plan
            "long_colour": LONG_COLOUR,
            "short_colour": SHORT_COLOUR,
        }


def _doc(ctx: _Ctx, models: list[Model]) -> BokehDoc:
    doc = bokeh_doc(models, standalone=ctx.standalone)
    ctx.bokeh_files.update(doc.names)
    return doc


def _doc_page(ctx: _Ctx, template: str, doc: BokehDoc, title: str, variables: dict[str, Any]) -> bytes:
    html = doc_page(doc, assets.jinja_env().get_template(template), title, variables, standalone=ctx.standalone)
    ctx.docs[plan.doc_path(variables["path"])] = doc.doc_file  # beside the page; standalone pages inline it
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
    "intrabar": "same-bar liquidation",
    "unlocated_coef": "unlocated liquidations coefficient",
    "usd_scale": "dollar scale",
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


def _parameters(report: SymbolReport, s: Summary, tf: str) -> list[tuple[str, str]]:
    p = report.results[tf].params
    shown = {"leverage mix", *(PARAM_NAMES[k] for k in ("side_attribution", "entry_points",
                                                          "decay_half_life_hours", "bin_pct",
                                                          "position_notional_usd"))}
    rows = [(name, value) for name, value, _ in parameter_rows(p) if name in shown]
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
    """The chart-only page of one range; the default range's short URL is the one linked."""
    return plan.path("embed", slug) if rng == default else plan.path("range_embed", slug, rng)


def oembed_path(slug: str, rng: str, default: str) -> str:
    return plan.path("oembed", slug) if rng == default else plan.path("range_oembed", slug, rng)


def poster_path(slug: str, rng: str) -> str:
    """The static heatmap picture shown before the interactive chart loads."""
    return plan.path("poster", slug, rng)


def _embed_snippet(site: SiteData, report: SymbolReport, rng: str | None = None) -> str:
    """The iframe a blogger pastes (the README shows the default range's, word for word)."""
    default = default_range(report)
    rng = rng or default
    base = report.symbol.split("/")[0]
    # built with escaping: the snippet is HTML that blogs paste (and oEmbed clients insert) as is
    url = html_escape(site.base_url + plan.url("embed", report.slug) if rng == default
                      else site.base_url + plan.url("range_embed", report.slug, rng))
    what = "" if rng == default else f", {RANGE_TITLES[rng]}"
    return (
        f'<iframe src="{url}" title="{html_escape(base)} liquidation heatmap{what} '
        f'(liqmap)" loading="lazy" width="100%" height="{EMBED_HEIGHT}" style="border:0" '
        f'sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox"></iframe>'
    )


def _cumulatives(view: RangeView) -> tuple[dict[str, Any], dict[str, Any]]:
    edges = view.price_edges
    last = view.last_close
    cl, cs = cumulative_curves(edges, view.long[-1].astype(float), view.short[-1].astype(float), last)
    cum_long: dict[str, Any] = {"all": cl}
    cum_short: dict[str, Any] = {"all": cs}
    for g, lg, sg in zip(view.groups, view.long_by_group, view.short_by_group, strict=True):
        gl, gs = cumulative_curves(edges, lg[-1].astype(float), sg[-1].astype(float), last)
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
        as_of_text=utc_text(report.as_of),
        stale_since_text=utc_text(report.stale_since) if report.stale_since else "",
        parameters=_parameters(report, s, RANGES[rng][0]),
        band_pct=BAND_PCT,
        # Versioned: social sites cache previews hard; a new hash means a new picture.
        og_image=f"{ctx.site.base_url}{plan.path('og', report.slug)}?v={s.data_hash}",
        description=s.describe(),
        embed_snippet=_embed_snippet(ctx.site, report, rng),
        embed_href=rel + embed_path(report.slug, rng, default_range(report)),
        oembed_url=ctx.site.base_url + oembed_path(report.slug, rng, default_range(report)),
        poster_src=_poster_url(ctx, s, rng, rel),
        sample_date=report.as_of.strftime("%Y-%m-%d") if report.source == "sample" else "",
        candle_up=CANDLE_UP,
        candle_down=CANDLE_DOWN,
        realised=page_context(report),
        axis_text=AXIS_TEXT,
        exchange_nav=exchange_nav(report, None, rel, rng),
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


def _chart_vars(view: RangeView, colour_high: float, marks: tuple[Mark, ...], row_pct: float) -> dict[str, Any]:
    """What the template of a page with the heatmap and the map reads of its figures."""
    return {
        "groups": view.groups,
        "colour_high": colour_high,
        "group_highs": _group_highs(view),
        "view": view,
        "column_text": _column_text(view.bar_ms),
        "row_pct": row_pct,
        "marks_json": _marks_json(marks, view.last_close),
    }


def _symbol_pages(ctx: _Ctx, s: Summary, only: str | None = None) -> dict[str, bytes]:
    """Every page of one symbol, or only the file at path ``only``."""
    report = s.report
    out = FileSet()
    default = default_range(report)
    marks = _marks(s)
    # The default window shows the nearest large cluster on each side.
    include = tuple(lv.price for lv in (s.nearest_long, s.nearest_short) if lv is not None)
    for rng in report.ranges:
        wanted = {plan.path(k, report.slug, rng) for k in ("range_page", "poster", "range_embed")}
        if rng == default:
            wanted |= {plan.path("page", report.slug), plan.path("embed", report.slug)}
        wanted |= {plan.doc_path(p) for p in wanted if p.endswith("index.html")}
        if only is not None and only not in wanted:
            continue
        view = range_view(report, rng, include=include)
        poster = poster_webp(view)
        ctx.posters[(report.slug, rng)] = poster
        out[poster_path(report.slug, rng)] = poster  # standalone pages inline it; the file stays planned
        cum_long, cum_short = _cumulatives(view)
        row_pct = report.results[RANGES[rng][0]].params.bin_pct
        canonical = plan.url("page", report.slug) if rng == default else plan.url("range_page", report.slug, rng)
        title = f"{s.pair} liquidation heatmap, {RANGE_TITLES[rng]} · liqmap"
        # The default range is published twice (<slug>/ and <slug>/<range>/, both with the
        # short URL as canonical): one Bokeh document, two pages from the template.
        pages = [(plan.path("range_page", report.slug, rng), "../../")]
        if rng == default:
            pages.append((plan.path("page", report.slug), "../"))
        pages = [(p, rel) for p, rel in pages if only is None or only in (p, plan.doc_path(p))]
        if pages:
            heat = heatmap_figure(view, colorbar_title=f"estimated liquidations per {row_pct:g} % price row",
                                  marks=marks)
            liq = map_figure(view, cum_long, cum_short)
            pred = predicted_figure(view, cast(Range1d, heat.figure.x_range))
            add_markers(heat.figure, view, report.realised)  # realised liquidations
            add_to_panel(pred, view, report.realised)
            doc = _doc(ctx, [heat.figure, liq, pred])
            for path, rel in pages:
                v = _symbol_vars(ctx, s, rng, rel, path, canonical)
                v.update(_chart_vars(view, heat.high, marks, row_pct))
                out[path] = _doc_page(ctx, "symbol.html", doc, title, v)
        # Embed: chart only, one per range; the default range also at its short URL (one document).
        embeds = [plan.path("range_embed", report.slug, rng)]
        if rng == default:
            embeds.append(plan.path("embed", report.slug))
        embeds = [p for p in embeds if only is None or only in (p, plan.doc_path(p))]
        if embeds:
            heat = heatmap_figure(view, embed=True, height=420, marks=marks)
            doc = _doc(ctx, [heat.figure])
            for path in embeds:
                erel = "../" * path.count("/")
                v = _symbol_vars(ctx, s, rng, erel, path, canonical)
                v.update(groups=view.groups, colour_high=heat.high, group_highs=_group_highs(view), view=view,
                         marks_json=_marks_json(marks, view.last_close))
                out[path] = _doc_page(ctx, "embed.html", doc, title, v)
    out.update(_exchange_pages(ctx, s, only))  # each exchange alone (issue 14 item 3)
    out.update(ctx.docs)  # each chart page's document file
    ctx.docs.clear()
    return out


def render_page(site: SiteData, path: str, *, standalone: bool = False) -> bytes:
    """One HTML page the site plan names (a symbol's range page, default page or embed, or a
    global page), rendered alone: the fast path for tests and previews."""
    if path in plan.GLOBAL_FILES.values() and path.endswith(".html"):
        pages, _ = render_pages(site, [summarise(r) for r in site.symbols], standalone=standalone,
                                symbol_pages=False)
        return pages[path]
    for report in site.symbols:
        if path in plan.symbol_files(report.slug, report.ranges, page_exchanges(report)):
            ctx = _Ctx(site, standalone, set())
            with _compression(COMPRESSION_LEVEL):
                pages = _symbol_pages(ctx, summarise(report), only=path)
            if path in pages:
                return pages[path]
    raise KeyError(f"{path}: not a symbol page of this site")


def render_pages(
    site: SiteData, summaries: list[Summary], *, standalone: bool, symbol_pages: bool = True,
    thumbs: Mapping[str, bytes] | None = None,
) -> tuple[dict[str, bytes], set[str]]:
    """All HTML pages (``symbol_pages=False``: the global ones only; ``summaries`` may then be
    cards); returns the pages and the BokehJS bundles they reference. ``thumbs`` ({slug: PNG})
    are the index thumbnails a standalone index inlines (drawn from the summaries if not given)."""
    ctx = _Ctx(site, standalone, set())
    out = FileSet()
    with _compression(COMPRESSION_LEVEL):
        for s in summaries if symbol_pages else ():
            out.update(_symbol_pages(ctx, s))
    index_vars = ctx.common("", "index.html")
    index_vars.update(summaries=summaries, description=_site_description(site, summaries),
                      og_image=f"{site.base_url}{plan.path('og', summaries[0].report.slug)}" if summaries else "",
                      thumbs=_thumb_urls(summaries, standalone, thumbs),
                      live={s.report.slug: page_context(s.report) for s in summaries})
    out[plan.path("index")] = _plain_page(ctx, "index.html", index_vars)
    overview = ctx.common("../", plan.path("overview"))
    overview.update(overview_vars(summaries, index_vars["thumbs"], "../"))
    out[plan.path("overview")] = _plain_page(ctx, "overview.html", overview)
    meth = ctx.common("../", plan.path("methodology"))
    meth.update(evaluation=evaluation_view(site.evaluation), params=site.params,
                param_rows=parameter_rows(site.params), summaries=summaries,
                live={s.report.slug: page_context(s.report) for s in summaries},
                accuracy_history=site.accuracy_history, live_floor=FLOOR_BARS,
                description="How liqmap estimates liquidation levels, every parameter, and how well "
                            "the model matched real liquidations.", og_image="")
    out[plan.path("methodology")] = _plain_page(ctx, "methodology.html", meth)
    out[plan.path("not_found")] = _not_found_page(ctx)
    return out, ctx.bokeh_files


def parameter_rows(params: ModelParams) -> list[tuple[str, str, str]]:
    """(reader-facing name, value, meaning) for every model parameter, the leverage mix first;
    the meaning comes from the one declaration of each [model] setting
    (:class:`sitegen.config.ModelSettings`)."""
    decl = declared(ModelSettings)

    def meaning(*keys: str) -> str:
        parts = []
        for k in keys:
            st = decl.get(k)
            bounds = f", {st.bounds_text()}" if st and st.bounds_text() else ""
            parts.append(f"{st.help if st else ''} ({k}{bounds})".strip())
        return "; ".join(parts)

    lev = ", ".join(f"{lev:g}x {w:.0%}" for lev, w in zip(params.leverages, params.leverage_weights, strict=True))
    rows = [("leverage mix", lev, meaning("leverages", "leverage_weights"))]
    for key, value in params.as_dict().items():
        if key in ("leverages", "leverage_weights"):
            continue
        rows.append((PARAM_NAMES.get(key, key.replace("_", " ")), _param_value(key, value), meaning(key)))
    return rows


def _not_found_page(ctx: _Ctx) -> bytes:
    """404.html: GitHub Pages serves it for any missing path, at any depth.

    No ``<base>`` (the page's own CSP, ``base-uri 'self'``, blocks one pointing at another
    origin, e.g. in a local preview or on a custom domain): links are root-relative to the
    base URL's path, a small script moves them to the root the page is actually served
    from, and the CSS and JS are inlined so the page is styled wherever it is.
    """
    site = ctx.site
    root = urlsplit(site.base_url).path or "/"
    nf = ctx.common(root, plan.path("not_found"))
    static = assets.static_files()
    nf.update(standalone=True, inline_css=static["css/site.css"].decode("utf-8"),
              inline_js=static["js/liqmap.js"].decode("utf-8"), site_root=root)
    nf.update(description="Page not found.", og_image="")
    return _plain_page(ctx, "404.html", nf)


def _thumb_urls(summaries: list[Summary], standalone: bool,
                thumbs: Mapping[str, bytes] | None = None) -> dict[str, str]:
    from sitegen.render.og import thumbnail_png

    out = {}
    for s in summaries:
        if standalone:
            png = thumbs[s.report.slug] if thumbs is not None else thumbnail_png(s)
            out[s.report.slug] = "data:image/png;base64," + base64.b64encode(png).decode()
        else:
            out[s.report.slug] = plan.path("thumb", s.report.slug)
    return out


def _site_description(site: SiteData, summaries: list[Summary]) -> str:
    names = ", ".join(s.base for s in summaries)
    return (
        f"Free, open liquidation heatmaps for {names} perpetual futures: where leveraged "
        "longs and shorts would be liquidated, with the method, parameters and data published."
    )


def evaluation_view(rep: CalibrationReport | None) -> dict[str, Any] | None:
    """What the methodology page shows of the calibration report (read by field)."""
    if rep is None:
        return None
    ev = rep.evaluation
    sections = [("all", ev.all)]
    if ev.first is not None and ev.second is not None:
        sections += [("first half (fit)", ev.first), ("second half (check)", ev.second)]
    rows: list[dict[str, Any]] = []
    for label, sec in sections:
        for side in ("long", "short"):
            sc = getattr(sec.scores, side)
            rows.append({
                "section": f"{label}, {sec.scores.bars}", "side": side,
                "cells": (sc.model_logcorr, sc.levels_logcorr, sc.baseline_logcorr, sc.model_top10,
                           sc.levels_top10, sc.baseline_top10, sc.top10_of_oracle, sc.pred_to_real_usd),
                "verdict": _short_verdict(sc.model_logcorr, sc.baseline_logcorr, sc.model_top10, sc.baseline_top10),
            })
    check = ev.second or ev.all
    ratio = (f"{_num(check.scores.long.pred_to_real_usd, 2)} for longs and "
             f"{_num(check.scores.short.pred_to_real_usd, 2)} for shorts")
    falling = []
    for label, sec in sections:
        if sec.falling is not None:
            falling.append(
                f"{label}, {sec.falling.bars} bars: log-correlation longs {_num(sec.falling.long.model_logcorr)}, "
                f"shorts {_num(sec.falling.short.model_logcorr)}"
            )
    sw = rep.sample_window
    runs = "; ".join(
        f"{r.timeframe} bars driven by {r.driver}: log-correlation longs {_num(r.scores.long.model_logcorr)}, "
        f"shorts {_num(r.scores.short.model_logcorr)}" for r in sw.runs
    )
    sel = rep.selection
    c = sel.chosen
    facts = [
        ("data", rep.dataset),
        ("file", rep.file),
        ("how the parameters were chosen", rep.method),
        ("search rule", sel.rule),
        ("search pick", f"intrabar {c.intrabar}, unlocated coefficient {c.unlocated_coef:g}, {c.entry_points} "
                        f"entry points, alpha {c.alpha:g}, decay half-life {c.decay_half_life_hours:g} h, "
                        f"dollar scale {c.usd_scale:g}; fit {c.fit:.3f}, check {c.check:.3f}"
                        + ("" if sel.scored_params_are_chosen else " (this build uses other parameters)")),
        ("embedded sample window", f"{sw.description} {sw.hours} hours: {runs}."),
    ]
    ratio_5m = sw.unlocated_5m_to_1h
    if ratio_5m is not None:
        facts.append(("one unlocated coefficient for every bar length",
                      f"on the sample window the unlocated term summed over 5-minute bars is "
                      f"{ratio_5m:.2f} times the same term on hourly bars"))
    return {
        "bars": ev.all.scores.bars,
        "period": f"{utc_text(datetime.fromtimestamp(rep.start / 1000, UTC))} to "
                  f"{utc_text(datetime.fromtimestamp(rep.end / 1000, UTC))}",
        "rows": rows,
        "months": ev.all.months,
        "falling": "; ".join(falling),
        "facts": facts,
        "bridge": rep.bridge,
        "summary_ratio": ratio,
    }


def _short_verdict(m1: float | None, b1: float | None, m2: float | None, b2: float | None) -> str:
    """How many of the two scores beat the baseline, e.g. "2 of 2"."""
    pairs = [(m, b) for m, b in ((m1, b1), (m2, b2)) if m is not None and b is not None]
    return f"{sum(m > b for m, b in pairs)} of {len(pairs)}" if pairs else "–"


def _num(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def render_data(summaries: list[Summary], site: SiteData) -> dict[str, bytes]:
    out = FileSet()
    for s in summaries:
        out[plan.path("data_json", s.report.slug)] = symbol_json(site, s)
        out[plan.path("data_csv", s.report.slug)] = symbol_csv(s)
        default = default_range(s.report)
        out[plan.path("oembed", s.report.slug)] = oembed_json(site, s.report, default)
        for rng in s.report.ranges:
            out[plan.path("range_oembed", s.report.slug, rng)] = oembed_json(site, s.report, rng)
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
        "thumbnail_url": f"{site.base_url}{plan.path('og', report.slug)}",
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


def render_symbol(
    site: SiteData, report: SymbolReport, *, standalone: bool = False
) -> tuple[dict[str, bytes], set[str], Summary[SymbolReport]]:
    """Every file of one symbol (pages of every range, embeds, posters, data JSON/CSV, oEmbed,
    Open Graph image, thumbnail): ``(files, BokehJS bundles they reference, summary)``.

    The pages' symbol menu lists ``site.nav`` (or ``site.symbols``); the build renders each
    symbol alone and keeps only its card (:func:`sitegen.render.card.card_of`) afterwards.
    """
    from sitegen.render.og import og_png, thumbnail_png

    s = summarise(report)
    ctx = _Ctx(site, standalone, set())
    files = FileSet()
    with _compression(COMPRESSION_LEVEL):
        files.update(_symbol_pages(ctx, s))
    files.update(render_data([s], site))
    files[plan.path("og", report.slug)] = og_png(s, site)
    files[plan.path("thumb", report.slug)] = thumbnail_png(s)
    return dict(files), ctx.bokeh_files, s


def render_global_files(
    site: SiteData, summaries: list[Summary], *, standalone: bool, bokeh_files: Iterable[str],
    symbol_paths: Iterable[str], thumbs: Mapping[str, bytes] | None = None,
) -> dict[str, bytes]:
    """The files of the site besides the symbols' own: index, methodology, 404, static files
    and BokehJS, schemas, sitemap, robots.txt, feed. ``summaries`` may be cards;
    ``symbol_paths`` are the symbols' files (for the sitemap)."""
    from sitegen.render.feeds import feed_xml, robots_txt, sitemap_xml

    files = FileSet()
    pages, page_bundles = render_pages(site, summaries, standalone=standalone, symbol_pages=False,
                                       thumbs=thumbs)
    files.update(pages)
    files.update(render_static(set(bokeh_files) | page_bundles, standalone))
    files.update(schemas.published())
    files[plan.path("sitemap")] = sitemap_xml(site, summaries, [*symbol_paths, *files])
    files[plan.path("robots")] = robots_txt(site)
    files[plan.path("feed")] = feed_xml(site, summaries)
    return dict(files)


def check_plan(site_plan: plan.SitePlan, names: Iterable[str]) -> None:
    """A renderer bug (a file the plan does not name, or a planned file not rendered) is never published."""
    names = list(names)
    unplanned, missing = site_plan.unplanned(names), site_plan.missing(names)
    if unplanned or missing:
        raise AssertionError(
            f"render and the site plan disagree: unplanned {unplanned[:3]}, "
            f"missing {missing[:3]} (add the artifact kind to sitegen/plan.py)"
        )


def render_site(site: SiteData, *, standalone: bool = False) -> dict[str, bytes]:
    """Every file of the site as {relative posix path: bytes}. No file I/O besides reading
    the packaged templates and static files. (The build renders the same files a symbol at
    a time, :func:`render_symbol` then :func:`render_global_files`, and never holds them all.)

    ``standalone=True`` inlines BokehJS, the CSS and the page script into every page, so each
    HTML file works on its own (e.g. opened from disk).
    """
    files = FileSet()
    summaries: list[Summary] = []
    bundles: set[str] = set()
    for report in site.symbols:
        own, used, s = render_symbol(site, report, standalone=standalone)
        files.update(own)
        bundles |= used
        summaries.append(s)
    thumbs = {s.report.slug: files[plan.path("thumb", s.report.slug)] for s in summaries}
    files.update(render_global_files(site, summaries, standalone=standalone, bokeh_files=bundles,
                                     symbol_paths=list(files), thumbs=thumbs))
    check_plan(plan.SitePlan({r.slug: r.ranges for r in site.symbols},
                             {r.slug: page_exchanges(r) for r in site.symbols}), files)
    log.info("rendered %d files (%d pages)", len(files), sum(p.endswith(".html") for p in files))
    return dict(files)


_NAV_RE = re.compile(r'(<nav aria-label="Symbols">\n)((?:<a href="[^"]*"(?: aria-current="page")?>[^<]*</a>)*)')
_NAV_LINK_RE = re.compile(r'<a href="[^"]*?([a-z0-9-]+)/index\.html"(?: aria-current="page")?>[^<]*</a>')


def reorder_nav(html: bytes, slugs: Sequence[str]) -> bytes:
    """``html`` with its symbol menu (templates/_layout.html) listing exactly ``slugs``, in
    that order, out of the links it has: a page rendered before the build knew which symbols
    failed drops the links to those that are gone."""
    text = html.decode("utf-8")
    m = _NAV_RE.search(text)
    if m is None:
        return html
    links = {lm.group(1): lm.group(0) for lm in _NAV_LINK_RE.finditer(m.group(2))}
    menu = "".join(links[slug] for slug in slugs if slug in links)
    return (text[: m.start(2)] + menu + text[m.end(2):]).encode("utf-8")


# -- one exchange alone (issue 14 item 3; what it shows: sitegen/render/exchange_view.py) --


def _exchange_pages(ctx: _Ctx, s: Summary, only: str | None = None) -> dict[str, bytes]:
    """The default-range page of each exchange alone and its poster, or only the file ``only``.

    Heatmap, liquidation map and clusters from that exchange's own model run; two Bokeh
    figures (no predicted-liquidations panel, which the page of all exchanges scores).
    """
    report = s.report
    out = FileSet()
    for exchange in page_exchanges(report):
        path = plan.path("exchange_page", report.slug, exchange=exchange)
        poster_file = plan.path("exchange_poster", report.slug, exchange=exchange)
        if only is not None and only not in (path, poster_file, plan.doc_path(path)):
            continue
        one = summarise(exchange_report(report, exchange))
        rng = one.report.ranges[0]
        include = tuple(lv.price for lv in (one.nearest_long, one.nearest_short) if lv is not None)
        view = range_view(one.report, rng, include=include)
        poster = poster_webp(view)
        out[poster_file] = poster
        if only is not None and only not in (path, plan.doc_path(path)):
            continue
        marks = _marks(one)
        cum_long, cum_short = _cumulatives(view)
        row_pct = one.report.results[RANGES[rng][0]].params.bin_pct
        heat = heatmap_figure(view, colorbar_title=f"estimated liquidations per {row_pct:g} % price row",
                              marks=marks)
        liq = map_figure(view, cum_long, cum_short)
        rel = "../" * path.count("/")
        v = _symbol_vars(ctx, one, rng, rel, path, plan.url("exchange_page", report.slug, exchange=exchange))
        v.update(_chart_vars(view, heat.high, marks, row_pct))
        v.update(
            exchange=exchange,
            exchange_label=exchange_name(exchange),
            exchange_nav=exchange_nav(report, exchange, rel),
            all_href=rel + plan.url("page", report.slug),
            candles_from=exchange_name(report.exchanges[0]),
            poster_src=("data:image/webp;base64," + base64.b64encode(poster).decode()) if ctx.standalone
            else rel + poster_file,
            description=f"{exchange_name(exchange)} alone: {one.describe()}",
        )
        title = f"{s.pair} liquidation heatmap on {exchange_name(exchange)}, {RANGE_TITLES[rng]} · liqmap"
        out[path] = _doc_page(ctx, "exchange.html", _doc(ctx, [heat.figure, liq]), title, v)
    return out
