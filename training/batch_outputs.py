"""Building the batch outputs of the forecast training run: coherent forecasts and actuals of every
hierarchy level for weeks, months and quarters (the frames of ``salesplan.contracts.forecast``), logged as
Parquet artifacts next to the registered model. ``salesplan.models.batch`` reads them back for the service,
the planner and the CLI, and says which files the run holds.

The forecast weeks after the planned future follow ``FUTURE_ASSUMPTION``; each forecast row says how much
of its period was assumed (``assumed_share``). Each frame carries ``attrs`` (also in the Parquet metadata):
hierarchy, horizon, assumption, method."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd

from salesplan.contracts import QUANTILES, SelloutDataset
from salesplan.contracts.sellout import Hierarchy
from salesplan.errors import ConfigError
from salesplan.models.batch import ARTIFACT_DIR, FORECAST_FILE, FUTURE_FILE, HISTORY_FILE
from salesplan.models.hierarchy import hierarchy_levels, summing_matrix, week_shares
from salesplan.models.registry import FORECAST_MODEL, ModelRef
from salesplan.simulator.calendar import holiday_weeks
from salesplan.training.backtest import BacktestResult
from salesplan.training.forecast_levels import FREQS, forecast_all_levels, history_levels, week_start

if TYPE_CHECKING:
    from salesplan.models.forecast import Forecaster

__all__ = [
    "FUTURE_ASSUMPTION",
    "BatchBuild",
    "batch_weeks",
    "build_batch",
    "extend_future",
    "level_tree",
    "log_batch",
]

FUTURE_ASSUMPTION = (
    "weeks after the planned future: price = the series' last known non-promotional price, promotion "
    "columns = 0, holiday flags computed from the retail holiday calendar when the data's flags follow it, "
    "other known-future columns = the same series' value 52 weeks earlier (0 if none)"
)


# ---------------------------------------------------------------------------------------------- horizon
def batch_weeks(last_ds: pd.Timestamp, h: int) -> int:
    """Weeks after ``last_ds`` (start of the last data week) until the week holding the last day of the
    next calendar quarter after the data ends; at least ``h``."""
    last_day = pd.Timestamp(last_ds) + pd.Timedelta(days=6)
    q_end = (last_day.to_period("Q") + 1).end_time.normalize()
    return max(int(h), math.ceil(((q_end - pd.Timestamp(last_ds)).days - 6) / 7))


# ---------------------------------------------------------------------------------------------- future
def _is_holiday_calendar(df: pd.DataFrame, col: str) -> bool:
    """True when ``col`` is 1 exactly in the retail holiday weeks of ``salesplan.simulator.calendar``."""
    per_date = df.groupby("ds")[col].max()
    if per_date.isna().any() or not per_date.isin([0, 1]).all():
        return False
    flags = holiday_weeks(pd.DatetimeIndex(per_date.index)) != ""
    return bool((per_date.to_numpy() == flags.to_numpy().astype(float)).all()) and bool(flags.any())


def extend_future(
    dataset: SelloutDataset, future: pd.DataFrame | None, n_weeks: int, series: Sequence[str]
) -> pd.DataFrame:
    """Future regressors of ``series`` for the ``n_weeks`` after the data: the planned ``future`` where it
    has them, else ``FUTURE_ASSUMPTION`` (rows flagged ``assumed``). Static and hierarchy columns repeat
    the series' last history row."""
    df, spec = dataset.df, dataset.spec
    ids = pd.Index([str(s) for s in series])
    last = pd.Timestamp(df["ds"].max())
    weeks = pd.DatetimeIndex([last + pd.Timedelta(weeks=k) for k in range(1, n_weeks + 1)])
    grid = pd.DataFrame({"unique_id": np.repeat(ids.to_numpy(), n_weeks), "ds": np.tile(weeks, len(ids))})
    hist = df.assign(unique_id=df["unique_id"].astype(str))
    statics = [*spec.static_cols, *(spec.hierarchy.columns if spec.hierarchy else [])]
    statics = [c for c in dict.fromkeys(statics) if c in hist.columns]
    regs = [c for c in ("price", *spec.regressors) if c in hist.columns]
    if statics:
        grid = grid.merge(hist.groupby("unique_id")[statics].last(), left_on="unique_id", right_index=True)
    if not regs:
        return grid.assign(assumed=False)
    known = pd.DataFrame(columns=["unique_id", "ds"])
    if future is not None and len(future):
        have = [c for c in regs if c in future.columns]
        known = future[["unique_id", "ds", *have]].assign(
            unique_id=future["unique_id"].astype(str), ds=pd.to_datetime(future["ds"])
        )
        known = known.drop_duplicates(["unique_id", "ds"], keep="last")
    out = grid.merge(known, on=["unique_id", "ds"], how="left")
    for c in regs:
        if c not in out.columns:
            out[c] = np.nan
    assumed = out[regs].isna().any(axis=1).to_numpy()
    out["assumed"] = assumed
    if not assumed.any():
        return out
    parts = [hist[["unique_id", "ds", *regs]], *([known] if len(known) else [])]
    both = pd.concat(parts, ignore_index=True).sort_values(["unique_id", "ds"])
    promo = [c for c in spec.promo_cols if c in regs]
    if "price" in regs:
        regular = both[(both[promo].fillna(0) == 0).all(axis=1)] if promo else both
        price = regular.dropna(subset=["price"]).groupby("unique_id")["price"].last()
        fallback = both.dropna(subset=["price"]).groupby("unique_id")["price"].last()
        price = price.reindex(fallback.index).fillna(fallback)
        fill = out["unique_id"].map(price)
        out.loc[assumed & out["price"].isna().to_numpy(), "price"] = fill
    for c in promo:
        out.loc[assumed & out[c].isna().to_numpy(), c] = 0.0
    for c in (c for c in spec.exog_cols if c in regs):
        todo = assumed & out[c].isna().to_numpy()
        if _is_holiday_calendar(hist, c):
            flags = holiday_weeks(pd.DatetimeIndex(out.loc[todo, "ds"])) != ""
            out.loc[todo, c] = flags.to_numpy().astype(float)
            continue
        lag = both[["unique_id", "ds", c]].assign(ds=both["ds"] + pd.Timedelta(weeks=52))
        prev = out.loc[todo, ["unique_id", "ds"]].merge(lag, on=["unique_id", "ds"], how="left")[c]
        out.loc[todo, c] = prev.fillna(0.0).to_numpy()
    return out


def _assumed_share(levels: pd.DataFrame, assumed_weeks: pd.Series, ws: int) -> np.ndarray:
    """Per forecast row, the share of its period's days that fall in assumed weeks (W: 0 or 1)."""
    flag = assumed_weeks.groupby(level=0).max().astype(float)
    days = pd.Series(flag.index)
    out = np.zeros(len(levels))
    w = (levels["freq"] == "W").to_numpy()
    out[w] = levels.loc[w, "ds"].map(flag).fillna(0.0).to_numpy()
    for freq in ("M", "Q"):
        rows = (levels["freq"] == freq).to_numpy()
        if not rows.any():
            continue
        sh = week_shares(days, freq, week_start=ws)
        sh["a"] = flag.to_numpy()[sh["row"].to_numpy()] * sh["days"]
        per = sh.groupby("period")[["a", "days"]].sum()
        share = (per["a"] / per["days"]).reindex(levels.loc[rows, "period"]).fillna(0.0)
        out[rows] = share.to_numpy()
    return out


# ---------------------------------------------------------------------------------------------- build
@dataclass(frozen=True)
class BatchBuild:
    """The batch outputs of one fit before they are logged (``model``/``model_version`` still missing)."""

    forecast: pd.DataFrame
    history: pd.DataFrame
    future: pd.DataFrame
    info: dict[str, Any]


def build_batch(
    model: Forecaster,
    backtest: BacktestResult,
    dataset: SelloutDataset,
    *,
    h: int,
    future: pd.DataFrame | None = None,
    series: Sequence[str] | None = None,
    quantiles: Sequence[float] = QUANTILES,
    freqs: Sequence[str] = FREQS,
    method: str = "bottom_up",
    weeks: int | None = None,
) -> BatchBuild:
    """Forecast ``series`` (default: all) with the fitted ``model`` to the end of the next quarter (or
    exactly ``weeks`` weeks) and turn it into the coherent all-levels frame (quantiles calibrated on
    ``backtest``) plus the actuals."""
    hierarchy = dataset.spec.hierarchy
    if dataset.spec.freq != "W" or hierarchy is None:
        raise ConfigError(
            f"batch outputs need weekly data with a hierarchy; {dataset.name!r} has freq "
            f"{dataset.spec.freq!r} and hierarchy {hierarchy.to_dict() if hierarchy else None}"
        )
    df = dataset.df
    n = int(weeks) if weeks is not None else batch_weeks(pd.Timestamp(df["ds"].max()), h)
    ids = list(series) if series is not None else sorted(df["unique_id"].astype(str).unique())
    X = extend_future(dataset, future, n, ids)
    bottom = model.predict(n, X_future=X.drop(columns="assumed"))
    levels = forecast_all_levels(bottom, backtest, dataset, quantiles=quantiles, freqs=freqs, method=method)
    ws = week_start(df["ds"])
    levels["assumed_share"] = _assumed_share(levels, X.set_index("ds")["assumed"], ws)
    sm = summing_matrix(df[["unique_id", *hierarchy.columns]].astype(str), hierarchy, "batch outputs")
    node = sm.keys.drop(columns="level")
    levels = levels.merge(node, on="unique_id", how="left", validate="many_to_one")
    history = history_levels(dataset, freqs).merge(node, on="unique_id", how="left", validate="many_to_one")
    n_assumed = int(X.groupby("ds")["assumed"].any().sum())
    info = {
        "hierarchy": hierarchy.to_dict(),
        "levels": [lv.name for lv in hierarchy_levels(hierarchy)],
        "horizon_weeks": n,
        "first_week": str(X["ds"].min().date()),
        "last_week": str(X["ds"].max().date()),
        "data_end": str(pd.Timestamp(df["ds"].max()).date()),
        "assumed_weeks": n_assumed,
        "future_assumption": FUTURE_ASSUMPTION if n_assumed else "none: every week has planned regressors",
        "reconciliation": method,
        "quantiles": list(quantiles),
        "week_start": ws,
    }
    for frame in (levels, history, X):
        frame.attrs["salesplan"] = info
    return BatchBuild(levels, history, X, info)


def log_batch(batch: BatchBuild, ref: ModelRef | None) -> None:
    """Write the three Parquet files (``model``/``model_version`` filled from ``ref``) to the active
    run under ``batch/`` and record the horizon and the assumption as run params."""
    fc = batch.forecast.assign(
        model=ref.name if ref else FORECAST_MODEL, model_version=ref.version if ref else ""
    )
    fc.attrs = batch.forecast.attrs
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        fc.to_parquet(d / FORECAST_FILE, index=False)
        batch.history.to_parquet(d / HISTORY_FILE, index=False)
        batch.future.to_parquet(d / FUTURE_FILE, index=False)
        mlflow.log_artifacts(str(d), artifact_path=ARTIFACT_DIR)
    i = batch.info
    mlflow.log_params(
        {
            "batch_horizon_weeks": i["horizon_weeks"],
            "batch_last_week": i["last_week"],
            "batch_assumed_weeks": i["assumed_weeks"],
            "batch_reconciliation": i["reconciliation"],
        }
    )
    mlflow.set_tags({"batch_future_assumption": i["future_assumption"], "batch_status": "logged"})


# ---------------------------------------------------------------------------------------------- tree
def level_tree(frame: pd.DataFrame, by: Sequence[str], hierarchy: Hierarchy | None = None) -> pd.DataFrame:
    """``unit_id, parent_id, level`` for a drill-down ``by`` (e.g. ``("region", "store")``): the total,
    then one level per column of ``by``, each unit's parent being its node one step up. ``hierarchy``
    defaults to the one stored in ``frame.attrs`` by the batch job."""
    if hierarchy is None:
        stored = frame.attrs.get("salesplan", {}).get("hierarchy")
        if not stored:
            raise ConfigError("level_tree: the frame carries no hierarchy; pass hierarchy=Hierarchy({...})")
        hierarchy = Hierarchy(stored)
    dims = {c: list(cols) for cols in hierarchy.levels.values() for c in cols}
    unknown = [c for c in by if c not in dims]
    if unknown or not by:
        raise ConfigError(
            f"level_tree: by={list(by)} must name hierarchy columns of {hierarchy.to_dict()} (unknown: {unknown})"
        )
    specs = {frozenset(s.prefix): s for s in hierarchy_levels(hierarchy)}
    chain, prefix = [specs[frozenset()]], set()
    for c in by:
        cols = dims[c]
        prefix |= set(cols[: cols.index(c) + 1])
        spec = specs[frozenset(prefix)]
        if spec.name != chain[-1].name:
            chain.append(spec)
    units = frame[["unique_id", "level", *[c for c in hierarchy.columns if c in frame.columns]]]
    units = units.drop_duplicates("unique_id")
    rows = []
    for parent, child in zip([None, *chain[:-1]], chain, strict=True):
        mine = units[units["level"] == child.name]
        if parent is None:
            rows.append(pd.DataFrame({"unit_id": mine["unique_id"], "parent_id": None, "level": child.name}))
            continue
        up = units[units["level"] == parent.name][["unique_id", *parent.prefix]]
        if parent.prefix:
            m = mine[["unique_id", *parent.prefix]].merge(
                up.rename(columns={"unique_id": "parent_id"}), on=list(parent.prefix), how="left"
            )
        else:
            m = mine[["unique_id"]].assign(parent_id=up["unique_id"].iloc[0] if len(up) else None)
        rows.append(
            pd.DataFrame({"unit_id": m["unique_id"], "parent_id": m["parent_id"], "level": child.name})
        )
    return pd.concat(rows, ignore_index=True)
