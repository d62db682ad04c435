"""What every command shares: clean error output (never a traceback) and a progress bar."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from salesplan.errors import SalesplanError

P = ParamSpec("P")
R = TypeVar("R")

SimOpt = Annotated[bool, typer.Option("--simulated", help="Use the built-in simulator.")]
SeedOpt = Annotated[int, typer.Option(help="Simulator seed.")]
ScaleOpt = Annotated[str, typer.Option(help="Simulator scale: small, medium or large.")]

console = Console()
err_console = Console(stderr=True)


def clean_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``SalesplanError`` into its message on stderr and exit code 1 (2 for bad usage)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SalesplanError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper


@contextmanager
def progress(description: str, total: float | None = None) -> Iterator[Callable[[float], None]]:
    """A progress bar (spinner when the total is unknown); yields ``advance(n)``."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: float = 1) -> None:
            bar.advance(task, n)

        yield advance
