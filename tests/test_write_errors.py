"""The writer's one-line messages for a full disk and an unwritable --out, in-process.

The same faults on real filesystems (a 1 MB tmpfs, a read-only mount) with the whole CLI in
its own process are in tests/test_build_faults.py, which CI runs with -m slow. Here the
operating system's error is injected where the writer meets it, so the inner loop still
checks the message, the exit path and that the previous site and no temporary tree remain.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest
from sitefactory import make_site

from sitegen.errors import BuildError
from sitegen.site import writer
from sitegen.site.writer import write_site


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_full_disk_while_writing_keeps_the_previous_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "site"
    write_site(make_site({"BTC/USDT:USDT": "btc-usdt"}), out)
    before = _digest(out)
    real = writer.write_tree

    def fills_the_disk(files: object, root: Path) -> None:
        real(dict(list(make_site().items())[:3]), root)  # a few files made it, then the disk filled
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(root / "btc-usdt" / "index.html"))

    monkeypatch.setattr(writer, "write_tree", fills_the_disk)
    with pytest.raises(BuildError) as e:
        write_site(make_site(), out)
    msg = str(e.value)
    assert "\n" not in msg and "the disk is full" in msg and f"{out} was left as it was" in msg
    assert f"Free space on the disk holding {tmp_path}" in msg
    assert _digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no temporary tree left behind


def test_unwritable_out_parent_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ro" / "public" / "site"

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(writer.Path, "mkdir", read_only)
    with pytest.raises(BuildError) as e:
        write_site(make_site(), out)
    msg = str(e.value)
    assert f"{out.parent}: cannot write there (Read-only file system); nothing was written" in msg
    assert f"Make {tmp_path} writable or choose another --out" in msg
