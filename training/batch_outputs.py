"""Building the batch outputs of the forecast training run: coherent forecasts and actuals of every
hierarchy level (a panel without a hierarchy: ``total`` and ``series``) at the data's frequency and every
coarser one (the frames of ``salesplan.contracts.forecast``), logged as Parquet artifacts next to the
registered model. ``salesplan.models.batch`` reads them back for the service, the planner and the CLI,
and says which files the run holds.

The forecast periods after the planned future follow ``FUTURE_ASSUMPTION``; each forecast row says how
much of its period was assumed (``assumed_share``). Series whose data ends before the panel's last period
are discontinued: they get no forecast, and the batch info lists them (``discontinued``). Each frame
carries ``attrs`` (also in the Parquet metadata): hierarchy, frequency, horizon, assumption, method."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd

from salesplan.contracts import QUANTILES, SelloutDataset, period_label
from salesplan.contracts.sellout import Hierarchy
from salesplan.errors import ConfigError
from salesplan.models.batch import ARTIFACT_DIR, FORECAST_FILE, FUTURE_FILE, HISTORY_FILE
from salesplan.models.forecast import full_history
from salesplan.models.hierarchy import hierarchy_levels, summing_matrix
from salesplan.models.registry import FORECAST_MODEL, ModelRef
from salesplan.training.backtest import BacktestResult
from salesplan.training.batch_future import FUTURE_ASSUMPTION, assumed_share, batch_periods, extend_future
from salesplan.training.batch_methods import series_methods
from salesplan.training.forecast_levels import forecast_all_levels, history_levels, level_setup
from salesplan.training.level_calibration import representative_folds

if TYPE_CHECKING:
    from salesplan.models.forecast import Forecaster

__all__ = [
    "FUTURE_ASSUMPTION",
    "BatchBuild",
    "batch_periods",
    "batch_weeks",
    "build_batch",
    "extend_future",
    "level_tree",
    "log_batch",
]


def batch_weeks(last_ds: pd.Timestamp, h: int) -> int:
    """``batch_periods`` of weekly data: weeks after ``last_ds`` until the week holding the last day of
    the next calendar quarter; at least ``h``."""
    return batch_periods(last_ds, h, "W")


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
    freqs: Sequence[str] | None = None,
    method: str = "bottom_up",
    periods: int | None = None,
) -> BatchBuild:
    """Forecast ``series`` (default: all) with the fitted ``model`` to the end of the next quarter (or
    exactly ``periods`` periods) and turn it into the coherent all-levels frame at the data's frequency and
    the coarser ``freqs`` (quantiles calibrated on ``backtest``) plus the actuals."""
    df, spec = dataset.df, dataset.spec
    base = spec.freq
    setup = level_setup(dataset, freqs, "batch outputs")
    last = pd.Timestamp(df["ds"].max())
    n = int(periods) if periods is not None else batch_periods(last, h, base)
    ids = list(series) if series is not None else sorted(df["unique_id"].astype(str).unique())
    X = extend_future(dataset, future, n, ids)
    bottom = model.predict(n, X_future=X.drop(columns="assumed"))
    bottom = bottom[bottom["ds"] > last]  # a model never forecasts the past; be sure of it
    labels = series_methods(model, bottom)  # which model made each series' forecast, in words
    bottom = bottom.assign(method=bottom["unique_id"].astype(str).map(labels).to_numpy())
    missed = sorted(set(ids) - set(bottom["unique_id"].astype(str)))  # said, never silently dropped
    backtest, folds = representative_folds(backtest, df, full_history(model))
    levels = forecast_all_levels(
        bottom, backtest, dataset, quantiles=quantiles, freqs=setup.freqs, method=method
    )
    levels_info = dict(levels.attrs.get("salesplan", {}))
    levels["assumed_share"] = assumed_share(levels, X.set_index("ds")["assumed"], base, setup.week_start)
    sm = summing_matrix(setup.keys, setup.hierarchy, "batch outputs")
    node = sm.keys.drop(columns="level")
    levels = levels.merge(node, on="unique_id", how="left", validate="many_to_one")
    history = history_levels(dataset, setup.freqs).merge(
        node, on="unique_id", how="left", validate="many_to_one"
    )
    n_assumed = int(X.groupby("ds")["assumed"].any().sum())
    first, final = period_label(pd.Series([X["ds"].min(), X["ds"].max()]), base)
    ended = sorted(set(df["unique_id"].astype(str)) - set(ids))
    info = {
        "freq": base,
        "freqs": list(setup.freqs),
        "hierarchy": setup.hierarchy.to_dict(),
        "hierarchy_given": not setup.plain,
        "levels": [lv.name for lv in hierarchy_levels(setup.hierarchy)],
        "horizon": n,
        "first_ds": str(X["ds"].min().date()),
        "last_ds": str(X["ds"].max().date()),
        "first_period": first,
        "last_period": final,
        "data_end": str(last.date()),
        "assumed_periods": n_assumed,
        "future_assumption": FUTURE_ASSUMPTION if n_assumed else "none: every period has planned regressors",
        "reconciliation": method,
        **folds,
        "quantiles": list(quantiles),
        "week_start": setup.week_start,
        "point": "mean",
        "discontinued": ended[:50],
        "n_discontinued": len(ended),
        "not_forecast": missed[:50],
        "n_not_forecast": len(missed),
        **{k: v for k, v in levels_info.items() if k != "point"},
    }
    if base == "W":  # the names readers of weekly batches (and older batches) know
        info |= {
            "horizon_weeks": n,
            "first_week": info["first_ds"],
            "last_week": info["last_ds"],
            "assumed_weeks": n_assumed,
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
            "batch_freq": i["freq"],
            "batch_horizon": i["horizon"],
            "batch_last_period": i["last_period"],
            "batch_assumed_periods": i["assumed_periods"],
            "batch_reconciliation": i["reconciliation"],
            "batch_discontinued": i["n_discontinued"],
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
