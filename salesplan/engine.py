"""Where per-series work runs: in this process (``local``) or on a Dask cluster (``dask``).

``run_tasks`` is the one place that knows engines: it maps a function over argument tuples here or on a
dask.distributed client (a LocalCluster of worker processes, or a running scheduler at ``address``).
``partition_ids`` splits series into deterministic partitions (by a hierarchy column such as ``category``,
or into chunks of at most ``max_series`` ids in sorted order), the same whichever engine runs them, so the
local and the Dask engine give the same numbers. ``ScaleOut`` is the choice the training job and the CLI
pass around; ``salesplan.models.forecast.partitioned`` fits a forecaster per partition with them.

It lives in the core because a stored partitioned model calls ``run_tasks`` when it predicts: the service
unpickles and runs it without the training layer.

Why dask.distributed directly and not Fugue: the unit of work is "fit a whole salesplan forecaster on a
group of series", an arbitrary Python object; Fugue's transform() maps frames to frames and would force the
fitted models through a frame. ``client.map`` over partition frames does exactly the job, and the same code
talks to a LocalCluster or a remote scheduler (``address``; e.g. a Dask cluster on Kubernetes or YARN).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, Problem

__all__ = ["ENGINES", "ScaleOut", "close_clients", "dask_client", "partition_ids", "run_tasks"]

ENGINES = ("local", "dask")


@dataclass(frozen=True)
class ScaleOut:
    """How the training job spreads per-series work: ``engine`` local or dask (``workers`` local worker
    processes, or ``address`` of a running scheduler), partitions by ``partition_by`` and/or ``max_series``.
    The default (local, one partition) is exactly the unpartitioned model."""

    engine: str = "local"
    workers: int | None = None
    address: str | None = None
    partition_by: str | None = None
    max_series: int | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.max_series is not None and self.max_series < 1:
            raise ConfigError(f"max_series must be >= 1, got {self.max_series}")

    @property
    def trivial(self) -> bool:
        """Local and one partition: the model runs as it is, unwrapped."""
        return self.engine == "local" and self.partition_by is None and self.max_series is None


_clients: dict[tuple[str | None, int | None], Any] = {}
_lock = threading.Lock()


def dask_client(workers: int | None = None, address: str | None = None) -> Any:
    """A shared dask.distributed client: to the scheduler at ``address``, or to a LocalCluster of
    ``workers`` single-threaded worker processes started once per process and closed at exit."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency; this guards broken installs
        raise ConfigError(
            f"engine 'dask' needs dask.distributed: pip install 'dask[distributed]' ({exc})"
        ) from None
    key = (address, None if address else workers)
    with _lock:
        client = _clients.get(key)
        if client is not None and client.status == "running":
            return client
        if address:
            try:
                client = Client(address, timeout="10s")
            except OSError as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None
        else:
            cluster = LocalCluster(
                n_workers=workers or 2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            )
            client = Client(cluster)
        _clients[key] = client
        return client


@atexit.register
def close_clients() -> None:
    """Shut down every client (and its LocalCluster) this process started."""
    with _lock:
        for client in _clients.values():
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
        _clients.clear()


def run_tasks(
    fn: Callable[..., Any],
    args: Sequence[tuple[Any, ...]],
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
) -> list[Any]:
    """``[fn(*a) for a in args]`` in order, on the chosen engine. The one place that knows engines."""
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "local" or len(args) == 0:
        return [fn(*a) for a in args]
    client = dask_client(workers, address)
    # Frames and models go to the workers once, by scatter, instead of inside the task graph: the scheduler
    # then never holds the data (Dask's advice for "large graph" warnings), and an object shared by every
    # task (the unfitted base) is sent once, not once per task.
    sent: dict[int, Any] = {}

    def ship(v: Any) -> Any:
        if v is None or isinstance(v, int | float | str | bool):
            return v
        if id(v) not in sent:
            # wrapped in a list: scatter spreads a list's or dict's items, and the task wants the object
            sent[id(v)] = client.scatter([v], hash=False)[0]
        return sent[id(v)]

    futures = [client.submit(fn, *[ship(v) for v in a], pure=False) for a in args]
    return list(client.gather(futures))  # the futures go out of scope here, which frees the workers' copies


def partition_ids(
    df: pd.DataFrame, partition_by: str | None = None, max_series: int | None = None
) -> list[np.ndarray]:
    """Deterministic groups of series ids: one per value of ``partition_by`` (split further into chunks of
    ``max_series``), else sorted ids in chunks of ``max_series`` (or all in one group)."""
    if partition_by is not None and partition_by not in df.columns:
        raise DataValidationError(
            [Problem(partition_by, "partition column missing", fix="pick a hierarchy column of the data")],
            source="partitioned forecaster",
        )
    if max_series is not None and max_series < 1:
        raise ConfigError(f"max_series must be >= 1 or None, got {max_series}")
    if partition_by is None:
        groups = [np.sort(df["unique_id"].astype(str).unique())]
    else:
        first = df.drop_duplicates("unique_id")
        keyed = first.assign(_k=first[partition_by].astype(str), _id=first["unique_id"].astype(str))
        groups = [np.sort(g["_id"].to_numpy()) for _, g in keyed.groupby("_k", sort=True)]
    out: list[np.ndarray] = []
    for g in groups:
        step = max_series or len(g)
        out += [g[i : i + step] for i in range(0, len(g), step)]
    return out
