"""Each Bokeh document is built once: the default range's page and embed, published at two
URLs each (<slug>/ and <slug>/<range>/), share one document; the short URL is canonical."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup
from test_render import synthetic_report, synthetic_site

import sitegen.render.pages as pages
from sitegen import plan
from sitegen.render.levels import default_range
from sitegen.render.pages import render_symbol

# The pages and files are the point here, not the image bytes (conftest.quick_png).
pytestmark = pytest.mark.usefixtures("quick_png")


def test_every_document_is_built_once_and_shared_by_both_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    real = pages.bokeh_doc

    def counting(models, **kw):
        built.append(len(models))
        return real(models, **kw)

    monkeypatch.setattr(pages, "bokeh_doc", counting)
    report = synthetic_report()
    files, bundles, _ = render_symbol(synthetic_site(), report)
    assert report.ranges == ("12h", "24h")
    assert sorted(built) == [1, 1, 3, 3]  # per range: the page's three figures, the embed's one
    assert bundles
    default = default_range(report)

    def doc(path: str) -> bytes:
        """The page's document file (doc.js beside it) and the version its page asks for."""
        html = files[path].decode()
        version = re.search(r'doc\.js\?v=([0-9a-f]+)', html)
        assert version is not None
        return version.group(1).encode() + b" " + files[plan.doc_path(path)]

    assert doc("btc-usdt/index.html") == doc(f"btc-usdt/{default}/index.html")
    assert doc("embed/btc-usdt/index.html") == doc(f"embed/btc-usdt/{default}/index.html")
    for path in ("btc-usdt/index.html", f"btc-usdt/{default}/index.html"):
        canonical = BeautifulSoup(files[path], "html.parser").select_one('link[rel="canonical"]')
        assert canonical is not None and canonical["href"] == "https://example.test/liqmap/btc-usdt/"
