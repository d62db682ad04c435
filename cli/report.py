"""``salesplan report``: one self-contained HTML page of the latest runs — forecast backtest, deal-model
calibration, weighted pipeline, the latest stored target proposal with its fan chart, budget curves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, stages
from salesplan.cli.app import app
from salesplan.errors import ConfigError, ModelNotFoundError, SalesplanError

if TYPE_CHECKING:
    import pandas as pd

    from salesplan.contracts import CRMData


def _sqlite_file(uri: str) -> Path | None:
    """The file behind a ``sqlite:///`` URI (None for other stores)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?")[0]
    return Path(path) if path and path != ":memory:" else None


def planning_data(
    data: Path | None, simulated: bool, seed: int, scale: str
) -> tuple[CRMData | None, pd.DataFrame | None, str]:
    """CRM and spend tables from the simulator or a folder written by ``salesplan simulate`` (``crm/``,
    ``spend.csv``); either may be absent from a folder."""
    if data is not None and simulated:
        raise ConfigError("give at most one planning data source: --simulated or --data FOLDER")
    if simulated:
        from salesplan.cli._sources import check_scale
        from salesplan.simulator import SimConfig, simulate

        check_scale(scale)
        world = simulate(SimConfig(seed=seed, scale=scale))  # type: ignore[arg-type]
        return world.crm, world.spend, f"simulated-{scale}-seed{seed}"
    if data is None:
        return None, None, ""
    from salesplan.contracts import validate_crm, validate_spend
    from salesplan.io import find_table, read_crm, read_table

    if not data.is_dir():
        raise ConfigError(
            f"--data {data}: give a folder holding crm/ and/or spend.csv (as salesplan simulate writes)"
        )
    crm_dir = data / "crm" if (data / "crm").is_dir() else data
    crm = (
        validate_crm(read_crm(crm_dir), source=str(crm_dir)) if find_table(crm_dir, "opportunities") else None
    )
    spend_path = find_table(data, "spend")
    spend = validate_spend(read_table(spend_path), source=spend_path.name) if spend_path else None
    if crm is None and spend is None:
        raise ConfigError(f"--data {data}: no crm/ folder (opportunities, reps) and no spend table in it")
    return crm, spend, data.name


def latest_proposal() -> tuple[tuple[dict[str, Any], pd.DataFrame] | None, str]:
    """The newest stored proposal (header dict, rows frame) from SALESPLAN_DATABASE_URL, or a note why none."""
    from salesplan.cli._plan_io import database_label, proposal_service
    from salesplan.config import get_settings
    from salesplan.serving.db.proposal_frames import rows_to_frame
    from salesplan.serving.proposal_service import ProposalService

    label = database_label()
    db = _sqlite_file(str(get_settings().database_url))
    if db is not None and not db.exists():
        return None, f"no proposal database at {label}: salesplan plan targets --quarter ... stores one"
    try:
        with proposal_service() as service:
            page = service.list(limit=1)
            p = service.get(page.items[0].id) if page.items else None
    except SalesplanError as exc:
        return None, f"proposals not read: {exc}"
    if p is None:
        return None, f"no stored proposal in {label}: salesplan plan targets --quarter ... creates one"
    header = {
        "id": p.id,
        "quarter": p.quarter,
        "method": p.method,
        "status": p.status,
        "version": p.version,
        "author": p.author,
        "created": f"{p.created_at:%Y-%m-%d %H:%M}",
        "note": p.note,
        "parameters": dict(p.parameters),
        "input_models": dict(p.input_models),
    }
    return (header, rows_to_frame(p.rows, ProposalService.parameters(p).months)), ""


@app.command("report")
@clean_errors
def report_cmd(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow store to read (default: MLFLOW_TRACKING_URI or ./mlruns.db).")
    ] = None,
    simulated: SimOpt = False,
    data: Annotated[
        Path | None,
        typer.Option(help="Planning data folder (crm/, spend.csv) for the pipeline and budget curves."),
    ] = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    quarter: Annotated[
        str | None, typer.Option(help="Pipeline quarter, like 2027Q1 (default: the one after the CRM's end).")
    ] = None,
) -> None:
    """Render the latest runs of the MLflow store as one self-contained HTML page."""
    from salesplan.cli._plan_io import crm_end
    from salesplan.models import registry

    if tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    uri = registry.tracking_uri()
    db = _sqlite_file(uri)
    if db is not None and not db.exists():
        from salesplan.cli._report_data import TRAIN_FIRST

        raise ModelNotFoundError(f"no MLflow store at {uri}; {TRAIN_FIRST}")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out {out}: the report is HTML; give a path ending in .html")
    from salesplan.cli._report_data import gather
    from salesplan.cli._report_html import render_run_report

    with stages("building the report") as stage:
        stage("1/5 reading the planning data")
        crm, spend, source = planning_data(data, simulated, seed, scale)
        scores, history, scores_note, period = None, None, "", quarter
        if crm is not None:
            from salesplan.cli._plan_inputs import RegistryInputs

            stage("2/5 loading the deal champion, scoring the open deals")
            inputs = RegistryInputs(crm=crm, quiet_scores=True)
            scores, history = inputs.scores()[0], inputs.history("bookings")
            if scores is None:
                scores_note = (
                    "no deal-win champion to score the open deals: salesplan train deals --simulated"
                )
            period = quarter or str(crm_end(crm).to_period("Q") + 1)
        stage("3/5 reading the latest proposal")
        proposal, proposal_note = latest_proposal()
        stage("4/5 reading the runs, fitting the budget curves")
        data_ = gather(
            crm=crm,
            scores=scores,
            scores_note=scores_note,
            spend=spend,
            spend_source=source,
            period=period,
            proposal=proposal,
            proposal_note=proposal_note,
            bookings_history=history,
        )
        stage("5/5 rendering the HTML")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_run_report(data_), encoding="utf-8")
    shown = {
        "forecast": data_.forecast is not None,
        "deals": data_.deals is not None,
        "pipeline": data_.pipeline is not None,
        "proposal": data_.proposal is not None,
        "budget": data_.budget is not None,
    }
    console.print(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) from {uri}: "
        + ", ".join(f"{k} {'✓' if v else '–'}" for k, v in shown.items()),
        soft_wrap=True,
    )
    for section, note in data_.notes.items():
        console.print(f"  {section}: {note}", soft_wrap=True, highlight=False)
