"""``salesplan train forecast``, ``salesplan backtest forecast`` and ``salesplan forecast``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, progress
from salesplan.cli._engine import (
    EngineOpt,
    MaxSeriesOpt,
    PartitionOpt,
    SchedulerOpt,
    WorkersOpt,
    scale_out_of,
)
from salesplan.cli._sources import sellout_source
from salesplan.cli.app import app, backtest_app, train_app
from salesplan.errors import ConfigError

if TYPE_CHECKING:
    from salesplan.models.batch import BatchForecast
    from salesplan.training.backtest import BacktestResult
    from salesplan.training.forecast_job import ForecastTraining

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


def print_forecast_training(result: ForecastTraining) -> None:
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
    console.print(f"batch forecast (all levels, W/M/Q): {result.batch_status}", soft_wrap=True)
    if result.batch is not None and result.batch.info["assumed_weeks"]:
        info = result.batch.info
        console.print(
            f"  {info['assumed_weeks']} of {info['horizon_weeks']} weeks had no planned regressors: "
            f"{info['future_assumption']}",
            soft_wrap=True,
        )


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
    engine: EngineOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    partition_by: PartitionOpt = None,
    max_series: MaxSeriesOpt = None,
) -> None:
    """Backtest the default forecaster, log it to MLflow and make it champion only if it beats the champion."""
    from salesplan.training.forecast_job import train_forecast

    scale_out = scale_out_of(engine, workers, scheduler, partition_by, max_series)
    data, source, known_future = sellout_source(None, simulated, dataset, seed, scale)
    params = {"season_length": _season(data.spec.freq, season), "freq": data.spec.freq, "n_jobs": n_jobs}
    with progress(f"backtesting and training the forecaster on {source}"):
        result = train_forecast(
            data,
            h=horizon,
            n_origins=origins,
            params=params,
            source=source,
            future=known_future,
            scale=scale_out,
        )
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
    engine: EngineOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    partition_by: PartitionOpt = None,
    max_series: MaxSeriesOpt = None,
) -> None:
    """Rolling-origin backtest of the default forecaster (nothing is registered)."""
    from salesplan.io import write_table
    from salesplan.models.forecast import SalesplanForecaster, partitioned
    from salesplan.training.forecast_job import METRICS, run_backtest

    scale_out = scale_out_of(engine, workers, scheduler, partition_by, max_series)
    data, source, _ = sellout_source(None, simulated, dataset, seed, scale)
    s = _season(data.spec.freq, season)
    with progress(f"backtesting on {source}"):
        model = partitioned(SalesplanForecaster(season_length=s, freq=data.spec.freq), scale_out)
        bt = run_backtest(data, model, horizon, origins, s)
    rows: dict[str, Mapping[str, float]] = {
        str(r["cutoff"].date()): {str(k): v for k, v in r.items()}
        for _, r in bt.metrics(by="cutoff").iterrows()
    }
    overall = bt.metrics().iloc[0]
    rows["overall"] = {k: float(overall[k]) for k in METRICS if k in overall.index}
    console.print(metrics_table(f"backtest on {source}: h={horizon}", rows))
    if out is not None:
        write_table(bt.forecasts, out)


forecast_app = typer.Typer(invoke_without_command=True)  # help: the docstring of forecast_cmd
app.add_typer(forecast_app, name="forecast")


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _freqs(text: str) -> list[str]:
    freqs = [f.upper() for f in _split(text)]
    bad = [f for f in freqs if f not in ("W", "M", "Q")]
    if bad or not freqs:
        raise ConfigError(f"--freq takes a comma list of W, M, Q (weeks, months, quarters), got {text!r}")
    return list(dict.fromkeys(freqs))


def _batch_or_none(model: str, need_batch: bool) -> BatchForecast | None:
    """The model's batch outputs; None (refit instead) when a data source is given and the run has none."""
    from salesplan.errors import ModelNotFoundError
    from salesplan.models.batch import load_batch

    try:
        return load_batch(alias=model)
    except ModelNotFoundError as exc:
        if need_batch or "no batch" not in str(exc):
            raise
        return None


def _run_params(run_id: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    from salesplan.models.registry import tracking_uri

    return dict(MlflowClient(tracking_uri()).get_run(run_id).data.params)


def _training_backtest(run_id: str) -> BacktestResult:
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
    return BacktestResult(
        rows, [pd.Timestamp(c) for c in cutoffs], int(rows["step"].max()), 0, 52, "champion"
    )


def _slice_batch(fc: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The first ``horizon`` weeks of a batch frame, with the months and quarters those weeks touch."""
    week = fc[fc["freq"] == "W"]
    last = pd.Timestamp(week["ds"].min()) + pd.Timedelta(weeks=horizon - 1)
    days = pd.Series(sorted(week.loc[week["ds"] <= last, "ds"].unique()))
    keep = ((fc["freq"] == "W") & (fc["ds"] <= last)).to_numpy()
    for f in ("M", "Q"):
        touched = set(days.dt.to_period(f).astype(str)) | set(
            (days + pd.Timedelta(days=6)).dt.to_period(f).astype(str)
        )
        keep |= ((fc["freq"] == f) & fc["period"].isin(touched)).to_numpy()
    return fc[keep]


@forecast_app.callback(invoke_without_command=True)
@clean_errors
def forecast_cmd(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="Where to write the forecast (.csv/.parquet).")] = None,
    simulated: SimOpt = False,
    dataset: DatasetOpt = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    horizon: HorizonOpt = 13,
    model: Annotated[str, typer.Option(help="Registry alias or version of salesplan-forecast.")] = "champion",
    freq: Annotated[str, typer.Option(help="Comma list of W (weeks), M (months), Q (quarters).")] = "W,M,Q",
    level: Annotated[
        str | None, typer.Option(help="Comma list of levels (e.g. total,region,store/product); default all.")
    ] = None,
    future: Annotated[
        Path | None, typer.Option(help="Future regressors (unique_id, ds, price, promo...) when refitting.")
    ] = None,
) -> None:
    """Forecast every hierarchy level (weeks, calendar months, quarters) with quantiles q05..q95; the
    what-if sub-command runs price/promotion scenarios.

    Without a data source the model's batch forecast (logged by its training run, to the end of the next
    quarter) is sliced to --h weeks; months and quarters are the calendar periods those weeks touch, as the
    batch holds them (``coverage`` < 1 = partly forecast). With --simulated/--dataset the batch is used
    when the data is the one the model was trained on and --h fits in it; otherwise the model is refit on
    that data and every level's quantiles are calibrated on the training run's backtest."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise ConfigError("--out is required: where to write the forecast (.csv or .parquet)")
    if horizon < 1:
        raise ConfigError(f"--horizon must be >= 1, got {horizon}")
    freqs = _freqs(freq)
    from salesplan.io import read_table, write_table
    from salesplan.models.registry import FORECAST_MODEL, load_forecaster
    from salesplan.training.batch_outputs import build_batch
    from salesplan.training.forecast_job import alive, fingerprint

    has_source = bool(simulated or dataset)
    with progress(f"loading the batch forecast of {FORECAST_MODEL}@{model}"):
        batch = _batch_or_none(model, need_batch=not has_source)
    weeks = int(batch.info.get("horizon_weeks", 0)) if batch is not None else 0
    if batch is not None and horizon > weeks and not has_source:
        raise ConfigError(
            f"the batch forecast of {FORECAST_MODEL} v{batch.ref.version} covers {weeks} weeks (to "
            f"{batch.info.get('last_week')}); for --h {horizon} give the data (--simulated or --dataset) "
            "so the model is refit and forecast further"
        )
    data = source = known_future = None
    if has_source:
        data, source, known_future = sellout_source(None, simulated, dataset, seed, scale)
    use_batch = batch is not None and horizon <= weeks
    if batch is not None and use_batch and data is not None:
        use_batch = _run_params(batch.ref.run_id).get("data_fingerprint") == fingerprint(data.df)
    if batch is not None and use_batch:
        fc, how, version = (
            _slice_batch(batch.forecast, horizon),
            f"batch of run {batch.ref.run_id[:8]}",
            batch.ref.version,
        )
    else:
        assert data is not None
        estimator, ref = load_forecaster(batch.ref.version if batch is not None else model)
        bt = _training_backtest(ref.run_id)
        ids = set(data.df["unique_id"].astype(str))
        if not ids & set(bt.forecasts["unique_id"].astype(str)):
            raise ConfigError(
                f"{FORECAST_MODEL} v{ref.version} was trained on other data (source "
                f"{ref.tags.get('source', '?')}); its backtest cannot calibrate {source}. Fix: train on "
                "this data first (salesplan train forecast ...)"
            )
        x_future = read_table(future) if future is not None else known_future
        live = alive(data.df)
        series = sorted(live["unique_id"].astype(str).unique())
        with progress(f"refitting {FORECAST_MODEL} v{ref.version} on {source}, forecasting {horizon} weeks"):
            fitted = estimator.fit(live, data.spec)
            built = build_batch(fitted, bt, data, h=horizon, future=x_future, series=series, weeks=horizon)
        fc, how, version = built.forecast, f"refit on {source}", ref.version
    fc = fc[fc["freq"].isin(freqs)]
    levels = _split(level)
    if levels:
        unknown = sorted(set(levels) - set(fc["level"]))
        if unknown:
            raise ConfigError(f"unknown --level {unknown}; choose from {list(dict.fromkeys(fc['level']))}")
        fc = fc[fc["level"].isin(levels)]
    fc = fc.assign(model=FORECAST_MODEL, model_version=str(version)).reset_index(drop=True)
    write_table(fc, out)
    n_levels = fc["level"].nunique()
    console.print(
        f"wrote {len(fc):,} rows ({n_levels} levels, freqs {','.join(freqs)}) to {out} from the {how} "
        f"({FORECAST_MODEL} v{version})",
        soft_wrap=True,
    )
    top = fc[fc["level"] == "total"]
    if len(top):
        show = top[["freq", "period", "yhat", "q10", "q50", "q90", "coverage"]].copy()
        console.print(show.round(1).to_string(index=False), soft_wrap=True)


def _date(text: str, name: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text).normalize()
    except (ValueError, TypeError):
        raise ConfigError(f"{name} {text!r} is not a date; use ISO like 2026-12-07") from None


@forecast_app.command("what-if")
@clean_errors
def what_if_cmd(
    ids: Annotated[str, typer.Option(help="Comma list of bottom series, e.g. S01/P001,S01/P002.")],
    start: Annotated[str, typer.Option(help="First day of the scenario (its week is included).")],
    end: Annotated[str, typer.Option(help="Last day of the scenario (its week is included).")],
    price_change: Annotated[
        float | None, typer.Option(help="Price change in percent, e.g. -10 for a 10 % cut.")
    ] = None,
    price: Annotated[float | None, typer.Option(help="Absolute price in those weeks.")] = None,
    promo: Annotated[
        int | None, typer.Option(help="1: put the weeks on promotion; 0: take promotions off.")
    ] = None,
    promo_depth: Annotated[
        float | None, typer.Option(help="Price cut of the promotion as a share, e.g. 0.2 (with --promo 1).")
    ] = None,
    model: Annotated[str, typer.Option(help="Registry alias or version of salesplan-forecast.")] = "champion",
    future: Annotated[
        Path | None,
        typer.Option(help="Planned regressors to start from (default: the model's batch future)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the weekly rows (.csv/.parquet).")] = None,
) -> None:
    """Baseline vs scenario forecast of some series under a price or promotion change, with their siblings
    (same category and store, or promotion group): the same ``models.forecast.what_if`` as the API."""
    from salesplan.io import read_table, write_table
    from salesplan.models.batch import load_batch
    from salesplan.models.forecast.whatif import Scenario, lift_pct, what_if
    from salesplan.models.registry import FORECAST_MODEL, load_forecaster

    sc = Scenario(
        ids=tuple(_split(ids)),
        start=_date(start, "--start"),
        end=_date(end, "--end"),
        price_change=price_change / 100.0 if price_change is not None else None,
        price=price,
        promo=promo,
        promo_depth=promo_depth,
    )  # checks the options first, before anything is downloaded
    with progress(f"loading {FORECAST_MODEL}@{model} and its planned future"):
        batch = load_batch(alias=model)
        estimator, ref = load_forecaster(batch.ref.version)
    x = read_table(future) if future is not None else batch.future
    if x is None:
        raise ConfigError(
            f"{FORECAST_MODEL} v{ref.version} has no stored future regressors; pass --future PATH "
            "(unique_id, ds, price, promo, ...)"
        )
    with progress("forecasting baseline and scenario"):
        res = what_if(estimator, x, sc, batch.info.get("hierarchy"))
    t = Table(
        title=f"what-if {sc.start.date()}..{sc.end.date()} ({len(res.weeks)} weeks) with "
        f"{FORECAST_MODEL} v{ref.version}",
        caption="sibling: same category and store or promotion group; its change is the learned cannibalisation",
    )
    for c in ("series", "role", "baseline", "scenario", "diff", "lift %"):
        t.add_column(c, justify="left" if c in ("series", "role") else "right", no_wrap=True)
    for _, r in res.summary.iterrows():
        role = "changed" if r["changed"] else "sibling"
        lift = f"{r['lift_pct']:+.1f}" if pd.notna(r["lift_pct"]) else "–"
        t.add_row(
            str(r["unique_id"]),
            role,
            f"{r['baseline']:.1f}",
            f"{r['scenario']:.1f}",
            f"{r['diff']:+.1f}",
            lift,
        )
    for flag, name in ((True, "all changed"), (False, "all siblings")):
        if (res.summary["changed"] == flag).any():
            b, s_ = res.totals(changed=flag)
            pct = lift_pct(b, s_)
            lift = f"{pct:+.1f}" if pct is not None else "–"
            t.add_row(f"[bold]{name}[/]", "total", f"{b:.1f}", f"{s_:.1f}", f"{s_ - b:+.1f}", lift)
    console.print(t)
    if out is not None:
        write_table(res.rows.assign(model=FORECAST_MODEL, model_version=ref.version), out)
        console.print(f"wrote {len(res.rows):,} weekly rows to {out}", soft_wrap=True)
