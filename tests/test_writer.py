"""The atomic writer: complete trees only, refuses unsafe or duplicate paths, recovers leftovers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sitefactory import make_site

from sitegen.errors import BuildError
from sitegen.plan import FileSet
from sitegen.site import writer
from sitegen.site.check import check_site
from sitegen.site.writer import MARKER, write_site


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*") if p.is_file() and p.name != MARKER
    }


def siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p != out)


def test_writes_a_new_tree(tmp_path: Path) -> None:
    out = tmp_path / "site"
    files = make_site()
    write_site(files, out)
    assert tree(out) == files
    assert (out / MARKER).is_file()
    assert check_site(out) == []
    assert siblings(out) == []


def test_replaces_the_previous_tree_completely(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(make_site({"BTC/USDT:USDT": "btc-usdt", "XRP/USDT:USDT": "xrp-usdt"}), out)
    new = make_site({"BTC/USDT:USDT": "btc-usdt"})
    write_site(new, out)
    assert tree(out) == new  # xrp pages of the old tree are gone, not merged
    assert siblings(out) == []


def test_fallback_two_rename_swap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "_exchange", lambda a, b: False)
    out = tmp_path / "site"
    write_site(make_site(), out)
    new = make_site({"SOL/USDT:USDT": "sol-usdt"})
    write_site(new, out)
    assert tree(out) == new
    assert siblings(out) == []


def test_files_and_folders_are_world_readable(tmp_path: Path) -> None:
    out = tmp_path / "site"
    old_umask = os.umask(0o077)  # a strict umask must not leak into the published tree
    try:
        write_site(make_site(), out)
    finally:
        os.umask(old_umask)
    for p in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o004, f"{p} is not world-readable ({oct(mode)})"
        if p.is_dir():
            assert mode & 0o001, f"{p} is not world-searchable ({oct(mode)})"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../evil.html", "'..' segments"),
        ("a/../../evil.html", "'..' segments"),
        ("/etc/passwd", "absolute paths"),
        ("C:/x.html", "absolute paths"),
        ("a\\b.html", "absolute paths"),
        ("a//b.html", "empty"),
        ("./index2.html", "'.'"),
        ("a/b c.html", "unsafe"),
        ("", "non-empty"),
    ],
)
def test_refuses_unsafe_paths(tmp_path: Path, path: str, message: str) -> None:
    out = tmp_path / "site"
    files = make_site()
    files[path] = b"x"
    with pytest.raises(BuildError, match="refusing to write") as e:
        write_site(files, out)
    assert message in str(e.value)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "evil.html").exists()


def test_refuses_writing_one_path_twice(tmp_path: Path) -> None:
    files = make_site()
    files["BTC-USDT/index.html"] = b"<html><title>x</title>x</html>"  # same file on macOS/Windows
    with pytest.raises(BuildError, match="written twice"):
        write_site(files, tmp_path / "site")
    files = make_site()
    files["index.html/x"] = b"x"
    with pytest.raises(BuildError, match="is a file but"):
        write_site(files, tmp_path / "site")
    fs = FileSet({"a.html": b"1"})
    fs.update({"b.html": b"2"})
    with pytest.raises(BuildError, match="two parts of the build write"):
        fs.update({"a.html": b"3"})
    with pytest.raises(BuildError, match="not a clean site-relative path"):
        fs["x/../a.html"] = b"4"
    assert fs == {"a.html": b"1", "b.html": b"2"}


def test_invalid_tree_leaves_previous_site_untouched(tmp_path: Path) -> None:
    out = tmp_path / "site"
    good = make_site()
    write_site(good, out)
    broken = make_site()
    broken.pop("eth-usdt/24h/index.html")
    broken["data/btc-usdt.json"] = b"{"
    with pytest.raises(BuildError) as e:
        write_site(broken, out)
    msg = str(e.value)
    assert "failed validation" in msg and "left unchanged" in msg
    assert "eth-usdt/24h/index.html: missing" in msg
    assert "data/btc-usdt.json: not valid JSON" in msg
    assert tree(out) == good
    assert siblings(out) == []


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "Documents"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(BuildError, match="not a site written by liqmap"):
        write_site(make_site(), out)
    assert (out / "thesis.tex").read_text() == "precious"
    # an empty folder is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    write_site(make_site(), empty)
    assert check_site(empty) == []


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_next_build_removes_leftovers_of_killed_builds(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(make_site(), out)
    dead = _dead_pid()
    stale_tmp = tmp_path / f".site-liqmap-tmp-{dead}-abc123"
    (stale_tmp / "half").mkdir(parents=True)
    live_tmp = tmp_path / f".site-liqmap-tmp-{os.getppid()}-xyz"  # a live process: left alone
    live_tmp.mkdir()
    other = tmp_path / f".other-liqmap-tmp-{dead}-abc"  # another output folder's leftover
    other.mkdir()
    write_site(make_site(), out)
    assert not stale_tmp.exists()
    assert live_tmp.exists() and other.exists()


def test_killed_mid_fallback_swap_is_repaired(tmp_path: Path) -> None:
    """The fallback parks the old tree, then renames the new one in; killed in between,
    out_dir is missing: the next build puts the parked tree back first."""
    out = tmp_path / "site"
    good = make_site()
    write_site(good, out)
    parked = tmp_path / f".site-liqmap-old-{_dead_pid()}-q1w2e3"
    os.rename(out, parked)
    writer.recover(out)
    assert tree(out) == good
    assert not parked.exists()


def test_rejects_non_bytes(tmp_path: Path) -> None:
    files: dict = make_site()
    files["index.html"] = "text"
    with pytest.raises(BuildError, match="content must be bytes"):
        write_site(files, tmp_path / "site")
    assert list(tmp_path.iterdir()) == []
