"""The service's local copy of its champions and of the forecast batch (``SALESPLAN_MODEL_CACHE_DIR``), so a
restart works while the registry is down.

Written atomically and read under a lock, because the hardening probe caught a reload reading a model file
that an abandoned (timed-out) load thread was still writing ("EOF: reading array data"): every entry is a
folder written in full under a temporary name, then swapped in with two renames under an exclusive
``flock``; readers hold a shared ``flock`` for the whole read, so they see the old entry or the new one,
never a mix. The lock is a file lock, so it also orders the worker processes of ``serve --workers N``,
which share the folder."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from salesplan.models.batch import BatchForecast
from salesplan.models.registry import ModelRef

__all__ = ["ModelCache"]

REF_FILE = "ref.json"
ESTIMATOR = "estimator.joblib"
FRAMES = ("forecast", "history", "future")


class ModelCache:
    """Entries ``<root>/<name>/`` (an estimator) and ``<root>/<name>.batch/`` (a batch forecast)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # ------------------------------------------------------------------------------------------- write
    def put_estimator(self, name: str, estimator: object, ref: ModelRef) -> None:
        with self._staged(name) as tmp:
            joblib.dump(estimator, tmp / ESTIMATOR)
            _write_ref(tmp, ref)

    def put_batch(self, batch: BatchForecast) -> None:
        with self._staged(f"{batch.ref.name}.batch") as tmp:
            frames = {"forecast": batch.forecast, "history": batch.history, "future": batch.future}
            for part, frame in frames.items():
                if frame is not None:
                    frame.to_parquet(tmp / f"{part}.parquet")
            _write_ref(tmp, batch.ref, info=dict(batch.info))

    # -------------------------------------------------------------------------------------------- read
    def get_estimator(self, name: str) -> tuple[object, ModelRef] | None:
        with self._lock(exclusive=False):
            folder = self.root / name
            if not (folder / REF_FILE).is_file():
                return None
            ref, _ = _read_ref(folder)
            return joblib.load(folder / ESTIMATOR), ref

    def get_batch(self, name: str) -> BatchForecast | None:
        with self._lock(exclusive=False):
            folder = self.root / f"{name}.batch"
            if not (folder / REF_FILE).is_file():
                return None
            ref, info = _read_ref(folder)
            frames = {
                p: pd.read_parquet(folder / f"{p}.parquet")
                for p in FRAMES
                if (folder / f"{p}.parquet").is_file()
            }
        return BatchForecast(frames["forecast"], frames["history"], ref, frames.get("future"), "cache", info)

    # ----------------------------------------------------------------------------------------- helpers
    @contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _staged(self, entry: str) -> Iterator[Path]:
        """A fresh folder to write the entry into (outside the lock: writing is the slow part), swapped in
        under the exclusive lock when the block ends without error, removed otherwise."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{entry}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir()
        try:
            yield tmp
            final, old = self.root / entry, self.root / f".{entry}.{uuid.uuid4().hex[:8]}.old"
            with self._lock(exclusive=True):
                if final.exists():
                    os.replace(final, old)
                os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _write_ref(folder: Path, ref: ModelRef, info: dict[str, Any] | None = None) -> None:
    body = {**ref.as_dict(), "tags": dict(ref.tags), "info": info or {}}
    (folder / REF_FILE).write_text(json.dumps(body, default=str))


def _read_ref(folder: Path) -> tuple[ModelRef, dict[str, Any]]:
    raw = json.loads((folder / REF_FILE).read_text())
    ref = ModelRef(raw["model"], raw["model_version"], raw["run_id"], raw.get("alias"), raw.get("tags") or {})
    return ref, dict(raw.get("info") or {})
