"""Time the liquidation engine against honest memory-bound floors.

One year of 5-minute bars (105,120) x 500 price rows x the 12 leverages of the shipped
parameters, with every model v2 term on (intrabar path, unlocated term, dollar scale):

* ``engine``: ``solve`` (cohorts, same-bar shares, first-crossing search, closing factors,
  predictions) plus the full heat pass (every bar x row x leverage x side, built in bounded
  chunks and dropped, as ``run_model`` builds them);
* ``floor (cumsum)``: the same work as the engine's running sums and nothing else: both
  sides, float64, in the engine's chunks of ``chunk_cells``, ``np.cumsum`` over the time
  axis of each (rows, 2 x L x B) block, carrying the last row into the next chunk;
* ``floor (running sum)``: the same blocks summed row by row with ``np.add`` (contiguous
  rows instead of a whole-row stride): the tighter floor, and the form the engine uses;
* for reference, ``run_model(keep_last=2016)`` (what a page needs) and, on a small size,
  the plain-Python bar-by-bar oracle against the engine.

The price path is a seeded random walk (a benchmark needs a year of bars; the sample data
holds a month). Prints the times and, as the last line, one JSON object with the ratios.

    python benchmarks/bench_model.py [--bars 105120] [--rows 500] [--memory]

``--memory`` first runs ``run_model(by_leverage=False)`` on the year x 1,000 price rows in a
fresh child process and reports its peak resident memory (the 2 GB budget).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from sitegen.model import ModelInput, ModelParams, price_grid, run_model
from sitegen.model.engine import heat_chunks, running_sum, solve
from sitegen.model.reference import run_model_loop

BAR_MS = 300_000


def synthetic(bars: int, seed: int = 42) -> ModelInput:
    rng = np.random.default_rng(seed)
    close = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.0015, bars)))
    open_ = np.concatenate([[60_000.0], close[:-1]])
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.001, bars)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.001, bars)))
    oi = 8e9 * np.exp(np.cumsum(rng.normal(0, 0.002, bars)))
    volume = rng.lognormal(4, 1, bars)
    return ModelInput(
        np.arange(bars, dtype=np.int64) * BAR_MS, open_, high, low, close, volume,
        oi_usd=oi, bar_ms=BAR_MS,
    )


def grid_for(inp: ModelInput, rows: int) -> np.ndarray:
    lo, hi = float(inp.low.min()) * 0.7, float(inp.high.max()) * 1.3
    bin_pct = (np.exp(np.log(hi / lo) / rows) - 1) * 100
    return price_grid(lo, hi, bin_pct)[: rows + 1]


def time_engine(inp: ModelInput, params: ModelParams, edges: np.ndarray) -> tuple[float, float]:
    t0 = time.perf_counter()
    sol = solve(inp, params)
    t1 = time.perf_counter()
    checksum = 0.0
    for _, block in heat_chunks(sol.longs, sol.shorts, sol.log_f, edges, sol.leverages.shape[0]):
        checksum += float(block[:, :, -1, :].sum())  # touch the result, keep nothing
    t2 = time.perf_counter()
    assert checksum > 0
    return t1 - t0, t2 - t0


CHUNK_CELLS = 8_000_000  # run_model's default working block


def _blocks(bars: int, width: int) -> list[int]:
    rows = max(1, CHUNK_CELLS // width)
    return [min(rows, bars - a) for a in range(0, bars, rows)]


def time_floor(bars: int, width: int, form: str) -> float:
    """Running sums over time of (bars, width) float64 in the engine's chunks, with a carry."""
    sizes = _blocks(bars, width)
    block = np.random.default_rng(0).random((sizes[0], width))
    carry = np.zeros(width)
    t0 = time.perf_counter()
    for n in sizes:
        part = block[:n]
        part[0] += carry
        if form == "cumsum":
            np.cumsum(part, axis=0, out=part)
        else:
            running_sum(part)
        carry = part[-1].copy()
        part *= 1e-12  # keep the values bounded from one chunk to the next
    return time.perf_counter() - t0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def memory_check(bars: int) -> float:
    """Peak RSS (MB) of a child process running one year x 1,000 rows, heat kept in full."""
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, 'benchmarks');"
        "from bench_model import synthetic, grid_for, peak_rss_mb;"
        "from sitegen.model import ModelParams, run_model;"
        f"inp = synthetic({bars}); r = run_model(inp, ModelParams(), grid_for(inp, 1000), by_leverage=False);"
        "assert r.heat_long.shape[1] == 1000; print(peak_rss_mb())"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=105_120)
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--loop-bars", type=int, default=1_000)
    ap.add_argument("--memory", action="store_true", help="also measure year x 1,000 rows peak RSS")
    args = ap.parse_args()
    extra: dict[str, float] = {}
    if args.memory:
        extra["year_1000_rows_peak_rss_mb"] = round(memory_check(args.bars))
        print(f"run_model(by_leverage=False), {args.bars} bars x 1000 rows: peak RSS "
              f"{extra['year_1000_rows_peak_rss_mb']:.0f} MB")
    params = ModelParams()
    n_lev = len(params.leverages)

    inp = synthetic(args.bars)
    edges = grid_for(inp, args.rows)
    solve_s, engine_s = time_engine(inp, params, edges)
    engine_rss = peak_rss_mb()
    assert params.intrabar == "path" and params.unlocated_coef > 0  # every v2 term on
    print(f"engine: {engine_s:.2f} s ({solve_s:.2f} s solve + {engine_s - solve_s:.2f} s heat) for "
          f"{args.bars} bars x {edges.shape[0] - 1} rows x {n_lev} leverages x 2 sides")
    width = 2 * n_lev * (edges.shape[0] - 1)
    floor_s = time_floor(args.bars, width, "cumsum")
    print(f"floor (cumsum):      {floor_s:.2f} s (np.cumsum over time, float64, both sides, "
          f"{args.bars} x {width} in chunks of {CHUNK_CELLS} cells)")
    tight_s = time_floor(args.bars, width, "add")
    print(f"floor (running sum): {tight_s:.2f} s (the same blocks, row by row with np.add)")
    print(f"engine / floor (cumsum) = {engine_s / floor_s:.2f}; engine / floor (running sum) = "
          f"{engine_s / tight_s:.2f}; heat pass alone / floor (running sum) = "
          f"{(engine_s - solve_s) / tight_s:.2f}")

    t0 = time.perf_counter()
    page = run_model(inp, params, edges, keep_last=2016)
    page_s = time.perf_counter() - t0
    print(f"run_model(keep_last=2016): {page_s:.2f} s, result {page.heat_long_by_leverage.nbytes * 2 / 1e6:.0f} MB")

    small = synthetic(args.loop_bars, seed=7)
    small_edges = grid_for(small, 200)
    t0 = time.perf_counter()
    run_model(small, params, small_edges)
    small_engine_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_model_loop(small, params, small_edges)
    loop_s = time.perf_counter() - t0
    print(f"small ({args.loop_bars} bars x 200 rows): engine {small_engine_s:.3f} s, "
          f"Python loop {loop_s:.2f} s ({loop_s / small_engine_s:.0f}x slower)")

    print(json.dumps({
        "bars": args.bars, "rows": int(edges.shape[0] - 1), "leverages": n_lev,
        "engine_s": round(engine_s, 3), "solve_s": round(solve_s, 3),
        "floor_cumsum_s": round(floor_s, 3), "floor_running_sum_s": round(tight_s, 3),
        "ratio_cumsum": round(engine_s / floor_s, 2), "ratio_running_sum": round(engine_s / tight_s, 2),
        "params": {k: v for k, v in params.as_dict().items() if k in (
            "intrabar", "unlocated_coef", "usd_scale", "entry_points")},
        "run_model_keep_last_2016_s": round(page_s, 3),
        "loop_small_s": round(loop_s, 3), "engine_small_s": round(small_engine_s, 4),
        "engine_peak_rss_mb": round(engine_rss), **extra,
    }))


if __name__ == "__main__":
    main()
