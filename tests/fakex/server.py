"""A loopback HTTP server that speaks four exchanges' public REST APIs, with injected faults.

One server on 127.0.0.1 (a free port) answers Binance USDⓈ-M (``/fapi``, ``/futures/data``),
Bybit (``/v5``), OKX (``/api/v5``) and Hyperliquid (``POST /info``); the real ccxt classes are
pointed at it by rewriting their API URLs. It counts every request, enforces each exchange's
documented public rate limit (a rolling window; excess is rejected with 429 and counted),
can add latency, and can inject faults per exchange and endpoint:

    status      answer with an HTTP status (429 with Retry-After, 500, 451, 403, ...)
    delay       wait before answering (a client timeout)
    malformed   200 with a body that is not JSON
    truncate    keep only the first half of the rows of a page
    duplicate   send every row twice, out of order
    drop        remove rows (a gap) from a page
    bad_price   corrupt prices in some rows (NaN, zero, negative)
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakex.data import CoinData
from tests.fakex.formats import Formats

# exchange -> (window seconds, max weight per window): the documented public IP limits.
RATE_LIMITS: dict[str, tuple[float, int]] = {
    "binanceusdm": (60.0, 2400),  # REQUEST_WEIGHT 2400 per minute
    "bybit": (5.0, 600),  # 600 requests per 5 s per IP
    "okx": (2.0, 20),  # per endpoint (counted per path below; see OKX_PATH_LIMITS)
    "hyperliquid": (60.0, 1200),  # 1200 weight per minute
}

# OKX limits each endpoint on its own (requests per 2 s).
OKX_PATH_LIMITS = {
    "/api/v5/market/candles": 40,
    "/api/v5/market/history-candles": 20,
    "/api/v5/public/funding-rate-history": 10,
    "/api/v5/rubik/stat/contracts/open-interest-history": 10,
    "/api/v5/public/instruments": 20,
    "/api/v5/public/position-tiers": 10,
}

# How often the serving thread looks for a stop request (the standard library's 0.5 s makes
# every stop() wait up to half a second).
POLL_S = 0.01

GEO_BODIES = {
    "binanceusdm": (451, json.dumps({
        "code": 0,
        "msg": "Service unavailable from a restricted location according to 'b. Eligibility' "
               "in https://www.binance.com/en/terms. Please contact customer service if you "
               "believe you received this message in error.",
    })),
    "bybit": (403, "<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD>"
                   "<BODY>403 ERROR. The Amazon CloudFront distribution is configured to block "
                   "access from your country.</BODY></HTML>"),
    "okx": (451, json.dumps({"code": "51155", "msg": "restricted location"})),
    "hyperliquid": (451, json.dumps({"error": "restricted location"})),
}


@dataclass
class Fault:
    exchange: str
    kind: str
    match: str = ""  # substring of the path (or the Hyperliquid info type); "" = any
    times: int | None = 1  # None = every time
    status: int = 500
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hits: int = 0
    dropped: set[int] = field(default_factory=set)  # "drop": the bar times it removes


def exchange_of(path: str) -> str | None:
    if path.startswith(("/fapi/", "/futures/data/")):
        return "binanceusdm"
    if path.startswith("/v5/"):
        return "bybit"
    if path.startswith("/api/v5/"):
        return "okx"
    if path == "/info":
        return "hyperliquid"
    return None


class FakeExchanges:
    """The server; ``url`` is the base every ccxt client is pointed at."""

    def __init__(self, coins: dict[str, CoinData], now_ms: int, *, latency_s: float = 0.0) -> None:
        self.coins = coins
        self.now_ms = now_ms
        self.latency_s = latency_s
        self.formats = Formats(coins, lambda: self.now_ms)
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (exchange, path, params)
        self.rejected: dict[str, int] = defaultdict(int)  # rate-limit rejections
        self.rejected_paths: dict[str, int] = defaultdict(int)
        self.enforce_limits = True
        self.proxied: list[str] = []  # Proxy-Authorization of requests that came as a proxy
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._windows: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeExchanges:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path.startswith("http"):  # absolute form: we are used as a proxy
                    with server._lock:
                        server.proxied.append(self.headers.get("Proxy-Authorization", ""))
                parts = urlsplit(self.path)
                server._handle(self, parts.path, dict(parse_qsl(parts.query)))

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                server._handle(self, urlsplit(self.path).path, body if isinstance(body, dict) else {})

        class Server(ThreadingHTTPServer):
            # The default listen backlog of 5 drops bursts of new connections (each retried
            # by the client's kernel a second later): size it for concurrent clients.
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client that went away (killed, timed out) is not the server's error

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # serve_forever checks for shutdown() between polls: a short poll lets stop() return
        # at once instead of after the default half second (every test starts a server).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeExchanges:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def api_urls(self, exchanges: tuple[str, ...] = tuple(RATE_LIMITS)) -> dict[str, str]:
        return {e: self.url for e in exchanges}

    # -- faults and counters ---------------------------------------------------------------

    def add_fault(self, exchange: str, kind: str, match: str = "", **kw: Any) -> Fault:
        f = Fault(exchange, kind, match, **kw)
        with self._lock:
            self.faults.append(f)
        return f

    def geo_block(self, exchange: str) -> Fault:
        status, body = GEO_BODIES[exchange]
        return self.add_fault(exchange, "status", times=None, status=status, body=body)

    def count(self, exchange: str | None = None, match: str = "") -> int:
        with self._lock:
            return sum(
                1 for e, p, params in self.requests
                if (exchange is None or e == exchange) and (match in p or match == params.get("type"))
            )

    def _take_fault(self, exchange: str, path: str, params: dict[str, Any]) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.exchange != exchange or (f.times is not None and f.hits >= f.times):
                    continue
                if f.match and f.match not in path and f.match != params.get("type"):
                    continue
                f.hits += 1
                return f
        return None

    def _over_limit(self, exchange: str, path: str, weight: int) -> bool:
        window, cap = RATE_LIMITS[exchange]
        key = f"{exchange}:{path}" if exchange == "okx" else exchange
        if exchange == "okx":
            cap = OKX_PATH_LIMITS.get(path, cap)
        now = time.monotonic()
        with self._lock:
            q = self._windows[key]
            while q and q[0][0] <= now - window:
                q.popleft()
            used = sum(w for _, w in q)
            if self.enforce_limits and used + weight > cap:
                self.rejected[exchange] += 1
                self.rejected_paths[path] += 1
                return True
            q.append((now, weight))
        return False

    # -- one request -----------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, path: str, params: dict[str, Any]) -> None:
        exchange = exchange_of(path)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.requests.append((exchange or "?", path, params))
        try:
            if exchange is None:
                return _send(h, 404, json.dumps({"error": "unknown path"}))
            # Counted on arrival, as an exchange's gateway does.
            if self._over_limit(exchange, path, _weight(exchange, path, params)):
                if self.latency_s:
                    time.sleep(self.latency_s)
                return _send(h, 429, _too_many(exchange), {"Retry-After": "1"})
            if self.latency_s:
                time.sleep(self.latency_s)
            fault = self._take_fault(exchange, path, params)
            if fault and fault.kind == "status":
                return _send(h, fault.status, fault.body or "{}", fault.headers)
            if fault and fault.kind == "delay":
                time.sleep(fault.delay_s)
            if fault and fault.kind == "malformed":
                return _send(h, 200, fault.body or '{"code": 0, "data": [[1768', fault.headers)
            edit = _editor(fault)
            if exchange == "binanceusdm":
                status, body, weight = self.formats.binance(path, params, edit)
            elif exchange == "bybit":
                status, body, weight = self.formats.bybit(path, params, edit)
            elif exchange == "okx":
                status, body, weight = self.formats.okx(path, params, edit)
            else:
                status, body, weight = self.formats.hyperliquid(params, edit)
            del weight  # the formats' own figure; the limit used the request's (above)
            _send(h, status, json.dumps(body))
        finally:
            with self._lock:
                self.in_flight -= 1


def _weight(exchange: str, path: str, params: dict[str, Any]) -> int:
    """The weight an exchange charges for a request, known when it arrives."""
    if exchange == "binanceusdm" and path.endswith("/klines"):
        limit = int(params.get("limit", 500))
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if exchange == "hyperliquid":
        return 20
    return 1


def _too_many(exchange: str) -> str:
    return json.dumps({
        "binanceusdm": {"code": -1003, "msg": "Too many requests; current limit is 2400 per minute."},
        "bybit": {"retCode": 10006, "retMsg": "Too many visits!"},
        "okx": {"code": "50011", "msg": "Too Many Requests"},
        "hyperliquid": {"error": "rate limited"},
    }[exchange])


def _send(h: BaseHTTPRequestHandler, status: int, body: str, headers: dict[str, str] | None = None) -> None:
    data = body.encode()
    h.send_response(status)
    is_json = body[:1] in "{[" and status != 403
    h.send_header("Content-Type", "application/json" if is_json else "text/html")
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


def _row_ts(row: Any) -> int | None:
    if isinstance(row, list) and row:
        return int(row[0])
    if isinstance(row, dict):
        for k in ("t", "timestamp", "fundingTime", "fundingRateTimestamp", "time"):
            if k in row:
                return int(row[k])
    return None


def _editor(fault: Fault | None):  # type: ignore[no-untyped-def]
    """How a fault changes the rows of a page (rows are in the exchange's own order)."""
    kind = fault.kind if fault else ""

    def edit(rows: list[Any]) -> list[Any]:
        n = len(rows)
        if kind == "truncate" and n > 1:
            return rows[: n // 2]
        if kind == "duplicate" and n:
            return rows[::-1] + rows
        if kind == "drop" and fault is not None:
            # Three consecutive bars of the first page go missing, and stay missing in every
            # later answer (a hole the exchange really has).
            if not fault.dropped and n > 6:
                fault.dropped.update(t for t in map(_row_ts, rows[2:5]) if t is not None)
            return [r for r in rows if _row_ts(r) not in fault.dropped]
        if kind == "bad_price" and n > 3:
            out = [list(r) if isinstance(r, list) else dict(r) for r in rows]
            for i, bad in zip((0, 1, 2), ("NaN", "0", "-5"), strict=True):
                if isinstance(out[i], list):
                    out[i][4] = bad
                else:
                    for k in ("c", "close"):
                        if k in out[i]:
                            out[i][k] = bad
            return out
        if kind == "absurd" and n > 8:
            # one bar in the middle of the page: high x10,000 and low /10,000 (issue 11 item 9)
            out = [list(r) if isinstance(r, list) else dict(r) for r in rows]
            mid = out[n // 2]
            for idx, keys, scale in ((2, ("h", "high"), 1e4), (3, ("l", "low"), 1e-4)):
                if isinstance(mid, list):
                    mid[idx] = type(mid[idx])(float(mid[idx]) * scale)
                else:
                    for k in keys:
                        if k in mid:
                            mid[k] = type(mid[k])(float(mid[k]) * scale)
            return out
        return rows

    return edit


def main() -> None:
    """Run the server in its own process (the benchmark does, so that the server's work
    does not share the client's interpreter lock). Prints its URL, then answers a line
    "stats" on stdin with a JSON line of counters; exits at end of input."""
    import argparse
    import sys

    from tests.fakex.data import load_universe

    ap = argparse.ArgumentParser()
    ap.add_argument("--now", type=int, required=True)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--extra", type=int, default=0)
    ap.add_argument("--shift", type=int, default=0)
    args = ap.parse_args()
    with FakeExchanges(load_universe(args.extra, args.shift), args.now, latency_s=args.latency) as srv:
        print(srv.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                print(json.dumps({
                    "requests": srv.count(), "rejected": dict(srv.rejected_paths),
                    "max_in_flight": srv.max_in_flight,
                }), flush=True)


if __name__ == "__main__":
    main()
