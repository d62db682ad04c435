"""``salesplan plan list|show|approve|reject|override``: the review workflow of stored target proposals.
An approved or rejected proposal is immutable; overrides re-balance the stored rows with the proposal's own
settings, through the same ``ProposalService`` as the API (moved units get a new P(hit) when the registry
still holds the forecaster the proposal was built from)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from salesplan.cli._common import clean_errors, console
from salesplan.cli._plan_io import default_author, print_headers, print_rows, proposal_service
from salesplan.cli.plan import AuthorOpt, plan_app
from salesplan.errors import ConfigError

if TYPE_CHECKING:
    from salesplan.serving.db.records import ProposalStatus, StoredProposal

IdArg = Annotated[
    str, typer.Argument(help="The proposal id (or its first 8+ characters; to read, 'latest': the newest).")
]
VersionOpt = Annotated[int | None, typer.Option(help="The version you reviewed (default: current).")]


@plan_app.command("list")
@clean_errors
def list_cmd(
    quarter: Annotated[str | None, typer.Option(help="Only this quarter, like 2027Q1.")] = None,
    status: Annotated[str | None, typer.Option(help="draft, approved or rejected.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
) -> None:
    """Stored proposals, newest first."""
    with proposal_service() as service:
        page = service.list(quarter=quarter, status=cast("ProposalStatus | None", status), limit=limit)
    print_headers(page.items)


def _show(p: StoredProposal) -> None:
    from salesplan.serving.proposal_service import ProposalService

    params = ProposalService.parameters(p)
    console.print(
        f"proposal {p.id}: {p.quarter} by {','.join(params.request.by)}, {p.method}, "
        f"[bold]{p.status}[/] version {p.version}, author {p.author}, created {p.created_at:%Y-%m-%d %H:%M}"
        + (f", approved by {p.approved_by} {p.approved_at:%Y-%m-%d %H:%M}" if p.approved_at else ""),
        soft_wrap=True,
    )
    print_rows(p.rows, params.months, "targets", params.measure)


WEEKLY_UNITS = 6


def _show_weekly(p: StoredProposal) -> None:
    """The weekly targets (weeks as rows) of the top units; every unit's weeks are in the CSV."""
    from rich.table import Table

    from salesplan.serving.proposal_tables import weekly_frame

    weeks = weekly_frame(p)
    if weeks is None:
        console.print("this proposal has no weekly phasing (its data are not weekly)", soft_wrap=True)
        return
    units = [r.unit_id for r in p.rows][:WEEKLY_UNITS]
    w = weeks.set_index("unit_id").loc[units].astype(float)
    t = Table(title=f"weekly targets ({len(w.columns)} weeks; a week crossing a month is split between both)")
    t.add_column("week of", justify="left")
    for u in units:
        t.add_column(u, justify="right")
    for label in w.columns:
        t.add_row(str(label), *[f"{v:,.0f}" for v in w[label].to_numpy(float)])
    t.add_row("quarter", *[f"{v:,.0f}" for v in w.sum(axis=1).to_numpy(float)])
    console.print(t)
    if len(weeks) > len(units):
        console.print(f"… the weeks of all {len(weeks)} units are in the CSV (--csv)", soft_wrap=True)


@plan_app.command("show")
@clean_errors
def show_cmd(
    proposal_id: IdArg,
    csv: Annotated[Path | None, typer.Option(help="Also write its rows to this CSV.")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="Also write its rows to this Excel workbook.")] = None,
    weekly: Annotated[bool, typer.Option(help="Also print the weekly targets (weekly data only).")] = False,
) -> None:
    """One proposal with all its rows."""
    with proposal_service() as service:
        p = service.get(proposal_id)
        files = [(path, service.export(p.id, "csv")) for path in [csv] if path]
        files += [(path, service.export(p.id, "xlsx")) for path in [xlsx] if path]
    _show(p)
    if weekly:
        _show_weekly(p)
    for path, export in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(export.content)
        console.print(f"wrote {path}", soft_wrap=True)


@plan_app.command("approve")
@clean_errors
def approve_cmd(
    proposal_id: IdArg,
    version: VersionOpt = None,
    by: AuthorOpt = None,
    reason: Annotated[
        str | None,
        typer.Option(help="Why (kept in the audit log); required when a target is under the P(hit) floor."),
    ] = None,
) -> None:
    """Approve a draft; from then on it cannot change."""
    with proposal_service() as service:
        h = service.approve(
            proposal_id, actor=by or default_author(), expected_version=version, reason=reason
        )
    console.print(f"approved {h.id} ({h.quarter}) as version {h.version} by {h.approved_by}", soft_wrap=True)


@plan_app.command("reject")
@clean_errors
def reject_cmd(
    proposal_id: IdArg,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    version: VersionOpt = None,
    by: AuthorOpt = None,
) -> None:
    """Reject a draft, with a reason."""
    if not reason.strip():
        raise ConfigError("--reason must not be empty")
    with proposal_service() as service:
        h = service.reject(proposal_id, actor=by or default_author(), reason=reason, expected_version=version)
    console.print(f"rejected {h.id} ({h.quarter}), version {h.version}: {reason}", soft_wrap=True)


@plan_app.command("override")
@clean_errors
def override_cmd(
    proposal_id: IdArg,
    unit: Annotated[list[str], typer.Option(help="Unit id to fix (repeatable, paired with --target).")],
    target: Annotated[list[float], typer.Option(help="Its new target (repeatable).")],
    version: Annotated[int | None, typer.Option(help="The version you edited (default: current).")] = None,
    by: AuthorOpt = None,
) -> None:
    """Fix some units' targets; siblings re-split to keep each parent's total, descendants re-scale."""
    from salesplan.cli._plan_inputs import RegistryInputs

    if len(unit) != len(target):
        raise ConfigError(f"give one --target per --unit (got {len(unit)} units, {len(target)} targets)")
    with proposal_service() as reader:
        stored = reader.get(proposal_id)
    with proposal_service(RegistryInputs.of_stored(stored)) as service:
        new = service.override(
            stored.id,
            dict(zip(unit, target, strict=True)),
            actor=by or default_author(),
            expected_version=version,
        )
    _show(new)
