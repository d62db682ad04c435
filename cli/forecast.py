"""``salesplan train forecast``, ``salesplan backtest forecast`` and ``salesplan forecast``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, progress, stages
from salesplan.cli._engine import (
    EngineOpt,
    MaxSeriesOpt,
    PartitionOpt,
    SchedulerOpt,
    WorkersOpt,
    scale_out_of,
)
from salesplan.cli._forecast_batch import (
    batch_notes,
    batch_or_none,
    parse_freqs,
    run_params,
    slice_batch,
    training_backtest,
)
from salesplan.cli._sources import (
    ExogOpt,
    FileOpt,
    HierarchyOpt,
    PromoOpt,
    StaticOpt,
    file_spec,
    sellout_source,
)
from salesplan.cli.app import app, backtest_app, train_app
from salesplan.contracts import FREQS, PERIOD_NAMES, SelloutSpec
from salesplan.errors import ConfigError

if TYPE_CHECKING:
    from salesplan.training.forecast_job import ForecastTraining

DatasetOpt = Annotated[str | None, typer.Option(help="A real sell-out set: walmart, dominicks, avocado, ...")]
HorizonOpt = Annotated[
    int | None,
    typer.Option(
        "--horizon",
        "--h",
        help="Periods ahead (default per frequency: 91 days, 13 weeks, 3 months, 8 quarters, 3 years).",
    ),
]
OriginsOpt = Annotated[int, typer.Option(help="Rolling origins of the backtest.")]
SeasonOpt = Annotated[
    int | None,
    typer.Option(
        help="Season length (default per frequency: 7 daily, 52 weekly, 12 monthly, 4 quarterly, 1 yearly)."
    ),
]
DataFreqOpt = Annotated[
    str,
    typer.Option(
        "--freq", help="Frequency of the sell-out: D, W, M, Q or Y (of --data, or of the --simulated world)."
    ),
]


def _season(spec: SelloutSpec, season: int | None) -> int:
    if season is not None and season < 1:
        raise ConfigError(f"--season must be >= 1, got {season}")
    return season if season is not None else spec.season


def _horizon(freq: str, horizon: int | None) -> int:
    from salesplan.contracts import DEFAULT_HORIZON

    if horizon is not None and horizon < 1:
        raise ConfigError(f"--horizon must be >= 1, got {horizon}")
    return horizon if horizon is not None else DEFAULT_HORIZON[freq]


def metrics_table(title: str, rows: Mapping[str, Mapping[str, float]]) -> Table:
    caption = (
        "bias = Σ(forecast − actual) / Σ|actual| of the point forecast as backtested, before the batch's "
        "mean correction: below 0, forecasts under actuals"
    )
    t = Table(title=title, caption=caption)
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
        chosen = getattr(base, "weight_level_", None)
        losses = getattr(base, "weight_level_losses_", {}) or {}
        how = (
            f" ({chosen} weights: lowest cross-fitted backtest loss of "
            + ", ".join(f"{k} {v:.3f}" for k, v in losses.items())
            + ")"
            if chosen is not None and len(losses) > 1
            else ""
        )
        console.print(f"blend weights: {base.weights.round(2).to_dict()}{how}", soft_wrap=True)
    console.print(f"gate: {result.decision.reason}", soft_wrap=True)
    freqs = "/".join(result.batch.info["freqs"]) if result.batch is not None else "–"
    console.print(f"batch forecast (all levels, {freqs}): {result.batch_status}", soft_wrap=True)
    if result.batch is not None:
        for line in batch_notes(result.batch.info):
            console.print(f"  {line}", soft_wrap=True)


@train_app.command("forecast")
@clean_errors
def train_forecast_cmd(
    data_file: FileOpt = None,
    simulated: SimOpt = False,
    dataset: DatasetOpt = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    freq: DataFreqOpt = "W",
    hierarchy: HierarchyOpt = None,
    promo_cols: PromoOpt = None,
    exog_cols: ExogOpt = None,
    static_cols: StaticOpt = None,
    horizon: HorizonOpt = None,
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
    spec = file_spec(data_file, freq, hierarchy, promo_cols, exog_cols, static_cols, season)
    data, source, known_future = sellout_source(data_file, simulated, dataset, seed, scale, freq, spec)
    params = {"season_length": _season(data.spec, season), "freq": data.spec.freq, "n_jobs": n_jobs}
    with stages(f"training the forecaster on {source}") as stage:
        result = train_forecast(
            data,
            h=_horizon(data.spec.freq, horizon),
            n_origins=origins,
            params=params,
            source=source,
            future=known_future,
            scale=scale_out,
            on_stage=stage,
        )
    print_forecast_training(result)


@backtest_app.command("forecast")
@clean_errors
def backtest_forecast_cmd(
    data_file: FileOpt = None,
    simulated: SimOpt = False,
    dataset: DatasetOpt = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    freq: DataFreqOpt = "W",
    hierarchy: HierarchyOpt = None,
    promo_cols: PromoOpt = None,
    exog_cols: ExogOpt = None,
    static_cols: StaticOpt = None,
    horizon: HorizonOpt = None,
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
    spec = file_spec(data_file, freq, hierarchy, promo_cols, exog_cols, static_cols, season)
    data, source, _ = sellout_source(data_file, simulated, dataset, seed, scale, freq, spec)
    s = _season(data.spec, season)
    h = _horizon(data.spec.freq, horizon)
    with progress(f"backtesting on {source}"):
        model = partitioned(SalesplanForecaster(season_length=s, freq=data.spec.freq), scale_out)
        bt = run_backtest(data, model, h, origins, s)
    rows: dict[str, Mapping[str, float]] = {
        str(r["cutoff"].date()): {str(k): v for k, v in r.items()}
        for _, r in bt.metrics(by="cutoff").iterrows()
    }
    overall = bt.metrics().iloc[0]
    rows["overall"] = {k: float(overall[k]) for k in METRICS if k in overall.index}
    console.print(metrics_table(f"backtest on {source}: h={h} {PERIOD_NAMES[data.spec.freq]}s", rows))
    if out is not None:
        write_table(bt.forecasts, out)


forecast_app = typer.Typer(invoke_without_command=True)  # help: the docstring of forecast_cmd
app.add_typer(forecast_app, name="forecast")


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


@forecast_app.callback(invoke_without_command=True)
@clean_errors
def forecast_cmd(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="Where to write the forecast (.csv/.parquet).")] = None,
    data_file: FileOpt = None,
    hierarchy: Annotated[
        str | None,
        typer.Option(help="Hierarchy of --data (default: the one the model was trained with, if any)."),
    ] = None,
    promo_cols: PromoOpt = None,
    exog_cols: ExogOpt = None,
    static_cols: StaticOpt = None,
    simulated: SimOpt = False,
    dataset: DatasetOpt = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    horizon: HorizonOpt = None,
    model: Annotated[str, typer.Option(help="Registry alias or version of salesplan-forecast.")] = "champion",
    freq: Annotated[
        str | None,
        typer.Option(
            help="Comma list of D, W, M, Q, Y to write (default: every frequency the forecast has)."
        ),
    ] = None,
    level: Annotated[
        str | None, typer.Option(help="Comma list of levels (e.g. total,region,store/product); default all.")
    ] = None,
    future: Annotated[
        Path | None, typer.Option(help="Future regressors (unique_id, ds, price, promo...) when refitting.")
    ] = None,
) -> None:
    """Forecast every hierarchy level at the data's frequency and each coarser one (e.g. weeks, calendar
    months, quarters, years) with quantiles q05..q95 around the mean (``yhat``); the what-if sub-command
    runs price/promotion scenarios.

    Without a data source the model's batch forecast (logged by its training run, to the end of the next
    quarter) is written whole, or sliced to --h periods; coarser periods are the ones those periods touch,
    as the batch holds them (``coverage`` < 1 = partly forecast). With --data/--simulated/--dataset the batch is
    used when the data is the one the model was trained on and --h fits in it; otherwise the model is refit on
    that data and every level's quantiles are calibrated on the training run's backtest. A --data file is read
    at the model's frequency, with its hierarchy unless --hierarchy says otherwise."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise ConfigError("--out is required: where to write the forecast (.csv or .parquet)")
    from salesplan.io import read_table, write_table
    from salesplan.models.registry import FORECAST_MODEL, load_forecaster
    from salesplan.training.batch_outputs import build_batch
    from salesplan.training.forecast_job import alive, fingerprint

    has_source = bool(data_file or simulated or dataset)
    with progress(f"loading the batch forecast of {FORECAST_MODEL}@{model}"):
        batch = batch_or_none(model, need_batch=not has_source)
    base = str(batch.info.get("freq", "W")) if batch is not None else "W"
    n_batch = int(batch.info.get("horizon", batch.info.get("horizon_weeks", 0))) if batch is not None else 0
    if freq is not None:
        parse_freqs(freq, list(FREQS))  # a typo fails before anything is refit
    data = source = known_future = None
    if has_source:
        if (
            data_file is not None
            and hierarchy is None
            and batch is not None
            and batch.info.get("hierarchy_given")
        ):
            hierarchy = ";".join(f"{k}={','.join(v)}" for k, v in batch.info["hierarchy"].items())
        spec = file_spec(data_file, base, hierarchy, promo_cols, exog_cols, static_cols, None)
        data, source, known_future = sellout_source(data_file, simulated, dataset, seed, scale, base, spec)
        base = data.spec.freq
    # reading the batch: all of it unless --h says less; refitting: the frequency's default unless --h
    reading = horizon is None and batch is not None and not has_source
    h = n_batch if reading else _horizon(base, horizon)
    if batch is not None and h > n_batch and not has_source:
        last = batch.info.get("last_period", batch.info.get("last_week"))
        raise ConfigError(
            f"the batch forecast of {FORECAST_MODEL} v{batch.ref.version} covers {n_batch} "
            f"{PERIOD_NAMES[base]}s (to {last}); for --h {h} give the data (--data, --simulated or --dataset) so the "
            "model is refit and forecast further"
        )
    use_batch = batch is not None and h <= n_batch
    if batch is not None and use_batch and data is not None:
        use_batch = run_params(batch.ref.run_id).get("data_fingerprint") == fingerprint(data.df)
    if batch is not None and use_batch:
        fc, how, version = (
            slice_batch(batch.forecast, h, base),
            f"batch of run {batch.ref.run_id[:8]}",
            batch.ref.version,
        )
    else:
        assert data is not None
        estimator, ref = load_forecaster(batch.ref.version if batch is not None else model)
        bt = training_backtest(ref.run_id)
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
        unit = PERIOD_NAMES[base]
        with progress(f"refitting {FORECAST_MODEL} v{ref.version} on {source}, forecasting {h} {unit}s"):
            fitted = estimator.fit(live, data.spec)
            built = build_batch(fitted, bt, data, h=h, future=x_future, series=series, periods=h)
        fc, how, version = built.forecast, f"refit on {source}", ref.version
    freqs = parse_freqs(freq, [f for f in FREQS if f in set(fc["freq"])])
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
        f"({FORECAST_MODEL} v{version}); yhat is the mean, q50 the median",
        soft_wrap=True,
    )
    top = fc[fc["level"] == "total"]
    coarse = top[top["freq"] != base] if (top["freq"] != base).any() else top
    if len(coarse):
        show = coarse[["freq", "period", "yhat", "q10", "q50", "q90", "coverage"]].copy()
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
