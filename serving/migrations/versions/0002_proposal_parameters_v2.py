"""Proposal parameters in one versioned shape (schema 2), whoever created the proposal.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Before this revision the CLI stored a flat dict (request fields, engine facts, ``company_target``...)
and the API stored ``{"request", "plan", "summary"}``; input model versions were ``{name: "3"}`` from the
CLI and ``{name: {"version", "run_id"}}`` from the API. Both become::

    parameters   = {"schema": 2, "request": {...}, "plan": {...}, "summary": {...}}
    input_models = {name: {"version": "3", "run_id": "..." | null}}

Proposals built before schema 2 applied their over-assignment at every level; ``plan`` records that as
``over_assignment_by_level`` so re-balancing them keeps their totals (new proposals apply it once, at the
leaf level).

Frozen in time on purpose: the conversion is spelled out here instead of importing the application's
``ProposalParameters``, so later edits of that class cannot change what this revision does.
Downgrade keeps schema 2 rows as they are (older code read both shapes through ``parameters.get``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUEST_KEYS = (
    "quarter", "by", "domain", "mode", "probability", "growth", "value", "method", "over_assignment",
    "max_change", "floors", "caps", "ramp", "overrides",
)  # fmt: skip
DEFAULTS: dict[str, Any] = {
    "mode": "probability", "probability": 0.6, "growth": None, "value": None, "method": "blended",
    "over_assignment": 0.1, "max_change": None, "floors": {}, "caps": {}, "ramp": [0.25, 0.5, 0.75, 1.0],
    "overrides": {},
}  # fmt: skip
# What the CLI's flat dict held besides request fields and engine facts: the summary's pieces.
SUMMARY_KEYS = ("company_target", "company_p_hit")
COMPANY_KEYS = ("unit_id", "mode", "target", "p_hit", "forecast_q50", "last_period_actual")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _domain(request: dict[str, Any]) -> str:
    if request.get("domain") in ("sellout", "bookings"):
        return str(request["domain"])
    return "bookings" if {"team", "rep"} & set(request.get("by") or []) else "sellout"


def convert(
    params: dict[str, Any], *, quarter: str, method: str, root: dict[str, Any] | None
) -> dict[str, Any]:
    """One stored ``parameters`` dict in schema 2 (unchanged if it already is)."""
    if params.get("schema") == 2:
        return params
    if isinstance(params.get("request"), dict):  # the API's shape
        old = dict(params["request"])
        plan = dict(params.get("plan") or {})
        summary = dict(params.get("summary") or {})
    else:  # the CLI's flat shape
        old = {k: params[k] for k in REQUEST_KEYS if k in params}
        plan = {k: v for k, v in params.items() if k not in REQUEST_KEYS and k not in SUMMARY_KEYS}
        company = {
            "unit_id": (root or {}).get("unit_id", "total"),
            "mode": params.get("mode", "probability"),
            "target": params.get("company_target", (root or {}).get("target")),
            "p_hit": params.get("company_p_hit", (root or {}).get("p_hit")),
            "forecast_q50": (root or {}).get("forecast_q50"),
            "last_period_actual": (root or {}).get("last_period_actual"),
        }
        summary = {
            "company": company,
            "curve": [],
            "fairness": {},
            "measure": params.get("measure"),
            "months": params.get("months") or [],
        }
    request = {**DEFAULTS, **{k: old[k] for k in REQUEST_KEYS if k in old}}
    request.update(quarter=old.get("quarter", quarter), method=old.get("method", method))
    request["by"] = list(request.get("by") or [])
    request["domain"] = _domain(request)
    # before schema 2 one over-assignment applied at every level (it compounded): keep what was built
    plan.setdefault("over_assignment_by_level", {lv: request["over_assignment"] for lv in request["by"]})
    for key in ("measure", "months"):
        if summary.get(key) is None and plan.get(key) is not None:
            summary[key] = plan[key]
    company = dict(summary.get("company") or {})
    fill = {**{k: v for k, v in (root or {}).items() if k != "target"}, "mode": request["mode"]}
    fill["target"] = (root or {}).get("target")
    summary["company"] = {**{k: v for k, v in fill.items() if k in COMPANY_KEYS}, **company}
    return {"schema": 2, "request": request, "plan": plan, "summary": summary}


def convert_models(models: dict[str, Any]) -> dict[str, Any]:
    return {
        name: info
        if isinstance(info, dict)
        else {"version": None if info is None else str(info), "run_id": None}
        for name, info in models.items()
    }


def upgrade() -> None:
    bind = op.get_bind()
    proposals = sa.table(
        "proposals",
        sa.column("id", sa.String),
        sa.column("quarter", sa.String),
        sa.column("method", sa.String),
        sa.column("parameters", sa.JSON),
        sa.column("input_models", sa.JSON),
    )
    rows = sa.table(
        "proposal_rows",
        sa.column("proposal_id", sa.String),
        sa.column("unit_id", sa.String),
        sa.column("parent_id", sa.String),
        sa.column("target", sa.Numeric(18, 2)),
        sa.column("forecast_q50", sa.Numeric(18, 2)),
        sa.column("p_hit", sa.Float),
        sa.column("last_period_actual", sa.Numeric(18, 2)),
        sa.column("position", sa.Integer),
    )
    for pid, quarter, method, params, models in bind.execute(
        sa.select(proposals.c.id, proposals.c.quarter, proposals.c.method, proposals.c.parameters,
                  proposals.c.input_models)
    ).all():  # fmt: skip
        params, models = dict(_json(params) or {}), dict(_json(models) or {})
        if params.get("schema") == 2 and all(isinstance(v, dict) for v in models.values()):
            continue
        root = bind.execute(
            sa.select(
                rows.c.unit_id, rows.c.target, rows.c.forecast_q50, rows.c.p_hit, rows.c.last_period_actual
            )
            .where(rows.c.proposal_id == pid, rows.c.parent_id.is_(None))
            .order_by(rows.c.position)
            .limit(1)
        ).first()
        root_values = None
        if root is not None:
            root_values = {
                k: (float(v) if v is not None and k != "unit_id" else v) for k, v in root._mapping.items()
            }
        new = convert(params, quarter=quarter, method=method, root=root_values)
        bind.execute(
            sa.update(proposals)
            .where(proposals.c.id == pid)
            .values(parameters=new, input_models=convert_models(models))
        )


def downgrade() -> None:
    """Nothing to undo in the schema; see the module docstring."""
