"""Bokeh pages whose figures load on demand: no render-blocking script, no inline JS.

``bokeh.embed.file_html`` puts BokehJS in ``<head>`` and an inline script that builds every
figure as soon as the page parses: on a mid-range phone that is seconds of blocked main
thread before the reader sees anything. Here the page carries the same document JSON and
render items as inert ``application/json`` blocks plus the list of BokehJS files, and
``static/js/liqmap.js`` loads BokehJS and calls ``Bokeh.embed.embed_items`` itself, on the
reader's first interaction (the static heatmap picture is shown until then). With
``standalone=True`` BokehJS is inlined in the page as before and the figures build at once,
so a single saved file still works offline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from bokeh.core.json_encoder import serialize_json
from bokeh.embed.bundle import bundle_for_objs_and_resources
from bokeh.embed.util import OutputDocumentFor, standalone_docs_json_and_render_items
from bokeh.models import Model
from bokeh.resources import CDN, INLINE
from jinja2 import Template
from markupsafe import Markup

from sitegen.render import assets


def bokeh_page(
    models: Sequence[Model], template: Template, title: str, variables: dict[str, Any], *,
    standalone: bool, bokeh_files: set[str],
) -> str:
    """Render ``template`` with the Bokeh document of ``models``.

    The template gets ``roots`` (by figure name, for the placeholders), ``bokeh_docs`` (the
    document JSON, HTML-escaped as BokehJS expects), ``bokeh_items`` and ``bokeh_src`` (JSON
    for liqmap.js) and, when standalone, ``bokeh_js`` (the inline BokehJS). The names of the
    BokehJS bundles a non-standalone page needs are added to ``bokeh_files``.
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
    # Inside <script type="application/json"> only "</script" could end the block early:
    # escape() turns every "<" into "&lt;", and BokehJS unescapes the text before parsing.
    docs_text = escape(serialize_json(docs_json), quote=False)
    items = json.dumps([item.to_json() for item in render_items]).replace("<", "\\u003c")
    return template.render(
        **variables,
        title=title,
        roots=render_items[0].roots,
        bokeh_js=Markup(bokeh_js),
        bokeh_docs=Markup(docs_text),
        bokeh_items=Markup(items),
        bokeh_src=Markup(json.dumps(src).replace("<", "\\u003c")),
        plot_script="",
    )
