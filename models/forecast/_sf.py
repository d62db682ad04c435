"""Shared plumbing for local models run through statsforecast (one model per series, parallel over series)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import Naive

from salesplan.models.forecast.base import BaseForecaster

CV_COLS = ["unique_id", "ds", "cutoff", "y", "yhat"]


class StatsForecaster(BaseForecaster):
    """Base of the statsforecast-backed forecasters; subclasses return the library model."""

    def _sf_model(self) -> Any:
        raise NotImplementedError

    def _engine(self) -> StatsForecast:
        # Naive as fallback: a series whose fit fails still gets a sane forecast instead of aborting all
        return StatsForecast(
            models=[self._sf_model()], freq=self.pfreq_, n_jobs=self.n_jobs, fallback_model=Naive()
        )

    def _fit_point(self, data: pd.DataFrame) -> None:
        self.sf_ = self._engine().fit(df=data[["unique_id", "ds", "y"]])
        self.alias_ = str(self.sf_.models[0])

    def _predict_point(self, h: int, X: pd.DataFrame | None) -> pd.DataFrame:
        fc = self.sf_.predict(h=h)
        return fc.rename(columns={self.alias_: "yhat"})[["unique_id", "ds", "yhat"]]

    def _cross_validate(self, data: pd.DataFrame, h: int, n_windows: int) -> pd.DataFrame:
        sf = self._engine()
        # refit=False: fit once at the first origin, then roll forward with fixed parameters — the
        # calibration only needs honest out-of-sample errors, not a fresh fit per window
        kw: dict[str, Any] = {"h": h, "df": data[["unique_id", "ds", "y"]], "n_windows": n_windows}
        try:
            cv = sf.cross_validation(**kw, step_size=h, refit=False)
        except ValueError:  # models without ``forward`` (WindowAverage) must refit per window
            cv = sf.cross_validation(**kw, step_size=h, refit=True)
        return cv.rename(columns={str(sf.models[0]): "yhat"})[CV_COLS]
