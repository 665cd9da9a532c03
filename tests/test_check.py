"""`check_site` accepts a complete tree and rejects each kind of breakage with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sitefactory import make_site, symbol_json

from sitegen.schemas import validate
from sitegen.site.check import check_site


def write(files: dict[str, bytes], root: Path) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    return root


def problems_after(tmp_path: Path, change) -> list[str]:
    files = make_site()
    change(files)
    return check_site(write(files, tmp_path / "site"))


def test_complete_site_passes(tmp_path: Path) -> None:
    assert check_site(write(make_site(), tmp_path / "site")) == []


def test_not_a_folder(tmp_path: Path) -> None:
    [problem] = check_site(tmp_path / "nope")
    assert "not a folder" in problem


@pytest.mark.parametrize(
    ("missing", "why"),
    [
        ("index.html", "every site has it"),
        ("feed.xml", "every site has it"),
        ("btc-usdt/index.html", "lists symbol btc-usdt"),
        ("eth-usdt/24h/index.html", "lists range 24h"),
        ("embed/eth-usdt/index.html", "lists symbol eth-usdt"),
        ("og/btc-usdt.png", "lists symbol btc-usdt"),
        ("data/btc-usdt.csv", "lists symbol btc-usdt"),
        ("embed/btc-usdt/doc.js", "lists symbol btc-usdt"),
        ("eth-usdt/24h/doc.js", "lists range 24h"),
    ],
)
def test_missing_page(tmp_path: Path, missing: str, why: str) -> None:
    problems = problems_after(tmp_path, lambda f: f.pop(missing))
    assert any(p.startswith(f"{missing}: missing") and why in p for p in problems), problems


def test_no_symbols_at_all(tmp_path: Path) -> None:
    def drop(f: dict[str, bytes]) -> None:
        for k in [k for k in f if k.startswith("data/") and k.endswith(".json")]:
            del f[k]

    assert any("no data/<slug>.json" in p for p in problems_after(tmp_path, drop))


def test_broken_links(tmp_path: Path) -> None:
    def breakage(f: dict[str, bytes]) -> None:
        f["methodology/index.html"] = f["methodology/index.html"].replace(
            b"<p>model</p>", b"<p>model</p><a href='../sol-usdt/'>x</a><img src='../og/none.png'>"
            b"<a href='/btc-usdt/'>root</a><a href='../../outside.html'>out</a>"
            b"<a href='https://elsewhere.test/'>fine</a><a href='#top'>fine</a><a href='/liqmap/btc-usdt/'>fine</a>"
            b"<a href='../btc-usdt/12h/#x'>fine</a><a href='../btc-usdt'>fine</a>"
        )

    problems = problems_after(tmp_path, breakage)
    mine = [p for p in problems if p.startswith("methodology/index.html")]
    assert len(mine) == 4, problems
    assert any("broken link '../sol-usdt/'" in p and "sol-usdt/index.html" in p for p in mine)
    assert any("broken link '../og/none.png'" in p for p in mine)
    assert any("root-relative link '/btc-usdt/'" in p for p in mine)
    assert any("outside the site" in p for p in mine)


def test_broken_css_asset(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda f: f.pop("static/img/bg.svg"))
    assert problems == ["static/site.css: broken link 'img/bg.svg' (no file 'static/img/bg.svg' in the site)"]


def test_broken_sitemap_entry(tmp_path: Path) -> None:
    def breakage(f: dict[str, bytes]) -> None:
        f["sitemap.xml"] = f["sitemap.xml"].replace(b"btc-usdt/", b"xrp-usdt/")

    problems = problems_after(tmp_path, breakage)
    assert any(p.startswith("sitemap.xml: broken link 'https://example.test/liqmap/xrp-usdt/'") for p in problems)


def test_malformed_xml(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda f: f.update({"feed.xml": b"<feed><entry></feed>"}))
    assert any(p.startswith("feed.xml: not well-formed XML") for p in problems)


@pytest.mark.parametrize("bad", [b"{not json", b'{"a": NaN}', b"\xff\xfe"])
def test_bad_json(tmp_path: Path, bad: bytes) -> None:
    problems = problems_after(tmp_path, lambda f: f.update({"data/btc-usdt.json": bad}))
    assert any(p.startswith("data/btc-usdt.json: not valid JSON") for p in problems), problems


@pytest.mark.parametrize("bad", [
    b'window.liqmapDoc={};alert(1);\n', b"window.liqmapDoc=[1,;\n", b'window.liqmapDoc="x";\n', b"alert(1)\n",
])
def test_a_document_file_that_is_more_than_one_json_assignment(tmp_path: Path, bad: bytes) -> None:
    problems = problems_after(tmp_path, lambda f: f.update({"btc-usdt/12h/doc.js": bad}))
    assert any(p.startswith("btc-usdt/12h/doc.js: ") for p in problems), problems


def test_bad_json_outside_data(tmp_path: Path) -> None:
    problems = problems_after(tmp_path, lambda f: f.update({"static/extra.json": b"[1,"}))
    assert any(p.startswith("static/extra.json: not valid JSON") for p in problems)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("generated_at"), "missing required key 'generated_at'"),
        (lambda d: d.update(stale="no"), "$.stale: expected true/false"),
        (lambda d: d.update(ranges=["5y"]), "$.ranges[0]: expected one of"),
        (lambda d: d.update(symbol="BTCUSDT"), "$.symbol: 'BTCUSDT' does not match"),
        (lambda d: d.update(generated_at="yesterday"), "$.generated_at: 'yesterday' does not match"),
        (lambda d: d["clusters"][0].update(usd=-1), "$.clusters[0].usd: expected a number >= 0"),
        (lambda d: d.update(parameters=[1]), "$.parameters: expected an object"),
        (lambda d: d.update(stale_since=5), "$.stale_since: expected a string"),
    ],
)
def test_schema_mismatch(tmp_path: Path, mutate, expected: str) -> None:
    data = symbol_json("BTC/USDT:USDT", "btc-usdt", ["12h", "24h"])
    mutate(data)
    problems = problems_after(tmp_path, lambda f: f.update({"data/btc-usdt.json": json.dumps(data).encode()}))
    assert any(p.startswith("data/btc-usdt.json: schema:") and expected in p for p in problems), problems


def test_slug_must_match_file_name(tmp_path: Path) -> None:
    data = symbol_json("BTC/USDT:USDT", "eth-usdt", ["12h", "24h"])
    problems = problems_after(tmp_path, lambda f: f.update({"data/btc-usdt.json": json.dumps(data).encode()}))
    assert any("does not match the file name 'btc-usdt'" in p for p in problems)


def test_empty_page_and_empty_file(tmp_path: Path) -> None:
    def breakage(f: dict[str, bytes]) -> None:
        f["btc-usdt/12h/index.html"] = b"<!doctype html><html><head><title>t</title></head><body>\n</body></html>"
        f["404.html"] = b""
        f["methodology/index.html"] = b"<html><body><p>text but no title</p></body></html>"

    problems = problems_after(tmp_path, breakage)
    assert "btc-usdt/12h/index.html: page is empty (no visible text, image or chart)" in problems
    assert "404.html: empty file" in problems
    assert "methodology/index.html: page has no <title>" in problems


def test_snapshot_schema_checked(tmp_path: Path) -> None:
    def add(f: dict[str, bytes]) -> None:
        f["snapshots/2026-01-29T17/btc-usdt.json"] = b'{"symbol": "BTC/USDT:USDT"}'
        f["snapshots/index.json"] = b'{"generated_at": "2026-01-29T18:00:00Z", "retention_hours": 0, "snapshots": []}'

    problems = problems_after(tmp_path, add)
    assert any(p.startswith("snapshots/2026-01-29T17/btc-usdt.json: schema: $: missing required key 'slug'")
               for p in problems)
    assert any(p.startswith("snapshots/index.json: schema: $.retention_hours") for p in problems)


def test_validator_rejects_bool_for_number_and_nan() -> None:
    good = symbol_json("BTC/USDT:USDT", "btc-usdt", ["12h"])
    assert validate({**good, "last_price": True}, "symbol") == ["$.last_price: expected a number, got true/false true"]
    nan = validate({**good, "last_price": float("nan")}, "symbol")
    assert nan == ["$.last_price: expected a finite number, got nan"]
    assert validate({**good, "last_price": 3}, "symbol") == []


def test_cli_check_command(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sitegen.cli import main

    if "check" not in main.commands:  # type: ignore[attr-defined]
        pytest.fail("liqmap check is not registered in sitegen/cli.py")
    good = write(make_site(), tmp_path / "good")
    result = CliRunner().invoke(main, ["check", str(good)])
    assert result.exit_code == 0, result.output
    files = make_site()
    files.pop("btc-usdt/24h/index.html")
    bad = write(files, tmp_path / "bad")
    result = CliRunner().invoke(main, ["check", str(bad)])
    assert result.exit_code != 0
    assert "btc-usdt/24h/index.html: missing" in result.output


def test_the_real_sample_site_passes_and_each_breakage_is_caught(sample_site: Path, tmp_path: Path) -> None:
    import shutil

    assert check_site(sample_site) == []
    broken = tmp_path / "site"
    shutil.copytree(sample_site, broken)
    (broken / "btc-usdt" / "24h" / "index.html").unlink()
    bokeh = next((broken / "static" / "bokeh").rglob("*.js"))
    bokeh.unlink()
    (broken / "data" / "eth-usdt.json").write_text('{"symbol": "ETH/USDT:USDT", "slug": "eth-usdt"}')
    (broken / "methodology" / "index.html").write_text("")
    problems = check_site(broken)
    assert "btc-usdt/24h/index.html: missing (data/btc-usdt.json lists range 24h; the renderer must write it)" \
        in problems
    rel_bokeh = bokeh.relative_to(broken).as_posix()
    assert any(p.startswith("btc-usdt/index.html: broken link") and rel_bokeh in p for p in problems)
    assert any(p.startswith("data/eth-usdt.json: schema: $: missing required key 'generated_at'") for p in problems)
    assert "methodology/index.html: empty file" in problems
