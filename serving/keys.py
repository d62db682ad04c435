"""API keys in the running service: the cache that keeps the scoring hot path off the database, the
background sync that makes a revocation reach every worker within a second, and the throttle on failed
authentication.

Why a sync and not a short TTL: with a TTL of one second every busy key would cost a database read (and a
thread-pool hop) per second per worker on the hot path. Instead each worker asks the database every
``interval_s`` which of the keys *it holds* were revoked (one small indexed query), and a cached key is
trusted only while it was verified, or survived a sync, less than ``max_stale_s`` ago. If the sync stalls
(a dead database, a starved thread) entries go stale and requests verify against the database again: the
bound holds by construction, not by the thread keeping time.

``last_used_at`` is collected here and written in one batch every ``flush_every_s``: a key check never
writes (a read-only or busy database used to fail every key check)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime

from salesplan.serving.db.records import ApiKeyRecord

__all__ = ["AuthThrottle", "KeyCache", "KeySync"]

log = logging.getLogger("salesplan.serving")


class KeyCache:
    """Verified keys by the SHA-256 of their plaintext (never the plaintext), each with the time it was last
    known good: verified against the database, or found still active by a sync that began then."""

    def __init__(self, max_stale_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_stale_s = max_stale_s
        self.clock = clock
        self._items: dict[str, tuple[ApiKeyRecord, float]] = {}
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> ApiKeyRecord | None:
        """The record if it is known good as of at most ``max_stale_s`` ago (and the use is noted)."""
        with self._lock:
            hit = self._items.get(digest)
            if hit is None or self.clock() - hit[1] > self.max_stale_s:
                return None
            self._used[hit[0].id] = time.time()
            return hit[0]

    def put(self, digest: str, record: ApiKeyRecord, verified_at: float) -> None:
        """``verified_at``: the clock *before* the database read that found the key valid."""
        with self._lock:
            self._items[digest] = (record, verified_at)
            self._used[record.id] = time.time()

    def key_ids(self) -> set[str]:
        with self._lock:
            return {record.id for record, _ in self._items.values()}

    def synced(self, checked: set[str], revoked: set[str], started_at: float) -> None:
        """A sync that began at ``started_at`` asked about the keys ``checked`` and found ``revoked``
        among them: drop those, and count the others good as of ``started_at``. Keys cached after the
        sync took its list keep their own time (the sync did not ask about them)."""
        with self._lock:
            for digest, (record, known) in list(self._items.items()):
                if record.id in revoked:
                    del self._items[digest]
                elif record.id in checked and started_at > known:
                    self._items[digest] = (record, started_at)

    def take_used(self) -> dict[str, datetime]:
        """Last use per key id since the previous call (for the batched ``last_used_at``)."""
        with self._lock:
            used, self._used = self._used, {}
        return {k: datetime.fromtimestamp(t, UTC) for k, t in used.items()}

    def give_back(self, used: dict[str, datetime]) -> None:
        """Uses whose write failed, kept for the next flush (newer uses win)."""
        with self._lock:
            for key_id, at in used.items():
                self._used.setdefault(key_id, at.timestamp())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class KeySync:
    """A daemon thread calling ``sync()`` every ``interval_s`` until :meth:`stop`, which then calls
    ``final()`` once (the last uses are written)."""

    def __init__(
        self, sync: Callable[[], None], interval_s: float = 0.25, final: Callable[[], None] | None = None
    ) -> None:
        self.sync = sync
        self.final = final
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="salesplan-key-sync", daemon=True)
        self._failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self.final is not None:
            self._once(self.final)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._once(self.sync)

    def _once(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:  # the database may be down: keys go stale and are re-verified per request
            if not self._failing:
                log.warning("API key sync failing", extra={"problem": str(exc).splitlines()[0][:300]})
            self._failing = True
        else:
            if self._failing:
                log.info("API key sync working again")
            self._failing = False


class AuthThrottle:
    """At most ``limit`` failed authentications per client address per ``window_s``; past that, 429 with
    ``Retry-After`` until the oldest failure leaves the window. Per worker process (each counts its own
    share of a client's attempts); behind a proxy, run uvicorn with ``--proxy-headers`` so the address is
    the client's, not the proxy's."""

    MAX_CLIENTS = 10_000

    def __init__(
        self, limit: int = 30, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Seconds the client must wait before its next attempt, or None if it may try now."""
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return None
            now = self.clock()
            while times and now - times[0] >= self.window_s:
                times.popleft()
            if len(times) < self.limit:
                return None
            return max(1, math.ceil(self.window_s - (now - times[0])))

    def failed(self, client: str) -> None:
        with self._lock:
            times = self._failures.setdefault(client, deque())
            self._failures.move_to_end(client)
            times.append(self.clock())
            while len(times) > self.limit:
                times.popleft()
            while len(self._failures) > self.MAX_CLIENTS:
                self._failures.popitem(last=False)
