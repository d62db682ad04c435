"""The one proposal workflow: create, list, show, override (re-balance), approve, reject and export target
proposals, and the slider's curve and implied probability. The CLI, the API and the planner web page all
call this object, so a proposal made by one reads and changes the same way through the others.

What differs between callers is only where the planning inputs come from, behind :class:`InputSource`:
the service's loaded champions and planning data (``serving.plan_inputs``), or the registry and a CRM
folder read by a CLI command. Transactions come from the caller too (``transaction(write=...)`` yields a
session that commits when the block ends), so every change and its audit row commit together.

Approval rules (four eyes, one approved proposal per quarter and scope, superseding with a link) are the
repository's, so no door can skip them; ``four_eyes`` comes from the caller's settings
(``SALESPLAN_MAKER_CHECKER``, on by default)."""

from __future__ import annotations

import builtins
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pandas as pd

from salesplan.errors import ConfigError, NotFoundError, SalesplanError
from salesplan.io import jsonable, records
from salesplan.planning.allocation import rebalance_rows
from salesplan.planning.distributions import QuarterDistribution
from salesplan.planning.proposals import (
    DEFAULT_P_HIT_FLOOR,
    TOTAL,
    PlanInputs,
    ProposalRequest,
    ProposalResult,
    build_from_inputs,
    implied_probability_for,
    probability_curve,
)
from salesplan.serving.db.engine import Transaction
from salesplan.serving.db.proposal_frames import frame_to_rows, rows_to_frame
from salesplan.serving.db.proposal_parameters import ProposalParameters
from salesplan.serving.db.records import (
    Actor,
    AuditRecord,
    NewProposal,
    ProposalHeader,
    ProposalStatus,
    StoredProposal,
)
from salesplan.serving.db.repository import ProposalRepository
from salesplan.serving.proposal_tables import csv_frame

__all__ = [
    "LATEST",
    "MIN_ID_PREFIX",
    "Created",
    "Export",
    "InputSource",
    "ModelStamps",
    "PlanDomain",
    "ProposalPage",
    "ProposalService",
    "SourcedInputs",
    "scope",
]

PlanDomain = Literal["sellout", "bookings"]
ModelStamps = dict[str, dict[str, str | None]]
"""Model name → ``{"version", "run_id"}`` of the models a proposal's numbers came from."""
MIN_ID_PREFIX = 8
"""Shortest id prefix ``get`` resolves (what file names and tables show)."""
LATEST = "latest"
"""The id word for the most recently created proposal (``salesplan plan show latest``)."""
MAX_FAIRNESS_UNITS = 1000


@dataclass(frozen=True)
class SourcedInputs:
    """Planning inputs of one (quarter, by, domain, ramp) and the model versions they came from."""

    plan: PlanInputs
    models: ModelStamps


class InputSource(Protocol):
    """Where planning inputs come from (loaded state in the service, the registry in the CLI)."""

    def plan_inputs(
        self, quarter: str, by: tuple[str, ...], domain: PlanDomain, ramp: tuple[float, ...]
    ) -> SourcedInputs:
        """The inputs, or a ``SalesplanError`` saying what is missing and how to get it."""
        ...


@dataclass(frozen=True)
class Created:
    """A stored draft and the full planning result it came from (for reports)."""

    proposal: StoredProposal
    result: ProposalResult
    inputs: SourcedInputs


@dataclass(frozen=True)
class ProposalPage:
    items: list[ProposalHeader]
    total: int


@dataclass(frozen=True)
class Export:
    content: bytes
    media_type: str
    filename: str


def summary(result: ProposalResult) -> dict[str, Any]:
    """What reading a proposal shows besides its rows, computed once at creation (it needs the models)."""
    fair_q = records(result.fairness.by_quarter)
    per_unit = result.fairness.per_unit
    return {
        "company": jsonable(result.company.__dict__),
        "curve": records(result.curve, ["p_hit", "target"]),
        "fairness": {
            **(fair_q[0] if fair_q else {}),
            "per_unit": records(per_unit) if len(per_unit) <= MAX_FAIRNESS_UNITS else [],
        },
        "measure": result.measure,
        "months": list(result.months),
    }


def scope(request: ProposalRequest) -> str:
    """What a proposal plans besides its quarter: ``"<domain>:<levels>"`` (one approved per quarter and
    scope; ``serving.db.records.scope_of`` reads the same from stored parameters)."""
    return f"{request.resolved_domain}:{','.join(request.by)}"


class ProposalService:
    """Every proposal operation, over a transaction factory and an input source."""

    def __init__(
        self,
        transaction: Transaction,
        inputs: InputSource,
        *,
        four_eyes: bool = True,
        p_hit_floor: float = DEFAULT_P_HIT_FLOOR,
    ) -> None:
        self.transaction = transaction
        self.inputs = inputs
        self.four_eyes = four_eyes
        self.p_hit_floor = p_hit_floor

    # ------------------------------------------------------------------------------------- build, store
    def build(self, request: ProposalRequest) -> tuple[ProposalResult, SourcedInputs]:
        """The proposal the request describes, not stored (``plan targets --no-save``)."""
        sourced = self.inputs.plan_inputs(
            request.quarter, request.by, request.resolved_domain, tuple(request.ramp)
        )
        versions = {name: str(v.get("version")) for name, v in sourced.models.items()}
        result = build_from_inputs(
            request, sourced.plan, input_model_versions=versions, p_hit_floor=self.p_hit_floor
        )
        return result, sourced

    def create(self, request: ProposalRequest, *, author: str | Actor, note: str | None = None) -> Created:
        """Build the proposal and store it as a draft at version 1."""
        result, sourced = self.build(request)
        params = ProposalParameters(request, dict(result.proposal.parameters), summary(result))
        header = NewProposal(
            quarter=request.quarter,
            method=request.method,
            author=Actor.of(author).name,
            parameters=params.to_json(),
            input_models=sourced.models,
            note=note,
            scope=scope(request),
        )
        rows = frame_to_rows(result.proposal.rows, result.months)
        with self.transaction(write=True) as session:
            stored = ProposalRepository(session).create(header, rows, actor=author)
        return Created(stored, result, sourced)

    # ---------------------------------------------------------------------------------------------- read
    def get(self, proposal_id: str) -> StoredProposal:
        """One proposal by id, by a unique prefix of at least ``MIN_ID_PREFIX`` characters, or ``latest``
        (the most recently created)."""
        with self.transaction() as session:
            repo = ProposalRepository(session)
            return repo.get(self._resolve(repo, proposal_id, reading=True))

    def list(
        self,
        *,
        quarter: str | None = None,
        status: ProposalStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> ProposalPage:
        """Headers, newest first, and how many there are in all."""
        with self.transaction() as session:
            repo = ProposalRepository(session)
            items = repo.list(quarter=quarter, status=status, limit=limit, offset=offset)
            return ProposalPage(items, repo.count(quarter=quarter, status=status))

    def history(self, proposal_id: str) -> tuple[StoredProposal, builtins.list[AuditRecord]]:
        """A proposal and its audit trail, oldest first: who created, edited, approved, rejected or
        superseded it, with the API key that did it and the reason given."""
        with self.transaction() as session:
            repo = ProposalRepository(session)
            pid = self._resolve(repo, proposal_id, reading=True)
            return repo.get(pid), repo.history(pid)

    @staticmethod
    def parameters(p: ProposalHeader) -> ProposalParameters:
        return ProposalParameters.from_json(p.parameters, p.id)

    # --------------------------------------------------------------------------------------- decisions
    def override(
        self,
        proposal_id: str,
        overrides: Mapping[str, float],
        *,
        actor: str | Actor,
        expected_version: int | None = None,
    ) -> StoredProposal:
        """Fix some units' targets; siblings re-split so each parent keeps its total, descendants re-scale
        (``planning.rebalance``), with the proposal's own over-assignment. Moved units get their new P(hit)
        when the inputs the proposal was built from are still at hand, else none."""
        if not overrides:
            raise ConfigError("no overrides given; pass at least one unit and its new target")
        stored = self.get(proposal_id)
        version = stored.version if expected_version is None else expected_version
        if stored.status != "draft" or stored.version != version:  # said before any inputs are loaded
            with self.transaction() as session:
                ProposalRepository(session).check_changeable(stored.id, version)
        params = self.parameters(stored)
        known = {r.unit_id for r in stored.rows}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise NotFoundError(
                f"unknown unit(s) {unknown[:10]} in proposal {stored.id}; its units are e.g. {sorted(known)[:8]}"
            )
        new = rebalance_rows(
            rows_to_frame(stored.rows, params.months),
            {str(k): float(v) for k, v in overrides.items()},
            over_assignment=params.over_assignment_by_level,
            dist=self._stored_distribution(stored, params),
        )
        # Computed outside the write transaction: the guarded UPDATE in replace_rows is the lock, so a
        # change made by someone else since our read answers 409 instead of being overwritten.
        with self.transaction(write=True) as session:
            return ProposalRepository(session).replace_rows(
                stored.id, frame_to_rows(new, params.months), expected_version=version, actor=actor
            )

    def approve(
        self,
        proposal_id: str,
        *,
        actor: str | Actor,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> ProposalHeader:
        """Draft → approved; from then on it cannot change. The approver must not be its author or an
        editor (``four_eyes``); an approved proposal of the same quarter and scope is superseded. The
        ``reason`` (why approve) is kept in the audit trail; it is required when a unit's target has a
        P(hit) under the floor: the approver accepts that risk in writing."""
        with self.transaction(write=True) as session:
            repo = ProposalRepository(session)
            pid = self._resolve(repo, proposal_id)
            stored = repo.get(pid)
            version = stored.version if expected_version is None else expected_version
            if stored.status == "draft" and stored.version == version:  # else approve's own 409 first
                self._check_floor(stored, reason)
            return repo.approve(
                pid, by=actor, expected_version=version, reason=reason, four_eyes=self.four_eyes
            )

    def reject(
        self,
        proposal_id: str,
        *,
        actor: str | Actor,
        reason: str | None,
        expected_version: int | None = None,
    ) -> ProposalHeader:
        """Draft → rejected, with the reason in the audit trail."""
        with self.transaction(write=True) as session:
            repo = ProposalRepository(session)
            pid = self._resolve(repo, proposal_id)
            version = repo.get(pid).version if expected_version is None else expected_version
            return repo.reject(pid, by=actor, expected_version=version, reason=reason)

    # ---------------------------------------------------------------------------------------------- out
    def export(self, proposal_id: str, fmt: Literal["csv", "xlsx"] = "csv") -> Export:
        """The proposal's rows as CSV or an Excel workbook (rows sheet + a header sheet)."""
        p = self.get(proposal_id)
        df = csv_frame(p)
        stem = f"proposal_{p.quarter}_{p.id[:MIN_ID_PREFIX]}"
        if fmt == "csv":
            return Export(df.to_csv(index=False).encode(), "text/csv", f"{stem}.csv")
        if fmt != "xlsx":
            raise ConfigError(f"export format must be csv or xlsx, got {fmt!r}")
        params = self.parameters(p)
        header = pd.DataFrame(
            [
                ("id", p.id), ("quarter", p.quarter), ("status", p.status), ("version", p.version),
                ("author", p.author), ("method", p.method), ("levels", " → ".join(params.request.by)),
                ("measure", params.measure), ("approved by", p.approved_by or ""),
            ],
            columns=["field", "value"],
        )  # fmt: skip
        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as xl:
            df.to_excel(xl, sheet_name="targets", index=False)
            header.to_excel(xl, sheet_name="proposal", index=False)
        return Export(
            buf.getvalue(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"{stem}.xlsx",
        )

    # ------------------------------------------------------------------------------------------ slider
    def distribution(
        self, quarter: str, by: Sequence[str], domain: PlanDomain, ramp: Sequence[float] | None = None
    ) -> tuple[QuarterDistribution, str, SourcedInputs]:
        """Quarter distributions of every unit of the (quarter, by) tree, its top unit, and the inputs."""
        req = ProposalRequest.checked(quarter=quarter, by=tuple(by), domain=domain, **_ramp(ramp))
        sourced = self.inputs.plan_inputs(req.quarter, req.by, domain, tuple(req.ramp))
        dist = sourced.plan.dist
        return dist, TOTAL if TOTAL in dist.unit_ids else dist.unit_ids[0], sourced

    def curve(
        self, quarter: str, by: Sequence[str], domain: PlanDomain, unit_id: str | None = None
    ) -> tuple[str, pd.DataFrame, SourcedInputs]:
        """Target for each P(hit) of one unit (default: the top one)."""
        dist, top, sourced = self.distribution(quarter, by, domain)
        unit = unit_id or top
        _check_unit(dist, unit, quarter, by)
        return unit, probability_curve(dist, unit), sourced

    def implied_probability(
        self, quarter: str, by: Sequence[str], domain: PlanDomain, unit_id: str, value: float
    ) -> tuple[float, SourcedInputs]:
        """P(the unit's quarter total ≥ ``value``)."""
        dist, _top, sourced = self.distribution(quarter, by, domain)
        _check_unit(dist, unit_id, quarter, by)
        return implied_probability_for(dist, unit_id, value), sourced

    # ------------------------------------------------------------------------------------------ helpers
    def _check_floor(self, p: StoredProposal, reason: str | None) -> None:
        """Refuse to approve, without a reason, targets whose P(hit) is under the floor. Rows without
        a P(hit) (typed in by hand, or overridden where no model prices them) are not refused: nothing
        says they are risky, and the proposal view marks them unpriced."""
        if reason is not None and reason.strip():
            return
        low = sorted(
            (r.p_hit, r.unit_id) for r in p.rows if r.p_hit is not None and r.p_hit < self.p_hit_floor
        )
        if not low:
            return
        sample = ", ".join(f"{u} ({ph:.0%})" for ph, u in low[:5])
        raise ConfigError(
            f"proposal {p.id}: {len(low)} unit(s) have a target with P(hit) under the "
            f"{self.p_hit_floor:.0%} floor: {sample}. Approving it needs a reason, kept in the audit trail "
            '(API: "reason"; CLI: --reason), or lower those targets first'
        )

    @staticmethod
    def _resolve(repo: ProposalRepository, proposal_id: str, reading: bool = False) -> str:
        """The full id of ``proposal_id``: an id, a unique prefix, or (to read only) ``latest``."""
        if repo.exists(proposal_id):
            return proposal_id
        if proposal_id == LATEST and not reading:  # a decision names what it decides on
            raise ConfigError(f"give the proposal's id to change it; {LATEST!r} only names one to read")
        if proposal_id == LATEST:  # ids are UUIDs, so the word cannot shadow one
            newest = repo.list(limit=1)
            if not newest:
                raise NotFoundError("there is no proposal yet: make one with 'salesplan plan targets'")
            return newest[0].id
        if len(proposal_id) >= MIN_ID_PREFIX:
            found = repo.ids_with_prefix(proposal_id, limit=2)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise ConfigError(f"{proposal_id!r} is the start of several proposal ids; give more of it")
        raise NotFoundError(f"proposal {proposal_id} does not exist")

    def _stored_distribution(
        self, p: StoredProposal, params: ProposalParameters
    ) -> QuarterDistribution | None:
        """The distributions a stored proposal was built from, when the inputs at hand come from the same
        model runs (then moved units get their new P(hit)); None when they are gone or changed."""
        req = params.request
        try:
            sourced = self.inputs.plan_inputs(req.quarter, req.by, req.resolved_domain, tuple(req.ramp))
        except SalesplanError:
            return None
        same = set(sourced.models) == set(p.input_models) and all(
            isinstance(p.input_models.get(k), dict) and p.input_models[k].get("run_id") == v.get("run_id")
            for k, v in sourced.models.items()
        )
        return sourced.plan.dist if same else None


def _ramp(ramp: Sequence[float] | None) -> dict[str, Any]:
    return {} if ramp is None else {"ramp": tuple(ramp)}


def _check_unit(dist: QuarterDistribution, unit: str, quarter: str, by: Sequence[str]) -> None:
    if unit not in dist.unit_ids:
        raise NotFoundError(
            f"unit {unit!r} is not in the {list(by)} tree of {quarter}; e.g. {list(dist.unit_ids[:5])}"
        )
