"""What the per-exchange pages (issue 14 item 3) cost: build CPU time and page weight.

Builds the same site twice in one run, side by side, in fresh subprocesses (one at a time):
once without the pages of each exchange alone (the selector and ``{slug}/x/{exchange}/``
switched off) and once with them, and prints the CPU time of each build, the added CPU
seconds per symbol and per exchange page, the ratio, and the largest HTML page of each site
(BokehJS is a separate shared file and is not counted; the pages load it by URL).

The data are the embedded sample (real Binance USDⓈ-M BTC, ETH and SOL, 2025-12-26 →
2026-01-29), served as four exchanges: Binance as recorded; Bybit, OKX and Hyperliquid the
same candles, in their own margin forms, Hyperliquid without open-interest history (so its
model is the volume model, as it is live). Not four real markets: what is measured is the
rendering cost per exchange page, which does not depend on where the bars come from.

    python benchmarks/bench_exchange_pages.py [--symbols BTC/USDT:USDT,...] [--ranges 24h,1w]

The last line is JSON: {"without": {...}, "with": {...}, "added_cpu_s_per_symbol": ...}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXCHANGES = ("binanceusdm", "bybit", "okx", "hyperliquid")
NOW = datetime(2026, 1, 29, 18, 0, tzinfo=UTC)


class FourExchanges:
    """The embedded sample served as four exchanges (see the module docstring)."""

    name = "sample"
    exchanges = EXCHANGES

    def __init__(self) -> None:
        from sitegen.sources.sample import SampleSource

        self.sample = SampleSource()

    def load(self, exchange: str, symbol: str):  # type: ignore[no-untyped-def]
        series = dataclasses.replace(self.sample.load("binanceusdm", symbol), exchange=exchange)
        return dataclasses.replace(series, open_interest=None) if exchange == "hyperliquid" else series

    def realised(self, symbol: str):  # type: ignore[no-untyped-def]
        return self.sample.realised(symbol)


def one_build(out: Path, symbols: list[str], ranges: str, pages: bool) -> dict[str, object]:
    """Build into ``out`` in this process; with ``pages=False`` no exchange has its own page."""
    import sitegen.render.exchange_view as ev
    import sitegen.render.pages as pg
    import sitegen.render.summary as sm
    from sitegen.build import build_site
    from sitegen.config import load_config

    if not pages:
        def none(report):  # type: ignore[no-untyped-def]
            return ()

        ev.page_exchanges = pg.page_exchanges = sm.page_exchanges = none  # type: ignore[assignment]
    config = load_config(None, out_dir=out, symbols=symbols, ranges=ranges, base_url="https://example.test/liqmap/")
    source = FourExchanges()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = build_site(config, source=source, exchanges=source.exchanges, now=NOW)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    html = {p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*.html")}
    biggest = max(html, key=lambda k: html[k])
    exchange_pages = {k: v for k, v in html.items() if "/x/" in k}
    big_x = max(exchange_pages, key=lambda k: exchange_pages[k]) if exchange_pages else None
    return {
        "files": result.files, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "html_pages": len(html), "exchange_pages": len(exchange_pages),
        "largest_page": biggest, "largest_page_kb": round(html[biggest] / 1024, 1),
        "largest_exchange_page": big_x,
        "largest_exchange_page_kb": round(exchange_pages[big_x] / 1024, 1) if big_x else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--symbols", default="BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT")
    ap.add_argument("--ranges", default="12h,24h,3d,1w,1m,3m")
    ap.add_argument("--child", choices=("with", "without"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    symbols = [s for s in args.symbols.split(",") if s]
    if args.child:
        print(json.dumps(one_build(Path(args.out), symbols, args.ranges, args.child == "with")))
        return
    runs: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="liqmap-bench-x-") as tmp:
        for mode in ("without", "with"):
            cmd = [sys.executable, __file__, "--child", mode, "--out", str(Path(tmp) / mode),
                   "--symbols", args.symbols, "--ranges", args.ranges]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            runs[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            r = runs[mode]
            print(f"{mode:>7} exchange pages: {r['html_pages']} HTML pages ({r['exchange_pages']} per exchange), "
                  f"build CPU {r['cpu_s']} s, wall {r['wall_s']} s, peak RSS {r['peak_rss_mb']} MiB, "
                  f"largest page {r['largest_page']} {r['largest_page_kb']} KiB")
    w, wo = runs["with"], runs["without"]
    added = float(w["cpu_s"]) - float(wo["cpu_s"])  # type: ignore[arg-type]
    n_pages = int(w["exchange_pages"]) or 1  # type: ignore[call-overload]
    summary = {
        "symbols": len(symbols), "exchanges": len(EXCHANGES), "ranges": args.ranges,
        "without": wo, "with": w,
        "added_cpu_s_per_symbol": round(added / len(symbols), 2),
        "added_cpu_s_per_exchange_page": round(added / n_pages, 3),
        "cpu_ratio_with_over_without": round(float(w["cpu_s"]) / float(wo["cpu_s"]), 3),  # type: ignore[arg-type]
    }
    print(f"added CPU per symbol: {summary['added_cpu_s_per_symbol']} s "
          f"({summary['added_cpu_s_per_exchange_page']} s per exchange page); "
          f"with/without CPU ratio {summary['cpu_ratio_with_over_without']}; "
          f"largest exchange page {w['largest_exchange_page_kb']} KiB (BokehJS not counted)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
