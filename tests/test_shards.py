"""Sharded builds: `liqmap build --shard K/N` parts merged by `liqmap assemble` give the same
site as one build of the same data (Bokeh's random ids aside), and parts that do not belong
together are refused with a clear message, writing nothing."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen.assemble import MANIFEST_DIR, manifest_path
from sitegen.build import assemble_site, build_site, parse_shard, shard_symbols
from sitegen.cli import main
from sitegen.config import load_config
from sitegen.errors import BuildError
from sitegen.site.check import check_site
from sitegen.site.writer import MARKER

NOW = datetime(2026, 1, 29, 19, 0, tzinfo=UTC)
SYMBOLS = "BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT"
RANGES = "12h"  # one range: these tests are about the tree, not the charts
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BOKEH_ID = re.compile(rb"(&#34;|&quot;|\")p\d+(&#34;|&quot;|\")")
_DOC_VERSION = re.compile(rb"doc\.js\?v=[0-9a-f]+")  # the hash of doc.js, whose Bokeh ids differ


def config(out: Path, **kw):
    kw.setdefault("symbols", SYMBOLS)
    kw.setdefault("base_url", "https://example.test/liqmap/")
    return load_config(None, out_dir=out, ranges=RANGES, workers=1, **kw)


def tree(root: Path) -> dict[str, bytes]:
    """Every file but the writer's marker, with Bokeh's per-build random ids (and the version
    of each page's doc.js, a hash of them) normalised."""
    return {
        p.relative_to(root).as_posix():
            _DOC_VERSION.sub(b"doc.js?v=#", _BOKEH_ID.sub(b'"p#"', _UUID.sub(b"#", p.read_bytes())))
        for p in sorted(root.rglob("*")) if p.is_file() and p.name != MARKER
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("shards")
    out = {"one": base / "one", "p1": base / "p1", "p2": base / "p2"}
    build_site(config(out["one"]), sample=True, now=NOW)
    build_site(config(out["p1"]), sample=True, now=NOW, shard=(1, 2))
    build_site(config(out["p2"]), sample=True, now=NOW, shard=(2, 2))
    return out


def test_shard_assignment_is_stable_by_position() -> None:
    symbols = ("A", "B", "C", "D", "E")
    assert shard_symbols(symbols, 1, 2) == ("A", "C", "E")
    assert shard_symbols(symbols, 2, 2) == ("B", "D")
    assert sorted(s for k in (1, 2, 3) for s in shard_symbols(symbols, k, 3)) == sorted(symbols)
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "1", "a/b", "1/0"):
        with pytest.raises(BuildError, match="K/N"):
            parse_shard(bad)


@pytest.mark.slow
def test_two_shards_assembled_equal_one_build(built: dict[str, Path], tmp_path: Path) -> None:
    part1 = tree(built["p1"])
    assert manifest_path(1, 2) in part1 and "index.html" not in part1  # a partial tree, not a site
    assert {p.split("/")[0] for p in part1} >= {"btc-usdt", "sol-usdt", MANIFEST_DIR}
    assert not any(p.startswith("eth-usdt/") for p in part1)
    site = tmp_path / "site"
    result = assemble_site(config(site), [built["p2"], built["p1"]])
    assert result.fresh == ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
    assert check_site(site) == []
    one, assembled = tree(built["one"]), tree(site)
    assert sorted(assembled) == sorted(one)
    assert not any(p.startswith(MANIFEST_DIR) for p in assembled)
    differ = [p for p in one if one[p] != assembled[p]]
    assert differ == []


@pytest.mark.slow
def test_assemble_by_the_cli(built: dict[str, Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    args = ["assemble", str(built["p1"]), str(built["p2"]), "--out", str(site), "--symbols", SYMBOLS,
            "--base-url", "https://example.test/liqmap/", "-q"]
    cfg = tmp_path / "liqmap.toml"
    cfg.write_text(f'[data]\nranges = ["{RANGES}"]\n[build]\nworkers = 1\n')
    res = CliRunner().invoke(main, [*args, "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert check_site(site) == []
    assert json.loads((site / "data/eth-usdt.json").read_text())["symbol"] == "ETH/USDT:USDT"


@pytest.mark.slow
@pytest.mark.parametrize(("parts", "kw", "message"), [
    (["p1"], {}, r"shard\(s\) 2/2 missing"),
    (["p1", "p1"], {}, r"shard 1/2 is given twice"),
    (["p1", "p2"], {"base_url": "https://other.test/"}, r"built with base_url"),
    (["p1", "p2"], {"symbols": "BTC/USDT:USDT,ETH/USDT:USDT"}, r"built with symbols"),
    (["one"], {}, r"not a shard's part"),
])
def test_parts_that_do_not_belong_together_are_refused(
    built: dict[str, Path], tmp_path: Path, parts: list[str], kw: dict, message: str
) -> None:
    site = tmp_path / "site"
    shutil.copytree(built["one"], site)
    before = tree(site)
    with pytest.raises(BuildError, match=message):
        assemble_site(config(site, **kw), [built[p] for p in parts])
    assert tree(site) == before  # nothing changed
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # no temp tree left behind


@pytest.mark.slow
def test_a_symbol_in_two_parts_is_refused(built: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "p2"
    shutil.copytree(built["p2"], bad)
    path = bad / manifest_path(2, 2)
    data = json.loads(path.read_text())
    p1 = json.loads((built["p1"] / manifest_path(1, 2)).read_text())
    data["cards"].append(p1["cards"][0])  # BTC, which shard 1 has
    path.write_text(json.dumps(data))
    with pytest.raises(BuildError, match=r"BTC/USDT:USDT is in two parts"):
        assemble_site(config(tmp_path / "site"), [built["p1"], bad])


@pytest.mark.slow
def test_a_part_with_a_link_is_refused(built: dict[str, Path], tmp_path: Path) -> None:
    """Parts come from other jobs: their files are taken only as regular files, never through a link."""
    bad = tmp_path / "p2"
    shutil.copytree(built["p2"], bad)
    shutil.move(bad / "eth-usdt", tmp_path / "elsewhere")
    (bad / "eth-usdt").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BuildError, match=r"eth-usdt: not a folder \(a link\?\)"):
        assemble_site(config(tmp_path / "site"), [built["p1"], bad])
    assert not (tmp_path / "site").exists()
