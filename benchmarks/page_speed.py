"""Page weight, first paint and Lighthouse scores of each page kind of a built site.

Usage:
    python benchmarks/page_speed.py SITE_DIR [--runs 3] [--lighthouse [PATH]] [--only KIND,...]

Serves SITE_DIR on 127.0.0.1 **with gzip, as GitHub Pages serves it** (gzip_server.py).

Without ``--lighthouse``: loads each page cold (new browser context) ``runs`` times in headless
Debian Chromium (Playwright) with the CPU slowed 4x (as Lighthouse's mobile profile) and prints
the HTML size, the median first-contentful-paint from navigation start, and how long after the
reader's first input (a mouse move) the interactive charts are live (BokehJS fetched, figures
built, ``html[data-live]`` set).

With ``--lighthouse``: runs the ``lighthouse`` npm CLI (PATH, or $LIGHTHOUSE, or ``lighthouse``
on $PATH; install it outside the repository with ``npm install lighthouse``) ``runs`` times per
page kind with the mobile profile (slow 4G, 4x CPU slowdown) and with ``--preset=desktop``,
and prints the median performance score, FCP, LCP, TBT, CLS, bytes moved and the three other
category scores. Chromium comes from $CHROME_PATH (default /usr/bin/chromium). Numbers
depend on the machine's load: say how loaded it was when you quote them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gzip_server import serve  # a sibling script, not a package

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def page_types(site: Path) -> dict[str, str]:
    """Each page kind of the first symbol: index, default page, every range page (shortest
    first), the default embed, the longest range's embed, and the methodology page."""
    slug = sorted(p.stem for p in (site / "data").glob("*.json"))[0]
    order = ["12h", "24h", "3d", "1w", "1m", "3m"]  # sitegen.config.RANGES
    ranges = sorted((p.parent.name for p in (site / slug).glob("*/index.html")),
                    key=lambda r: order.index(r) if r in order else len(order))
    pages = {"index": "index.html", "symbol": f"{slug}/index.html"}
    pages.update({f"range {r}": f"{slug}/{r}/index.html" for r in ranges})
    pages["embed"] = f"embed/{slug}/index.html"
    if ranges:
        pages[f"embed {ranges[-1]}"] = f"embed/{slug}/{ranges[-1]}/index.html"
    pages["methodology"] = "methodology/index.html"
    pages["overview"] = "overview/index.html"
    return pages


def sizes(site: Path, pages: dict[str, str]) -> None:
    """What each page kind sends before the reader asks for the chart (its HTML) and what the
    chart then adds (the page's doc.js; BokehJS is shared and cached), raw and gzipped."""
    print(f"{'page':16} {'HTML KB':>8} {'gz KB':>6} {'doc.js KB':>10} {'gz KB':>6}")
    for name, path in pages.items():
        html = (site / path).read_bytes()
        doc = site / path.replace("index.html", "doc.js")
        d = doc.read_bytes() if doc.exists() else b""
        gz = lambda b: len(gzip.compress(b, 6)) / 1024 if b else 0.0  # noqa: E731
        print(f"{name:16} {len(html) / 1024:8.1f} {gz(html):6.1f} {len(d) / 1024:10.1f} {gz(d):6.1f}")
    print(flush=True)


def first_paint(site: Path, base: str, pages: dict[str, str], runs: int) -> None:
    from playwright.sync_api import sync_playwright

    print("Chromium, CPU slowed 4x, site served gzipped on loopback; medians of", runs, "runs")
    print(f"{'page':20} {'HTML KB':>8} {'FCP ms':>8} {'input -> live ms':>17}")
    with sync_playwright() as p:
        exe = os.environ.get("LIQMAP_CHROMIUM") or "/usr/bin/chromium"
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        for name, path in pages.items():
            fcp, live = [], []
            for _ in range(runs):
                ctx = browser.new_context(viewport={"width": 1366, "height": 900})
                page = ctx.new_page()
                ctx.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 4})
                page.goto(base + path, wait_until="load")
                page.wait_for_timeout(300)
                fcp.append(page.evaluate(
                    "performance.getEntriesByName('first-contentful-paint')[0].startTime"))
                if page.locator("#liqmap-bokeh-items").count():
                    t0 = page.evaluate("performance.now()")
                    page.mouse.move(10, 10)
                    page.mouse.move(40, 30, steps=2)
                    page.wait_for_selector("html[data-live]", state="attached", timeout=60_000)
                    live.append(page.evaluate("performance.now()") - t0)
                ctx.close()
            size = (site / path).stat().st_size / 1024
            chart = f"{statistics.median(live):17.0f}" if live else f"{'-':>17}"
            print(f"{name:20} {size:8.1f} {statistics.median(fcp):8.0f} {chart}", flush=True)
        browser.close()


def _lighthouse_once(cli: str, url: str, desktop: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lh.json"
        cmd = [cli, url, "--quiet", "--output=json", f"--output-path={out}",
               "--chrome-flags=--headless --no-sandbox --disable-gpu",
               "--only-categories=performance,accessibility,best-practices,seo"]
        if desktop:
            cmd.append("--preset=desktop")
        env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
        subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=300)
        lhr = json.loads(out.read_text())
    cat, aud = lhr["categories"], lhr["audits"]
    return {
        "perf": cat["performance"]["score"] * 100,
        "fcp": aud["first-contentful-paint"]["numericValue"] / 1000,
        "lcp": aud["largest-contentful-paint"]["numericValue"] / 1000,
        "tbt": aud["total-blocking-time"]["numericValue"],
        "cls": aud["cumulative-layout-shift"]["numericValue"],
        "kb": aud["total-byte-weight"]["numericValue"] / 1024,
        "a11y": cat["accessibility"]["score"] * 100,
        "bp": cat["best-practices"]["score"] * 100,
        "seo": cat["seo"]["score"] * 100,
    }


def lighthouse(cli: str, base: str, pages: dict[str, str], runs: int,
               profiles: tuple[str, ...] = ("mobile", "desktop")) -> None:
    print(f"Lighthouse, median of {runs} runs per row; site served gzipped on loopback")
    cols = ("perf", "fcp", "lcp", "tbt", "cls", "kb", "a11y", "bp", "seo")
    print(f"{'profile':8} {'page':14} {'perf':>5} {'FCP s':>6} {'LCP s':>6} {'TBT ms':>7} "
          f"{'CLS':>6} {'KB':>6} {'a11y':>5} {'bp':>4} {'seo':>4}  (perf of each run)")
    for profile in profiles:
        for name, path in pages.items():
            rs = [_lighthouse_once(cli, base + path, profile == "desktop") for _ in range(runs)]
            med = {c: statistics.median(r[c] for r in rs) for c in cols}
            each = "/".join(f"{r['perf']:.0f}" for r in rs)
            print(f"{profile:8} {name:14} {med['perf']:5.0f} {med['fcp']:6.2f} {med['lcp']:6.2f} "
                  f"{med['tbt']:7.0f} {med['cls']:6.3f} {med['kb']:6.0f} {med['a11y']:5.0f} "
                  f"{med['bp']:4.0f} {med['seo']:4.0f}  ({each})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("site", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lighthouse", nargs="?", const="", default=None, metavar="PATH")
    ap.add_argument("--only", default="", help="comma-separated page kinds (index,symbol,range,embed,"
                    "methodology,overview) or rows ('range 1m')")
    ap.add_argument("--profiles", default="mobile,desktop", help="Lighthouse profiles: mobile,desktop")
    a = ap.parse_args()
    pages = page_types(a.site)
    if a.only:
        want = a.only.split(",")
        pages = {k: v for k, v in pages.items() if k in want or k.split(" ")[0] in want}
    srv = serve(a.site)
    base = f"http://127.0.0.1:{srv.server_address[1]}/"
    sizes(a.site, pages)
    try:
        if a.lighthouse is None:
            first_paint(a.site, base, pages, a.runs)
        else:
            cli = a.lighthouse or os.environ.get("LIGHTHOUSE") or shutil.which("lighthouse")
            if not cli:
                sys.exit("lighthouse CLI not found: npm install lighthouse, then pass its path")
            lighthouse(cli, base, pages, a.runs, tuple(a.profiles.split(",")))
    finally:
        srv.shutdown()


if __name__ == "__main__":
    main()
