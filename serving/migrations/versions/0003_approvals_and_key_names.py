"""Maker-checker approvals and unambiguous actors.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

- ``proposals.scope`` (``"<domain>:<levels>"``, e.g. ``"sellout:region,store"``) and a partial unique index:
  at most one approved proposal per quarter and scope. Approving another one marks the previous
  ``superseded`` with ``superseded_by`` pointing to the newer (a new status and a self-reference).
- ``audit_log.actor_key_id``: the API key that acted (names alone could be shared by several keys).
- API key names unique among active keys, ignoring case (a partial unique index on ``lower(name)``).

Existing data is made to fit, and every change is written to the audit log: of several approved proposals of
one quarter and scope the newest stays approved and the others become superseded by it; of several active
keys with one name (ignoring case) the oldest keeps it and the others are renamed ``<name>-<prefix>``.

Frozen in time on purpose: the scope rule is spelled out here (as ``serving.db.records.scope_of`` has it
today) so later edits of the application cannot change what this revision does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTOR = "salesplan db upgrade (0003)"
OLD_STATUSES = "status IN ('draft', 'approved', 'rejected')"
NEW_STATUSES = "status IN ('draft', 'approved', 'rejected', 'superseded')"

proposals = sa.table(
    "proposals",
    sa.column("id", sa.String),
    sa.column("quarter", sa.String),
    sa.column("parameters", sa.JSON),
    sa.column("status", sa.String),
    sa.column("approved_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("version", sa.Integer),
    sa.column("scope", sa.String),
    sa.column("superseded_by", sa.String),
)
api_keys = sa.table(
    "api_keys",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("key_prefix", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("revoked_at", sa.DateTime(timezone=True)),
)
audit = sa.table(
    "audit_log",
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("object_type", sa.String),
    sa.column("object_id", sa.String),
    sa.column("detail", sa.JSON),
)


def scope_of(parameters: Any) -> str:
    params = json.loads(parameters) if isinstance(parameters, str) else parameters
    request = params.get("request") if isinstance(params, dict) else None
    if not isinstance(request, dict) or not request.get("by"):
        return ""
    by = [str(b) for b in request["by"]]
    domain = request.get("domain")
    if domain not in ("sellout", "bookings"):
        domain = "bookings" if {"team", "rep"} & set(by) else "sellout"
    return f"{domain}:{','.join(by)}"


def _now(bind: sa.Connection) -> datetime:
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now


def _log(bind: sa.Connection, action: str, object_type: str, object_id: str, detail: dict[str, Any]) -> None:
    bind.execute(
        sa.insert(audit).values(
            at=_now(bind), actor=ACTOR, action=action, object_type=object_type, object_id=object_id,
            detail=detail,
        )
    )  # fmt: skip


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=200), server_default="", nullable=False))
        batch.add_column(sa.Column("superseded_by", sa.String(length=36), nullable=True))
        batch.create_foreign_key(
            op.f("fk_proposals_superseded_by_proposals"), "proposals", ["superseded_by"], ["id"]
        )
        batch.drop_constraint(op.f("ck_proposals_status"), type_="check")
        batch.create_check_constraint(op.f("ck_proposals_status"), sa.text(NEW_STATUSES))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("actor_key_id", sa.String(length=36), nullable=True))

    rows = bind.execute(
        sa.select(proposals.c.id, proposals.c.quarter, proposals.c.parameters, proposals.c.status,
                  proposals.c.approved_at, proposals.c.updated_at)
    ).all()  # fmt: skip
    approved: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        scope = scope_of(r.parameters)
        bind.execute(sa.update(proposals).where(proposals.c.id == r.id).values(scope=scope))
        if r.status == "approved":
            approved.setdefault((r.quarter, scope), []).append(r)
    for (quarter, scope), group in approved.items():
        group.sort(key=lambda r: (r.approved_at or r.updated_at, r.updated_at, r.id))
        keep = group[-1]
        for old in group[:-1]:
            bind.execute(
                sa.update(proposals)
                .where(proposals.c.id == old.id)
                .values(status="superseded", superseded_by=keep.id, version=proposals.c.version + 1)
            )
            detail = {"superseded_by": keep.id, "quarter": quarter, "scope": scope,
                      "why": "several approved proposals of one quarter and scope; the newest stays"}  # fmt: skip
            _log(bind, "proposal.supersede", "proposal", old.id, detail)
    op.create_index(
        "uq_proposals_one_approved", "proposals", ["quarter", "scope"], unique=True,
        sqlite_where=sa.text("status = 'approved'"), postgresql_where=sa.text("status = 'approved'"),
    )  # fmt: skip

    keys = bind.execute(
        sa.select(api_keys.c.id, api_keys.c.name, api_keys.c.key_prefix, api_keys.c.created_at)
        .where(api_keys.c.revoked_at.is_(None))
        .order_by(api_keys.c.created_at, api_keys.c.id)
    ).all()
    taken = {k.name.lower() for k in keys}
    seen: set[str] = set()
    for k in keys:
        if k.name.lower() not in seen:
            seen.add(k.name.lower())
            continue
        new = f"{k.name[:190]}-{k.key_prefix}"
        while new.lower() in taken:
            new += "x"
        taken.add(new.lower())
        bind.execute(sa.update(api_keys).where(api_keys.c.id == k.id).values(name=new))
        _log(bind, "api_key.rename", "api_key", k.id, {"old_name": k.name, "new_name": new,
                                                        "why": "another active key has this name"})  # fmt: skip
    op.create_index(
        "uq_api_keys_active_name", "api_keys", [sa.text("lower(name)")], unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"), postgresql_where=sa.text("revoked_at IS NULL"),
    )  # fmt: skip


def downgrade() -> None:
    """Superseded proposals become approved again (0002 knows no other status); renamed keys keep their
    new names; the audit log keeps what happened."""
    op.drop_index("uq_api_keys_active_name", table_name="api_keys")
    op.drop_index("uq_proposals_one_approved", table_name="proposals")
    op.get_bind().execute(
        sa.update(proposals).where(proposals.c.status == "superseded").values(status="approved")
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("actor_key_id")
    with op.batch_alter_table("proposals") as batch:
        batch.drop_constraint(op.f("ck_proposals_status"), type_="check")
        batch.create_check_constraint(op.f("ck_proposals_status"), sa.text(OLD_STATUSES))
        batch.drop_constraint(op.f("fk_proposals_superseded_by_proposals"), type_="foreignkey")
        batch.drop_column("superseded_by")
        batch.drop_column("scope")
