"""The file that carries a page's Bokeh document (``doc.js`` next to the page).

A chart page is small HTML plus this file, which ``static/js/liqmap.js`` loads only when the
reader brings the interactive figure in. It is a script that assigns one JSON value and does
nothing else, ``window.liqmapDoc={...};``, rather than a ``.json`` fetched with ``fetch()``:
an embed inside a sandboxed iframe (``sandbox="allow-scripts"``, as the embed snippet has it)
runs with an opaque origin, so a fetch of its own site is cross-origin and fails unless the
host sends CORS headers, and a site opened from disk (``file://``) cannot fetch at all;
a ``<script src>`` from the site's own folder loads in both, under ``script-src 'self'``.

Because the file runs as script, whatever reads one it did not write (``liqmap check``,
keep-last-good) accepts it only in exactly this form: the prefix, one JSON object (which
cannot execute anything), the suffix. Plain functions; no I/O.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PREFIX = b"window.liqmapDoc="
SUFFIX = b";\n"


def doc_script(docs_json: str) -> bytes:
    """The file for Bokeh's serialised ``docs_json`` (a JSON object, as text)."""
    return PREFIX + docs_json.encode("utf-8") + SUFFIX


def doc_payload(content: bytes) -> dict[str, Any]:
    """The JSON object a doc file assigns; ValueError if the file is anything else."""
    if not (content.startswith(PREFIX) and content.endswith(SUFFIX)):
        raise ValueError(f"not a liqmap document file (must be {PREFIX.decode()}<JSON object>;)")
    body = content[len(PREFIX): -len(SUFFIX)]
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"the document is not valid JSON: {e}") from None
    if not isinstance(payload, dict):
        raise ValueError("the document is not a JSON object")
    return payload


def doc_version(content: bytes) -> str:
    """A short content hash for the file's URL (``doc.js?v=...``), so a browser that cached
    the previous hour's file never pairs it with this hour's page."""
    return hashlib.sha256(content).hexdigest()[:12]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
