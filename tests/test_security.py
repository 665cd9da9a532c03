"""Secrets stay out of logs and output; hostile strings cannot inject markup into pages."""

from __future__ import annotations

import io
import logging

import pytest
from click.testing import CliRunner

from sitegen.errors import SourceError
from sitegen.masking import SecretFilter, mask_secrets, mask_url

PROXY = "http://alice:hunter2-very-secret@proxy.example.net:3128/p?token=t0ken"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (PROXY, "http://***@proxy.example.net:3128"),
        ("socks5://bob@10.0.0.1:1080", "socks5://***@10.0.0.1:1080"),
        ("https://proxy.example.net", "https://proxy.example.net"),
        ("http://[::1]:8080", "http://::1:8080"),
        ("not a url", "***"),
        ("http://host:notaport", "***"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_url(url: str | None, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_secrets_in_free_text() -> None:
    text = f"ProxyError: cannot connect to {PROXY} (timeout)"
    clean = mask_secrets(text, [PROXY])
    assert "hunter2" not in clean and "alice" not in clean and "t0ken" not in clean
    assert "proxy.example.net:3128" in clean
    # user:password in any URL is masked even when the secret value is unknown
    assert mask_secrets("via https://u:pw@h.example/x", []) == "via https://***@h.example/x"
    assert mask_secrets("token=abcd1234 used", ["abcd1234"]) == "token=*** used"


def test_log_filter_scrubs_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIQMAP_PROXY", PROXY)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter())
    log = logging.getLogger("liqmap.test.security")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.warning("okx: using proxy %s", PROXY)
        log.error("failed: %r", {"proxy": PROXY})
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "hunter2" not in out and "alice" not in out
    assert out.count("proxy.example.net:3128") == 2


def test_cli_never_prints_the_proxy(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import sitegen.build
    from sitegen.cli import main

    monkeypatch.setenv("LIQMAP_PROXY", PROXY)

    def failing_build(*args, **kwargs):
        logging.getLogger("sitegen.sources.live").warning("binanceusdm via %s: HTTP 451", PROXY)
        raise SourceError(f"every exchange failed via {PROXY}")

    monkeypatch.setattr(sitegen.build, "build_site", failing_build)
    result = CliRunner().invoke(main, ["build", "--out", str(tmp_path / "site")])
    assert result.exit_code != 0
    assert "every exchange failed via http://***@proxy.example.net:3128" in result.output
    assert "hunter2" not in result.output and "alice" not in result.output
