"""The salesplan default forecaster: a blend of global LightGBM models and local statistical models whose
weights are chosen *per series* from the fit's own rolling-origin backtest (inner folds only), shrunk
towards the weights of similar series (``weights.py``), or pooled when that backtest says per-series
weights do not pay, with conformal quantiles from the blend's errors on the same origins. Any frequency,
any history length down to one period, plain panels included."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from salesplan.contracts import SelloutSpec, quantile_col
from salesplan.errors import ConfigError
from salesplan.models.forecast.base import BaseForecaster
from salesplan.models.forecast.baselines import Drift, Naive, SeasonalNaive, WindowAverage
from salesplan.models.forecast.conformal import ConformalCalibrator, origin_scales, scale_window
from salesplan.models.forecast.global_lgbm import GlobalLGBM
from salesplan.models.forecast.panel import add_step
from salesplan.models.forecast.seasonal import SeasonalLevel
from salesplan.models.forecast.statistical import AutoCES, AutoTheta
from salesplan.models.forecast.weights import (
    KAPPA_GROUP,
    KAPPA_SERIES,
    WEIGHT_LEVELS,
    choose_weight_level,
    combined_weights,
    series_features,
    series_groups,
)

__all__ = ["WEIGHT_LEVELS", "SalesplanForecaster", "default_members"]

KEYS = ["unique_id", "ds", "cutoff"]
MIN_MEMBER_SHARE = 0.1  # a member covering fewer of the series (too little history) sits out
LONG_SEASON = 24  # seasons longer than this (weeks, days with a yearly season) make seasonal ETS/CES slow


def default_members(
    freq: str = "W", season_length: int | None = None, n_jobs: int = 1
) -> list[BaseForecaster]:
    """The pool, per frequency. Always: two global LightGBMs carrying the drivers (price, promotion,
    calendar; one on levels, one on the change from a season ago, a period ago for yearly data), the
    naive and seasonal-naive anchors, drift and a 4-period mean. Short seasons (months, quarters, years,
    days of the week): the statistical members dynamic optimised Theta (AutoTheta's fastest variant, as
    accurate on M1's training series) and AutoCES. AutoETS and AutoARIMA are left out for cost: on M1
    monthly AutoETS alone takes ~90 % of the classical three-model mean's time (it is one of the three)
    and AutoARIMA several times that, while the default may take at most twice the mean, backtest
    origins and refit included. Long seasons (52 weeks): ``SeasonalLevel`` (the closed-form counterpart
    of MSTL) instead, because seasonal ETS/Theta/CES at m = 52 cost ~0.5 s per series and fit (and took
    weight 0–0.1 on Walmart and Dominick's)."""
    from salesplan.contracts import SEASON_LENGTH

    m = int(season_length or SEASON_LENGTH[freq])
    kw = {"season_length": m, "freq": freq, "n_jobs": n_jobs}
    pool: list[BaseForecaster] = [
        GlobalLGBM(**kw),  # type: ignore[arg-type]
        GlobalLGBM(seasonal_diff=True, **kw),  # type: ignore[arg-type]
        Naive(**kw),  # type: ignore[arg-type]
        WindowAverage(window_size=4, **kw),  # type: ignore[arg-type]
        Drift(**kw),  # type: ignore[arg-type]
    ]
    if m > 1:
        pool.append(SeasonalNaive(**kw))  # type: ignore[arg-type]
    if m > LONG_SEASON:
        pool.append(SeasonalLevel(**kw))  # type: ignore[arg-type]
    else:
        pool += [
            AutoTheta(model="DOTM", **kw),  # type: ignore[arg-type]
            AutoCES(**kw),  # type: ignore[arg-type]
        ]
    return pool


class SalesplanForecaster(BaseForecaster):
    """Per-series weighted blend of ``members`` (default: ``default_members(freq, season)``).

    Fit: every member takes the series long enough for it (``_min_length``) and runs ``calib_windows``
    rolling origins of ``calib_horizon`` back from each series' own end; weights per series come from
    those errors (``weights.py``: pooled → group → series, with shrinkage; each older origin counts
    ``recency`` times the next); members with no weight anywhere are not refit; the others are refit on
    the series they weigh in; the blend's errors on the same origins calibrate the quantiles. A series
    of any length gets a forecast (the naive member needs one period). ``weight_levels``: how far down
    the tiers the weights go (``"pooled"``, ``"group"``, ``"series"``, or ``"auto"``: the level with the
    lowest cross-fitted backtest loss, see ``_learn``). Learned: ``series_weights_`` (series × member),
    ``weight_group_`` and ``group_weights_``, ``weights_`` (pooled), ``weight_level_`` and
    ``weight_level_losses_`` (the level used and each compared level's loss), ``member_scores_``
    (backtest MASE-like loss of each member and of the blend on rows where all forecast),
    ``dropped_members_``. ``calib_exponent``: the conformal difficulty's power (``conformal.difficulty``:
    a period forecast far above its series' level gets a wider band, a calm one a narrower), a number in
    [0, 2] or ``"auto"`` (the default: chosen per fit among ``conformal.EXPONENTS`` on the calibration rows,
    each window left out in turn; ``calibrator_.exponent_`` holds the choice); 0 gives every period of a
    series the same width. ``calib_noise_exponent``: the same for the noise difficulty
    (``conformal.noise_difficulty``: a series smoother than most gets a wider band, for its errors come
    from shifts its period-to-period noise does not show), ``"auto"`` by default, chosen with
    ``calib_exponent`` among ``conformal.NOISE_EXPONENTS`` (``calibrator_.noise_exponent_``)."""

    min_obs = 1

    def __init__(
        self,
        members: Sequence[BaseForecaster] | None = None,
        recency: float = 0.5,
        kappa_group: float = KAPPA_GROUP,
        kappa_series: float = KAPPA_SERIES,
        equal_share: float = 0.0,
        young_weights: bool = False,
        weight_levels: str = "auto",
        season_length: int | None = None,
        freq: str | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int | None = None,
        calib_exponent: float | str = "auto",
        calib_noise_exponent: float | str = "auto",
    ) -> None:
        super().__init__(season_length, freq, quantiles, n_jobs, calib_windows, calib_horizon)
        self.calib_exponent = calib_exponent
        self.calib_noise_exponent = calib_noise_exponent
        self.members = members
        self.recency = recency
        self.kappa_group = kappa_group
        self.kappa_series = kappa_series
        self.equal_share = equal_share
        self.young_weights = young_weights
        self.weight_levels = weight_levels

    def _members(self, freq: str | None = None) -> list[BaseForecaster]:
        """The pool as it is fitted: ``members`` (default: ``default_members``) set to the blend's
        frequency, season and calibration horizon. ``freq`` stands in for the fitted one (unfitted use)."""
        freq = freq or self.freq_
        base = self.members if self.members is not None else default_members(freq, self.season_, self.n_jobs)
        if not base:
            raise ConfigError("SalesplanForecaster: members is empty; pass at least one forecaster or None")
        fixed = {"freq": freq, "season_length": self.season_, "calib_horizon": self.horizon_}
        return [clone(m).set_params(calib_windows=0, quantiles=self.quantiles, **fixed) for m in base]

    def _min_length(self) -> int:
        return 1

    def min_history(self) -> int:
        """One period: every series gets a forecast (the naive member); origins need more."""
        return 1

    def full_history(self) -> int:
        """History from which every member of the pool can take part: the longest member minimum plus
        the rolling origins its weight is learned on (weekly default pool: the seasonal-difference
        LightGBM's 53 weeks + 3 × 13 = 92). Shorter, the blend runs without some members. Unfitted, from
        the parameters (``freq`` must then be set, as the training job sets it)."""
        freq = getattr(self, "freq_", None) or self.freq
        if freq is None:
            raise ConfigError("SalesplanForecaster.full_history: set freq or fit first")
        longest = max(m._min_length() for m in self._members(freq))
        return longest + self.calib_windows * self.horizon_

    def fit(self, df: pd.DataFrame, spec: SelloutSpec | None = None) -> SalesplanForecaster:
        self._check_params()
        if self.calib_windows < 1:
            raise ConfigError(
                "SalesplanForecaster needs calib_windows >= 1: the weights are learned on backtest errors"
            )
        if self.weight_levels not in ("auto", *WEIGHT_LEVELS):
            raise ConfigError(
                f"SalesplanForecaster: weight_levels must be 'auto' or one of {list(WEIGHT_LEVELS)}, "
                f"got {self.weight_levels!r}"
            )
        data = self._prepare(df, spec)
        n = data.groupby("unique_id", sort=False).size()
        members = self._members()
        covered = [n >= m._min_length() for m in members]
        keep = [bool(c.sum() >= max(1, MIN_MEMBER_SHARE * len(n))) for c in covered]
        self.dropped_members_ = [m.name for m, k in zip(members, keep, strict=True) if not k]
        members = [m for m, k in zip(members, keep, strict=True) if k]
        covered = [c for c, k in zip(covered, keep, strict=True) if k]
        names = [f"{i}:{m.name}" for i, m in enumerate(members)]
        avail = pd.DataFrame(np.column_stack([c.to_numpy() for c in covered]), index=n.index, columns=names)
        if not avail.any(axis=1).all():
            # cannot happen with the default pool (naive needs one period); a custom pool may leave gaps
            short = avail.index[~avail.any(axis=1)].tolist()
            raise ConfigError(
                f"SalesplanForecaster: no member can forecast {len(short)} series (too short), e.g. "
                f"{short[:5]}; add a member that needs less history (Naive) or use the default members"
            )
        cv = self._backtest_members(members, names, data, avail)
        drivers = [
            n for n, m in zip(names, members, strict=True) if m.uses_regressors and m.roles_.regressors
        ]
        self._learn(cv, names, data, avail, drivers)
        self.calibrator_ = (
            ConformalCalibrator(
                self.quantiles, exponent=self.calib_exponent, noise_exponent=self.calib_noise_exponent
            ).fit(self.calib_cv_, self.scale_)
            if self.quantiles and len(self.calib_cv_)
            else None
        )
        self._learn_young(members, names, data, avail)
        self._refit(members, names, data, avail)
        return self

    # ------------------------------------------------------------------ fit steps
    def _backtest_members(
        self, members: list[BaseForecaster], names: list[str], data: pd.DataFrame, avail: pd.DataFrame
    ) -> pd.DataFrame:
        """Each member's rolling-origin forecasts on the series it covers, side by side (outer join)."""
        wide: pd.DataFrame | None = None
        self.member_seconds_: dict[str, float] = {}
        for name, m in zip(names, members, strict=True):
            t0 = time.perf_counter()
            part = data[data["unique_id"].isin(avail.index[avail[name].to_numpy()])]
            m._check_params()
            prepared = m._prepare(part, self.spec_)
            cv = m._cross_validate(prepared, self.calib_horizon_, self.calib_windows)
            self.member_seconds_[name] = time.perf_counter() - t0
            cv = cv[[*KEYS, "window", "y", "yhat"]].rename(columns={"yhat": name})
            if wide is None:
                wide = cv
            else:
                wide = wide.merge(cv, on=KEYS, how="outer", suffixes=("", "_r"))
                for c in ("y", "window"):
                    wide[c] = wide[c].fillna(wide.pop(f"{c}_r"))
        assert wide is not None
        wide["unique_id"] = wide["unique_id"].astype(str)
        return self._with_origin_scale(data, add_step(wide.assign(window=wide["window"].astype(int))))

    def _learn(
        self,
        cv: pd.DataFrame,
        names: list[str],
        data: pd.DataFrame,
        avail: pd.DataFrame,
        drivers: Sequence[str] = (),
    ) -> None:
        """Pooled, group and series weights (``weights.py``) for each set of members covering a series;
        the blend's backtest errors (which calibrate the quantiles) are cross-fitted: the rows of each
        window are blended with weights learned on the other windows, as the weights would be unknown for
        a period yet to come (blending rows with weights fitted on them understates the errors).

        How far the weights go down the tiers (``weight_levels="auto"``) is chosen on those cross-fitted
        errors: series weights, group weights only, or the pooled weights only, whichever blend has the
        lowest scaled absolute error on the windows it did not learn from (ties to the simpler). Why: the
        shrinkage constants were chosen on M1's short yearly to monthly series, where a series' own
        errors say something; on Dominick's weekly panel the series weights pulled the blend off its best
        member (cross-fitted loss 0.591 against 0.569 for the LightGBM member alone at the last origin),
        and only the data of the fit itself can say which case a panel is."""
        feats = series_features(data, self.season_length_)
        self.weight_group_ = series_groups(feats, self.season_length_, self.calib_horizon_)
        windows = set(cv["window"].tolist())
        levels = (
            list(WEIGHT_LEVELS)
            if self.weight_levels == "auto" and len(windows) > 1
            else ["series" if self.weight_levels == "auto" else self.weight_levels]
        )
        choice = choose_weight_level(
            cv, names, avail, self.weight_group_, self.recency, levels,
            self.kappa_group, self.kappa_series, self.equal_share,
        )  # fmt: skip
        self.weight_level_, self.weight_level_losses_ = choice.level, choice.losses
        fit = choice.weights
        self.series_weights_, self.weights_, self.group_weights_ = fit.series, fit.pooled, fit.groups
        W = choice.crossed
        preds = cv[names].to_numpy(dtype=float)
        y, scale = cv["y"].to_numpy(dtype=float), cv["scale"].to_numpy(dtype=float)
        blend = np.nansum(W * np.nan_to_num(preds), axis=1)
        usable = ~np.isnan(np.where(W > 0, preds, 0.0)).any(axis=1)
        both = np.isfinite(preds).all(axis=1)
        self.member_scores_ = pd.Series(
            np.abs(y[both, None] - np.column_stack([preds[both], blend[both]])).T
            @ (1 / scale[both])
            / max(int(both.sum()), 1),
            index=[*names, "blend"],
        )
        # ``window`` and ``level`` (as of each row's origin) let the calibrator choose its exponent
        extra = [c for c in ("window", "level", "promoted") if c in cv]
        calib = cv[[*KEYS, "step", "y", "scale", *extra]].assign(yhat=blend)
        if drivers:
            # the driver blend's backtest (``driver_blend``), which the what-if reads its response from
            d = [names.index(c) for c in drivers]
            Wd, Pd = W[:, d], preds[:, d]
            Wd = np.where(np.isfinite(Pd), np.where(Wd.sum(axis=1, keepdims=True) > 0, Wd, 1.0), 0.0)
            tot = Wd.sum(axis=1)
            calib["yhat_drivers"] = np.where(
                tot > 0, (Wd * np.nan_to_num(Pd)).sum(axis=1) / np.where(tot > 0, tot, 1), np.nan
            )
        self.calib_cv_ = pd.DataFrame(calib[usable]).reset_index(drop=True)

    def _learn_young(
        self, members: list[BaseForecaster], names: list[str], data: pd.DataFrame, avail: pd.DataFrame
    ) -> None:
        """Weights and quantiles for series too short for a rolling origin of their own ("young"): learned
        on forecasts made early in the life of the longer series, from their first ``L`` periods (``L`` the
        young series' median length), by every member that can forecast from ``L`` periods. Pooled weights
        learned on long histories transfer badly to a series of a few periods (on M1's quarterly training
        series they were 20 % worse than AutoTheta there), and its errors are larger than long histories'."""
        self.young_ids_ = sorted(set(avail.index) - set(self.calib_cv_["unique_id"]))
        self.young_calibrator_: ConformalCalibrator | None = None
        self.young_calib_rows_: pd.DataFrame | None = None
        self.young_weights_: np.ndarray | None = None
        if not self.young_ids_:
            return
        n = data.groupby("unique_id", sort=False).size()
        L, H = int(n[self.young_ids_].median()), self.calib_horizon_
        donors = n.index[n >= L + H]
        if not len(donors):
            return
        early = data[data["unique_id"].isin(donors)]
        early = early[early.groupby("unique_id", sort=False).cumcount() < L + H]
        parts = []
        for name, m in zip(names, members, strict=True):
            if m._min_length() > L:
                continue
            m._check_params()
            cv = m._cross_validate(m._prepare(early, self.spec_), H, 1, min_train=L)
            if len(cv):
                parts.append(cv.set_index(["unique_id", "ds"])["yhat"].rename(name))
        wide = pd.concat(parts, axis=1).dropna() if parts else pd.DataFrame()
        if wide.empty:
            return
        keys = wide.index.to_frame(index=False)
        rows = keys.merge(early[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="left")
        scale = origin_scales(early, H, 1, scale_window(self.season_length_)).set_index("unique_id")["scale"]
        rows["scale"] = rows["unique_id"].map(scale).to_numpy(dtype=float)
        used = list(wide.columns)
        P = wide.to_numpy(dtype=float)
        if self.young_weights:
            w = combined_weights(
                P, rows["y"].to_numpy(dtype=float), rows["scale"].to_numpy(), None, self.equal_share
            )
            full = pd.Series(0.0, index=names)
            full[used] = w
            self.young_weights_ = full.to_numpy()
            for uid in self.young_ids_:
                own = full.where(avail.loc[uid].to_numpy(), 0.0)
                if own.sum() > 0:
                    self.series_weights_.loc[uid] = (own / own.sum()).to_numpy()
        else:  # the young series' own (pooled or group) weights, over the members that forecast early
            mean = self.series_weights_.loc[self.young_ids_, used].mean().to_numpy()
            w = mean / mean.sum() if mean.sum() > 0 else np.full(len(used), 1.0 / len(used))
        if self.quantiles:
            rows = add_step(rows.assign(yhat=P @ w))
            # exponent 0: these rows come from one origin, nothing to choose an exponent on
            self.young_calibrator_ = ConformalCalibrator(self.quantiles, exponent=0.0).fit(rows, self.scale_)
            self.young_calib_rows_ = rows  # kept so predict_quantiles can give young series other levels

    def _finish(self, fc: pd.DataFrame) -> pd.DataFrame:
        return self._young_bands(super()._finish(fc), getattr(self, "young_calibrator_", None))

    def predict_quantiles(
        self, h: int, X_future: pd.DataFrame | None = None, quantiles: Sequence[float] | None = None
    ) -> pd.DataFrame:
        """``BaseForecaster.predict_quantiles``, with the young series' bands from their own calibration
        rows as ``predict`` gives them (not the long series' errors)."""
        out = super().predict_quantiles(h, X_future, quantiles)
        rows = getattr(self, "young_calib_rows_", None)
        if quantiles is None or rows is None:
            return out
        return self._young_bands(out, ConformalCalibrator(quantiles, exponent=0.0).fit(rows, self.scale_))

    def _young_bands(self, out: pd.DataFrame, young: ConformalCalibrator | None) -> pd.DataFrame:
        """``out`` with the young series' quantile columns from ``young`` (their own calibrator)."""
        if young is None:
            return out
        mask = out["unique_id"].isin(set(self.young_ids_)).to_numpy()
        if mask.any():
            redo = young.apply(
                add_step(out.loc[mask, ["unique_id", "ds", "yhat"]]), self.scale_, self.nonneg_
            )
            redo = redo.set_index(["unique_id", "ds"]).reindex(
                pd.MultiIndex.from_frame(out.loc[mask, ["unique_id", "ds"]])
            )
            for q in young.quantiles:
                col = quantile_col(q)
                out.loc[mask, col] = redo[col].to_numpy()
        return out

    def _refit(
        self, members: list[BaseForecaster], names: list[str], data: pd.DataFrame, avail: pd.DataFrame
    ) -> None:
        """Refit on all history the members that weigh in: a local one on the series it has weight for, a
        global one on every series it covers."""
        self.members_: list[BaseForecaster] = []
        used = []
        for name, m in zip(names, members, strict=True):
            ids = self.series_weights_.index[self.series_weights_[name].to_numpy() > 0]
            if len(ids) == 0:
                continue
            if m.is_global:  # a global model learns from every series it covers, weighted in or not
                ids = avail.index[avail[name].to_numpy()]
            t0 = time.perf_counter()
            self.members_.append(m.fit(data[data["unique_id"].isin(ids)], self.spec_))
            self.member_seconds_[name] += time.perf_counter() - t0
            used.append(name)
        self.member_names_ = used
        self.series_weights_ = self.series_weights_[used]
        self.weights_ = self.weights_[[names.index(c) for c in used]]

    # ------------------------------------------------------------------ use
    @property
    def required_regressors(self) -> list[str]:
        self._check_fitted()
        return sorted({c for m in self.members_ for c in m.required_regressors})

    @property
    def weights(self) -> pd.Series:
        """Pooled weight of each member (by member name): what a series with no history of its own and
        no group gets; ``series_weights_`` holds each series' own."""
        self._check_fitted()
        return pd.Series(self.weights_, index=[m.name for m in self.members_])

    def _predict_point(self, h: int, X: pd.DataFrame | None) -> pd.DataFrame:
        W = self.series_weights_
        wide: pd.DataFrame | None = None
        for i, m in enumerate(self.members_):
            fc = m._predict_point(h, m._check_future(h, X))[["unique_id", "ds", "yhat"]]
            fc = fc.assign(yhat=fc["yhat"].clip(lower=0.0 if self.nonneg_ else None)).rename(
                columns={"yhat": i}
            )
            wide = fc if wide is None else wide.merge(fc, on=["unique_id", "ds"], how="outer")
        assert wide is not None
        cols = list(range(len(self.members_)))
        P = wide[cols].to_numpy(dtype=float)
        w = W.reindex(wide["unique_id"].astype(str)).to_numpy(dtype=float)
        w = np.where(np.isfinite(P), w, 0.0)  # a member without a forecast for the series sits out
        total = w.sum(axis=1, keepdims=True)
        out = wide[["unique_id", "ds"]].copy()
        out["yhat"] = (w * np.nan_to_num(P)).sum(axis=1) / np.where(total > 0, total, 1.0)[:, 0]
        return out[out["unique_id"].isin(W.index)]

    def driver_blend(self) -> SalesplanForecaster:
        """A copy of the fitted blend that keeps only the members using known-future regressors (price,
        promotion, ...), each series re-weighted over them (equally when it gave them no weight), or
        ``self`` when no member uses regressors. What a what-if takes the *response* to a changed plan
        from (``whatif.what_if``): the other members cannot see the plan, so inside the blend they would
        dilute a lift by their weight (in the serving test world a promotion worth +3.3 units to the
        LightGBM member showed +1.4 in the blend, where that member weighs 0.41)."""
        self._check_fitted()
        keep = [i for i, m in enumerate(self.members_) if m.required_regressors]
        if not keep or len(keep) == len(self.members_):
            return self
        out = copy.copy(self)
        W = self.series_weights_.iloc[:, keep].copy()
        none = W.sum(axis=1) <= 0
        W.loc[none] = 1.0
        out.members_ = [self.members_[i] for i in keep]
        out.member_names_ = [self.member_names_[i] for i in keep]
        out.series_weights_ = W.div(W.sum(axis=1), axis=0)
        w = self.weights_[keep]
        out.weights_ = w / w.sum() if w.sum() > 0 else np.full(len(keep), 1.0 / len(keep))
        return out

    def member_forecasts(self, h: int, X_future: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
        """Each member's own point forecast (on the series it weighs in), for inspection."""
        self._check_fitted()
        out = {}
        for m in self.members_:
            fc = m._predict_point(h, m._check_future(h, X_future))
            out[m.name] = fc.assign(model=m.name)
        return out
