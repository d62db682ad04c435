"""Alerts carry the kind of proposal they watch (sell-out or bookings).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

A quarter can have an approved sell-out proposal and an approved bookings proposal at once, and their units
can share ids (``region=North``). Alerts were unique per quarter × rule × unit, so evaluating one kind
resolved (or overwrote) the other kind's alerts. ``alerts.domain`` ('sellout' or 'bookings') joins the key;
existing rows were all raised by sell-out tracking (bookings tracking arrived with this revision) and get
'sellout'."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:  # SQLite rebuilds the table; PostgreSQL alters it
        batch.add_column(sa.Column("domain", sa.String(length=16), nullable=False, server_default="sellout"))
        batch.drop_constraint(op.f("uq_alerts_quarter_rule_unit_id"), type_="unique")
        batch.create_unique_constraint(
            op.f("uq_alerts_quarter_domain_rule_unit_id"), ["quarter", "domain", "rule", "unit_id"]
        )
        batch.create_check_constraint(op.f("ck_alerts_domain"), "domain IN ('sellout', 'bookings')")


def downgrade() -> None:
    # bookings alerts have no place in the old key (they could collide with sell-out ones): they go
    op.execute("DELETE FROM alerts WHERE domain = 'bookings'")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint(op.f("ck_alerts_domain"), type_="check")
        batch.drop_constraint(op.f("uq_alerts_quarter_domain_rule_unit_id"), type_="unique")
        batch.create_unique_constraint(op.f("uq_alerts_quarter_rule_unit_id"), ["quarter", "rule", "unit_id"])
        batch.drop_column("domain")
