"""The ``parameters`` JSON of a stored proposal: one versioned shape, whoever created the proposal.

Schema 2 (migration ``0002`` converts the two older shapes)::

    {"schema": 2,
     "request": <ProposalRequest as JSON: quarter, by, domain (resolved), mode, probability, ...>,
     "plan":    <what the engine used and found: measure, months, last period, phasing shapes, notes>,
     "summary": <computed once at creation: company target, slider curve, fairness, measure, months>}

``request`` is the planner's request verbatim, so a proposal can be re-built or re-balanced with exactly
its own settings (e.g. its over-assignment) by the CLI, the API or the web page alike; ``summary`` is
what reading a proposal shows without running the models again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from salesplan.errors import ConflictError
from salesplan.io import jsonable
from salesplan.planning.proposals import ProposalRequest, explain

__all__ = ["SCHEMA", "ProposalParameters"]

SCHEMA = 2
REQUEST_KEYS = frozenset(ProposalRequest.model_fields)


@dataclass(frozen=True)
class ProposalParameters:
    """A stored proposal's parameters, parsed: the request, the engine's facts and the summary."""

    request: ProposalRequest
    plan: Mapping[str, Any] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)

    @property
    def months(self) -> list[str]:
        return [str(m) for m in self.summary.get("months") or self.plan.get("months") or []]

    @property
    def over_assignment_by_level(self) -> dict[str, float]:
        """The over-assignment by child level the proposal was built with: recorded in ``plan``; else the
        request's, applied at the last level of ``by`` (applied once, at the leaf level)."""
        recorded = self.plan.get("over_assignment_by_level")
        if isinstance(recorded, dict):
            return {str(k): float(v) for k, v in recorded.items()}
        return {self.request.by[-1]: float(self.request.over_assignment)}

    @property
    def measure(self) -> str:
        return str(self.summary.get("measure") or self.plan.get("measure") or "")

    def to_json(self) -> dict[str, Any]:
        """What the store keeps (plain JSON; the request with its domain resolved)."""
        request = self.request.model_dump(mode="json")
        request["domain"] = self.request.resolved_domain
        plan = {k: v for k, v in self.plan.items() if k not in REQUEST_KEYS}
        return {
            "schema": SCHEMA,
            "request": request,
            "plan": jsonable(plan),
            "summary": jsonable(self.summary),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], proposal_id: str = "?") -> ProposalParameters:
        """Parse stored parameters; a row in an older shape means the database was not upgraded."""
        if raw.get("schema") != SCHEMA:
            raise ConflictError(
                f"proposal {proposal_id} has parameters of schema {raw.get('schema', 1)!r}, not {SCHEMA}; "
                "upgrade the database (salesplan db upgrade) to convert them"
            )
        try:
            request = ProposalRequest(**raw["request"])
        except (ValidationError, KeyError, TypeError) as exc:
            why = explain(exc) if isinstance(exc, ValidationError) else f"{type(exc).__name__}: {exc}"
            raise ConflictError(f"proposal {proposal_id} has unreadable parameters ({why})") from None
        return cls(request, dict(raw.get("plan") or {}), dict(raw.get("summary") or {}))
