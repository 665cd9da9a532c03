"""The published JSON Schemas (sitegen/schemas/): valid, in step with the config's spellings,
published on the site, and what the renderer writes matches them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from sitegen import schemas
from sitegen.config import RANGES, SYMBOL_PATTERN


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_schema_files_are_valid_and_promise_stability(name: str) -> None:
    s = schemas.schema(name)
    Draft202012Validator.check_schema(s)
    assert "Stability:" in s["description"]
    assert s.get("additionalProperties", True) is True  # new keys never break old readers


def test_schemas_spell_symbols_and_ranges_like_the_config() -> None:
    props = schemas.schema("symbol")["properties"]
    assert props["symbol"]["pattern"] == SYMBOL_PATTERN
    assert schemas.schema("snapshot")["properties"]["symbol"]["pattern"] == SYMBOL_PATTERN
    assert props["ranges"]["items"]["enum"] == list(RANGES)


def test_every_number_of_the_symbol_data_has_a_unit_or_description() -> None:
    def walk(node: dict, where: str) -> list[str]:
        out = []
        if node.get("type") in ("number", "integer") and not node.get("description"):
            out.append(where)
        for k, sub in node.get("properties", {}).items():
            out += walk(sub, f"{where}.{k}")
        if isinstance(node.get("items"), dict):
            out += walk(node["items"], f"{where}[]")
        return out

    assert walk(schemas.schema("symbol"), "$") == []


def test_an_added_key_is_allowed_and_a_wrong_type_is_named(sample_site: Path) -> None:
    payload = json.loads((sample_site / "data" / "btc-usdt.json").read_bytes())
    assert schemas.validate({**payload, "realised": {"long_usd": [1.0]}}, "symbol") == []
    assert schemas.validate({**payload, "as_of": 5}, "symbol") == ["$.as_of: expected a string, got an integer 5"]


def test_the_site_publishes_the_same_files_and_its_data_matches(sample_site: Path) -> None:
    for rel, content in schemas.published().items():
        assert (sample_site / rel).read_bytes() == content
    for name in ("btc-usdt", "eth-usdt", "sol-usdt"):
        assert schemas.validate(json.loads((sample_site / "data" / f"{name}.json").read_bytes()), "symbol") == []
    assert schemas.validate(json.loads((sample_site / "snapshots" / "index.json").read_bytes()), "snapshot_index") == []
    meth = (sample_site / "methodology" / "index.html").read_text(encoding="utf-8")
    assert 'href="../schema/symbol.schema.json"' in meth
