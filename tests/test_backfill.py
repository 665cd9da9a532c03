"""Issue 14 item 7, fetch side: the store keeps what the pages read, a first fetch asks only
for that, and the backfill of older history resumes across runs within a time budget.

Real ccxt against the loopback exchange (tests/fakex), as in test_fetch_live.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sitegen.config import MODEL_BARS, keep_days, load_config
from sitegen.series import TIMEFRAME_MS
from sitegen.sources.live import fetch_all
from sitegen.store import MIGRATIONS, SCHEMA_VERSION, Store
from tests.fakex.data import load_universe
from tests.fakex.harness import DAY, NOW, dump, options
from tests.fakex.server import FakeExchanges

UNIVERSE = load_universe()
BTC = "BTC/USDT:USDT"


@pytest.fixture
def server() -> Iterator[FakeExchanges]:
    with FakeExchanges(UNIVERSE, NOW) as srv:
        srv.enforce_limits = False
        yield srv


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "liqmap.sqlite"


def fetch(server: FakeExchanges, db: Path, *, exchanges: tuple[str, ...] = ("binanceusdm",),
          retention_days: int = 130, budget_s: float = 0, **kw: Any):
    config = load_config(None, exchanges=list(exchanges), symbols=[BTC], retention_days=retention_days)
    # Set after loading: the tests scale the budget and the server's delays down together,
    # below the 1 s a config file may ask for (the fetch reads the number as it is).
    config = replace(config, backfill_budget_s=budget_s)
    with Store(db) as store:
        return fetch_all(config, store, options=options(server, **kw))


def served(coin: str, tf: str, days: float) -> list[tuple[float, ...]]:
    step = TIMEFRAME_MS[tf]
    lo = NOW - days * DAY
    return [b for b in UNIVERSE[coin].candles[tf] if lo <= b[0] and b[0] + step <= NOW]


def stored(db: Path, exchange: str, tf: str) -> list[tuple[float, ...]]:
    with Store(db) as st:
        return [tuple(r[:6]) for r in st.candle_rows(exchange, BTC, tf)]


# -- 1. what the store keeps --------------------------------------------------------------


def test_keep_days_follow_what_the_pages_read_capped_by_retention() -> None:
    # 5m: 3 x the 1w range (2016 bars) = 21 days + 1; 1h: 3m + 1m (2880 bars) = 120 days + 2
    assert MODEL_BARS == {"5m": 6048, "1h": 2880}
    assert keep_days("5m", 130) == pytest.approx(22.0)
    assert keep_days("1h", 130) == pytest.approx(122.0)
    assert keep_days("5m", 7) == 7 and keep_days("1h", 7) == 7  # the setting caps both
    assert load_config(None).retention_days >= keep_days("1h", 10_000)  # default keeps all the pages read


def test_first_fetch_asks_5m_only_for_what_the_pages_read(server: FakeExchanges, db: Path) -> None:
    report = fetch(server, db)
    assert report.symbols[0].ok, report.messages
    starts = {tf: [int(p["startTime"]) for e, path, p in server.requests
                   if e == "binanceusdm" and "klines" in path and p.get("interval") == tf]
              for tf in ("5m", "1h")}
    assert min(starts["5m"]) >= NOW - 22 * DAY  # never the old 120 days of 5m bars
    assert min(starts["1h"]) < NOW - 22 * DAY  # 1h goes further (till history starts)
    # and the store holds every served bar of both, nothing more
    assert stored(db, "binanceusdm", "5m") == served("BTC", "5m", 22)
    assert stored(db, "binanceusdm", "1h") == served("BTC", "1h", 122)


def test_fetch_prunes_5m_rows_older_than_the_pages_read_and_keeps_1h(server: FakeExchanges, db: Path) -> None:
    old = NOW - 30 * DAY  # 30 days back: beyond 5m's 22 days, inside 1h's 122
    with Store(db) as st:
        st.write("binanceusdm", BTC, market_symbol=BTC,
                 candles={"5m": [(old, 1.0, 2.0, 0.5, 1.5, 10.0, None)],
                          "1h": [(old, 1.0, 2.0, 0.5, 1.5, 10.0, None)]})
    fetch(server, db)  # (it reports the 17 days between that row and the served bars as a gap)
    with Store(db) as st:
        assert st.first_ts("binanceusdm", BTC, "candles", "5m") == served("BTC", "5m", 22)[0][0]
        assert st.first_ts("binanceusdm", BTC, "candles", "1h") == old


def test_a_prune_interrupted_half_way_changes_nothing(db: Path) -> None:
    """The prune runs inside the write's transaction: stopped in the middle (here SQLite's
    progress handler aborts the DELETE), the store is exactly as before."""
    rows = [(NOW - i * 300_000, 1.0, 2.0, 0.5, 1.5, 10.0, None) for i in range(2000)]
    with Store(db) as st:
        st.write("okx", BTC, market_symbol=BTC, candles={"5m": rows})
    before = dump(db)
    with Store(db) as st:
        calls = 0

        def stop() -> int:
            nonlocal calls
            calls += 1
            return 1 if calls > 50 else 0  # abort once the DELETE is under way

        st.db.set_progress_handler(stop, 100)
        with pytest.raises(sqlite3.OperationalError, match="interrupt"):
            st.write("okx", BTC, candles={"5m": rows[:10]}, prune={("candles", "5m"): NOW - 1000 * 300_000})
        st.db.set_progress_handler(None, 0)
        assert st.integrity_ok()
    assert dump(db) == before


# -- the schema ----------------------------------------------------------------------------


def test_migration_4_to_5_records_coverage_of_an_existing_store(tmp_path: Path) -> None:
    path = tmp_path / "liqmap.sqlite"
    con = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:4]:
        con.executescript(script)
    con.execute("PRAGMA user_version=4")
    con.execute("INSERT INTO series (id, exchange, symbol, kind, timeframe) VALUES (1, 'okx', ?, 'candles', '5m')",
                (BTC,))
    con.executemany("INSERT INTO candles VALUES (1, ?, 1, 2, 0.5, 1.5, 10, NULL)", [(NOW - 600_000,), (NOW - 300_000,)])
    con.execute("INSERT INTO markets (exchange, symbol, market_symbol) VALUES ('okx', ?, ?)", (BTC, BTC))
    con.close()
    with Store(path) as st:
        assert st.schema_version == SCHEMA_VERSION == 5
        assert st.filled_from("okx", BTC, "candles", "5m") == NOW - 600_000  # filled forward from its oldest row
        assert st.filled_from("okx", BTC, "candles", "1h") is None
        assert st.tiers_ms("okx", BTC) is None
        assert len(st.candle_rows("okx", BTC, "5m")) == 2


# -- 2. the backfill resumes across runs ---------------------------------------------------


@pytest.mark.parametrize("exchange", ["binanceusdm", "okx"])
def test_a_budget_stops_the_backfill_and_the_next_run_completes_it(
    server: FakeExchanges, db: Path, exchange: str
) -> None:
    # Small pages and slow candle answers make the backfill long; a 0.2 s budget stops it
    # (each answer takes 0.03 s, a 20-row page: the 5m history alone is dozens of pages).
    server.add_fault(exchange, "delay", "andles" if exchange == "okx" else "klines", times=None, delay_s=0.03)
    report = fetch(server, db, exchanges=(exchange,), budget_s=0.2, page_limits={exchange: 20})
    assert report.symbols[0].ok, report.messages
    want = {tf: served("BTC", tf, 122) for tf in ("5m", "1h")}
    first = {tf: stored(db, exchange, tf) for tf in ("5m", "1h")}
    # stopped early: the newest bars are all there, older ones not yet, and no hole between
    assert len(first["5m"]) < len(want["5m"])
    for tf in ("5m", "1h"):
        assert first[tf] and first[tf] == want[tf][-len(first[tf]):], tf
    with Store(db) as st:
        front = st.filled_from(exchange, BTC, "candles", "5m")
        assert front is not None and front <= first["5m"][0][0]
    # the next run (no budget) resumes from the recorded coverage and completes
    server.faults.clear()
    before = server.count(exchange)
    report = fetch(server, db, exchanges=(exchange,), page_limits={exchange: 20})
    assert report.symbols[0].ok, report.messages
    assert {tf: stored(db, exchange, tf) for tf in ("5m", "1h")} == want  # none missing, none twice
    resumed = server.count(exchange) - before
    # a third run has nothing older to fetch: only the update to now
    before = server.count(exchange)
    fetch(server, db, exchanges=(exchange,), page_limits={exchange: 20})
    assert server.count(exchange) - before < resumed


def test_a_partial_backfill_publishes_the_short_ranges_and_says_so(server: FakeExchanges, db: Path) -> None:
    from sitegen.build import analyse_symbol

    config = load_config(None, exchanges=["okx"], symbols=[BTC])

    def ranges_and_note() -> tuple[tuple[str, ...], str]:
        with Store(db) as st:
            series = st.load_series("okx", BTC)
        assert series is not None
        rep = analyse_symbol(BTC, [series], config)
        return rep.ranges, next((n for n in rep.notes if n.startswith("Ranges not published yet")), "")

    # slow answers: the 0.1 s budget is spent on the first walk of each series (300 bars, 25 h),
    # whose every answer takes longer than the whole budget
    server.add_fault("okx", "delay", "andles", times=None, delay_s=0.15)
    fetch(server, db, exchanges=("okx",), budget_s=0.1)
    ranges, note = ranges_and_note()
    assert ranges == ("12h", "24h")
    assert "3d, 1w, 1m, 3m" in note and "1.0 days of 5m bars" in note
    server.faults.clear()
    fetch(server, db, exchanges=("okx",), budget_s=0)
    ranges, note = ranges_and_note()
    # the fixture holds 3 days of 5m bars and 13 days of 1h bars
    assert ranges == ("12h", "24h", "3d")
    assert "1w, 1m, 3m" in note


# -- 3. one request for many ---------------------------------------------------------------


def hourly(server: FakeExchanges, db: Path, hours: int, **kw: Any) -> list[dict[str, int]]:
    """Run the fetch once an hour for ``hours`` hours after a first fill; per run the requests
    each exchange received (3 symbols)."""
    config = load_config(None, symbols=["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"],
                         retention_days=2, backfill_budget_s=0)
    out = []
    for h in range(hours + 1):
        server.now_ms = NOW + h * 3_600_000
        keys = [(e, "") for e in config.exchanges] + [
            ("okx", "position-tiers"), ("bybit", "risk-limit"), ("hyperliquid", "fundingHistory"),
            ("hyperliquid", "metaAndAssetCtxs"), ("binanceusdm", "fundingRate")]
        before = {k: server.count(*k) for k in keys}
        with Store(db) as store:
            report = fetch_all(config, store, options=options(server, **kw))
        assert len(report.ok) == 12, report.messages
        out.append({f"{e} {m}".strip(): server.count(e, m) - before[(e, m)] for e, m in keys})
    return out[1:]


def test_hourly_runs_ask_once_for_what_one_answer_holds(server: FakeExchanges, db: Path) -> None:
    runs = hourly(server, db, 3)
    for run in runs:
        # Hyperliquid: one metaAndAssetCtxs a run (the markets), which also gives the open
        # interest of every symbol; funding history is not asked again within 8 h
        assert run["hyperliquid metaAndAssetCtxs"] == 1
        assert run["hyperliquid fundingHistory"] == 0 and run["binanceusdm fundingRate"] == 0
        # the markets (ccxt asks spotMeta too) + 5m candles per symbol: its 1h bars are
        # built from those
        assert run["hyperliquid"] == 2 + 1 * 3
    # Bybit and OKX leverage tiers: once a day (also where the answer held no table)
    for run in runs:
        assert run["okx position-tiers"] == 0 and run["bybit risk-limit"] == 0
    # and the store holds the same data as when everything is asked every run
    with Store(db) as st:
        oi = st.db.execute("SELECT count(*) FROM open_interest o JOIN series s ON s.id = o.series "
                           "WHERE s.exchange='hyperliquid'").fetchone()[0]
    assert oi == 3 * 4  # one snapshot row per symbol and hour
    # the 1h bars built from 5m bars are the exchange's own 1h bars
    for coin in ("BTC", "ETH", "SOL"):
        step = TIMEFRAME_MS["1h"]
        end = NOW + 3 * step
        want = [b for b in UNIVERSE[coin].candles["1h"] if end - 2 * DAY <= b[0] and b[0] + step <= end]
        with Store(db) as st:
            got = [tuple(r[:6]) for r in st.candle_rows("hyperliquid", f"{coin}/USDT:USDT", "1h")]
        assert [g[0] for g in got] == [w[0] for w in want]
        assert [v for g in got for v in g] == pytest.approx([v for w in want for v in w], rel=1e-9)


def test_without_reuse_every_run_asks_for_everything(server: FakeExchanges, db: Path) -> None:
    run = hourly(server, db, 1, reuse=False)[0]
    assert run["hyperliquid metaAndAssetCtxs"] == 2  # markets + the open-interest snapshot
    assert run["hyperliquid"] == 3 + 3 * 3  # + funding history per symbol
    assert run["okx position-tiers"] >= 3 and run["bybit risk-limit"] >= 1


# -- 4. the recording runs in a workflow of its own; the build imports it -------------------


def test_record_import_from_merges_a_separate_recording_once(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sitegen.cli import main
    from sitegen.liquidations import Liquidation

    rec, state = tmp_path / "rec", tmp_path / "state"
    hour = 3_600_000

    def event(ts: int, usd: float) -> Liquidation:
        return Liquidation("okx", BTC, ts, "long", 95_000.0, usd / 95_000.0, usd, "okx:liquidation-orders")

    with Store(rec / "liqmap.sqlite") as st:
        st.write_liquidations([event(NOW - 2 * hour, 5e4), event(NOW - hour, 1e4)],
                              span=("okx", "okx:liquidation-orders", NOW - 3 * hour, NOW - hour // 2))
    args = ["record", "--import-from", str(rec), "--state", str(state)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "Imported 2 new liquidations and 1 recording spans" in first.output
    again = CliRunner().invoke(main, args)
    assert "Imported 0 new liquidations" in again.output  # the same recording twice: nothing twice
    # the next hour's recording continues the span and adds one event
    with Store(rec / "liqmap.sqlite") as st:
        st.write_liquidations([event(NOW, 2e4)], span=("okx", "okx:liquidation-orders", NOW - 3 * hour, NOW + hour))
    assert "Imported 1 new liquidations" in CliRunner().invoke(main, args).output
    with Store(state / "liqmap.sqlite") as st:
        assert [e.usd for e in st.liquidation_rows(BTC)] == [5e4, 1e4, 2e4]
        assert st.liquidation_spans() == [("okx", "okx:liquidation-orders", NOW - 3 * hour, NOW + hour)]
    missing = CliRunner().invoke(main, ["record", "--import-from", str(tmp_path / "nope"), "--state", str(state)])
    assert missing.exit_code != 0 and "no store there yet" in missing.output


@pytest.mark.slow
@pytest.mark.parametrize("delay_s", [0.05, 0.2, 0.45])
def test_a_fetch_killed_during_the_backfill_leaves_no_hole(server: FakeExchanges, db: Path, delay_s: float) -> None:
    """SIGKILL the real fetch in a subprocess while it walks back through older history: the
    store is intact, everything from its recorded coverage to now is there, and the next run
    completes it exactly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parent.parent
    server.add_fault("binanceusdm", "delay", "klines", times=None, delay_s=0.03)
    script = (
        "import sys\n"
        "from sitegen.config import load_config\n"
        "from sitegen.sources.live import FetchOptions, fetch_all\n"
        "from sitegen.store import Store\n"
        "url, now, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]\n"
        "config = load_config(None, exchanges=['binanceusdm'], symbols=['BTC/USDT:USDT'], retention_days=130,"
        " backfill_budget_s=0)\n"
        "opts = FetchOptions(api_urls={'binanceusdm': url}, now_ms=now, page_limits={'binanceusdm': 20},"
        " limit_scale=1000.0, backoff_s=0.001)\n"
        "with Store(db) as st:\n"
        "    fetch_all(config, st, options=opts)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, server.api_urls()["binanceusdm"], str(NOW), str(db)],
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        head = None
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with Store(db, read_only=True) as st:
                        front = st.filled_from("binanceusdm", BTC, "candles", "5m")
                except Exception:  # created or migrated at this moment
                    front = None
                head = head or front
                if front is not None and head is not None and front < head:
                    break  # the backfill has written a page
            time.sleep(0.01)
        time.sleep(delay_s)
        assert proc.poll() is None, "the fetch ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    with Store(db) as st:
        assert st.integrity_ok()
        for tf in ("5m", "1h"):
            front = st.filled_from("binanceusdm", BTC, "candles", tf)
            got = [tuple(r[:6]) for r in st.candle_rows("binanceusdm", BTC, tf)]
            if front is None:
                continue
            want = [b for b in served("BTC", tf, 122) if b[0] >= front]
            assert [g for g in got if g[0] >= front] == want, tf  # no hole from coverage to now
    fetch(server, db, page_limits={"binanceusdm": 20})
    assert {tf: stored(db, "binanceusdm", tf) for tf in ("5m", "1h")} == {
        tf: served("BTC", tf, 122) for tf in ("5m", "1h")
    }
