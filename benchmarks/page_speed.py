"""HTML size and time to first paint of each page type, in headless Debian Chromium.

Usage: python benchmarks/page_speed.py SITE_DIR [runs]
Serves SITE_DIR on 127.0.0.1, loads each page cold (new browser context) ``runs`` times and
prints the median first-contentful-paint and the time BokehJS reports its document idle
(the heatmap drawn), both from navigation start.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import statistics
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def page_types(site: Path) -> dict[str, str]:
    slug = sorted(p.stem for p in (site / "data").glob("*.json"))[0]
    ranges = sorted((p.parent.name for p in (site / slug).glob("*/index.html")),
                    key=lambda r: (site / slug / r / "index.html").stat().st_size)
    return {
        "index": "index.html",
        "symbol (default range)": f"{slug}/index.html",
        f"range (largest: {ranges[-1]})": f"{slug}/{ranges[-1]}/index.html",
        "embed": f"embed/{slug}/index.html",
        "methodology": "methodology/index.html",
    }


def main(site: Path, runs: int) -> None:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}/"
    print(f"{'page':28} {'HTML KB':>8} {'FCP ms':>8} {'chart ms':>9}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("LIQMAP_CHROMIUM") or "/usr/bin/chromium", args=ARGS)
        for name, path in page_types(site).items():
            fcp, idle = [], []
            for _ in range(runs):
                ctx = browser.new_context(viewport={"width": 1366, "height": 900})
                page = ctx.new_page()
                msgs: list[str] = []
                page.on("console", lambda m, msgs=msgs: msgs.append(m.text))
                page.goto(base + path, wait_until="load")
                page.wait_for_timeout(800)
                fcp.append(page.evaluate(
                    "performance.getEntriesByName('first-contentful-paint')[0].startTime"))
                m = next((re.search(r"document idle at (\d+) ms", t) for t in msgs if "idle" in t), None)
                if m:
                    idle.append(float(m.group(1)))
                ctx.close()
            size = (site / path).stat().st_size / 1024
            chart = f"{statistics.median(idle):9.0f}" if idle else f"{'-':>9}"
            print(f"{name:28} {size:8.1f} {statistics.median(fcp):8.0f} {chart}")
        browser.close()
    srv.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3)
