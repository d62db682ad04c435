"""Plan vs actual: actuals of a quarter in progress, spend budgets with caps, alerts and their rules.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

- ``actuals``: one row per natural key ``(kind, series, period)`` (sell-out series × week, won deal × close
  date, channel × region × week for spend), so a reload is idempotent and a correction replaces the row
  (``version`` bumped; the audit log keeps old and new).
- ``spend_budgets``: the spend plan per month × channel × region, soft and hard caps, planned outcome.
- ``alerts``: one per quarter × rule × unit, with status (open, acknowledged, resolved) and who changed it
  last (name and API key id).
- ``alert_rules``: the thresholds a manager set (a rule without a row keeps its default).

Only new tables: nothing existing changes."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "actuals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("series", sa.String(length=400), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("outcome", sa.Double(), nullable=True),
        sa.Column("attrs", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("loaded_at"),
        sa.Column("loaded_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint("kind IN ('sellout', 'bookings', 'spend')", name=op.f("ck_actuals_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actuals")),
        sa.UniqueConstraint("kind", "series", "period", name=op.f("uq_actuals_kind_series_period")),
    )
    op.create_index("ix_actuals_kind_period", "actuals", ["kind", "period"], unique=False)
    op.create_table(
        "spend_budgets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=False),
        sa.Column("budget", sa.Double(), nullable=False),
        sa.Column("soft_cap", sa.Double(), nullable=True),
        sa.Column("hard_cap", sa.Double(), nullable=True),
        sa.Column("planned_outcome", sa.Double(), nullable=True),
        _ts("loaded_at"),
        sa.Column("loaded_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_budgets")),
        sa.UniqueConstraint("month", "channel", "region", name=op.f("uq_spend_budgets_month_channel_region")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_by_key_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_alerts_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("quarter", "rule", "unit_id", name=op.f("uq_alerts_quarter_rule_unit_id")),
    )
    op.create_index("ix_alerts_quarter_status", "alerts", ["quarter", "status"], unique=False)
    op.create_table(
        "alert_rules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        _ts("updated_at"),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_rules")),
    )


def downgrade() -> None:
    op.drop_table("alert_rules")
    op.drop_index("ix_alerts_quarter_status", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("spend_budgets")
    op.drop_index("ix_actuals_kind_period", table_name="actuals")
    op.drop_table("actuals")
