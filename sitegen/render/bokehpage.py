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
from bokeh.document import Document
from bokeh.embed.bundle import bundle_for_objs_and_resources
from bokeh.embed.util import OutputDocumentFor, standalone_docs_json_and_render_items
from bokeh.models import Model, Plot
from bokeh.resources import CDN, INLINE
from jinja2 import Template
from markupsafe import Markup

from sitegen.docfile import doc_script, doc_version
from sitegen.render import assets


@dataclass(frozen=True)
class BokehDoc:
    """One Bokeh document, serialised once, that any number of pages can carry."""

    docs_text: str  # the document JSON
    doc_file: bytes  # the document file beside each page (sitegen.docfile); unused by standalone pages
    items: str  # the render items, JSON for a <script type="application/json"> block
    roots: Any  # by figure name, for the template's placeholders
    bokeh_js: str  # inline BokehJS (standalone only)
    names: tuple[str, ...]  # the BokehJS bundles a non-standalone page loads


def _bundle_key(doc: Document, standalone: bool) -> tuple[object, ...]:
    """What Bokeh's bundle choice depends on: the model classes (widgets, tables, extensions)
    and the plots' output backends (WebGL)."""
    models = list(doc.models)
    kinds = frozenset(f"{type(m).__module__}.{type(m).__qualname__}" for m in models)
    # Only plots have an output backend; asking every model (getattr with a default) makes
    # Bokeh build a "did you mean" message for each one that has none: a tenth of the render.
    backends = frozenset(str(m.output_backend) for m in models if isinstance(m, Plot))
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
    docs_text = serialize_json(docs_json)
    items = _json_in_html(json.dumps([item.to_json() for item in render_items]))
    return BokehDoc(docs_text, doc_script(docs_text), items, render_items[0].roots, bokeh_js, names)


def doc_page(
    doc: BokehDoc, template: Template, title: str, variables: dict[str, Any], *,
    standalone: bool, doc_url: str = "doc.js",
) -> str:
    """Render ``template`` around ``doc``; ``variables["rel"]`` leads back to the site root.

    The template gets ``roots`` (by figure name, for the placeholders), ``bokeh_items`` and
    ``bokeh_src`` (JSON for liqmap.js: the render items, and the scripts to load in order:
    the BokehJS bundles, then the document at ``doc_url``, relative to the page, with a
    content hash so no cached copy of another build's document is used) and, when
    standalone, ``bokeh_js`` (the inline BokehJS) and ``bokeh_docs`` (the document JSON).
    """
    src = [] if standalone else [f"{variables['rel']}{assets.BOKEH_STATIC_DIR}/{n}" for n in doc.names]
    if not standalone:
        src.append(f"{doc_url}?v={doc_version(doc.doc_file)}")
    return template.render(
        **variables,
        title=title,
        roots=doc.roots,
        bokeh_js=Markup(doc.bokeh_js),
        bokeh_docs=Markup(_json_in_html(doc.docs_text)) if standalone else None,
        bokeh_items=Markup(doc.items),
        bokeh_src=Markup(_json_in_html(json.dumps(src))),
        plot_script="",
    )


def _json_in_html(text: str) -> str:
    """JSON for a ``<script type="application/json">`` block: only "</script" could end the
    block early, and ``<`` occurs only inside JSON strings, where ``\\u003c`` means the same."""
    return text.replace("<", "\\u003c")
