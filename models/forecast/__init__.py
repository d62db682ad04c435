"""Sell-out forecasters with one contract: ``fit(df, spec=None) -> self``,
``predict(h, X_future=None) -> unique_id, ds, yhat, q10, q50, q90, model``.

``SalesplanForecaster`` is the default (backtest-weighted blend); ``what_if`` and
``ColdStartForecaster`` build on it."""

from models.forecast.base import BaseForecaster
from models.forecast.baselines import Naive, SeasonalNaive, WindowAverage
from models.forecast.coldstart import ColdStartForecaster
from models.forecast.conformal import ConformalCalibrator
from models.forecast.ensemble import SalesplanForecaster, default_members
from models.forecast.global_lgbm import GlobalLGBM
from models.forecast.seasonal import SeasonalLevel
from models.forecast.statistical import MSTLETS, AutoARIMA, AutoETS, AutoTheta
from models.forecast.whatif import apply_scenario, what_if

__all__ = [
    "MSTLETS",
    "AutoARIMA",
    "AutoETS",
    "AutoTheta",
    "BaseForecaster",
    "ColdStartForecaster",
    "ConformalCalibrator",
    "GlobalLGBM",
    "Naive",
    "SalesplanForecaster",
    "SeasonalLevel",
    "SeasonalNaive",
    "WindowAverage",
    "apply_scenario",
    "default_members",
    "what_if",
]
