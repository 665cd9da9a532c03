"""Keep last good through the real build: one symbol failing, one exchange failing, all failing.

Uses ``build_site(config, source=...)`` with the embedded sample behind a source that fails
on purpose; the first, good build is shared by the tests (copied per test).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from sitegen.build import build_site
from sitegen.config import load_config
from sitegen.errors import BuildError, SourceError
from sitegen.series import MarketSeries
from sitegen.site.check import check_site
from sitegen.sources.sample import SAMPLE_SYMBOLS, SampleSource

# Whole-site builds (a minute of CPU): run by CI with -m slow, not in the inner loop.
pytestmark = pytest.mark.slow

T0 = datetime(2026, 1, 29, 18, 5, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
RANGES = "12h,24h"  # fewer pages: these tests are about the tree, not the charts


class FlakySource:
    """The sample, served as two exchanges; fails for the given (exchange, symbol) pairs."""

    name = "flaky"
    exchanges = ("binanceusdm", "okx")

    def __init__(self, fail_symbols: tuple[str, ...] = (), fail_exchanges: tuple[str, ...] = ()) -> None:
        self.sample = SampleSource()
        self.fail_symbols = fail_symbols
        self.fail_exchanges = fail_exchanges

    def load(self, exchange: str, symbol: str) -> MarketSeries:
        if symbol in self.fail_symbols or exchange in self.fail_exchanges:
            raise SourceError(f"{exchange} {symbol}: HTTP 451 restricted location (test)")
        series = self.sample.load("binanceusdm", symbol)
        return dataclasses.replace(series, exchange=exchange)


def config(out: Path, **kw):
    # The sample's SOL series ends 6 h before BTC and ETH: 12 h keeps all three fresh at T0/T1.
    kw.setdefault("stale_after_hours", 12)
    kw.setdefault("symbols", list(SAMPLE_SYMBOLS))  # the sample's three, not the default list
    return load_config(None, out_dir=out, ranges=RANGES, base_url="https://example.test/liqmap/", **kw)


def build(out: Path, source: FlakySource, now: datetime, **kw):
    return build_site(config(out, **kw), source=source, exchanges=source.exchanges, now=now)


@pytest.fixture(scope="module")
def good_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("good") / "site"
    result = build(out, FlakySource(), T0)
    assert result.stale == () and result.failed == ()
    return out


@pytest.fixture
def site(good_site: Path, tmp_path: Path) -> Path:
    out = tmp_path / "site"
    shutil.copytree(good_site, out)
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def data(root: Path, slug: str) -> dict:
    return json.loads((root / "data" / f"{slug}.json").read_bytes())


def test_one_symbol_failing_keeps_its_last_good_pages(site: Path) -> None:
    before = snapshot(site)
    result = build(site, FlakySource(fail_symbols=("ETH/USDT:USDT",)), T1)
    assert result.fresh == ("BTC/USDT:USDT", "SOL/USDT:USDT")
    assert result.stale == ("ETH/USDT:USDT",) and result.failed == ()
    assert any(n.startswith("ETH/USDT:USDT: ") and "marked stale" in n for n in result.notes)
    eth = data(site, "eth-usdt")
    assert eth["stale"] is True
    assert eth["stale_since"] == data_before(before, "eth-usdt")["as_of"]
    assert eth["generated_at"] == "2026-01-29T18:05:00Z"  # the build that made it
    assert data(site, "btc-usdt")["generated_at"] == "2026-01-29T19:05:00Z"
    assert data(site, "btc-usdt")["stale"] is False
    since = datetime.fromisoformat(eth["stale_since"].replace("Z", "+00:00"))
    for rel in ("eth-usdt/index.html", "eth-usdt/24h/index.html", "embed/eth-usdt/index.html",
                "eth-usdt/x/okx/index.html"):  # the exchange pages are carried too
        page = BeautifulSoup((site / rel).read_bytes(), "html.parser")
        assert page.body["data-stale"] == "true"
        badges = page.select("[data-stale-badge]")
        assert badges, f"{rel}: the renderer's stale badge is missing"
        for b in badges:
            assert not b.has_attr("hidden")
            assert b.get_text() == f"stale since {since:%Y-%m-%d %H:%M} UTC"
    fresh_page = BeautifulSoup((site / "btc-usdt/index.html").read_bytes(), "html.parser")
    assert all(b.has_attr("hidden") for b in fresh_page.select("[data-stale-badge]"))
    assert (site / "og/eth-usdt.png").read_bytes() == before["og/eth-usdt.png"]
    assert check_site(site) == []
    # the stale symbol gets no new snapshot; the fresh ones do, and the old hour is kept
    index = json.loads((site / "snapshots/index.json").read_bytes())
    hours = {e["hour"]: set(e["files"]) for e in index["snapshots"]}
    assert hours["2026-01-29T19"] == {"btc-usdt", "sol-usdt"}
    assert hours["2026-01-29T18"] == {"btc-usdt", "eth-usdt", "sol-usdt"}
    # the kept symbol stays listed: index row (marked stale), navigation, sitemap
    index_page = BeautifulSoup((site / "index.html").read_bytes(), "html.parser")
    row = index_page.select_one("tr.kept")
    assert row is not None and row.select_one('a[href="eth-usdt/index.html"]') is not None
    assert "stale since" in row.get_text(" ")
    assert index_page.select_one('nav a[href="eth-usdt/index.html"]') is not None
    assert "https://example.test/liqmap/eth-usdt/" in (site / "sitemap.xml").read_text(encoding="utf-8")


def data_before(files: dict[str, bytes], slug: str) -> dict:
    return json.loads(files[f"data/{slug}.json"])


def test_one_exchange_failing_still_builds_every_symbol_fresh(site: Path) -> None:
    assert data(site, "btc-usdt")["exchanges"] == ["binanceusdm", "okx"]
    result = build(site, FlakySource(fail_exchanges=("okx",)), T1)
    assert len(result.fresh) == 3 and result.stale == () and result.failed == ()
    btc = data(site, "btc-usdt")
    assert btc["exchanges"] == ["binanceusdm"]
    assert btc["failed_exchanges"] == ["okx"]  # named in the data JSON (and on the page)
    assert btc["stale"] is False
    assert any("okx" in n and "451" in n for n in btc["notes"])
    assert check_site(site) == []


def test_kept_set_is_decided_before_rendering_so_the_site_renders_once(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SOL leaves the config while ETH fails: ETH's old pages link to SOL's, so ETH cannot be
    kept. That is known from the site plan before rendering; every file renders once."""
    import sitegen.render.pages

    calls: list[str] = []
    real_symbol, real_global = sitegen.render.pages.render_symbol, sitegen.render.pages.render_global_files

    def symbol(site, report, **kw):
        calls.append(report.symbol)
        return real_symbol(site, report, **kw)

    def global_files(*a, **kw):
        calls.append("global")
        return real_global(*a, **kw)

    monkeypatch.setattr(sitegen.render.pages, "render_symbol", symbol)
    monkeypatch.setattr(sitegen.render.pages, "render_global_files", global_files)  # assemble imports it late
    result = build(site, FlakySource(fail_symbols=("ETH/USDT:USDT",)), T1, symbols="BTC/USDT:USDT,ETH/USDT:USDT",
                   workers=1)
    assert calls == ["BTC/USDT:USDT", "global"]
    assert result.failed == ("ETH/USDT:USDT",) and result.stale == ()
    assert any("ETH/USDT:USDT" in n and "sol-usdt" in n for n in result.notes)
    assert not (site / "data/eth-usdt.json").exists()
    assert check_site(site) == []


def test_all_failing_writes_nothing_and_raises(site: Path) -> None:
    before = snapshot(site)
    with pytest.raises(BuildError, match=r"only 0 of 3 symbols have fresh data .*nothing was written"):
        build(site, FlakySource(fail_exchanges=("binanceusdm", "okx")), T1)
    assert snapshot(site) == before
    assert [p.name for p in site.parent.iterdir()] == ["site"]  # no temp dir left behind


def test_below_min_fresh_share_writes_nothing(site: Path) -> None:
    before = snapshot(site)
    with pytest.raises(BuildError, match="only 1 of 3"):
        build(site, FlakySource(fail_symbols=("ETH/USDT:USDT", "SOL/USDT:USDT")), T1, min_fresh_share=0.5)
    assert snapshot(site) == before


def test_failing_symbol_without_previous_site_is_reported_failed(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = build(out, FlakySource(fail_symbols=("SOL/USDT:USDT",)), T1)
    assert result.failed == ("SOL/USDT:USDT",) and result.stale == ()
    assert any("SOL/USDT:USDT" in n and "not shown" in n for n in result.notes)
    assert not (out / "data/sol-usdt.json").exists()
    assert check_site(out) == []


def test_cli_exit_codes(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`liqmap build` exits 0 with stale symbols, non-zero when too few are fresh."""
    from click.testing import CliRunner

    import sitegen.build
    from sitegen.cli import main

    real = sitegen.build.build_site

    def with_source(fail: tuple[str, ...]):
        def run(cfg, **kw):
            src = FlakySource(fail_exchanges=fail)
            return real(cfg, source=src, exchanges=src.exchanges, now=T1)
        return run

    args = ["build", "--out", str(site), "--base-url", "https://example.test/liqmap/", "--symbols",
            "BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT"]
    monkeypatch.setattr(sitegen.build, "build_site", with_source(("okx",)))
    ok = CliRunner().invoke(main, args)
    assert ok.exit_code == 0, ok.output
    monkeypatch.setattr(sitegen.build, "build_site", with_source(("okx", "binanceusdm")))
    bad = CliRunner().invoke(main, args)
    assert bad.exit_code != 0
    assert "nothing was written" in bad.output


def test_a_full_disk_halfway_leaves_the_old_site_and_no_temp_tree(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build streams each symbol's files into the staged tree: a write failing after the
    first symbol was written stops the build, the previous site stays, the temp tree goes."""
    import errno

    import sitegen.site.writer

    real = sitegen.site.writer.write_tree
    writes: list[int] = []

    def failing(files, root):
        writes.append(len(files))
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(root / "eth-usdt"))
        return real(files, root)

    monkeypatch.setattr(sitegen.site.writer, "write_tree", failing)
    before = snapshot(site)
    with pytest.raises(BuildError, match="disk is full"):
        build(site, FlakySource(), T1, workers=1)
    assert len(writes) == 2
    assert snapshot(site) == before
    assert [p.name for p in site.parent.iterdir()] == ["site"]  # no temp dir left behind


def test_a_symbol_that_cannot_be_rendered_keeps_its_last_good_pages(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renderer bug on one symbol's data is that symbol's failure, never the build's: its last
    good pages are kept (listed last in every menu, as on the index) and the site checks clean."""
    import sitegen.render.pages

    real = sitegen.render.pages.render_symbol

    def buggy(site_data, report, **kw):
        if report.symbol == "ETH/USDT:USDT":
            raise ValueError("a renderer bug")
        return real(site_data, report, **kw)

    monkeypatch.setattr(sitegen.render.pages, "render_symbol", buggy)
    result = build(site, FlakySource(), T1, workers=1)
    assert result.stale == ("ETH/USDT:USDT",) and result.failed == ()
    assert any("ETH/USDT:USDT" in n and "renderer bug" in n for n in result.notes)
    assert data(site, "eth-usdt")["stale"] is True
    page = BeautifulSoup((site / "btc-usdt/index.html").read_bytes(), "html.parser")
    nav = page.select('nav[aria-label="Symbols"] a')
    assert [a.get_text() for a in nav] == ["BTC", "SOL", "ETH", "Overview", "Method"]
    assert check_site(site) == []
