"""Engines, sessions, migrations and the readiness ping of the application database.

One place decides how we talk to each backend: SQLite (the default file, dev and tests) gets foreign keys,
WAL and cross-thread use; PostgreSQL always goes through psycopg 3, whatever the URL says.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from salesplan.config import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


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


def make_engine(url: str | URL | None = None, *, echo: bool = False, connect_timeout_s: int = 5) -> Engine:
    """Engine for ``url`` (default: ``SALESPLAN_DATABASE_URL``), configured per backend."""
    u = normalize_url(url if url is not None else get_settings().database_url)
    backend = u.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo}
    if backend == "sqlite":
        # Request threads share pooled connections; wait (not fail) while another writer commits.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if _is_memory_sqlite(u):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database, not one per connection
        elif u.database:
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif backend == "postgresql":
        connect_args: dict[str, Any] = {"application_name": "salesplan"}
        if "connect_timeout" not in u.query:
            connect_args["connect_timeout"] = connect_timeout_s
        kwargs.update(connect_args=connect_args, pool_pre_ping=True)
    engine = create_engine(u, **kwargs)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """SQLite leaves foreign keys off by default; WAL lets readers run while one writer commits."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose loaded objects stay readable after commit (the repositories copy them out anyway).

    The caller owns the transaction: ``with factory.begin() as session: ProposalRepository(session)...``.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str | URL | None = None) -> Config:
    """Alembic config built in code, so migrations run from an installed package and from any directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # Passed through attributes, not the ini option: configparser would choke on '%' in passwords.
        cfg.attributes["url"] = normalize_url(url)
    return cfg


def migrate(target: str | URL | Engine | None = None) -> str:
    """Upgrade the schema to head (idempotent; concurrent callers on PostgreSQL serialize on an advisory
    lock) and return the head revision. Accepts an engine so in-memory SQLite migrates the same database."""
    if isinstance(target, Engine):
        cfg = alembic_config()
        with target.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    else:
        engine = make_engine(target)
        try:
            cfg = alembic_config()
            with engine.begin() as connection:
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
        finally:
            engine.dispose()
    return head_revision()


@lru_cache(maxsize=1)
def head_revision() -> str:
    """Newest revision of our migrations (read once: the files do not change while the process runs)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError(f"no Alembic revisions found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """Revision the database is at, or None if it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ping(engine: Engine, timeout_s: float = 2.0) -> tuple[bool, str]:
    """Readiness: ``(ok, detail)``. The database must answer within ``timeout_s`` and be migrated to head.

    The check runs in a daemon thread so a hung network or a full pool cannot block the caller past the
    timeout (the thread finishes or dies with its connection attempt on its own).
    """
    result: list[tuple[bool, str]] = []

    def check() -> None:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                current = MigrationContext.configure(connection).get_current_revision()
            head = head_revision()
            if current != head:
                result.append((False, f"schema at {current or 'nothing'}, expected {head}: run migrations"))
            else:
                result.append((True, f"{engine.dialect.name} reachable, schema at {head}"))
        except Exception as exc:  # any driver error means "not ready", with its message
            first_line = (str(exc).strip().splitlines() or [""])[0]  # drop SQLAlchemy's help link
            result.append((False, f"{engine.dialect.name} unreachable: {type(exc).__name__}: {first_line}"))

    worker = threading.Thread(target=check, name="salesplan-db-ping", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not result:
        return False, f"{engine.dialect.name} did not answer within {timeout_s:g} s"
    return result[0]
