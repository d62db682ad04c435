"""``salesplan track``: plan vs actual vs landing of a quarter in progress (rich tables), the spend against
budgets and caps, and the open alerts with their suggested actions; ``--csv``/``--xlsx`` export every
table. ``salesplan alerts list|ack|resolve|rules``: the alert workflow. Both go through the same
``TrackingService`` as the API and the web page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from salesplan.cli._common import clean_errors, console
from salesplan.cli._plan_io import app_database, default_author
from salesplan.cli.app import app
from salesplan.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from salesplan.contracts import CRMData
    from salesplan.serving.db.alerts import AlertRecord
    from salesplan.serving.tracking_bookings import CRMState
    from salesplan.serving.tracking_service import TrackingReport, TrackingService

alerts_app = typer.Typer(
    help="Alerts of quarters in progress: list, acknowledge, resolve, rules.", no_args_is_help=True
)
app.add_typer(alerts_app, name="alerts")
PRINT_ROWS = 25


@contextmanager
def tracking_service(
    alias: str = "champion", spend_history: pd.DataFrame | None = None, crm: CRMData | None = None
) -> Iterator[TrackingService]:
    """The ``TrackingService`` on ``SALESPLAN_DATABASE_URL`` with the forecast batch of ``alias`` from the
    registry (loaded on first use), given the spend history (spend contract) the marginal returns its
    fitted response curves give, for the spend alerts' suggested moves, and given a CRM (bookings) its open
    deals scored by the deal champion with the stored quarter shock. The database must be at head
    (``salesplan db upgrade``)."""
    from salesplan.serving.tracking_service import TrackingService

    cache: dict[str, Any] = {}

    def forecast() -> pd.DataFrame:
        if "f" not in cache:
            from salesplan.models.batch import load_batch

            cache["f"] = load_batch(alias=alias).forecast
        return cache["f"]

    def marginal() -> pd.DataFrame | None:
        if spend_history is None:
            return None
        from salesplan.planning.budget import fit_response
        from salesplan.serving.tracking_service import marginal_returns

        return marginal_returns(fit_response(spend_history))

    def crm_state() -> CRMState:
        from salesplan.cli._plan_inputs import RegistryInputs
        from salesplan.serving.settings import ServingSettings
        from salesplan.serving.track_record import TrackRecordService
        from salesplan.serving.tracking_bookings import CRMState

        if crm is None:
            raise ConfigError(
                "tracking a bookings proposal needs the CRM: give --crm DIR (or --dataset maven)"
            )
        if "crm" not in cache:
            shock = TrackRecordService(ServingSettings().track_record_dir).shock()
            cache["crm"] = CRMState(crm, RegistryInputs(crm=crm).scores()[0], shock)
        state: CRMState = cache["crm"]
        return state

    with app_database("tracking") as transaction:
        yield TrackingService(transaction, forecast, marginal, crm_state)


def _f(x: Any, pct: bool | str = False) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    if v != v:
        return "–"
    return f"{v:+.0%}" if pct == "signed" else f"{v:.0%}" if pct else f"{v:,.0f}"


def _table(title: str, cols: list[tuple[str, bool]]) -> Table:
    t = Table(title=title)
    for name, left in cols:
        t.add_column(name, justify="left" if left else "right", no_wrap=left)
    return t


def print_units(rep: TrackingReport) -> None:
    """Per level, the units least likely to hit first (the plan to date and P(hit) at approval on wide
    terminals; every column is in the export)."""
    wide = console.width >= 120
    for level, df in rep.units.groupby("level", sort=False):
        cols = [("unit", True), ("target", False), ("actual", False), *([("plan to date", False)] if wide else []),
                ("pace", False), ("P10", False), ("P50", False), ("P90", False), ("P(hit)", False),
                *([("at approval", False)] if wide else [])]  # fmt: skip
        t = _table(
            f"{rep.quarter} as of {rep.as_of:%Y-%m-%d} — {level}: landing ({rep.measure or 'units'})", cols
        )
        for _, r in df.sort_values("p_hit").head(PRINT_ROWS).iterrows():
            t.add_row(str(r["unit_id"]), _f(r["target"]), _f(r["actual_to_date"]),
                      *([_f(r["plan_to_date"])] if wide else []), _f(r["pace"], "signed"), _f(r["landing_p10"]),
                      _f(r["landing_p50"]), _f(r["landing_p90"]), _f(r["p_hit"], True),
                      *([_f(r["p_hit_at_approval"], True)] if wide else []))  # fmt: skip
        console.print(t)
        if len(df) > PRINT_ROWS:
            console.print(f"… {len(df) - PRINT_ROWS} more {level} units in the export (--csv/--xlsx)")


def print_spend(spend: pd.DataFrame) -> None:
    wide = console.width >= 140
    cols = [("channel/region", True), *([("budget", False)] if wide else []), ("to date", False),
            *([("budget to date", False)] if wide else []), ("forecast", False), ("soft cap", False),
            ("hard cap", False), *([("cost/outcome", False), ("plan", False)] if wide else []), ("status", True)]  # fmt: skip
    t = _table("Spend vs budget and caps (quarter)", cols)
    for _, r in spend.iterrows():
        st = str(r["status"])
        t.add_row(f"{r['channel']}/{r['region']}", *([_f(r["budget"])] if wide else []), _f(r["spend_to_date"]),
                  *([_f(r["budget_to_date"])] if wide else []), _f(r["forecast_spend"]), _f(r["soft_cap"]),
                  _f(r["hard_cap"]),
                  *([f"{float(r['cost_per_outcome']):.3f}", f"{float(r['planned_cost_per_outcome']):.3f}"] if wide else []),
                  st if st == "ok" else f"[bold red]{st}[/]")  # fmt: skip
    console.print(t)


def print_deals(deals: pd.DataFrame) -> None:
    """The open deals that can still book this quarter, highest expected value first (each deal once)."""
    top = deals.drop_duplicates("opportunity_id").nlargest(PRINT_ROWS, "expected_value")
    t = _table("Open deals that can still book this quarter", [("deal", True), ("amount", False),
               ("P(win)", False), ("expected", False), ("expected close", True)])  # fmt: skip
    for _, r in top.iterrows():
        t.add_row(str(r["deal"]), _f(r["amount"]), _f(r["p_win"], True), _f(r["expected_value"]),
                  str(r["expected_close_date"])[:10])  # fmt: skip
    console.print(t)


def print_alerts(alerts: list[AlertRecord], only_open: bool = True) -> None:
    shown = [a for a in alerts if a.status != "resolved" or not only_open]
    if console.width < 120:  # a table of long sentences is unreadable when narrow: one block per alert
        console.print(f"[bold]Alerts ({len(shown)})[/]")
        for a in shown:
            sev = f"[bold red]{a.severity}[/]" if a.severity == "critical" else a.severity
            console.print(f"{a.id[:8]} {sev} {a.status} [bold]{a.unit_id}[/]: {a.message}\n  → {a.action}",
                          soft_wrap=True, highlight=False)  # fmt: skip
        return
    t = Table(title=f"Alerts ({len(shown)})")
    for col in ("id", "severity", "status", "unit", "what", "suggested action"):
        t.add_column(col, overflow="fold")
    for a in shown:
        sev = f"[bold red]{a.severity}[/]" if a.severity == "critical" else a.severity
        t.add_row(a.id[:8], sev, a.status, a.unit_id, a.message, a.action)
    console.print(t)


@app.command("track")
@clean_errors
def track_cmd(
    quarter: Annotated[str, typer.Option(help="The quarter in progress, like 2027Q1.")],
    as_of: Annotated[
        str | None, typer.Option(help="Actuals through this day (default: the latest loaded).")
    ] = None,
    level: Annotated[str | None, typer.Option(help="Only this hierarchy level.")] = None,
    alias: Annotated[str, typer.Option(help="Forecaster alias whose batch gives the landing.")] = "champion",
    evaluate: Annotated[bool, typer.Option(help="Evaluate and store the alerts.")] = True,
    csv: Annotated[Path | None, typer.Option(help="Write the units table to this CSV.")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="Write every table to this Excel workbook.")] = None,
    spend_history: Annotated[
        Path | None,
        typer.Option(help="Spend history (spend contract) for the marginal returns of spend alerts."),
    ] = None,
    domain: Annotated[
        str | None, typer.Option(help="sellout or bookings (default: sell-out if approved, else bookings).")
    ] = None,
    crm: Annotated[
        Path | None, typer.Option(help="CRM folder whose open deals give a bookings proposal's landing.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="A real CRM set instead of --crm: maven.")] = None,
) -> None:
    """Plan vs actual vs landing of the quarter's approved proposal (sell-out, or bookings from won deals,
    the open pipeline and the run-rate of new deals), spend vs caps, open alerts."""
    for path, fmt in ((csv, "csv"), (xlsx, "xlsx")):
        if path is not None and path.suffix.lower() != f".{fmt}":
            raise ConfigError(f"--{fmt} writes a .{fmt} file; got {path.name}")
    history = None
    if spend_history is not None:
        from salesplan.contracts import validate_spend
        from salesplan.io import read_table

        history = validate_spend(read_table(spend_history), source=str(spend_history))
    crm_data = None
    if crm is not None or dataset is not None:
        from salesplan.cli._sources import crm_source

        crm_data = crm_source(crm, False, dataset)[0]
    with tracking_service(alias, history, crm_data) as service:
        if evaluate:
            rep, stored = service.evaluate(quarter, as_of, domain)
            rep = service.track(quarter, rep.as_of, level, domain) if level else rep
            rep = replace(rep, alerts=stored)
        else:
            rep = service.track(quarter, as_of, level, domain)
        for n in rep.notes:
            console.print(f"[yellow]note:[/] {n}", soft_wrap=True)
        print_units(rep)
        if rep.spend is not None:
            print_spend(rep.spend)
        if rep.deals is not None:
            print_deals(rep.deals)
        print_alerts(rep.alerts)
        for path, fmt in ((csv, "csv"), (xlsx, "xlsx")):
            if path is not None:
                out = service.export(rep, "units", fmt)
                path.write_bytes(out.content)
                console.print(f"wrote {path}")


@alerts_app.command("list")
@clean_errors
def alerts_list(
    quarter: Annotated[str | None, typer.Option(help="Only this quarter.")] = None,
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved.")] = None,
) -> None:
    """Stored alerts, critical first."""
    with tracking_service() as service:
        print_alerts(service.alerts(quarter, status), only_open=False)


def _set(alert_id: str, status: str, author: str | None, note: str | None) -> None:
    with tracking_service() as service:
        matches = [a for a in service.alerts(limit=1000) if a.id.startswith(alert_id)]
        if len(matches) != 1:
            raise ConfigError(f"{len(matches)} alerts start with {alert_id!r}; give more of the id")
        a = service.set_alert_status(matches[0].id, status, author or default_author(), note)
    console.print(f"alert {a.id[:8]} ({a.unit_id}, {a.rule}) is {a.status}, by {a.updated_by}")


@alerts_app.command("ack")
@clean_errors
def alerts_ack(alert_id: str, author: Annotated[str | None, typer.Option()] = None,
               note: Annotated[str | None, typer.Option()] = None) -> None:  # fmt: skip
    """Acknowledge an alert (id or its first characters)."""
    _set(alert_id, "acknowledged", author, note)


@alerts_app.command("resolve")
@clean_errors
def alerts_resolve(alert_id: str, author: Annotated[str | None, typer.Option()] = None,
                   note: Annotated[str | None, typer.Option()] = None) -> None:  # fmt: skip
    """Resolve an alert."""
    _set(alert_id, "resolved", author, note)


@alerts_app.command("rules")
@clean_errors
def alerts_rules(
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="name=value (value 'off' switches it off).")
    ] = None,
    author: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Show the alert rules, or change some: --set p_hit_below=0.25 --set pace_behind=off."""
    import json

    with tracking_service() as service:
        if set_:
            values: dict[str, Any] = {}
            for item in set_:
                name, sep, raw = item.partition("=")
                if not sep:
                    raise ConfigError(f"--set takes name=value, got {item!r}")
                text = raw.strip()
                try:
                    values[name.strip()] = None if text == "off" else json.loads(text)
                except json.JSONDecodeError:
                    values[name.strip()] = text  # AlertRules says what the rule takes
            rules = service.set_rules(values, author or default_author())
        else:
            rules = service.rules()
    for k, v in rules.to_dict().items():
        console.print(f"{k} = {'off' if v is None else v}")
