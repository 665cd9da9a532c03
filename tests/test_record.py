"""``liqmap record`` against the loopback exchange: real ccxt.pro over a real websocket.

The fake stream replays the 541 Binance force orders recorded on 2026-01-06 (154 of them
BTC/ETH/SOL). Faults: the server drops the connection, sends malformed and duplicated
frames, goes silent; the recorder process gets SIGTERM and SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sitegen.cli import main
from sitegen.liquidations import Liquidation
from sitegen.sources.record import Recorder, RecordOptions, normalise
from sitegen.store import MIGRATIONS, Store
from tests.fakex.data import load_universe
from tests.fakex.harness import NOW
from tests.fakex.server import FakeExchanges
from tests.fakex.ws import FakeStream, Plan, load_frames

ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
IDS = {"BTCUSDT": "BTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT", "SOLUSDT": "SOL/USDT:USDT"}


def run_async(coro: Any) -> Any:
    """asyncio.run in a thread of its own: a session-scoped Playwright browser in the same
    xdist worker keeps an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def expected_events() -> set[tuple[str, int, str, float, float]]:
    """(symbol, ts, side, price, amount) of every recorded frame of our three symbols."""
    out = set()
    for f in load_frames():
        o = f["o"]
        if o["s"] in IDS:
            side = "long" if o["S"] == "SELL" else "short"
            out.add((IDS[o["s"]], int(o["T"]), side, float(o["ap"]), float(o["l"])))
    return out


def stored(db: Path) -> set[tuple[str, int, str, float, float]]:
    with Store(db) as st:
        return {(e.symbol, e.ts, e.side, e.price, e.amount) for e in st.liquidation_rows("BTC/USDT:USDT")} | {
            (e.symbol, e.ts, e.side, e.price, e.amount)
            for s in SYMBOLS[1:] for e in st.liquidation_rows(s)
        }


def heard(rec: Recorder, st: Store) -> set[tuple[str, int, str, float, float]]:
    """What the recorder has received so far: stored, or waiting for its next flush."""
    rows = [e for s in SYMBOLS for e in st.liquidation_rows(s)] + list(rec._pending)
    return {(e.symbol, e.ts, e.side, e.price, e.amount) for e in rows}


async def until(done: Any, what: str, timeout: float = 30) -> None:
    """Poll ``done()`` every 10 ms (instead of sleeping a guessed time) until it holds."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)


def test_normalise_sides_per_exchange() -> None:
    sym = {"BTC/USDT:USDT": "BTC/USDT:USDT"}
    base = {"symbol": "BTC/USDT:USDT", "timestamp": 1767696426116, "price": 93920.9,
            "contracts": 0.012, "contractSize": 1.0}
    # Binance: the forced order SELLs a liquidated long.
    ev = normalise("binanceusdm", {**base, "side": "sell", "info": {}}, sym)
    assert ev is not None and ev.side == "long" and ev.usd == pytest.approx(93920.9 * 0.012)
    # Bybit allLiquidation: S is the position side, Buy = a long was liquidated.
    assert normalise("bybit", {**base, "side": "buy", "info": {}}, sym).side == "long"  # type: ignore[union-attr]
    # OKX: posSide names the position; contracts x contract size = base units.
    okx = {**base, "contracts": 3, "contractSize": 0.01, "side": "buy",
           "info": {"details": [{"posSide": "short", "side": "buy"}]}}
    ev = normalise("okx", okx, sym)
    assert ev is not None and ev.side == "short" and ev.amount == pytest.approx(0.03)
    # Not ours, or unusable: skipped, never a crash.
    assert normalise("binanceusdm", {**base, "symbol": "XRP/USDT:USDT", "side": "sell"}, sym) is None
    assert normalise("binanceusdm", {**base, "price": None, "side": "sell", "info": {}}, sym) is None
    assert normalise("binanceusdm", {**base, "side": "sideways", "info": {}}, sym) is None


def test_store_migrates_and_upserts_idempotently(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    con = sqlite3.connect(db)
    for script in MIGRATIONS[:3]:  # a store written by the previous release (schema 3)
        con.executescript(script)
    con.execute("PRAGMA user_version=3")
    con.execute("INSERT INTO series (exchange, symbol, kind, timeframe) VALUES ('okx','BTC/USDT:USDT','funding','')")
    con.execute("INSERT INTO funding VALUES (1, 1000, 0.0001)")
    con.commit()
    con.close()
    ev = Liquidation("binanceusdm", "BTC/USDT:USDT", 1767696426116, "short", 93920.9, 0.012,
                     93920.9 * 0.012, "binanceusdm:!forceOrder@arr")
    with Store(db) as st:
        assert st.schema_version == len(MIGRATIONS) == 5  # 3 -> 4 (liquidations) -> 5 (coverage)
        assert st.count("funding") == 1  # migrated, nothing lost
        assert st.write_liquidations([ev, ev], span=("binanceusdm", "x", 1, 5)) == 1
        assert st.write_liquidations([ev], span=("binanceusdm", "x", 1, 9)) == 0
        assert st.liquidation_rows("BTC/USDT:USDT") == [ev]
        assert st.liquidation_spans() == [("binanceusdm", "x", 1, 9)]  # extended, not doubled
        # retention: older events and spans go
        st.write_liquidations([], prune_before_ms=1767696426117)
        assert st.liquidation_rows("BTC/USDT:USDT") == [] and st.liquidation_spans() == []
    with pytest.raises(ValueError, match="side"):
        Liquidation("okx", "BTC/USDT:USDT", 1, "up", 1.0, 1.0, 1.0, "okx")
    with pytest.raises(ValueError, match="price"):
        Liquidation("okx", "BTC/USDT:USDT", 1, "long", float("nan"), 1.0, 1.0, "okx")


def test_replay_with_disconnect_malformed_duplicates_and_silence(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    plans = [
        Plan(frames=200, then="close", duplicate=True, malformed=7),  # dropped by the server
        Plan(frames=150, then="silent"),  # goes quiet with the connection open
        Plan(),  # the rest
    ]
    with FakeExchanges(load_universe(), NOW) as rest, FakeStream(plans) as ws:
        opts = RecordOptions(api_urls={"binanceusdm": rest.url}, ws_urls={"binanceusdm": ws.url},
                             flush_s=0.2, silence_s=1.0, backoff_s=0.05, max_backoff_s=0.2,
                             close_wait_ms=0)
        want = expected_events()

        async def go() -> object:
            with Store(db) as st:
                rec = Recorder(st, ["binanceusdm"], SYMBOLS, opts)
                task = asyncio.ensure_future(rec.run(duration_s=30))
                # stopped once every frame was sent on a third connection and heard
                await until(lambda: ws.remaining() == 0 and ws.connections >= 3 and heard(rec, st) >= want,
                            "every frame heard on the third connection")
                rec.stop.set()
                return await task

        report = run_async(go())
        assert ws.subscribed[0] == ["!forceOrder@arr"]
    assert stored(db) == expected_events()  # every event once: none lost, none doubled
    # Cut-off JSON is dropped by our guard (ccxt would stop reading); plain text that is not
    # JSON reaches ccxt's handler as a string, which ignores it.
    assert report.malformed == 200 // 7  # type: ignore[attr-defined]
    # After the server's close, either the pending watch fails ("Connection closed") and we
    # reconnect, or ccxt opens a new connection itself on the next watch; then the silent
    # connection is dropped by us. Either way three connections, and nothing lost.
    assert report.reconnects["binanceusdm"] >= 1 and ws.connections >= 3  # type: ignore[attr-defined]
    assert any("no frame for 1 s" in e or "Connection closed" in e for e in report.errors)  # type: ignore[attr-defined]
    with Store(db) as st:
        spans = st.liquidation_spans()
        assert len(spans) >= 2 and all(a <= b for _, _, a, b in spans)
        assert st.integrity_ok()


def test_a_silent_stream_is_reconnected(tmp_path: Path) -> None:
    db = tmp_path / "silent.sqlite"
    with FakeExchanges(load_universe(), NOW) as rest, FakeStream(
        [Plan(frames=40, then="silent"), Plan()]
    ) as ws:
        opts = RecordOptions(api_urls={"binanceusdm": rest.url}, ws_urls={"binanceusdm": ws.url},
                             flush_s=0.2, silence_s=1.0, backoff_s=0.05, close_wait_ms=0)
        want = expected_events()

        async def go() -> Any:
            with Store(db) as st:
                rec = Recorder(st, ["binanceusdm"], SYMBOLS, opts)
                task = asyncio.ensure_future(rec.run(duration_s=30))
                await until(lambda: ws.remaining() == 0 and heard(rec, st) >= want, "every frame heard")
                rec.stop.set()
                return await task

        started = time.monotonic()
        report = run_async(go())
        assert ws.connections == 2
    assert any("no frame for 1 s" in e for e in report.errors), report.errors
    assert stored(db) == expected_events()
    assert time.monotonic() - started < 20  # stopping does not wait for the quiet stream


def test_record_cli_refuses_an_exchange_without_a_stream(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["record", "--state", str(tmp_path), "--exchanges", "hyperliquid",
                                  "--for", "1s"])
    assert r.exit_code == 1 and "no public liquidation stream" in r.output
    r = CliRunner().invoke(main, ["record", "--for", "soon"])
    assert r.exit_code == 2 and "not a duration" in r.output


# -- real processes ----------------------------------------------------------------------

CHILD = """
import logging, sys
from pathlib import Path
from sitegen.sources.record import RecordOptions, record
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
rest, ws, db = sys.argv[1:4]
opts = RecordOptions(api_urls={"binanceusdm": rest}, ws_urls={"binanceusdm": ws}, flush_s=0.2,
                     silence_s=30, backoff_s=0.05)
rep = record(Path(db), ["binanceusdm"], ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"],
             options=opts)
print("EXIT", rep.events, flush=True)
"""


@pytest.fixture()
def fakes():
    """REST + websocket fakes in their own process, frames paced 20 ms apart (about 11 s)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakex.ws", "--now", str(NOW), "--interval", "0.02"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    urls = json.loads(proc.stdout.readline())
    yield urls
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db, timeout=5)
    try:
        return int(con.execute("SELECT count(*) FROM liquidations").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _start_child(urls: dict[str, str], db: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, urls["rest"], urls["ws"], str(db)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_rows(db: Path, n: int, timeout: float = 30) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = _rows(db)
        if got >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} rows after {timeout} s")


@pytest.mark.slow
def test_sigterm_flushes_and_exits_cleanly(tmp_path: Path, fakes: dict[str, str]) -> None:
    db = tmp_path / "term.sqlite"
    child = _start_child(fakes, db)
    _wait_rows(db, 20)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=15)
    assert child.returncode == 0, err
    written = int(out.split("EXIT")[1])
    assert _rows(db) == written  # everything the process counted is in the store
    with Store(db) as st:
        assert st.integrity_ok()
        assert len(st.liquidation_spans()) == 1
        got = {(e.symbol, e.ts) for s in SYMBOLS for e in st.liquidation_rows(s)}
    frames = [(IDS[f["o"]["s"]], int(f["o"]["T"])) for f in load_frames() if f["o"]["s"] in IDS]
    # What was written is a prefix of the replay (in time order): nothing skipped in between.
    assert got == set(frames[: len(got)])


@pytest.mark.slow
def test_sigkill_loses_at_most_the_last_batch_and_the_store_stays_consistent(
    tmp_path: Path, fakes: dict[str, str]
) -> None:
    db = tmp_path / "kill.sqlite"
    child = _start_child(fakes, db)
    before = _wait_rows(db, 30)
    child.kill()
    child.communicate(timeout=10)
    after = _rows(db)
    assert after >= before  # nothing committed was lost
    with Store(db) as st:
        assert st.integrity_ok()
        spans = st.liquidation_spans()
        assert len(spans) == 1 and spans[0][2] <= spans[0][3]
    # A new recorder opens the same store and goes on (the replay continues where it was).
    child = _start_child(fakes, db)
    _wait_rows(db, after + 5)
    child.send_signal(signal.SIGTERM)
    child.communicate(timeout=15)
    assert child.returncode == 0
    with Store(db) as st:
        assert st.integrity_ok() and len(st.liquidation_spans()) == 2
        got = sorted(e.ts for s in SYMBOLS for e in st.liquidation_rows(s))
    # The only events missing between the first and the last stored one are those the
    # killed process had received but not yet flushed: at most 0.2 s of the replay
    # (10 frames of all symbols at 20 ms each; a few more for scheduling slack).
    sent = sorted(int(f["o"]["T"]) for f in load_frames() if f["o"]["s"] in IDS)
    window = [t for t in sent if got[0] <= t <= got[-1]]
    assert 0 <= len(window) - len(got) <= 15


@pytest.mark.slow
def test_recorded_events_reach_the_offline_build(tmp_path: Path) -> None:
    """fetch + record into one store, then `build --offline`: the BTC pages carry the events."""
    from sitegen.build import build_site
    from sitegen.config import load_config
    from tests.fakex.harness import run_fetch

    state = tmp_path / "state"
    db = state / "liqmap.sqlite"
    # The recorded morning replayed as if it ended an hour before the fixture's "now", so it
    # falls inside the 24-hour page.
    shift = NOW - 3_600_000 - max(int(f["o"]["T"]) for f in load_frames())
    with FakeExchanges(load_universe(), NOW) as rest, FakeStream([Plan()], shift_ms=shift) as ws:
        with ThreadPoolExecutor(1) as pool:  # fetch_all runs its own event loop (see run_async)
            pool.submit(run_fetch, rest, db, exchanges=("binanceusdm",), symbols=("BTC/USDT:USDT",),
                        retention_days=30).result()
        opts = RecordOptions(api_urls={"binanceusdm": rest.url}, ws_urls={"binanceusdm": ws.url},
                             flush_s=0.2, silence_s=1.0, backoff_s=0.05)

        async def go() -> None:
            with Store(db) as st:
                rec = Recorder(st, ["binanceusdm"], ["BTC/USDT:USDT"], opts)
                task = asyncio.ensure_future(rec.run(duration_s=20))
                while ws.remaining() > 0:
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.4)
                rec.stop.set()
                await task

        run_async(go())
    config = load_config(None, exchanges=["binanceusdm"], symbols=["BTC/USDT:USDT"],
                         state_dir=state, out_dir=tmp_path / "site")
    # built at the time the replayed exchange's data ends, so the freshness gate passes
    build_site(config, offline=True, now=datetime(2026, 1, 19, 1, 0, tzinfo=UTC))
    data = json.loads((tmp_path / "site" / "data" / "btc-usdt.json").read_text())
    assert data["accuracy"]["sources"] == [] or data["accuracy"]["enough_data"] is False
    assert data["accuracy"]["long"] is None  # one recorded morning is far below the floor
    page = (tmp_path / "site" / "btc-usdt" / "24h" / "index.html").read_text()
    doc = (tmp_path / "site" / "btc-usdt" / "24h" / "doc.js").read_text()  # the figures, beside the page
    assert "realised_markers" in doc and "not enough data" in page.lower()
    assert doc.count("single liquidation") >= 1  # the tooltip note of a recorded event
    csv_text = (tmp_path / "site" / "data" / "btc-usdt.csv").read_text()
    assert csv_text.splitlines()[0].endswith("realised_long_usd,realised_short_usd")


def test_a_failed_store_write_keeps_the_events_for_the_next_flush(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sym = {"BTC/USDT:USDT": "BTC/USDT:USDT"}
    raw = [{"symbol": "BTC/USDT:USDT", "timestamp": 1767696426116 + i, "price": 93920.9,
            "contracts": 0.012, "contractSize": 1.0, "side": "sell", "info": {}} for i in range(3)]
    with Store(tmp_path / "s.sqlite") as st:
        rec = Recorder(st, ["binanceusdm"], ["BTC/USDT:USDT"], RecordOptions(flush_s=3600, batch=1000))
        real_write = st.write_liquidations
        calls = {"n": 0}

        def flaky(*a, **kw):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 1:
                raise sqlite3.OperationalError("database is locked")
            return real_write(*a, **kw)

        monkeypatch.setattr(st, "write_liquidations", flaky)
        rec._take("binanceusdm", raw, sym)
        rec.flush()  # fails: nothing lost, kept in memory
        assert st.liquidation_rows("BTC/USDT:USDT") == [] and len(rec._pending) == 3
        assert "database is locked" in rec.report.errors[-1]
        rec.flush()
        assert len(st.liquidation_rows("BTC/USDT:USDT")) == 3 and rec._pending == []


def _record_eth(tmp_path: Path, exchange: str, frames: list[Any]) -> tuple[Any, list[Any], list[Any]]:
    """Record ETH/USDT:USDT from ``exchange``'s replayed websocket ``frames`` (real ccxt against
    the loopback REST and stream servers) until the stream has sent them all; returns the
    recorder's report, the subscriptions the stream saw and the stored rows."""
    db = tmp_path / f"{exchange}.sqlite"
    with FakeExchanges(load_universe(), NOW) as rest, FakeStream(
        [Plan()], frames=frames, protocol=exchange
    ) as ws:
        opts = RecordOptions(api_urls={exchange: rest.url}, ws_urls={exchange: ws.url},
                             flush_s=0.2, silence_s=5.0, backoff_s=0.05, close_wait_ms=0)

        async def go() -> Any:
            with Store(db) as st:
                rec = Recorder(st, [exchange], ["ETH/USDT:USDT"], opts)
                task = asyncio.ensure_future(rec.run(duration_s=30))
                # every frame sent and received (one liquidation each) before the stop
                await until(lambda: ws.remaining() == 0 and rec.report.frames >= len(frames),
                            "every frame heard")
                rec.stop.set()
                return await task

        report = run_async(go())
        subscribed = list(ws.subscribed)
    with Store(db) as st:
        got = st.liquidation_rows("ETH/USDT:USDT")
    return report, subscribed, got


def test_okx_liquidation_orders_through_ccxt(tmp_path: Path) -> None:
    """OKX's liquidation-orders channel: posSide names the side, contracts x ctVal = ETH."""
    from tests.fakex.ws import OKX_FRAMES_FILE

    frames = load_frames(OKX_FRAMES_FILE)
    report, subscribed, got = _record_eth(tmp_path, "okx", frames)
    assert subscribed[0] == [{"channel": "liquidation-orders", "instType": "SWAP"}]
    assert report.events == len(got) == len(frames) == 15
    first = frames[0]["data"][0]["details"][0]
    e = next(x for x in got if x.ts == int(first["ts"]))
    assert e.side == first["posSide"] and e.exchange == "okx" and e.source == "okx:liquidation-orders"
    assert e.amount == pytest.approx(float(first["sz"]) * 0.1)  # ETH-USDT-SWAP: 0.1 ETH a contract
    assert e.usd == pytest.approx(float(first["sz"]) * 0.1 * float(first["bkPx"]))


def test_bybit_all_liquidation_through_ccxt(tmp_path: Path) -> None:
    """Bybit's allLiquidation topic: S is the position side (Sell = a short was liquidated)."""
    from tests.fakex.ws import BYBIT_FRAMES_FILE

    frames = load_frames(BYBIT_FRAMES_FILE)
    report, subscribed, got = _record_eth(tmp_path, "bybit", frames)
    assert subscribed[0] == ["allLiquidation.ETHUSDT"]
    assert report.events == len(got) == len(frames) == 5
    assert {e.side for e in got} == {"short"}  # all five were recorded as Sell = shorts
    d = frames[-1]["data"][0]
    e = next(x for x in got if x.ts == d["T"])
    assert e.amount == pytest.approx(float(d["v"])) and e.price == pytest.approx(float(d["p"]))
