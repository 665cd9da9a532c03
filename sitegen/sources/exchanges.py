"""Talking to the exchanges: one async ccxt client per exchange, rate limits, and errors.

``make_client`` builds a ccxt client with our limiter (ccxt's rolling window, or a window
per endpoint where the exchange counts that way), timeouts, optional proxy and API base
URL (a mirror, or the loopback server in tests). ``ExchangeSession.call`` runs one request
with the retry policy and turns every ccxt error into a :class:`~sitegen.errors.SourceError`:

- a geo-block (HTTP 451, or 403 from Bybit's CDN) is recognised at the first answer, not
  retried, and stops that exchange (``GeoBlocked``);
- rate limits (429/418, or the exchange's own code) back off, for ``Retry-After`` when the
  answer gives it, and retry a bounded number of times;
- timeouts, 5xx and malformed answers retry with exponential backoff and jitter;
- an unknown symbol (``UnknownSymbol``) names the nearest listed one; other 4xx are final.

Symbol resolution rule: the configured symbol (``BTC/USDT:USDT``) is looked up as is.
Where an exchange settles every perpetual in one currency (its adapter's ``settle_alias``:
Hyperliquid, USDC), a symbol ``BASE/USDT:USDT`` that is not listed resolves to ``BASE/USDC:USDC``.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import random
import re
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from sitegen.errors import NotListed, SourceError
from sitegen.masking import mask_known
from sitegen.sources.adapters import ADAPTERS, Profile, adapter

log = logging.getLogger(__name__)

# What differs per exchange lives in its adapter (sitegen/sources/adapters/).
PROFILES: dict[str, Profile] = {e: a.profile for e, a in ADAPTERS.items()}


class RollingWindow:
    """At most ``cap`` acquisitions in any ``window_s`` seconds; waiters go first come first served."""

    def __init__(self, window_s: float, cap: int) -> None:
        self.window_s = window_s
        self.cap = max(1, cap)
        self.times: deque[float] = deque()
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                while self.times and self.times[0] <= now - self.window_s:
                    self.times.popleft()
                if len(self.times) < self.cap:
                    self.times.append(now)
                    return
                await asyncio.sleep(self.times[0] + self.window_s - now + 0.001)


@dataclass(frozen=True)
class FetchOptions:
    """Knobs for tests, benchmarks and unusual deployments; the defaults are production."""

    api_urls: Mapping[str, str] = field(default_factory=dict)  # exchange -> base URL (mirror)
    page_limits: Mapping[str, int] = field(default_factory=dict)  # exchange -> rows per page
    max_retries: int = 4
    backoff_s: float = 1.0  # first retry delay; doubles each time, with jitter
    max_backoff_s: float = 30.0
    timeout_ms: int = 20_000
    overlap_bars: int = 3
    now_ms: int | None = None  # fixed "now" (tests); default: the clock
    symbol_concurrency: int = 8  # symbols in flight per exchange
    max_in_flight: int | None = None  # requests in flight over all exchanges (1 = sequential)
    gap_refetches: int = 4  # how many gaps per series to ask for again
    # Multiplies every request budget (tests that check data, not pacing, loosen it).
    limit_scale: float = 1.0
    # Spend no request on what another answer already holds or what rarely changes: the
    # open-interest snapshot comes from the markets answer (Hyperliquid's metaAndAssetCtxs),
    # funding history is asked at most every 8 h and leverage tiers once a day. False asks
    # for everything on every run (the behaviour before; benchmarks/bench_fetch.py compares).
    reuse: bool = True
    # What ccxt waits after closing a client, in ms (None: ccxt's own 250 ms, which lets TLS
    # connections finish closing). Plain-HTTP loopback tests need no wait.
    close_wait_ms: int | None = None


class GeoBlocked(SourceError):
    """The exchange refuses this network location (451 / regional 403). Not retried."""


class Unreachable(SourceError):
    """The exchange's host name does not resolve (no network, or blocked). Not retried:
    a failed DNS lookup does not recover within a run, and five tries only add waiting."""


DNS_HINT = "DNS lookup failed: no network, or the name is blocked here; a proxy may help"
_DNS_FAILURE_RE = re.compile(
    r"name or service not known|nodename nor servname|temporary failure in name resolution"
    r"|no address associated with hostname|getaddrinfo failed|could not resolve host",
    re.I,
)
_HOST_RE = re.compile(r"connect to host ([^\s:]+)", re.I)


def dns_failure(e: BaseException) -> str | None:
    """The host whose DNS lookup failed somewhere in ``e``'s chain, or None (also "" when unknown)."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        name = type(cur).__name__
        text = str(cur)
        if isinstance(cur, socket.gaierror) or name == "ClientConnectorDNSError" or _DNS_FAILURE_RE.search(text):
            m = _HOST_RE.search(text) or _HOST_RE.search(str(e))
            host = getattr(cur, "host", None) or (m.group(1) if m else "")
            return str(host)
        cur = cur.__cause__ or cur.__context__
    return None


class UnknownSymbol(NotListed):
    """The symbol is not listed on the exchange; ``nearest`` is a listed name close to it."""

    symbol: str = ""  # as configured
    nearest: str | None = None

    @property
    def typo_hint(self) -> str:
        """" (nearest listed: 'BTC/USDT:USDT')" when the base looks mistyped (BTCC for BTC), else ""."""
        if not self.symbol or not self.nearest:
            return ""
        base, near = self.symbol.split("/")[0], self.nearest.split("/")[0]
        if difflib.SequenceMatcher(None, base, near).ratio() < 0.6:
            return ""
        return f" (nearest listed: '{self.nearest}')"


def resolve_symbol(exchange: str, symbol: str, listed: Mapping[str, Any]) -> str:
    """The exchange's name for the configured ``symbol`` (see the module docstring)."""
    if symbol in listed:
        return symbol
    settle = adapter(exchange).settle_alias
    if settle:
        base = symbol.split("/")[0]
        alias = f"{base}/{settle}:{settle}"
        if alias in listed:
            return alias
    swaps = [s for s, m in listed.items() if isinstance(m, dict) and m.get("swap")]
    near = difflib.get_close_matches(symbol, swaps or list(listed), n=1, cutoff=0.5)
    hint = f" (nearest listed: '{near[0]}')" if near else ""
    err = UnknownSymbol(f"'{symbol}' is not listed on {exchange}{hint}; fix [data] symbols in the config")
    err.symbol, err.nearest = symbol, (near[0] if near else None)
    raise err


# -- the client ---------------------------------------------------------------------------


def _tag(e: BaseException, code: Any, headers: Any) -> BaseException:
    """Attach the HTTP status and headers of the answer to the exception ccxt raised for it."""
    with contextlib.suppress(TypeError, ValueError):
        e.liqmap_http = (int(code), dict(headers or {}))  # type: ignore[attr-defined]
    return e


def _rebase(urls: Any, base: str) -> Any:
    if isinstance(urls, str):
        return re.sub(r"^https?://[^/]+", base.rstrip("/"), urls)
    if isinstance(urls, dict):
        return {k: _rebase(v, base) for k, v in urls.items()}
    return urls


def make_client(exchange: str, options: FetchOptions, proxy: str | None = None) -> Any:
    """An async ccxt client for ``exchange`` with our rate limiter, timeouts and URLs."""
    profile = PROFILES[exchange]
    window, rate = profile.window_ms, profile.rate_limit_ms / options.limit_scale
    cls = getattr(ccxt_async, exchange)
    ex = cls(
        {
            "enableRateLimit": True,
            "timeout": options.timeout_ms,
            "rateLimit": rate,
            "rateLimiterAlgorithm": "rollingWindow",
            "rollingWindowSize": window,
            "options": {"fetchMarkets": {"types": list(profile.markets_types)}},
        }
    )
    ad = adapter(exchange)
    if ad.min_call_cost is not None:
        cost, floor = ex.calculate_rate_limiter_cost, ad.min_call_cost

        def info_cost(api: Any, method: Any, path: Any, params: Any, config: Any = None) -> Any:
            return max(cost(api, method, path, params, config or {}), floor)

        ex.calculate_rate_limiter_cost = info_cost
    if ad.endpoint_limits is not None:
        window_s, caps = ad.endpoint_limits
        scale = options.limit_scale
        limiters = {path: RollingWindow(window_s, int(cap * scale)) for path, cap in caps.items()}
        default = RollingWindow(window_s, int(min(caps.values()) * scale))
        fetch2 = ex.fetch2
        ex.enableRateLimit = False  # ours, per endpoint, instead of ccxt's single bucket

        async def limited_fetch2(path: str, *args: Any, **kw: Any) -> Any:
            await limiters.get(path, default).acquire()
            return await fetch2(path, *args, **kw)

        ex.fetch2 = limited_fetch2
    if options.close_wait_ms is not None:
        ex.timeout_on_exit = options.close_wait_ms
    base = options.api_urls.get(exchange)
    if base:
        ex.urls["api"] = _rebase(ex.urls["api"], base)
    if proxy:
        ex.httpsProxy = proxy
    original = ex.on_rest_response

    def on_rest_response(code: Any, reason: Any, url: Any, method: Any, headers: Any, *rest: Any) -> Any:
        body = original(code, reason, url, method, headers, *rest)
        if 200 <= int(code) < 300 and isinstance(body, str):
            # ccxt turns an unparsable body into a string and some parsers then read it as
            # "no rows": a truncated or garbled answer must fail loudly so it is retried.
            try:
                json.loads(body)
            except ValueError:
                raise _tag(ccxt.BadResponse(
                    f"{exchange} {method} {url}: malformed JSON ({len(body)} bytes): {body[:60]!r}"
                ), code, headers) from None
        return body

    def tagging(fn: Callable[..., Any]) -> Callable[..., Any]:
        # ccxt raises from these without the status and headers; keep them on the exception
        # (a contextvar would not do: ccxt gathers some requests in tasks of its own).
        def wrapper(code: Any, reason: Any, url: Any, method: Any, headers: Any, *rest: Any) -> Any:
            try:
                return fn(code, reason, url, method, headers, *rest)
            except Exception as e:
                raise _tag(e, code, headers) from None

        return wrapper

    ex.on_rest_response = on_rest_response
    ex.handle_errors = tagging(ex.handle_errors)
    ex.handle_http_status_code = tagging(ex.handle_http_status_code)
    return ex


def classify_error(e: BaseException, exchange: str, status: int | None) -> str:
    """'geo', 'rate', 'retry', 'symbol' or 'fatal' for an exception from a ccxt call."""
    text = str(e).lower()
    if (
        status in PROFILES[exchange].geo_status
        or isinstance(e, ccxt.RestrictedLocation)
        or "restricted location" in text
    ):
        return "geo"
    if isinstance(e, ccxt.RateLimitExceeded | ccxt.DDoSProtection) or status in (418, 429):
        return "rate"
    if isinstance(e, ccxt.BadSymbol):
        return "symbol"
    if isinstance(e, ccxt.AuthenticationError | ccxt.NotSupported | ccxt.ArgumentsRequired):
        return "fatal"
    if status is not None and status >= 500:
        return "retry"
    if isinstance(e, ccxt.RequestTimeout | ccxt.BadResponse | ccxt.InvalidNonce):
        return "retry"
    if isinstance(e, ccxt.NetworkError):
        # ccxt maps 400/404 to ExchangeNotAvailable too: a 4xx answer will not improve.
        return "fatal" if status is not None and 400 <= status < 500 and status != 408 else "retry"
    if isinstance(e, ccxt.BaseError):
        return "fatal"
    if isinstance(e, ValueError | TypeError | KeyError | IndexError | AttributeError):
        return "retry"  # a malformed or truncated body that ccxt could not parse
    return "fatal"


def describe_error(e: BaseException) -> str:
    """``Class: message (Cause: message)``, on one line and not too long."""
    text = re.sub(r"\s+", " ", str(e)).strip()
    out = f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__
    cause = e.__cause__ or e.__context__
    if cause is not None and str(cause).strip():
        why = re.sub(r"\s+", " ", str(cause)).strip()[:160]
        out += f" ({type(cause).__name__}: {why})"
    # Never pass on credentials that a URL in a message may carry (a proxy's, say).
    return mask_known(out)


class ExchangeSession:
    """One exchange's client, request counter, retry policy and geo-block flag."""

    def __init__(
        self, exchange: str, client: Any, options: FetchOptions, gate: asyncio.Semaphore | None
    ) -> None:
        self.id = exchange
        self.client = client
        self.options = options
        self.adapter = adapter(exchange)
        self.profile = self.adapter.profile
        self.gate = gate
        self.requests = 0
        self.blocked: str | None = None

    async def call(self, what: str, fn: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> Any:
        """``await fn(*args, **kw)`` with the retry policy; raises SourceError subclasses."""
        opts = self.options
        for attempt in range(opts.max_retries + 1):
            if self.blocked:
                raise GeoBlocked(self.blocked)
            try:
                self.requests += 1
                if self.gate is not None:
                    async with self.gate:
                        return await fn(*args, **kw)
                return await fn(*args, **kw)
            except SourceError:
                raise
            except Exception as e:
                host = dns_failure(e)
                if host is not None:
                    raise Unreachable(f"cannot resolve {host or 'the exchange host'} ({DNS_HINT})") from None
                last: tuple[int, Mapping[str, str]] | None = getattr(e, "liqmap_http", None)
                status = last[0] if last else status_in_message(e)
                kind = classify_error(e, self.id, status)
                if kind == "geo":
                    self.blocked = (
                        f"geo-blocked (HTTP {status or 'refusal'}) from this network; skipped. "
                        f"Set a proxy in the environment variable named by [data] proxy_env, "
                        f"or run from another region"
                    )
                    raise GeoBlocked(self.blocked) from None
                if kind == "symbol":
                    raise UnknownSymbol(describe_error(e)) from None
                if kind == "fatal" or attempt >= opts.max_retries:
                    tries = f" after {attempt + 1} tries" if attempt else ""
                    hint = {
                        "rate": " (rate limited: run again later)",
                        "retry": " (check the network, or the proxy if one is set)",
                    }.get(kind, "")
                    raise SourceError(f"{describe_error(e)}{tries}{hint}") from None
                delay = min(opts.backoff_s * 2**attempt, opts.max_backoff_s)
                if kind == "rate" and last:
                    retry_after = _retry_after_s(last[1])
                    if retry_after is not None:
                        delay = min(retry_after, opts.max_backoff_s)
                delay *= 1 + 0.25 * random.random()  # de-synchronise concurrent retries
                log.info(
                    "%s %s: %s (%s); retry %d/%d in %.2fs", self.id, what, kind, describe_error(e),
                    attempt + 1, opts.max_retries, delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def status_in_message(e: BaseException) -> int | None:
    """The HTTP status ccxt wrote into its message ("<id> GET <url> 451 ...") when the answer
    came back in a task of ccxt's own (load_markets gathers), out of our context's sight."""
    m = re.search(r"\b(?:GET|POST|PUT|DELETE) \S+ (\d{3})\b", str(e))
    return int(m.group(1)) if m else None


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return max(float(v), 0.0)
            except ValueError:
                return None
    return None
