"""PostgreSQL for tests: the session fixture ``pg_url`` (import it from tests/conftest.py).

``SALESPLAN_TEST_PG_URL`` points the tests at an existing server. Otherwise ``scripts/pg.sh start`` runs
(installing PostgreSQL once if needed). Several pytest processes may share that server (xdist workers,
two people running ``make test`` at once), so each holds a lease file and the last one out stops the
server — and only if a fixture started it, never a server somebody started by hand. If the server cannot
be started the PostgreSQL tests skip with pg.sh's stderr as the reason, unless
``SALESPLAN_TEST_PG_REQUIRED=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pg.sh"


def _pg_port() -> str:
    return os.environ.get("SALESPLAN_PG_PORT", "55432")


@contextmanager
def _leases_locked() -> Iterator[Path]:
    """The lease folder, under an exclusive lock (separate from pg.sh's own lock: pg.sh runs inside)."""
    folder = Path(f"/tmp/salesplan-pg-{_pg_port()}.leases")
    folder.mkdir(exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _live_leases(folder: Path) -> list[Path]:
    """Lease files of processes still alive; leases of crashed runs are removed."""
    live = []
    for lease in folder.glob("lease-*"):
        pid = int(lease.name.split("-")[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            lease.unlink(missing_ok=True)
            continue
        except PermissionError:
            pass  # alive, another user's process
        live.append(lease)
    return live


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(PG_SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL server for this test session."""
    override = os.environ.get("SALESPLAN_TEST_PG_URL")
    if override:
        yield override
        return
    required = os.environ.get("SALESPLAN_TEST_PG_REQUIRED") == "1"
    lease = None
    with _leases_locked() as folder:
        first = not _live_leases(folder)
        was_running = _run("status", timeout=60).returncode == 0
        try:
            # The first install on a fresh machine downloads packages: allow it time, only once.
            started = _run("start", timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            started = subprocess.CompletedProcess([], 1, "", f"{type(exc).__name__}: {exc}")
        if started.returncode != 0:
            reason = f"PostgreSQL could not be started by {PG_SCRIPT}: {started.stderr.strip()[-2000:]}"
            if required:
                pytest.fail(reason)
            pytest.skip(reason)
        if first:  # nobody else holds a lease: decide who owns the server
            (folder / "owner").write_text("external" if was_running else "fixture")
        lease = folder / f"lease-{os.getpid()}-{id(started)}"
        lease.touch()
    url = started.stdout.strip().splitlines()[-1]
    try:
        yield url
    finally:
        with _leases_locked() as folder:
            lease.unlink(missing_ok=True)
            owner = folder / "owner"
            if not _live_leases(folder) and owner.exists() and owner.read_text() == "fixture":
                _run("stop", timeout=120)
                owner.unlink(missing_ok=True)


@contextmanager
def fresh_schema(pg_url: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema of the test server; dropped afterwards, so
    tests (and xdist workers) never see each other's tables."""
    import uuid

    from sqlalchemy import text

    from salesplan.serving.db.engine import make_engine, normalize_url

    base = normalize_url(pg_url)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
