"""Baselines every model must beat: last value, same period last season, last value plus the average
change (drift), mean of the last periods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from statsforecast.models import Naive as _Naive
from statsforecast.models import RandomWalkWithDrift as _RandomWalkWithDrift
from statsforecast.models import SeasonalNaive as _SeasonalNaive
from statsforecast.models import WindowAverage as _WindowAverage

from salesplan.models.forecast._sf import StatsForecaster


class Naive(StatsForecaster):
    """Last observed value carried forward."""

    def _sf_model(self) -> Any:
        return _Naive()


class SeasonalNaive(StatsForecaster):
    """Value of the same period one season ago (needs one full season of history)."""

    min_seasons: ClassVar[float] = 1.0

    def _sf_model(self) -> Any:
        return _SeasonalNaive(season_length=self.season_)


class Drift(StatsForecaster):
    """Last value plus the average change per period over the history (random walk with drift): the
    simplest trend model, strong on yearly business series where a trend dominates."""

    min_obs: ClassVar[int] = 2

    def _sf_model(self) -> Any:
        return _RandomWalkWithDrift()


class WindowAverage(StatsForecaster):
    """Mean of the last ``window_size`` periods: robust to noise for flat, slow-moving series."""

    def __init__(
        self,
        window_size: int = 4,
        season_length: int | None = None,
        freq: str | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int | None = None,
    ) -> None:
        super().__init__(season_length, freq, quantiles, n_jobs, calib_windows, calib_horizon)
        self.window_size = window_size

    def _min_length(self) -> int:
        return self.window_size

    def _sf_model(self) -> Any:
        return _WindowAverage(window_size=self.window_size)
