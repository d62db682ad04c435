"""``salesplan serve`` and ``salesplan apikey ...``: run the API and manage who may call it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from salesplan.cli._common import clean_errors, console, err_console
from salesplan.cli.app import app
from salesplan.errors import ConfigError, ServiceUnavailableError
from salesplan.serving.db.records import printable

if TYPE_CHECKING:
    from salesplan.serving.db.records import ApiKeyRecord

ROLES = ("planner", "crm", "analyst", "admin")
apikey_app = typer.Typer(help="Create, list and revoke API keys (hashed at rest).", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


@app.command("serve")
@clean_errors
def serve_cmd(
    host: Annotated[str, typer.Option(help="Interface to bind; loopback by default.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run the FastAPI service (champion models are loaded at start; see /ready). Several workers share one
    listening socket with TCP_NODELAY (serving.runner says why plain ``uvicorn --workers`` is slower)."""
    from salesplan.serving.runner import run

    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    _check_database()
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    console.print(
        f"serving on {url} with {workers} worker(s): API docs {url}/docs, planner page {url}/app, "
        f"readiness {url}/ready; Ctrl+C stops",
        soft_wrap=True,
        highlight=False,
    )
    try:
        run(host, port, workers, log_level)
    except OSError as exc:  # e.g. the port is taken: say so instead of a traceback
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port"
        ) from exc


def _check_database() -> None:
    """Refuse to start on a missing, unmigrated or unwritable database, with the fix (the service checks
    again in each worker; this says it once, cleanly, before any worker starts)."""
    from salesplan.serving.db.engine import database_problem, make_engine
    from salesplan.serving.db.guard import DatabaseGuard
    from salesplan.serving.settings import ServingSettings

    engine = make_engine(ServingSettings().database_url)
    try:
        problem = database_problem(engine)
        if problem is not None and problem[0] == "unreachable":  # a server may come back: start, not ready
            err_console.print(f"[yellow]warning:[/] {problem[1]}; /ready answers 503 until it is back")
            return
        if problem is not None:
            raise ServiceUnavailableError(problem[1])
        guard = DatabaseGuard(engine)
        guard.arm()
        ok, detail = guard.readiness(timeout_s=30.0)
        if not ok:
            raise ServiceUnavailableError(f"the database cannot take writes: {detail}")
    finally:
        engine.dispose()


def _repo_session() -> tuple[Any, Any]:
    """The key store's engine and sessions; the database must exist at the current schema."""
    from salesplan.serving.db.engine import make_engine, require_database, session_factory
    from salesplan.serving.settings import ServingSettings

    engine = make_engine(ServingSettings().database_url)
    try:
        require_database(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine, session_factory(engine)


def create_key(role: str, name: str, actor: str = "cli", replace: bool = False) -> tuple[str, ApiKeyRecord]:
    """A new key in the database of ``SALESPLAN_DATABASE_URL``: (plaintext, record); only the hash is stored.
    ``replace`` revokes the active key of that name first. Shared by ``salesplan apikey create`` and the
    demo, so both make keys the same way."""
    from salesplan.serving.db.engine import transaction
    from salesplan.serving.db.repository import ApiKeyRepository

    if role not in ROLES:
        raise ConfigError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    engine, sessions = _repo_session()
    try:
        with transaction(sessions, write=True) as session:
            repo = ApiKeyRepository(session)
            return repo.create(name, role, actor=actor, replace=replace)  # type: ignore[arg-type]
    finally:
        engine.dispose()


@apikey_app.command("create")
@clean_errors
def apikey_create(
    role: Annotated[str, typer.Option(help="planner, crm, analyst or admin.")],
    name: Annotated[
        str,
        typer.Option(help="Who or what uses the key: unique among active keys; letters, digits, . _ @ + -"),
    ] = "cli",
    replace: Annotated[
        bool, typer.Option("--replace", help="Revoke the active key of that name first (rotation).")
    ] = False,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    plaintext, record = create_key(role, name, actor="cli", replace=replace)
    console.print(
        f"created {record.role} key {record.key_prefix!r} for {record.name!r}; store it now, it is not shown "
        "again:",
        markup=False,
        highlight=False,
    )
    print(plaintext)


@apikey_app.command("list")
@clean_errors
def apikey_list() -> None:
    """List keys (prefix, name, role, created, last used, revoked); never the keys themselves."""
    from salesplan.serving.db.repository import ApiKeyRepository

    engine, sessions = _repo_session()
    try:
        with sessions() as session:
            records = ApiKeyRepository(session).list()
    finally:
        engine.dispose()
    table = Table("prefix", "name", "role", "created", "last used", "revoked")
    for r in records:
        table.add_row(  # names made before 0003 may hold control characters: shown escaped, never run
            r.key_prefix,
            Text(printable(r.name)),
            r.role,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
        )
    console.print(table)


@apikey_app.command("revoke")
@clean_errors
def apikey_revoke(key: Annotated[str, typer.Argument(help="The key's id or 8-character prefix.")]) -> None:
    """Revoke a key; every worker of a running service refuses it within a second."""
    from salesplan.serving.db.engine import transaction
    from salesplan.serving.db.repository import ApiKeyRepository

    engine, sessions = _repo_session()
    try:
        with transaction(sessions, write=True) as session:
            record = ApiKeyRepository(session).revoke(key, actor="cli")
    finally:
        engine.dispose()
    console.print(
        f"revoked {record.key_prefix!r} ({printable(record.name)}, {record.role})",
        markup=False,
        highlight=False,
    )
