"""Alembic environment: runs on a connection handed over by ``serving.db.engine.migrate`` or, from the
``alembic`` CLI, on ``sqlalchemy.url`` of the ini file, else on ``SALESPLAN_DATABASE_URL``."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text

from salesplan.config import get_settings
from salesplan.serving.db.engine import make_engine, normalize_url
from salesplan.serving.db.tables import Base

config = context.config
target_metadata = Base.metadata

# Only the CLI has an ini file; a programmatic migrate() must not reconfigure the application's logging.
if config.config_file_name is not None and config.get_section("loggers") is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Any constant works; it only has to be the same for every salesplan process migrating this database.
_MIGRATION_LOCK_ID = 0x5A1E5_0001


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two replicas starting at once would both try to create the tables; let one wait for the other.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: print the DDL instead of running it."""
    url = normalize_url(
        config.attributes.get("url")
        or config.get_main_option("sqlalchemy.url")
        or get_settings().database_url
    )
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(
        config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or None,
        create=True,
        foreign_keys=False,  # SQLite rebuilds tables in batch mode: a DROP must not cascade
    )
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
