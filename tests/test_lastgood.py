"""Keep last good (unit level): carrying a failed symbol's previous pages, marked stale."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sitefactory import make_site

from sitegen.site.check import check_files
from sitegen.site.lastgood import carry_over, mark_html_stale, symbol_paths
from sitegen.site.snapshots import add_snapshots, hour_key
from sitegen.site.writer import write_site

NOW = datetime(2026, 1, 29, 19, 0, tzinfo=UTC)
BOTH = {"BTC/USDT:USDT": "btc-usdt", "ETH/USDT:USDT": "eth-usdt"}


def previous_site(tmp_path: Path, files: dict[str, bytes] | None = None) -> Path:
    out = tmp_path / "site"
    write_site(files or make_site(BOTH), out)
    return out


def test_failed_symbol_keeps_its_pages_marked_stale(tmp_path: Path) -> None:
    prev = previous_site(tmp_path)
    fresh = make_site({"BTC/USDT:USDT": "btc-usdt"})  # ETH failed this time
    # the fresh pages still link to ETH (e.g. the nav): it must come from the old site
    merged, carried, not_kept = carry_over(prev, {"ETH/USDT:USDT": "okx: timeout"}, fresh, now=NOW)
    assert not_kept == {}
    [c] = carried
    assert (c.symbol, c.slug) == ("ETH/USDT:USDT", "eth-usdt")
    assert c.stale_since == datetime(2026, 1, 29, 17, 55, tzinfo=UTC)  # previous as_of
    assert set(c.files) == {
        "eth-usdt/index.html", "eth-usdt/12h/index.html", "eth-usdt/24h/index.html",
        "embed/eth-usdt/index.html", "data/eth-usdt.json", "data/eth-usdt.csv", "og/eth-usdt.png",
        "og/eth-usdt-thumb.png", "oembed/eth-usdt.json",
        *(f"{d}" for r in ("12h", "24h") for d in (f"eth-usdt/{r}/heatmap.webp", f"embed/eth-usdt/{r}/index.html",
                                                   f"oembed/eth-usdt/{r}.json")),
        # each chart page's document file (sitegen/docfile.py)
        "eth-usdt/doc.js", "embed/eth-usdt/doc.js",
        *(f"{d}eth-usdt/{r}/doc.js" for r in ("12h", "24h") for d in ("", "embed/")),
    }
    data = json.loads(merged["data/eth-usdt.json"])
    assert data["stale"] is True
    assert data["stale_since"] == "2026-01-29T17:55:00Z"
    assert data["notes"][-1].startswith("kept from the last good build")
    for rel in c.files:
        if rel.endswith(".html"):
            assert b'<body data-stale="true" data-stale-since="2026-01-29T17:55:00Z">' in merged[rel]
    assert merged["data/eth-usdt.csv"] == (prev / "data/eth-usdt.csv").read_bytes()
    # fresh files untouched, input not modified
    assert merged["data/btc-usdt.json"] == fresh["data/btc-usdt.json"]
    assert "data/eth-usdt.json" not in fresh
    assert check_files(merged) == []


def test_stale_since_survives_a_second_failed_build(tmp_path: Path) -> None:
    prev = previous_site(tmp_path)
    fresh = make_site({"BTC/USDT:USDT": "btc-usdt"})
    merged, _, _ = carry_over(prev, {"ETH/USDT:USDT": "x"}, fresh, now=NOW)
    write_site(merged, prev)
    later = datetime(2026, 1, 29, 22, 0, tzinfo=UTC)
    merged2, [c], _ = carry_over(prev, {"ETH/USDT:USDT": "x"}, fresh, now=later)
    assert c.stale_since == datetime(2026, 1, 29, 17, 55, tzinfo=UTC)
    assert merged2["eth-usdt/index.html"].count(b"data-stale=") == 1
    assert len(json.loads(merged2["data/eth-usdt.json"])["notes"]) == 1


def test_too_old_or_missing_previous_data_is_not_kept(tmp_path: Path) -> None:
    prev = previous_site(tmp_path)
    fresh = make_site({"BTC/USDT:USDT": "btc-usdt"})
    much_later = datetime(2026, 3, 1, tzinfo=UTC)
    merged, carried, not_kept = carry_over(prev, {"ETH/USDT:USDT": "x"}, fresh, now=much_later)
    assert carried == [] and "older than 168 hours" in not_kept["ETH/USDT:USDT"]
    assert "data/eth-usdt.json" not in merged
    _, carried, not_kept = carry_over(prev, {"SOL/USDT:USDT": "x"}, fresh, now=NOW)
    assert carried == [] and "has no data/sol-usdt.json" in not_kept["SOL/USDT:USDT"]
    _, carried, not_kept = carry_over(None, {"SOL/USDT:USDT": "x"}, fresh, now=NOW)
    assert "no previous site" in not_kept["SOL/USDT:USDT"]


def test_corrupt_previous_json_is_not_kept(tmp_path: Path) -> None:
    prev = previous_site(tmp_path)
    (prev / "data/eth-usdt.json").write_text('{"symbol": "ETH/USDT:USDT"}')
    _, carried, not_kept = carry_over(prev, {"ETH/USDT:USDT": "x"}, make_site({"BTC/USDT:USDT": "btc-usdt"}),
                                      now=NOW)
    assert carried == [] and "does not match the schema" in not_kept["ETH/USDT:USDT"]


def test_kept_pages_with_links_to_vanished_pages_are_dropped(tmp_path: Path) -> None:
    three = {**BOTH, "SOL/USDT:USDT": "sol-usdt"}
    prev = previous_site(tmp_path, make_site(three))
    # ETH's old page links to SOL; SOL is neither fresh nor kept (not in the failed list)
    eth = (prev / "eth-usdt/index.html").read_bytes().replace(b"</body>", b"<a href='../sol-usdt/'>SOL</a></body>")
    (prev / "eth-usdt/index.html").write_bytes(eth)
    fresh = make_site({"BTC/USDT:USDT": "btc-usdt"})
    merged, carried, not_kept = carry_over(prev, {"ETH/USDT:USDT": "x"}, fresh, now=NOW)
    assert carried == []
    assert "links to sol-usdt/index.html" in not_kept["ETH/USDT:USDT"]
    assert merged == fresh


def test_old_versioned_assets_are_never_taken_from_the_previous_tree(tmp_path: Path) -> None:
    """The previous tree comes from a cache: a script there may have been replaced (issue 11 item 2)."""
    files = make_site(BOTH)
    files["static/bokeh-3.8.0.min.js"] = b"/* old bokeh */"
    files["eth-usdt/index.html"] = files["eth-usdt/index.html"].replace(
        b"</head>", b"<script src='../static/bokeh-3.8.0.min.js'></script></head>")
    prev = previous_site(tmp_path, files)
    fresh = make_site({"BTC/USDT:USDT": "btc-usdt"})
    merged, carried, not_kept = carry_over(prev, {"ETH/USDT:USDT": "x"}, fresh, now=NOW)
    assert carried == [] and "static/bokeh-3.8.0.min.js" not in merged
    assert "links to static/bokeh-3.8.0.min.js, which is not in the new site" in not_kept["ETH/USDT:USDT"]
    # the same asset written by this build: the page is carried
    fresh["static/bokeh-3.8.0.min.js"] = b"/* bokeh of this build */"
    merged, [_], _ = carry_over(prev, {"ETH/USDT:USDT": "x"}, fresh, now=NOW)
    assert merged["static/bokeh-3.8.0.min.js"] == b"/* bokeh of this build */"
    assert check_files(merged) == []


def test_mark_html_stale_replaces_existing_attributes() -> None:
    since = datetime(2026, 1, 1, 10, tzinfo=UTC)
    html = b'<html><body class="sym" data-stale="false" data-stale-since=\'\' data-as-of="x">hi</body></html>'
    out = mark_html_stale(html, since)
    assert out == (b'<html><body data-stale="true" data-stale-since="2026-01-01T10:00:00Z" class="sym" '
                   b'data-as-of="x">hi</body></html>')
    assert mark_html_stale(b"no body", since) == b"no body"
    # the renderer's badge is shown with the time of the last good data
    badge = (b'<body><span class="badge stale" data-stale-badge data-asof="2026-01-01T10:00:00Z" '
             b'data-stale-after="2" hidden>stale</span></body>')
    assert mark_html_stale(badge, since) == (
        b'<body data-stale="true" data-stale-since="2026-01-01T10:00:00Z"><span class="badge stale" '
        b'data-stale-badge data-asof="2026-01-01T10:00:00Z" data-stale-after="2">'
        b"stale since 2026-01-01 10:00 UTC</span></body>")


def test_symbol_paths_do_not_mix_up_symbols() -> None:
    names = {"btc-usdt/index.html", "btc-usdt/12h/index.html", "og/btc-usdt.png", "og/btc-usdt-thumb.png",
             "og/btc-usdc.png", "btc-usdc/index.html", "data/btc-usdt.json", "embed/btc-usdt/index.html",
             "data/btc-usdt.csv", "static/btc-usdt.css", "btc-usdt/notes.txt", "embed/btc-usdt/x.js"}
    assert symbol_paths(names, "btc-usdt") == sorted(
        ["btc-usdt/index.html", "btc-usdt/12h/index.html", "og/btc-usdt.png", "og/btc-usdt-thumb.png",
         "data/btc-usdt.json", "embed/btc-usdt/index.html", "data/btc-usdt.csv"])


def test_snapshots_accumulate_and_expire(tmp_path: Path) -> None:
    out = tmp_path / "site"
    t0 = datetime(2026, 1, 29, 17, 30, tzinfo=UTC)
    write_site(add_snapshots(make_site(BOTH), out, now=t0, retention_hours=3), out)
    for h in (1, 2, 3):
        t = t0.replace(hour=17 + h)
        files = add_snapshots(make_site(BOTH), out, now=t, retention_hours=3)
        write_site(files, out)
    index = json.loads((out / "snapshots/index.json").read_bytes())
    assert [e["hour"] for e in index["snapshots"]] == ["2026-01-29T20", "2026-01-29T19", "2026-01-29T18"]
    assert index["snapshots"][0]["files"] == {
        "btc-usdt": "snapshots/2026-01-29T20/btc-usdt.json", "eth-usdt": "snapshots/2026-01-29T20/eth-usdt.json"}
    assert not (out / "snapshots/2026-01-29T17").exists()
    snap = json.loads((out / "snapshots/2026-01-29T19/btc-usdt.json").read_bytes())
    assert snap["hour"] == "2026-01-29T19" and snap["long_usd"] == [1000000, 0]
    assert snap["clusters"] == [{"side": "long", "price": 95.0, "usd": 1e6, "distance_pct": -5.0}]
    assert (out / "snapshots/2026-01-29T19/btc-usdt.json").stat().st_size < 2000


def test_stale_symbols_get_no_new_snapshot(tmp_path: Path) -> None:
    prev = previous_site(tmp_path)
    fresh = make_site({"BTC/USDT:USDT": "btc-usdt"})
    merged, _, _ = carry_over(prev, {"ETH/USDT:USDT": "x"}, fresh, now=NOW)
    files = add_snapshots(merged, prev, now=NOW)
    hour = hour_key(NOW)
    assert f"snapshots/{hour}/btc-usdt.json" in files
    assert f"snapshots/{hour}/eth-usdt.json" not in files
    assert check_files(files) == []
