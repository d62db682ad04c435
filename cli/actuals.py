"""``salesplan actuals load PATH --kind sellout|bookings|spend|budget``: load a quarter's actuals (or the
spend plan) from CSV or Parquet into the application database, through the contracts, idempotently (a
reload changes nothing; a changed value replaces the stored one and is audited)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from salesplan.cli._common import clean_errors, console
from salesplan.cli._plan_io import default_author
from salesplan.cli.app import app
from salesplan.errors import ConfigError

actuals_app = typer.Typer(help="Actuals of a quarter in progress.", no_args_is_help=True)
app.add_typer(actuals_app, name="actuals")


@actuals_app.command("load")
@clean_errors
def load_cmd(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    kind: Annotated[str, typer.Option(help="sellout, bookings, spend or budget.")],
    freq: Annotated[str, typer.Option(help="Sell-out frequency (D, W, M).")] = "W",
    author: Annotated[str | None, typer.Option(help="Who loads (default: the OS user).")] = None,
) -> None:
    """Load actuals (sell-out rows, won deals, spend) or the spend plan (budget) into the database."""
    from salesplan.cli.track import tracking_service
    from salesplan.io import read_table
    from salesplan.serving.tracking_service import KINDS

    if kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    frame = read_table(path)
    with tracking_service() as service:
        res = service.load(kind, frame, author or default_author(), freq)
    console.print(
        f"{kind} from {path}: {res.inserted} new, {res.corrected} corrected (audited), {res.unchanged} unchanged",
        soft_wrap=True,
    )
    for note in res.notes:
        console.print(f"  note: {note}", soft_wrap=True)
