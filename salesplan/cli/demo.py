"""The end-to-end demo on the simulator: each step prints what it produced, so a new user sees the loop.

Unless ``MLFLOW_TRACKING_URI`` is set, the demo keeps its MLflow store inside its output folder, so it never
touches a team's tracking server or the working folder's ``mlruns.db``."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from rich.rule import Rule
from rich.table import Table

from salesplan.cli._common import console, progress
from salesplan.cli.data import _crm_summary, _sellout_summary, _spend_summary
from salesplan.contracts import validate_crm, validate_sellout, validate_spend
from salesplan.errors import DataNotFoundError
from salesplan.io import find_table, read_crm, read_table


def next_quarter(day: pd.Timestamp) -> str:
    """The quarter after the one holding ``day``, like '2027Q1' (what planners plan in late November)."""
    return str(day.to_period("Q") + 1)


def run_demo(out: Path, seed: int, scale: str) -> None:
    from salesplan.simulator import SimConfig, simulate

    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{(out / 'mlruns.db').resolve()}"
        os.environ.setdefault("SALESPLAN_ARTIFACT_ROOT", str((out / "mlartifacts").resolve()))

    console.print(Rule("1. simulate"))
    with progress(f"simulating a {scale} world (seed {seed})"):
        world = simulate(SimConfig(seed=seed, scale=scale))  # type: ignore[arg-type]
        world.write(out / "data", fmt="parquet")
    console.print(f"wrote the simulated world to {out / 'data'}", soft_wrap=True)

    console.print(Rule("2. validate (read back from disk, as a user's files would be)"))
    spec = world.sellout.spec
    sellout = validate_sellout(read_table(out / "data" / "sellout.parquet"), spec, source="sellout.parquet")
    crm = validate_crm(read_crm(out / "data" / "crm"), source="crm/")
    spend_path = find_table(out / "data", "spend")
    if spend_path is None:
        raise DataNotFoundError(f"{out / 'data'}: the simulator wrote no spend table")
    spend = validate_spend(read_table(spend_path), source=spend_path.name)
    console.print(_sellout_summary(sellout, spec))
    console.print(_crm_summary(crm))
    console.print(_spend_summary(spend))
    console.print("[green]all three data sets meet their contracts[/]")

    quarter = next_quarter(pd.Timestamp(sellout["ds"].max()))
    source = f"simulated-{scale}-seed{seed}"
    _forecast(world, out, source)
    _deals_and_pipeline(crm, quarter, source)
    _funnel(crm, out)


def _forecast(world: object, out: Path, source: str) -> None:
    from salesplan.cli.forecast import print_forecast_training
    from salesplan.simulator import SimulatedWorld
    from training.forecast_job import alive, train_forecast
    from training.forecast_levels import forecast_all_levels

    assert isinstance(world, SimulatedWorld)
    console.print(Rule("3. train the sell-out forecaster (backtest, MLflow, gated against the champion)"))
    with progress("backtesting and training the forecaster"):
        result = train_forecast(world.sellout, h=13, n_origins=3, source=source)
    print_forecast_training(result)
    fc = result.model.predict(13, X_future=world.future)
    levels = forecast_all_levels(fc, result.backtest, world.sellout)
    stamp = {"model": result.ref.name, "model_version": result.ref.version}
    fc.assign(**stamp).to_parquet(out / "forecast.parquet")
    levels.assign(**stamp).to_parquet(out / "forecast_levels.parquet")
    n_live = alive(world.sellout.df)["unique_id"].nunique()
    console.print(
        f"forecast of the next 13 weeks for {n_live} live series → {out / 'forecast.parquet'}; every level "
        f"of the hierarchy by week, month and quarter → {out / 'forecast_levels.parquet'}",
        soft_wrap=True,
    )
    quarters = levels[(levels["freq"] == "Q") & levels["level"].isin(["total", "region"])]
    table = Table(title="quarterly forecast (units; coverage = share of the quarter the 13 weeks reach)")
    for col in ("unit", "quarter", "coverage", "P10", "P50", "P90"):
        table.add_column(col, justify="left" if col in ("unit", "quarter") else "right")
    for _, r in quarters.iterrows():
        table.add_row(
            str(r["unique_id"]),
            str(r["period"]),
            f"{r['coverage']:.0%}",
            f"{r['q10']:,.0f}",
            f"{r['q50']:,.0f}",
            f"{r['q90']:,.0f}",
        )
    console.print(table)


def _deals_and_pipeline(crm: object, quarter: str, source: str) -> None:
    from salesplan.cli.deals import print_deals_training, print_pipeline, score_and_pipeline
    from salesplan.contracts import CRMData
    from training.deals_job import train_deals

    assert isinstance(crm, CRMData)
    console.print(Rule("4. train the deal-win model (tracked in MLflow, gated against the champion)"))
    with progress("training the deal model"):
        result = train_deals(crm, source=source)
    print_deals_training(result)

    console.print(Rule(f"5. score open deals and forecast the weighted pipeline of {quarter}"))
    scores, table = score_and_pipeline(crm, result.scorer, quarter, "region")
    top = scores.sort_values("p_win", ascending=False).head(3)
    for _, r in top.iterrows():
        reasons = "; ".join(map(str, r["reasons"][:2]))
        console.print(
            f"{r['opportunity_id']}: score {r['score']} grade {r['grade']} — {reasons}", soft_wrap=True
        )
    print_pipeline(table, f"weighted pipeline {quarter} by region")


def _funnel(crm: object, out: Path) -> None:
    from planning.funnel import deal_paths, funnel
    from planning.funnel_report import funnel_report
    from planning.productivity import productivity
    from planning.velocity import stalled, velocity
    from salesplan.cli.funnel import funnel_table
    from salesplan.contracts import CRMData

    assert isinstance(crm, CRMData)
    console.print(Rule("6. funnel Find → Meet → Pitch → Sign → Deliver → Operate"))
    paths = deal_paths(crm)
    fun = funnel(paths)
    vel = velocity(paths)
    console.print(funnel_table(fun))
    html = funnel_report(fun, vel, productivity(crm), stalled=stalled(paths))
    (out / "funnel_report.html").write_text(html, encoding="utf-8")
    console.print(f"wrote {out / 'funnel_report.html'}", soft_wrap=True)
