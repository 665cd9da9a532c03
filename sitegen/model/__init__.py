"""The liquidation model (DESIGN.md section 3): pure numpy, no network.

Public API (what ``build.py`` and the CLI call)::

    price_grid(low, high, bin_pct) -> edges (B+1,)
    model_input(series, timeframe) -> ModelInput
    run_model(inp, params, price_edges=None, *, keep_last=None, by_leverage=True) -> ModelResult
    aggregate(results) -> ModelResult
    clusters(result, top=10, min_gap_pct=0.5) -> list[Cluster]
    cumulative(result) -> (long_cum (B,), short_cum (B,))
    evaluate_csv(path, params) / evaluate_arrays(...) -> {"long": {...}, "short": {...}, "bars": N}
    calibration_report(params) -> evaluation of the packaged calibration data + description
"""

from sitegen.model.adapt import align_open_interest, model_input
from sitegen.model.engine import default_grid, price_grid, run_model, solve
from sitegen.model.evaluate import (
    calibration_report,
    evaluate_arrays,
    evaluate_csv,
    read_csv,
)
from sitegen.model.liqprice import (
    bybit_tiers,
    liq_price_long,
    liq_price_short,
    maintenance_margin,
    okx_tiers,
    tier_lookup,
    tier_table,
)
from sitegen.model.outputs import aggregate, clusters, cumulative
from sitegen.model.tiers import packaged_tiers
from sitegen.model.types import Cluster, ModelInput, ModelParams, ModelResult, TierTable

__all__ = [
    "Cluster",
    "ModelInput",
    "ModelParams",
    "ModelResult",
    "TierTable",
    "aggregate",
    "align_open_interest",
    "bybit_tiers",
    "calibration_report",
    "clusters",
    "cumulative",
    "default_grid",
    "evaluate_arrays",
    "evaluate_csv",
    "liq_price_long",
    "liq_price_short",
    "maintenance_margin",
    "model_input",
    "okx_tiers",
    "packaged_tiers",
    "price_grid",
    "read_csv",
    "run_model",
    "solve",
    "tier_lookup",
    "tier_table",
]
