"""Issue #11 item 3: the proxy secret stays masked whatever variable [data] proxy_env names,
in the log, the progress lines and the summary, and a proxy URL without a scheme
(``alice:hunter2@host:port``) is masked in the error it causes. Real ccxt, loopback exchange."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen import cli
from sitegen.masking import mask_secrets, mask_url
from sitegen.sources import live
from tests.fakex.data import load_universe
from tests.fakex.harness import NOW, options
from tests.fakex.server import FakeExchanges

SECRET = "hunter2-corp"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeExchanges]:
    with FakeExchanges(load_universe(), NOW) as srv:
        srv.enforce_limits = False
        # Nothing listens at the exchange's own address: every request must use the proxy.
        monkeypatch.setattr(live, "DEFAULT_OPTIONS", options(srv, api_urls={"okx": "http://127.0.0.1:9"},
                                                             max_retries=1))
        yield srv


def cfg(tmp_path: Path) -> list[str]:
    path = tmp_path / "liqmap.toml"
    path.write_text('[data]\nproxy_env = "CORP_PROXY"\nretention_days = 2\nexchanges = ["okx"]\n'
                    'symbols = ["BTC/USDT:USDT"]\n')
    return ["--config", str(path)]


@pytest.mark.parametrize(
    "proxy",
    [
        f"http://alice:{SECRET}@127.0.0.1:9/",  # nothing listens: the fetch fails, echoing the URL
        f"alice:{SECRET}@127.0.0.1:9",  # no scheme: InvalidURL names it
    ],
)
def test_secret_in_a_custom_proxy_env_never_shown(
    server: FakeExchanges, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    proxy: str,
) -> None:
    monkeypatch.setenv("CORP_PROXY", proxy)
    monkeypatch.delenv("LIQMAP_PROXY", raising=False)
    with caplog.at_level(logging.DEBUG):
        res = CliRunner().invoke(cli.main, ["fetch", *cfg(tmp_path), "--state", str(tmp_path / "st")])
        res2 = CliRunner().invoke(cli.main, ["build", *cfg(tmp_path), "--state", str(tmp_path / "st2"),
                                             "--out", str(tmp_path / "site")])
    for text in (res.output, res2.output, caplog.text, "\n".join(r.getMessage() for r in caplog.records)):
        assert SECRET not in text
        assert "alice" not in text
    assert res.exit_code == 1 and "Fetched 0 of 1" in res.output, res.output
    assert res2.exit_code != 0 and "could not fetch any data" in res2.output, res2.output
    assert "127.0.0.1:9" in res.output + caplog.text  # the host stays visible


def test_fetch_works_inside_a_running_event_loop(server: FakeExchanges, tmp_path: Path) -> None:
    """A notebook (or a browser driver in the same thread) has a loop running: fetch still runs."""
    import asyncio
    import concurrent.futures

    async def inside() -> str:
        res = CliRunner().invoke(cli.main, ["fetch", *cfg(tmp_path), "--state", str(tmp_path / "st")])
        assert not isinstance(res.exception, RuntimeError), res.exception
        return res.output

    # A thread of its own, so that this test's loop is the running one whatever ran before it.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        output = pool.submit(asyncio.run, inside()).result()
    assert "Fetched 0 of 1" in output  # it ran (nothing listens at 127.0.0.1:9)


def test_mask_without_a_scheme() -> None:
    assert mask_url(f"alice:{SECRET}@proxy.example:3128") == "***@proxy.example:3128"
    text = f"InvalidURL: alice:{SECRET}@proxy.example:3128 is not a URL"
    assert SECRET not in mask_secrets(text)
    assert "alice" not in mask_secrets(text)
    assert "proxy.example:3128" in mask_secrets(text)
