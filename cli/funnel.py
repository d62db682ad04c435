"""``salesplan funnel``: conversion, velocity and productivity of a CRM, printed and written as HTML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from salesplan.cli._common import clean_errors, console, progress
from salesplan.cli.app import app
from salesplan.errors import ConfigError, DataNotFoundError, SalesplanError

if TYPE_CHECKING:
    from salesplan.contracts import CRMData, StageMap


def read_stage_map(path: Path | None) -> StageMap | None:
    """A JSON object ``{"their stage": "Find" | ... | "Won" | "Lost"}`` as a ``StageMap``."""
    from salesplan.contracts import StageMap

    if path is None:
        return None
    if not path.is_file():
        raise DataNotFoundError(
            f'{path}: stage map file not found. Fix: pass a JSON file like {{"Engaging": "Pitch"}}'
        )
    try:
        mapping = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f'{path}: not valid JSON ({exc}). Fix: write an object like {{"Engaging": "Pitch"}}'
        ) from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ConfigError(f"{path}: the stage map must be a JSON object of stage name → canonical stage name")
    return StageMap(mapping)


def load_crm(
    data: Path | None, simulated: bool, dataset: str | None, seed: int, scale: str, stage_map: Path | None
) -> CRMData:
    """The CRM from exactly one source: a folder, the simulator, or a named real data set."""
    from salesplan.cli._sources import crm_source

    return crm_source(data, simulated, dataset, seed, scale, read_stage_map(stage_map))[0]


def _pct(x: float) -> str:
    return "–" if x != x else f"{x:.1%}"


@app.command("funnel")
@clean_errors
def funnel_cmd(
    data: Annotated[
        Path | None, typer.Option(help="CRM folder (reps, opportunities, stage_events ...).")
    ] = None,
    simulated: Annotated[bool, typer.Option("--simulated", help="Use the built-in simulated CRM.")] = False,
    dataset: Annotated[str | None, typer.Option(help="A real data set: maven.")] = None,
    by: Annotated[
        str | None, typer.Option(help="Cut: region, team, rep, product, lead_source, cohort.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path("funnel_report.html"),
    seed: Annotated[int, typer.Option(help="Simulator seed.", min=0)] = 42,
    scale: Annotated[str, typer.Option(help="Simulator scale: tiny, small, medium, large.")] = "small",
    stage_map: Annotated[
        Path | None, typer.Option(help="JSON file mapping your stage names to canonical ones.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Replay the history as of this date (default: its end).")
    ] = None,
) -> None:
    """Stage conversion (with intervals), time in stage, rep productivity and ramp, as a table and HTML report."""
    from salesplan.planning.funnel import deal_paths, funnel, productivity, stalled, velocity
    from salesplan.planning.reports import funnel_report

    with progress("reading the CRM"):
        crm = load_crm(data, simulated, dataset, seed, scale, stage_map)
    with progress("estimating funnel, velocity and productivity"):
        paths = deal_paths(crm, as_of)
        fun = funnel(paths)
        cut = funnel(paths, by=by) if by else None
        vel = velocity(paths)
        try:
            prod = productivity(crm, as_of=as_of)
        except SalesplanError as exc:  # e.g. no hire dates: the rest of the report still stands
            console.print(f"[yellow]productivity skipped:[/] {exc}", highlight=False)
            prod = None
        html = funnel_report(fun, vel, prod, by_table=cut, stalled=stalled(paths))
    console.print(funnel_table(fun, cut))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    console.print(f"wrote {out}")


def funnel_table(fun: Any, cut: Any = None) -> Table:
    """The funnel (or one cut of it) as a rich table: stage, entered, converted, lost, open, rate, CI."""
    table = Table(title=f"Funnel as of {fun.as_of.date()}")
    for col in ([cut.by[0]] if cut is not None else []) + [
        "stage",
        "entered",
        "converted",
        "lost",
        "open",
        "rate",
        "95% CI",
    ]:
        table.add_column(
            col, justify="left" if col in ("stage",) or (cut is not None and col == cut.by[0]) else "right"
        )
    rows = cut.table if cut is not None else fun.table
    for _, r in rows.iterrows():
        cells = [str(r[cut.by[0]])] if cut is not None else []
        cells += [
            f"{r['stage']}→{r['next_stage']}",
            f"{r['entered']:,}",
            f"{r['converted']:,}",
            f"{r['lost']:,}",
        ]
        cells += [f"{r['open']:,}", _pct(r["rate"]), f"{_pct(r['ci_low'])}–{_pct(r['ci_high'])}"]
        table.add_row(*cells)
    return table
