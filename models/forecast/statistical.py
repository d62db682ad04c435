"""Local statistical models (one per series) through statsforecast: ETS, Theta, CES, ARIMA, MSTL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from statsforecast.models import MSTL
from statsforecast.models import AutoARIMA as _AutoARIMA
from statsforecast.models import AutoCES as _AutoCES
from statsforecast.models import AutoETS as _AutoETS
from statsforecast.models import AutoTheta as _AutoTheta

from salesplan.models.forecast._sf import StatsForecaster


class AutoETS(StatsForecaster):
    """Exponential smoothing with the error/trend/season form picked by AICc (statsforecast ``AutoETS``).
    Seasonal ETS at season_length=52 costs ~0.5 s per series; season_length=1 gives a fast level/trend
    model (pair it with MSTLETS for the season)."""

    min_obs: ClassVar[int] = 8
    structure_seasons: ClassVar[float] = 2.0

    def __init__(
        self,
        model: str = "ZZZ",
        damped: bool | None = None,
        season_length: int | None = None,
        freq: str | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int | None = None,
    ) -> None:
        super().__init__(season_length, freq, quantiles, n_jobs, calib_windows, calib_horizon)
        self.model = model
        self.damped = damped

    def _sf_model(self) -> Any:
        return _AutoETS(season_length=self.season_, model=self.model, damped=self.damped)


class AutoTheta(StatsForecaster):
    """Theta method on the seasonally adjusted series; ``model=None`` picks standard/optimised/dynamic
    by MSE, ``model="DOTM"`` fixes the dynamic optimised variant (3× faster, for large panels)."""

    min_obs: ClassVar[int] = 4  # statsforecast's theta needs four periods
    structure_seasons: ClassVar[float] = 2.0

    def __init__(
        self,
        decomposition_type: str = "multiplicative",
        model: str | None = None,
        season_length: int | None = None,
        freq: str | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int | None = None,
    ) -> None:
        super().__init__(season_length, freq, quantiles, n_jobs, calib_windows, calib_horizon)
        self.decomposition_type = decomposition_type
        self.model = model

    def _sf_model(self) -> Any:
        return _AutoTheta(
            season_length=self.season_, decomposition_type=self.decomposition_type, model=self.model
        )


class AutoCES(StatsForecaster):
    """Complex exponential smoothing (Svetunkov & Kourentzes), the seasonal form picked by AIC
    (statsforecast ``AutoCES``): level and a non-linear "potential" component instead of an explicit
    trend, so it follows trends without extrapolating them as hard as ETS/ARIMA; cheap to fit and a
    strong, different member next to ETS and Theta on short yearly and quarterly series."""

    min_obs: ClassVar[int] = 4
    structure_seasons: ClassVar[float] = 2.0
    rolls_forward: ClassVar[bool] = False  # statsforecast 2.1 CES ``forward`` diverges on some series

    def _sf_model(self) -> Any:
        return _AutoCES(season_length=self.season_)


class AutoARIMA(StatsForecaster):
    """Seasonal ARIMA with orders picked stepwise by AICc. Slow for season_length=52: use on few series."""

    min_obs: ClassVar[int] = 10

    def __init__(
        self,
        seasonal: bool = True,
        season_length: int | None = None,
        freq: str | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int | None = None,
    ) -> None:
        super().__init__(season_length, freq, quantiles, n_jobs, calib_windows, calib_horizon)
        self.seasonal = seasonal

    def _sf_model(self) -> Any:
        return _AutoARIMA(season_length=self.season_, seasonal=self.seasonal)


class MSTLETS(StatsForecaster):
    """STL season(s) plus an AutoETS trend forecaster; needs two full seasons."""

    min_seasons: ClassVar[float] = 2.0

    def _sf_model(self) -> Any:
        return MSTL(season_length=self.season_, trend_forecaster=_AutoETS(model="ZZN"))
