"""``salesplan serve`` and ``salesplan apikey ...``: run the API and manage who may call it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from salesplan.cli._common import clean_errors, console
from salesplan.cli.app import app
from salesplan.errors import ConfigError

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


def _repo_session() -> tuple[Any, Any]:
    from salesplan.serving.db.engine import make_engine, migrate, session_factory
    from salesplan.serving.settings import ServingSettings

    engine = make_engine(ServingSettings().database_url)
    migrate(engine)
    return engine, session_factory(engine)


def create_key(role: str, name: str, actor: str = "cli") -> tuple[str, ApiKeyRecord]:
    """A new key in the database of ``SALESPLAN_DATABASE_URL``: (plaintext, record); only the hash is stored.
    Shared by ``salesplan apikey create`` and the demo, so both make keys the same way."""
    from salesplan.serving.db.repository import ApiKeyRepository

    if role not in ROLES:
        raise ConfigError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    engine, sessions = _repo_session()
    try:
        with sessions.begin() as session:
            return ApiKeyRepository(session).create(name, role, actor=actor)  # type: ignore[arg-type]
    finally:
        engine.dispose()


@apikey_app.command("create")
@clean_errors
def apikey_create(
    role: Annotated[str, typer.Option(help="planner, crm, analyst or admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "cli",
) -> None:
    """Create a key and print it once: only its hash is stored."""
    plaintext, record = create_key(role, name, actor="cli")
    console.print(
        f"created {record.role} key {record.key_prefix!r} for {record.name!r}; store it now, it is not shown again:"
    )
    print(plaintext)


@apikey_app.command("list")
@clean_errors
def apikey_list() -> None:
    """List keys (prefix, name, role, created, last used, revoked); never the keys themselves."""
    from salesplan.serving.db.repository import ApiKeyRepository

    engine, sessions = _repo_session()
    with sessions.begin() as session:
        records = ApiKeyRepository(session).list()
    engine.dispose()
    table = Table("prefix", "name", "role", "created", "last used", "revoked")
    for r in records:
        table.add_row(
            r.key_prefix,
            r.name,
            r.role,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
        )
    console.print(table)


@apikey_app.command("revoke")
@clean_errors
def apikey_revoke(key: Annotated[str, typer.Argument(help="The key's id or 8-character prefix.")]) -> None:
    """Revoke a key; requests with it fail within the service's key-cache TTL (30 s)."""
    from salesplan.serving.db.repository import ApiKeyRepository

    engine, sessions = _repo_session()
    with sessions.begin() as session:
        record = ApiKeyRepository(session).revoke(key, actor="cli")
    engine.dispose()
    console.print(f"revoked {record.key_prefix!r} ({record.name}, {record.role})")
