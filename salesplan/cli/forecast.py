"""``salesplan train forecast``, ``salesplan backtest forecast`` and ``salesplan forecast``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, progress
from salesplan.cli._sources import sellout_source
from salesplan.cli.app import app, backtest_app, train_app
from salesplan.errors import ConfigError

DatasetOpt = Annotated[str | None, typer.Option(help="A real sell-out set: walmart, dominicks, avocado, ...")]
HorizonOpt = Annotated[int, typer.Option("--horizon", "--h", help="Periods ahead.")]
OriginsOpt = Annotated[int, typer.Option(help="Rolling origins of the backtest.")]
SeasonOpt = Annotated[
    int | None, typer.Option(help="Season length (default: 52 weekly, 7 daily, 12 monthly).")
]


def _season(freq: str, season: int | None) -> int:
    return season if season is not None else {"W": 52, "D": 7, "M": 12}[freq]


def metrics_table(title: str, rows: Mapping[str, Mapping[str, float]]) -> Table:
    t = Table(title=title)
    cols = ("mase", "rmsse", "wape", "bias", "coverage80", "pinball")
    t.add_column("")
    for c in cols:
        t.add_column(c, justify="right")
    for name, m in rows.items():
        t.add_row(name, *[f"{m[c]:.3f}" if c in m and pd.notna(m[c]) else "–" for c in cols])
    return t


def print_forecast_training(result: object) -> None:
    from training.forecast_job import ForecastTraining

    assert isinstance(result, ForecastTraining)
    rows: dict[str, Mapping[str, float]] = {"overall": result.overall}
    for level, table in result.by_level.items():
        if len(table) > 8:  # the full cut is in the run's artifacts (report/metrics_by_<level>.csv)
            continue
        for _, r in table.iterrows():
            rows[f"{level}={r[level]}"] = {str(k): v for k, v in r.items()}
    bt = result.backtest
    title = (
        f"backtest (bottom series, cut by level) of {result.ref.name} v{result.ref.version} → {result.ref.alias}: h={bt.h}, "
        f"{len(bt.cutoffs)} origins ({', '.join(str(c.date()) for c in bt.cutoffs)})"
    )
    console.print(metrics_table(title, rows))
    base = result.model.base_ if hasattr(result.model, "base_") else None
    if base is not None and hasattr(base, "weights"):
        console.print(f"blend weights: {base.weights.round(2).to_dict()}", soft_wrap=True)
    console.print(f"gate: {result.decision.reason}", soft_wrap=True)


@train_app.command("forecast")
@clean_errors
def train_forecast_cmd(
    simulated: SimOpt = False,
    dataset: DatasetOpt = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    horizon: HorizonOpt = 13,
    origins: OriginsOpt = 3,
    season: SeasonOpt = None,
    n_jobs: Annotated[int, typer.Option(help="Parallel jobs for the statistical members.")] = 1,
) -> None:
    """Backtest the default forecaster, log it to MLflow and make it champion only if it beats the champion."""
    from training.forecast_job import train_forecast

    data, source, _ = sellout_source(None, simulated, dataset, seed, scale)
    params = {"season_length": _season(data.spec.freq, season), "freq": data.spec.freq, "n_jobs": n_jobs}
    with progress(f"backtesting and training the forecaster on {source}"):
        result = train_forecast(data, h=horizon, n_origins=origins, params=params, source=source)
    print_forecast_training(result)


@backtest_app.command("forecast")
@clean_errors
def backtest_forecast_cmd(
    simulated: SimOpt = False,
    dataset: DatasetOpt = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    horizon: HorizonOpt = 13,
    origins: OriginsOpt = 3,
    season: SeasonOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write the backtest rows (.csv/.parquet).")] = None,
) -> None:
    """Rolling-origin backtest of the default forecaster (nothing is registered)."""
    from models.forecast import SalesplanForecaster
    from salesplan.io import write_table
    from training.forecast_job import METRICS, run_backtest

    data, source, _ = sellout_source(None, simulated, dataset, seed, scale)
    s = _season(data.spec.freq, season)
    with progress(f"backtesting on {source}"):
        bt = run_backtest(
            data, SalesplanForecaster(season_length=s, freq=data.spec.freq), horizon, origins, s
        )
    rows: dict[str, Mapping[str, float]] = {
        str(r["cutoff"].date()): {str(k): v for k, v in r.items()}
        for _, r in bt.metrics(by="cutoff").iterrows()
    }
    overall = bt.metrics().iloc[0]
    rows["overall"] = {k: float(overall[k]) for k in METRICS if k in overall.index}
    console.print(metrics_table(f"backtest on {source}: h={horizon}", rows))
    if out is not None:
        write_table(bt.forecasts, out)


@app.command("forecast")
@clean_errors
def forecast_cmd(
    out: Annotated[Path, typer.Option(help="Where to write the forecast (.csv/.parquet).")],
    simulated: SimOpt = False,
    dataset: DatasetOpt = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    horizon: HorizonOpt = 13,
    model: Annotated[str, typer.Option(help="Registry alias or version of salesplan-forecast.")] = "champion",
    future: Annotated[
        Path | None, typer.Option(help="Future regressors (unique_id, ds, price, promo...).")
    ] = None,
) -> None:
    """Forecast with a registered model: refit on the latest history, predict h periods with quantiles."""
    from salesplan.io import read_table, write_table
    from training.forecast_job import alive
    from training.tracking import FORECAST_MODEL, load_estimator

    if horizon < 1:
        raise ConfigError(f"--horizon must be >= 1, got {horizon}")
    data, source, known_future = sellout_source(None, simulated, dataset, seed, scale)
    estimator, ref = load_estimator(FORECAST_MODEL, model)
    x_future = read_table(future) if future is not None else known_future
    with progress(f"forecasting {horizon} periods of {source} with {FORECAST_MODEL} v{ref.version}"):
        fitted = estimator.fit(alive(data.df), data.spec)
        fc = fitted.predict(horizon, X_future=x_future)
    fc = fc.assign(model=FORECAST_MODEL, model_version=ref.version)
    write_table(fc, out)
    total = fc.groupby("ds")[["yhat"]].sum().round(0).rename(columns={"yhat": "total yhat"})
    console.print(f"wrote {len(fc):,} rows ({fc['unique_id'].nunique():,} series) to {out}", soft_wrap=True)
    console.print(total.head(horizon).to_string(), soft_wrap=True)
