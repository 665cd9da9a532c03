"""The calibration report's types: the search grid, its pick, the sample window. Pure data.

Built by :mod:`sitegen.evaluation` (which reads the files and runs the search), read by
field on the methodology page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sitegen.model.metrics import Evaluation, Scores
from sitegen.model.types import ModelParams, power_law_weights


@dataclass(frozen=True)
class GridRow:
    """One setting of the search with its pooled scale and mean log-correlations."""

    intrabar: str
    unlocated_coef: float
    entry_points: int
    alpha: float
    decay_half_life_hours: float
    usd_scale: float
    fit: float  # mean log-correlation of both sides, first half (used to choose)
    check: float  # the same on the second half (reported, never used to choose)

    def params(self, base: ModelParams) -> ModelParams:
        return replace(
            base, intrabar=self.intrabar, unlocated_coef=self.unlocated_coef,
            entry_points=self.entry_points, leverage_weights=power_law_weights(base.leverages, self.alpha),
            decay_half_life_hours=self.decay_half_life_hours, usd_scale=self.usd_scale,
        )

    def simplicity(self) -> tuple[float, ...]:
        decay = 0.0 if self.decay_half_life_hours == 0 else 1.0 / self.decay_half_life_hours
        return (float(self.intrabar != "off"), self.unlocated_coef, self.entry_points, self.alpha, decay)


@dataclass(frozen=True)
class Selection:
    rule: str
    grid: tuple[GridRow, ...]
    chosen: GridRow
    scored_params_are_chosen: bool


@dataclass(frozen=True)
class SampleRun:
    timeframe: str
    driver: str  # "open interest" or "volume"
    scores: Scores
    unlocated_usd: float  # the unlocated term summed over the scored hours (both sides)


@dataclass(frozen=True)
class SampleWindow:
    description: str
    hours: int
    runs: tuple[SampleRun, ...]

    @property
    def unlocated_5m_to_1h(self) -> float | None:
        """The unlocated term on 5-minute bars over the same term on hourly bars (OI-driven)."""
        by = {(r.timeframe, r.driver): r.unlocated_usd for r in self.runs}
        one, five = by.get(("1h", "open interest")), by.get(("5m", "open interest"))
        return five / one if one and five is not None else None


@dataclass(frozen=True)
class CalibrationReport:
    """Everything the methodology page says about accuracy (read by field)."""

    evaluation: Evaluation  # whole series, with the fit and check halves
    selection: Selection
    sample_window: SampleWindow
    dataset: str
    method: str
    bridge: str
    oi_share: float
    file: str
    start: int  # ms UTC, first bar
    end: int  # ms UTC, last bar
    params: ModelParams
