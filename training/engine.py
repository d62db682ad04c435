"""Where per-series work runs: in this process (``local``) or on a Dask cluster (``dask``).

Scale-out by partitions of series. ``PartitionedForecaster`` splits the series into deterministic partitions
(by a hierarchy column such as ``category``, or into chunks of at most ``max_series`` ids in sorted order),
fits one clone of the base forecaster per partition and concatenates their forecasts. The partitions are the
same whichever engine runs them, so the local and the Dask engine give the same numbers (tested), and memory
per task is bounded by the partition, not the data set. Global members (LightGBM) then learn per partition,
which is how large catalogues are usually trained anyway (one model per category); with the default
``max_series=None`` and no ``partition_by`` there is a single partition and the model is exactly the base.

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
from sklearn.base import BaseEstimator, clone

from salesplan.contracts import SelloutSpec
from salesplan.errors import ConfigError, DataValidationError, NotFittedError, Problem

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
        return self.engine == "local" and self.partition_by is None and self.max_series is None

    def wrap(self, model: Any) -> Any:
        """``model`` itself when trivial, else a ``PartitionedForecaster`` around it."""
        if self.trivial:
            return model
        return PartitionedForecaster(
            model, self.partition_by, self.max_series, self.engine, self.workers, self.address
        )


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


def _fit_part(base: Any, part: pd.DataFrame, spec: SelloutSpec | None) -> Any:
    model = clone(base)
    return model.fit(part, spec) if spec is not None else model.fit(part)


def _predict_part(model: Any, h: int, x: pd.DataFrame | None) -> pd.DataFrame:
    return model.predict(h, x)


class PartitionedForecaster(BaseEstimator):  # type: ignore[misc]
    """A forecaster fitted per partition of series, on the local engine or on Dask (module docstring).

    Same contract as every salesplan forecaster: ``fit(df, spec)`` returns self, ``predict(h, X_future)``
    returns the Forecast frame; ``models_`` holds one fitted base per partition, ``partitions_`` their ids."""

    def __init__(
        self,
        base: Any = None,
        partition_by: str | None = None,
        max_series: int | None = None,
        engine: str = "local",
        workers: int | None = None,
        address: str | None = None,
    ) -> None:
        self.base = base
        self.partition_by = partition_by
        self.max_series = max_series
        self.engine = engine
        self.workers = workers
        self.address = address

    # the attributes the backtest and the training job read off a forecaster
    @property
    def season_length(self) -> int:
        return int(self._base().season_length)

    @property
    def freq(self) -> str:
        return str(self._base().freq)

    @property
    def quantiles(self) -> Any:
        return self._base().quantiles

    def min_history(self) -> int:
        return int(self._base().min_history())

    def _base(self) -> Any:
        if self.base is None:
            raise ConfigError("PartitionedForecaster needs base= (e.g. SalesplanForecaster())")
        return self.base

    def fit(self, df: pd.DataFrame, spec: SelloutSpec | None = None) -> PartitionedForecaster:
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        base = self._base()
        ids = df["unique_id"].astype(str)
        parts = partition_ids(df, self.partition_by, self.max_series)
        frames = [df[ids.isin(set(p))] for p in parts]
        self.models_ = run_tasks(
            _fit_part,
            [(base, f, spec) for f in frames],
            engine=self.engine,
            workers=self.workers,
            address=self.address,
        )
        self.partitions_ = [list(p) for p in parts]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("PartitionedForecaster is not fitted yet; call fit(df) before predict")

    def predict(self, h: int, X_future: pd.DataFrame | None = None) -> pd.DataFrame:
        self._check_fitted()
        tasks = []
        for model, ids in zip(self.models_, self.partitions_, strict=True):
            x = None
            if X_future is not None:
                x = X_future[X_future["unique_id"].astype(str).isin(set(ids))]
            tasks.append((model, h, x))
        out = run_tasks(_predict_part, tasks, engine=self.engine, workers=self.workers, address=self.address)
        return pd.concat(out, ignore_index=True)

    def local(self) -> PartitionedForecaster:
        """The same fitted model predicting in this process (what is stored and served: a cluster is for
        fitting, not a dependency of every forecast)."""
        return self.set_params(engine="local", workers=None, address=None)

    @property
    def required_regressors(self) -> list[str]:
        self._check_fitted()
        return sorted({c for m in self.models_ for c in getattr(m, "required_regressors", [])})
