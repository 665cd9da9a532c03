"""A build killed at any moment (SIGKILL) leaves the previous site complete at --out.

Runs the real CLI (``python -m sitegen.cli build --sample``) in a subprocess after a first
good build and kills it in every phase: during start-up, while modelling, while rendering,
and at several delays after its temporary tree appears beside --out (writing, validating,
swapping). After each kill --out must hold one complete tree that passes ``check_site``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitegen.site.check import check_site
from sitegen.site.writer import MARKER

ROOT = Path(__file__).resolve().parent.parent
TMP_PREFIX = ".site-liqmap-tmp-"
# (trigger, argument): seconds after start / a progress line / seconds after the temp tree appears
TRIGGERS = [
    ("after", 0.3),  # importing
    ("line", "rendering pages"),  # modelled, rendering
    # writing + validating + swapping takes a few tens of milliseconds on a laptop
    ("tmp", 0.0),
    ("tmp", 0.006),
    ("tmp", 0.012),
    ("tmp", 0.02),
    ("tmp", 0.03),
    ("swapped", 0.0),  # right after the swap, while the old tree is being deleted
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL"),
]


def start(out: Path, config: Path, quiet: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "1"}  # CI: plain progress lines
    cmd = [sys.executable, "-m", "sitegen.cli", "build", "--sample", "--config", str(config), "--out", str(out)]
    return subprocess.Popen(
        [*cmd, "-q"] if quiet else cmd,
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def names(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def tmp_exists(parent: Path, pid: int) -> bool:
    """Whether the build process ``pid`` has its temporary tree beside --out right now."""
    return any(p.name.startswith(f"{TMP_PREFIX}{pid}-") for p in parent.iterdir())


def wait_for(proc: subprocess.Popen[bytes], trigger: str, arg: float | str, parent: Path) -> None:
    if trigger == "after":
        time.sleep(float(arg))
    elif trigger == "line":
        assert proc.stderr is not None
        for line in iter(proc.stderr.readline, b""):
            if str(arg) in line.decode(errors="replace"):
                return
    elif trigger == "tmp":
        deadline = time.monotonic() + 120
        while not tmp_exists(parent, proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(float(arg))
    else:
        inode = (parent / "site").stat().st_ino
        deadline = time.monotonic() + 120
        while (parent / "site").stat().st_ino == inode and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)


def test_sigkill_at_any_moment_leaves_a_complete_site(tmp_path: Path) -> None:
    config = tmp_path / "liqmap.toml"
    config.write_text('[data]\nsymbols = ["BTC/USDT:USDT", "ETH/USDT:USDT"]\nranges = ["12h", "24h"]\n')
    out = tmp_path / "site"
    first = start(out, config, quiet=True)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()
    assert check_site(out) == []
    # files the user keeps in --out (issue 11 item 1) must survive every kill as well
    (out / "CNAME").write_text("heat.example.org\n")
    (out / ".nojekyll").write_bytes(b"")
    (out / "NOTES.md").write_text("my notes\n")
    expected = names(out)
    assert {"CNAME", ".nojekyll", "NOTES.md"} <= expected

    during_write = 0
    killed = 0
    swapped = 0
    inode = out.stat().st_ino
    for trigger, arg in TRIGGERS:
        proc = start(out, config, quiet=trigger != "line")
        wait_for(proc, trigger, arg, tmp_path)
        if proc.poll() is None:
            during_write += tmp_exists(tmp_path, proc.pid)
            os.killpg(proc.pid, signal.SIGKILL)  # the process group this test started, by its id
            killed += 1
        proc.wait(timeout=60)
        where = f"kill on {trigger} {arg}"
        assert out.is_dir(), f"{where}: --out vanished"
        problems = check_site(out)
        assert problems == [], f"{where}: {problems[:5]}"
        assert names(out) == expected, f"{where}: --out is not one complete tree"
        assert (out / MARKER).is_file()
        swapped += out.stat().st_ino != inode
        inode = out.stat().st_ino
    assert killed >= len(TRIGGERS) - 2, f"only {killed} builds were still running when killed"
    assert during_write >= 2, "no kill landed while the new tree was being written/validated"
    assert swapped >= 1, "no build got as far as the swap"

    # the next build cleans up whatever the killed ones left beside --out
    last = start(out, config, quiet=True)
    _, err = last.communicate(timeout=300)
    assert last.returncode == 0, err.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["liqmap.toml", "site"]
    assert check_site(out) == []
