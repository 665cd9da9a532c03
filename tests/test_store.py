"""The SQLite store: schema migrations, idempotent upserts, atomic writes, and SIGKILL safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sitegen.errors import SourceError
from sitegen.series import LeverageTier
from sitegen.store import MIGRATIONS, SCHEMA_VERSION, Store

EX, SYM = "binanceusdm", "BTC/USDT:USDT"
T0 = 1_768_608_000_000  # 2026-01-17 00:00 UTC


def bars(n: int, start: int = T0, step: int = 300_000, price: float = 95_000.0) -> list[tuple]:
    return [
        (start + i * step, price + i, price + i + 5, price + i - 5, price + i + 1, 10.0 + i, None)
        for i in range(n)
    ]


def test_new_store_is_wal_and_at_the_latest_schema(tmp_path: Path) -> None:
    with Store(tmp_path / "s" / "x.sqlite") as st:
        assert st.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert st.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_version_1_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0])  # the version 1 layout: text keys in every row
    c5 = bars(3)
    c1 = bars(2, step=3_600_000)
    con.executemany(
        "INSERT INTO candles VALUES (?,?,?,?,?,?,?,?,?,?)",
        [(EX, SYM, "5m", *r) for r in c5] + [(EX, SYM, "1h", *r) for r in c1]
        + [("okx", SYM, "5m", *r) for r in c5[:1]],
    )
    con.execute("INSERT INTO open_interest VALUES (?,?,?,?,?,?)", (EX, SYM, "1h", T0, 10.0, 9.5e5))
    con.execute("INSERT INTO funding VALUES (?,?,?,?)", (EX, SYM, T0, 0.0001))
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    with Store(path) as st:
        assert st.schema_version == SCHEMA_VERSION
        assert st.count("candles") == 6 and st.count("candles", "okx") == 1
        s = st.load_series(EX, SYM)
        assert s is not None
        assert [tuple(r[:6]) for r in st.candle_rows(EX, SYM, "5m")] == [r[:6] for r in c5]
        assert s.candles["1h"].close.tolist() == [r[4] for r in c1]
        assert s.open_interest is not None and s.open_interest.value_usd.tolist() == [9.5e5]
        assert s.funding is not None and s.funding.rate.tolist() == [0.0001]
        st.write(EX, SYM, market_symbol=SYM, ok_ms=T0, candles={"5m": bars(4)})  # still writable
        assert st.market_symbol(EX, SYM) == SYM and st.count("candles", EX) == 6
        assert st.integrity_ok()


def test_a_store_from_a_newer_liqmap_is_refused_with_a_way_out(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(SourceError, match=r"newer than this liqmap knows.*--state"):
        Store(path).open()


def test_a_file_that_is_not_sqlite_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SourceError, match="not a usable liqmap store"):
        Store(path).open()


def test_upserts_are_idempotent_and_replace_revised_bars(tmp_path: Path) -> None:
    with Store(tmp_path / "x.sqlite") as st:
        st.write(EX, SYM, candles={"5m": bars(10)})
        st.write(EX, SYM, candles={"5m": bars(10)})
        assert st.count("candles") == 10
        revised = bars(10)
        revised[-1] = (*revised[-1][:4], 99_999.0, *revised[-1][5:])
        st.write(EX, SYM, candles={"5m": revised[-3:]})
        rows = st.candle_rows(EX, SYM, "5m")
        assert len(rows) == 10 and rows[-1][4] == 99_999.0


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    with Store(tmp_path / "x.sqlite") as st:
        st.write(EX, SYM, candles={"5m": bars(5)})
        broken = [*bars(5, start=T0 + 10 * 300_000), (T0, None, None, None, None, None, None)]
        with pytest.raises(sqlite3.IntegrityError):
            st.write(EX, SYM, candles={"5m": broken}, funding=[(T0, 0.0001)])
        assert st.count("candles") == 5 and st.count("funding") == 0


def test_retention_prunes_old_rows_and_tiers_are_replaced(tmp_path: Path) -> None:
    tiers = [LeverageTier(0, 50_000, 0.004, 0, 125), LeverageTier(50_000, 250_000, 0.005, 50, 100)]
    with Store(tmp_path / "x.sqlite") as st:
        st.write(EX, SYM, candles={"5m": bars(100)}, tiers=tiers)
        st.write(EX, SYM, candles={"5m": []}, tiers=tiers[:1], prune_before_ms=T0 + 50 * 300_000)
        assert next(r[0] for r in st.candle_rows(EX, SYM, "5m")) == T0 + 50 * 300_000
        assert st.count("candles") == 50 and st.count("tiers") == 1


def test_load_series_gives_the_market_series_the_build_reads(tmp_path: Path) -> None:
    with Store(tmp_path / "x.sqlite") as st:
        assert st.load_series(EX, SYM) is None
        st.write(
            "hyperliquid", SYM, market_symbol="BTC/USDC:USDC", ok_ms=T0 + 1,
            candles={"5m": bars(12), "1h": bars(2, step=3_600_000)},
            open_interest={"1h": [(T0, 10.0, 950_000.0), (T0 + 3_600_000, 11.0, 1_045_000.0)]},
            funding=[(T0, 0.0001), (T0 + 28_800_000, -0.00005)],
        )
        s = st.load_series("hyperliquid", SYM)
    assert s is not None
    assert (s.exchange, s.symbol, s.market_symbol, s.source) == (
        "hyperliquid", SYM, "BTC/USDC:USDC", "store",
    )
    assert len(s.candles["5m"]) == 12 and len(s.candles["1h"]) == 2
    assert s.candles["5m"].timestamp.dtype.kind == "i" and s.candles["5m"].taker_buy_volume is None
    assert s.open_interest is not None and list(s.open_interest.value_usd) == [950_000.0, 1_045_000.0]
    assert s.funding is not None and list(s.funding.rate) == [0.0001, -0.00005]
    assert s.fetched_at_ms == T0 + 1


WRITER = textwrap.dedent(
    """
    import sys
    from sitegen.store import Store
    path, batch = sys.argv[1], int(sys.argv[2])
    with Store(path) as st:
        i = 0
        while True:
            start = 1_700_000_000_000 + i * batch * 300_000
            rows = [(start + k * 300_000, 1.0 + k, 2.0 + k, 0.5, 1.5, 3.0, None) for k in range(batch)]
            st.write("binanceusdm", "BTC/USDT:USDT", candles={"5m": rows},
                     funding=[(start, 0.0001)])
            i += 1
            print(i, flush=True)
    """
)


@pytest.mark.parametrize("delay_s", [0.15, 0.4, 0.9])
def test_a_writer_killed_mid_upsert_leaves_a_consistent_store(tmp_path: Path, delay_s: float) -> None:
    path = tmp_path / "kill.sqlite"
    batch = 20_000  # big transactions: most of the writer's time is spent inside one
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(batch)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # one transaction committed: the writer is running
        assert first.strip() == "1"
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with Store(path) as st:
        assert st.integrity_ok()
        n = st.count("candles")
        # Every transaction landed whole or not at all: candles and funding agree.
        assert n > 0 and n % batch == 0
        assert st.count("funding") == n // batch
