"""The site plan (sitegen/plan.py): every file named once, per symbol and range."""

from __future__ import annotations

import pytest

from sitegen import plan
from sitegen.errors import BuildError


def test_paths_and_urls() -> None:
    assert plan.path("data_json", "btc-usdt") == "data/btc-usdt.json"
    assert plan.path("range_page", "btc-usdt", "24h") == "btc-usdt/24h/index.html"
    assert plan.url("page", "btc-usdt") == "btc-usdt/" and plan.url("index") == ""
    assert plan.path("schema_symbol") == "schema/symbol.schema.json"
    with pytest.raises(ValueError, match="needs a range"):
        plan.path("range_page", "btc-usdt")
    with pytest.raises(KeyError):
        plan.path("nope")


def test_symbol_files_and_ownership() -> None:
    files = plan.symbol_files("btc-usdt", ("12h", "24h"))
    assert files["btc-usdt/12h/index.html"] == "range_page" and files["og/btc-usdt-thumb.png"] == "thumb"
    names = [*files, "btc-usdc/index.html", "og/btc-usdc.png", "btc-usdt/notes.txt", "static/x.css"]
    assert plan.owned_by(names, "btc-usdt") == sorted(files)


def test_a_new_artifact_kind_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """E.g. a CSV per range: the plan, ownership and the check all follow."""
    monkeypatch.setitem(plan.RANGE_ARTIFACTS, "range_csv", "data/{slug}/{range}.csv")
    files = plan.symbol_files("eth-usdt", ("1w",))
    assert files["data/eth-usdt/1w.csv"] == "range_csv"
    assert "data/eth-usdt/1w.csv" in plan.owned_by(list(files), "eth-usdt")
    assert "data/btc-usdt/1w.csv" not in plan.owned_by(["data/btc-usdt/1w.csv"], "eth-usdt")
    site = plan.SitePlan({"eth-usdt": ("1w",)})
    assert site.missing([p for p in site.files if p != "data/eth-usdt/1w.csv"]) == ["data/eth-usdt/1w.csv"]


def test_site_plan_names_unplanned_and_missing_files() -> None:
    site = plan.SitePlan({"btc-usdt": ("12h",)})
    have = [*site.files, "static/css/site.css", "snapshots/index.json", "stray.html"]
    assert site.unplanned(have) == ["stray.html"] and site.missing(have) == []


def test_fileset_refuses_a_second_write() -> None:
    fs = plan.FileSet()
    fs["a/b.html"] = b"1"
    with pytest.raises(BuildError, match="two parts of the build write this path"):
        fs["a/b.html"] = b"2"
