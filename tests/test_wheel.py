"""The wheel a user installs must carry the templates and static files the pages need."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_templates_static_and_sample(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("liqmap-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("templates", "static"):
        repo_files = {
            p.relative_to(REPO).as_posix() for p in (REPO / folder).rglob("*") if p.is_file()
        }
        assert repo_files, f"{folder}/ is empty in the repository"
        for rel in repo_files:
            assert f"sitegen/{rel}" in names, f"{rel} missing from the wheel"
    assert "sitegen/sample/binanceusdm_BTC-USDT_5m.csv.gz" in names
    assert "sitegen/sample/README.md" in names
    for schema in (REPO / "sitegen" / "schemas").glob("*.schema.json"):  # checks and pages use them
        assert f"sitegen/schemas/{schema.name}" in names
    assert any(n.endswith("entry_points.txt") for n in names)
