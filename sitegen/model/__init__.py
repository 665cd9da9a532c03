"""The liquidation model (DESIGN.md section 3): pure numpy, no network.

Public API (what ``build.py`` and the CLI call)::

    price_grid(low, high, bin_pct) -> edges (B+1,)
    model_input(series, timeframe) -> ModelInput
    run_model(inp, params, price_edges=None, *, keep_last=None, by_leverage=True) -> ModelResult
    aggregate(results) -> ModelResult
    clusters(result, top=10, min_gap_pct=0.5) -> list[Cluster]
    cumulative(result) -> (long_cum (B,), short_cum (B,))
    log_corr(pred, real), top_decile_capture(pred, real), baseline(data)   (pure metrics)
    evaluate_data(EvalData, params, halves=, oi_share=) -> Evaluation (frozen dataclasses)

Reading evaluation files, calibration and the methodology report: ``sitegen.evaluation``.
"""

from sitegen.model.adapt import align_open_interest, model_input
from sitegen.model.engine import default_grid, price_grid, run_model, solve
from sitegen.model.liqprice import (
    bybit_tiers,
    liq_price_long,
    liq_price_short,
    maintenance_margin,
    okx_tiers,
    tier_lookup,
    tier_table,
)
from sitegen.model.metrics import (
    EvalData,
    Evaluation,
    Scores,
    SideScore,
    baseline,
    evaluate_data,
    log_corr,
    top_decile_capture,
)
from sitegen.model.outputs import aggregate, clusters, cumulative
from sitegen.model.tiers import packaged_tiers
from sitegen.model.types import Cluster, ModelInput, ModelParams, ModelResult, TierTable

__all__ = [
    "Cluster",
    "EvalData",
    "Evaluation",
    "ModelInput",
    "ModelParams",
    "ModelResult",
    "Scores",
    "SideScore",
    "TierTable",
    "aggregate",
    "align_open_interest",
    "baseline",
    "bybit_tiers",
    "clusters",
    "cumulative",
    "default_grid",
    "evaluate_data",
    "liq_price_long",
    "liq_price_short",
    "log_corr",
    "maintenance_margin",
    "model_input",
    "okx_tiers",
    "packaged_tiers",
    "price_grid",
    "run_model",
    "solve",
    "tier_lookup",
    "tier_table",
    "top_decile_capture",
]
