"""Issue 11 item 1: a build keeps the files a user put in the output folder.

GitHub Pages users keep ``CNAME`` and ``.nojekyll`` in the published folder; others keep
notes or a ``.git/``. The writer keeps everything it did not write (linking, never
following links), refuses before changing anything when the new site would overwrite
one of them, and a store folder inside the output folder is refused at config time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sitefactory import make_site

from sitegen.cli import main
from sitegen.config import load_config
from sitegen.errors import BuildError, ConfigError
from sitegen.site import writer
from sitegen.site.check import check_site
from sitegen.site.writer import MARKER, user_entries, write_site
from tests.conftest import small_config

# The pages and files are the point here, not the image bytes (conftest.quick_png).
pytestmark = pytest.mark.usefixtures("quick_png")


def _add_user_files(out: Path) -> None:
    (out / "CNAME").write_text("heat.example.org\n")
    (out / ".nojekyll").write_bytes(b"")
    (out / "NOTES.md").write_text("# my notes\n")
    (out / ".git" / "refs" / "heads").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / ".git" / "empty").mkdir()
    (out / "btc-usdt" / "mine.txt").write_text("a note beside a symbol page\n")
    os.symlink("/etc/hostname", out / "link-to-elsewhere")


def _assert_user_files(out: Path) -> None:
    assert (out / "CNAME").read_text() == "heat.example.org\n"
    assert (out / ".nojekyll").is_file()
    assert (out / "NOTES.md").read_text() == "# my notes\n"
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (out / ".git" / "refs" / "heads").is_dir() and (out / ".git" / "empty").is_dir()
    assert (out / "btc-usdt" / "mine.txt").is_file()
    assert (out / "link-to-elsewhere").is_symlink()
    assert os.readlink(out / "link-to-elsewhere") == "/etc/hostname"


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_rebuild_keeps_what_liqmap_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    if not exchange:
        monkeypatch.setattr(writer, "_exchange", lambda a, b: False)
    out = tmp_path / "site"
    write_site(make_site({"BTC/USDT:USDT": "btc-usdt", "XRP/USDT:USDT": "xrp-usdt"}), out)
    _add_user_files(out)
    write_site(make_site({"BTC/USDT:USDT": "btc-usdt"}), out)
    _assert_user_files(out)
    assert not (out / "xrp-usdt").exists()  # what liqmap wrote before and not now is gone
    assert not (out / "data" / "xrp-usdt.json").exists()
    # the user's link is kept, and `liqmap check` says it must not be published
    assert [p.split(":")[0] for p in check_site(out)] == ["link-to-elsewhere"]
    written = json.loads((out / MARKER).read_text())["written"]
    assert "CNAME" not in written and "index.html" in written
    # and again: the kept files are still the user's, not adopted by liqmap
    write_site(make_site({"BTC/USDT:USDT": "btc-usdt"}), out)
    _assert_user_files(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_a_user_file_the_new_site_would_overwrite_stops_the_build(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(make_site({"BTC/USDT:USDT": "btc-usdt"}), out)
    (out / "eth-usdt").mkdir()
    (out / "eth-usdt" / "index.html").write_text("my own page\n")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    with pytest.raises(BuildError) as e:
        write_site(make_site({"BTC/USDT:USDT": "btc-usdt", "ETH/USDT:USDT": "eth-usdt"}), out)
    assert "eth-usdt/index.html" in str(e.value) and "Nothing was changed" in str(e.value)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert (out / "eth-usdt" / "index.html").read_text() == "my own page\n"


def test_tree_of_an_older_version_keeps_what_the_new_build_does_not_write(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(make_site(), out)
    (out / MARKER).write_text(json.dumps({"files": 3}) + "\n")  # the marker before it had a list
    (out / "CNAME").write_text("heat.example.org\n")
    assert user_entries(out, make_site()) == ["CNAME"]
    write_site(make_site(), out)
    assert (out / "CNAME").is_file()


def test_state_folder_inside_the_output_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inside the output folder"):
        load_config(None, out_dir=tmp_path / "s", state_dir=tmp_path / "s" / ".liqmap")
    with pytest.raises(ConfigError, match="inside the output folder"):
        load_config(None, out_dir=tmp_path / "s", state_dir=tmp_path / "s")
    load_config(None, out_dir=tmp_path / "s", state_dir=tmp_path / ".liqmap")  # beside it: fine


def test_cli_state_inside_out_exits_2_and_keeps_the_store(tmp_path: Path) -> None:
    out = tmp_path / "s"
    store = out / ".liqmap" / "liqmap.sqlite"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"fetched history")
    res = CliRunner().invoke(main, ["build", "--sample", "--out", str(out), "--state", str(out / ".liqmap")])
    assert res.exit_code == 2, res.output
    assert "inside the output folder" in res.output and "--state" in res.output
    assert store.read_bytes() == b"fetched history"


def test_sample_build_keeps_cname_through_the_cli(sample_site: Path, tmp_path: Path) -> None:
    """End to end through the CLI: a site liqmap built, add CNAME and .nojekyll, build again.

    The first build is the session's sample site (conftest.sample_site, copied); the second is
    the real command, in-process (CliRunner) with one symbol and one range
    (conftest.small_config): the point is the writer behind the real command, not the pages.
    """
    out = tmp_path / "site"
    shutil.copytree(sample_site, out, symlinks=True)
    (out / "CNAME").write_text("heat.example.org\n")
    (out / ".nojekyll").write_bytes(b"")
    args = ["build", "--sample", "-q", "--config", str(small_config(tmp_path)), "--out", str(out),
            "--symbols", "BTC/USDT:USDT"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert (out / "CNAME").read_text() == "heat.example.org\n" and (out / ".nojekyll").is_file()
    assert (out / "btc-usdt" / "index.html").is_file()
    assert not (out / "eth-usdt").exists()  # what the first build wrote and this one did not is gone


def test_a_folder_liqmap_never_wrote_is_refused_naming_what_is_there(tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "CNAME").write_text("heat.example.org\n")
    (out / "thesis.tex").write_text("precious\n")
    with pytest.raises(BuildError) as e:
        write_site(make_site(), out)
    assert "CNAME, thesis.tex" in str(e.value) and "nothing was changed" in str(e.value)
    assert sorted(p.name for p in out.iterdir()) == ["CNAME", "thesis.tex"]
