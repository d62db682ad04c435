"""Alerts and their rules in the application database.

``sync`` stores what one evaluation raised: an alert that still holds keeps its id and status (an
acknowledged alert is not re-opened just because it is re-evaluated) and gets the fresh evidence; a
resolved alert whose rule fires again is re-opened; an open or acknowledged alert whose rule no longer
fires is resolved by the system. Every status change is audited with the actor and the API key id."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from salesplan.errors import NotFoundError
from salesplan.planning.tracking import Alert, AlertRules
from salesplan.serving.db.audit import AuditRepository, Clock, check_limit, utcnow
from salesplan.serving.db.records import Actor, check_one_of, check_quarter, json_copy
from salesplan.serving.db.tables import ALERT_DOMAINS, ALERT_STATUSES, AlertRecordRow, AlertRuleSetting

__all__ = ["AlertRecord", "AlertRepository", "AlertStatus"]

AlertStatus = Literal["open", "acknowledged", "resolved"]
SYSTEM = "salesplan tracking"


@dataclass(frozen=True)
class AlertRecord:
    id: str
    quarter: str
    domain: str
    rule: str
    level: str
    unit_id: str
    severity: str
    message: str
    action: str
    evidence: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    updated_by: str
    updated_by_key_id: str | None


def _record(a: AlertRecordRow) -> AlertRecord:
    return AlertRecord(a.id, a.quarter, a.domain, a.rule, a.level, a.unit_id, a.severity, a.message, a.action,
                       dict(a.evidence), a.status, a.created_at, a.updated_at, a.updated_by,
                       a.updated_by_key_id)  # fmt: skip


class AlertRepository:
    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.session = session
        self.clock = clock
        self.audit = AuditRepository(session, clock)

    def sync(
        self, quarter: str, alerts: Sequence[Alert], domain: str = "sellout"
    ) -> builtins.list[AlertRecord]:
        """Store one evaluation's alerts of ``quarter`` for one kind of proposal (``domain``: sellout or
        bookings; the other kind's alerts are left alone; see the module doc); returns the quarter's
        alerts of that kind."""
        check_quarter(quarter)
        check_one_of(domain, ALERT_DOMAINS, "domain")
        now = self.clock()
        mine = (AlertRecordRow.quarter == quarter) & (AlertRecordRow.domain == domain)
        stored = {(a.rule, a.unit_id): a for a in self.session.scalars(select(AlertRecordRow).where(mine))}
        fired = set()
        for al in alerts:
            key = (al.rule, al.unit_id)
            fired.add(key)
            ev = json_copy(al.evidence, f"evidence of alert {al.rule} {al.unit_id}")
            row = stored.get(key)
            if row is None:
                row = AlertRecordRow(id=str(uuid.uuid4()), quarter=quarter, domain=domain, rule=al.rule, level=al.level,
                                     unit_id=al.unit_id, severity=al.severity, message=al.message,
                                     action=al.action, evidence=ev, status="open", created_at=now,
                                     updated_at=now, updated_by=SYSTEM, updated_by_key_id=None)  # fmt: skip
                self.session.add(row)
                self.session.flush()
                self.audit.write(
                    SYSTEM, "alert.opened", "alert", row.id,
                    {"rule": al.rule, "unit_id": al.unit_id, "domain": domain},
                )  # fmt: skip
                continue
            row.severity, row.message, row.action, row.evidence = al.severity, al.message, al.action, ev
            if row.status == "resolved":
                self._set(row, "open", Actor(SYSTEM), "the rule fires again", now)
        for key, row in stored.items():
            if key not in fired and row.status != "resolved":
                self._set(row, "resolved", Actor(SYSTEM), "the rule no longer fires", now)
        self.session.flush()
        return self.list(quarter=quarter, domain=domain, limit=1000)

    def _set(self, row: AlertRecordRow, status: str, who: Actor, note: str | None, now: datetime) -> None:
        old = row.status
        row.status, row.updated_at, row.updated_by, row.updated_by_key_id = status, now, who.name, who.key_id
        self.audit.write(who, f"alert.{status}", "alert", row.id, {"from": old, "to": status, "note": note})

    def set_status(
        self, alert_id: str, status: str, actor: str | Actor, note: str | None = None
    ) -> AlertRecord:
        """Acknowledge, resolve or re-open one alert (audited with who and, from the API, the key id)."""
        check_one_of(status, ALERT_STATUSES, "status")
        row = self.session.get(AlertRecordRow, alert_id, populate_existing=True)
        if row is None:
            raise NotFoundError(
                f"no alert {alert_id!r}; list them with GET /api/v1/alerts or salesplan track"
            )
        if row.status != status:
            self._set(row, status, Actor.of(actor), note, self.clock())
            self.session.flush()
        return _record(row)

    def list(
        self,
        quarter: str | None = None,
        status: str | None = None,
        limit: int = 200,
        offset: int = 0,
        domain: str | None = None,
    ) -> builtins.list[AlertRecord]:
        """Critical first, then by rule and unit."""
        stmt = select(AlertRecordRow).execution_options(populate_existing=True)
        if quarter is not None:
            stmt = stmt.where(AlertRecordRow.quarter == check_quarter(quarter))
        if domain is not None:
            check_one_of(domain, ALERT_DOMAINS, "domain")
            stmt = stmt.where(AlertRecordRow.domain == domain)
        if status is not None:
            check_one_of(status, ALERT_STATUSES, "status")
            stmt = stmt.where(AlertRecordRow.status == status)
        stmt = stmt.order_by(AlertRecordRow.severity, AlertRecordRow.rule, AlertRecordRow.unit_id)
        return [
            _record(a) for a in self.session.scalars(stmt.limit(check_limit(limit)).offset(max(0, offset)))
        ]

    # ------------------------------------------------------------------------------------------ rules
    def rules(self) -> AlertRules:
        """The rules in force: each stored setting over the defaults."""
        stored = {r.name: r.value.get("value") for r in self.session.scalars(select(AlertRuleSetting))}
        return AlertRules.from_mapping(stored)

    def set_rules(self, values: dict[str, Any], actor: str | Actor) -> AlertRules:
        """Change some rules (validated together with the rest before anything is stored); audited."""
        current = self.rules().to_dict()
        new = AlertRules.from_mapping({**current, **values})
        who, now = Actor.of(actor), self.clock()
        for name, value in new.to_dict().items():
            if name not in values or current.get(name) == value:
                continue
            row = self.session.get(AlertRuleSetting, name)
            if row is None:
                self.session.add(
                    AlertRuleSetting(name=name, value={"value": value}, updated_at=now, updated_by=who.name)
                )
            else:
                row.value, row.updated_at, row.updated_by = {"value": value}, now, who.name
            self.audit.write(
                who, "alert_rule.set", "alert_rule", name, {"from": current.get(name), "to": value}
            )
        self.session.flush()
        return new
