"""benchmarks/bench_build.py asks the fake exchange for exactly the symbols it serves."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.fakex.data import load_universe

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_build.py"


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_build", PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("n", [3, 4, 10, 30])
def test_symbol_list_is_the_served_universe(n: int) -> None:
    served = {f"{c}/USDT:USDT" for c in load_universe(n - 3)}
    names = _bench().symbol_list(n)
    assert len(names) == n == len(set(names))
    assert set(names) == served


def test_site_size_counts_every_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.html").write_bytes(b"1" * 100)
    (tmp_path / "y.json").write_bytes(b"2" * 23)
    assert _bench().dir_bytes(tmp_path) == 123
