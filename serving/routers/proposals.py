"""Quarterly target proposals: list, read, export, approve and reject, and each one's approval history
(``version`` = optimistic lock; a stale one is 409, as is changing a proposal that is no longer a draft).
Approving needs a second person: the author and the editors of a draft may not approve it (403; see
``SALESPLAN_MAKER_CHECKER``), and approving supersedes the quarter's approved proposal of the same scope. Creating and re-balancing
proposals, which need the planning engine, are in ``serving.routers.proposals_plan``; both go through
``services.proposals``, the workflow the CLI uses too.

The service opens one transaction per operation and commits it before the handler returns, so a client
that got 200 knows its change is stored."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from salesplan.planning.proposals import QUARTER_PATTERN
from salesplan.serving.auth import require
from salesplan.serving.db.records import Actor, ApiKeyRecord, ProposalStatus
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, MAX_OFFSET, errors
from salesplan.serving.routers.proposal_models import (
    ApproveIn,
    ProposalHeaderOut,
    ProposalHistory,
    ProposalList,
    ProposalOut,
    RejectIn,
    header_out,
    history_entry,
    proposal_out,
    unit_names,
)

router = APIRouter(prefix="/api/v1/targets/proposals", tags=["proposals"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ProposalId = Annotated[str, Path(min_length=1, max_length=64, description="Proposal id")]


@router.get("", responses=errors(*AUTH_ERRORS), summary="Proposals, newest first (headers only)")
def list_proposals(
    services: ServicesDep,
    _: Annotated[ApiKeyRecord, require("proposals:read")],
    quarter: Annotated[str | None, Query(pattern=QUARTER_PATTERN, examples=["2027Q1"])] = None,
    status: Annotated[ProposalStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ProposalList:
    page = services.proposals.list(quarter=quarter, status=status, limit=limit, offset=offset)
    return ProposalList(
        items=[header_out(h) for h in page.items], total=page.total, limit=limit, offset=offset
    )


# before GET /{proposal_id}: that route would take 'ID:export' as an id
@router.get(
    "/{proposal_id}:export",
    responses={
        **errors(404, *AUTH_ERRORS),
        200: {"content": {"text/csv": {}, XLSX: {}}, "description": "The rows as a file"},
    },
    response_class=Response,
    summary="One proposal's rows as CSV or Excel",
)
def export_proposal(
    proposal_id: ProposalId,
    services: ServicesDep,
    _: Annotated[ApiKeyRecord, require("proposals:read")],
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    out = services.proposals.export(proposal_id, format)
    return Response(
        out.content,
        media_type=out.media_type,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
    )


@router.get("/{proposal_id}", responses=errors(404, *AUTH_ERRORS), summary="One proposal with its rows")
def get_proposal(
    proposal_id: ProposalId, services: ServicesDep, _: Annotated[ApiKeyRecord, require("proposals:read")]
) -> ProposalOut:
    return proposal_out(services.proposals.get(proposal_id), unit_names(services))


@router.get(
    "/{proposal_id}/history",
    responses=errors(404, *AUTH_ERRORS),
    summary="Who created, edited, approved, rejected or superseded a proposal, when and why",
)
def proposal_history(
    proposal_id: ProposalId, services: ServicesDep, _: Annotated[ApiKeyRecord, require("proposals:read")]
) -> ProposalHistory:
    stored, entries = services.proposals.history(proposal_id)
    return ProposalHistory(proposal=header_out(stored.header), entries=[history_entry(e) for e in entries])


def actor(key: ApiKeyRecord) -> Actor:
    """Who acts: the key's name (what proposals and the audit log show) and its id (which key exactly)."""
    return Actor(key.name, key.id)


@router.post(
    "/{proposal_id}:approve",
    responses=errors(400, 404, 409, 413, *AUTH_ERRORS),
    summary="Approve a draft (by someone who neither wrote nor edited it); it becomes immutable",
)
def approve(
    proposal_id: ProposalId,
    body: ApproveIn,
    services: ServicesDep,
    key: Annotated[ApiKeyRecord, require("proposals:approve")],
) -> ProposalHeaderOut:
    header = services.proposals.approve(
        proposal_id, actor=actor(key), expected_version=body.version, reason=body.reason
    )
    return header_out(header)


@router.post(
    "/{proposal_id}:reject",
    responses=errors(400, 404, 409, 413, *AUTH_ERRORS),
    summary="Reject a draft, with a reason for the audit log",
)
def reject(
    proposal_id: ProposalId,
    body: RejectIn,
    services: ServicesDep,
    key: Annotated[ApiKeyRecord, require("proposals:reject")],
) -> ProposalHeaderOut:
    header = services.proposals.reject(
        proposal_id, actor=actor(key), reason=body.reason, expected_version=body.version
    )
    return header_out(header)
