"""Sell-out forecasters with one contract: ``fit(df, spec=None) -> self``,
``predict(h, X_future=None) -> unique_id, ds, yhat, q10, q50, q90, model``.

``SalesplanForecaster`` is the default (backtest-weighted blend); ``what_if`` and
``ColdStartForecaster`` build on it; ``PartitionedForecaster`` fits any of them per partition of series.
``Forecaster`` is the structural type of all of them, what other packages annotate a forecaster as."""

from salesplan.models.forecast.base import BaseForecaster, Forecaster, full_history
from salesplan.models.forecast.baselines import Naive, SeasonalNaive, WindowAverage
from salesplan.models.forecast.coldstart import ColdStartForecaster
from salesplan.models.forecast.conformal import ConformalCalibrator
from salesplan.models.forecast.ensemble import SalesplanForecaster, default_members
from salesplan.models.forecast.global_lgbm import GlobalLGBM
from salesplan.models.forecast.partitioned import PartitionedForecaster, partitioned
from salesplan.models.forecast.seasonal import SeasonalLevel
from salesplan.models.forecast.statistical import MSTLETS, AutoARIMA, AutoETS, AutoTheta
from salesplan.models.forecast.whatif import Scenario, WhatIfResult, apply_scenario, what_if

__all__ = [
    "MSTLETS",
    "AutoARIMA",
    "AutoETS",
    "AutoTheta",
    "BaseForecaster",
    "ColdStartForecaster",
    "ConformalCalibrator",
    "Forecaster",
    "GlobalLGBM",
    "Naive",
    "PartitionedForecaster",
    "SalesplanForecaster",
    "Scenario",
    "SeasonalLevel",
    "SeasonalNaive",
    "WhatIfResult",
    "WindowAverage",
    "apply_scenario",
    "default_members",
    "full_history",
    "partitioned",
    "what_if",
]
