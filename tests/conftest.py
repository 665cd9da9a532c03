"""Shared fixtures. The sample site is built once per test session and shared (read-only)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sitegen.config import load_config

if TYPE_CHECKING:
    from tests.fakex.server import FakeExchanges

# A fixed build time, so that page content does not depend on when the tests run.
BUILD_TIME = datetime(2026, 1, 29, 18, 0, tzinfo=UTC)


# A liqmap.toml for end-to-end builds whose point is not the pages (the CLI, a kill, a full
# disk, a read-only store): one symbol and the shortest range render in about a tenth of the
# time of the full sample site. Write it with small_config(); add sections after it as needed.
SMALL_CONFIG = '[data]\nsymbols = ["BTC/USDT:USDT"]\nranges = ["12h"]\n'


def small_config(folder: Path, extra: str = "") -> Path:
    """``folder/small.toml``: SMALL_CONFIG followed by ``extra`` (more TOML sections)."""
    path = folder / "small.toml"
    path.write_text(SMALL_CONFIG + extra, encoding="utf-8")
    return path


_ONCE: dict[str, Any] = {}


def shared_once(tmp_path_factory: pytest.TempPathFactory, worker_id: str, key: str,
                compute: Callable[[], Any]) -> Any:
    """``compute()`` once per test run, for every xdist worker.

    Memoised in this process; between workers it travels as a pickle in the run's shared temp
    folder, written under a file lock by the first worker that needs it (as sample_site does).
    For pure, slow results only (treat the value as read-only).
    """
    if key in _ONCE:
        return _ONCE[key]
    if worker_id == "master":  # no xdist
        value = compute()
    else:
        shared = tmp_path_factory.getbasetemp().parent
        path = shared / f"{key}.pickle"
        with open(shared / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if path.exists():
                    value = pickle.loads(path.read_bytes())
                else:
                    value = compute()
                    part = path.with_suffix(".part")
                    part.write_bytes(pickle.dumps(value))
                    part.replace(path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    _ONCE[key] = value
    return value


@pytest.fixture(scope="session", autouse=True)
def calibration_once(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Callable[..., Any]]:
    """Every build in this run shares one calibration report per set of model parameters.

    The methodology page's report (``sitegen.evaluation.calibration_report``, a pure function
    of the parameters and the packaged data) costs seconds of CPU, and each in-process build
    would compute it again. Tests that check the report itself use the ``calibration`` fixture,
    which is this same shared value.
    """
    from sitegen import build, evaluation

    real = evaluation.calibration_report

    def once(params: Any) -> Any:
        key = "calibration-" + hashlib.sha256(pickle.dumps(params)).hexdigest()[:16]
        return shared_once(tmp_path_factory, worker_id, key, lambda: real(params))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(build, "calibration_report", once)
        yield once


@pytest.fixture(scope="session")
def calibration(calibration_once: Callable[..., Any]) -> Any:
    """The calibration report for the shipped default parameters (shared, read-only)."""
    from sitegen.model.types import ModelParams

    return calibration_once(ModelParams())


def build_sample_site(out: Path) -> None:
    """The sample site as the tests and the golden files see it (fixed time and base URL)."""
    from sitegen.build import build_site

    # In this process (workers=1): a pool's processes would each import Bokeh and the model
    # again, and the other xdist worker keeps the second core busy meanwhile.
    config = load_config(None, out_dir=out, base_url="https://example.test/liqmap/", workers=1)
    build_site(config, sample=True, now=BUILD_TIME)


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The whole site built from the embedded sample; treat it as read-only.

    Built once per test run, shared by every xdist worker: the first worker to get the lock
    builds it into the run's shared temp folder, the others wait and reuse it.
    """
    if worker_id == "master":  # no xdist
        out = tmp_path_factory.mktemp("sample") / "site"
        build_sample_site(out)
        return out
    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, above each worker's
    out = shared / "sample-site" / "site"
    with open(shared / "sample-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (out.parent / "done").exists():
                build_sample_site(out)
                (out.parent / "done").write_text("ok")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return out


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that opens Chromium is a browser test, whether or not its module says so.

    The README's command leaves browser tests out (they need Chromium and seconds each);
    CI runs them with the slow tests (`-m "slow or browser"`), so none can be forgotten.
    """
    if "browser" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("browser"):
        item.add_marker(pytest.mark.browser)


@pytest.hookimpl(trylast=True)  # after -m has deselected the slow and browser tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the run so that no xdist worker sits waiting for the shared sample site.

    One test on the sample site goes first, every other one last: the worker that takes the
    first builds the site while the other worker runs the rest of the suite, and by the time
    the sample-site tests are handed out the site is there.
    """
    def on_site(item: pytest.Item) -> bool:
        return "sample_site" in getattr(item, "fixturenames", ())

    site = [i for i in items if on_site(i)]
    if not site:
        return
    first = next((i for i in site if "browser" not in getattr(i, "fixturenames", ())), site[0])
    items[:] = [first, *(i for i in items if not on_site(i)), *(i for i in site if i is not first)]


# -- browser fixtures (tests/test_browser*.py) -------------------------------------------

# Debian's Chromium by default; LIQMAP_CHROMIUM names another Chromium/Chrome (set by .ci/run).
CHROMIUM = os.environ.get("LIQMAP_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# Extra pages the test server answers from memory (the built site stays read-only).
EXTRA_PAGES: dict[str, bytes] = {
    "/__sandbox.html": (
        b'<!DOCTYPE html><html><head><meta charset="utf-8"><title>host</title>'
        b'<link rel="icon" href="data:,"></head><body>'
        b'<iframe id="f" src="/embed/btc-usdt/index.html" sandbox="allow-scripts" '
        b'width="360" height="420" style="border:0"></iframe></body></html>'
    ),
}


@pytest.fixture(scope="session")
def site_url(sample_site: Path):
    """The sample site served over HTTP on 127.0.0.1 (a free port), for the whole session."""
    import functools
    import http.server
    import threading

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = EXTRA_PAGES.get(self.path)
            if body is None:
                super().do_GET()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(sample_site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole session (Playwright)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeExchanges]:
    """The loopback exchange (rate limits not enforced) as the live fetch's default target."""
    from sitegen.sources import live
    from tests.fakex.data import load_universe
    from tests.fakex.harness import NOW, options
    from tests.fakex.server import FakeExchanges

    with FakeExchanges(load_universe(), NOW) as srv:
        srv.enforce_limits = False
        monkeypatch.setattr(live, "DEFAULT_OPTIONS", options(srv))
        yield srv


@pytest.fixture(scope="module")
def quick_png() -> Iterator[None]:
    """PNG files (Open Graph images, thumbnails) without Pillow's optimize pass, for a module.

    The pixels are the same and the files a few per cent larger; it saves about a second per
    rendered synthetic site. For modules whose point is the pages, not the image bytes:
    ``pytestmark = pytest.mark.usefixtures("quick_png")``.
    """
    from sitegen.render import og

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(og, "PNG_OPTIMIZE", False)
        yield
