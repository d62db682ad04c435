"""Glue between the service's loaded state and the planning engine (contract C2): which frames and model
versions a proposal of a given domain is built from, the stored form of a result, and a small cache of
quarter distributions so the target slider (curve, implied probability) does not rebuild them per call."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from salesplan.planning.distributions import QuarterDistribution
from salesplan.planning.proposals import ProposalRequest, ProposalResult, build_from_inputs
from salesplan.planning.proposals_inputs import PlanInputs, bookings_inputs, sellout_inputs
from salesplan.planning.proposals_tree import TOTAL
from salesplan.planning.types import RAMP_BY_QUARTER
from salesplan.serving.db.proposal_frames import frame_to_rows, rows_to_frame
from salesplan.serving.db.records import ProposalRowData, StoredProposal
from salesplan.serving.routers._common import clean, records
from salesplan.training.tracking import DEALS_MODEL, ModelRef

Domain = Literal["auto", "sellout", "bookings"]
MAX_FAIRNESS_UNITS = 1000


def resolve_domain(by: Sequence[str], domain: Domain) -> Literal["sellout", "bookings"]:
    """Bookings when asked, or when ``by`` names teams or reps; sell-out otherwise."""
    if domain != "auto":
        return domain
    return "bookings" if {"team", "rep"} & set(by) else "sellout"


def _stamp(ref: ModelRef) -> dict[str, str]:
    return {"version": str(ref.version), "run_id": ref.run_id}


@dataclass(frozen=True)
class Inputs:
    """Frames for ``build_proposal`` and the model versions they came from."""

    kwargs: dict[str, Any]
    input_models: dict[str, dict[str, str]]


def inputs_for(services: Any, domain: Literal["sellout", "bookings"]) -> Inputs:
    if domain == "sellout":
        batch = services.models.batch()
        return Inputs(
            {"forecast": batch.forecast, "history": batch.history}, {batch.ref.name: _stamp(batch.ref)}
        )
    data = services.planning_data()
    crm = data.need("crm")
    if data.scores is not None and data.scores_ref is not None:
        return Inputs({"crm": crm, "scores": data.scores}, {DEALS_MODEL: _stamp(data.scores_ref)})
    return Inputs({"crm": crm}, {})


def build(
    services: Any, request: ProposalRequest, domain: Literal["sellout", "bookings"]
) -> tuple[ProposalResult, Inputs]:
    plan, inputs = cached_inputs(services, request.quarter, request.by, domain, request.ramp)
    versions = {name: v["version"] for name, v in inputs.input_models.items()}
    return build_from_inputs(request, plan, input_model_versions=versions), inputs


def _key(
    quarter: str, by: Sequence[str], domain: str, inputs: Inputs, ramp: Sequence[float]
) -> tuple[Any, ...]:
    versions = tuple(sorted((k, v["run_id"]) for k, v in inputs.input_models.items()))
    return (str(quarter), tuple(by), domain, versions, tuple(ramp) if domain == "bookings" else ())


class PlanCache:
    """The last few proposal inputs (quarter distributions, unit tree, monthly shape) by (quarter, by,
    domain, input runs, ramp); thread-safe LRU, emptied when the planning data are reloaded. Creating proposals, the slider curve and
    implied probabilities then reuse them instead of replaying the history per call."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], PlanInputs] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> PlanInputs | None:
        with self._lock:
            plan = self._items.get(key)
            if plan is not None:
                self._items.move_to_end(key)
            return plan

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def put(self, key: tuple[Any, ...], plan: PlanInputs) -> None:
        with self._lock:
            self._items[key] = plan
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def cached_inputs(
    services: Any,
    quarter: str,
    by: Sequence[str],
    domain: Literal["sellout", "bookings"],
    ramp: Sequence[float] = RAMP_BY_QUARTER,
) -> tuple[PlanInputs, Inputs]:
    """Proposal inputs of the (quarter, by) tree from the service's loaded state, built once per state."""
    inputs = inputs_for(services, domain)
    key = _key(quarter, by, domain, inputs, ramp)
    plan = services.plan_cache.get(key)
    if plan is None:
        if domain == "sellout":
            plan = sellout_inputs(quarter, tuple(by), inputs.kwargs["forecast"], inputs.kwargs["history"])
        else:
            plan = bookings_inputs(
                quarter, tuple(by), inputs.kwargs["crm"], scores=inputs.kwargs.get("scores"), ramp=tuple(ramp)
            )
        services.plan_cache.put(key, plan)
    return plan, inputs


def distribution(
    services: Any, quarter: str, by: Sequence[str], domain: Literal["sellout", "bookings"]
) -> tuple[QuarterDistribution, str, Inputs]:
    """Quarter distributions of every unit of the (quarter, by) tree, its top unit, and the inputs."""
    plan, inputs = cached_inputs(services, quarter, by, domain)
    dist = plan.dist
    return dist, TOTAL if TOTAL in dist.unit_ids else dist.unit_ids[0], inputs


def stored_distribution(services: Any, p: StoredProposal) -> QuarterDistribution | None:
    """The distributions a stored proposal was built from, if the service still holds the same inputs
    (then a re-balance can give moved units their new P(hit)); None otherwise."""
    request = dict(p.parameters.get("request") or {})
    by, domain = request.get("by"), request.get("domain")
    if not by or domain not in ("sellout", "bookings"):
        return None
    try:
        dist, _, inputs = distribution(services, p.quarter, by, domain)
    except Exception:  # inputs gone or changed shape: re-balance without probabilities
        return None
    same = all(p.input_models.get(k, {}).get("run_id") == v["run_id"] for k, v in inputs.input_models.items())
    return dist if same and set(p.input_models) == set(inputs.input_models) else None


# ------------------------------------------------------------------------------------------ stored form
def to_rows(frame: pd.DataFrame, months: Sequence[str]) -> list[ProposalRowData]:
    """Planner rows (``m1..m3``) → repository rows (``phasing`` by month label)."""
    return frame_to_rows(frame, months)


def to_frame(p: StoredProposal, months: Sequence[str]) -> pd.DataFrame:
    """Repository rows → the planner's row frame (what ``rebalance_rows`` takes)."""
    return rows_to_frame(p.rows, months)


def summary(result: ProposalResult) -> dict[str, Any]:
    """What GET shows besides the rows: company target, slider curve, fairness, measure, months."""
    c = result.company
    fair_q = records(result.fairness.by_quarter)
    per_unit = result.fairness.per_unit
    return {
        "company": {k: clean(v) for k, v in c.__dict__.items()},
        "curve": records(result.curve, ["p_hit", "target"]),
        "fairness": {
            **(fair_q[0] if fair_q else {}),
            "per_unit": records(per_unit) if len(per_unit) <= MAX_FAIRNESS_UNITS else [],
        },
        "measure": result.measure,
        "months": list(result.months),
    }
