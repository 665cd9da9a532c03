"""Evaluation against realised liquidations: metrics, CSV validation, calibration, CLI."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sitegen.cli import main
from sitegen.errors import DataError, LiqmapError
from sitegen.model import ModelParams, calibration_report, evaluate_arrays, evaluate_csv
from sitegen.model.evaluate import (
    COLUMNS,
    calibrate,
    calibration_data,
    format_table,
    log_corr,
    top_decile_capture,
)

HEADER = ",".join(COLUMNS)


def _calibration_lines(n: int) -> list[str]:
    raw = resources.files("sitegen.sample").joinpath("calibration_btc_1h.csv.gz").read_bytes()
    return gzip.decompress(raw).decode().splitlines()[: n + 1]


def test_log_corr_and_top_decile_hand_computed() -> None:
    pred = np.array([0.0, 1.0, 3.0, 7.0])
    real = np.array([0.0, 1.0, 3.0, 7.0])
    assert log_corr(pred, real) == pytest.approx(1.0)
    assert log_corr(np.zeros(4), real) is None  # constant prediction
    real20 = np.zeros(20)
    real20[[3, 7]] = [10.0, 30.0]
    pred20 = np.zeros(20)
    pred20[7] = 5.0
    pred20[1] = 4.0
    # top 10 % of 20 bars = bars 7 and 1: catch 30 of 40
    assert top_decile_capture(pred20, real20) == pytest.approx(0.75)
    # ties (all zero) are broken by time, never in the model's favour by luck
    assert top_decile_capture(np.zeros(20), real20) == 0.0
    assert top_decile_capture(pred20, np.zeros(20)) is None


def test_baseline_is_oi_times_the_bar_move() -> None:
    ts = np.arange(3) * 3_600_000
    o = np.array([100.0, 100.0, 100.0])
    h = np.array([101.0, 102.0, 104.0])
    lo = np.array([99.0, 97.0, 98.0])
    oi = np.full(3, 1000.0)
    liq_l = oi * (o - lo) / o  # realised exactly equal to the baseline
    liq_s = oi * (h - o) / o
    res = evaluate_arrays(ts, o, h, lo, o, oi, liq_l, liq_s, ModelParams())
    assert res["bars"] == 3
    assert res["long"]["baseline_logcorr"] == pytest.approx(1.0)
    assert res["short"]["baseline_logcorr"] == pytest.approx(1.0)
    assert set(res["long"]) == {"model_logcorr", "baseline_logcorr", "model_top10", "baseline_top10"}


def test_bad_rows_are_listed_with_line_numbers(tmp_path: Path) -> None:
    good = _calibration_lines(8)
    rows = [line.split(",") for line in good[1:]]
    rows[1][3] = "nan"  # line 3: NaN low
    rows[2][1] = "-5"  # line 4: negative open
    rows[4][0] = rows[3][0]  # line 6: same timestamp as line 5
    rows[6][0] = str(int(rows[4][0]) - 1)  # line 8: earlier than line 7
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([good[0], *(",".join(r) for r in rows)]) + "\n")
    with pytest.raises(DataError) as err:
        evaluate_csv(path, ModelParams())
    msg = str(err.value)
    assert str(path) in msg and "4 bad row(s)" in msg
    assert "line 3: NaN" in msg
    assert "line 4: non-positive price" in msg
    assert "line 6: duplicate timestamp" in msg
    assert "line 8: timestamp earlier" in msg
    assert isinstance(err.value, LiqmapError)


def test_structural_problems(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("timestamp,open,high\n1,2,3\n")
    with pytest.raises(DataError, match="missing column"):
        evaluate_csv(p, ModelParams())
    p.write_text(HEADER + "\n1,100,101,99,100,5\n")
    with pytest.raises(DataError, match="line 2: 6 fields"):
        evaluate_csv(p, ModelParams())
    with pytest.raises(DataError, match="cannot read"):
        evaluate_csv(tmp_path / "missing.csv", ModelParams())
    p.write_text("")
    with pytest.raises(DataError, match="empty file"):
        evaluate_csv(p, ModelParams())


def test_evaluate_csv_reads_plain_and_gzip(tmp_path: Path) -> None:
    lines = _calibration_lines(400)
    plain = tmp_path / "slice.csv"
    plain.write_text("\n".join(lines) + "\n")
    gz = tmp_path / "slice.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    a = evaluate_csv(plain, ModelParams())
    b = evaluate_csv(gz, ModelParams(), halves=True)
    assert a["bars"] == 400 and a["long"] == b["long"]
    assert b["halves"]["first"]["bars"] == 200
    assert "first half, 200 bars:" in format_table(b)


def test_calibration_report_describes_data_and_beats_the_baseline() -> None:
    params = ModelParams()
    rep = calibration_report(params)
    assert rep["bars"] == len(calibration_data()) == 2078
    assert "Coinglass" in rep["dataset"] and "first half" in rep["method"]
    assert rep["params"] == params.as_dict()
    for part in (rep, rep["halves"]["first"], rep["halves"]["second"]):
        for side in ("long", "short"):
            s = part[side]
            assert s["model_logcorr"] > s["baseline_logcorr"], (side, s)
    assert "second half (check, 1039 bars): long" in rep["halves_summary"]
    assert "5m bars driven by volume" in rep["sample_window_summary"]
    tot = rep["totals_usd"]
    assert tot["realised_long"] == pytest.approx(float(calibration_data().liq_long.sum()))
    assert tot["predicted_long"] > 0 and tot["predicted_short"] > 0
    sel = rep["selection"]
    assert sel["scored_params_are_chosen"] is True  # the shipped defaults are the search's pick
    assert sel["chosen"]["fit"] > 0 and "first half" in sel["rule"]
    json.dumps(rep)  # goes into the page's JSON as is


def test_calibration_search_uses_only_the_first_half() -> None:
    """Changing the second half's realised liquidations must not change the choice."""
    d = calibration_data()
    mid = len(d) // 2
    scrambled = np.array(d.liq_long)
    scrambled[mid:] = scrambled[mid:][::-1]
    other = type(d)(**{**d.__dict__, "liq_long": scrambled})
    a, b = calibrate(d)["chosen"], calibrate(other)["chosen"]
    assert {k: a[k] for k in ("alpha", "entry_points", "decay_half_life_hours", "fit")} == {
        k: b[k] for k in ("alpha", "entry_points", "decay_half_life_hours", "fit")
    }


def test_cli_evaluate_table_and_json(tmp_path: Path) -> None:
    path = tmp_path / "slice.csv"
    path.write_text("\n".join(_calibration_lines(300)) + "\n")
    runner = CliRunner()
    res = runner.invoke(main, ["evaluate", str(path)])
    assert res.exit_code == 0, res.output
    assert "log-corr model" in res.output and "long" in res.output
    res = runner.invoke(main, ["evaluate", str(path), "--json"])
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert data["bars"] == 300 and set(data) == {"long", "short", "bars"}


def test_cli_evaluate_bad_file_exits_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "\n1,100,101,99,100,5,1,1\n1,100,101,99,100,5,1,1\n")
    res = CliRunner().invoke(main, ["evaluate", str(path)])
    assert res.exit_code == 1
    assert "line 3: duplicate timestamp" in res.output


def test_sample_window_check_scores_5m_and_volume_runs() -> None:
    from sitegen.model.evaluate import sample_window_check

    res = sample_window_check(ModelParams())
    runs = res["runs"]
    assert [(r["timeframe"], r["driver"]) for r in runs] == [
        ("1h", "open interest"), ("1h", "volume"), ("5m", "open interest"), ("5m", "volume"),
    ]
    assert res["hours"] > 700
    for r in runs:
        for side in ("long", "short"):
            s = r[side]
            assert -1 <= s["model_logcorr"] <= 1 and 0 <= s["model_top10"] <= 1
    # the baseline is scored on the same hours whatever drives the model
    for a, b in ((runs[0], runs[1]), (runs[2], runs[3])):
        assert a["long"]["baseline_logcorr"] == b["long"]["baseline_logcorr"]
    # withholding open interest changes the predictions
    assert runs[0]["long"]["model_logcorr"] != runs[1]["long"]["model_logcorr"]
