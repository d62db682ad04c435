"""What the app holds for its lifetime: settings, the database engine, the model store and the API-key
cache. Built in the lifespan, reached by routers through dependencies, never imported as a global."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from salesplan.errors import SalesplanError, ServiceUnavailableError
from salesplan.serving.db.engine import make_engine, migrate, ping, session_factory
from salesplan.serving.db.records import ApiKeyRecord
from salesplan.serving.db.repository import ApiKeyRepository
from salesplan.serving.model_store import BATCH, MODEL_NAMES, ModelStore
from salesplan.serving.plan_inputs import PlanCache, ServiceInputs
from salesplan.serving.planning_data import SETTING, PlanningData, load_planning_data, not_configured
from salesplan.serving.proposal_service import ProposalService
from salesplan.serving.settings import ServingSettings

log = logging.getLogger("salesplan.serving")


@dataclass
class KeyCache:
    """Verified API keys for ``ttl_s`` seconds, keyed by the key's hash: the scoring hot path must not hit
    the database on every call. Revocation takes effect within the TTL."""

    ttl_s: float = 30.0
    _items: dict[str, tuple[ApiKeyRecord, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, digest: str) -> ApiKeyRecord | None:
        with self._lock:
            hit = self._items.get(digest)
            if hit is None or hit[1] < time.monotonic():
                self._items.pop(digest, None)
                return None
            return hit[0]

    def put(self, digest: str, record: ApiKeyRecord) -> None:
        with self._lock:
            self._items[digest] = (record, time.monotonic() + self.ttl_s)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def freeze_heap(collect: bool = True) -> None:
    """Move everything loaded so far (models, planning data, caches) out of the cyclic GC's reach. A 10k-deal
    batch allocates ~10^5-10^6 objects, and every full collection it triggers would walk the whole loaded
    heap again: in-process a 10k batch took 570-1,090 ms without this and 420-640 ms with it."""
    if collect:
        gc.collect()
    gc.freeze()


class Services:
    """Long-lived state of one app instance."""

    def __init__(self, settings: ServingSettings) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.database_url)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        self.models = ModelStore(settings.model_cache_dir, settings.registry_timeout_s)
        self.keys = KeyCache()
        self.db_problem: str | None = None
        self.planning: PlanningData | None = None
        self.planning_problem: str | None = None
        self.plan_cache = PlanCache()
        self.proposals = ProposalService(self.session, ServiceInputs(self))
        self._reload_lock = threading.Lock()

    def start(self) -> None:
        """Migrate the database and load the champions; failures are recorded for /ready, not raised."""
        try:
            migrate(self.engine)
            self.db_problem = None
        except (SQLAlchemyError, OSError) as exc:
            self.db_problem = f"migration failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            log.error("database not ready", extra={"problem": self.db_problem})
        self.reload(models=self.settings.load_models)

    def reload(self, models: bool = True) -> dict[str, str]:
        """(Re)load the champions, then the planning data (its open deals are scored with the deal
        champion just loaded). One reload at a time; requests keep the old objects until the swap.
        ``models=False`` (start with ``load_models`` off) loads only the planning data."""
        with self._reload_lock:
            gc.unfreeze()  # what this reload replaces must be collectable again
            outcome = self.models.load_all() if models else {}
            for name, result in outcome.items():
                log.info("model load", extra={"model": name, "outcome": result})
            outcome["planning_data"] = self.load_planning()
            freeze_heap()
            return outcome

    def load_planning(self) -> str:
        path = self.settings.planning_data
        if path is None:
            self.planning, self.planning_problem = None, None
            self.plan_cache.clear()
            return f"not configured ({SETTING} unset)"
        try:
            deals = self.models.deals()
            deals_model = (deals.estimator, deals.ref)
        except ServiceUnavailableError:
            deals_model = None
        try:
            data = load_planning_data(path, deals_model)
        except SalesplanError as exc:
            # Keep serving what was loaded before rather than dropping it for a broken folder.
            self.planning_problem = str(exc).splitlines()[0][:300]
            return f"failed: {self.planning_problem}" + ("; kept the previous data" if self.planning else "")
        self.planning, self.planning_problem = data, None
        self.plan_cache.clear()  # cached proposal inputs were built from the data just replaced
        missing = sorted(data.problems)
        return f"loaded from {path}" + (f" without {', '.join(missing)}" if missing else "")

    def planning_data(self) -> PlanningData:
        """The loaded planning data, or 503 naming the setting."""
        data = self.planning
        if data is None:
            if self.planning_problem:
                raise ServiceUnavailableError(
                    f"planning data from {SETTING}={self.settings.planning_data} failed to load: "
                    f"{self.planning_problem}; fix the folder and call POST /api/v1/models/reload"
                )
            raise not_configured()
        return data

    def stop(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on error; a dead database becomes 503."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise ServiceUnavailableError(
                f"database unavailable: {str(exc.orig or exc).splitlines()[0][:200]}; retry later"
            ) from None
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()

    def cached_key(self, plaintext: str) -> ApiKeyRecord | None:
        """The key's record if it was verified within the cache TTL (no database access)."""
        return self.keys.get(ApiKeyRepository.hash_key(plaintext))

    def verify_key(self, plaintext: str) -> ApiKeyRecord | None:
        digest = ApiKeyRepository.hash_key(plaintext)
        cached = self.keys.get(digest)
        if cached is not None:
            return cached
        with self.session() as session:
            record = ApiKeyRepository(session).verify(plaintext)
        if record is not None:
            self.keys.put(digest, record)
        return record

    def readiness(self) -> dict[str, dict[str, Any]]:
        ok, detail = ping(self.engine, timeout_s=2.0)
        if self.db_problem and ok:
            ok, detail = False, self.db_problem
        checks: dict[str, dict[str, Any]] = {"database": {"ok": ok, "detail": detail}}
        status = self.models.status()
        for name in (*MODEL_NAMES, BATCH):
            s = status[name]
            checks[name] = {
                "ok": bool(s["loaded"]),
                "detail": s["problem"]
                or (f"version {s['version']} from {s['source']}" if s["loaded"] else "not loaded"),
                "version": s["version"],
                "source": s["source"],
            }
        checks["planning_data"] = self._planning_check()
        return checks

    def _planning_check(self) -> dict[str, Any]:
        """Unset is fine (scoring works without it); set but unreadable is not ready."""
        path = self.settings.planning_data
        if path is None:
            return {"ok": True, "detail": f"not configured ({SETTING} unset); planning endpoints answer 503"}
        data = self.planning
        if data is None:
            return {
                "ok": False,
                "detail": f"{path}: {self.planning_problem or 'not loaded'}",
                "path": str(path),
            }
        return {"ok": True, "detail": f"loaded from {path}", "path": str(path), "parts": data.summary()}
