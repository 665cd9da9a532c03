"""The published JSON Schemas of the site's data files, and validation against them.

The ``*.schema.json`` files next to this module are the one description of each data file
(keys, types, units, stability promise). Render publishes them under ``schema/``, ``liqmap
check``, keep-last-good and the snapshot history validate with them (``jsonschema``,
Draft 2020-12), and the tests use the same files. To add a key to ``data/<slug>.json``, add
it to ``symbol.schema.json`` with its type and unit (extra keys are allowed, so old readers
keep working).
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

# name -> file; published at schema/<file>
SCHEMAS = {
    "symbol": "symbol.schema.json",  # data/<slug>.json
    "snapshot": "snapshot.schema.json",  # snapshots/<hour>/<slug>.json
    "snapshot_index": "snapshot-index.schema.json",  # snapshots/index.json
}
PUBLISHED_DIR = "schema"
MAX_PROBLEMS = 5  # one bad column would otherwise flood the report


def schema_bytes(name: str) -> bytes:
    return resources.files(__package__).joinpath(SCHEMAS[name]).read_bytes()


@cache
def schema(name: str) -> dict[str, Any]:
    """The parsed schema ``name`` (one of :data:`SCHEMAS`)."""
    return json.loads(schema_bytes(name))


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name))


def published() -> dict[str, bytes]:
    """{site path: bytes} of every schema, as the site publishes them."""
    return {f"{PUBLISHED_DIR}/{file}": schema_bytes(name) for name, file in SCHEMAS.items()}


def validate(value: Any, name: str) -> list[str]:
    """Where ``value`` does not match schema ``name``: ``["$.key[0]: what is wrong", ...]``."""
    out = [f"{where}: expected a finite number, got {v!r}" for where, v in _non_finite(value, "$")]
    errors = sorted(_validator(name).iter_errors(value), key=lambda e: list(e.absolute_path))
    for e in errors:
        out.append(_describe_error(e))
        if len(out) >= MAX_PROBLEMS:
            break
    return out[:MAX_PROBLEMS]


def _where(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


_TYPE_WORDS = {"boolean": "true/false", "number": "a number", "integer": "a whole number",
               "string": "a string", "object": "an object", "array": "a list", "null": "null"}


def _describe(value: Any) -> str:
    kind = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)
    return f"{kind} {json.dumps(value)[:40]}"


def _describe_error(e: ValidationError) -> str:
    where = _where(e.absolute_path)
    v, kind, arg = e.instance, e.validator, e.validator_value
    if kind == "required":
        missing = next((k for k in arg if isinstance(v, dict) and k not in v), "?")
        return f"{where}: missing required key {missing!r}"
    if kind == "type":
        types = arg if isinstance(arg, list) else [arg]
        return f"{where}: expected {' or '.join(_TYPE_WORDS.get(str(t), str(t)) for t in types)}, got {_describe(v)}"
    if kind == "enum":
        return f"{where}: expected one of {list(arg)}, got {_describe(v)}"
    if kind == "pattern":
        return f"{where}: {str(v)[:60]!r} does not match {arg}"
    if kind == "minimum":
        return f"{where}: expected a number >= {arg:g}, got {v!r}"
    if kind == "minItems":
        return f"{where}: expected at least {arg} item(s), got {len(v)}"
    if kind == "anyOf":
        # e.g. a string-or-null: report the first alternative's complaint
        best = min(e.context, key=lambda c: len(list(c.relative_schema_path)), default=None)
        return _describe_error(best) if best is not None else f"{where}: {e.message}"
    return f"{where}: {e.message}"


def _non_finite(value: Any, where: str) -> list[tuple[str, float]]:
    if isinstance(value, float):
        return [] if math.isfinite(value) else [(where, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _non_finite(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _non_finite(v, f"{where}[{i}]")]
    return []
