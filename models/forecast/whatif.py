"""What-if: forecast under a changed future price and/or promotion calendar against the baseline.

Only models that use known-future regressors can answer (the global LightGBM model, or the default blend
through its LightGBM member). Siblings of the changed series (same promotion group, e.g. category ×
store) are returned too: their difference is the cannibalisation the model learned from the
``<promo>_group_share`` feature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, Problem


def _group_table(model: Any) -> pd.DataFrame | None:
    """The fitted series → promotion-group table of the model or of its LightGBM member."""
    for m in [model, *getattr(model, "members_", [])]:
        g = getattr(m, "group_of_", None)
        if g is not None:
            return pd.DataFrame(g)
    return None


def apply_scenario(
    X_future: pd.DataFrame,
    series: Sequence[str],
    price_change: float | None = None,
    promo_weeks: Sequence[Any] | None = None,
    promo_depth: float | None = None,
    promo_col: str = "promo",
    depth_col: str | None = "promo_depth",
    weeks: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Copy of ``X_future`` with the scenario applied to ``series``.

    price_change: relative change of price in ``weeks`` (all future weeks when None), e.g. -0.1.
    promo_weeks: weeks put on promotion (``promo_col`` = 1); with ``promo_depth`` the depth column is
    set and the price is cut by that depth, as a real promotion would."""
    X = X_future.copy()
    X["ds"] = pd.to_datetime(X["ds"])
    who = X["unique_id"].astype(str).isin([str(s) for s in series])
    if price_change is not None:
        if "price" not in X.columns:
            raise ConfigError("what-if price_change needs a 'price' column in X_future")
        if price_change <= -1:
            raise ConfigError(
                f"price_change is relative (−0.1 = 10 % cut) and must be > −1, got {price_change}"
            )
        when = who & (X["ds"].isin(pd.to_datetime(list(weeks))) if weeks is not None else True)
        X.loc[when, "price"] = X.loc[when, "price"] * (1 + price_change)
    if promo_weeks is not None:
        if promo_col not in X.columns:
            raise ConfigError(f"what-if promo_weeks needs the promotion column {promo_col!r} in X_future")
        when = who & X["ds"].isin(pd.to_datetime(list(promo_weeks)))
        X.loc[when, promo_col] = 1.0
        if promo_depth is not None:
            if depth_col and depth_col in X.columns:
                X.loc[when, depth_col] = promo_depth
            if "price" in X.columns:
                X.loc[when, "price"] = X.loc[when, "price"] * (1 - promo_depth)
    return X


def what_if(
    model: Any,
    h: int,
    X_future: pd.DataFrame,
    series: Sequence[str],
    price_change: float | None = None,
    promo_weeks: Sequence[Any] | None = None,
    promo_depth: float | None = None,
    promo_col: str = "promo",
    depth_col: str | None = "promo_depth",
    weeks: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Baseline vs scenario forecast → ``unique_id, ds, baseline, scenario, difference, pct_change,
    changed`` for the changed series and their promotion-group siblings (``changed=False``)."""
    model._check_fitted()
    if not model.required_regressors:
        raise ConfigError(
            f"{model.name} ignores price and promotions, so a what-if would return the baseline. "
            "Fix: use GlobalLGBM or SalesplanForecaster (the default), which use known-future regressors"
        )
    known = set(model.last_ds_.index)
    unknown = [s for s in series if str(s) not in known]
    if unknown or not len(series):
        raise DataValidationError(
            [
                Problem(
                    "unique_id",
                    "what-if series not in the fitted data" if unknown else "no series given",
                    [str(s) for s in unknown[:5]],
                    len(unknown),
                    fix="pass unique_ids the model was fitted on (cold-start new items first)",
                )
            ],
            source="what_if",
        )
    grid_weeks = set(model.make_future_frame(h)["ds"])
    asked = [*(promo_weeks or []), *(weeks or [])]
    outside = [str(pd.Timestamp(w).date()) for w in asked if pd.Timestamp(w) not in grid_weeks]
    if outside:
        raise ConfigError(
            f"what-if weeks {outside} are not in the {h}-period forecast horizon; use forecast weeks"
        )
    scen = apply_scenario(
        X_future, series, price_change, promo_weeks, promo_depth, promo_col, depth_col, weeks
    )
    base = model.predict(h, X_future)[["unique_id", "ds", "yhat"]].rename(columns={"yhat": "baseline"})
    alt = model.predict(h, scen)[["unique_id", "ds", "yhat"]].rename(columns={"yhat": "scenario"})
    out = base.merge(alt, on=["unique_id", "ds"])
    chosen = {str(s) for s in series}
    keep = set(chosen)
    groups = _group_table(model)
    if groups is not None:
        target = groups.loc[list(chosen)].drop_duplicates()
        sib = groups.reset_index().merge(target, on=list(groups.columns))["unique_id"]
        keep |= set(sib.astype(str))
    out = out[out["unique_id"].isin(keep)].copy()
    out["difference"] = out["scenario"] - out["baseline"]
    out["pct_change"] = np.where(out["baseline"] > 0, out["difference"] / out["baseline"], np.nan)
    out["changed"] = out["unique_id"].isin(chosen)
    return out.sort_values(["changed", "unique_id", "ds"], ascending=[False, True, True]).reset_index(
        drop=True
    )
