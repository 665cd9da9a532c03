"""One declaration per setting (sitegen/config.py): the loader, liqmap.toml, the model's
parameters and the code that reads each setting all agree; every setting has bounds that are
checked when the config is loaded (exit 2, nothing written)."""

from __future__ import annotations

import ast
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen.cli import main
from sitegen.config import Config, ModelSettings, declared, document, load_config
from sitegen.errors import ConfigError
from sitegen.model.types import ModelParams

REPO = Path(__file__).resolve().parents[1]
SITEGEN = REPO / "sitegen"


def test_model_settings_match_model_params() -> None:
    """A [model] key exists exactly when ModelParams has the field, with the same default."""
    settings = {f.name: getattr(ModelSettings(), f.name) for f in fields(ModelSettings)}
    params = {f.name: getattr(ModelParams(), f.name) for f in fields(ModelParams)}
    assert settings == params


def test_liqmap_toml_is_generated_from_the_declarations() -> None:
    """Regenerate with: python -m sitegen.config > liqmap.toml"""
    assert (REPO / "liqmap.toml").read_text(encoding="utf-8") == document()


def test_documented_keys_are_exactly_the_declared_keys() -> None:
    doc = tomllib.loads((REPO / "liqmap.toml").read_text(encoding="utf-8"))
    documented = {(sec, key) for sec, table in doc.items() for key in table}
    decl = {(s.section, k) for k, s in declared(Config).items()} | {("model", k) for k in declared(ModelSettings)}
    assert documented == decl
    assert load_config(REPO / "liqmap.toml").source_file.endswith("liqmap.toml")


def _attributes_read(root: Path, skip: set[str]) -> set[str]:
    names: set[str] = set()
    for f in root.rglob("*.py"):
        if f.name in skip:
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
    return names


def test_every_declared_setting_is_read() -> None:
    """Documented but never read is a lie in liqmap.toml (stale_after_hours once was)."""
    read = _attributes_read(SITEGEN, skip={"config.py"})
    unread = [k for k in declared(Config) if k not in read]
    assert unread == []
    model_read = _attributes_read(SITEGEN / "model", skip=set())
    assert [k for k in declared(ModelSettings) if k not in model_read] == []


def test_every_config_attribute_read_is_declared() -> None:
    """Read but not documented: code that reads config.X must find X declared."""
    allowed = set(declared(Config)) | {"model", "source_file"}
    used: set[str] = set()
    for f in SITEGEN.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in ("config", "cfg")):
                used.add(node.attr)
    assert used - allowed == set()
    assert set(declared(ModelSettings)) == set(ModelSettings().as_dict())


def test_every_number_has_bounds() -> None:
    for decl in (declared(Config), declared(ModelSettings)):
        for name, s in decl.items():
            if s.kind in ("int", "float", "floats"):
                assert s.lo is not None and s.hi is not None, name


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("data", "retention_days", "100000"),
        ("data", "retention_days", "0"),
        ("model", "entry_points", "100000000"),
        ("model", "grid_span_pct", "1e9"),
        ("model", "decay_half_life_hours", "0.0001"),
        ("model", "volume_oi_ratio", "1e6"),
        ("model", "volume_decay_half_life_hours", "0.0001"),
        ("model", "bin_pct", "0.0001"),
        ("model", "leverages", "[5, 10, 25, 50, 1000]"),
        ("model", "position_notional_usd", "nan"),
        ("model", "volume_ma_bars", "1000000"),
        ("build", "stale_after_hours", "0"),
        ("build", "min_fresh_share", "-0.5"),
    ],
)
def test_out_of_bounds_setting_exits_2_and_writes_nothing(tmp_path: Path, section: str, key: str, value: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[{section}]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert f"[{section}] {key}: must be" in str(info.value)
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["build", "--sample", "--config", str(cfg), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"[{section}] {key}" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_zero_turns_decay_off_and_bounds_admit_the_edges(tmp_path: Path) -> None:
    cfg = tmp_path / "ok.toml"
    cfg.write_text("[model]\ndecay_half_life_hours = 0\ngrid_span_pct = 100\n[data]\nretention_days = 730\n",
                   encoding="utf-8")
    c = load_config(cfg)
    assert (c.model.decay_half_life_hours, c.model.grid_span_pct, c.retention_days) == (0.0, 100.0, 730)


def test_methodology_parameter_table_follows_the_declarations() -> None:
    from sitegen.build import model_params
    from sitegen.render.pages import parameter_rows

    rows = parameter_rows(model_params(load_config(None)))
    text = "\n".join(" | ".join(r) for r in rows)
    for key, s in declared(ModelSettings).items():
        assert f"({key}" in text and s.help in text, key
