"""The local time-series store: SQLite (standard library) in WAL mode.

One row per (exchange, symbol, timeframe, timestamp). Every write is an upsert inside one
transaction, so running a fetch twice changes nothing and a process killed at any moment
leaves the database at the last committed transaction (SQLite's journal guarantees it).
Rows are keyed by the *configured* symbol (``BTC/USDT:USDT``) even where the exchange lists
the market under another name (Hyperliquid's ``BTC/USDC:USDC``); the ``markets`` table
remembers the exchange's own name.

The schema is versioned with ``PRAGMA user_version`` and migrated forward on open.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np

from sitegen.errors import SourceError
from sitegen.liquidations import Liquidation, Realised, Span, merge_spans
from sitegen.series import Candles, Funding, LeverageTier, MarketSeries, OpenInterest

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
STORE_FILE = "liqmap.sqlite"  # the store's file name inside the state folder (--state)

# Each entry migrates the schema from version i to i + 1; append, never edit.
MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: market data tables
    """
    CREATE TABLE candles (
        exchange TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL, ts INTEGER NOT NULL,
        open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
        volume REAL NOT NULL, taker_buy_volume REAL,
        PRIMARY KEY (exchange, symbol, timeframe, ts)
    ) WITHOUT ROWID;
    CREATE TABLE open_interest (
        exchange TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL, ts INTEGER NOT NULL,
        amount REAL, value_usd REAL NOT NULL,
        PRIMARY KEY (exchange, symbol, timeframe, ts)
    ) WITHOUT ROWID;
    CREATE TABLE funding (
        exchange TEXT NOT NULL, symbol TEXT NOT NULL, ts INTEGER NOT NULL, rate REAL NOT NULL,
        PRIMARY KEY (exchange, symbol, ts)
    ) WITHOUT ROWID;
    CREATE TABLE tiers (
        exchange TEXT NOT NULL, symbol TEXT NOT NULL, tier INTEGER NOT NULL,
        min_notional REAL NOT NULL, max_notional REAL NOT NULL, mmr REAL NOT NULL,
        cum REAL NOT NULL, max_leverage REAL NOT NULL,
        PRIMARY KEY (exchange, symbol, tier)
    ) WITHOUT ROWID;
    """,
    # 1 -> 2: which market each configured symbol resolved to, and when it was last fetched
    """
    CREATE TABLE markets (
        exchange TEXT NOT NULL, symbol TEXT NOT NULL, market_symbol TEXT NOT NULL,
        last_ok_ms INTEGER, last_error TEXT,
        PRIMARY KEY (exchange, symbol)
    ) WITHOUT ROWID;
    """,
    # 2 -> 3: one integer id per series instead of three text columns in every row
    # (a third smaller on disk); rows are copied over unchanged.
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        exchange TEXT NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL, timeframe TEXT NOT NULL,
        UNIQUE (exchange, symbol, kind, timeframe)
    );
    INSERT INTO series (exchange, symbol, kind, timeframe)
        SELECT DISTINCT exchange, symbol, 'candles', timeframe FROM candles
        UNION SELECT DISTINCT exchange, symbol, 'open_interest', timeframe FROM open_interest
        UNION SELECT DISTINCT exchange, symbol, 'funding', '' FROM funding;
    CREATE TABLE candles3 (
        series INTEGER NOT NULL REFERENCES series (id), ts INTEGER NOT NULL,
        open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
        volume REAL NOT NULL, taker_buy_volume REAL,
        PRIMARY KEY (series, ts)
    ) WITHOUT ROWID;
    INSERT INTO candles3
        SELECT s.id, c.ts, c.open, c.high, c.low, c.close, c.volume, c.taker_buy_volume
        FROM candles c JOIN series s ON s.exchange = c.exchange AND s.symbol = c.symbol
            AND s.kind = 'candles' AND s.timeframe = c.timeframe;
    DROP TABLE candles;
    ALTER TABLE candles3 RENAME TO candles;
    CREATE TABLE open_interest3 (
        series INTEGER NOT NULL REFERENCES series (id), ts INTEGER NOT NULL,
        amount REAL, value_usd REAL NOT NULL,
        PRIMARY KEY (series, ts)
    ) WITHOUT ROWID;
    INSERT INTO open_interest3
        SELECT s.id, o.ts, o.amount, o.value_usd
        FROM open_interest o JOIN series s ON s.exchange = o.exchange AND s.symbol = o.symbol
            AND s.kind = 'open_interest' AND s.timeframe = o.timeframe;
    DROP TABLE open_interest;
    ALTER TABLE open_interest3 RENAME TO open_interest;
    CREATE TABLE funding3 (
        series INTEGER NOT NULL REFERENCES series (id), ts INTEGER NOT NULL, rate REAL NOT NULL,
        PRIMARY KEY (series, ts)
    ) WITHOUT ROWID;
    INSERT INTO funding3
        SELECT s.id, f.ts, f.rate
        FROM funding f JOIN series s ON s.exchange = f.exchange AND s.symbol = f.symbol
            AND s.kind = 'funding';
    DROP TABLE funding;
    ALTER TABLE funding3 RENAME TO funding;
    """,
    # 3 -> 4: realised liquidations (one row per event, keyed so a replayed event is one row)
    # and the spans each source was listening, so an hour without events reads as zero only
    # where someone was recording (sitegen/liquidations.py).
    """
    CREATE TABLE liquidations (
        exchange TEXT NOT NULL, symbol TEXT NOT NULL, ts INTEGER NOT NULL, side TEXT NOT NULL
            CHECK (side IN ('long', 'short')),
        price REAL NOT NULL CHECK (price > 0), amount REAL NOT NULL CHECK (amount > 0),
        usd REAL NOT NULL CHECK (usd > 0), source TEXT NOT NULL,
        PRIMARY KEY (exchange, symbol, ts, side, price, amount)
    ) WITHOUT ROWID;
    CREATE TABLE liquidation_spans (
        exchange TEXT NOT NULL, source TEXT NOT NULL, start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL CHECK (end_ms >= start_ms),
        PRIMARY KEY (exchange, source, start_ms)
    ) WITHOUT ROWID;
    """,
    # 4 -> 5: how far back each series is complete (the backfill resumes from there across
    # runs), and when each market's leverage tiers were last fetched (they rarely change).
    # A store filled before this version was filled forward from its oldest row.
    """
    CREATE TABLE coverage (
        series INTEGER PRIMARY KEY REFERENCES series (id),
        filled_from INTEGER NOT NULL
    );
    INSERT INTO coverage SELECT series, min(ts) FROM candles GROUP BY series;
    INSERT INTO coverage SELECT series, min(ts) FROM open_interest GROUP BY series;
    INSERT INTO coverage SELECT series, min(ts) FROM funding GROUP BY series;
    ALTER TABLE markets ADD COLUMN tiers_ms INTEGER;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
KINDS = ("candles", "open_interest", "funding")

CandleRow = tuple[int, float, float, float, float, float, float | None]  # ts, o, h, l, c, v, tbv
OIRow = tuple[int, float | None, float]  # ts, amount (base units), value in USD
FundingRow = tuple[int, float]  # ts, rate


class Store:
    """The SQLite store at ``path`` (created with its folder if missing). Use as a context manager.

    ``read_only=True`` never writes (``build --offline`` reads a store it may not own: a
    read-only file or folder works). Every open runs ``PRAGMA quick_check`` once per process
    and file version (see ``benchmarks/store_open.py`` for its cost), so a store damaged in
    the middle is reported before anything is read from it or written to it.
    """

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0, read_only: bool = False) -> None:
        self.path = Path(path)
        self._timeout_s = timeout_s
        self._read_only = read_only
        self._db: sqlite3.Connection | None = None
        self._ids: dict[tuple[str, str, str, str], int] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> Store:
        try:
            db = self._connect()
        except (OSError, sqlite3.Error) as e:
            raise SourceError(store_problem(self.path, e, "cannot open the store")) from None
        try:
            if not self._read_only:
                self._set_wal(db)
                db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._db = db
            self._check_integrity()
            self._migrate()
        except sqlite3.Error as e:
            db.close()
            self._db = None
            raise SourceError(store_problem(self.path, e, "not a usable liqmap store")) from None
        except BaseException:
            db.close()
            self._db = None
            raise
        return self

    def _set_wal(self, db: sqlite3.Connection) -> None:
        """Switch to WAL. Changing the journal mode fails at once with "database is locked"
        (SQLite's busy handler is not consulted) while another process creates the same new
        store: wait for it, up to the store's timeout."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is
        # exactly what we say it is. check_same_thread=False: a fetch called inside a
        # running event loop runs in a helper thread while its caller waits (never two
        # threads at once).
        if not self._read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(self.path, timeout=self._timeout_s, isolation_level=None,
                                   check_same_thread=False)
        if not self.path.is_file():
            raise sqlite3.OperationalError(f"no such file: {self.path}")
        uri = self.path.resolve().as_uri()
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=self._timeout_s, isolation_level=None)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError as e:
            db.close()
            if "locked" in str(e) or "busy" in str(e):
                raise  # a writer is at work: never read around its lock
            # A WAL store in a folder we cannot write: SQLite cannot make its -shm file.
            # Nobody can be writing it then either; read it as an immutable file.
            return sqlite3.connect(
                f"{uri}?mode=ro&immutable=1", uri=True, timeout=self._timeout_s, isolation_level=None
            )

    def _check_integrity(self) -> None:
        try:
            st = self.path.stat()
        except OSError:
            return
        key = (str(self.path.resolve()), st.st_mtime_ns, st.st_size)
        if key in _CHECKED:
            return
        started = time.perf_counter()
        try:
            problems = [str(r[0]) for r in self.db.execute("PRAGMA quick_check(3)").fetchall()]
        except sqlite3.DatabaseError as e:  # damage bad enough to stop the check itself
            if "not a database" in str(e):
                raise
            problems = [str(e)]
        ms = (time.perf_counter() - started) * 1000
        if problems != ["ok"]:
            raise SourceError(
                f"{self.path}: the store is damaged (SQLite quick_check: {'; '.join(problems)}). "
                "Nothing was read from it or written to it. Rescue what is readable with "
                f"`sqlite3 {self.path} .recover | sqlite3 recovered.sqlite` and use that file, "
                "or move it away and run `liqmap fetch` to start a new store (history is fetched "
                "again only as far back as the exchanges keep it)"
            )
        log.info("%s: integrity ok (quick_check, %.0f ms)", self.path, ms)
        _CHECKED.add(key)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("Store is not open: use `with Store(path) as store:`")
        return self._db

    def _migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise SourceError(
                f"{self.path}: store schema version {version} is newer than this liqmap knows "
                f"({SCHEMA_VERSION}); upgrade liqmap or use another --state folder"
            )
        if version == SCHEMA_VERSION:
            return
        if self._read_only:
            raise SourceError(
                f"{self.path}: store schema version {version} is older than this liqmap's "
                f"({SCHEMA_VERSION}) and the store is opened read-only; run `liqmap fetch` once "
                "with write access to upgrade it"
            )
        created = False
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # Read the version inside the write lock: another process creating or upgrading
            # the same store at this moment may have done this step already.
            self.db.execute("BEGIN IMMEDIATE")
            try:
                now = int(self.db.execute("PRAGMA user_version").fetchone()[0])
                if now < target:
                    for statement in _statements(MIGRATIONS[target - 1]):
                        self.db.execute(statement)
                    # PRAGMA user_version is transactional: it commits with the tables.
                    self.db.execute(f"PRAGMA user_version={target}")
                    created = created or now == 0
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # SQLite may have rolled back already (disk full)
                    self.db.execute("ROLLBACK")
                raise
            if version > 0:
                log.info("%s: store schema migrated to version %d", self.path, target)
        if version == 0 and created:
            log.info("%s: new store (schema version %d)", self.path, SCHEMA_VERSION)

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- writes ------------------------------------------------------------------------------

    def write(
        self,
        exchange: str,
        symbol: str,
        *,
        market_symbol: str | None = None,
        candles: dict[str, Sequence[CandleRow]] | None = None,
        open_interest: dict[str, Sequence[OIRow]] | None = None,
        funding: Sequence[FundingRow] | None = None,
        tiers: Sequence[LeverageTier] | None = None,
        prune_before_ms: int | None = None,
        ok_ms: int | None = None,
        prune: Mapping[tuple[str, str], int] | None = None,
        filled_from: Mapping[tuple[str, str], int] | None = None,
        tiers_at_ms: int | None = None,
    ) -> None:
        """Upsert everything fetched for one (exchange, symbol) in ONE transaction.

        ``tiers`` replaces the stored tier table when given. ``prune_before_ms`` deletes rows
        older than it (retention), ``prune`` per series: {(kind, timeframe): before_ms}
        (timeframe "" for funding). ``filled_from`` records, per series, the time from which
        the store now holds everything the exchange has (see :meth:`filled_from`). Either all
        of it lands or none of it does: a process killed in the middle of a prune leaves the
        store as it was before the call. ``tiers_at_ms``: when the tiers were asked for (also
        when the answer held none; default with ``tiers``: now).
        """
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for tf, rows in (candles or {}).items():
                sid = self._series(exchange, symbol, "candles", tf)
                db.executemany(
                    "INSERT INTO candles VALUES (?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (series, ts) DO UPDATE SET "
                    "open=excluded.open, high=excluded.high, low=excluded.low, close=excluded.close, "
                    "volume=excluded.volume, taker_buy_volume=excluded.taker_buy_volume",
                    ((sid, *r) for r in rows),
                )
            for tf, oi_rows in (open_interest or {}).items():
                sid = self._series(exchange, symbol, "open_interest", tf)
                db.executemany(
                    "INSERT INTO open_interest VALUES (?,?,?,?) "
                    "ON CONFLICT (series, ts) DO UPDATE SET "
                    "amount=excluded.amount, value_usd=excluded.value_usd",
                    ((sid, *r) for r in oi_rows),
                )
            if funding:
                sid = self._series(exchange, symbol, "funding", "")
                db.executemany(
                    "INSERT INTO funding VALUES (?,?,?) "
                    "ON CONFLICT (series, ts) DO UPDATE SET rate=excluded.rate",
                    ((sid, *r) for r in funding),
                )
            if tiers:
                db.execute("DELETE FROM tiers WHERE exchange=? AND symbol=?", (exchange, symbol))
                db.executemany(
                    "INSERT INTO tiers VALUES (?,?,?,?,?,?,?,?)",
                    (
                        (exchange, symbol, i, t.min_notional, t.max_notional, t.mmr, t.cum,
                         t.max_leverage)
                        for i, t in enumerate(tiers, start=1)
                    ),
                )
            if prune_before_ms is not None:
                for table in KINDS:
                    db.execute(
                        f"DELETE FROM {table} WHERE ts < ? AND series IN "
                        "(SELECT id FROM series WHERE exchange=? AND symbol=? AND kind=?)",
                        (prune_before_ms, exchange, symbol, table),
                    )
            for (kind, tf), before in (prune or {}).items():
                if kind not in KINDS:
                    raise ValueError(f"unknown kind {kind!r}")
                db.execute(
                    f"DELETE FROM {kind} WHERE ts < ? AND series = (SELECT id FROM series "
                    "WHERE exchange=? AND symbol=? AND kind=? AND timeframe=?)",
                    (before, exchange, symbol, kind, tf),
                )
            for (kind, tf), since in (filled_from or {}).items():
                db.execute(
                    "INSERT INTO coverage VALUES (?,?) ON CONFLICT (series) DO UPDATE SET "
                    "filled_from=excluded.filled_from",
                    (self._series(exchange, symbol, kind, tf), since),
                )
            if tiers or tiers_at_ms is not None:
                db.execute(
                    "INSERT INTO markets (exchange, symbol, market_symbol, tiers_ms) VALUES (?,?,?,?) "
                    "ON CONFLICT (exchange, symbol) DO UPDATE SET tiers_ms=excluded.tiers_ms",
                    (exchange, symbol, market_symbol or symbol, tiers_at_ms if tiers_at_ms is not None else _now_ms()),
                )
            if market_symbol is not None or ok_ms is not None:
                db.execute(
                    "INSERT INTO markets (exchange, symbol, market_symbol, last_ok_ms, last_error) "
                    "VALUES (?,?,?,?,NULL) ON CONFLICT (exchange, symbol) DO UPDATE SET "
                    "market_symbol=coalesce(excluded.market_symbol, markets.market_symbol), "
                    "last_ok_ms=coalesce(excluded.last_ok_ms, markets.last_ok_ms), last_error=NULL",
                    (exchange, symbol, market_symbol or symbol, ok_ms),
                )
            db.execute("COMMIT")
        except BaseException:
            # on a full disk SQLite rolls back by itself; a second ROLLBACK would hide the cause
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._ids.clear()  # ids created in the rolled-back transaction are gone
            raise

    def _series(self, exchange: str, symbol: str, kind: str, timeframe: str) -> int:
        """The id of a series, created if new (call inside a write transaction)."""
        key = (exchange, symbol, kind, timeframe)
        if key not in self._ids:
            self.db.execute(
                "INSERT OR IGNORE INTO series (exchange, symbol, kind, timeframe) VALUES (?,?,?,?)",
                key,
            )
            row = self.db.execute(
                "SELECT id FROM series WHERE exchange=? AND symbol=? AND kind=? AND timeframe=?", key
            ).fetchone()
            self._ids[key] = int(row[0])
        return self._ids[key]

    def note_error(self, exchange: str, symbol: str, message: str) -> None:
        """Remember the last failure of (exchange, symbol); the data rows stay as they are."""
        self.db.execute(
            "INSERT INTO markets (exchange, symbol, market_symbol, last_error) VALUES (?,?,?,?) "
            "ON CONFLICT (exchange, symbol) DO UPDATE SET last_error=excluded.last_error",
            (exchange, symbol, symbol, message[:500]),
        )

    # -- reads -------------------------------------------------------------------------------

    def last_ts(self, exchange: str, symbol: str, kind: str, timeframe: str | None = None) -> int | None:
        """Timestamp of the newest stored row of ``kind`` (candles, open_interest, funding)."""
        return self._edge_ts("max", exchange, symbol, kind, timeframe)

    def first_ts(self, exchange: str, symbol: str, kind: str, timeframe: str | None = None) -> int | None:
        """Timestamp of the oldest stored row of ``kind`` (candles, open_interest, funding)."""
        return self._edge_ts("min", exchange, symbol, kind, timeframe)

    def _edge_ts(
        self, edge: Literal["min", "max"], exchange: str, symbol: str, kind: str, timeframe: str | None
    ) -> int | None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        sql = (
            f"SELECT {edge}(ts) FROM {kind} WHERE series IN "
            "(SELECT id FROM series WHERE exchange=? AND symbol=? AND kind=?"
        )
        args: tuple[object, ...] = (exchange, symbol, kind)
        if timeframe is not None:
            sql += " AND timeframe=?"
            args += (timeframe,)
        row = self.db.execute(sql + ")", args).fetchone()
        return None if row[0] is None else int(row[0])

    def count(self, kind: str, exchange: str | None = None, symbol: str | None = None) -> int:
        """Rows of ``kind`` (candles, open_interest, funding, tiers), optionally for one market."""
        if kind not in (*KINDS, "tiers"):
            raise ValueError(f"unknown kind {kind!r}")
        where, args = [], []
        if exchange is not None:
            where.append("exchange=?")
            args.append(exchange)
        if symbol is not None:
            where.append("symbol=?")
            args.append(symbol)
        if kind == "tiers":
            sql = "SELECT count(*) FROM tiers" + (" WHERE " + " AND ".join(where) if where else "")
        else:
            sql = (
                f"SELECT count(*) FROM {kind} WHERE series IN (SELECT id FROM series WHERE "
                + " AND ".join(["kind=?", *where]) + ")"
            )
            args.insert(0, kind)
        return int(self.db.execute(sql, args).fetchone()[0])

    def candle_rows(self, exchange: str, symbol: str, timeframe: str) -> list[CandleRow]:
        return self.db.execute(
            "SELECT ts, open, high, low, close, volume, taker_buy_volume FROM candles "
            "WHERE series = (SELECT id FROM series WHERE exchange=? AND symbol=? "
            "AND kind='candles' AND timeframe=?) ORDER BY ts",
            (exchange, symbol, timeframe),
        ).fetchall()

    def filled_from(self, exchange: str, symbol: str, kind: str, timeframe: str) -> int | None:
        """The time (ms) from which the store holds every row of the series the exchange has,
        up to its newest stored row; None when nothing is recorded (a new series)."""
        row = self.db.execute(
            "SELECT c.filled_from FROM coverage c JOIN series s ON s.id = c.series "
            "WHERE s.exchange=? AND s.symbol=? AND s.kind=? AND s.timeframe=?",
            (exchange, symbol, kind, timeframe),
        ).fetchone()
        return None if row is None else int(row[0])

    def _market_value(
        self, column: Literal["tiers_ms", "market_symbol", "last_error", "last_ok_ms"], exchange: str, symbol: str
    ) -> int | str | None:
        """One column of the markets row of (exchange, symbol); None when there is no row."""
        row = self.db.execute(
            f"SELECT {column} FROM markets WHERE exchange=? AND symbol=?", (exchange, symbol)
        ).fetchone()
        return None if row is None else row[0]

    def tiers_ms(self, exchange: str, symbol: str) -> int | None:
        """When the leverage tiers of (exchange, symbol) were last stored (ms), or None."""
        value = self._market_value("tiers_ms", exchange, symbol)
        return None if value is None else int(value)

    def market_symbol(self, exchange: str, symbol: str) -> str | None:
        value = self._market_value("market_symbol", exchange, symbol)  # NOT NULL in a row
        return None if value is None else str(value)

    def last_error(self, exchange: str, symbol: str) -> str | None:
        """The last failure noted for (exchange, symbol), None after a good fetch."""
        value = self._market_value("last_error", exchange, symbol)
        return None if value is None else str(value)

    def last_ok_ms(self, exchange: str, symbol: str) -> int | None:
        value = self._market_value("last_ok_ms", exchange, symbol)
        return None if value is None else int(value)

    def load_series(self, exchange: str, symbol: str) -> MarketSeries | None:
        """Everything stored for ``symbol`` (the configured name) on ``exchange``, or None.

        None when the store holds no candles for it. ``source`` is "store"; ``symbol`` is the
        configured name and ``market_symbol`` the exchange's own (they differ on Hyperliquid).
        """
        candles: dict[str, Candles] = {}
        for tf in ("5m", "1h"):
            rows = self.candle_rows(exchange, symbol, tf)
            if not rows:
                continue
            arr = np.array([r[:6] for r in rows], dtype=np.float64)
            tbv = [r[6] for r in rows]
            taker = None if any(v is None for v in tbv) else np.array(tbv, dtype=np.float64)
            candles[tf] = Candles(
                tf, arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4],
                arr[:, 5], taker,
            )
        if not candles:
            return None
        oi = None
        oi_rows = self.db.execute(
            "SELECT s.timeframe, o.ts, o.value_usd FROM open_interest o JOIN series s "
            "ON s.id = o.series WHERE s.exchange=? AND s.symbol=? ORDER BY s.timeframe, o.ts",
            (exchange, symbol),
        ).fetchall()
        if oi_rows:
            # Prefer 1h (the history every exchange has); else whatever was stored.
            tfs = {r[0] for r in oi_rows}
            tf = "1h" if "1h" in tfs else sorted(tfs)[0]
            sel = [r for r in oi_rows if r[0] == tf]
            oi = OpenInterest(
                tf,
                np.array([r[1] for r in sel], dtype=np.int64),
                np.array([r[2] for r in sel], dtype=np.float64),
            )
        f_rows = self.db.execute(
            "SELECT ts, rate FROM funding WHERE series = (SELECT id FROM series "
            "WHERE exchange=? AND symbol=? AND kind='funding') ORDER BY ts",
            (exchange, symbol),
        ).fetchall()
        funding = (
            Funding(
                np.array([r[0] for r in f_rows], dtype=np.int64),
                np.array([r[1] for r in f_rows], dtype=np.float64),
            )
            if f_rows
            else None
        )
        t_rows = self.db.execute(
            "SELECT min_notional, max_notional, mmr, cum, max_leverage FROM tiers "
            "WHERE exchange=? AND symbol=? ORDER BY tier",
            (exchange, symbol),
        ).fetchall()
        tiers = tuple(LeverageTier(*map(float, r)) for r in t_rows)
        return MarketSeries(
            exchange, symbol, candles, oi, funding, tiers, source="store",
            market_symbol=self.market_symbol(exchange, symbol),
            fetched_at_ms=self.last_ok_ms(exchange, symbol),
        )

    # -- realised liquidations (sitegen/liquidations.py) -------------------------------------

    def write_liquidations(
        self,
        events: Sequence[Liquidation],
        *,
        span: tuple[str, str, int, int] | None = None,
        prune_before_ms: int | None = None,
    ) -> int:
        """Upsert liquidation events (and the recording span they came from) in ONE transaction.

        A replayed event (same exchange, symbol, time, side, price, amount) stays one row.
        ``span`` is (exchange, source, start_ms, end_ms): the time the source was listening;
        a span with the same start is extended. Returns the number of rows now new.
        """
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            before = db.total_changes
            db.executemany(
                "INSERT INTO liquidations VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
                "usd=excluded.usd, source=excluded.source WHERE liquidations.usd != excluded.usd",
                ((e.exchange, e.symbol, e.ts, e.side, e.price, e.amount, e.usd, e.source) for e in events),
            )
            added = db.total_changes - before
            if span is not None:
                db.execute(
                    "INSERT INTO liquidation_spans VALUES (?,?,?,?) ON CONFLICT DO UPDATE SET "
                    "end_ms=max(end_ms, excluded.end_ms)",
                    span,
                )
            if prune_before_ms is not None:
                db.execute("DELETE FROM liquidations WHERE ts < ?", (prune_before_ms,))
                db.execute("DELETE FROM liquidation_spans WHERE end_ms < ?", (prune_before_ms,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return added

    def liquidation_rows(
        self, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[Liquidation]:
        """Stored events of ``symbol`` (configured name), oldest first, in [start_ms, end_ms)."""
        rows = self.db.execute(
            "SELECT exchange, symbol, ts, side, price, amount, usd, source FROM liquidations "
            "WHERE symbol=? AND ts >= ? AND ts < ? ORDER BY ts, exchange, side, price, amount",
            (symbol, start_ms if start_ms is not None else -(2**62), end_ms if end_ms is not None else 2**62),
        ).fetchall()
        return [Liquidation(*r) for r in rows]

    def liquidation_spans(self) -> list[tuple[str, str, int, int]]:
        """(exchange, source, start_ms, end_ms) of every recording span, oldest first."""
        return self.db.execute(
            "SELECT exchange, source, start_ms, end_ms FROM liquidation_spans ORDER BY start_ms"
        ).fetchall()

    def load_realised(self, symbol: str, days: int = 32) -> Realised:
        """The events of ``symbol`` of the last ``days`` before its newest stored one, and the
        recording spans: what the pages and the 30-day score need, not the whole retention."""
        newest = self.db.execute("SELECT max(ts) FROM liquidations WHERE symbol=?", (symbol,)).fetchone()[0]
        start = None if newest is None else int(newest) - days * 86_400_000
        spans = merge_spans(Span(*r) for r in self.liquidation_spans())
        return Realised(symbol, tuple(self.liquidation_rows(symbol, start)), spans)

    def import_liquidations(self, other: Store) -> tuple[int, int]:
        """Copy ``other``'s liquidation events and recording spans into this store, in ONE
        transaction (a recorder that runs apart: publish.yml's record workflow). Events are
        keyed, so importing the same recording twice adds nothing; spans are merged. Only what
        is newer than this store's last recording span of each source (less an hour) is read,
        so an hourly import of a long recording stays small. Returns (events new, spans)."""
        newest = dict(self.db.execute(
            "SELECT exchange || ' ' || source, max(end_ms) FROM liquidation_spans GROUP BY exchange, source"
        ).fetchall())
        spans = [s for s in other.liquidation_spans() if s[3] >= newest.get(f"{s[0]} {s[1]}", -(2**62)) - HOUR_MS]
        since = min((s[2] for s in spans), default=None)
        if since is None:
            return 0, 0
        events = other.liquidation_rows_all(since)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            before = db.total_changes
            db.executemany(
                "INSERT INTO liquidations VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                ((e.exchange, e.symbol, e.ts, e.side, e.price, e.amount, e.usd, e.source) for e in events),
            )
            added = db.total_changes - before
            db.executemany(
                "INSERT INTO liquidation_spans VALUES (?,?,?,?) ON CONFLICT DO UPDATE SET "
                "end_ms=max(end_ms, excluded.end_ms)",
                spans,
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return added, len(spans)

    def liquidation_rows_all(self, start_ms: int) -> list[Liquidation]:
        """Every stored event of every symbol from ``start_ms`` on, oldest first."""
        rows = self.db.execute(
            "SELECT exchange, symbol, ts, side, price, amount, usd, source FROM liquidations "
            "WHERE ts >= ? ORDER BY ts", (start_ms,),
        ).fetchall()
        return [Liquidation(*r) for r in rows]

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


_CHECKED: set[tuple[str, int, int]] = set()  # (path, mtime, size) already quick-checked


def import_recording(source: Path, target: Path) -> tuple[int, int]:
    """``liqmap record --import-from``: copy the recording in store ``source`` into store
    ``target`` (created when missing); see :meth:`Store.import_liquidations`."""
    with Store(source, read_only=True) as other, Store(target) as store:
        events, spans = store.import_liquidations(other)
    log.info("%s: imported %d new liquidations and %d spans from %s", target, events, spans, source)
    return events, spans


def store_problem(path: Path, error: BaseException, what: str) -> str:
    """One line for a store that cannot be used, with advice that fits the cause.

    A read-only file, a full disk or a lock are not damage: the history in the store is
    good, and moving it away would throw it out.
    """
    text = str(error).lower()
    err = getattr(error, "errno", None)
    if "readonly" in text or "read-only" in text or err in (errno.EACCES, errno.EPERM, errno.EROFS) or (
        "unable to open" in text and path.exists()
    ):
        return (
            f"{path}: {what}: {error}. The store is read-only for this user (or its folder is): "
            "give write access to the file and its folder, or use `liqmap build --offline`, "
            "which only reads it"
        )
    if "disk is full" in text or "disk or database is full" in text or err in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"{path}: {what}: {error}. The disk holding the store is full: free space and run "
            "again; the store keeps everything written before"
        )
    if "locked" in text or "busy" in text:
        return (
            f"{path}: {what}: {error}. Another liqmap process is writing the store: wait for it "
            "to finish and run again"
        )
    if "no such file" in text:
        return f"{path}: {what}: no store there yet; run `liqmap fetch` (or build without --offline) first"
    if isinstance(error, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return (
            f"{path}: {what} ({error}): the file is damaged or is not a liqmap store. Rescue what "
            f"is readable with `sqlite3 {path} .recover | sqlite3 recovered.sqlite`, or move it "
            "away and run `liqmap fetch` to start a new store"
        )
    return f"{path}: {what}: {error} (check the file and --state)"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _statements(script: str) -> Iterable[str]:
    """Split a migration script into statements (no semicolons inside our DDL)."""
    return (s.strip() for s in script.split(";") if s.strip())
