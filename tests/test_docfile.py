"""The document file beside each chart page (sitegen/docfile.py): one JSON assignment, nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitegen import plan
from sitegen.docfile import doc_payload, doc_script, doc_version

# Characters that matter inside a script (the ends of a string or a comment, escapes, the two
# line terminators JSON allows and old JavaScript did not), ASCII, and any code point but a
# surrogate. Drawn without st.characters(), whose Unicode table a fresh clone builds first
# (seconds of CPU in each test worker).
CHARS = (
    st.sampled_from(list("<>/!-&\"'\\`\n\r\t\x00\x1f\x7f\u2028\u2029\ufeff\u00e9\u20ac\U0001f600"))
    | st.integers(0x20, 0x7E).map(chr)
    | st.integers(0, 0x10FFFF).filter(lambda c: not 0xD800 <= c <= 0xDFFF).map(chr)
)
TEXT = st.text(CHARS) | st.sampled_from(["</script>", "<!--", "-->", "</SCRIPT ", "<script>", "]]>"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


DOCUMENTS = st.dictionaries(TEXT, JSON_VALUES, max_size=5)


@settings(max_examples=25)  # the inner loop; test_round_trip_on_more_documents (slow) tries 500
@given(DOCUMENTS)
def test_round_trip(obj: dict) -> None:
    # Text with "</script>", quotes, backslashes and U+2028 stays data: JSON is a JS expression.
    assert doc_payload(doc_script(json.dumps(obj))) == obj


@pytest.mark.slow  # hypothesis draws these documents slowly (seconds): CI runs it with -m slow
@settings(max_examples=500)
@given(DOCUMENTS)
def test_round_trip_on_more_documents(obj: dict) -> None:
    test_round_trip.hypothesis.inner_test(obj)


@pytest.mark.parametrize("content", [
    b'window.liqmapDoc={"a":1};alert(1);\n',  # code after the value
    b'window.liqmapDoc=alert(1)||{};\n',  # code as the value
    b"window.liqmapDoc=[1, 2];\n",  # not an object
    b"window.liqmapDoc={\"a\": NaN};\n",  # not JSON
    b"window.liqmapDoc={\"a\": 1}",  # no end
    b"",
])
def test_anything_else_is_refused(content: bytes) -> None:
    with pytest.raises(ValueError):
        doc_payload(content)


def test_version_follows_the_content() -> None:
    a, b = doc_script('{"a": 1}'), doc_script('{"a": 2}')
    assert doc_version(a) == doc_version(a) != doc_version(b)
    assert len(doc_version(a)) == 12


def test_each_chart_page_has_its_document_beside_it_in_the_plan() -> None:
    for page_kind, doc_kind in plan.PAGE_DOCS.items():
        page = plan.path(page_kind, "btc-usdt", "1m", "okx")
        assert plan.path(doc_kind, "btc-usdt", "1m", "okx") == plan.doc_path(page)
        assert plan.is_doc(plan.doc_path(page))
    assert not plan.is_doc("static/js/liqmap.js") and not plan.is_doc("btc-usdt/index.html")
    with pytest.raises(ValueError):
        plan.doc_path("data/btc-usdt.json")
