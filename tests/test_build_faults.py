"""Issue 11 item 12: an unwritable --out parent and a full disk end in one line, not a stack.

Real filesystems: a tmpfs mounted read-only, and a 1 MB tmpfs that a site does not fit in, each in a private
mount namespace (``unshare -rm``), with the real CLI in its own process. The previous site
stays as it was. The builds are one symbol and one range (conftest.small_config): the point is
the write, not the pages. (`build --offline` on a damaged store: tests/test_store_harden.py.)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sitegen.site.writer import write_site
from tests.conftest import small_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.skipif(not _unshare_ok(), reason="needs `unshare -rm` (user and mount namespaces)"),
    # a whole CLI process per test (imports, calibration, a build: ~7 s of CPU each), like the
    # kill test: CI runs them with -m slow; the writer's error paths have fast tests in test_writer.py
    pytest.mark.slow,
]


def _in_namespace(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "-rm", "sh", "-ec", script], capture_output=True, text=True,
                          env=ENV, timeout=600)


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_out_under_a_read_only_parent_is_one_line_exit_1(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    py = sys.executable
    res = _in_namespace(f"""
        mount -t tmpfs -o size=1m tmpfs {ro}
        mkdir {ro}/keep && echo mine > {ro}/keep/file
        mount -o remount,ro {ro}
        {py} -m sitegen.cli build --sample -q --config {small_config(tmp_path)} --out {ro}/public/site \
            || echo "exit $?"
        cat {ro}/keep/file
    """)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.stderr
    assert f"{ro}/public" in errors[0] and "Read-only file system" in errors[0]
    assert f"Make {ro} writable or choose another --out" in errors[0]
    assert res.stdout.splitlines() == ["exit 1", "mine"]


def test_full_disk_during_a_build_keeps_the_previous_site(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    py = sys.executable
    # a previous site (one symbol, sitefactory-size) that must survive untouched
    from sitefactory import make_site

    prev = tmp_path / "prev"
    write_site(make_site({"BTC/USDT:USDT": "btc-usdt"}), prev)
    before = _digest(prev)
    res = _in_namespace(f"""
        mount -t tmpfs -o size=1m tmpfs {disk}
        cp -a {prev} {disk}/site
        {py} -m sitegen.cli build --sample -q --config {small_config(tmp_path)} --out {disk}/site || echo "exit $?"
        ls -a {disk}
        cd {disk}/site && find . -type f | sort | xargs sha256sum
    """)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.stderr
    assert "the disk is full" in errors[0] and f"{disk}/site was left as it was" in errors[0]
    assert "Free space on the disk holding" in errors[0]
    out = res.stdout.splitlines()
    assert out[0] == "exit 1"
    assert out[1:4] == [".", "..", "site"]  # no temporary tree left behind
    after = {line.split()[1][2:]: line.split()[0] for line in out[4:]}
    assert after == before
