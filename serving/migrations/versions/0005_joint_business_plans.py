"""Key-account joint business plans, versioned per account: draft -> agreed -> superseded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

- ``jbps``: one row per version of an account's plan (``account_id, version`` unique), its quarters,
  joint target and P(hit), the whole plan as JSON (baseline, peer gaps, levers, investments, P&L,
  assumptions, lever settings), who wrote it and who agreed it on each side, and the link to the version
  that superseded it. At most one agreed plan per account (partial unique index, SQLite and PostgreSQL).

Only a new table: nothing existing changes."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jbps",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("quarters", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("p_hit", sa.Double(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("input_models", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agreed_by", sa.String(length=200), nullable=True),
        sa.Column("account_signatory", sa.String(length=200), nullable=True),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("superseded_by", sa.String(length=36), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'agreed', 'superseded')", name=op.f("ck_jbps_status")),
        sa.CheckConstraint("p_hit >= 0 AND p_hit <= 1", name=op.f("ck_jbps_p_hit_range")),
        sa.ForeignKeyConstraint(["superseded_by"], ["jbps.id"], name=op.f("fk_jbps_superseded_by_jbps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jbps")),
        sa.UniqueConstraint("account_id", "version", name=op.f("uq_jbps_account_id_version")),
    )
    op.create_index(
        "uq_jbps_one_agreed",
        "jbps",
        ["account_id"],
        unique=True,
        sqlite_where=sa.text("status = 'agreed'"),
        postgresql_where=sa.text("status = 'agreed'"),
    )


def downgrade() -> None:
    op.drop_index("uq_jbps_one_agreed", table_name="jbps")
    op.drop_table("jbps")
