"""``salesplan plan``: propose quarterly targets (stored as drafts), review, approve, override; split a
marketing budget over channels from fitted response curves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, progress
from salesplan.cli._plan_io import (
    crm_end,
    database_label,
    default_author,
    json_safe,
    log_to_project_run,
    pairs,
    print_rows,
    proposal_store,
    to_row_data,
    write_csv,
)
from salesplan.cli.app import app
from salesplan.errors import ConfigError, ModelNotFoundError

if TYPE_CHECKING:
    from salesplan.contracts import CRMData
    from salesplan.serving.db.records import StoredProposal

plan_app = typer.Typer(
    help="Quarterly targets (propose, list, show, approve, reject, override) and budget splits.",
    no_args_is_help=True,
)
app.add_typer(plan_app, name="plan")

BOOKINGS_LEVELS = ("region", "team", "rep")
QUARTER_RE = re.compile(r"\d{4}Q[1-4]")
DataOpt = Annotated[
    Path | None, typer.Option(help="A CRM folder (bookings) or a spend table/folder (budget).")
]
OutOpt = Annotated[Path, typer.Option(help="Folder for the CSV and the HTML report.")]
ModelOpt = Annotated[str, typer.Option(help="Registry alias or version of the models used.")]
AuthorOpt = Annotated[str | None, typer.Option("--by", "--author", help="Who does this (default: $USER).")]


@dataclass(frozen=True)
class Proposed:
    """A built proposal, its stored rows (as the store normalises them) and where it was written."""

    result: Any
    rows: list[Any]
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


def make_request(**kw: Any) -> Any:
    """A ``ProposalRequest`` after the checks that need no data (so a typo fails before any loading)."""
    from salesplan.planning.proposals import ProposalRequest

    if not QUARTER_RE.fullmatch(kw["quarter"]):
        raise ConfigError(f"--quarter must look like 2027Q1, got {kw['quarter']!r}")
    if not 0 < kw["probability"] < 1:
        raise ConfigError(f"--probability must be strictly between 0 and 1, got {kw['probability']}")
    if kw["mode"] not in ("probability", "growth", "value"):
        raise ConfigError(f"--mode must be probability, growth or value, got {kw['mode']!r}")
    if kw["mode"] == "growth" and kw.get("growth") is None:
        raise ConfigError("--mode growth needs --growth (e.g. 0.08 for +8 % on last year's quarter)")
    if kw["mode"] == "value" and kw.get("value") is None:
        raise ConfigError("--mode value needs --value (the company target)")
    if kw["method"] not in ("top_down", "bottom_up", "blended"):
        raise ConfigError(f"--method must be top_down, bottom_up or blended, got {kw['method']!r}")
    if not 0 <= kw["over_assignment"] < 1:
        raise ConfigError(f"--over-assignment must be in [0, 1), got {kw['over_assignment']}")
    if kw.get("max_change") is not None and not 0 < kw["max_change"] < 1:
        raise ConfigError(f"--max-change must be in (0, 1), got {kw['max_change']}")
    return ProposalRequest(**kw)


def bookings_inputs(crm: CRMData, model: str) -> tuple[pd.DataFrame | None, dict[str, str], pd.DataFrame]:
    """Deal scores of the open deals from the deal-win champion (when one exists), the model versions
    used, and quarterly won value of the whole CRM (for the report's history)."""
    from salesplan.models.deals.features import features_asof
    from salesplan.planning.bookings import quarterly_bookings
    from salesplan.training.tracking import DEALS_MODEL, load_estimator

    b = quarterly_bookings(crm)
    complete = pd.PeriodIndex(b["quarter"], freq="Q").end_time <= crm_end(crm)  # the running one is partial
    won = b[complete].groupby("quarter")["won_value"].sum()
    history = pd.DataFrame({"period": won.index.astype(str), "y": won.to_numpy()})
    try:
        scorer, ref = load_estimator(DEALS_MODEL, model)
    except ModelNotFoundError as exc:
        console.print(
            f"[yellow]no deal scores:[/] {exc}; open deals count at historical win rates", soft_wrap=True
        )
        return None, {}, history
    return scorer.score_frame(features_asof(crm)), {DEALS_MODEL: ref.version}, history


def propose(
    request: Any,
    *,
    out: Path,
    author: str,
    save: bool = True,
    note: str | None = None,
    crm: CRMData | None = None,
    model: str = "champion",
) -> Proposed:
    """Build a proposal (bookings from ``crm``, sell-out from the champion forecast batch), store it as a
    draft unless ``save`` is False, print it and write its CSV and HTML report into ``out``."""
    from salesplan.planning.plan_report import target_report
    from salesplan.planning.proposals import build_proposal

    if request.domain == "bookings":
        if crm is None:
            raise ConfigError(
                f"--by {','.join(request.by)} plans bookings: give the CRM (--simulated or --data DIR)"
            )
        with progress("scoring open deals and building bookings distributions"):
            scores, versions, history = bookings_inputs(crm, model)
            result = build_proposal(request, crm=crm, scores=scores, input_model_versions=versions)
    else:
        from salesplan.training.batch_outputs import load_batch

        with progress(f"loading the forecast batch of salesplan-forecast@{model}"):
            batch = load_batch(alias=model)
        h = batch.history
        history = h[(h["level"] == "total") & (h["freq"] == "Q")][["period", "y"]]
        with progress("building the proposal"):
            result = build_proposal(
                request,
                forecast=batch.forecast,
                history=batch.history,
                input_model_versions={batch.ref.name: batch.ref.version},
            )
    months = list(result.months)
    rows = to_row_data(result.proposal.rows, months)
    params = json_safe(
        {
            **dict(result.proposal.parameters),
            "by": list(request.by),
            "mode": request.mode,
            "probability": request.probability,
            "growth": request.growth,
            "value": request.value,
            "over_assignment": request.over_assignment,
            "max_change": request.max_change,
            "measure": result.measure,
            "months": months,
            "company_target": result.company.target,
            "company_p_hit": result.company.p_hit,
        }
    )
    stored = None
    if save:
        from salesplan.serving.db.records import NewProposal

        with proposal_store() as repo:
            stored = repo.create(
                NewProposal(
                    quarter=result.proposal.quarter,
                    method=result.proposal.method,
                    author=author,
                    parameters=params,
                    input_models=json_safe(dict(result.proposal.input_model_versions)),
                    note=note,
                ),
                rows,
            )
    _print_proposal(result, rows)
    stem = f"proposal_{result.proposal.quarter}_{'-'.join(request.by)}" + (
        f"_{stored.id[:8]}" if stored else ""
    )
    csv = write_csv(rows, months, out / f"{stem}.csv")
    header = (
        {"id": stored.id, "status": stored.status, "version": stored.version, "author": author}
        if stored
        else {}
    )
    html = out / f"{stem}.html"
    html.write_text(target_report(result, history=history, header=header), encoding="utf-8")
    if stored is not None:
        console.print(f"stored proposal {stored.id} (draft, version 1) in {database_label()}", soft_wrap=True)
    console.print(f"wrote {csv} and {html}", soft_wrap=True)
    log_to_project_run(
        [csv, html], {"company_target": result.company.target, "company_p_hit": result.company.p_hit}
    )
    return Proposed(result, rows, stored, csv, html)


def _print_proposal(result: Any, rows: list[Any]) -> None:
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
    over_assignment: Annotated[float, typer.Option(help="Children sum to parent × (1 + this).")] = 0.1,
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
    levels = parse_by(by)
    request = make_request(
        quarter=quarter,
        by=levels,
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
    if request.domain == "bookings":
        from salesplan.cli._sources import crm_source

        unknown = [lv for lv in levels if lv not in BOOKINGS_LEVELS]
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
