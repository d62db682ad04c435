"""What every command shares: clean error output (never a traceback) and a progress bar."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from salesplan.errors import SalesplanError

P = ParamSpec("P")
R = TypeVar("R")

SimOpt = Annotated[bool, typer.Option("--simulated", help="Use the built-in simulator.")]
SeedOpt = Annotated[int, typer.Option(help="Simulator seed.", min=0)]
ScaleOpt = Annotated[str, typer.Option(help="Simulator scale: tiny, small, medium or large.")]

console = Console()
err_console = Console(stderr=True)


def clean_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``SalesplanError`` into its message on stderr and exit code 1 (2 for bad usage)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SalesplanError as exc:
            # escaped: a problem names its column as [y], which rich would take for a style and drop
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True
            )
            raise typer.Exit(code=1) from None
        except OSError as exc:  # a path the user gave: a folder where a file goes, no permission, ...
            where = f": {exc.filename}" if exc.filename else ""
            text = escape(f"{exc.strerror or exc}{where}")
            err_console.print(
                f"[bold red]error:[/] {text}. Fix: give a file path in a folder that exists and that you may "
                "write (or read)",
                highlight=False, markup=True, soft_wrap=True,
            )  # fmt: skip
            raise typer.Exit(code=1) from None

    return wrapper


@contextmanager
def stages(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner for a long step made of named stages; yields ``stage(text)``, which shows
    ``title — text`` (e.g. "training the forecaster — backtest: fold 2/3, origin 2026-05-04") and prints
    the finished stage with its time, so the log keeps what took how long."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(title, total=None)
        current: list[tuple[str, float]] = []

        def stage(text: str) -> None:
            now = time.monotonic()
            if current:
                done, since = current.pop()
                bar.console.print(
                    f"  {title} — {done} ({now - since:.0f} s)", highlight=False, soft_wrap=True
                )
            current.append((text, now))
            bar.update(task, description=f"{title} — {text}")

        yield stage
        if current:
            done, since = current.pop()
            bar.console.print(
                f"  {title} — {done} ({time.monotonic() - since:.0f} s)", highlight=False, soft_wrap=True
            )


@contextmanager
def progress(description: str, total: float | None = None) -> Iterator[Callable[[float], None]]:
    """A progress bar (spinner when the total is unknown); yields ``advance(n)``."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: float = 1) -> None:
            bar.advance(task, n)

        yield advance
