"""Root typer app; sub-command modules register themselves here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="salesplan",
    help="Forecast sell-out, score deals and plan quarterly targets for sales operations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # Imported here so each command module can import ``app`` from this module.
    from salesplan.cli import data, funnel, serve, simulate  # noqa: F401


def main() -> None:
    app()


_register()
