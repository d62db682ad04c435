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


train_app = typer.Typer(
    help="Train a model, track it in MLflow and gate it against the champion.", no_args_is_help=True
)
score_app = typer.Typer(help="Score with a registered model.", no_args_is_help=True)
backtest_app = typer.Typer(help="Rolling-origin backtests.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(score_app, name="score")
app.add_typer(backtest_app, name="backtest")


def _register() -> None:
    # Imported here so each command module can import ``app`` from this module.
    from salesplan.cli import (  # noqa: F401
        actuals,
        data,
        db,
        deals,
        forecast,
        funnel,
        jbp,
        plan,
        process,
        promotions,
        report,
        selection,
        serve,
        simulate,
        track,
        workspace,
    )


def main() -> None:
    app()


_register()
