"""Cold start: new products or stores with little or no history borrow the shape of similar series.

``ColdStartForecaster`` wraps a base forecaster. Series with enough history for the base go to it (with
the default blend that is every series with one period or more); the others (short for another base, or
unseen ids that appear in ``X_future``) get ``level × profile``: the analogues' average forecast profile
(each analogue's forecast divided by its recent level) times the series' own recent level, or the
analogues' median level when it has no history. Analogues are the base-model series sharing the most
specific available set of ``match_cols`` (e.g. category × store, then category, then everything); a plain
``unique_id, ds, y`` panel has no attributes, so every base series is an analogue (``match_note_`` says
so). A short series is forecast for the periods after *its own* last period; a new one for the periods
its ``X_future`` rows give, else those after the panel's last period. Rows carry ``cold_start``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from salesplan.contracts import SelloutSpec
from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.models.forecast.base import BaseForecaster, full_history
from salesplan.models.forecast.ensemble import SalesplanForecaster
from salesplan.models.forecast.panel import add_step, future_grid

LEVEL_WINDOW = 8  # recent periods that define a series' level


class ColdStartForecaster(BaseForecaster):
    """Base forecaster for established series + analogue forecasts for cold ones (``cold_start=True``)."""

    def __init__(
        self,
        base: BaseForecaster | None = None,
        match_cols: Sequence[str] | None = None,
        season_length: int | None = None,
        freq: str | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int | None = None,
    ) -> None:
        super().__init__(season_length, freq, quantiles, n_jobs, calib_windows, calib_horizon)
        self.base = base
        self.match_cols = match_cols

    def _base(self) -> BaseForecaster:
        b = self.base if self.base is not None else SalesplanForecaster(n_jobs=self.n_jobs)
        return clone(b).set_params(
            calib_windows=self.calib_windows,
            calib_horizon=self.calib_horizon_,
            quantiles=self.quantiles,
            freq=self.freq_,
            season_length=self.season_length_,
        )

    def fit(self, df: pd.DataFrame, spec: SelloutSpec | None = None) -> ColdStartForecaster:
        self._check_params()
        data = self._prepare(df, spec)
        base = self._base()
        need = base.min_history()
        n = data.groupby("unique_id", sort=False).size()
        warm = n.index[n >= need]
        if len(warm) == 0:
            raise DataValidationError(
                [Problem("unique_id", f"no series has the {need} periods the base model needs", fix="")],
                source="ColdStartForecaster.fit",
            )
        self.base_ = base.fit(data[data["unique_id"].isin(warm)], spec)
        self.cold_ids_ = [u for u in n.index if u not in set(warm)]
        self.match_cols_ = list(self.match_cols) if self.match_cols is not None else _default_match(self)
        self.match_note_ = (
            ""
            if self.match_cols_
            else "no attribute columns to match analogues on (a plain panel): a series without the history "
            "the base model needs borrows the forecast profile of all base-model series"
        )
        missing = [c for c in self.match_cols_ if c not in data.columns]
        if missing:
            raise ConfigError(f"ColdStartForecaster: match_cols {missing} are not columns of the data")
        self.attrs_ = data.groupby("unique_id", sort=False)[self.match_cols_].first()
        recent = data.groupby("unique_id", sort=False).tail(LEVEL_WINDOW)
        self.level_ = recent.groupby("unique_id", sort=False)["y"].mean()
        self.calibrator_ = getattr(self.base_, "calibrator_", None)
        if self.calibrator_ is not None:
            self.calib_cv_ = self.base_.calib_cv_
        # the base's levels: a cold series has none, so its band's difficulty is 1 (predict_quantiles too)
        self.abs_level_ = getattr(self.base_, "abs_level_", None)  # a partitioned base has none
        return self

    @property
    def required_regressors(self) -> list[str]:
        self._check_fitted()
        return list(self.base_.required_regressors)

    def full_history(self) -> int:
        """The base model's (analogues add no structure that grows with history)."""
        self._check_fitted()
        return full_history(self.base_)

    def predict(self, h: int, X_future: pd.DataFrame | None = None) -> pd.DataFrame:
        """Forecasts for warm, short and brand-new series (new ids need ``match_cols`` in ``X_future``)."""
        self._check_fitted()
        if not isinstance(h, int | np.integer) or h < 1:
            raise ConfigError(f"{self.name}.predict: h must be a positive integer, got {h!r}")
        warm_X = X_future
        new = self._new_series(X_future)
        if X_future is not None:
            warm_X = X_future[X_future["unique_id"].astype(str).isin(self.base_.last_ds_.index)]
        warm = self.base_.predict(h, warm_X)
        cold_ids = [*self.cold_ids_, *new.index]
        if not cold_ids:
            return warm.assign(cold_start=False, model=self.name)
        attrs = pd.concat([self.attrs_.loc[self.cold_ids_], new[self.match_cols_]])
        starts = self.last_ds_.reindex(self.cold_ids_)
        if len(new) and X_future is not None:
            # a new series' forecast starts on its first X_future row (the period before it is its "last")
            first = pd.to_datetime(X_future["ds"]).groupby(X_future["unique_id"].astype(str)).min()
            offset = pd.tseries.frequencies.to_offset(self.pfreq_)
            starts = pd.concat(
                [starts, pd.Series([d - offset for d in first.reindex(new.index)], index=new.index)]
            )
        cold = self._analogue(warm, attrs, starts, h)
        out = pd.concat([warm.assign(cold_start=False), cold.assign(cold_start=True)], ignore_index=True)
        out["model"] = self.name
        return out.sort_values(["unique_id", "ds"]).reset_index(drop=True)

    def _new_series(self, X_future: pd.DataFrame | None) -> pd.DataFrame:
        if X_future is None:
            return pd.DataFrame(columns=self.match_cols_)
        ids = X_future["unique_id"].astype(str)
        new = X_future[~ids.isin(self.level_.index)]
        if new.empty:
            return pd.DataFrame(columns=self.match_cols_)
        missing = [c for c in self.match_cols_ if c not in new.columns]
        if missing:
            raise DataValidationError(
                [
                    Problem(
                        None,
                        f"new series {sorted(new['unique_id'].astype(str).unique())[:5]} need attribute "
                        f"column(s) {missing} in X_future to find analogues",
                        fix="add the series' hierarchy attributes (e.g. category, store) to its X_future rows",
                    )
                ],
                source="ColdStartForecaster.predict",
            )
        return (
            new.assign(unique_id=new["unique_id"].astype(str)).groupby("unique_id")[self.match_cols_].first()
        )

    def _analogue(self, warm: pd.DataFrame, attrs: pd.DataFrame, starts: pd.Series, h: int) -> pd.DataFrame:
        """level × mean profile of the analogues (profile = analogue forecast / analogue level)."""
        wlevel = self.level_.reindex(warm["unique_id"]).to_numpy(dtype=float)
        step = warm.groupby("unique_id", sort=False).cumcount() + 1  # warm is sorted by unique_id, ds
        prof = warm.assign(step=step, p=warm["yhat"] / np.maximum(wlevel, 1e-9))
        prof = prof.merge(self.attrs_, left_on="unique_id", right_index=True, how="left")
        rows = []
        for uid, a in attrs.iterrows():
            cand: pd.DataFrame = prof
            for k in range(len(self.match_cols_), -1, -1):  # most specific match first
                cols = self.match_cols_[:k]
                sel = np.all([prof[c].astype(str) == str(a[c]) for c in cols], axis=0) if cols else True
                cand = pd.DataFrame(prof.loc[sel]) if cols else prof
                if not cand.empty:
                    break
            shape = cand.groupby("step")["p"].mean().reindex(range(1, h + 1)).ffill().to_numpy()
            peers = self.level_.reindex(cand["unique_id"].unique())
            lvl = self.level_.get(uid, np.nan)
            lvl = float(peers.median()) if not np.isfinite(lvl) else float(lvl)
            last = pd.Series([pd.Timestamp(starts.to_dict()[uid])], index=[str(uid)])
            ds = future_grid(last, h, self.pfreq_)["ds"].to_numpy()
            rows.append(pd.DataFrame({"unique_id": str(uid), "ds": ds, "yhat": np.maximum(lvl * shape, 0)}))
        cold = pd.concat(rows, ignore_index=True)
        if self.calibrator_ is not None:
            # scale the pooled error quantiles by the level ratio: cold series are as noisy, relatively,
            # as their analogues' median (an honest guess; widen with care)
            ratio = float(
                np.median(self.base_.scale_ / self.level_.reindex(self.base_.scale_.index).clip(lower=1e-9))
            )
            scale = cold.groupby("unique_id")["yhat"].mean() * ratio
            cold = self.calibrator_.apply(add_step(cold), scale.clip(lower=1e-9), self.nonneg_).drop(
                columns="step"
            )
        return cold


def _default_match(est: ColdStartForecaster) -> list[str]:
    """Parent product level then bottom geo level (category, store) from the hierarchy, else statics."""
    hier = est.roles_.hierarchy
    prod, geo = hier.get("product", []), hier.get("geo", [])
    return [*prod[-2:-1], *geo[-1:]] if hier else list(est.roles_.statics[:2])
