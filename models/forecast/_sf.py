"""Shared plumbing for local models run through statsforecast (one model per series, parallel over series)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import Naive

from salesplan.models.forecast.base import CV_COLS, BaseForecaster


class StatsForecaster(BaseForecaster):
    """Base of the statsforecast-backed forecasters; subclasses return the library model.

    ``structure_seasons``: seasons of history before a rolling origin for the model to choose its
    seasonal form there (ETS, Theta, CES: two); the backtest fits once per series at its first origin and
    rolls forward, so an origin with less would freeze a non-seasonal form for all later ones."""

    structure_seasons: ClassVar[float] = 0.0
    rolls_forward: ClassVar[bool] = True  # the library's ``forward`` keeps the fit sane on new data

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

    def _cross_validate(
        self, data: pd.DataFrame, h: int, n_windows: int, min_train: int | None = None
    ) -> pd.DataFrame:
        """statsforecast's own cross-validation, per group of series that have room for the same number of
        windows (its windows count back from each series' end, as ``origin_splits`` does, but it refuses a
        panel with any series too short for them all). ``min_train`` defaults to the model's minimum and
        ``structure_seasons`` seasons."""
        n = data.groupby("unique_id", sort=False).size()
        season = self.season_
        structure = int(np.ceil(self.structure_seasons * season)) if season > 1 else 0
        need = max(min_train or max(self._min_length(), structure), 1)
        room = np.minimum((n.to_numpy() - need) // h, n_windows)
        out = []
        for k in sorted(set(room[room > 0].tolist())):
            ids = set(n.index[room == k])
            part = data.loc[data["unique_id"].isin(ids), ["unique_id", "ds", "y"]]
            sf = self._engine()
            # refit=False: fit once at the first origin, then roll forward with fixed parameters — the
            # weights and the calibration only need honest out-of-sample errors, not a fresh fit per window
            kw: dict[str, Any] = {"h": h, "df": part, "n_windows": int(k), "step_size": h}
            try:
                cv = sf.cross_validation(**kw, refit=not self.rolls_forward)
            except ValueError:  # models without ``forward`` (WindowAverage, drift) must refit per window
                cv = sf.cross_validation(**kw, refit=True)
            cv = cv.rename(columns={str(sf.models[0]): "yhat"})
            age = cv.groupby("unique_id", sort=False)["cutoff"].rank(method="dense", ascending=False)
            out.append(cv.assign(window=age.to_numpy(dtype=int)))
        if not out:
            return pd.DataFrame({c: [] for c in CV_COLS})
        cv = pd.concat(out, ignore_index=True)
        cv["unique_id"] = cv["unique_id"].astype(str)
        return cv[CV_COLS]
