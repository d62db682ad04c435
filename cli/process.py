"""``salesplan process``: the sales process and productivity from activities — full funnel through Operate,
time allocation, inefficiencies, standard cadence, scorecards (CSV / Excel / per-rep HTML), the capacity plan
of a target, and the whole report. Every command reads its data the same way (a planning folder, an export
with a column map, or the simulator) and asks the same ``ProcessWorkbench`` the API uses."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from salesplan.cli._common import clean_errors, console, progress
from salesplan.cli.app import app
from salesplan.errors import ConfigError, DataNotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from salesplan.planning.process import FullFunnel, ProcessWorkbench

process_app = typer.Typer(
    help="Sales process and productivity from activities: funnel through Operate, time, inefficiencies, "
    "cadence, scorecards, capacity.",
    no_args_is_help=True,
)
app.add_typer(process_app, name="process")

DataOpt = Annotated[
    Path | None,
    typer.Option(help="Planning folder with crm/ and activities/ (as 'salesplan simulate' writes it)."),
]
ExportOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--export",
        help="CRM activity export(s) (e.g. Salesforce Task and Event CSVs) instead of activities/.",
    ),
]
MapOpt = Annotated[
    Path | None, typer.Option(help='JSON column map of the export: {"their column": "contract column"}.')
]
SimOpt = Annotated[bool, typer.Option("--simulated", help="Use the built-in simulated world.")]
SeedOpt = Annotated[int, typer.Option(help="Simulator seed.")]
ScaleOpt = Annotated[str, typer.Option(help="Simulator scale: tiny, small, medium, large.")]


def load_workbench(
    data: Path | None, simulated: bool, seed: int = 42, scale: str = "small", export: list[Path] | None = None,
    column_map: Path | None = None,
) -> ProcessWorkbench:  # fmt: skip
    """The process analyses of one source: the simulator, or a folder's CRM with its activities (or an
    activity export mapped onto the contract)."""
    from salesplan.contracts import validate_activities, validate_crm, validate_reps
    from salesplan.io import read_crm, read_table
    from salesplan.loaders import load_activity_export, read_activity_folder
    from salesplan.planning.process import ProcessWorkbench, process_data

    if simulated == (data is not None):
        raise ConfigError("give exactly one source: --data DIR or --simulated")
    if simulated:
        from salesplan.cli._sources import check_scale
        from salesplan.simulator import SimConfig, simulate

        check_scale(scale)
        world = simulate(SimConfig(seed=seed, scale=scale))  # type: ignore[arg-type]
        assert world.activity is not None
        return ProcessWorkbench(process_data(world.crm, world.activity.activities, reps=world.activity.reps))
    assert data is not None
    crm = validate_crm(read_crm(data / "crm"), source=f"{data}/crm")
    folder = data / "activities" if (data / "activities").is_dir() else data
    reps = None
    if export:
        mapping = _column_map(column_map)
        frames = {p.stem: read_table(p) for p in export}
        acts = load_activity_export(frames, column_map=mapping, crm=crm, source=", ".join(map(str, export)))
    else:
        raw, people = read_activity_folder(folder)
        reps = validate_reps(people, source=f"{folder}/reps") if people is not None else None
        acts = validate_activities(raw, crm=crm, reps=reps, source=f"{folder}/activities")
    return ProcessWorkbench(process_data(crm, acts, reps=reps))


def _column_map(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    if not path.is_file():
        raise DataNotFoundError(
            f'{path}: column map not found. Fix: pass a JSON file like {{"Subject": "type"}}'
        )
    try:
        mapping = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ConfigError(f"{path}: the column map must be a JSON object of export column → contract column")
    return mapping


def frame_table(df: pd.DataFrame, title: str, columns: list[str] | None = None, limit: int = 40) -> Table:
    """A frame as a rich table: rates as %, hours and amounts with separators."""
    import pandas as pd

    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    table = Table(title=title)
    for c in cols:
        table.add_column(str(c), justify="right" if pd.api.types.is_numeric_dtype(df[c]) else "left")
    for _, r in df[cols].head(limit).iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                pct = any(k in c for k in ("rate", "share", "conv", "ci_", "cum", "adherence", "attainment"))
                cells.append(
                    "–" if v != v else f"{v:.1%}" if pct else f"{v:,.1f}" if abs(v) < 1e4 else f"{v:,.0f}"
                )
            else:
                cells.append(str(v))
        table.add_row(*cells)
    return table


def funnel_table(f: FullFunnel) -> Table:
    """The full funnel: one line per step with its rate, interval and the share of deals that get there."""
    t = f.table
    table = Table(title=f"Full funnel as of {f.as_of.date()} ({f.level:.0%} intervals; open deals censored)")
    for col in (
        "step",
        "entered",
        "moved on",
        "lost",
        "open",
        "rate",
        "interval",
        "from Find",
        "median days",
    ):
        table.add_column(col, justify="left" if col == "step" else "right", no_wrap=col == "step")
    for r in t.itertuples():
        table.add_row(f"{r.stage}→{r.next_stage}", f"{r.entered:,}", f"{r.converted:,}", f"{r.lost:,}", f"{r.open:,}",
                      f"{r.rate:.1%}", f"{r.ci_low:.1%}–{r.ci_high:.1%}", f"{r.cumulative:.1%}", f"{r.median_days:.0f}")  # fmt: skip
    return table


def allocation_table(wb: ProcessWorkbench) -> Table:
    """Hours by role × stage × location group (what the demo prints)."""
    t = wb.allocation.table
    return frame_table(t, f"Time allocation ({wb.allocation.weeks:.0f} weeks, {wb.allocation.won_deals:,} deals won)",
                       ["role", "stage", "location_group", "people", "hours", "share_of_hours", "share_of_role",
                        "hours_per_person_week", "hours_per_won_deal"], limit=60)  # fmt: skip


def print_inefficiencies(wb: ProcessWorkbench, top: int = 3) -> None:
    """The top findings, each with its evidence in a sentence."""
    f = wb.inefficiencies.findings
    if f.empty:
        console.print("no activity pattern is both frequent and low-yield")
        return
    for i, r in enumerate(f.head(top).to_dict("records"), start=1):
        ev: dict[str, Any] = r["evidence"]
        reps = ", ".join(f"{x['rep_id']} ({x['hours']:,.0f} h)" for x in ev["top_reps"][:3])
        console.print(f"[bold]{i}. {r['label']}[/]: {r['hours_saved']:,.0f} h could be saved. {ev['summary']}. "
                      f"Most hours: {reps}.", soft_wrap=True)  # fmt: skip


@process_app.command("funnel")
@clean_errors
def funnel_cmd(data: DataOpt = None, simulated: SimOpt = False, seed: SeedOpt = 42, scale: ScaleOpt = "small",
               export: ExportOpt = None, column_map: MapOpt = None) -> None:  # fmt: skip
    """Full funnel Find → … → Operate → first order → active at 30 / 90 days, censoring-aware, with intervals."""
    with progress("reading the CRM and activities"):
        wb = load_workbench(data, simulated, seed, scale, export, column_map)
    with progress("estimating every step"):
        f = wb.funnel
    console.print(funnel_table(f))


@process_app.command("time")
@clean_errors
def time_cmd(data: DataOpt = None, simulated: SimOpt = False, seed: SeedOpt = 42, scale: ScaleOpt = "small",
             export: ExportOpt = None, column_map: MapOpt = None,
             by: Annotated[str, typer.Option(help="Comma-separated cuts: role, stage, location_group, type, channel, team, region.")] = "role,stage,location_group") -> None:  # fmt: skip
    """Time allocation (share of hours, hours per won deal) and hours per deal by outcome."""
    from salesplan.planning.process import time_allocation

    with progress("reading the CRM and activities"):
        wb = load_workbench(data, simulated, seed, scale, export, column_map)
    cuts = tuple(b.strip() for b in by.split(",") if b.strip())
    alloc = wb.allocation if cuts == wb.allocation.by else time_allocation(wb.data, cuts)
    console.print(frame_table(alloc.table, f"Time by {', '.join(cuts)}", limit=80))
    console.print(frame_table(wb.hours_vs_outcome, "Hours per deal by outcome and stage"))


@process_app.command("inefficiencies")
@clean_errors
def inefficiencies_cmd(data: DataOpt = None, simulated: SimOpt = False, seed: SeedOpt = 42, scale: ScaleOpt = "small",
                       export: ExportOpt = None, column_map: MapOpt = None,
                       top: Annotated[int, typer.Option(min=1, help="Findings to print.")] = 10) -> None:  # fmt: skip
    """Frequent, low-yield activity patterns ranked by the hours they could save, with the evidence."""
    with progress("reading the CRM and activities"):
        wb = load_workbench(data, simulated, seed, scale, export, column_map)
    with progress("comparing every activity pattern within reps"):
        print_inefficiencies(wb, top)


@process_app.command("cadence")
@clean_errors
def cadence_cmd(data: DataOpt = None, simulated: SimOpt = False, seed: SeedOpt = 42, scale: ScaleOpt = "small",
                export: ExportOpt = None, column_map: MapOpt = None) -> None:  # fmt: skip
    """The best quartile's cadence per stage, each rep's adherence, and its within-rep effect."""
    with progress("reading the CRM and activities"):
        wb = load_workbench(data, simulated, seed, scale, export, column_map)
    cad = wb.cadence
    if cad is None:
        raise ConfigError("too few reps with 10+ closed deals to find a best-performing quartile")
    for text in cad.standard["text"]:
        console.print(f"• {text}")
    e = cad.effect
    console.print(f"keeping it: odds of moving on × {e['odds_ratio']:.2f} (95 % {math.exp(e['log_odds_low']):.2f}–"
                  f"{math.exp(e['log_odds_high']):.2f}), same reps' deals compared; across reps the rank "
                  f"correlation of adherence with win rate is {e['across_rep_spearman']:.2f}", soft_wrap=True)  # fmt: skip
    console.print(frame_table(cad.reps.sort_values("adherence"), "Adherence per rep",
                              ["rep_id", "closed", "win_rate", "landmark_deals", "adherence", "median_first_action_days",
                               "median_spacing_days", "top_quartile"]))  # fmt: skip


@process_app.command("scorecards")
@clean_errors
def scorecards_cmd(data: DataOpt = None, simulated: SimOpt = False, seed: SeedOpt = 42, scale: ScaleOpt = "small",
                   export: ExportOpt = None, column_map: MapOpt = None,
                   out: Annotated[Path, typer.Option(help="Folder for scorecards.csv / .xlsx and the per-rep pages.")] = Path("scorecards"),
                   fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or both.")] = "both",
                   pages: Annotated[bool, typer.Option(help="Write one HTML page per person (reps/<id>.html).")] = True) -> None:  # fmt: skip
    """Productivity scorecards per person and role, with gaps and the actions most likely to close them."""
    from salesplan.planning.process import scorecard_page, scorecards_workbook

    if fmt not in ("csv", "xlsx", "both"):
        raise ConfigError(f"--format must be csv, xlsx or both, got {fmt!r}")
    with progress("reading the CRM and activities"):
        wb = load_workbench(data, simulated, seed, scale, export, column_map)
    with progress("scoring every person"):
        sc = wb.scorecards
    out.mkdir(parents=True, exist_ok=True)
    if fmt in ("csv", "both"):
        sc.table.to_csv(out / "scorecards.csv", index=False)
    if fmt in ("xlsx", "both"):
        (out / "scorecards.xlsx").write_bytes(scorecards_workbook(sc))
    if pages:
        (out / "reps").mkdir(exist_ok=True)
        for rep_id in sc.table["rep_id"]:
            (out / "reps" / f"{rep_id}.html").write_text(scorecard_page(sc, str(rep_id)), encoding="utf-8")
    console.print(frame_table(sc.table.sort_values("bookings_gap", ascending=False), f"Scorecards {sc.period[0].date()} to {sc.period[1].date()}",
                              ["rep_id", "role", "location_group", "bookings", "bench_bookings", "ramp_adjusted_attainment",
                               "activities_per_day", "hours_per_won_deal", "adherence", "action_1"], limit=20))  # fmt: skip
    console.print(f"wrote {out}", soft_wrap=True)


@process_app.command("capacity")
@clean_errors
def capacity_cmd(target: Annotated[float, typer.Option(min=0.0, help="Won value to sign in the quarter.")],
                 quarter: Annotated[str, typer.Option(help="Quarter, e.g. 2027Q1.")],
                 data: DataOpt = None, simulated: SimOpt = False, seed: SeedOpt = 42, scale: ScaleOpt = "small",
                 export: ExportOpt = None, column_map: MapOpt = None,
                 months: Annotated[int, typer.Option(min=1, max=12, help="Months the reps have.")] = 3,
                 attrition: Annotated[float, typer.Option(min=0.0, max=0.99, help="Monthly attrition.")] = 0.0,
                 hours_per_rep_month: Annotated[float | None, typer.Option(help="Selling hours a rep has per month (default: measured).")] = None) -> None:  # fmt: skip
    """Reverse funnel of a target with the hours its deals take, and the reps it needs (value and time)."""
    with progress("reading the CRM and activities"):
        wb = load_workbench(data, simulated, seed, scale, export, column_map)
    with progress("planning backwards from the target"):
        cp = wb.capacity(
            target, quarter, months=months, attrition=attrition, hours_per_rep_month=hours_per_rep_month
        )
    console.print(
        frame_table(
            cp.plan.stages.astype({"enter_from": str, "enter_by": str}),
            f"Reverse funnel of {target:,.0f} in {cp.quarter}",
        )
    )
    s = cp.staffing
    console.print(
        f"deals need {cp.plan.hours or 0:,.0f} selling hours; {cp.current_reps} current reps have "
        f"{s.existing_hours or 0:,.0f} h ({cp.hours_per_rep_month:,.0f} h per rep-month) and deliver "
        f"{s.existing_capacity:,.0f} of won value. Hires needed: {s.hires_needed} (for the value: "
        f"{s.hires_for_value}, for the time: {s.hires_for_time}; {s.binding} binds)", soft_wrap=True)  # fmt: skip


@process_app.command("report")
@clean_errors
def report_cmd(data: DataOpt = None, simulated: SimOpt = False, seed: SeedOpt = 42, scale: ScaleOpt = "small",
               export: ExportOpt = None, column_map: MapOpt = None,
               out: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path("process_report.html")) -> None:  # fmt: skip
    """The whole process report as one self-contained HTML page."""
    from salesplan.planning.process import process_report

    with progress("reading the CRM and activities"):
        wb = load_workbench(data, simulated, seed, scale, export, column_map)
    with progress("running every analysis"):
        html = process_report(wb.funnel, wb.allocation, wb.inefficiencies, wb.cadence, wb.scorecards)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    console.print(allocation_table(wb))
    print_inefficiencies(wb)
    console.print(f"wrote {out}")
