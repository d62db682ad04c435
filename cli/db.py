"""``salesplan db upgrade|current``: the only way the application database (proposals, API keys, audit log)
is created or migrated. The service and every other command refuse a missing or outdated database with a
message that points here, instead of quietly creating an empty one (which once hid a deleted database)."""

from __future__ import annotations

import typer

from salesplan.cli._common import clean_errors, console
from salesplan.cli._plan_io import database_label
from salesplan.cli.app import app
from salesplan.errors import ServiceUnavailableError

db_app = typer.Typer(
    help="Create and migrate the application database (SALESPLAN_DATABASE_URL).", no_args_is_help=True
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@clean_errors
def upgrade_cmd() -> None:
    """Create the database if it does not exist and migrate it to this version's schema (idempotent)."""
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from salesplan.serving.db.engine import current_revision, make_engine, migrate, sqlite_file

    label = database_label()
    engine = make_engine()
    path = sqlite_file(engine.url)
    existed = path is None or path.exists()
    try:
        before = current_revision(engine) if existed else None
        head = migrate(engine.url)
    except OperationalError as exc:
        raise ServiceUnavailableError(
            f"cannot reach the database {label}: {str(exc.orig or exc).strip().splitlines()[0]}. "
            "Fix: start it, or point SALESPLAN_DATABASE_URL at one"
        ) from None
    except SQLAlchemyError as exc:
        raise ServiceUnavailableError(f"migrating {label} failed: {str(exc).splitlines()[0]}") from None
    finally:
        engine.dispose()
    if before == head:
        console.print(f"database {label} is at revision {head}: nothing to do", soft_wrap=True)
        return
    was = f"revision {before}" if before else "an empty schema" if existed else "nothing (created it)"
    console.print(f"database {label} upgraded from {was} to revision {head}", soft_wrap=True)


@db_app.command("current")
@clean_errors
def current_cmd() -> None:
    """Say which revision the database is at and whether this version can use it (exit code 1 if not)."""
    from salesplan.serving.db.engine import database_problem, head_revision, make_engine

    label = database_label()
    engine = make_engine()
    try:
        problem = database_problem(engine)
    finally:
        engine.dispose()
    if problem is not None:
        raise ServiceUnavailableError(problem[1])
    console.print(f"database {label} is at revision {head_revision()} (current)", soft_wrap=True)
