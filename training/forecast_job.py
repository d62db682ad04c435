"""Training job of the sell-out forecaster: rolling-origin backtest, gate against the champion on the same
folds, log to MLflow, register, move the alias.

Gate protocol (why): a forecaster's quality is its backtest, so the candidate and a clone of the champion's
configuration are backtested on the same data and origins; the candidate becomes champion only if its
MASE is no worse. The registered model is then refit on all history, and the same run logs its batch
forecast of every hierarchy level at the data's frequency and every coarser one (``training.batch_outputs``;
the frames of ``salesplan.contracts.forecast``) for the planner and the API.

Any frequency (D, W, M, Q, Y): the horizon defaults to ``salesplan.contracts.DEFAULT_HORIZON`` (91 days,
13 weeks, 3 months, 8 quarters, 3 years) and the model gets the data's frequency and season length
(``SelloutSpec.season``) unless ``params`` name them."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.base import clone

from salesplan.contracts import DEFAULT_HORIZON, PERIOD_NAMES, SelloutDataset
from salesplan.engine import ScaleOut
from salesplan.models import registry
from salesplan.models.forecast import (
    ColdStartForecaster,
    Forecaster,
    PartitionedForecaster,
    SalesplanForecaster,
    partitioned,
)
from salesplan.training import tracking
from salesplan.training.backtest import BacktestResult, backtest
from salesplan.training.batch_outputs import BatchBuild, build_batch, log_batch

EXPERIMENT = "salesplan-forecast"
# The gate: a challenger must lower the backtest MASE by more than 0.005 (half a percent of a naive
# forecast's error) on the same origins as the champion; a tie (a retrain on identical data) keeps it.
GATE_RULES = (tracking.GateRule("mase", "lower", 0.005),)
"""The candidate's backtest MASE must be at most the champion's on the same folds."""
METRICS = ("mase", "rmsse", "wape", "bias", "coverage80", "pinball")


@dataclass(frozen=True)
class ForecastTraining:
    ref: registry.ModelRef
    decision: tracking.GateDecision
    backtest: BacktestResult
    overall: Mapping[str, float]
    by_level: Mapping[str, pd.DataFrame]
    model: Forecaster  # ColdStartForecaster, or a PartitionedForecaster of them
    batch: BatchBuild | None = None
    batch_status: str = "not built"


def fingerprint(df: pd.DataFrame) -> str:
    digest = pd.util.hash_pandas_object(df[["unique_id", "ds", "y"]], index=False).to_numpy()
    return hashlib.sha256(digest.tobytes()).hexdigest()[:16]


def alive(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of the series still selling at the last date: discontinued series get no forecast."""
    last = df.groupby("unique_id", sort=False)["ds"].transform("max")
    return df[last == df["ds"].max()]


def production_model(params: Mapping[str, Any] | None, scale: ScaleOut | None = None) -> Forecaster:
    """The registered model: the default blend (which forecasts every series with one period or more, a
    plain ``unique_id, ds, y`` panel too), analogues for series new in the forecast's ``X_future``; with a
    non-trivial ``scale`` it is fitted per partition of series, locally or on Dask (``salesplan.engine``).
    ``params`` go to ``SalesplanForecaster`` (frequency, season length, calibration, ``n_jobs``, ...;
    ``calib_exponent`` and ``calib_noise_exponent`` when given, else their default ``"auto"``: intervals
    that widen with the forecast over the series' level, and for smooth series, where the backtest says
    so, ``models.forecast.conformal``)."""
    base = SalesplanForecaster(**dict(params or {}))
    model = ColdStartForecaster(
        base=base,
        season_length=base.season_length,
        freq=base.freq,
        quantiles=base.quantiles,
        n_jobs=base.n_jobs,
        calib_windows=base.calib_windows,
        calib_horizon=base.calib_horizon,
    )
    return partitioned(model, scale)


def backtested_part(model: Forecaster) -> Forecaster:
    """What the backtest compares: the base blend of a cold-start wrapper (its cold series cannot be
    scored at past origins), else the model itself; partitioned models keep their partitions."""
    if isinstance(model, PartitionedForecaster):
        base = backtested_part(model.base) if model.base is not None else None
        part: PartitionedForecaster = clone(model).set_params(base=base)
        return part
    return model.base if isinstance(model, ColdStartForecaster) and model.base is not None else model


def on_engine(model: Forecaster, scale: ScaleOut | None) -> Forecaster:
    """A partitioned model set to run on ``scale``'s engine (the champion's refit runs where we run)."""
    if isinstance(model, PartitionedForecaster) and scale is not None:
        model.set_params(engine=scale.engine, workers=scale.workers, address=scale.address)
    return model


def _overall(bt: BacktestResult) -> dict[str, float]:
    row = bt.metrics().iloc[0]
    return {k: float(row[k]) for k in METRICS if k in row.index and pd.notna(row[k])}


def run_backtest(
    dataset: SelloutDataset,
    model: Forecaster,
    h: int,
    n_origins: int,
    season_length: int,
    on_stage: Callable[[str], None] | None = None,
    who: str = "backtest",
) -> BacktestResult:
    """Backtest ``model`` with the hierarchy columns kept, so metrics can be cut by level; ``on_stage`` is
    told each fold (``"<who>: fold 2/3, origin 2026-05-04"``)."""
    keep = dataset.spec.hierarchy.columns if dataset.spec.hierarchy else []

    def fold(i: int, n: int, cutoff: pd.Timestamp) -> None:
        if on_stage is not None:
            on_stage(f"{who}: fold {i}/{n}, origin {cutoff:%Y-%m-%d}")

    return backtest(
        model,
        dataset.df,
        h=h,
        n_origins=n_origins,
        spec=dataset.spec,
        season_length=season_length,
        keep_cols=keep,
        on_fold=fold,
    )


def model_params(dataset: SelloutDataset, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The forecaster's parameters: the data's frequency and season length, then ``params``."""
    return {"freq": dataset.spec.freq, "season_length": dataset.spec.season, **dict(params or {})}


def default_horizon(dataset: SelloutDataset, h: int | None) -> int:
    """``h`` or the data frequency's default (``DEFAULT_HORIZON``)."""
    return int(h) if h is not None else DEFAULT_HORIZON[dataset.spec.freq]


def fit_live(
    production: Forecaster, dataset: SelloutDataset, on_stage: Callable[[str], None] | None = None
) -> tuple[Forecaster, list[str]]:
    """The production model fitted on the series still selling (``alive``), as the job registers it, and
    those series' ids: the batch forecasts them only. A series that ended earlier is unknown to the fitted
    model, which would forecast it as a new (cold-start) series from analogues: phantom units in every
    parent's total (6 % of a simulated world's past quarter, when the replays forgot it). ``on_stage`` is
    told how many series the fit is on."""
    live = alive(dataset.df)
    if on_stage is not None:
        on_stage(f"final fit on {live['unique_id'].nunique():,} live series")
    final: Forecaster = clone(production).fit(live, dataset.spec)
    if isinstance(final, PartitionedForecaster):
        final = final.local()
    return final, sorted(live["unique_id"].astype(str).unique())


def default_batch(
    dataset: SelloutDataset,
    *,
    n_origins: int,
    future: pd.DataFrame | None = None,
    periods: int | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> BatchBuild:
    """The batch a default training job on ``dataset`` logs (backtest on ``n_origins``, final fit on the
    live series, every level), without MLflow or the gate: what replays of past quarters (``plan
    backtest``, the tracking and target benchmarks) run, so they score the shipped path. ``on_stage`` is
    told when the backtest is done and the final fit starts."""
    h = default_horizon(dataset, None)
    production = production_model(model_params(dataset, None))
    model = backtested_part(production)
    bt = run_backtest(dataset, model, h, n_origins, int(model.season_length or dataset.spec.season))
    if on_stage is not None:
        on_stage("fitting it and forecasting every level")
    final, ids = fit_live(production, dataset)
    return build_batch(final, bt, dataset, h=h, future=future, series=ids, periods=periods)


def train_forecast(
    dataset: SelloutDataset,
    *,
    h: int | None = None,
    n_origins: int = 3,
    params: Mapping[str, Any] | None = None,
    source: str = "unknown",
    experiment: str = EXPERIMENT,
    future: pd.DataFrame | None = None,
    batch: bool = True,
    scale: ScaleOut | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ForecastTraining:
    """Backtest, gate, log and register a ``SalesplanForecaster`` on a validated sell-out data set of
    any frequency (``h`` defaults to the frequency's ``DEFAULT_HORIZON``).

    ``future``: planned price/promotion/exogenous rows after the data (``unique_id, ds, ...``; the
    simulator's ``world.future``); periods it does not cover follow ``batch_outputs.FUTURE_ASSUMPTION``.
    ``batch``: also forecast every level (a panel without a hierarchy: total and series) to the end of
    the next quarter and log it under ``batch/``. A batch that fails fails the job before anything is
    registered.
    ``on_stage``: told each stage in words (backtest folds, the champion's folds, final fit, batch,
    logging), for a progress bar."""

    def stage(text: str) -> None:
        if on_stage is not None:
            on_stage(text)

    h = default_horizon(dataset, h)
    tracking.setup(experiment)
    production = production_model(model_params(dataset, params), scale)
    model = backtested_part(production)
    season = int(model.season_length or dataset.spec.season)
    with mlflow.start_run(run_name=f"forecast-{source}") as run:
        mlflow.log_params(
            {
                **{k: v for k, v in model.get_params().items() if k != "members" and "__" not in k},
                **_scale_params(scale),
                "h": h,
                "n_origins": n_origins,
                "source": source,
                "data_fingerprint": fingerprint(dataset.df),
                "n_series": int(dataset.df["unique_id"].nunique()),
            }
        )
        bt = run_backtest(dataset, model, h, n_origins, season, on_stage)
        overall = _overall(bt)
        champion = registry.find_version(registry.FORECAST_MODEL)
        champ_metrics = None
        if champion is not None:
            stored, _ = registry.load_forecaster(champion.version)
            champ_metrics = _overall(
                run_backtest(
                    dataset,
                    on_engine(clone(backtested_part(stored)), scale),
                    h,
                    n_origins,
                    season,
                    on_stage,
                    who=f"champion v{champion.version} on the same origins",
                )
            )
            mlflow.log_metrics({f"champion_backtest_{k}": v for k, v in champ_metrics.items()})
        decision = tracking.champion_gate(
            overall, champ_metrics, GATE_RULES, basis=f"the same {len(bt.cutoffs)} backtest origins, h={h}"
        )
        by_level = {
            c: bt.metrics(by=c) for c in (dataset.spec.hierarchy.columns if dataset.spec.hierarchy else [])
        }
        # each metric once, under one name (backtest_<metric>, beside champion_backtest_<metric>)
        mlflow.log_metrics(
            {**{f"backtest_{k}": v for k, v in overall.items()}, "backtest_seconds": bt.total_seconds}
        )
        final, ids = fit_live(production, dataset, on_stage)
        _log_blend_choice(final)
        _log_artifacts(bt, by_level)
        built, status = None, "disabled (batch=False)"
        if batch:
            stage("batch forecast of every level to the next quarter's end")
            built = build_batch(final, bt, dataset, h=h, future=future, series=ids)
            i = built.info
            status = f"logged: {i['horizon']} {PERIOD_NAMES[i['freq']]}s to {i['last_period']}"
        stage("logging and registering the model in MLflow")
        ref = tracking.log_estimator(
            final,
            "forecast",
            registry.FORECAST_MODEL,
            tags={"source": source, "run_id": run.info.run_id, "h": str(h)},
            # the batch's own call: its future regressors and horizon (no batch: no example, no signature)
            input_example=None if built is None else built.future.drop(columns="assumed"),
            params=None if built is None else {"h": int(built.info["horizon"])},
        )
        if built is not None:
            log_batch(built, ref)
        else:
            mlflow.set_tag("batch_status", status)
        ref = tracking.apply_decision(ref, decision)
    return ForecastTraining(ref, decision, bt, overall, by_level, final, built, status)


def _log_blend_choice(model: Any) -> None:
    """How far down its weight tiers the final blend went (``SalesplanForecaster.weight_level_``) and the
    cross-fitted backtest loss of each level it compared, so a run says why its weights look as they do;
    and the exponents its conformal bands chose (``calibrator_.exponent_`` and ``noise_exponent_``: 0, the
    plain calibration)."""
    blend = getattr(model, "base_", model)
    level = getattr(blend, "weight_level_", None)
    if level is None:
        return
    mlflow.set_tag("blend_weight_level", str(level))
    losses = getattr(blend, "weight_level_losses_", {}) or {}
    mlflow.log_metrics({f"blend_loss_{k}": float(v) for k, v in losses.items()})
    calibrator = getattr(blend, "calibrator_", None)
    for attr, metric in (
        ("exponent_", "conformal_exponent"),
        ("noise_exponent_", "conformal_noise_exponent"),
    ):
        value = getattr(calibrator, attr, None)
        if value is not None:
            mlflow.log_metric(metric, float(value))


def _scale_params(scale: ScaleOut | None) -> dict[str, Any]:
    s = scale or ScaleOut()
    return {"engine": s.engine, "partition_by": s.partition_by, "max_series": s.max_series}


def _log_artifacts(bt: BacktestResult, by_level: Mapping[str, pd.DataFrame]) -> None:
    """Backtest rows, metrics per level, forecast-vs-actual plot of sample series, coverage by level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        bt.forecasts.to_parquet(d / "backtest_forecasts.parquet", index=False)
        bt.metrics(by="cutoff").to_csv(d / "metrics_by_origin.csv", index=False)
        for level, table in by_level.items():
            table.to_csv(d / f"metrics_by_{level}.csv", index=False)
        f = bt.forecasts
        top = f.groupby("unique_id")["y"].sum().sort_values(ascending=False).index[:4]
        fig, axes = plt.subplots(len(top), 1, figsize=(8, 2.2 * len(top)), squeeze=False)
        for ax, uid in zip(axes[:, 0], top, strict=False):
            s = f[f["unique_id"] == uid].sort_values("ds")
            ax.plot(s["ds"], s["y"], color="#222", lw=1.2, label="actual")
            ax.plot(s["ds"], s["yhat"], color="#1f6feb", lw=1.2, label="forecast")
            if {"q10", "q90"} <= set(s.columns):
                ax.fill_between(s["ds"], s["q10"], s["q90"], color="#1f6feb", alpha=0.2, label="P10–P90")
            ax.set_title(str(uid), fontsize=9)
        axes[0, 0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(d / "forecast_vs_actual.png", dpi=100)
        plt.close(fig)
        levels = {k: v for k, v in by_level.items() if "coverage80" in v.columns}
        if levels:
            fig, ax = plt.subplots(figsize=(6, 3))
            names = [f"{k}={v}" for k, t in levels.items() for v in t[k].astype(str)]
            cov = np.concatenate([t["coverage80"].to_numpy() for t in levels.values()])
            ax.bar(range(len(cov)), cov, color="#1f6feb")
            ax.axhline(0.8, color="#c00", lw=1, ls="--")
            ax.set_xticks(range(len(cov)), names, rotation=90, fontsize=6)
            ax.set_ylabel("P10–P90 coverage")
            fig.tight_layout()
            fig.savefig(d / "coverage_by_level.png", dpi=100)
            plt.close(fig)
        mlflow.log_artifacts(str(d), artifact_path="report")
