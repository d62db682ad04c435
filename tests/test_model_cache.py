"""Model loading under trouble (issue #20, finding 5): the local cache is written atomically and read under
a lock (a reload once read a file a timed-out load was still writing), a slow registry times out once per
round and the rest comes from the cache, and a start with the registry down serves the cached champions."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from salesplan.models.batch import BatchForecast
from salesplan.models.registry import DEALS_MODEL, FORECAST_MODEL, ModelRef
from salesplan.serving import model_store
from salesplan.serving.model_cache import ModelCache
from salesplan.serving.model_store import BATCH, ModelStore
from salesplan.serving.settings import ServingSettings


def _estimator(version: int) -> dict[str, Any]:
    """A stand-in model whose payload says which version it is (big enough to take a while to write)."""
    return {"version": str(version), "weights": np.full(300_000, version, dtype=np.float64)}


def _ref(name: str, version: int) -> ModelRef:
    return ModelRef(name, str(version), f"run{version}", "champion", {"k": "v"})


def test_readers_never_see_half_a_cache_entry(tmp_path: Path) -> None:
    """Writers keep replacing an entry while readers read it: every read is one whole version, the
    estimator and its ref always agree (the old code wrote the file in place: 'EOF: reading array data')."""
    cache = ModelCache(tmp_path / "cache")
    cache.put_estimator(DEALS_MODEL, _estimator(0), _ref(DEALS_MODEL, 0))
    stop, problems, reads = threading.Event(), [], [0]

    def write(start: int) -> None:
        v = start
        while not stop.is_set():
            cache.put_estimator(DEALS_MODEL, _estimator(v), _ref(DEALS_MODEL, v))
            v += 2

    def read() -> None:
        while not stop.is_set():
            try:
                got = cache.get_estimator(DEALS_MODEL)
                assert got is not None
                est, ref = got
                assert est["version"] == ref.version and float(est["weights"][-1]) == float(ref.version)
                assert ref.tags == {"k": "v"}
                reads[0] += 1
            except Exception as exc:  # reported below
                problems.append(repr(exc))

    threads = [threading.Thread(target=write, args=(i,)) for i in (1, 2)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(30)
    assert not problems, problems[:3]
    assert reads[0] > 5
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.endswith((".tmp", ".old"))]
    assert leftovers == []


def test_batch_round_trips_through_the_cache(tmp_path: Path) -> None:
    fc = pd.DataFrame(
        {"unique_id": ["total"], "level": ["total"], "ds": pd.to_datetime(["2027-01-04"]), "yhat": [1.0]}
    )
    hist = fc.rename(columns={"yhat": "y"})
    batch = BatchForecast(fc, hist, _ref(FORECAST_MODEL, 3), None, "registry", {"levels": ["total"]})
    cache = ModelCache(tmp_path)
    assert cache.get_batch(FORECAST_MODEL) is None
    cache.put_batch(batch)
    got = cache.get_batch(FORECAST_MODEL)
    assert got is not None and got.source == "cache" and got.ref == batch.ref and got.future is None
    pd.testing.assert_frame_equal(got.forecast, fc)
    assert got.info == {"levels": ["total"]}


def test_a_slow_registry_times_out_once_then_the_cache_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ModelCache(tmp_path)
    for name in (DEALS_MODEL, FORECAST_MODEL):
        cache.put_estimator(name, _estimator(1), _ref(name, 1))
    calls: list[str] = []
    release = threading.Event()

    def hung_registry(name: str, alias: str, cache_dir: Any) -> Any:
        calls.append(name)
        release.wait(30)  # a registry that does not answer
        return _estimator(2), _ref(name, 2)

    monkeypatch.setattr(model_store, "load_estimator", hung_registry)
    monkeypatch.setattr(model_store, "load_batch", lambda *a: calls.append("batch"))
    store = ModelStore(tmp_path, timeout_s=0.5)
    outcome = store.load_all()
    release.set()
    assert calls == [DEALS_MODEL]  # the forecaster and the batch did not wait out the timeout again
    for name in (DEALS_MODEL, FORECAST_MODEL):
        assert (
            "registry timed out after 0.5 s" in outcome[name] and "serving cached version 1" in outcome[name]
        )
        assert store.status()[name]["source"] == "cache"
    assert outcome[BATCH] == "registry timed out after 0.5 s"  # and no batch was cached
    time.sleep(0.5)  # the abandoned load finishes: it refreshes the cache (atomically), not the service
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and cache.get_estimator(DEALS_MODEL)[1].version != "2":  # type: ignore[index]
        time.sleep(0.1)
    assert cache.get_estimator(DEALS_MODEL)[1].version == "2"  # type: ignore[index]
    assert store.deals().ref.version == "1"


def test_start_with_the_registry_down_serves_the_cached_champions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ModelCache(tmp_path)
    for name in (DEALS_MODEL, FORECAST_MODEL):
        cache.put_estimator(name, _estimator(4), _ref(name, 4))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens: refused at once
    store = ModelStore(tmp_path, timeout_s=30)
    started = time.monotonic()
    outcome = store.load_all()
    assert time.monotonic() - started < 30  # refused, not waited out
    for name in (DEALS_MODEL, FORECAST_MODEL):
        assert "serving cached version 4" in outcome[name], outcome
        assert store.get(name).source == "cache"


def test_registry_timeout_lets_a_normal_start_finish_and_is_documented() -> None:
    field = ServingSettings.model_fields["registry_timeout_s"]
    assert ServingSettings(load_models=False).registry_timeout_s >= 60  # a busy machine took > 5 s
    assert "SALESPLAN_REGISTRY_TIMEOUT_S" in (field.description or "")
