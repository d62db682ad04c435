"""Repositories of the application database: pure DB access, typed dataclasses in and out.

The caller owns the transaction (``with factory.begin() as session: ...``): a change and its audit row
commit together or not at all. Every change to a proposal is one ``UPDATE … WHERE id = :id AND version =
:expected AND status = 'draft'`` that bumps ``version``: on PostgreSQL the second of two concurrent writers
blocks on the row lock, then re-checks the WHERE against the committed row and matches nothing, so there
is no lost update and no long-held lock between "load" and "save" (the client keeps the version).

Approval rules live here, so every door (API, CLI, web) obeys them: the approver must be someone other than
the author and everyone who edited the draft (four eyes; ``four_eyes=False`` switches it off), and at most
one proposal per quarter and scope is approved — approving another supersedes it with a link, and a partial
unique index makes the database refuse two racing approvals instead of keeping both.

``ApiKeyRepository`` lives in ``serving.db.api_keys`` and the audit log in ``serving.db.audit``; both are
re-exported here so callers import every repository from one module.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any, NoReturn, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, selectinload

from salesplan.errors import (
    ConflictError,
    DataValidationError,
    ForbiddenError,
    NotFoundError,
    Problem,
)
from salesplan.serving.db.api_keys import ApiKeyRepository
from salesplan.serving.db.audit import AuditRepository, Clock, check_limit, utcnow
from salesplan.serving.db.records import (
    Actor,
    ApiKeyRecord,
    AuditRecord,
    NewProposal,
    ProposalHeader,
    ProposalRowData,
    ProposalStatus,
    StoredProposal,
    check_one_of,
    check_quarter,
    principal,
    to_money,
)
from salesplan.serving.db.tables import PROPOSAL_STATUSES, AuditEntry, Proposal, ProposalRow

__all__ = [
    "Actor",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "AuditRecord",
    "AuditRepository",
    "NewProposal",
    "NotFoundError",
    "ProposalHeader",
    "ProposalRepository",
    "ProposalRowData",
    "StoredProposal",
]

MAX_AUDITED_CHANGES = 100  # per replace_rows; the count is always recorded


class ProposalRepository:
    """Target proposals: create, read, list, and the three changes (approve, reject, replace rows)."""

    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.session = session
        self.clock = clock
        self.audit = AuditRepository(session, clock)

    def create(
        self, header: NewProposal, rows: Sequence[ProposalRowData], actor: str | Actor | None = None
    ) -> StoredProposal:
        """Store a new draft at version 1 (``actor``: who, for the audit log; default the author)."""
        _check_unique_units(rows)
        pid = header.id or str(uuid.uuid4())
        now = self.clock()
        try:  # written without reading first (see approve); a taken id is the primary key's to refuse
            with self.session.begin_nested():
                self._insert_header(pid, header, now)
        except IntegrityError:
            raise ConflictError(f"proposal {pid} already exists; omit the id to get a fresh one") from None
        self._insert_rows(pid, rows)
        self.audit.write(
            actor if actor is not None else header.author,
            "proposal.create",
            "proposal",
            pid,
            {"quarter": header.quarter, "method": header.method, "rows": len(rows), "version": 1},
        )
        # The header is read back (timestamps as the database keeps them); the rows are the validated ones
        # just inserted, in order: re-reading and re-validating 1,000 rows cost ~40 % of a proposal's time.
        stored = self.session.scalars(
            select(Proposal).where(Proposal.id == pid).execution_options(populate_existing=True)
        ).one()
        return StoredProposal(**_header(stored).__dict__, rows=list(rows))

    def get(self, proposal_id: str) -> StoredProposal:
        """Header and rows; raises ``NotFoundError`` for an unknown id."""
        stmt = (
            select(Proposal)
            .where(Proposal.id == proposal_id)
            .options(selectinload(Proposal.rows))
            .execution_options(populate_existing=True)  # our UPDATEs bypass the identity map
        )
        proposal = self.session.scalars(stmt).one_or_none()
        if proposal is None:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        header = _header(proposal)
        return StoredProposal(**header.__dict__, rows=[_row_data(r) for r in proposal.rows])

    def exists(self, proposal_id: str) -> bool:
        return self.session.scalar(select(Proposal.id).where(Proposal.id == proposal_id)) is not None

    def ids_with_prefix(self, prefix: str, limit: int = 2) -> builtins.list[str]:
        """Ids starting with ``prefix`` (at most ``limit``), for short ids typed by people."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = select(Proposal.id).where(Proposal.id.like(f"{escaped}%", escape="\\")).limit(limit)
        return builtins.list(self.session.scalars(stmt))

    def list(
        self,
        quarter: str | None = None,
        status: ProposalStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[ProposalHeader]:
        """Headers only (no rows), newest first."""
        stmt = self._filtered(select(Proposal), quarter, status)
        stmt = (
            stmt.order_by(Proposal.created_at.desc(), Proposal.id)
            .limit(check_limit(limit))
            .offset(max(0, offset))
        )
        return [_header(p) for p in self.session.scalars(stmt.execution_options(populate_existing=True))]

    def count(self, quarter: str | None = None, status: ProposalStatus | None = None) -> int:
        """How many proposals ``list`` would page through (for pagination totals)."""
        return int(self.session.scalar(self._filtered(select(func.count(Proposal.id)), quarter, status)) or 0)

    def approve(
        self,
        proposal_id: str,
        by: str | Actor,
        expected_version: int,
        *,
        reason: str | None = None,
        four_eyes: bool = True,
    ) -> ProposalHeader:
        """Draft → approved; from then on the proposal is immutable. With ``four_eyes`` the approver may be
        neither its author nor anyone who edited it. An approved proposal of the same quarter and scope
        becomes ``superseded`` (linked to this one). ``reason`` goes to the audit log with the decision."""
        who = Actor.of(by)
        now = self.clock()
        # Writes first, reads after: a transaction that reads and then writes cannot wait its turn for
        # SQLite's write lock (it fails at once with "database is locked"); one that writes first can.
        # 1. supersede the approved proposal of the draft's quarter and scope (nothing if it is no draft
        #    at that version: then step 2 says why); 2. approve the draft (the optimistic lock).
        draft = aliased(Proposal)
        of_draft = (draft.id == proposal_id, draft.status == "draft", draft.version == expected_version)
        try:
            # a savepoint: a refusal below undoes the approval even if the caller went on to commit
            with self.session.begin_nested():
                superseded = list(
                    self.session.execute(
                        update(Proposal)
                        .where(
                            Proposal.status == "approved",
                            Proposal.id != proposal_id,
                            Proposal.quarter == select(draft.quarter).where(*of_draft).scalar_subquery(),
                            Proposal.scope == select(draft.scope).where(*of_draft).scalar_subquery(),
                        )
                        .values(
                            status="superseded",
                            superseded_by=proposal_id,
                            version=Proposal.version + 1,
                            updated_at=now,
                        )
                        .returning(Proposal.id, Proposal.version)
                        .execution_options(synchronize_session=False)
                    )
                )
                self._change(
                    proposal_id, expected_version, status="approved", approved_by=who.name, approved_at=now
                )
                if four_eyes:
                    self._check_four_eyes(proposal_id, who)
        except IntegrityError:  # the partial unique index: another approval of this scope committed first
            raise ConflictError(
                f"another proposal of the same quarter and scope as {proposal_id} was approved while this "
                "one was being approved; reload and decide again (this one is still a draft)"
            ) from None
        for old, version in superseded:  # the version RETURNING gives is the new one
            step: dict[str, Any] = {**_versions(version - 1), "superseded_by": proposal_id, "reason": reason}
            self.audit.write(who, "proposal.supersede", "proposal", old, step)
        detail: dict[str, Any] = {
            **_versions(expected_version),
            "reason": reason,
            "supersedes": [row[0] for row in superseded],
        }
        self.audit.write(who, "proposal.approve", "proposal", proposal_id, detail)
        return self.get(proposal_id).header

    def _check_four_eyes(self, proposal_id: str, who: Actor) -> None:
        author = self.session.scalar(select(Proposal.author).where(Proposal.id == proposal_id))
        makers = self.makers(proposal_id, author)
        if principal(who.name) in {principal(m) for m in makers}:
            role = "wrote" if author is not None and principal(who.name) == principal(author) else "edited"
            raise ForbiddenError(
                f"{who.name!r} {role} proposal {proposal_id} and so may not approve it: another person "
                f"must (four eyes; its makers: {', '.join(sorted(makers))})"
            )

    def makers(self, proposal_id: str, author: str | None = None) -> set[str]:
        """Who made a proposal what it is: its author and everyone who re-balanced it."""
        if author is None:
            author = self.session.scalar(select(Proposal.author).where(Proposal.id == proposal_id))
        editors = self.session.scalars(
            select(AuditEntry.actor).where(
                AuditEntry.object_type == "proposal",
                AuditEntry.object_id == proposal_id,
                AuditEntry.action == "proposal.replace_rows",
            )
        )
        return {*([author] if author else []), *editors}

    def reject(
        self, proposal_id: str, by: str | Actor, expected_version: int, reason: str | None = None
    ) -> ProposalHeader:
        """Draft → rejected (immutable too); the reason goes to the audit log."""
        self._change(proposal_id, expected_version, status="rejected")
        detail = {**_versions(expected_version), "reason": reason}
        self.audit.write(by, "proposal.reject", "proposal", proposal_id, detail)
        return self.get(proposal_id).header

    def replace_rows(
        self, proposal_id: str, rows: Sequence[ProposalRowData], expected_version: int, actor: str | Actor
    ) -> StoredProposal:
        """Swap in re-balanced rows (computed by the planning layer) and record which targets moved."""
        _check_unique_units(rows)
        self._change(proposal_id, expected_version)  # first: takes the row lock before we touch rows
        old = {
            (r.level, r.unit_id): r.target
            for r in self.session.scalars(select(ProposalRow).where(ProposalRow.proposal_id == proposal_id))
        }
        self.session.execute(delete(ProposalRow).where(ProposalRow.proposal_id == proposal_id))
        self._insert_rows(proposal_id, rows)
        detail = {**_versions(expected_version), **_row_changes(old, rows)}
        self.audit.write(actor, "proposal.replace_rows", "proposal", proposal_id, detail)
        return self.get(proposal_id)

    def history(self, proposal_id: str) -> builtins.list[AuditRecord]:
        """Audit trail of one proposal, oldest first."""
        return self.audit.list("proposal", proposal_id, limit=1000)

    # -- internals ---------------------------------------------------------------------------------------

    @staticmethod
    def _filtered(stmt: Any, quarter: str | None, status: str | None) -> Any:
        if quarter is not None:
            stmt = stmt.where(Proposal.quarter == check_quarter(quarter))
        if status is not None:
            check_one_of(status, PROPOSAL_STATUSES, "status")
            stmt = stmt.where(Proposal.status == status)
        return stmt

    def check_changeable(self, proposal_id: str, expected_version: int) -> None:
        """Raise what a change at ``expected_version`` would raise now (not a draft, stale version)."""
        current = self.session.execute(
            select(Proposal.status, Proposal.version).where(Proposal.id == proposal_id)
        ).one_or_none()
        if current is None or current[0] != "draft" or current[1] != expected_version:
            self._refuse(proposal_id, expected_version)

    def _change(self, proposal_id: str, expected_version: int, **values: Any) -> None:
        """The optimistic lock: one guarded UPDATE; if it matched nothing, say precisely why."""
        stmt = (
            update(Proposal)
            .where(
                Proposal.id == proposal_id, Proposal.version == expected_version, Proposal.status == "draft"
            )
            .values(version=Proposal.version + 1, updated_at=self.clock(), **values)
            .execution_options(synchronize_session=False)
        )
        result = cast(CursorResult[Any], self.session.execute(stmt))
        if result.rowcount != 1:
            self._refuse(proposal_id, expected_version)

    def _refuse(self, proposal_id: str, expected_version: int) -> NoReturn:
        current = self.session.execute(
            select(Proposal.status, Proposal.version).where(Proposal.id == proposal_id)
        ).one_or_none()
        if current is None:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        status, version = current
        if status != "draft":
            raise ConflictError(
                f"proposal {proposal_id} is {status}; {status} proposals cannot be changed "
                "(create a new proposal instead)"
            )
        changed = "; someone changed it since you read it" if expected_version < version else ""
        raise ConflictError(
            f"proposal {proposal_id} is at version {version}, not {expected_version}{changed}; reload and retry"
        )

    def _insert_header(self, pid: str, header: NewProposal, now: Any) -> None:
        self.session.execute(
            insert(Proposal).values(
                id=pid,
                quarter=header.quarter,
                method=header.method,
                parameters=header.parameters,
                input_models=header.input_models,
                status="draft",
                author=header.author,
                created_at=now,
                updated_at=now,
                approved_by=None,
                approved_at=None,
                version=1,
                note=header.note,
                scope=header.scope,
                superseded_by=None,
            )
        )

    def _insert_rows(self, proposal_id: str, rows: Sequence[ProposalRowData]) -> None:
        if not rows:
            return
        self.session.execute(
            insert(ProposalRow),
            [
                {
                    "proposal_id": proposal_id,
                    "position": i,
                    "level": r.level,
                    "unit_id": r.unit_id,
                    "parent_id": r.parent_id,
                    "target": r.target,
                    "forecast_q50": r.forecast_q50,
                    "p_hit": r.p_hit,
                    "last_period_actual": r.last_period_actual,
                    "phasing": dict(r.phasing),
                    "overridden": r.overridden,
                }
                for i, r in enumerate(rows)
            ],
        )


# -- mapping ORM → dataclasses ------------------------------------------------------------------------------


def _versions(expected_version: int) -> dict[str, int]:
    return {"from_version": expected_version, "to_version": expected_version + 1}


def _header(p: Proposal) -> ProposalHeader:
    return ProposalHeader(
        id=p.id,
        quarter=p.quarter,
        method=p.method,
        parameters=p.parameters,
        input_models=p.input_models,
        status=cast(ProposalStatus, p.status),
        author=p.author,
        created_at=p.created_at,
        updated_at=p.updated_at,
        approved_by=p.approved_by,
        approved_at=p.approved_at,
        version=p.version,
        note=p.note,
        scope=p.scope,
        superseded_by=p.superseded_by,
    )


def _row_data(r: ProposalRow) -> ProposalRowData:
    return ProposalRowData(
        level=r.level,
        unit_id=r.unit_id,
        parent_id=r.parent_id,
        target=to_money(r.target, "target"),
        forecast_q50=r.forecast_q50,
        p_hit=r.p_hit,
        last_period_actual=r.last_period_actual,
        phasing=r.phasing,
        overridden=r.overridden,
    )


def _check_unique_units(rows: Sequence[ProposalRowData]) -> None:
    seen: set[tuple[str, str]] = set()
    duplicates: list[str] = []
    for r in rows:
        key = (r.level, r.unit_id)
        if key in seen:
            duplicates.append(f"{r.level}/{r.unit_id}")
        seen.add(key)
    if duplicates:
        problem = Problem(
            column="unit_id",
            message="each (level, unit_id) may appear once per proposal",
            rows=duplicates[:5],
            n_rows=len(duplicates),
            fix="merge the duplicated units before storing the proposal",
        )
        raise DataValidationError([problem], source="proposal rows")


def _row_changes(old: dict[tuple[str, str], Any], rows: Sequence[ProposalRowData]) -> dict[str, Any]:
    """Which targets moved, were added or removed (amounts as strings: JSON has no Decimal)."""
    new = {(r.level, r.unit_id): r.target for r in rows}
    changes: builtins.list[dict[str, Any]] = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is None or after is None or to_money(before, "target") != after:
            changes.append(
                {
                    "level": key[0],
                    "unit_id": key[1],
                    "old_target": None if before is None else str(to_money(before, "target")),
                    "new_target": None if after is None else str(after),
                }
            )
    return {
        "rows": len(rows),
        "overridden": sum(r.overridden for r in rows),
        "n_changes": len(changes),
        "changes": changes[:MAX_AUDITED_CHANGES],
    }
