"""Stored joint business plans: versions per account, draft -> agreed -> superseded, with the audit log.

The rules live here so every door obeys them: a new plan of an account is its next version (a unique
``(account_id, version)`` refuses two racing creations); only a draft is agreed, by someone other than its
author (four eyes, like proposals) and naming the account's signatory; agreeing supersedes the account's
agreed plan (linked to the newer one), and a partial unique index keeps one agreed plan per account."""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesplan.errors import ConfigError, ConflictError, ForbiddenError, NotFoundError
from salesplan.serving.db.audit import AuditRepository, Clock, check_limit, utcnow
from salesplan.serving.db.records import Actor, AuditRecord, json_copy, principal, printable, to_money
from salesplan.serving.db.tables import JointBusinessPlanRow

__all__ = ["JbpRecord", "JbpRepository", "JbpStatus", "NewJbp"]

JbpStatus = Literal["draft", "agreed", "superseded"]
OBJECT = "jbp"


@dataclass(frozen=True)
class NewJbp:
    account_id: str
    quarters: str
    target: Decimal
    p_hit: float
    plan: dict[str, Any]
    input_models: dict[str, Any]
    author: str
    note: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.p_hit <= 1:
            raise ConfigError(f"p_hit must be in [0, 1], got {self.p_hit}")
        object.__setattr__(self, "target", to_money(self.target, "target"))
        object.__setattr__(self, "plan", json_copy(self.plan, "plan"))
        object.__setattr__(self, "input_models", json_copy(self.input_models, "input_models"))
        if self.note is not None and len(self.note) > 2000:
            raise ConfigError("note is longer than 2000 characters")


@dataclass(frozen=True)
class JbpRecord:
    id: str
    account_id: str
    version: int
    status: JbpStatus
    quarters: str
    target: Decimal
    p_hit: float
    plan: dict[str, Any]
    input_models: dict[str, Any]
    author: str
    created_at: datetime
    agreed_by: str | None
    account_signatory: str | None
    agreed_at: datetime | None
    note: str | None
    superseded_by: str | None

    def header(self) -> dict[str, Any]:
        """Everything but the plan body (lists and tables of versions)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("plan", "input_models")}


def _record(r: JointBusinessPlanRow) -> JbpRecord:
    return JbpRecord(r.id, r.account_id, r.version, cast(JbpStatus, r.status), r.quarters, to_money(r.target, "target"),
                     float(r.p_hit), dict(r.plan), dict(r.input_models), r.author, r.created_at, r.agreed_by,
                     r.account_signatory, r.agreed_at, r.note, r.superseded_by)  # fmt: skip


class JbpRepository:
    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.session = session
        self.clock = clock
        self.audit = AuditRepository(session, clock)

    def create(self, new: NewJbp, actor: str | Actor) -> JbpRecord:
        """The account's next version, as a draft."""
        jid = str(uuid.uuid4())
        top = self.session.scalar(
            select(func.max(JointBusinessPlanRow.version)).where(
                JointBusinessPlanRow.account_id == new.account_id
            )
        )
        version = int(top or 0) + 1
        try:
            with self.session.begin_nested():
                self.session.execute(
                    insert(JointBusinessPlanRow).values(
                        id=jid,
                        account_id=new.account_id,
                        version=version,
                        status="draft",
                        quarters=new.quarters,
                        target=new.target,
                        p_hit=new.p_hit,
                        plan=new.plan,
                        input_models=new.input_models,
                        author=new.author,
                        created_at=self.clock(),
                        note=new.note,
                    )
                )
        except IntegrityError:
            raise ConflictError(
                f"another plan of account {new.account_id} was created at version {version} at the same "
                "time; retry"
            ) from None
        self.audit.write(actor, "jbp.create", OBJECT, jid,
                         {"account_id": new.account_id, "version": version, "target": str(new.target)})  # fmt: skip
        return self.get(jid)

    def get(self, jbp_id: str) -> JbpRecord:
        row = self.session.get(JointBusinessPlanRow, jbp_id, populate_existing=True)
        if row is None:
            raise NotFoundError(
                f"no joint business plan {printable(jbp_id)!r}; list them with 'salesplan jbp list'"
            )
        return _record(row)

    def ids_with_prefix(self, prefix: str, limit: int = 2) -> builtins.list[str]:
        stmt = select(JointBusinessPlanRow.id).where(
            JointBusinessPlanRow.id.startswith(prefix, autoescape=True)
        )
        return list(self.session.scalars(stmt.limit(limit)))

    def list(self, account_id: str | None = None, status: JbpStatus | None = None,
             limit: int = 100) -> builtins.list[JbpRecord]:  # fmt: skip
        """Newest version first."""
        stmt = select(JointBusinessPlanRow).order_by(
            JointBusinessPlanRow.account_id, JointBusinessPlanRow.version.desc()
        )
        if account_id is not None:
            stmt = stmt.where(JointBusinessPlanRow.account_id == account_id)
        if status is not None:
            stmt = stmt.where(JointBusinessPlanRow.status == status)
        stmt = stmt.limit(check_limit(limit)).execution_options(populate_existing=True)
        return [_record(r) for r in self.session.scalars(stmt)]

    def latest_per_account(self) -> builtins.list[JbpRecord]:
        """The newest version of every account that has a plan."""
        T = JointBusinessPlanRow
        newest = select(T.account_id, func.max(T.version).label("v")).group_by(T.account_id).subquery()
        stmt = select(T).join(newest, (T.account_id == newest.c.account_id) & (T.version == newest.c.v))
        return [_record(r) for r in self.session.scalars(stmt.execution_options(populate_existing=True))]

    def agree(self, jbp_id: str, by: str | Actor, signatory: str, *, four_eyes: bool = True) -> JbpRecord:
        """Draft -> agreed (immutable from then on); the account's agreed plan becomes superseded."""
        who = Actor.of(by)
        if not isinstance(signatory, str) or not signatory.strip() or len(signatory) > 200:
            raise ConfigError("name the account's signatory (who agreed the plan on the account's side), "
                              "1-200 characters")  # fmt: skip
        current = self.get(jbp_id)
        if current.status != "draft":
            raise ConflictError(
                f"plan {jbp_id} is {current.status}; only a draft can be agreed (build a new version instead)"
            )
        if four_eyes and principal(who.name) == principal(current.author):
            raise ForbiddenError(
                f"{who.name!r} wrote plan {jbp_id} and so may not agree it: another person must (four eyes)"
            )
        now = self.clock()
        T = JointBusinessPlanRow
        try:
            with self.session.begin_nested():
                old = list(self.session.execute(
                    update(T).where(T.account_id == current.account_id, T.status == "agreed", T.id != jbp_id)
                    .values(status="superseded", superseded_by=jbp_id).returning(T.id)
                    .execution_options(synchronize_session=False)
                ))  # fmt: skip
                res = cast(CursorResult[Any], self.session.execute(
                    update(T).where(T.id == jbp_id, T.status == "draft")
                    .values(status="agreed", agreed_by=who.name, agreed_at=now, account_signatory=signatory.strip())
                    .execution_options(synchronize_session=False)
                ))  # fmt: skip
                if res.rowcount != 1:
                    raise ConflictError(f"plan {jbp_id} changed while being agreed; reload and decide again")
        except IntegrityError:
            raise ConflictError(
                f"another plan of account {current.account_id} was agreed at the same time; reload and decide again"
            ) from None
        for (oid,) in old:
            self.audit.write(who, "jbp.supersede", OBJECT, oid, {"superseded_by": jbp_id})
        self.audit.write(who, "jbp.agree", OBJECT, jbp_id, {"account_signatory": signatory.strip(),
                                                            "supersedes": [o[0] for o in old]})  # fmt: skip
        return self.get(jbp_id)

    def history(self, jbp_id: str) -> builtins.list[AuditRecord]:
        return self.audit.list(OBJECT, jbp_id)
