"""Bokeh pages whose figures load on demand: no render-blocking script, no inline JS, and
no document data in the HTML.

``bokeh.embed.file_html`` puts BokehJS in ``<head>`` and an inline script that builds every
figure as soon as the page parses, with the whole document (every figure's data, 100-400 kB)
inline: on a mid-range phone that is seconds before the reader sees anything. Here the page
carries only the render items (which element shows which figure) and the list of scripts to
load as inert ``application/json`` blocks; the document JSON goes to a file beside the page
(``doc.js``, :mod:`sitegen.docfile`), and ``static/js/liqmap.js`` loads BokehJS and that file
and builds the figures itself, on the reader's first interaction (the static heatmap picture
is shown until then), each figure below the fold only when it scrolls into view. With
``standalone=True`` BokehJS and the document are inlined in the page and the figures build at
once, so a single saved file still works offline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bokeh.core.json_encoder import serialize_json
from bokeh.embed.bundle import bundle_for_objs_and_resources
from bokeh.embed.util import OutputDocumentFor, standalone_docs_json_and_render_items
from bokeh.models import Model
from bokeh.resources import CDN, INLINE
from jinja2 import Template
from markupsafe import Markup

from sitegen.docfile import doc_script, doc_version
from sitegen.render import assets


@dataclass(frozen=True)
class BokehPage:
    html: str
    doc: bytes  # the document file beside the page (sitegen.docfile); unused by standalone pages


def bokeh_page(
    models: Sequence[Model], template: Template, title: str, variables: dict[str, Any], *,
    standalone: bool, bokeh_files: set[str], doc_url: str = "doc.js",
) -> BokehPage:
    """Render ``template`` with the Bokeh document of ``models``.

    The template gets ``roots`` (by figure name, for the placeholders), ``bokeh_items`` and
    ``bokeh_src`` (JSON for liqmap.js: the render items, and the scripts to load in order:
    the BokehJS bundles, then the document at ``doc_url``, relative to the page, with a
    content hash so no cached copy of another build's document is used) and, when
    standalone, ``bokeh_js`` (the inline BokehJS) and ``bokeh_docs`` (the document JSON).
    The names of the BokehJS bundles a non-standalone page needs are added to ``bokeh_files``.
    """
    rel = variables["rel"]
    with OutputDocumentFor(list(models)) as doc:
        docs_json, render_items = standalone_docs_json_and_render_items(list(models))
        if standalone:
            bokeh_js, _css = bundle_for_objs_and_resources([doc], INLINE)
            src: list[str] = []
        else:
            bokeh_js = ""
            names = [assets.bokeh_js_name(str(u)) for u in bundle_for_objs_and_resources([doc], CDN).js_files]
            bokeh_files.update(names)
            src = [f"{rel}{assets.BOKEH_STATIC_DIR}/{n}" for n in names]
    docs_text = serialize_json(docs_json)
    doc_file = doc_script(docs_text)
    if not standalone:
        src.append(f"{doc_url}?v={doc_version(doc_file)}")
    items = [item.to_json() for item in render_items]
    html = template.render(
        **variables,
        title=title,
        roots=render_items[0].roots,
        bokeh_js=Markup(bokeh_js),
        bokeh_docs=Markup(_json_in_html(docs_text)) if standalone else None,
        bokeh_items=Markup(_json_in_html(json.dumps(items))),
        bokeh_src=Markup(_json_in_html(json.dumps(src))),
        plot_script="",
    )
    return BokehPage(html, doc_file)


def _json_in_html(text: str) -> str:
    """JSON for a ``<script type="application/json">`` block: only "</script" could end the
    block early, and ``<`` occurs only inside JSON strings, where ``\\u003c`` means the same."""
    return text.replace("<", "\\u003c")
