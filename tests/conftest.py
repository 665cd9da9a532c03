"""Shared fixtures. The sample site is built once per test session and shared (read-only)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitegen.config import load_config

# A fixed build time, so that page content does not depend on when the tests run.
BUILD_TIME = datetime(2026, 1, 29, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole site built from the embedded sample; treat it as read-only."""
    from sitegen.build import build_site

    out = tmp_path_factory.mktemp("sample") / "site"
    config = load_config(None, out_dir=out, base_url="https://example.test/liqmap/")
    build_site(config, sample=True, now=BUILD_TIME)
    return out
