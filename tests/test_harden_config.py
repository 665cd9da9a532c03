"""Issue 11 items 7 and 11: settle-currency slug collisions and hostile base URLs.

Both are refused at config time (exit 2, the setting named); what passes is escaped
wherever it is written (robots.txt, canonical links, sitemap, feed, oEmbed).
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from sitegen.cli import main
from sitegen.config import check_base_url, check_slug_collisions, load_config
from sitegen.errors import ConfigError
from sitegen.render.feeds import robots_value

# The pages and files are the point here, not the image bytes (conftest.quick_png).
pytestmark = pytest.mark.usefixtures("quick_png")


def test_symbols_differing_only_by_settle_currency_are_refused() -> None:
    assert check_slug_collisions(["BTC/USDT:USDT", "ETH/USDT:USDT"]) == {}
    with pytest.raises(ConfigError) as e:
        load_config(None, symbols="BTC/USDT:USDT,BTC/USDT:BTC")
    msg = str(e.value)
    assert "--symbols[1]" in msg and "'BTC/USDT:BTC'" in msg and "'BTC/USDT:USDT'" in msg
    assert "btc-usdt/" in msg and "settle currency" in msg


def test_cli_refuses_the_collision_with_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "site"
    res = CliRunner().invoke(main, ["build", "--sample", "--out", str(out),
                                    "--symbols", "BTC/USDT:USDT,BTC/USDT:BTC"])
    assert res.exit_code == 2, res.output
    assert "settle currency" in res.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://example.test/\nDisallow: /", "'\\n'"),
        ("https://example.test/x y/", "' '"),
        ("https://example.test/?utm=1", "query string"),
        ("https://example.test/#top", "fragment"),
        ('https://example.test/"onload="x', "'\"'"),
        ("https://example.test/a'b/", "\"'\""),
        ("https://example.test/<b>/", "'<'"),
        ("https://alice:hunter2@example.test/", "user name or password"),
        ("ftp://example.test/", "absolute http(s) URL"),
        ("/liqmap/", "absolute http(s) URL"),
        ("https://example.test:99999/", "not a valid URL"),
    ],
)
def test_bad_base_urls_are_refused_naming_the_setting(url: str, why: str) -> None:
    with pytest.raises(ValueError) as direct:
        check_base_url(url)
    assert why in str(direct.value)
    with pytest.raises(ConfigError) as e:
        load_config(None, base_url=url)
    assert "--base-url" in str(e.value) and why in str(e.value)


def test_good_base_urls_are_normalised() -> None:
    assert check_base_url("https://me.github.io/heat") == "https://me.github.io/heat/"
    assert check_base_url("http://localhost:8000/") == "http://localhost:8000/"
    assert check_base_url("https://example.test/a&b/") == "https://example.test/a&b/"


def test_config_file_base_url_error_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "liqmap.toml"
    cfg.write_text('[site]\nbase_url = "https://example.test/\\nDisallow: /"\n', encoding="utf-8")
    res = CliRunner().invoke(main, ["build", "--sample", "--config", str(cfg), "--out", str(tmp_path / "s")])
    assert res.exit_code == 2
    assert "[site] base_url" in res.output and "Traceback" not in res.output


def test_robots_value_cannot_carry_a_line_break() -> None:
    assert robots_value("/a\nDisallow: /") == "/a%0ADisallow:%20/"


@pytest.fixture(scope="module")
def amp_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sample build whose base URL needs escaping in HTML and XML ('&')."""
    from sitegen.build import build_site
    from tests.conftest import BUILD_TIME

    out = tmp_path_factory.mktemp("amp") / "site"
    config = load_config(None, out_dir=out, base_url="https://example.test/r&d/", symbols="BTC/USDT:USDT",
                         ranges="12h")  # one range: every kind of file, a tenth of the pages
    build_site(config, sample=True, now=BUILD_TIME)
    return out


def test_base_url_is_escaped_wherever_it_is_written(amp_site: Path) -> None:
    base = "https://example.test/r&d/"
    robots = (amp_site / "robots.txt").read_text()
    assert "Disallow: /r&d/embed/" in robots and f"Sitemap: {base}sitemap.xml" in robots
    assert len(robots.splitlines()) == 6
    # XML parses (a raw '&' would not) and gives the URL back
    locs = [e.text for e in ElementTree.parse(amp_site / "sitemap.xml").iter()
            if e.tag.endswith("loc")]
    assert f"{base}btc-usdt/" in locs
    feed = ElementTree.parse(amp_site / "feed.xml").getroot()
    assert feed.find("{http://www.w3.org/2005/Atom}id").text == base  # type: ignore[union-attr]
    page = (amp_site / "btc-usdt" / "index.html").read_text()
    assert 'href="https://example.test/r&amp;d/btc-usdt/"' in page
    canonical = BeautifulSoup(page, "html.parser").find("link", rel="canonical")
    assert canonical["href"] == f"{base}btc-usdt/"  # type: ignore[index]
    oembed = json.loads((amp_site / "oembed" / "btc-usdt.json").read_text())
    assert 'src="https://example.test/r&amp;d/embed/btc-usdt/"' in oembed["html"]
    iframe = BeautifulSoup(oembed["html"], "html.parser").find("iframe")
    assert iframe["src"] == f"{base}embed/btc-usdt/"  # type: ignore[index]


def test_check_refuses_a_bad_base_url_with_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["check", str(tmp_path), "--base-url", "https://example.test/?q=1"])
    assert res.exit_code == 2 and "--base-url" in res.output and "query string" in res.output
