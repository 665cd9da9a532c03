"""The sample build's data files, feed and sitemap against the golden copies in tests/golden/
(regenerate with `.venv/bin/python -m tests.golden` when a change is intended)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.golden import FILES, GOLDEN


def _same(a: Any, b: Any, where: str = "$") -> list[str]:
    """Differences between two JSON values; floats agree to 1e-9 relative (numpy builds differ
    in the last bits of a sum)."""
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) else [f"{where}: {a!r} != {b!r}"]
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}: key {k!r} only in one" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += _same(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _same(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


@pytest.mark.parametrize("rel", FILES)
def test_sample_build_matches_the_golden_file(sample_site: Path, rel: str) -> None:
    want, got = (GOLDEN / rel).read_bytes(), (sample_site / rel).read_bytes()
    if rel.endswith(".json"):
        diffs = _same(json.loads(got), json.loads(want))
        assert diffs == [], f"{rel} differs from tests/golden (python -m tests.golden to accept): {diffs[:5]}"
    else:
        assert got == want, f"{rel} differs from tests/golden (python -m tests.golden to accept)"
