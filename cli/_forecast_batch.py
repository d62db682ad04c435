"""Reading a forecaster's batch outputs for ``salesplan forecast``: the frequencies asked for, the batch
(or none, to refit instead), the training run's parameters and backtest, slicing the batch to a shorter
horizon, and the notes ``salesplan train forecast`` prints about a new batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from salesplan.contracts import FREQS, PERIOD_NAMES
from salesplan.errors import ConfigError

if TYPE_CHECKING:
    from salesplan.models.batch import BatchForecast
    from salesplan.training.backtest import BacktestResult

__all__ = ["batch_notes", "batch_or_none", "parse_freqs", "run_params", "slice_batch", "training_backtest"]


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def parse_freqs(text: str | None, have: list[str]) -> list[str]:
    """The frequencies asked for (default: all the forecast has), each one the forecast has."""
    if text is None:
        return have
    freqs = [f.upper() for f in _split(text)]
    bad = [f for f in freqs if f not in FREQS]
    if bad or not freqs:
        raise ConfigError(f"--freq takes a comma list of {', '.join(FREQS)} (days ... years), got {text!r}")
    missing = [f for f in freqs if f not in have]
    if missing:
        raise ConfigError(
            f"--freq {','.join(missing)}: the forecast has {','.join(have)} (the data's frequency and the "
            "coarser ones; a forecast is never split into finer periods)"
        )
    return list(dict.fromkeys(freqs))


def batch_or_none(model: str, need_batch: bool) -> BatchForecast | None:
    """The model's batch outputs; None (refit instead) when a data source is given and the run has none."""
    from salesplan.errors import ModelNotFoundError
    from salesplan.models.batch import load_batch

    try:
        return load_batch(alias=model)
    except ModelNotFoundError as exc:
        if need_batch or "no batch" not in str(exc):
            raise
        return None


def run_params(run_id: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    from salesplan.models.registry import tracking_uri

    return dict(MlflowClient(tracking_uri()).get_run(run_id).data.params)


def training_backtest(run_id: str) -> BacktestResult:
    """The training run's backtest rows (``report/backtest_forecasts.parquet``) as a BacktestResult: they
    calibrate the quantiles of every level when forecasting a horizon the batch does not hold."""
    import tempfile

    import mlflow

    from salesplan.errors import ModelNotFoundError
    from salesplan.training.backtest import BacktestResult

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="report/backtest_forecasts.parquet", dst_path=tmp
            )
        except Exception as exc:  # MLflow raises several kinds for a missing artifact
            raise ModelNotFoundError(
                f"run {run_id} has no report/backtest_forecasts.parquet to calibrate quantiles with "
                f"({str(exc).splitlines()[0][:200]}); retrain with 'salesplan train forecast'"
            ) from None
        rows = pd.read_parquet(path)
    cutoffs = sorted(pd.to_datetime(rows["cutoff"]).unique())
    params = run_params(run_id)
    h = int(params.get("h", rows["step"].max()))
    season = int(params.get("season_length", 1))
    return BacktestResult(rows, [pd.Timestamp(c) for c in cutoffs], h, h, season, "champion")


def slice_batch(fc: pd.DataFrame, horizon: int, base: str) -> pd.DataFrame:
    """The first ``horizon`` periods of a batch frame at its own frequency, with the coarser periods those
    periods touch (as the batch holds them: ``coverage`` < 1 where the batch only partly forecasts one)."""
    from salesplan.models.hierarchy import period_shares

    own = fc[fc["freq"] == base]
    starts = pd.Series(sorted(own["ds"].unique()))[:horizon]
    keep = ((fc["freq"] == base) & fc["ds"].isin(set(starts))).to_numpy()
    week_start = int(starts.iloc[0].dayofweek) if base == "W" and len(starts) else 0
    for f in (f for f in pd.unique(fc["freq"]) if f != base):
        touched = set(period_shares(starts, str(f), base=base, week_start=week_start)["period"])
        keep |= ((fc["freq"] == f) & fc["period"].astype(str).isin(touched)).to_numpy()
    return fc[keep]


def batch_notes(info: Mapping[str, Any]) -> list[str]:
    """What a planner should know about a batch, one line each (rich markup): assumed regressors, series
    without a forecast, folds its calibration left out, a panel without hierarchy."""
    unit = PERIOD_NAMES[info["freq"]]
    out = []
    if info["assumed_periods"]:
        out.append(
            f"{info['assumed_periods']} of {info['horizon']} {unit}s had no planned regressors: "
            f"{info['future_assumption']}"
        )
    if info["n_discontinued"]:
        out.append(
            f"{info['n_discontinued']} series end before the data's last {unit} (discontinued): no forecast, "
            f"e.g. {', '.join(info['discontinued'][:5])}"
        )
    if info.get("n_not_forecast"):
        out.append(
            f"[yellow]{info['n_not_forecast']} live series got no forecast from the model[/]: "
            f"{', '.join(info['not_forecast'][:5])}"
        )
    if info.get("folds_left_out"):
        out.append(
            f"its distributions are calibrated on the newest {info['calibration_folds']} backtest folds: "
            f"{len(info['folds_left_out'])} had less history than the fitted model needs "
            f"({'; '.join(info['folds_left_out'])})"
        )
    if not info["hierarchy_given"]:
        out.append("no hierarchy in the data: levels are the total and each series")
    return out
