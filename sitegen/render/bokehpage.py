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
from dataclasses import dataclass
from html import escape
from typing import Any

from bokeh.core.json_encoder import serialize_json
from bokeh.document import Document
from bokeh.embed.bundle import bundle_for_objs_and_resources
from bokeh.embed.util import OutputDocumentFor, standalone_docs_json_and_render_items
from bokeh.models import Model
from bokeh.resources import CDN, INLINE
from jinja2 import Template
from markupsafe import Markup

from sitegen.render import assets


@dataclass(frozen=True)
class BokehDoc:
    """One Bokeh document, serialised once, that any number of pages can carry."""

    docs_text: str  # the document JSON, HTML-escaped as BokehJS expects
    items: str  # the render items, JSON
    roots: Any  # by figure name, for the template's placeholders
    bokeh_js: str  # inline BokehJS (standalone only)
    names: tuple[str, ...]  # the BokehJS bundles a non-standalone page loads


def _bundle_key(doc: Document, standalone: bool) -> tuple[object, ...]:
    """What Bokeh's bundle choice depends on: the model classes (widgets, tables, extensions)
    and the plots' output backends (WebGL)."""
    kinds = frozenset(f"{type(m).__module__}.{type(m).__qualname__}" for m in doc.models)
    backends = frozenset(str(getattr(m, "output_backend", "")) for m in doc.models)
    return standalone, kinds, backends


_BUNDLES: dict[tuple[object, ...], tuple[str, tuple[str, ...]]] = {}


def _bundle(doc: Document, standalone: bool) -> tuple[str, tuple[str, ...]]:
    """(inline BokehJS, bundle names) for ``doc``, resolved once per process for each kind of
    document: the lookup (and the inline JS, megabytes) is the same for every page."""
    key = _bundle_key(doc, standalone)
    if key not in _BUNDLES:
        if standalone:
            bokeh_js, _css = bundle_for_objs_and_resources([doc], INLINE)
            _BUNDLES[key] = (str(bokeh_js), ())
        else:
            files = bundle_for_objs_and_resources([doc], CDN).js_files
            _BUNDLES[key] = ("", tuple(assets.bokeh_js_name(str(u)) for u in files))
    return _BUNDLES[key]


def bokeh_doc(models: Sequence[Model], *, standalone: bool) -> BokehDoc:
    """Serialise the document of ``models`` once (render it into pages with :func:`doc_page`)."""
    with OutputDocumentFor(list(models)) as doc:
        docs_json, render_items = standalone_docs_json_and_render_items(list(models))
        bokeh_js, names = _bundle(doc, standalone)
    # Inside <script type="application/json"> only "</script" could end the block early:
    # escape() turns every "<" into "&lt;", and BokehJS unescapes the text before parsing.
    docs_text = escape(serialize_json(docs_json), quote=False)
    items = json.dumps([item.to_json() for item in render_items]).replace("<", "\\u003c")
    return BokehDoc(docs_text, items, render_items[0].roots, bokeh_js, names)


def doc_page(doc: BokehDoc, template: Template, title: str, variables: dict[str, Any]) -> str:
    """Render ``template`` around ``doc``; ``variables["rel"]`` leads back to the site root."""
    src = [f"{variables['rel']}{assets.BOKEH_STATIC_DIR}/{n}" for n in doc.names]
    return template.render(
        **variables,
        title=title,
        roots=doc.roots,
        bokeh_js=Markup(doc.bokeh_js),
        bokeh_docs=Markup(doc.docs_text),
        bokeh_items=Markup(doc.items),
        bokeh_src=Markup(json.dumps(src).replace("<", "\\u003c")),
        plot_script="",
    )


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
    doc = bokeh_doc(models, standalone=standalone)
    bokeh_files.update(doc.names)
    return doc_page(doc, template, title, variables)
