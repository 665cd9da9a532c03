"""Exchange adapters (sitegen/sources/adapters/): one module per exchange holds what differs;
the fetcher, the client factory and the model hold no exchange-id branches."""

from __future__ import annotations

import ast
from pathlib import Path

from sitegen.config import KNOWN_EXCHANGES
from sitegen.model.liqprice import MARGIN_FORMS
from sitegen.sources.adapters import ADAPTERS
from sitegen.sources.exchanges import resolve_symbol

SITEGEN = Path(__file__).resolve().parents[1] / "sitegen"


def test_one_adapter_per_known_exchange() -> None:
    assert tuple(ADAPTERS) == KNOWN_EXCHANGES
    for ex_id, a in ADAPTERS.items():
        assert a.id == ex_id
        assert a.margin_form in MARGIN_FORMS
        assert (SITEGEN / "sources" / "adapters" / f"{ex_id}.py").is_file()


def test_no_exchange_id_branches_outside_the_adapters() -> None:
    """No `x == "okx"`, `x in ("bybit", ...)` or `.startswith("okx")` on an exchange id."""
    files = [SITEGEN / "sources" / "live.py", SITEGEN / "sources" / "exchanges.py",
             SITEGEN / "model" / "adapt.py", SITEGEN / "build.py"]  # liqprice branches on forms, not ids
    found = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            consts = []
            if isinstance(node, ast.Compare):
                consts = [c for c in ast.walk(node) if isinstance(c, ast.Constant)]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "startswith":
                consts = [c for c in node.args if isinstance(c, ast.Constant)]
            found += [f"{f.name}:{node.lineno} {c.value}" for c in consts if c.value in KNOWN_EXCHANGES]
    assert found == []


def test_settle_alias_comes_from_the_adapter() -> None:
    listed = {"BTC/USDC:USDC": {"swap": True}}
    assert resolve_symbol("hyperliquid", "BTC/USDT:USDT", listed) == "BTC/USDC:USDC"
