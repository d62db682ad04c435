"""Actuals of a quarter in progress and the spend plan: idempotent loads by natural key, audited corrections.

``ActualsRepository.load`` takes typed rows; for each natural key ``(kind, series, period)`` an identical
row is left alone (a reload changes nothing, not even ``loaded_at``), a new one is inserted, and a
different value replaces the stored one (``version`` + 1) with an audit entry holding the old and the new
values. All in the caller's transaction, so a load is stored whole or not at all."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from salesplan.errors import ConfigError
from salesplan.serving.db.audit import AuditRepository, Clock, utcnow
from salesplan.serving.db.records import Actor, check_one_of, json_copy
from salesplan.serving.db.tables import ACTUAL_KINDS, Actual, SpendBudget

__all__ = ["ActualRow", "ActualsRepository", "BudgetRow", "LoadResult"]

MAX_AUDITED = 1000
"""Corrections audited one by one per load; beyond that one summary entry counts the rest."""
CHUNK = 5000


@dataclass(frozen=True)
class ActualRow:
    kind: str
    series: str
    period: date
    value: float
    outcome: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetRow:
    month: str
    channel: str
    region: str
    budget: float
    soft_cap: float | None = None
    hard_cap: float | None = None
    planned_outcome: float | None = None


@dataclass(frozen=True)
class LoadResult:
    """What a load did: rows new, identical to what was stored, and corrected (replaced)."""

    inserted: int
    unchanged: int
    corrected: int
    quarters: tuple[str, ...] = ()
    """The quarters the loaded rows fall in (``2027Q1``), from the validated rows."""
    notes: tuple[str, ...] = ()
    """What the loader should know about rows that were stored (e.g. series tracking can place only in
    the total)."""

    def to_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "unchanged": self.unchanged, "corrected": self.corrected}


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def _check(rows: Sequence[ActualRow]) -> str:
    kinds = {r.kind for r in rows}
    if len(kinds) != 1 or not kinds <= set(ACTUAL_KINDS):
        raise ConfigError(
            f"one load holds one kind of actuals ({', '.join(ACTUAL_KINDS)}), got {sorted(kinds)}"
        )
    seen: set[tuple[str, date]] = set()
    for r in rows:
        if not math.isfinite(r.value) or (r.outcome is not None and not math.isfinite(r.outcome)):
            raise ConfigError(f"actual {r.series} {r.period}: values must be finite numbers, got {r.value}")
        key = (r.series, r.period)
        if key in seen:
            raise ConfigError(
                f"actual {r.series} {r.period} appears twice in one load; keep one row per natural key"
            )
        seen.add(key)
    return kinds.pop()


class ActualsRepository:
    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.session = session
        self.clock = clock
        self.audit = AuditRepository(session, clock)

    def load(self, rows: Sequence[ActualRow], actor: str | Actor) -> LoadResult:
        """Insert new rows, leave identical ones, replace (and audit) changed ones."""
        if not rows:
            return LoadResult(0, 0, 0)
        kind = _check(rows)
        who = Actor.of(actor)
        lo, hi = min(r.period for r in rows), max(r.period for r in rows)
        stored = {
            (a.series, a.period): a
            for a in self.session.scalars(
                select(Actual).where(Actual.kind == kind, Actual.period >= lo, Actual.period <= hi)
            )
        }
        now = self.clock()
        new: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        audited = 0
        unchanged = 0
        for r in rows:
            attrs = json_copy(r.attrs, f"attributes of actual {r.series}")
            old = stored.get((r.series, r.period))
            if old is None:
                new.append(dict(kind=kind, series=r.series, period=r.period, value=r.value, outcome=r.outcome,
                                attrs=attrs, version=1, loaded_at=now, loaded_by=who.name))  # fmt: skip
                continue
            if _same(old.value, r.value) and _same(old.outcome, r.outcome) and old.attrs == attrs:
                unchanged += 1
                continue
            changes.append(dict(id=old.id, value=r.value, outcome=r.outcome, attrs=attrs,
                                version=old.version + 1, loaded_at=now, loaded_by=who.name))  # fmt: skip
            if audited < MAX_AUDITED:
                audited += 1
                self.audit.write(
                    who, "actual.corrected", "actual", str(old.id),
                    {"kind": kind, "series": r.series, "period": r.period.isoformat(),
                     "old": {"value": old.value, "outcome": old.outcome, "version": old.version},
                     "new": {"value": r.value, "outcome": r.outcome, "version": old.version + 1}},
                )  # fmt: skip
        for i in range(0, len(new), CHUNK):
            self.session.execute(insert(Actual), new[i : i + CHUNK])
        if changes:
            self.session.execute(update(Actual), changes)
        if len(changes) > audited:
            self.audit.write(who, "actuals.corrected", "actuals", kind,
                             {"corrected": len(changes), "audited_one_by_one": audited})  # fmt: skip
        if new or changes:
            self.audit.write(who, "actuals.loaded", "actuals", kind,
                             {"inserted": len(new), "corrected": len(changes), "unchanged": unchanged,
                              "from": lo.isoformat(), "to": hi.isoformat()})  # fmt: skip
        return LoadResult(len(new), unchanged, len(changes))

    def rows(self, kind: str, start: date | None = None, end: date | None = None) -> list[ActualRow]:
        """Stored actuals of ``kind`` with ``start <= period <= end``, ordered by series and period."""
        check_one_of(kind, ACTUAL_KINDS, "kind")
        stmt = select(Actual).where(Actual.kind == kind).order_by(Actual.series, Actual.period)
        if start is not None:
            stmt = stmt.where(Actual.period >= start)
        if end is not None:
            stmt = stmt.where(Actual.period <= end)
        return [ActualRow(a.kind, a.series, a.period, a.value, a.outcome, dict(a.attrs))
                for a in self.session.scalars(stmt)]  # fmt: skip

    def latest(self, kind: str) -> tuple[date | None, datetime | None]:
        """The last period with actuals of ``kind`` and when anything was last loaded."""
        from sqlalchemy import func

        got = self.session.execute(
            select(func.max(Actual.period), func.max(Actual.loaded_at)).where(Actual.kind == kind)
        ).one()
        return got[0], got[1]

    # ------------------------------------------------------------------------------------ spend plan
    def load_budgets(self, rows: Sequence[BudgetRow], actor: str | Actor) -> LoadResult:
        """The spend plan, idempotent by (month, channel, region) like the actuals."""
        who = Actor.of(actor)
        stored = {(b.month, b.channel, b.region): b for b in self.session.scalars(select(SpendBudget))}
        now = self.clock()
        ins = same = changed = 0
        for r in rows:
            vals = dict(
                budget=r.budget, soft_cap=r.soft_cap, hard_cap=r.hard_cap, planned_outcome=r.planned_outcome
            )
            for k, v in vals.items():
                if v is not None and (not math.isfinite(v) or v < 0):
                    raise ConfigError(f"budget {r.month} {r.channel}/{r.region}: {k} must be ≥ 0, got {v}")
            old = stored.get((r.month, r.channel, r.region))
            if old is None:
                self.session.add(SpendBudget(month=r.month, channel=r.channel, region=r.region, **vals,
                                             loaded_at=now, loaded_by=who.name))  # fmt: skip
                ins += 1
            elif all(_same(getattr(old, k), v) for k, v in vals.items()):
                same += 1
            else:
                before = {k: getattr(old, k) for k in vals}
                for k, v in vals.items():
                    setattr(old, k, v)
                old.loaded_at, old.loaded_by = now, who.name
                self.audit.write(who, "budget.corrected", "spend_budget", str(old.id),
                                 {"month": r.month, "channel": r.channel, "region": r.region,
                                  "old": before, "new": vals})  # fmt: skip
                changed += 1
        self.session.flush()
        return LoadResult(ins, same, changed)

    def budgets(self, months: Sequence[str] | None = None) -> list[BudgetRow]:
        stmt = select(SpendBudget).order_by(SpendBudget.month, SpendBudget.channel, SpendBudget.region)
        if months is not None:
            stmt = stmt.where(SpendBudget.month.in_(list(months)))
        return [BudgetRow(b.month, b.channel, b.region, b.budget, b.soft_cap, b.hard_cap, b.planned_outcome)
                for b in self.session.scalars(stmt)]  # fmt: skip
