"""What the ``salesplan plan`` commands share: the proposal store (created and migrated only by ``salesplan db
upgrade``), conversion between planning rows and stored rows, and the printed tables. Kept apart from the commands so the demo uses the
same code path as ``salesplan plan targets``."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.table import Table

from salesplan.cli._common import console
from salesplan.errors import ConfigError, ServiceUnavailableError
from salesplan.io import finite_or_none

if TYPE_CHECKING:
    from salesplan.contracts import CRMData
    from salesplan.serving.db.engine import Transaction
    from salesplan.serving.db.records import ProposalHeader, ProposalRowData
    from salesplan.serving.proposal_service import InputSource, ProposalService

PRINT_ROWS = 15
"""Rows printed per level; the CSV and the HTML report hold every unit."""


def default_author() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser() or "cli"
    except (KeyError, OSError):  # no passwd entry (containers): any stable name will do
        return "cli"


def database_label(url: str | None = None) -> str:
    """The database URL as safe to print (password hidden)."""
    from sqlalchemy.engine import make_url

    from salesplan.config import get_settings

    try:
        return make_url(url or get_settings().database_url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable SALESPLAN_DATABASE_URL>"


@contextmanager
def app_database(what: str = "application") -> Iterator[Transaction]:
    """Transactions on the application database (``SALESPLAN_DATABASE_URL``) for one CLI command: the URL
    checked, the database required at the current schema (``salesplan db upgrade`` makes it so; nothing here
    creates or migrates one), a database that cannot be reached turned into a clear error, the engine
    disposed at the end. ``what`` names it in the error ("proposal", "tracking", ...)."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from salesplan.serving.db.engine import make_engine, require_database, transactions

    label = database_label()
    try:
        engine = make_engine()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"SALESPLAN_DATABASE_URL={label!r} is not a database URL SQLAlchemy understands ({exc}). "
            "Fix: use e.g. sqlite:///salesplan.db or postgresql://user:pass@host/db"
        ) from None
    try:
        require_database(engine)
        yield transactions(engine)
    except OperationalError as exc:
        raise ServiceUnavailableError(
            f"cannot use the {what} database {label}: {str(exc.orig).strip() or exc}. "
            "Fix: start the database or point SALESPLAN_DATABASE_URL at one"
        ) from None
    finally:
        engine.dispose()


@contextmanager
def proposal_service(inputs: InputSource | None = None, *, store: bool = True) -> Iterator[ProposalService]:
    """The ``ProposalService`` on ``SALESPLAN_DATABASE_URL``, the same workflow (and approval rules,
    ``SALESPLAN_MAKER_CHECKER``) the API runs; ``inputs`` (default: none) is where a command that builds or
    re-balances gets planning inputs. Each operation commits its own transaction. The database must exist
    at the current schema: ``salesplan db upgrade`` makes it so (nothing here creates or migrates one).
    ``store=False``: a command that only builds (``plan targets --no-save``) needs no database."""
    from salesplan.cli._plan_inputs import NoInputs
    from salesplan.serving.proposal_service import ProposalService
    from salesplan.serving.settings import ServingSettings

    if not store:
        yield ProposalService(_no_store, inputs or NoInputs())
        return
    with app_database("proposal") as transaction:
        settings = ServingSettings()
        yield ProposalService(
            transaction,
            inputs or NoInputs(),
            four_eyes=settings.maker_checker,
            p_hit_floor=settings.p_hit_floor,
        )


def _no_store(*, write: bool = False) -> Any:
    raise ConfigError("this command does not use the proposal store")


def _money(x: Any) -> str:
    f = finite_or_none(x)
    return "–" if f is None else f"{f:,.0f}"


def _pct(x: Any) -> str:
    f = finite_or_none(x)
    return "–" if f is None else f"{f:.0%}"


def print_rows(
    rows: Sequence[ProposalRowData],
    months: Sequence[str],
    title: str,
    measure: str = "",
    skip_top: bool = False,
) -> None:
    """Per level (below the top with ``skip_top``), the units with target, forecast P50, implied P(hit) and
    last period; the monthly phasing too when the terminal is wide enough (the CSV always has it)."""
    levels = list(dict.fromkeys(r.level for r in rows))[1 if skip_top else 0 :]
    wide = console.width >= 110
    for level in levels:
        sel = [r for r in rows if r.level == level]
        total = sum(float(r.target) for r in sel)
        t = Table(title=f"{title} — {level}: {len(sel)} units, Σ target {total:,.0f} {measure}".rstrip())
        cols = ("unit", "parent", "target", "P50", "P(hit)", "last period", *(months if wide else ()))
        for col in cols:
            t.add_column(col, justify="left" if col in ("unit", "parent") else "right")
        for r in sorted(sel, key=lambda r: -float(r.target))[:PRINT_ROWS]:
            t.add_row(
                r.unit_id + (" *" if r.overridden else ""),
                r.parent_id or "",
                _money(r.target),
                _money(r.forecast_q50),
                _pct(r.p_hit),
                _money(r.last_period_actual),
                *[_money(r.phasing.get(m)) for m in months if wide],
            )
        console.print(t)
        if len(sel) > PRINT_ROWS:
            console.print(f"… {len(sel) - PRINT_ROWS} more {level} units in the CSV", soft_wrap=True)
    if any(r.overridden for r in rows):
        console.print("* overridden by a planner", soft_wrap=True)
    if not wide and months:
        console.print(f"monthly targets ({', '.join(months)}) are in the CSV and the report", soft_wrap=True)


def crm_end(crm: CRMData) -> pd.Timestamp:
    """The CRM's last known date: deals created, closed (won or lost) and stage events."""
    o = crm.opportunities
    closed = o["close_date"].where(o["outcome"] != "open") if "outcome" in o else o["close_date"]
    dates = [pd.to_datetime(o["created_date"]), pd.to_datetime(closed)]
    if crm.stage_events is not None and len(crm.stage_events):
        dates.append(pd.to_datetime(crm.stage_events["ts"]))
    return pd.Timestamp(pd.concat(dates).max())


def print_headers(headers: Sequence[ProposalHeader]) -> None:
    t = Table(title=f"{len(headers)} proposal(s), newest first")
    t.add_column("id", no_wrap=True, min_width=36)  # ids are what `plan show ID` takes: never cut them
    for col in ("quarter", "by", "method", "status", "version", "author", "created", "approved by"):
        t.add_column(col)
    from salesplan.serving.db.proposal_parameters import ProposalParameters

    for h in headers:
        by = ProposalParameters.from_json(h.parameters, h.id).request.by
        t.add_row(
            h.id,
            h.quarter,
            ",".join(by),
            h.method,
            h.status,
            str(h.version),
            h.author,
            h.created_at.strftime("%Y-%m-%d %H:%M"),
            h.approved_by or "",
        )
    console.print(t)


def pairs(values: Sequence[str] | None, option: str) -> dict[str, float]:
    """``["north=100", "tv=2e5"]`` → ``{"north": 100.0, "tv": 200000.0}``, with a clear error otherwise."""
    out: dict[str, float] = {}
    for v in values or []:
        name, sep, amount = v.partition("=")
        value = finite_or_none(amount) if sep else None
        if not name.strip() or value is None:
            raise ConfigError(f"{option} {v!r}: write NAME=AMOUNT, e.g. {option} tv=200000")
        out[name.strip()] = value
    return out


def log_to_project_run(paths: list[Path], metrics: dict[str, float]) -> None:
    """Under ``mlflow run`` (MLFLOW_RUN_ID set) the outputs also go to the project's run."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    import mlflow

    with mlflow.start_run(run_id=run_id):
        for p in paths:
            mlflow.log_artifact(str(p))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
