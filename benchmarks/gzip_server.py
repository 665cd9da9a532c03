"""A loopback static file server that gzips text responses, as GitHub Pages does.

``python -m http.server`` sends everything uncompressed, which overstates the cost of the
HTML and of BokehJS by 3-5x in a Lighthouse run. This server answers ``Accept-Encoding:
gzip`` for HTML, JS, CSS, JSON, SVG and XML (level 6 like most CDNs) and leaves PNG alone.
It binds to 127.0.0.1 only. Used by ``page_speed.py``; also runnable on its own:

    python benchmarks/gzip_server.py SITE_DIR [PORT]
"""

from __future__ import annotations

import functools
import gzip
import http.server
import sys
import threading
from pathlib import Path

COMPRESSIBLE = (".html", ".js", ".css", ".json", ".svg", ".xml", ".txt", ".csv")


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "max-age=600")  # GitHub Pages' default
        super().end_headers()

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if (
            path.suffix in COMPRESSIBLE
            and path.is_file()
            and "gzip" in self.headers.get("Accept-Encoding", "")
        ):
            body = gzip.compress(path.read_bytes(), compresslevel=6)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


def serve(site: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """Start serving ``site`` on 127.0.0.1 in a daemon thread; ``.shutdown()`` stops it."""
    handler = functools.partial(GzipHandler, directory=str(site))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


if __name__ == "__main__":
    srv = serve(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8000)
    print(f"serving {sys.argv[1]} gzipped on http://127.0.0.1:{srv.server_address[1]}/ (Ctrl-C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.shutdown()
