"""Quarterly target proposals: list, read, approve and reject (``version`` = optimistic lock; a stale one
is 409, as is changing a proposal that is no longer a draft). Creating and re-balancing proposals, which
need the planning engine, are in ``serving.routers.proposals_plan``.

Each handler opens its own transaction (``services.session()``) instead of a yield-dependency, so the
commit happens before the response is sent: a client that got 200 knows its change is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from salesplan.serving.auth import require
from salesplan.serving.db.records import ApiKeyRecord, ProposalStatus
from salesplan.serving.db.repository import ProposalRepository
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers._common import AUTH_ERRORS, errors
from salesplan.serving.routers.proposal_models import (
    ProposalHeaderOut,
    ProposalList,
    ProposalOut,
    RejectIn,
    VersionIn,
    header_out,
    proposal_out,
)

router = APIRouter(prefix="/api/v1/targets/proposals", tags=["proposals"])

ProposalId = Annotated[str, Path(min_length=1, max_length=64, description="Proposal id")]
QUARTER_PATTERN = r"^\d{4}Q[1-4]$"


@router.get("", responses=errors(*AUTH_ERRORS), summary="Proposals, newest first (headers only)")
def list_proposals(
    services: ServicesDep,
    _: Annotated[ApiKeyRecord, require("proposals:read")],
    quarter: Annotated[str | None, Query(pattern=QUARTER_PATTERN, examples=["2027Q1"])] = None,
    status: Annotated[ProposalStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ProposalList:
    with services.session() as session:
        repo = ProposalRepository(session)
        items = repo.list(quarter=quarter, status=status, limit=limit, offset=offset)
        total = repo.count(quarter=quarter, status=status)
    return ProposalList(items=[header_out(h) for h in items], total=total, limit=limit, offset=offset)


@router.get("/{proposal_id}", responses=errors(404, *AUTH_ERRORS), summary="One proposal with its rows")
def get_proposal(
    proposal_id: ProposalId, services: ServicesDep, _: Annotated[ApiKeyRecord, require("proposals:read")]
) -> ProposalOut:
    with services.session() as session:
        return proposal_out(ProposalRepository(session).get(proposal_id))


@router.post(
    "/{proposal_id}:approve",
    responses=errors(400, 404, 409, 413, *AUTH_ERRORS),
    summary="Approve a draft (it becomes immutable)",
)
def approve(
    proposal_id: ProposalId,
    body: VersionIn,
    services: ServicesDep,
    key: Annotated[ApiKeyRecord, require("proposals:approve")],
) -> ProposalHeaderOut:
    with services.session() as session:
        header = ProposalRepository(session).approve(proposal_id, by=key.name, expected_version=body.version)
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
    with services.session() as session:
        header = ProposalRepository(session).reject(
            proposal_id, by=key.name, expected_version=body.version, reason=body.reason
        )
    return header_out(header)
