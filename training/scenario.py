"""What-if scenarios on the registered forecaster and its batch future regressors: change the price or the
promotion plan of some bottom series over a date range, forecast baseline and scenario with the same
model, and report them next to the other series of the same category and store (their difference is the
cannibalisation the model learned; zero when it has no such feature).

Used by ``salesplan forecast what-if``; the service can call ``run_scenario`` the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.models.forecast import apply_scenario


@dataclass(frozen=True)
class Scenario:
    """The change: ``price_change`` relative (−0.1 = 10 % cut) or ``price`` absolute (not both);
    ``promo`` 1 puts the weeks on promotion (``promo_depth`` also cuts the price by that share), 0 takes
    planned promotions off (price as planned)."""

    ids: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    price_change: float | None = None
    price: float | None = None
    promo: int | None = None
    promo_depth: float | None = None


@dataclass(frozen=True)
class ScenarioResult:
    rows: pd.DataFrame  # unique_id, ds, baseline, scenario, diff, lift_pct, changed (weeks in the range)
    summary: pd.DataFrame  # per series: unique_id, changed, baseline, scenario, diff, lift_pct
    weeks: list[pd.Timestamp]


def check_scenario(sc: Scenario) -> None:
    """Option errors a user can fix, named one by one."""
    if sc.price_change is not None and sc.price is not None:
        raise ConfigError("give either a relative price change or an absolute price, not both")
    if sc.price_change is None and sc.price is None and sc.promo is None:
        raise ConfigError("nothing to change: give a price change, a price or a promotion (promo 0/1)")
    if sc.price_change is not None and sc.price_change <= -1:
        raise ConfigError(f"price change must be above -100 %, got {sc.price_change * 100:g} %")
    if sc.price is not None and sc.price <= 0:
        raise ConfigError(f"price must be positive, got {sc.price}")
    if sc.promo not in (None, 0, 1):
        raise ConfigError(f"promo must be 0 (no promotion) or 1 (on promotion), got {sc.promo}")
    if sc.promo_depth is not None and (sc.promo != 1 or not 0 <= sc.promo_depth < 1):
        raise ConfigError(
            f"promo depth is the price cut of a promotion in [0, 1) and needs promo 1, got {sc.promo_depth}"
        )
    if sc.end < sc.start:
        raise ConfigError(f"end {sc.end.date()} is before start {sc.start.date()}")
    if not sc.ids:
        raise ConfigError("no series given; pass bottom-level unique_ids, e.g. S01/P001")


def siblings(future: pd.DataFrame, ids: Sequence[str], hierarchy: dict[str, list[str]] | None) -> list[str]:
    """Other series in the same category and store as ``ids`` (the parent of the bottom product level
    and the bottom geo level, when the hierarchy has them)."""
    hierarchy = hierarchy or {}
    prod, geo = hierarchy.get("product", []), hierarchy.get("geo", [])
    cols = [c for c in [*prod[-2:-1], *geo[-1:]] if c in future.columns]
    if not cols:
        return []
    attrs = future.assign(unique_id=future["unique_id"].astype(str)).groupby("unique_id")[cols].first()
    groups = attrs.loc[list(ids)].drop_duplicates()
    same = attrs.reset_index().merge(groups, on=cols)["unique_id"]
    return sorted(set(same.astype(str)) - set(ids))


def run_scenario(
    model: Any, future: pd.DataFrame, sc: Scenario, hierarchy: dict[str, list[str]] | None = None
) -> ScenarioResult:
    """Baseline and scenario forecasts of ``sc.ids`` and their category × store siblings over the weeks of
    ``future`` between ``sc.start`` and ``sc.end`` (inclusive)."""
    check_scenario(sc)
    needed = list(model.required_regressors)
    if not needed:
        raise ConfigError(
            f"{getattr(model, 'name', type(model).__name__)} ignores price and promotions, so a what-if would "
            "return the baseline. Fix: train the default forecaster (it has a LightGBM member)"
        )
    X = future.drop(columns=[c for c in ("assumed",) if c in future.columns]).copy()
    X["unique_id"], X["ds"] = X["unique_id"].astype(str), pd.to_datetime(X["ds"])
    absent = [c for c in needed if c not in X.columns]
    if absent:
        raise DataValidationError(
            [Problem(None, f"future regressors lack {absent}", fix="give them in the future file")], "what-if"
        )
    known = set(X["unique_id"]) & {str(u) for u in model.last_ds_.index}
    unknown = [i for i in sc.ids if i not in known]
    if unknown:
        raise DataValidationError(
            [
                Problem(
                    "unique_id",
                    "unknown series (not forecast by the model)",
                    tuple(unknown[:5]),
                    len(unknown),
                    fix=f"use bottom-level ids such as {', '.join(sorted(known)[:3])}",
                )
            ],
            "what-if",
        )
    horizon = sorted(X["ds"].unique())
    first, last = pd.Timestamp(horizon[0]), pd.Timestamp(horizon[-1])
    weeks = [pd.Timestamp(w) for w in horizon if sc.start <= w <= sc.end]
    if sc.start < first or sc.end > last + pd.Timedelta(days=6) or not weeks:
        raise ConfigError(
            f"dates {sc.start.date()}..{sc.end.date()} are outside the forecast horizon: weeks start "
            f"{first.date()}..{last.date()}. Fix: choose a range inside it"
        )
    promo_col = next(
        (c for c in ("promo", *needed) if "promo" in c and "depth" not in c and c in X.columns), None
    )
    if sc.promo is not None and promo_col is None:
        raise ConfigError(f"the model has no promotion regressor (it uses {needed}); drop --promo")
    if (sc.price is not None or sc.price_change is not None) and "price" not in X.columns:
        raise ConfigError(f"the model has no price regressor (it uses {needed}); drop the price option")
    scen = X.copy()
    who = scen["unique_id"].isin(sc.ids) & scen["ds"].isin(weeks)
    if sc.price is not None:
        scen.loc[who, "price"] = float(sc.price)
    if sc.promo == 0:
        for c in (c for c in X.columns if "promo" in c and c in needed):
            scen.loc[who, c] = 0.0
    scen = apply_scenario(
        scen,
        list(sc.ids),
        price_change=sc.price_change,
        promo_weeks=weeks if sc.promo == 1 else None,
        promo_depth=sc.promo_depth,
        promo_col=promo_col or "promo",
        weeks=weeks,
    )
    h = len(horizon)
    base = model.predict(h, X)[["unique_id", "ds", "yhat"]].rename(columns={"yhat": "baseline"})
    alt = model.predict(h, scen)[["unique_id", "ds", "yhat"]].rename(columns={"yhat": "scenario"})
    out = base.merge(alt, on=["unique_id", "ds"])
    keep = [*sc.ids, *siblings(X, sc.ids, hierarchy)]
    out = out[out["unique_id"].isin(keep) & out["ds"].isin(weeks)].copy()
    out["diff"] = out["scenario"] - out["baseline"]
    out["lift_pct"] = np.where(out["baseline"] > 0, 100 * out["diff"] / out["baseline"], np.nan)
    out["changed"] = out["unique_id"].isin(sc.ids)
    out = out.sort_values(["changed", "unique_id", "ds"], ascending=[False, True, True]).reset_index(
        drop=True
    )
    summary = out.groupby(["unique_id", "changed"], sort=False)[["baseline", "scenario", "diff"]].sum()
    summary = summary.reset_index()
    summary["lift_pct"] = np.where(
        summary["baseline"] > 0,
        100 * summary["diff"] / summary["baseline"].where(summary["baseline"] > 0),
        np.nan,
    )
    return ScenarioResult(out, summary, weeks)
