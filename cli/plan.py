"""``salesplan plan``: propose quarterly targets (stored as drafts), review, approve, override; split a
marketing budget over channels from fitted response curves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, progress
from salesplan.cli._plan_io import (
    database_label,
    default_author,
    log_to_project_run,
    pairs,
    print_rows,
    proposal_service,
)
from salesplan.cli.app import app
from salesplan.errors import ConfigError

if TYPE_CHECKING:
    from salesplan.contracts import CRMData
    from salesplan.planning.proposals import ProposalRequest, ProposalResult
    from salesplan.serving.db.records import ProposalRowData, StoredProposal

plan_app = typer.Typer(
    help="Quarterly targets (propose, list, show, approve, reject, override) and budget splits.",
    no_args_is_help=True,
)
app.add_typer(plan_app, name="plan")

DataOpt = Annotated[
    Path | None, typer.Option(help="A CRM folder (bookings) or a spend table/folder (budget).")
]
OutOpt = Annotated[Path, typer.Option(help="Folder for the CSV and the HTML report.")]
ModelOpt = Annotated[str, typer.Option(help="Registry alias or version of the models used.")]
AuthorOpt = Annotated[str | None, typer.Option("--by", "--author", help="Who does this (default: $USER).")]
# The request's field names as this CLI spells them, for error messages.
FLAGS = {
    "quarter": "--quarter", "by": "--by", "mode": "--mode", "probability": "--probability",
    "growth": "--growth", "value": "--value", "method": "--method", "over_assignment": "--over-assignment",
    "max_change": "--max-change", "floors": "--floor", "caps": "--cap",
}  # fmt: skip


@dataclass(frozen=True)
class Proposed:
    """A built proposal, its stored form (None with --no-save) and where it was written."""

    result: ProposalResult
    stored: StoredProposal | None
    csv: Path
    html: Path


def parse_by(by: str) -> tuple[str, ...]:
    levels = tuple(v.strip() for v in by.split(",") if v.strip())
    if not levels:
        raise ConfigError("--by needs at least one level, e.g. --by region,team,rep or --by region,store")
    if len(set(levels)) != len(levels):
        raise ConfigError(f"--by names a level twice: {by!r}")
    return levels


def make_request(**kw: Any) -> ProposalRequest:
    """The ``ProposalRequest`` (the one definition of every parameter's domain, shared with the API), with
    its errors in the CLI's own words (``--max-change`` rather than ``max_change``)."""
    from pydantic import ValidationError

    from salesplan.planning.proposals import ProposalRequest, explain

    try:
        return ProposalRequest(**kw)
    except ValidationError as exc:
        raise ConfigError(explain(exc, FLAGS)) from None


def propose(
    request: ProposalRequest,
    *,
    out: Path,
    author: str,
    save: bool = True,
    note: str | None = None,
    crm: CRMData | None = None,
    model: str = "champion",
) -> Proposed:
    """Build a proposal through the ``ProposalService`` (bookings from ``crm``, sell-out from the forecast
    batch of ``salesplan-forecast@model``), store it as a draft unless ``save`` is False, print it and
    write its CSV and HTML report into ``out``."""
    from salesplan.cli._plan_inputs import RegistryInputs
    from salesplan.planning.reports import target_report
    from salesplan.serving.db.proposal_frames import frame_to_rows, rows_to_frame
    from salesplan.serving.proposal_tables import csv_frame

    if request.resolved_domain == "bookings" and crm is None:
        raise ConfigError(
            f"--by {','.join(request.by)} plans bookings: give the CRM (--simulated or --data DIR)"
        )
    inputs = RegistryInputs(forecast_alias=model, crm=crm, deals_alias=model)
    stored = None
    with proposal_service(inputs, store=save) as service:
        if save:
            created = service.create(request, author=author, note=note)
            result, stored = created.result, created.proposal
        else:
            result, _sourced = service.build(request)
    months = list(result.months)
    rows = stored.rows if stored else frame_to_rows(result.proposal.rows, months)
    _print_proposal(result, rows)
    stem = f"proposal_{result.proposal.quarter}_{'-'.join(request.by)}" + (
        f"_{stored.id[:8]}" if stored else ""
    )
    out.mkdir(parents=True, exist_ok=True)
    csv = out / f"{stem}.csv"
    table = csv_frame(stored) if stored else rows_to_frame(rows, months)
    table.to_csv(csv, index=False)
    header = (
        {"id": stored.id, "status": stored.status, "version": stored.version, "author": author}
        if stored
        else {}
    )
    html = out / f"{stem}.html"
    history = inputs.history(request.resolved_domain)
    html.write_text(target_report(result, history=history, header=header), encoding="utf-8")
    low = dict(result.proposal.parameters.get("below_floor") or {})
    if low.get("count"):
        levels = ", ".join(f"{n} {lv}" for lv, n in (low.get("by_level") or {}).items())
        console.print(
            f"[yellow]warning:[/] {low['count']} unit(s) ({levels}) have a target with P(hit) under the "
            f"{float(low['floor']):.0%} floor, e.g. {', '.join(low.get('units', [])[:5])}; approving this "
            "proposal will need a reason (salesplan plan approve ID --reason ...)",
            soft_wrap=True,
        )
    if result.proposal.parameters.get("season_seen") is False:
        console.print(
            f"[yellow]warning:[/] the history has no whole quarter a year before {result.proposal.quarter}: "
            "the forecast has not seen this season, so the P(hit) figures are not backed by a track record",
            soft_wrap=True,
        )
    if stored is not None:
        console.print(f"stored proposal {stored.id} (draft, version 1) in {database_label()}", soft_wrap=True)
    console.print(f"wrote {csv} and {html}", soft_wrap=True)
    log_to_project_run(
        [csv, html], {"company_target": result.company.target, "company_p_hit": result.company.p_hit}
    )
    return Proposed(result, stored, csv, html)


def _print_proposal(result: ProposalResult, rows: Sequence[ProposalRowData]) -> None:
    c = result.company
    t = Table(
        title=f"company target {result.proposal.quarter} ({result.measure}; mode {c.mode}, {result.proposal.method})"
    )
    last_period = result.proposal.parameters.get("last_period")
    for col in (
        "unit",
        "target",
        "implied P(hit)",
        "forecast P50",
        f"actual {last_period or 'last period'}",
        "vs it",
    ):
        t.add_column(col, justify="left" if col == "unit" else "right")
    last = c.last_period_actual
    t.add_row(
        c.unit_id,
        f"{c.target:,.0f}",
        f"{c.p_hit:.1%}",
        f"{c.forecast_q50:,.0f}",
        "–" if last is None or last != last else f"{last:,.0f}",
        "–" if not last or last != last else f"{c.target / last - 1:+.1%}",
    )
    console.print(t)
    print_rows(rows, list(result.months), "allocation", result.measure, skip_top=True)
    f = result.fairness.by_quarter
    if len(f):
        r = f.iloc[0]
        console.print(
            f"fairness over {int(r['units'])} leaf units: Gini {r['gini']:.3f}, CV {r['cv']:.3f} of "
            f"target/potential; {r['share_above_p50']:.0%} asked above their own P50; max/min ratio "
            f"{r['max_min_ratio']:.2f}",
            soft_wrap=True,
        )


@plan_app.command("targets")
@clean_errors
def targets_cmd(
    quarter: Annotated[str, typer.Option(help="The quarter to plan, like 2027Q1.")],
    probability: Annotated[
        float, typer.Option(help="P(hit) of the company target (mode probability).")
    ] = 0.6,
    by: Annotated[
        str,
        typer.Option(
            help="Levels top to bottom: region,team,rep (bookings) or e.g. region,store (sell-out)."
        ),
    ] = "region,team,rep",
    method: Annotated[str, typer.Option(help="top_down, bottom_up or blended.")] = "blended",
    mode: Annotated[str, typer.Option(help="probability, growth (on last year) or value.")] = "probability",
    growth: Annotated[float | None, typer.Option(help="Growth on last year's quarter, e.g. 0.08.")] = None,
    value: Annotated[float | None, typer.Option(help="The company target (mode value).")] = None,
    over_assignment: Annotated[
        float,
        typer.Option(
            help="Applied once, at the leaf level: leaves sum to their parent × (1 + this). Default 0."
        ),
    ] = 0.0,
    max_change: Annotated[float | None, typer.Option(help="Max ± change vs last quarter per unit.")] = None,
    floor: Annotated[list[str] | None, typer.Option(help="UNIT=AMOUNT lower bound (repeatable).")] = None,
    cap: Annotated[list[str] | None, typer.Option(help="UNIT=AMOUNT upper bound (repeatable).")] = None,
    simulated: SimOpt = False,
    data: DataOpt = None,
    dataset: Annotated[str | None, typer.Option(help="A real CRM set: maven.")] = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    model: ModelOpt = "champion",
    out: OutOpt = Path("plan_out"),
    author: Annotated[str | None, typer.Option(help="Who proposes it (default: $USER).")] = None,
    note: Annotated[str | None, typer.Option(help="A note stored with the proposal.")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Print and write files, do not store.")] = False,
) -> None:
    """Propose targets for a quarter from the champion forecasts (sell-out) or the CRM and deal scores
    (bookings); store it as a draft, print it, write CSV + HTML."""
    request = make_request(
        quarter=quarter,
        by=parse_by(by),
        mode=mode,
        probability=probability,
        growth=growth,
        value=value,
        method=method,
        over_assignment=over_assignment,
        max_change=max_change,
        floors=pairs(floor, "--floor"),
        caps=pairs(cap, "--cap"),
    )
    crm = None
    if request.resolved_domain == "bookings":
        from salesplan.cli._sources import crm_source
        from salesplan.planning.proposals import BOOKINGS_LEVELS

        unknown = [lv for lv in request.by if lv not in BOOKINGS_LEVELS]
        if unknown:
            raise ConfigError(
                f"--by {by}: {unknown} are not CRM levels; bookings plan over {','.join(BOOKINGS_LEVELS)} "
                "(coarse to fine, e.g. --by region,team,rep or --by team,rep)"
            )
        with progress("reading the CRM"):
            crm = crm_source(data, simulated, dataset, seed, scale)[0]
    elif simulated or data or dataset:
        console.print(
            f"note: sell-out targets come from the batch forecast of salesplan-forecast@{model} (its data); "
            "--simulated/--data/--dataset are not used",
            soft_wrap=True,
        )
    propose(
        request, out=out, author=author or default_author(), save=not no_save, note=note, crm=crm, model=model
    )


from salesplan.cli import _plan_backtest, _plan_budget, _plan_store  # noqa: E402,F401  (they register on plan_app)
