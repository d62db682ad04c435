"""One object per loaded data set that every door (CLI, API, web, demo) asks for the process analyses:
each is computed on first use with the defaults and kept, so the Process tab's six panels and a CSV export
cost one computation, not one per request."""

from __future__ import annotations

import threading
from typing import Any

from salesplan.errors import SalesplanError
from salesplan.planning.process.allocation import TimeAllocation, hours_vs_outcome, time_allocation
from salesplan.planning.process.cadence import Cadence, standard_cadence
from salesplan.planning.process.capacity import CapacityInputs, CapacityPlan, capacity_inputs, capacity_plan
from salesplan.planning.process.data import ProcessData
from salesplan.planning.process.inefficiency import Inefficiencies, find_inefficiencies
from salesplan.planning.process.lifecycle import FullFunnel, full_funnel
from salesplan.planning.process.scorecards import Scorecards, scorecards

__all__ = ["ProcessWorkbench"]


class ProcessWorkbench:
    """The default analyses of one ``ProcessData``, computed once each (a lock per workbench, so two
    concurrent requests do not compute the same thing twice). Non-default parameters call the pure
    functions directly."""

    def __init__(self, data: ProcessData) -> None:
        self.data = data
        self._lock = threading.RLock()

    def _once(self, name: str, fn: Any) -> Any:
        with self._lock:
            if name not in self.__dict__:
                self.__dict__[name] = fn()
            return self.__dict__[name]

    @property
    def funnel(self) -> FullFunnel:
        return self._once("_funnel", lambda: full_funnel(self.data))

    @property
    def allocation(self) -> TimeAllocation:
        return self._once("_allocation", lambda: time_allocation(self.data))

    @property
    def hours_vs_outcome(self) -> Any:
        return self._once("_hvo", lambda: hours_vs_outcome(self.data))

    @property
    def inefficiencies(self) -> Inefficiencies:
        return self._once("_ineff", lambda: find_inefficiencies(self.data))

    @property
    def cadence(self) -> Cadence | None:
        """The standard cadence, or None when too few reps have closed deals to find a best quartile."""

        def run() -> Cadence | None:
            try:
                return standard_cadence(self.data)
            except SalesplanError:
                return None

        return self._once("_cadence", run)

    @property
    def scorecards(self) -> Scorecards:
        return self._once(
            "_scorecards",
            lambda: scorecards(self.data, inefficiencies=self.inefficiencies, cadence=self.cadence),
        )

    @property
    def capacity_inputs(self) -> CapacityInputs:
        return self._once("_capacity", lambda: capacity_inputs(self.data))

    def capacity(self, target: float, quarter: Any, **kw: Any) -> CapacityPlan:
        """The capacity plan of a target: the measured inputs once, the arithmetic per target."""
        return capacity_plan(self.capacity_inputs, target, quarter, **kw)
