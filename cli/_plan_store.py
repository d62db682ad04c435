"""``salesplan plan list|show|approve|reject|override``: the review workflow of stored target proposals.
An approved or rejected proposal is immutable; overrides re-balance the stored rows (no model needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from salesplan.cli._common import clean_errors, console
from salesplan.cli._plan_io import (
    default_author,
    print_headers,
    print_rows,
    proposal_store,
    rows_frame,
    stored_months,
    to_row_data,
    write_csv,
)
from salesplan.cli.plan import AuthorOpt, plan_app
from salesplan.errors import ConfigError, ConflictError

if TYPE_CHECKING:
    from salesplan.serving.db.records import StoredProposal


@plan_app.command("list")
@clean_errors
def list_cmd(
    quarter: Annotated[str | None, typer.Option(help="Only this quarter, like 2027Q1.")] = None,
    status: Annotated[str | None, typer.Option(help="draft, approved or rejected.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
) -> None:
    """Stored proposals, newest first."""
    with proposal_store() as repo:
        headers = repo.list(quarter=quarter, status=status, limit=limit)  # type: ignore[arg-type]
    print_headers(headers)


def _show(p: StoredProposal) -> None:
    by = p.parameters.get("by")
    console.print(
        f"proposal {p.id}: {p.quarter} by {','.join(by) if isinstance(by, list) else '?'}, {p.method}, "
        f"[bold]{p.status}[/] version {p.version}, author {p.author}, created {p.created_at:%Y-%m-%d %H:%M}"
        + (f", approved by {p.approved_by} {p.approved_at:%Y-%m-%d %H:%M}" if p.approved_at else ""),
        soft_wrap=True,
    )
    print_rows(p.rows, stored_months(p.rows, p.parameters), "targets", str(p.parameters.get("measure", "")))


@plan_app.command("show")
@clean_errors
def show_cmd(
    proposal_id: Annotated[str, typer.Argument(help="The proposal id.")],
    csv: Annotated[Path | None, typer.Option(help="Also write its rows to this CSV.")] = None,
) -> None:
    """One proposal with all its rows."""
    with proposal_store() as repo:
        p = repo.get(proposal_id)
    _show(p)
    if csv is not None:
        write_csv(p.rows, stored_months(p.rows, p.parameters), csv)
        console.print(f"wrote {csv}")


def _version(repo: Any, proposal_id: str, version: int | None) -> int:
    return int(version) if version is not None else int(repo.get(proposal_id).version)


@plan_app.command("approve")
@clean_errors
def approve_cmd(
    proposal_id: Annotated[str, typer.Argument(help="The proposal id.")],
    version: Annotated[int | None, typer.Option(help="The version you reviewed (default: current).")] = None,
    by: AuthorOpt = None,
) -> None:
    """Approve a draft; from then on it cannot change."""
    with proposal_store() as repo:
        h = repo.approve(proposal_id, by or default_author(), _version(repo, proposal_id, version))
    console.print(f"approved {h.id} ({h.quarter}) as version {h.version} by {h.approved_by}", soft_wrap=True)


@plan_app.command("reject")
@clean_errors
def reject_cmd(
    proposal_id: Annotated[str, typer.Argument(help="The proposal id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    version: Annotated[int | None, typer.Option(help="The version you reviewed (default: current).")] = None,
    by: AuthorOpt = None,
) -> None:
    """Reject a draft, with a reason."""
    if not reason.strip():
        raise ConfigError("--reason must not be empty")
    with proposal_store() as repo:
        h = repo.reject(proposal_id, by or default_author(), _version(repo, proposal_id, version), reason)
    console.print(f"rejected {h.id} ({h.quarter}), version {h.version}: {reason}", soft_wrap=True)


@plan_app.command("override")
@clean_errors
def override_cmd(
    proposal_id: Annotated[str, typer.Argument(help="The proposal id.")],
    unit: Annotated[list[str], typer.Option(help="Unit id to fix (repeatable, paired with --target).")],
    target: Annotated[list[float], typer.Option(help="Its new target (repeatable).")],
    version: Annotated[int | None, typer.Option(help="The version you edited (default: current).")] = None,
    by: AuthorOpt = None,
) -> None:
    """Fix some units' targets; siblings re-split to keep each parent's total, descendants re-scale."""
    from salesplan.planning.rebalance import rebalance_rows

    if len(unit) != len(target):
        raise ConfigError(f"give one --target per --unit (got {len(unit)} units, {len(target)} targets)")
    with proposal_store() as repo:
        p = repo.get(proposal_id)
        if p.status != "draft":
            raise ConflictError(
                f"proposal {p.id} is {p.status}; {p.status} proposals cannot be changed. "
                "Fix: create a new proposal with 'salesplan plan targets' and override that one"
            )
        known = {r.unit_id for r in p.rows}
        unknown = [u for u in unit if u not in known]
        if unknown:
            raise ConfigError(
                f"unknown unit(s) {unknown} in proposal {p.id}; it has e.g. {sorted(known)[:8]}"
            )
        months = stored_months(p.rows, p.parameters)
        oa = p.parameters.get("over_assignment", 0.1)
        overrides = dict(zip(unit, target, strict=True))
        new = rebalance_rows(rows_frame(p.rows, months), overrides, over_assignment=float(oa))
        expected = version if version is not None else p.version
        stored = repo.replace_rows(p.id, to_row_data(new, months), expected, by or default_author())
    _show(stored)
