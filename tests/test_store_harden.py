"""Issue 11 item 13: the store checks itself on open, reads read-only, is created race-free,
and its advice fits the cause (never "move it away" for a read-only file or a full disk).

Real SQLite files, real processes, a real read-only filesystem and a real full one (a
small tmpfs mounted in a private mount namespace with ``unshare -rm``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen.cli import main
from sitegen.errors import SourceError
from sitegen.store import SCHEMA_VERSION, Store, store_problem
from tests.conftest import small_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
EX, SYM = "binanceusdm", "BTC/USDT:USDT"
T0 = 1_700_000_000_000


def _fill(path: Path, n: int = 20_000) -> None:
    rows = [(T0 + k * 300_000, 1.0 + k, 2.0 + k, 0.5, 1.5, 3.0, None) for k in range(n)]
    with Store(path) as st:
        st.write(EX, SYM, candles={"5m": rows}, funding=[(T0, 0.0001)], market_symbol=SYM, ok_ms=T0)


def _corrupt_middle(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    mid = (len(data) // page // 2) * page
    data[mid: mid + page] = bytes((i * 37) % 251 for i in range(page))
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_store_damaged_in_the_middle_is_reported_on_open(tmp_path: Path) -> None:
    path = tmp_path / "liqmap.sqlite"
    _fill(path)
    damaged = _corrupt_middle(path)
    with pytest.raises(SourceError) as e:
        Store(path).open()
    msg = str(e.value)
    assert "damaged" in msg and "quick_check" in msg and str(path) in msg and ".recover" in msg
    assert path.read_bytes() == damaged  # nothing was written to it


def test_fetch_on_a_damaged_store_fails_with_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    _fill(state / "liqmap.sqlite")
    damaged = _corrupt_middle(state / "liqmap.sqlite")
    res = CliRunner().invoke(main, ["fetch", "--state", str(state), "--exchanges", "okx"])
    assert res.exit_code == 1
    assert "damaged" in res.output and "Traceback" not in res.output
    assert (state / "liqmap.sqlite").read_bytes() == damaged


def test_build_offline_on_a_damaged_store_is_one_clear_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    _fill(state / "liqmap.sqlite")
    damaged = _corrupt_middle(state / "liqmap.sqlite")
    res = CliRunner().invoke(main, ["build", "--offline", "--state", str(state), "--out", str(tmp_path / "s")])
    assert res.exit_code == 1, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(state / "liqmap.sqlite") in errors[0] and "damaged" in errors[0]
    assert "Traceback" not in res.output and not (tmp_path / "s").exists()
    assert (state / "liqmap.sqlite").read_bytes() == damaged


def test_not_a_database_advice_is_to_rescue_or_move(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database" * 400)
    with pytest.raises(SourceError, match=r"not a liqmap store.*\.recover.*move it"):
        Store(path).open()


def test_advice_fits_the_cause() -> None:
    p = Path("/data/liqmap.sqlite")
    full = store_problem(p, sqlite3.OperationalError("database or disk is full"), "could not write to the store")
    assert "disk holding the store is full" in full and "move it" not in full
    ro = store_problem(p, sqlite3.OperationalError("attempt to write a readonly database"), "x")
    assert "read-only" in ro and "--offline" in ro and "move it" not in ro
    locked = store_problem(p, sqlite3.OperationalError("database is locked"), "x")
    assert "Another liqmap process" in locked and "move it" not in locked
    enospc = store_problem(p, OSError(28, "No space left on device"), "cannot open the store")
    assert "full" in enospc and "move it" not in enospc


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sitegen.store import Store
    folder, rounds = Path(sys.argv[1]), int(sys.argv[2])
    for i in range(rounds):
        print("ready", flush=True)
        at = float(sys.stdin.readline())  # round i: both processes open race{i}/ at this instant
        while time.time() < at:  # spinning, so that both start together
            pass
        try:
            with Store(folder / f"race{i}" / "liqmap.sqlite") as st:
                print("ok", st.schema_version, flush=True)
        except Exception as e:
            print("fail", type(e).__name__, e, flush=True)
    """
)


def test_two_processes_creating_one_new_store_both_succeed(tmp_path: Path) -> None:
    """Ten races: both processes open one new store at one instant (two processes, ten rounds).

    Each round starts when both processes say they are ready (no fixed pauses): then both
    are given one instant 30 ms ahead and spin until it."""
    rounds = 10
    procs = [
        subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path), str(rounds)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
        for _ in range(2)
    ]
    outs: list[list[str]] = [[], []]
    try:
        for _ in range(rounds):
            for p, out in zip(procs, outs, strict=True):
                assert p.stdout is not None
                while (line := p.stdout.readline().strip()) != "ready":
                    assert line, out  # the process ended early
                    out.append(line)  # the previous round's result
            at = time.time() + 0.03
            for p in procs:
                assert p.stdin is not None
                p.stdin.write(f"{at}\n")
                p.stdin.flush()
        for p, out in zip(procs, outs, strict=True):
            out.extend(p.communicate(timeout=60)[0].splitlines())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [len(o) for o in outs] == [rounds, rounds], outs
    failures = [line for o in outs for line in o if line != f"ok {SCHEMA_VERSION}"]
    for i in range(rounds):
        with Store(tmp_path / f"race{i}" / "liqmap.sqlite") as st:
            assert st.schema_version == SCHEMA_VERSION and st.integrity_ok()
    assert failures == []


# -- a real read-only filesystem and a real full one -----------------------------------------


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


needs_mounts = pytest.mark.skipif(not _unshare_ok(), reason="needs `unshare -rm` (user and mount namespaces)")


def _in_namespace(script: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "-rm", "sh", "-ec", script], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


@pytest.mark.slow  # a whole CLI build in its own process (~9 s of CPU): CI runs it with -m slow
@needs_mounts
def test_build_offline_works_on_a_read_only_store_and_fetch_advice_fits(tmp_path: Path) -> None:
    """The store sits on a filesystem mounted read-only (EROFS: even root cannot write)."""
    src = tmp_path / "src"
    src.mkdir()
    # a real store with a real series: the sample data, written through the store
    from sitegen.sources.sample import SampleSource

    series = SampleSource().load("binanceusdm", SYM)
    with Store(src / "liqmap.sqlite") as st:
        for tf, c in series.candles.items():
            rows = list(zip(c.timestamp.tolist(), c.open.tolist(), c.high.tolist(), c.low.tolist(),
                            c.close.tolist(), c.volume.tolist(), [None] * len(c), strict=True))
            st.write("binanceusdm", SYM, candles={tf: rows}, market_symbol=SYM, ok_ms=T0)
    ro = tmp_path / "ro"
    ro.mkdir()
    out = tmp_path / "site"
    # the recorded data is months old: publish it marked stale rather than fail the freshness gate
    cfg = small_config(tmp_path, "[build]\nmin_fresh_share = 0\n")  # one symbol, one range
    py = sys.executable
    script = f"""
        mount -t tmpfs -o size=64m tmpfs {ro}
        cp {src}/liqmap.sqlite {ro}/
        mount -o remount,ro {ro}
        if touch {ro}/probe 2>/dev/null; then echo "not read-only"; exit 3; fi
        {py} -m sitegen.cli build --offline -q --config {cfg} --state {ro} --out {out} --symbols {SYM} \
            --exchanges binanceusdm 2>&1 || echo "build exit $?"
        ls {out}/btc-usdt/index.html
        {py} -m sitegen.cli fetch -q --state {ro} --symbols {SYM} --exchanges binanceusdm 2>&1 || echo "fetch exit $?"
        ls {ro}
    """
    res = _in_namespace(script)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert f"{out}/btc-usdt/index.html" in lines, res.stdout
    assert "build exit" not in res.stdout
    fetch_err = next(line for line in lines if line.startswith("Error:"))
    assert "read-only" in fetch_err and "--offline" in fetch_err and "move it" not in fetch_err
    assert "fetch exit 1" in lines
    assert lines[-1] == "liqmap.sqlite"  # nothing was added beside it (no -wal, no -shm)


@needs_mounts
def test_full_disk_while_writing_the_store_keeps_what_was_written(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    writer = textwrap.dedent(
        f"""
        import sqlite3
        from pathlib import Path
        from sitegen.store import Store, store_problem
        path = Path({str(disk)!r}) / "liqmap.sqlite"
        with Store(path) as st:
            k = 0
            try:
                while True:
                    rows = [({T0} + (k * 500 + j) * 300_000, 1.0, 2.0, 0.5, 1.5, 3.0, None) for j in range(500)]
                    st.write("{EX}", "{SYM}", candles={{"5m": rows}})
                    k += 1
            except sqlite3.Error as e:
                print(store_problem(path, e, "could not write to the store"))
            print("batches", k)
        with Store(path, read_only=True) as st:
            print("count", st.count("candles"), "integrity", st.integrity_ok())
        """
    )
    script = tmp_path / "writer.py"
    script.write_text(writer)
    res = _in_namespace(f"mount -t tmpfs -o size=1m tmpfs {disk}\n{sys.executable} {script}")
    assert res.returncode == 0, res.stdout + res.stderr
    msg, batches, count = res.stdout.splitlines()
    assert "disk holding the store is full" in msg and "move it" not in msg, msg
    k = int(batches.split()[1])
    assert k > 0 and count == f"count {k * 500} integrity True"  # every committed batch is there
