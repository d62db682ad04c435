"""What the app holds for its lifetime: settings, the database engine, the model store and the API-key
cache. Built in the lifespan, reached by routers through dependencies, never imported as a global."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from salesplan.errors import SalesplanError, ServiceUnavailableError
from salesplan.models.forecast.base import Forecaster
from salesplan.models.registry import FORECAST_MODEL
from salesplan.serving.db.engine import WRITE, database_problem, make_engine, session_factory
from salesplan.serving.db.guard import DatabaseGuard
from salesplan.serving.db.records import ApiKeyRecord
from salesplan.serving.db.repository import ApiKeyRepository
from salesplan.serving.jbp_service import AccountData, JbpService, load_account_data
from salesplan.serving.keys import AuthThrottle, KeyCache, KeySync
from salesplan.serving.model_store import BATCH, MODEL_NAMES, ModelStore
from salesplan.serving.plan_inputs import PlanCache, ServiceInputs
from salesplan.serving.planning_data import SETTING, PlanningData, load_planning_data, not_configured
from salesplan.serving.proposal_service import ProposalService
from salesplan.serving.settings import ServingSettings
from salesplan.serving.track_record import TrackRecordService

log = logging.getLogger("salesplan.serving")


class DatabaseNotReadyError(ServiceUnavailableError):
    """The service must not start on this database (missing, unmigrated, read-only): the message says
    which and how to fix it."""


def freeze_heap(collect: bool = True) -> None:
    """Move everything loaded so far (models, planning data, caches) out of the cyclic GC's reach. A 10k-deal
    batch allocates ~10^5-10^6 objects, and every full collection it triggers would walk the whole loaded
    heap again: in-process a 10k batch took 570-1,090 ms without this and 420-640 ms with it."""
    if collect:
        gc.collect()
    gc.freeze()


class Services:
    """Long-lived state of one app instance (one per worker process)."""

    def __init__(self, settings: ServingSettings) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.database_url)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        self.guard = DatabaseGuard(self.engine)
        self.models = ModelStore(settings.model_cache_dir, settings.registry_timeout_s)
        self.keys = KeyCache(max_stale_s=settings.key_revocation_s)
        self.auth_throttle = AuthThrottle(settings.auth_failures_per_minute, 60.0)
        self.db_problem: str | None = None
        self.planning: PlanningData | None = None
        self.planning_problem: str | None = None
        self.plan_cache = PlanCache()
        self.proposals = ProposalService(
            self.session,
            ServiceInputs(self),
            four_eyes=settings.maker_checker,
            p_hit_floor=settings.p_hit_floor,
        )
        self.track_record = TrackRecordService(settings.track_record_dir)
        self.jbp = JbpService(self.session, self.account_data, four_eyes=settings.maker_checker)
        self._accounts: tuple[PlanningData, str, AccountData] | None = None
        self._reload_lock = threading.Lock()
        self._key_sync = KeySync(
            self.sync_keys, interval_s=min(0.25, settings.key_revocation_s / 4), final=self.flush_key_use
        )
        self._last_flush = time.monotonic()

    def start(self) -> None:
        """Check the database, then load the champions and the planning data. A missing, unmigrated or
        read-only database stops the start (:class:`DatabaseNotReadyError`: nothing would be stored); an
        unreachable server is recorded for /ready (it may come back); model failures never stop it."""
        self.check_database()
        self._key_sync.start()
        self.reload(models=self.settings.load_models)

    def check_database(self) -> None:
        problem = database_problem(self.engine)
        if problem is not None and problem[0] != "unreachable":
            log.error("database not ready: refusing to start", extra={"problem": problem[1]})
            raise DatabaseNotReadyError(f"not starting: {problem[1]}")
        if problem is not None:
            self.db_problem = problem[1]
            log.error("database not ready", extra={"problem": self.db_problem})
            return
        self.guard.arm()
        ok, detail = self.guard.readiness(timeout_s=30.0)
        if not ok:
            log.error("database not writable: refusing to start", extra={"problem": detail})
            raise DatabaseNotReadyError(f"not starting: the database cannot take writes: {detail}")

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

    def account_data(self) -> AccountData:
        """Key accounts, their sales and the champion's batch for joint business plans, kept until the
        planning data or the batch changes (reading the tables and summing the sell-out per quarter is
        not a request's work)."""
        data = self.planning_data()
        batch = self.models.batch()
        held = self._accounts
        if held is None or held[0] is not data or held[1] != batch.ref.version:
            try:
                model: Forecaster | None = self.models.forecaster().estimator
            except ServiceUnavailableError:
                model = None  # the promotion and price levers are left out, with why
            stamps: dict[str, dict[str, str | None]] = {
                FORECAST_MODEL: {"version": batch.ref.version, "run_id": batch.ref.run_id}
            }
            accounts = load_account_data(
                data.path, batch.forecast, batch.future, batch.info.get("hierarchy"),
                sellout=data.need("sellout"), model=model, models=stamps,
            )  # fmt: skip
            held = self._accounts = (data, batch.ref.version, accounts)
        return held[2]

    def stop(self) -> None:
        self._key_sync.stop()
        self.engine.dispose()

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """One transaction: commit on success, roll back on error; a dead database becomes 503. The
        database file is checked (:class:`DatabaseGuard`) before the work and around the commit, so no
        change is acknowledged that went to a deleted, replaced or read-only file. ``write``: the
        transaction will change data (takes SQLite's write lock up front)."""
        self._refuse_if_unsafe(write)
        session = self.sessions()
        try:
            if write:
                session.connection(execution_options={WRITE: True})
            yield session
            self._refuse_if_unsafe(write)
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise ServiceUnavailableError(
                f"database unavailable: {str(exc.orig or exc).splitlines()[0][:200]}; retry later"
            ) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        self._refuse_if_unsafe(write, " (a change just committed may be lost with it)")

    def _refuse_if_unsafe(self, write: bool, consequence: str = "") -> None:
        problem = self.guard.problem(write)
        if problem is not None:
            raise ServiceUnavailableError(problem + consequence)

    def cached_key(self, plaintext: str) -> ApiKeyRecord | None:
        """The key's record if it is known good as of at most ``key_revocation_s`` ago (no database)."""
        return self.keys.get(ApiKeyRepository.hash_key(plaintext))

    def verify_key(self, plaintext: str) -> ApiKeyRecord | None:
        digest = ApiKeyRepository.hash_key(plaintext)
        cached = self.keys.get(digest)
        if cached is not None:
            return cached
        verified_at = self.keys.clock()
        with self.session() as session:
            record = ApiKeyRepository(session).verify(plaintext)
        if record is not None:
            self.keys.put(digest, record, verified_at)
        return record

    def sync_keys(self) -> None:
        """Drop revoked keys from the cache (every fraction of a second) and write the keys' last use
        (every ``key_touch_s``): the key-sync thread's work."""
        started = self.keys.clock()
        held = self.keys.key_ids()
        revoked: set[str] = set()
        if held:
            with self.session() as session:
                revoked = ApiKeyRepository(session).revoked_among(held)
        self.keys.synced(held, revoked, started)
        if time.monotonic() - self._last_flush >= self.settings.key_touch_s:
            self.flush_key_use()

    def flush_key_use(self) -> None:
        self._last_flush = time.monotonic()
        used = self.keys.take_used()
        if not used:
            return
        try:
            with self.session(write=True) as session:
                ApiKeyRepository(session).touch(used)
        except SalesplanError:
            self.keys.give_back(used)
            raise

    def readiness(self) -> dict[str, dict[str, Any]]:
        """Every check by name (``ok``, ``detail`` and what else helps an operator): the database (still
        the file started on, reachable, at head, writable), the models, the batch, the planning data."""
        ok, detail = self.guard.readiness(timeout_s=2.0)
        if ok:
            self.db_problem = None  # an unreachable server at start has come back
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
