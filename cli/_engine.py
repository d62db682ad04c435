"""Options that choose where per-series work runs (``salesplan.engine``): shared by the forecast commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from salesplan.engine import ScaleOut

EngineOpt = Annotated[
    str | None, typer.Option(help="Where per-series work runs: local or dask (default: SALESPLAN_ENGINE).")
]
WorkersOpt = Annotated[int | None, typer.Option(help="Dask: local worker processes (default 2).")]
SchedulerOpt = Annotated[
    str | None, typer.Option(help="Dask: address of a running scheduler, e.g. tcp://10.0.0.5:8786.")
]
PartitionOpt = Annotated[
    str | None, typer.Option(help="Fit one model per value of this hierarchy column (e.g. category).")
]
MaxSeriesOpt = Annotated[int | None, typer.Option(help="At most this many series per partition.")]


def scale_out_of(
    engine: str | None,
    workers: int | None,
    scheduler: str | None,
    partition_by: str | None,
    max_series: int | None,
) -> ScaleOut:
    """The ``ScaleOut`` the options ask for; the engine defaults to ``SALESPLAN_ENGINE``."""
    from salesplan.config import get_settings
    from salesplan.engine import ScaleOut

    eng = engine or get_settings().engine
    if eng == "dask" and partition_by is None and max_series is None:
        max_series = 2000  # one partition would leave every worker but one idle
    return ScaleOut(eng, workers, scheduler, partition_by, max_series)
