"""Golden files of the sample build: data/*.json, feed.xml and sitemap.xml as they should be.

tests/test_golden.py compares a fresh sample build against tests/golden/. When a change to
the output is intended, regenerate them and review the diff:

    .venv/bin/python -m tests.golden
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = ("data/btc-usdt.json", "data/eth-usdt.json", "data/sol-usdt.json", "feed.xml", "sitemap.xml")


def main() -> int:
    from tests.conftest import build_sample_site

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "site"
        build_sample_site(out)
        for rel in FILES:
            target = GOLDEN / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / rel, target)
            print(f"wrote {target.relative_to(Path.cwd()) if target.is_relative_to(Path.cwd()) else target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
