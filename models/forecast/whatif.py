"""What-if: forecast under a changed price and/or promotion plan against the baseline, with the same model.

The one implementation behind ``salesplan forecast what-if`` and ``POST /api/v1/forecasts/what-if``:
both build a :class:`Scenario` (which checks itself) and call :func:`what_if` on the registered
forecaster and the future regressors of its batch, then only format the :class:`WhatIfResult`.

Only models that use known-future regressors can answer (the global LightGBM model, or the default blend
through its LightGBM members). The baseline is the model's own forecast; the scenario is the baseline
plus the *response* of the members that see the plan: for the default blend, its ``driver_blend()`` (the
regressor-using members, re-weighted per series) forecast under the scenario minus under the baseline
plan. Blending the scenario whole would dilute every lift by the weight of the members that cannot see
a price or a promotion (statistical members forecast the same either way). Siblings of the changed
series are reported next to them: the other series of the same category × store (from the hierarchy)
and of the model's promotion group when it has one. Their difference is the cannibalisation the model
learned from the ``<promo>_group_share`` feature, which can only take units away (a monotone constraint
in ``GlobalLGBM``); it is zero when the model has no such feature or the data show no such effect.

Weeks the scenario puts on promotion are the exception (``scenario_forecast``): their point and band come
from the promoted rows of the model's own backtest (``promotion_band``: class-conditional conformal),
because the baseline's band, calibrated mostly on quiet weeks, moved by the response covered 69 % of
realised promoted weeks instead of 80 % on Dominick's, and the log-target response was 40 % short."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, NotFoundError, Problem
from salesplan.models.forecast.base import Forecaster
from salesplan.models.forecast.promotion_band import promotion_calibration

__all__ = [
    "Scenario",
    "WhatIfResult",
    "apply_scenario",
    "lift_pct",
    "promotion_columns",
    "response_model",
    "scenario_forecast",
    "scenario_weeks",
    "siblings",
    "what_if",
]

Hierarchy = Mapping[str, Sequence[str]]


def _day(value: Any, name: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError):
        day = None
    if day is None or pd.isna(day):
        raise ConfigError(f"{name} {value!r} is not a date; use ISO like 2026-12-07")
    return day.normalize()


@dataclass(frozen=True)
class Scenario:
    """The change, checked when built (so the CLI and the API refuse the same requests with the same words).

    ``ids``: bottom-level series; ``start``/``end``: days whose weeks the change covers (a week counts when
    any of its days is in the range). ``price_change`` relative (−0.1 = 10 % cut) or ``price`` absolute
    (not both); ``promo`` 1 puts the weeks on promotion (``promo_depth`` also cuts the price by that
    share), 0 takes planned promotions off, None leaves the promotion plan as it is."""

    ids: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    price_change: float | None = None
    price: float | None = None
    promo: int | None = None
    promo_depth: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(dict.fromkeys(str(i) for i in self.ids)))
        object.__setattr__(self, "start", _day(self.start, "start"))
        object.__setattr__(self, "end", _day(self.end, "end"))
        self._check()

    def _check(self) -> None:
        if not self.ids:
            raise ConfigError("no series given; pass bottom-level unique_ids, e.g. S01/P001")
        if self.end < self.start:
            raise ConfigError(f"end {self.end.date()} is before start {self.start.date()}; swap them")
        if self.price_change is not None and self.price is not None:
            raise ConfigError("give either a relative price change or an absolute price, not both")
        if self.promo_depth is not None and (self.promo != 1 or not 0 <= self.promo_depth < 1):
            raise ConfigError(
                f"promo depth is the price cut of a promotion in [0, 1) and needs promo 1, got "
                f"{self.promo_depth!r} with promo {self.promo!r}"
            )
        if self.price_change is None and self.price is None and self.promo is None:
            raise ConfigError(
                "nothing to change: give a price change, a price or a promotion (promo 1 puts the weeks "
                "on promotion, promo 0 takes planned promotions off)"
            )
        if self.price_change is not None and not (np.isfinite(self.price_change) and self.price_change > -1):
            raise ConfigError(
                f"price change must be above -100 % (relative: -0.1 = 10 % cut), got {self.price_change!r}"
            )
        if self.price is not None and not (np.isfinite(self.price) and self.price > 0):
            raise ConfigError(f"price must be a positive number, got {self.price!r}")
        if self.promo not in (None, 0, 1):
            raise ConfigError(f"promo must be 0 (no promotion) or 1 (on promotion), got {self.promo!r}")


@dataclass(frozen=True)
class WhatIfResult:
    """``rows``: ``unique_id, ds, baseline, scenario, scenario_q10, scenario_q90`` (the scenario's
    quantiles, one per quantile of the model), ``diff, lift_pct, changed`` for the scenario weeks of the
    changed series (``changed``) and their siblings; ``summary``: the points summed per series (a sum of
    weekly quantiles is not a quantile of the sum, so the bands stay weekly)."""

    rows: pd.DataFrame
    summary: pd.DataFrame
    weeks: list[pd.Timestamp]

    def totals(self, changed: bool = True) -> tuple[float, float]:
        """(baseline, scenario) units over the scenario weeks of the changed series (or the siblings)."""
        part = self.summary[self.summary["changed"] == changed]
        return float(part["baseline"].sum()), float(part["scenario"].sum())

    @property
    def siblings(self) -> list[str]:
        """The unchanged series reported next to the changed ones."""
        return sorted(self.summary.loc[~self.summary["changed"], "unique_id"].astype(str))

    @property
    def siblings_diff(self) -> float:
        """Units the siblings gain (+) or lose (−) over the scenario weeks."""
        base, scen = self.totals(changed=False)
        return scen - base


def lift_pct(baseline: float, scenario: float) -> float | None:
    """Scenario over baseline in percent; None when the baseline sells nothing."""
    return 100.0 * (scenario - baseline) / baseline if baseline > 0 else None


def scenario_weeks(grid: Sequence[Any], start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """The forecast periods (starts in ``grid``) with a day in [start, end]; ConfigError when the range is
    not inside the horizon."""
    days = pd.DatetimeIndex(sorted(pd.to_datetime(pd.Series(list(grid))).unique()))
    step = days[1] - days[0] if len(days) > 1 else pd.Timedelta(days=7)
    last_day = days[-1] + step - pd.Timedelta(days=1)
    if start < days[0] or end > last_day:
        raise ConfigError(
            f"dates {start.date()}..{end.date()} are outside the forecast horizon "
            f"{days[0].date()}..{last_day.date()}. Fix: choose a range inside it"
        )
    return [pd.Timestamp(w) for w in days if w <= end and w + step - pd.Timedelta(days=1) >= start]


def _parts(model: Forecaster, depth: int = 0) -> Iterator[Forecaster]:
    """The model and what it is made of: a calibrated wrapper's ``base_``, a blend's ``members_``, a
    partitioned model's ``models_``."""
    yield model
    if depth > 4:
        return
    inner = [getattr(model, "base_", None), *getattr(model, "members_", []), *getattr(model, "models_", [])]
    for m in inner:
        if m is not None:
            yield from _parts(m, depth + 1)


def _fitted_ids(model: Forecaster) -> set[str] | None:
    """Series the model was fitted on (None when it does not tell)."""
    found = [getattr(m, "last_ds_", None) for m in _parts(model)]
    tables = [t for t in found if t is not None]
    return {str(u) for t in tables for u in t.index} if tables else None


def response_model(model: Forecaster) -> Forecaster:
    """The model whose forecast *difference* between two plans is the what-if's response: each blend in
    ``model`` (through cold-start and partitioned wrappers) replaced by its ``driver_blend()``; ``model``
    itself when it holds no blend."""
    blend = getattr(model, "driver_blend", None)
    if callable(blend):
        out: Forecaster = blend()
        return out
    inner = getattr(model, "base_", None)
    if inner is not None:
        resp = response_model(inner)
        if resp is not inner:
            clone_ = copy.copy(model)
            clone_.base_ = resp  # type: ignore[attr-defined]
            return clone_
        return model
    parts = getattr(model, "models_", None)
    if parts:
        resps = [response_model(m) for m in parts]
        if any(r is not m for r, m in zip(resps, parts, strict=True)):
            clone_ = copy.copy(model)
            clone_.models_ = resps  # type: ignore[attr-defined]
            return clone_
    return model


def siblings(
    model: Forecaster, future: pd.DataFrame, ids: Sequence[str], hierarchy: Hierarchy | None
) -> list[str]:
    """Other series in the same category and store as ``ids`` (the parent of the bottom product level and
    the bottom geo level, read from ``future``), together with those of the same promotion group of the
    model (``group_of_`` of its LightGBM member) when it has one."""
    chosen = {str(i) for i in ids}
    found: set[str] = set()
    hierarchy = hierarchy or {}
    prod, geo = list(hierarchy.get("product", [])), list(hierarchy.get("geo", []))
    cols = [c for c in [*prod[-2:-1], *geo[-1:]] if c in future.columns]
    tables: list[pd.DataFrame] = []
    if cols:
        tables.append(
            future.assign(unique_id=future["unique_id"].astype(str)).groupby("unique_id")[cols].first()
        )
    tables += [pd.DataFrame(g) for m in _parts(model) if (g := getattr(m, "group_of_", None)) is not None]
    for t in tables:
        t = t.set_axis(t.index.astype(str))
        if not len(t.columns):
            continue
        target = t.loc[t.index.isin(chosen)].drop_duplicates()
        if len(target):
            found |= set(t.reset_index(names="unique_id").merge(target, on=list(t.columns))["unique_id"])
    return sorted(found - chosen)


def promotion_columns(model: Forecaster, regressors: Sequence[str]) -> list[str]:
    """The model's promotion regressors: those its data spec declared (``promo_cols``: Dominick's ``deal``
    and ``feat``, a user's ``on_flyer``), else, for a model fitted without a spec, the regressors whose name
    holds "promo"."""
    declared = [c for m in _parts(model) if (r := getattr(m, "roles_", None)) is not None for c in r.promo]
    found = [c for c in dict.fromkeys(declared) if c in regressors]
    return found or [c for c in regressors if "promo" in c]


def apply_scenario(
    future: pd.DataFrame,
    sc: Scenario,
    weeks: Sequence[Any],
    regressors: Sequence[str],
    promo_cols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Copy of ``future`` with ``sc`` applied to its ids in ``weeks``: absolute price, relative price
    change, planned promotions taken off (promo 0: every promotion column) or the weeks put on promotion
    (promo 1: the first promotion column that is not a depth; the depth also cuts the price as a real
    promotion would). ``promo_cols`` defaults to the regressors named "promo…" (see
    :func:`promotion_columns` for a model's declared ones)."""
    X = future.copy()
    X["unique_id"], X["ds"] = X["unique_id"].astype(str), pd.to_datetime(X["ds"])
    named = promo_cols if promo_cols is not None else [c for c in regressors if "promo" in c]
    promo_cols = [c for c in named if c in X.columns]
    promo_col = next((c for c in ("promo", *promo_cols) if c in promo_cols and "depth" not in c), None)
    depth_col = next((c for c in ("promo_depth", *promo_cols) if c in promo_cols and "depth" in c), None)
    if sc.promo is not None and promo_col is None:
        raise ConfigError(f"the model has no promotion regressor (it uses {list(regressors)}); drop promo")
    if (sc.price is not None or sc.price_change is not None) and "price" not in regressors:
        raise ConfigError(
            f"the model has no price regressor (it uses {list(regressors)}); drop the price change"
        )
    who = X["unique_id"].isin(sc.ids) & X["ds"].isin(pd.to_datetime(list(weeks)))
    if sc.price is not None:
        X.loc[who, "price"] = float(sc.price)
    if sc.price_change is not None:
        X.loc[who, "price"] = X.loc[who, "price"] * (1 + sc.price_change)
    if sc.promo == 0:
        for c in promo_cols:
            X.loc[who, c] = 0.0
    if sc.promo == 1 and promo_col is not None:  # not None: checked above
        X.loc[who, promo_col] = 1.0
        if sc.promo_depth is not None:
            if depth_col is not None:
                X.loc[who, depth_col] = sc.promo_depth
            if "price" in X.columns:
                X.loc[who, "price"] = X.loc[who, "price"] * (1 - sc.promo_depth)
    return X


def _check_inputs(model: Forecaster, X: pd.DataFrame, sc: Scenario) -> list[str]:
    """The model's regressors, after checking that it has some, that ``X`` holds them and that the model
    forecasts every one of ``sc.ids``."""
    needed = list(model.required_regressors)
    if not needed:
        raise ConfigError(
            f"{model.name} ignores price and promotions, so a what-if would return the baseline. Fix: use "
            "the default forecaster (it has a LightGBM member) or GlobalLGBM, which use known-future "
            "regressors"
        )
    absent = [c for c in needed if c not in X.columns]
    if absent:
        raise DataValidationError(
            [Problem(None, f"future regressors lack {absent}", fix="give them in the future file")], "what-if"
        )
    fitted = _fitted_ids(model)
    known = set(X["unique_id"]) & fitted if fitted is not None else set(X["unique_id"])
    unknown = [i for i in sc.ids if i not in known]
    if unknown:
        raise NotFoundError(
            f"unknown series {unknown[:10]}{' …' if len(unknown) > 10 else ''}: not bottom-level series the "
            f"model forecasts. Fix: use ids such as {', '.join(sorted(known)[:3])}"
        )
    return needed


def _promoted(frame: pd.DataFrame, promo_cols: Sequence[str]) -> pd.Series:
    cols = [c for c in promo_cols if c in frame.columns]
    if not cols:
        return pd.Series(False, index=frame.index)
    return frame[cols].apply(pd.to_numeric, errors="coerce").gt(0).any(axis=1)


def scenario_forecast(
    model: Forecaster, X: pd.DataFrame, scen: pd.DataFrame, h: int, promo_cols: Sequence[str]
) -> pd.DataFrame:
    """``unique_id, ds, baseline, scenario`` and the scenario's quantiles (``scenario_q10``, ...) over the
    horizon, ``X`` the baseline plan and ``scen`` the changed one (same rows). Weeks the scenario puts on
    promotion (off in ``X``, on in ``scen``) are forecast and banded by the promoted class's own backtest
    (``promotion_band``: the response plus the promoted class's extra realised/forecast bias, the band
    the model's forecast under ``scen`` plus the promoted rows' error quantiles); every other week is the
    baseline plus the plan-aware members' response (module docstring) with the baseline's band moved by
    it, as are promoted weeks of a model without a promoted calibration."""
    keys = ["unique_id", "ds"]
    base_fc = model.predict(h, X)
    qcols = [c for c in base_fc.columns if c.startswith("q") and c[1:].isdigit()]
    base = base_fc[[*keys, "yhat", *qcols]].rename(columns={"yhat": "baseline"})
    resp = response_model(model)
    full = model.predict(h, scen) if resp is model else None
    r0 = base_fc if full is not None else resp.predict(h, X)
    r1 = full if full is not None else resp.predict(h, scen)
    out = base.merge(r0[[*keys, "yhat"]].rename(columns={"yhat": "r0"}), on=keys)
    out = out.merge(r1[[*keys, "yhat"]].rename(columns={"yhat": "r1"}), on=keys)
    out["unique_id"] = out["unique_id"].astype(str)
    out["scenario"] = (out["baseline"] + (out["r1"] - out["r0"])).clip(lower=0.0)
    delta = out["scenario"] - out["baseline"]
    for c in qcols:
        out[f"scenario_{c}"] = (out[c] + delta).clip(lower=0.0)
    flips = scen.loc[(_promoted(scen, promo_cols) & ~_promoted(X, promo_cols)).to_numpy(), keys]
    cal = promotion_calibration(model) if len(flips) else None
    if cal is not None:
        full = model.predict(h, scen) if full is None else full
        full = full[[*keys, "yhat"]].assign(unique_id=full["unique_id"].astype(str))
        band = cal.apply(full).set_index(keys)
        idx = pd.MultiIndex.from_frame(
            flips.assign(unique_id=flips["unique_id"].astype(str), ds=pd.to_datetime(flips["ds"]))
        )
        band = band.loc[band.index.intersection(idx)]
        at = pd.MultiIndex.from_frame(out[keys]).get_indexer(band.index)
        r_0, r_1 = out.loc[at, "r0"].to_numpy(dtype=float), out.loc[at, "r1"].to_numpy(dtype=float)
        point = out.loc[at, "baseline"].to_numpy(dtype=float) + cal.response(r_0, r_1)
        out.loc[at, "scenario"] = np.maximum(point, 0.0)
        for c in cal.quantile_cols:
            if f"scenario_{c}" in out.columns:
                out.loc[at, f"scenario_{c}"] = band[c].to_numpy()
    return out.drop(columns=[*qcols, "r0", "r1"])


def what_if(
    model: Forecaster, future: pd.DataFrame, sc: Scenario, hierarchy: Hierarchy | None = None
) -> WhatIfResult:
    """Baseline and scenario forecasts of ``sc.ids`` and their siblings over the weeks of ``future`` (the
    forecast horizon, one row per series and week with the model's regressors) that ``sc`` covers."""
    X = future.drop(columns=[c for c in ("assumed",) if c in future.columns]).copy()
    X["unique_id"], X["ds"] = X["unique_id"].astype(str), pd.to_datetime(X["ds"])
    needed = _check_inputs(model, X, sc)
    horizon = sorted(X["ds"].unique())
    weeks = scenario_weeks(horizon, sc.start, sc.end)
    promo_cols = promotion_columns(model, needed)
    scen = apply_scenario(X, sc, weeks, needed, promo_cols)
    out = scenario_forecast(model, X, scen, len(horizon), promo_cols)
    keep = [*sc.ids, *siblings(model, X, sc.ids, hierarchy)]
    out = out[out["unique_id"].isin(keep) & out["ds"].isin(weeks)].copy()
    out["diff"] = out["scenario"] - out["baseline"]
    out["lift_pct"] = 100 * out["diff"] / out["baseline"].where(out["baseline"] > 0)
    out["changed"] = out["unique_id"].isin(sc.ids)
    out = out.sort_values(["changed", "unique_id", "ds"], ascending=[False, True, True]).reset_index(
        drop=True
    )
    summary = out.groupby(["unique_id", "changed"], sort=False)[["baseline", "scenario", "diff"]].sum()
    summary = summary.reset_index()
    summary["lift_pct"] = 100 * summary["diff"] / summary["baseline"].where(summary["baseline"] > 0)
    return WhatIfResult(out, summary, weeks)
