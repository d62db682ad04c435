"""Engines, transactions, migrations and the schema check of the application database.

One place decides how we talk to each backend. PostgreSQL always goes through psycopg 3, whatever the URL
says. SQLite (the default file, dev and tests) gets foreign keys, cross-thread use and:

- **no implicit creation**: a file URL opens an existing file only (``mode=rw``); only ``salesplan db
  upgrade`` (``create=True``) makes one, so a deleted or mistyped database is an error, not a new empty one;
- **a rollback journal, not WAL** (``journal_mode=DELETE``, ``synchronous=FULL``): WAL maps a ``-shm`` file
  into memory, and a truncated or unwritable one kills the process with SIGBUS (seen in the hardening
  probe); the service writes rarely (proposals, keys), so readers briefly waiting for a commit costs little;
- **write transactions that take the write lock first** (``BEGIN IMMEDIATE``, see :func:`transaction`):
  a deferred transaction that reads, then writes, fails with "database is locked" when another one wrote
  in between, instead of waiting its turn.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from salesplan.config import get_settings
from salesplan.errors import ServiceUnavailableError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
WRITE = "salesplan_write"
"""Execution option of a connection whose transaction will write (SQLite: ``BEGIN IMMEDIATE``)."""
UPGRADE_HINT = "run 'salesplan db upgrade' (with the same SALESPLAN_DATABASE_URL)"


class Transaction(Protocol):
    """A transaction factory: ``with transaction(write=True) as session: ...`` commits when the block ends
    (``Services.session`` in the service, :func:`transactions` of an engine in the CLI)."""

    def __call__(self, *, write: bool = False) -> AbstractContextManager[Session]: ...


def normalize_url(url: str | URL) -> URL:
    """Plain ``postgresql://`` (or ``postgres://``, as Heroku-style env vars spell it) means psycopg 3:
    SQLAlchemy would otherwise pick psycopg2, which we do not ship."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def _is_memory_sqlite(u: URL) -> bool:
    return u.get_backend_name() == "sqlite" and (
        u.database in (None, "", ":memory:") or "mode=memory" in str(u)
    )


def sqlite_file(url: str | URL) -> Path | None:
    """The absolute path of a file-backed SQLite database, else None (PostgreSQL, in-memory SQLite)."""
    u = normalize_url(url)
    if u.get_backend_name() != "sqlite" or _is_memory_sqlite(u) or not u.database:
        return None
    return Path(u.database).expanduser().resolve()


def make_engine(
    url: str | URL | None = None,
    *,
    echo: bool = False,
    connect_timeout_s: int = 5,
    create: bool = False,
    foreign_keys: bool = True,
) -> Engine:
    """Engine for ``url`` (default: ``SALESPLAN_DATABASE_URL``), configured per backend. A SQLite file
    must exist unless ``create`` (only migrations create databases); ``foreign_keys=False`` is for
    migrations only (SQLite's table rebuilds would otherwise cascade deletes)."""
    u = normalize_url(url if url is not None else get_settings().database_url)
    backend = u.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo}
    path = sqlite_file(u)
    if backend == "sqlite":
        if path is not None:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["creator"] = _sqlite_creator(path, create)
        else:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if _is_memory_sqlite(u):
                kwargs["poolclass"] = StaticPool  # one shared in-memory database, not one per connection
    elif backend == "postgresql":
        connect_args: dict[str, Any] = {"application_name": "salesplan"}
        if "connect_timeout" not in u.query:
            connect_args["connect_timeout"] = connect_timeout_s
        kwargs.update(connect_args=connect_args, pool_pre_ping=True)
    engine = create_engine(u, **kwargs)
    if backend == "sqlite":
        event.listen(engine, "connect", partial(_sqlite_on_connect, foreign_keys=foreign_keys))
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_creator(path: Path, create: bool) -> Callable[[], sqlite3.Connection]:
    """Connections through a ``file:`` URI, so ``mode=rw`` can forbid creating a missing file (request
    threads share pooled connections; they wait, not fail, while another writer commits)."""
    uri = f"file:{quote(str(path))}?mode={'rwc' if create else 'rw'}"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)

    return connect


def _sqlite_on_connect(dbapi_connection: Any, _record: Any, *, foreign_keys: bool = True) -> None:
    """Foreign keys on (SQLite leaves them off), a rollback journal with full syncs (module docstring), and
    transactions begun by us (:func:`_sqlite_begin`), not by the driver, so ``BEGIN IMMEDIATE`` and
    savepoints work (the recipe of SQLAlchemy's pysqlite documentation)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()
        if mode is not None and str(mode[0]).lower() == "wal":
            # a database made by an older salesplan (salesplan db upgrade converts it for good); if another
            # process has it open in WAL mode the change fails and this connection goes on in WAL
            with contextlib.suppress(sqlite3.OperationalError):
                cursor.execute("PRAGMA journal_mode=DELETE")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose loaded objects stay readable after commit (the repositories copy them out anyway).

    The caller owns the transaction: ``with transaction(factory, write=True) as session: ...``."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def transactions(engine: Engine) -> Transaction:
    """The :class:`Transaction` factory of ``engine`` (what the CLI hands to ``ProposalService``)."""
    return partial(transaction, session_factory(engine))


@contextmanager
def transaction(sessions: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back on error. ``write``: it will change data, so
    on SQLite it takes the write lock up front (``BEGIN IMMEDIATE``) and waits for its turn."""
    with sessions() as session:
        if write:
            session.connection(execution_options={WRITE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str | URL | None = None) -> Config:
    """Alembic config built in code, so migrations run from an installed package and from any directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # Passed through attributes, not the ini option: configparser would choke on '%' in passwords.
        cfg.attributes["url"] = normalize_url(url)
    return cfg


def migrate(target: str | URL | Engine | None = None) -> str:
    """Create the database if needed and upgrade the schema to head (idempotent; concurrent callers on
    PostgreSQL serialize on an advisory lock); returns the head revision. What ``salesplan db upgrade``
    runs, the only code that creates or migrates a database. Accepts an engine so in-memory SQLite
    migrates the same database."""
    given = target if isinstance(target, Engine) else None
    if given is not None and (given.dialect.name != "sqlite" or sqlite_file(given.url) is None):
        engine = given  # PostgreSQL, or in-memory SQLite: only this engine reaches that database
    else:
        url = given.url if given is not None else target
        engine = make_engine(url, create=True, foreign_keys=False)  # type: ignore[arg-type]
    try:
        _upgrade(engine)
    finally:
        if engine is not given:
            engine.dispose()
    return head_revision()


def _upgrade(engine: Engine) -> None:
    memory = engine.dialect.name == "sqlite" and sqlite_file(engine.url) is None
    if memory:  # outside any transaction, where SQLite honours it, on the one pooled connection
        _raw_sqlite(engine, "PRAGMA foreign_keys=OFF")
    try:
        cfg = alembic_config()
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    finally:
        if memory:
            _raw_sqlite(engine, "PRAGMA foreign_keys=ON")
    if engine.dialect.name == "sqlite" and not memory:
        # leave WAL for good (module docstring); a process holding it open in WAL mode keeps it
        with contextlib.suppress(sqlite3.OperationalError):
            _raw_sqlite(engine, "PRAGMA journal_mode=DELETE")


def _raw_sqlite(engine: Engine, sql: str) -> None:
    """A statement on a pooled connection outside SQLAlchemy's transaction (PRAGMAs that a transaction
    would ignore)."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        driver.execute(sql)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """Newest revision of our migrations (read once: the files do not change while the process runs)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError(f"no Alembic revisions found in {MIGRATIONS_DIR}")
    return head


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    return frozenset(r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def current_revision(engine: Engine) -> str | None:
    """Revision the database is at, or None if it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def revision_problem(current: str | None) -> str | None:
    """What is wrong with a database at ``current`` for this code, or None when it is at head."""
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return f"it has no salesplan schema (never migrated): {UPGRADE_HINT}"
    if current in known_revisions():
        return f"its schema is at revision {current}, this salesplan needs {head}: {UPGRADE_HINT}"
    return (
        f"its schema is at revision {current}, which this salesplan (head {head}) does not know: a newer "
        "salesplan migrated it; run that version, or restore a backup made for this one"
    )


def database_problem(engine: Engine) -> tuple[str, str] | None:
    """Why the service must not start on ``engine``'s database: ``("missing" | "schema" | "unreachable",
    message)``, or None when it exists and is at head. A missing file and a wrong schema are final (the
    service refuses to start); an unreachable server may come back (the service starts, not ready)."""
    label = engine.url.render_as_string(hide_password=True)
    path = sqlite_file(engine.url)
    if path is not None and not path.is_file():
        return "missing", f"no database file at {path}; to create it, {UPGRADE_HINT}"
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        first = (str(exc.orig or exc).strip().splitlines() or [""])[0]
        return "unreachable", f"database {label} is unreachable: {first}"
    problem = revision_problem(current)
    return None if problem is None else ("schema", f"database {label}: {problem}")


def require_database(engine: Engine) -> Engine:
    """``engine`` if its database exists and is at head, else a ``ServiceUnavailableError`` that says how
    to fix it (what every CLI command that reads or writes the store calls first: none creates or
    migrates a database behind the user's back)."""
    problem = database_problem(engine)
    if problem is not None:
        raise ServiceUnavailableError(problem[1])
    return engine


def ping(engine: Engine, timeout_s: float = 2.0) -> tuple[bool, str]:
    """Readiness: ``(ok, detail)``. The database must answer within ``timeout_s`` and be migrated to head.

    The check runs in a daemon thread so a hung network or a full pool cannot block the caller past the
    timeout (the thread finishes or dies with its connection attempt on its own).
    """
    return run_with_timeout(lambda: _ping(engine), timeout_s, engine.dialect.name)


def _ping(engine: Engine) -> tuple[bool, str]:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        current = MigrationContext.configure(connection).get_current_revision()
    problem = revision_problem(current)
    if problem is not None:
        return False, problem
    return True, f"{engine.dialect.name} reachable, schema at {current}"


def run_with_timeout(
    check: Callable[[], tuple[bool, str]], timeout_s: float, backend: str
) -> tuple[bool, str]:
    """``check()`` in a daemon thread; any exception or the timeout is ``(False, why)``."""
    result: list[tuple[bool, str]] = []

    def run() -> None:
        try:
            result.append(check())
        except Exception as exc:  # any driver error means "not ready", with its message
            first_line = (str(exc).strip().splitlines() or [""])[0]  # drop SQLAlchemy's help link
            result.append((False, f"{backend} unreachable: {type(exc).__name__}: {first_line}"))

    worker = threading.Thread(target=run, name="salesplan-db-check", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not result:
        return False, f"{backend} did not answer within {timeout_s:g} s"
    return result[0]
