"""What the ``salesplan plan`` commands share: the proposal store (migrated on first use), conversion between
planning rows and stored rows, and the printed tables. Kept apart from the commands so the demo uses the
same code path as ``salesplan plan targets``."""

from __future__ import annotations

import getpass
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from rich.table import Table

from salesplan.cli._common import console
from salesplan.errors import ConfigError, ServiceUnavailableError
from salesplan.io import finite_or_none

if TYPE_CHECKING:
    from salesplan.contracts import CRMData
    from salesplan.serving.db.records import ProposalHeader, ProposalRowData
    from salesplan.serving.db.repository import ProposalRepository

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
def proposal_store() -> Iterator[ProposalRepository]:
    """A ``ProposalRepository`` on ``SALESPLAN_DATABASE_URL``, migrated to head, in one transaction that
    commits when the block ends (and rolls back if it raises)."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from salesplan.serving.db.engine import make_engine, migrate, session_factory
    from salesplan.serving.db.repository import ProposalRepository

    label = database_label()
    try:
        engine = make_engine()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"SALESPLAN_DATABASE_URL={label!r} is not a database URL SQLAlchemy understands ({exc}). "
            "Fix: use e.g. sqlite:///salesplan.db or postgresql://user:pass@host/db"
        ) from None
    try:
        migrate(engine)
        with session_factory(engine).begin() as session:
            yield ProposalRepository(session)
    except OperationalError as exc:
        raise ServiceUnavailableError(
            f"cannot use the proposal database {label}: {str(exc.orig).strip() or exc}. "
            "Fix: start the database or point SALESPLAN_DATABASE_URL at one"
        ) from None
    finally:
        engine.dispose()


def json_safe(value: Any) -> Any:
    """Parameters as plain JSON: numpy scalars → Python, NaN → None, tuples → lists."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def to_row_data(rows: pd.DataFrame, months: Sequence[str]) -> list[ProposalRowData]:
    """Planning rows as the store's row records (see ``serving.db.proposal_frames``)."""
    from salesplan.serving.db.proposal_frames import frame_to_rows

    return frame_to_rows(rows, months)


def stored_months(rows: Sequence[ProposalRowData], header: Mapping[str, Any] | None = None) -> list[str]:
    """The proposal's three months: from its parameters when recorded, else from the rows' phasing."""
    months = (header or {}).get("months")
    if isinstance(months, list) and len(months) == 3:
        return [str(m) for m in months]
    return sorted({m for r in rows for m in r.phasing})


def rows_frame(rows: Sequence[ProposalRowData], months: Sequence[str]) -> pd.DataFrame:
    """Stored rows as the planning frame — what ``rebalance_rows`` takes (``serving.db.proposal_frames``)."""
    from salesplan.serving.db.proposal_frames import rows_to_frame

    return rows_to_frame(rows, months)


def csv_frame(rows: Sequence[ProposalRowData], months: Sequence[str]) -> pd.DataFrame:
    """What the CSV holds: the stored rows, monthly targets under their month labels."""
    df = rows_frame(rows, months)
    return df.rename(columns={f"m{i}": f"target_{m}" for i, m in enumerate(months[:3], 1)})


def write_csv(rows: Sequence[ProposalRowData], months: Sequence[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    csv_frame(rows, months).to_csv(path, index=False)
    return path


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
    for h in headers:
        by = h.parameters.get("by")
        t.add_row(
            h.id,
            h.quarter,
            ",".join(by) if isinstance(by, list) else "",
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
