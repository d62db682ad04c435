"""ORM tables of the application database (proposals, API keys, audit log).

The Alembic migrations own the schema; these classes must match them exactly (a test compares an upgraded
empty database with this metadata). Constraint names come from one naming convention so that future
migrations can refer to them on every backend.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PROPOSAL_STATUSES = ("draft", "approved", "rejected", "superseded")
API_KEY_ROLES = ("planner", "crm", "analyst", "admin")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite has no time zones, so it stores naive UTC and we
    re-attach UTC on read; naive input is refused rather than silently guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (e.g. datetime.now(UTC))")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Money = Numeric(18, 2)
"""Currency amounts: exact cents on PostgreSQL; SQLite keeps them as REAL (exact to the cent up to ~1e13)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        Decimal: Money,
    }


class Proposal(Base):
    """Header of a target proposal; ``version`` is bumped by every change (optimistic locking). At most one
    proposal per quarter and ``scope`` is approved (a partial unique index: the database, not a read
    before the write, keeps two racing approvals from both winning); approving another one supersedes it
    (``superseded_by`` links to the newer)."""

    __tablename__ = "proposals"
    __table_args__ = (
        CheckConstraint(_in_list("status", PROPOSAL_STATUSES), name="status"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_proposals_quarter_status", "quarter", "status"),
        Index(
            "uq_proposals_one_approved",
            "quarter",
            "scope",
            unique=True,
            sqlite_where=text("status = 'approved'"),
            postgresql_where=text("status = 'approved'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    quarter: Mapped[str] = mapped_column(String(6))
    method: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]]
    input_models: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(200), server_default="")
    superseded_by: Mapped[str | None] = mapped_column(String(36), ForeignKey("proposals.id"))

    rows: Mapped[list[ProposalRow]] = relationship(
        back_populates="proposal",
        order_by="ProposalRow.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class ProposalRow(Base):
    """One unit of the hierarchy in a proposal; ``position`` keeps the order the planner produced."""

    __tablename__ = "proposal_rows"
    __table_args__ = (
        UniqueConstraint("proposal_id", "level", "unit_id"),
        CheckConstraint("p_hit IS NULL OR (p_hit >= 0 AND p_hit <= 1)", name="p_hit_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[str] = mapped_column(String(36), ForeignKey("proposals.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(200))
    target: Mapped[Decimal]
    forecast_q50: Mapped[Decimal | None]
    p_hit: Mapped[float | None] = mapped_column(Double)
    last_period_actual: Mapped[Decimal | None]
    phasing: Mapped[dict[str, Any]]
    overridden: Mapped[bool] = mapped_column(Boolean)

    proposal: Mapped[Proposal] = relationship(back_populates="rows")


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; ``key_prefix`` finds the row and is safe to display. Names
    are unique among active keys, ignoring case (the name is who acts in the audit log and approvals; a
    revoked key's name can be given to its replacement)."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(_in_list("role", API_KEY_ROLES), name="role"),
        UniqueConstraint("key_prefix"),
        Index(
            "uq_api_keys_active_name",
            func.lower(text("name")),
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    key_prefix: Mapped[str] = mapped_column(String(8))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who changed what, when: written in the same transaction as the change it records."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object_type_object_id", "object_type", "object_id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    actor_key_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


ACTUAL_KINDS = ("sellout", "bookings", "spend")
ALERT_STATUSES = ("open", "acknowledged", "resolved")
ALERT_DOMAINS = ("sellout", "bookings")


class Actual(Base):
    """One actual of a quarter in progress, by natural key ``(kind, series, period)``: a sell-out series and
    week (``y``), a won deal and its close date (``amount``), a channel × region and week (``spend`` and
    its ``outcome``). Reloading the same row changes nothing; a different value replaces it (``version``
    bumped, the old and new values in the audit log)."""

    __tablename__ = "actuals"
    __table_args__ = (
        CheckConstraint(_in_list("kind", ACTUAL_KINDS), name="kind"),
        UniqueConstraint("kind", "series", "period"),
        Index("ix_actuals_kind_period", "kind", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    series: Mapped[str] = mapped_column(String(400))
    period: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Double)
    outcome: Mapped[float | None] = mapped_column(Double)
    attrs: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime]
    loaded_by: Mapped[str] = mapped_column(String(200))


class SpendBudget(Base):
    """The spend plan per month × channel × region, with its soft and hard caps and planned outcome."""

    __tablename__ = "spend_budgets"
    __table_args__ = (UniqueConstraint("month", "channel", "region"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7))
    channel: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(200))
    budget: Mapped[float] = mapped_column(Double)
    soft_cap: Mapped[float | None] = mapped_column(Double)
    hard_cap: Mapped[float | None] = mapped_column(Double)
    planned_outcome: Mapped[float | None] = mapped_column(Double)
    loaded_at: Mapped[datetime]
    loaded_by: Mapped[str] = mapped_column(String(200))


class AlertRecordRow(Base):
    """An alert of a quarter: one per (quarter, domain, rule, unit), refreshed by every evaluation while it holds;
    ``status`` open → acknowledged → resolved, with who changed it last (the audit log has every change)."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_in_list("status", ALERT_STATUSES), name="status"),
        CheckConstraint(_in_list("domain", ALERT_DOMAINS), name="domain"),
        UniqueConstraint("quarter", "domain", "rule", "unit_id"),
        Index("ix_alerts_quarter_status", "quarter", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    quarter: Mapped[str] = mapped_column(String(6))
    domain: Mapped[str] = mapped_column(String(16), server_default="sellout")
    rule: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_by_key_id: Mapped[str | None] = mapped_column(String(36))


class AlertRuleSetting(Base):
    """The alert rules a manager set (one row per rule; a rule without a row keeps its default)."""

    __tablename__ = "alert_rules"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


JBP_STATUSES = ("draft", "agreed", "superseded")


class JointBusinessPlanRow(Base):
    """A version of one account's joint business plan. Versions of an account count up from 1; a draft is
    agreed once (supplier's approver, four eyes, and the account's signatory named) and is then
    immutable; agreeing a newer version supersedes the agreed one (``superseded_by`` links to it). At most
    one agreed plan per account (a partial unique index, so two racing agreements cannot both win)."""

    __tablename__ = "jbps"
    __table_args__ = (
        CheckConstraint(_in_list("status", JBP_STATUSES), name="status"),
        CheckConstraint("p_hit >= 0 AND p_hit <= 1", name="p_hit_range"),
        UniqueConstraint("account_id", "version"),
        Index(
            "uq_jbps_one_agreed",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'agreed'"),
            postgresql_where=text("status = 'agreed'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    quarters: Mapped[str] = mapped_column(String(64))
    target: Mapped[Decimal]
    p_hit: Mapped[float] = mapped_column(Double)
    plan: Mapped[dict[str, Any]]
    input_models: Mapped[dict[str, Any]]
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    agreed_by: Mapped[str | None] = mapped_column(String(200))
    account_signatory: Mapped[str | None] = mapped_column(String(200))
    agreed_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    superseded_by: Mapped[str | None] = mapped_column(String(36), ForeignKey("jbps.id"))
