"""Append-only audit log shared by the repositories; each entry commits with the change it records."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from salesplan.errors import ConfigError
from salesplan.serving.db.records import Actor, AuditRecord, json_copy
from salesplan.serving.db.tables import AuditEntry

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= 1000:
        raise ConfigError(f"limit must be between 1 and 1000, got {limit}")
    return limit


class AuditRepository:
    """Append-only audit log; written by the other repositories inside the caller's transaction."""

    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.session = session
        self.clock = clock

    def write(
        self, actor: str | Actor, action: str, object_type: str, object_id: str, detail: dict[str, Any]
    ) -> None:
        """One entry: who (name and, from the API, the key it used), what, on which object."""
        who = Actor.of(actor)
        self.session.execute(
            insert(AuditEntry).values(
                at=self.clock(),
                actor=who.name,
                actor_key_id=who.key_id,
                action=action,
                object_type=object_type,
                object_id=object_id,
                detail=json_copy(detail, f"audit detail of {action}"),
            )
        )

    def list(
        self, object_type: str | None = None, object_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> builtins.list[AuditRecord]:
        """Oldest first, so a history reads top to bottom."""
        stmt = select(AuditEntry).order_by(AuditEntry.id).limit(check_limit(limit)).offset(max(0, offset))
        stmt = stmt.execution_options(populate_existing=True)
        if object_type is not None:
            stmt = stmt.where(AuditEntry.object_type == object_type)
        if object_id is not None:
            stmt = stmt.where(AuditEntry.object_id == object_id)
        return [
            AuditRecord(e.id, e.at, e.actor, e.action, e.object_type, e.object_id, e.detail, e.actor_key_id)
            for e in self.session.scalars(stmt)
        ]
