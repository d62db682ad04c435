"""The end-to-end demo on the simulator: each step prints what it produced, so a new user sees the loop.

Unless ``MLFLOW_TRACKING_URI`` is set, the demo keeps its MLflow store inside its output folder, so it never
touches a team's tracking server or the working folder's ``mlruns.db``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.rule import Rule
from rich.table import Table

from salesplan.cli._common import console, progress, stages
from salesplan.cli._demo_serve import serve_demo
from salesplan.cli.data import crm_summary, sellout_summary, spend_summary
from salesplan.contracts import CRMData, validate_crm, validate_sellout, validate_spend
from salesplan.errors import DataNotFoundError
from salesplan.io import find_table, read_crm, read_table

if TYPE_CHECKING:
    from salesplan.simulator import SimulatedWorld


def run_demo(out: Path, seed: int, scale: str) -> None:
    from salesplan.cli._demo_selection import demo_selection
    from salesplan.cli._demo_track import demo_tracking
    from salesplan.cli.workspace import install_workspace, workspace_values
    from salesplan.config import get_settings
    from salesplan.planning.pipeline import next_quarter
    from salesplan.simulator import SimConfig, simulate
    from salesplan.training.batch_outputs import batch_weeks

    out.mkdir(parents=True, exist_ok=True)
    # the demo's folder is a workspace: its settings file (and ./salesplan.env if none exists here) lets
    # every later command find these stores without exports; written before the environment changes below
    workspace = install_workspace(out, "written by 'salesplan demo'")
    ws = workspace_values(out)
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = ws["SALESPLAN_TRACKING_URI"]
        os.environ.setdefault("SALESPLAN_ARTIFACT_ROOT", ws["SALESPLAN_ARTIFACT_ROOT"])
    if not os.environ.get("SALESPLAN_DATABASE_URL"):  # proposals too stay in the demo's folder
        os.environ["SALESPLAN_DATABASE_URL"] = ws["SALESPLAN_DATABASE_URL"]
    os.environ.setdefault("SALESPLAN_TRACK_RECORD_DIR", ws["SALESPLAN_TRACK_RECORD_DIR"])
    get_settings.cache_clear()
    from salesplan.cli.db import upgrade_cmd

    upgrade_cmd()  # what 'salesplan db upgrade' does: the only step that creates or migrates the database

    console.print(Rule("1. simulate"))
    # planned prices and promotions through the end of the next quarter, so its targets rest on no assumption
    horizon = batch_weeks(SimConfig().end_ts, 13)
    with progress(f"simulating a {scale} world (seed {seed})"):
        world = simulate(SimConfig(seed=seed, scale=scale, horizon=horizon))  # type: ignore[arg-type]
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
    console.print(sellout_summary(sellout, spec))
    console.print(crm_summary(crm))
    console.print(spend_summary(spend))
    console.print("[green]all three data sets meet their contracts[/]")

    quarter = next_quarter(pd.Timestamp(sellout["ds"].max()))
    source = f"simulated-{scale}-seed{seed}"
    _forecast(world, out, source)
    demo_selection(out)
    _deals_and_pipeline(crm, quarter, source)
    _funnel(crm, out)
    _process(out)
    _targets(crm, quarter, out)
    _track_record(crm, source)
    demo_tracking(world, quarter)
    serve_demo(out, crm, spend, quarter)
    console.print(Rule("10. your workspace"))
    workspace.report()
    console.print(
        "try: salesplan status, salesplan plan list, salesplan serve (README, 'Command line')", soft_wrap=True
    )


def _forecast(world: SimulatedWorld, out: Path, source: str) -> None:
    from salesplan.cli.forecast import print_forecast_training
    from salesplan.training.forecast_job import alive, train_forecast

    console.print(Rule("3. train the sell-out forecaster (backtest, MLflow, gated against the champion)"))
    with stages("training the forecaster") as stage:
        result = train_forecast(
            world.sellout, h=13, n_origins=3, source=source, future=world.future, on_stage=stage
        )
    print_forecast_training(result)
    if result.batch is None:
        raise DataNotFoundError(f"the forecast job logged no batch forecast: {result.batch_status}")
    levels = result.batch.forecast
    stamp = {"model": result.ref.name, "model_version": result.ref.version}
    bottom = levels[(levels["freq"] == "W") & (levels["level"] == result.batch.info["levels"][-1])]
    bottom.assign(**stamp).to_parquet(out / "forecast.parquet")
    levels.assign(**stamp).to_parquet(out / "forecast_levels.parquet")
    n_live = alive(world.sellout.df)["unique_id"].nunique()
    weeks = result.batch.info["horizon_weeks"]
    console.print(
        f"forecast of the next {weeks} weeks for {n_live} live series → {out / 'forecast.parquet'}; every "
        f"level of the hierarchy by week, month, quarter and year → {out / 'forecast_levels.parquet'} (also logged "
        "with the model as its batch forecast)",
        soft_wrap=True,
    )
    quarters = levels[(levels["freq"] == "Q") & levels["level"].isin(["total", "region"])]
    table = Table(
        title=f"quarterly forecast (units; coverage = share of the quarter the {weeks} weeks reach)",
        caption="mean = the point forecast (regions add up to the total); P10/P50/P90 of the same distribution",
    )
    for col in ("unit", "quarter", "coverage", "P10", "mean", "P50", "P90"):
        table.add_column(col, justify="left" if col in ("unit", "quarter") else "right")
    for _, r in quarters.iterrows():
        table.add_row(
            str(r["unique_id"]),
            str(r["period"]),
            f"{r['coverage']:.0%}",
            f"{r['q10']:,.0f}",
            f"{r['yhat']:,.0f}",
            f"{r['q50']:,.0f}",
            f"{r['q90']:,.0f}",
        )
    console.print(table)


def _deals_and_pipeline(crm: CRMData, quarter: str, source: str) -> None:
    from salesplan.cli.deals import print_deals_training, print_pipeline, score_and_pipeline
    from salesplan.training.deals_job import train_deals

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


def _funnel(crm: CRMData, out: Path) -> None:
    from salesplan.cli.funnel import funnel_table
    from salesplan.planning.funnel import deal_paths, funnel, productivity, stalled, velocity
    from salesplan.planning.reports import funnel_report

    console.print(Rule("6. funnel Find → Meet → Pitch → Sign → Deliver → Operate"))
    paths = deal_paths(crm)
    fun = funnel(paths)
    vel = velocity(paths)
    console.print(funnel_table(fun))
    html = funnel_report(fun, vel, productivity(crm), stalled=stalled(paths))
    (out / "funnel_report.html").write_text(html, encoding="utf-8")
    console.print(f"wrote {out / 'funnel_report.html'}", soft_wrap=True)


def _process(out: Path) -> None:
    from salesplan.cli.process import allocation_table, load_workbench, print_inefficiencies
    from salesplan.planning.process import process_report

    console.print(Rule("6b. sales process: time by role, stage and location; inefficiencies; scorecards"))
    with progress("reading the activities back and analysing them"):
        wb = load_workbench(out / "data", simulated=False)
        html = process_report(wb.funnel, wb.allocation, wb.inefficiencies, wb.cadence, wb.scorecards)
    console.print(allocation_table(wb))
    console.print("[bold]top three inefficiencies[/] (hours that could be saved, with the evidence):")
    print_inefficiencies(wb, top=3)
    (out / "process_report.html").write_text(html, encoding="utf-8")
    console.print(f"wrote {out / 'process_report.html'}", soft_wrap=True)


def _track_record(crm: CRMData, source: str) -> None:
    from salesplan.cli._plan_backtest import LEVELS, bookings_track_record, print_track_record
    from salesplan.cli._plan_io import crm_end
    from salesplan.planning.proposals import ProposalRequest
    from salesplan.serving.settings import ServingSettings
    from salesplan.serving.track_record import TrackRecordService, past_quarters

    console.print(
        Rule("8. track record: the last 4 quarters planned again as of their first day, then scored")
    )
    qs = past_quarters(crm_end(crm), 4)
    _, payload = bookings_track_record(crm, source, ProposalRequest(quarter=qs[-1], by=LEVELS), qs)
    print_track_record(payload, 0.6)
    service = TrackRecordService(ServingSettings().track_record_dir)
    console.print(f"stored for the API and the page: {service.save(payload)}", soft_wrap=True)


def _targets(crm: CRMData, quarter: str, out: Path) -> None:
    from salesplan.cli.plan import make_request, propose

    console.print(Rule(f"7. propose the targets of {quarter} (stored as drafts for review)"))
    for by in (("region", "team", "rep"), ("region", "store")):
        what = (
            "bookings (won value) from the CRM and deal scores"
            if "rep" in by
            else "sell-out units from the batch forecast"
        )
        console.print(f"[bold]by {' → '.join(by)}[/]: {what}", soft_wrap=True)
        request = make_request(
            quarter=quarter, by=by, probability=0.6, method="blended", mode="probability", over_assignment=0.0
        )
        propose(request, out=out, author="demo", crm=crm if "rep" in by else None)
