"""Planning inputs from the service's loaded state: the forecast champion's batch (sell-out) or the
planning data's CRM and the open deals scored by the deal champion (bookings), built once per (quarter,
levels, domain, model runs, ramp) and kept in a small cache, so creating proposals and moving the
slider (curve, implied probability) do not replay the history per call."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import pandas as pd

from salesplan.contracts import CRMData
from salesplan.models.batch import BatchForecast
from salesplan.models.registry import DEALS_MODEL, ModelRef
from salesplan.planning.funnel import data_end
from salesplan.planning.proposals import (
    PlanInputs,
    bookings_inputs,
    check_quarter_range,
    sellout_inputs,
)
from salesplan.serving.proposal_service import ModelStamps, PlanDomain, SourcedInputs

if TYPE_CHECKING:
    from salesplan.serving.services import Services

__all__ = ["PlanCache", "ServiceInputs", "batch_span", "crm_span", "stamp"]


def stamp(ref: ModelRef) -> dict[str, str | None]:
    return {"version": str(ref.version), "run_id": ref.run_id}


def batch_span(batch: BatchForecast) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day the forecast batch covers (its history, then its forecast)."""
    first = batch.history["ds"].min() if len(batch.history) else batch.forecast["ds"].min()
    return pd.Timestamp(first), pd.Timestamp(batch.forecast["ds"].max())


def crm_span(crm: CRMData) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First deal created and the CRM's last date."""
    return pd.Timestamp(pd.to_datetime(crm.opportunities["created_date"]).min()), data_end(crm)


class PlanCache:
    """The last few proposal inputs by (quarter, by, domain, input runs, ramp); a thread-safe LRU, emptied
    when the planning data or the models are reloaded."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], PlanInputs] = OrderedDict()
        self._spans: dict[int, tuple[object, tuple[pd.Timestamp, pd.Timestamp]]] = {}
        self._lock = threading.Lock()

    def span(self, data: BatchForecast | CRMData) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The data's first and last day, computed once per loaded object (the slider asks per move)."""
        with self._lock:
            hit = self._spans.get(id(data))
        if hit is not None and hit[0] is data:
            return hit[1]
        span = batch_span(data) if isinstance(data, BatchForecast) else crm_span(data)
        with self._lock:  # the object is held, so its id cannot be reused while it is cached
            self._spans[id(data)] = (data, span)
        return span

    def get(self, key: tuple[Any, ...]) -> PlanInputs | None:
        with self._lock:
            plan = self._items.get(key)
            if plan is not None:
                self._items.move_to_end(key)
            return plan

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._spans.clear()

    def put(self, key: tuple[Any, ...], plan: PlanInputs) -> None:
        with self._lock:
            self._items[key] = plan
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class ServiceInputs:
    """:class:`~salesplan.serving.proposal_service.InputSource` over a running service's loaded state."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def plan_inputs(
        self, quarter: str, by: tuple[str, ...], domain: PlanDomain, ramp: tuple[float, ...]
    ) -> SourcedInputs:
        services = self.services
        if domain == "sellout":
            batch = services.models.batch()
            check_quarter_range(
                quarter, *services.plan_cache.span(batch), f"the forecast batch v{batch.ref.version}"
            )
            models: ModelStamps = {batch.ref.name: stamp(batch.ref)}
        else:
            data = services.planning_data()
            crm = data.need("crm")
            check_quarter_range(quarter, *services.plan_cache.span(crm), "the planning data's CRM")
            scored = data.scores is not None and data.scores_ref is not None
            models = {DEALS_MODEL: stamp(data.scores_ref)} if scored and data.scores_ref else {}
        runs = tuple(sorted((k, v["run_id"]) for k, v in models.items()))
        key = (quarter, tuple(by), domain, runs, tuple(ramp) if domain == "bookings" else ())
        plan = services.plan_cache.get(key)
        if plan is None:
            if domain == "sellout":
                plan = sellout_inputs(quarter, tuple(by), batch.forecast, batch.history)
            else:
                plan = bookings_inputs(quarter, tuple(by), crm, scores=data.scores, ramp=tuple(ramp))
            services.plan_cache.put(key, plan)
        return SourcedInputs(plan, models)
