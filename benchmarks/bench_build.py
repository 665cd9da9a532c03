"""Build benchmark: time and peak memory of `liqmap build --offline` for N symbols x 4 exchanges.

For each N (``--symbols 10,30``) the benchmark

1. starts the loopback exchange server of tests/fakex in a process of its own (127.0.0.1 only,
   each exchange's documented public rate limit enforced, ``--latency`` per request);
2. fills a fresh store through the real ccxt fetch code (production limiter settings) for N
   symbols on Binance USDⓈ-M, Bybit, OKX and Hyperliquid, and times that fetch;
3. runs ``python -m sitegen.cli build --offline`` on that store as a subprocess, times it, and
   samples the RSS and CPU time of the build and of every process under it (its worker
   processes, ``[build] workers``, ``--workers``) from /proc every 0.1 s: peak RSS of the
   largest single process, peak RSS of all of them together, and CPU seconds (the build
   process's own exactly, from ``os.wait4``; the workers' as last sampled). The exchange
   server, a sibling, is not counted;
4. measures the size of the written site.

The data are NOT N real markets. BTC, ETH and SOL are the real recorded Binance USDⓈ-M series of
tests/data/exchange (see its README); every further symbol X1, X2, ... is a copy of one of those
three with prices scaled by 1 + 0.01 k (tests/fakex/data.py, ``load_universe``), and all four
fake exchanges serve the same series. The series are shifted in time so that they end at the
current hour (the build then sees fresh data). What is measured is the cost of the pipeline per
symbol, which does not depend on which market the bars come from.

    python benchmarks/bench_build.py --symbols 10,30 [--latency 0.05] [--days 14]

It prints one line per N (fetch time, requests, rate-limit rejections, store size, build time,
CPU time, peak RSS, site size), the ratios last N / first N measured in this run, and as its last
line {"runs": [{"symbols": 10, "exchanges": 4, "build_s": ..., "cpu_s": ..., "peak_rss_mb": ...,
"peak_rss_total_mb": ..., "site_mb": ...}, {"symbols": 30, ...}]}  (MiB for every size).

The fixture holds 14 days of 1h bars but only 4 days of 5m bars; Hyperliquid's client asks for
5m bars over the whole retention, so with the default ``--days 14`` each Hyperliquid pair is
reported with a gap (kept as a gap, as in production): "pairs ok" reads 3 of 4 per symbol.
``--baseline DIR`` builds each store a second time with the code of another checkout (a
copy of main, say) and prints this/baseline ratios measured in the same run.
A wall-clock time on a machine shared with other work is inflated by that load: compare the
CPU seconds too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sitegen.config import load_config  # noqa: E402
from sitegen.sources.live import FetchOptions, fetch_all  # noqa: E402
from sitegen.store import STORE_FILE, Store  # noqa: E402
from tests.fakex.harness import start_process, stop_process  # noqa: E402

HOUR = 3_600_000
EXCHANGES = ["binanceusdm", "bybit", "okx", "hyperliquid"]
SOURCE_NOTE = (
    "data: loopback fake exchanges (127.0.0.1); BTC/ETH/SOL are real recorded Binance USD-M "
    "series, X1.. are price-scaled copies of them (tests/fakex/data.py)"
)


def symbol_list(n: int) -> list[str]:
    """The symbols the fake server lists for ``--extra n - 3``: BTC, ETH, SOL, X1, X2, ..."""
    base = ["BTC", "ETH", "SOL"] + [f"X{i}" for i in range(1, max(n - 2, 1))]
    return [f"{c}/USDT:USDT" for c in base[:n]]


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """{pid: (parent pid, RSS bytes, CPU ticks user+system)} of every process (Linux /proc)."""
    page = os.sysconf("SC_PAGE_SIZE")
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        f = raw[raw.rindex(b")") + 2:].split()
        out[int(name)] = (int(f[1]), int(f[21]) * page, int(f[11]) + int(f[12]))
    return out


def _descendants(table: dict[int, tuple[int, int, int]], root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
        todo += kids.get(pid, [])
    return out


def run_build(cfg: Path, state: Path, out: Path, root: Path = ROOT) -> dict:
    """`liqmap build --offline` as a child process, its worker processes sampled every 0.1 s:
    seconds, peak RSS of the largest process and of all its processes together, CPU seconds."""
    env = {k: v for k, v in os.environ.items() if k != "LIQMAP_PROXY"}
    env["PYTHONPATH"] = str(root)
    peak_total = peak_one = 0
    cpu: dict[int, int] = {}
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "sitegen.cli", "build", "--config", str(cfg), "--offline",
             "--state", str(state), "--out", str(out), "-q"],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=err,
        )
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            table = _proc_table()
            tree = _descendants(table, proc.pid)
            rss = [table[p][1] for p in tree]
            peak_total, peak_one = max(peak_total, sum(rss)), max([peak_one, *rss])
            for p in tree:
                cpu[p] = max(cpu.get(p, 0), table[p][2])
            time.sleep(0.1)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-2000:]
    ticks = os.sysconf("SC_CLK_TCK")
    own = usage.ru_utime + usage.ru_stime  # the build process itself, exact
    others = sum(t for p, t in cpu.items() if p != proc.pid) / ticks
    return {
        "build_s": seconds,
        # ru_maxrss is KiB on Linux; the sampler sees the worker processes too
        "peak_rss_mb": max(usage.ru_maxrss * 1024, peak_one) / 2**20,
        "peak_rss_total_mb": max(usage.ru_maxrss * 1024, peak_total) / 2**20,
        "cpu_s": own + others,
        "code": proc.returncode, "tail": tail,
    }


def run(n: int, days: int, latency: float, work: Path, workers: int | None = None,
        baseline: Path | None = None) -> dict:
    symbols = symbol_list(n)
    now = int(time.time() * 1000) // HOUR * HOUR
    state, out, cfg = work / f"state{n}", work / f"site{n}", work / f"liqmap{n}.toml"
    cfg.write_text(
        "[site]\nbase_url = \"https://example.test/liqmap/\"\n"
        f"[data]\nretention_days = {days}\n"
        f"symbols = {json.dumps(symbols)}\nexchanges = {json.dumps(EXCHANGES)}\n"
        + (f"[build]\nworkers = {workers}\n" if workers is not None else "")
    )
    server, url = start_process(ROOT, now, extra=n - 3, latency=latency)
    try:
        opts = FetchOptions(api_urls={e: url for e in EXCHANGES}, now_ms=now, backoff_s=0.05)
        config = load_config(cfg)
        with Store(state / STORE_FILE) as store:
            t0 = time.perf_counter()
            report = fetch_all(config, store, options=opts)
            fetch_s = time.perf_counter() - t0
    finally:
        stats = stop_process(server)
    if report.messages:
        # With the default --days 14 this is Hyperliquid's 5m history: the fixture holds only
        # four days of 5m bars, so the fetch reports a gap for it (kept, left as a gap).
        print(f"  fetch notes for {n} symbols: {len(report.messages)}, first: {report.messages[0]}",
              file=sys.stderr)
    b = run_build(cfg, state, out)
    if b["code"] != 0:
        raise SystemExit(f"build for {n} symbols failed (exit {b['code']}):\n{b['tail']}")
    base = {}
    if baseline is not None:  # the same store, built by another checkout's code (e.g. main)
        old = run_build(cfg, state, work / f"site{n}-baseline", root=baseline)
        if old["code"] != 0:
            raise SystemExit(f"baseline build for {n} symbols failed (exit {old['code']}):\n{old['tail']}")
        base = {"baseline": {k: round(old[k], 1) for k in ("build_s", "cpu_s", "peak_rss_mb", "peak_rss_total_mb")}}
    return {**base,
        "symbols": n, "exchanges": len(EXCHANGES), "build_s": round(b["build_s"], 2),
        "peak_rss_mb": round(b["peak_rss_mb"], 1), "peak_rss_total_mb": round(b["peak_rss_total_mb"], 1),
        "cpu_s": round(b["cpu_s"], 1), "site_mb": round(dir_bytes(out) / 2**20, 2),
        "fetch_s": round(fetch_s, 2), "pairs_ok": len(report.ok), "pairs": len(report.symbols),
        "requests": stats["requests"], "rate_limit_rejections": sum(stats["rejected"].values()),
        "store_mb": round(dir_bytes(state) / 2**20, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--symbols", default="10,30", help="comma-separated symbol counts (>= 3)")
    ap.add_argument("--days", type=int, default=14,
                    help="retention_days of the store (the fixture holds 14 days of 1h bars, 4 of 5m)")
    ap.add_argument("--latency", type=float, default=0.05, help="injected seconds per request")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="also build each store with the code of this checkout (e.g. a copy of main), side by side")
    ap.add_argument("--workers", type=int, default=None,
                    help="[build] workers for the build (default: the setting's default, one per core)")
    args = ap.parse_args()
    counts = [int(s) for s in args.symbols.split(",")]
    if any(n < 3 for n in counts):
        ap.error("--symbols: every count must be at least 3 (BTC, ETH, SOL)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("ccxt").setLevel(logging.ERROR)
    print(SOURCE_NOTE)
    runs = []
    with tempfile.TemporaryDirectory(prefix="liqmap-bench-build-") as tmp:
        for n in counts:
            r = run(n, args.days, args.latency, Path(tmp), args.workers, args.baseline)
            runs.append(r)
            print(f"{r['symbols']:>4} symbols x {r['exchanges']}: fetch {r['fetch_s']:7.1f} s "
                  f"({r['pairs_ok']}/{r['pairs']} ok, {r['requests']} requests, "
                  f"{r['rate_limit_rejections']} rejected), store {r['store_mb']:.1f} MiB | "
                  f"build {r['build_s']:7.1f} s ({r['cpu_s']:.0f} CPU s), peak RSS {r['peak_rss_mb']:7.1f} MiB "
                  f"per process, {r['peak_rss_total_mb']:7.1f} MiB all processes, "
                  f"site {r['site_mb']:.1f} MiB", flush=True)
            if "baseline" in r:
                b = r["baseline"]
                print(f"      baseline {args.baseline}: build {b['build_s']:7.1f} s ({b['cpu_s']:.0f} CPU s), "
                      f"peak RSS {b['peak_rss_mb']:7.1f} MiB per process, {b['peak_rss_total_mb']:7.1f} MiB all; "
                      f"this/baseline: CPU x{r['cpu_s'] / b['cpu_s']:.2f}, wall x{r['build_s'] / b['build_s']:.2f}, "
                      f"peak RSS x{r['peak_rss_mb'] / b['peak_rss_mb']:.2f} per process, "
                      f"x{r['peak_rss_total_mb'] / b['peak_rss_total_mb']:.2f} all", flush=True)
    first, last = runs[0], runs[-1]
    if len(runs) > 1:
        print(f"last/first: symbols x{last['symbols'] / first['symbols']:.2f}, "
              f"build time x{last['build_s'] / first['build_s']:.2f}, "
              f"CPU time x{last['cpu_s'] / first['cpu_s']:.2f}, "
              f"peak RSS x{last['peak_rss_mb'] / first['peak_rss_mb']:.2f} per process, "
              f"x{last['peak_rss_total_mb'] / first['peak_rss_total_mb']:.2f} all processes")
    keys = ("symbols", "exchanges", "build_s", "cpu_s", "peak_rss_mb", "peak_rss_total_mb", "site_mb", "baseline")
    print(json.dumps({"runs": [{k: r[k] for k in keys if k in r} for r in runs]}))


if __name__ == "__main__":
    main()
