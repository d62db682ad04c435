"""``salesplan simulate`` and ``salesplan demo``: the built-in world, written out or run end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from salesplan.cli._common import clean_errors, console, progress
from salesplan.cli._sources import check_scale
from salesplan.cli.app import app
from salesplan.errors import ConfigError


@app.command("simulate")
@clean_errors
def simulate_cmd(
    out: Annotated[
        Path, typer.Option(help="Folder to write sellout, crm/, spend, activities/ and truth into.")
    ],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same world.", min=0)] = 42,
    scale: Annotated[
        str, typer.Option(help="tiny (4 products × 3 stores), small, medium (100 × 50) or large.")
    ] = "small",
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "parquet",
    freq: Annotated[
        str,
        typer.Option(
            help="Sell-out frequency: D (the weekly world split into days), W, or M, Q, Y (whole calendar "
            "months, quarters, years)."
        ),
    ] = "W",
    weeks: Annotated[
        int | None,
        typer.Option(help="Weeks of history to simulate (default 156; 260 for Q and 520 for Y)."),
    ] = None,
    horizon: Annotated[int, typer.Option(help="Weeks of planned prices and promotions after the data.")] = 13,
    in_progress: Annotated[
        str | None,
        typer.Option(
            help="Also write this quarter's actuals through --as-of (in_progress/: sell-out, spend, budgets, "
            "bookings = deals won, and crm/ = the CRM as it stood then)."
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Last day of the quarter in progress that is sold.")
    ] = None,
) -> None:
    """Generate a seeded, realistic sales world (sell-out, CRM, spend) with its ground truth."""
    from salesplan.contracts import FREQ_NAMES, check_freq
    from salesplan.simulator import SimConfig, simulate

    check_scale(scale)
    freq = check_freq(freq.upper(), "--freq")
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"--format must be csv or parquet, got {fmt!r}")
    if in_progress is not None:  # checked before a world is written, not after
        from salesplan.planning.tracking.calendar import QUARTER_RE

        if not QUARTER_RE.match(in_progress.strip()):
            raise ConfigError(f"--in-progress must be a quarter like 2027Q1, got {in_progress!r}")
        if as_of is None:
            raise ConfigError("--in-progress needs --as-of, the last day sold (e.g. 2027-02-14)")
        import pandas as pd

        try:
            pd.Timestamp(as_of)
        except ValueError:
            raise ConfigError(f"--as-of must be a day like 2027-02-14, got {as_of!r}") from None
    config = SimConfig(seed=seed, scale=scale, freq=freq, n_weeks=weeks, horizon=horizon)  # type: ignore[arg-type]
    with progress(f"simulating ({scale}, {FREQ_NAMES[freq]}, seed {seed})"):
        world = simulate(config)
        world.write(out, fmt=fmt)
    df = world.sellout.df
    n = df.groupby("unique_id").size()
    console.print(
        f"wrote {out}: {FREQ_NAMES[freq]} sell-out {len(df):,} rows / {df['unique_id'].nunique():,} series "
        f"({n.min()}–{n.max()} periods, {df['ds'].min():%Y-%m-%d} to {df['ds'].max():%Y-%m-%d}), "
        f"{len(world.crm.opportunities):,} opportunities, {len(world.crm.reps):,} reps, "
        f"spend {len(world.spend):,} rows"
        + (
            f", {len(world.activity.activities):,} sales activities of {len(world.activity.reps):,} people "
            "(activities/)"
            if world.activity is not None
            else ""
        ),
        soft_wrap=True,
    )
    if in_progress is not None:
        from salesplan.io import write_crm, write_table
        from salesplan.simulator.in_progress import quarter_in_progress, world_bookings

        if as_of is None:
            raise ConfigError("--in-progress needs --as-of, the last day sold (e.g. 2027-02-14)")
        try:
            prog = quarter_in_progress(world, in_progress, as_of)
            booked = world_bookings(world, in_progress, as_of)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        folder = out / "in_progress"
        tables = (
            ("sellout", prog.sellout),
            ("spend", prog.spend),
            ("budgets", prog.budgets),
            ("bookings", booked.won),
        )
        for name, frame in tables:
            write_table(frame, folder / f"{name}.csv")
        write_crm(booked.crm, folder / "crm")
        n_open = int((booked.crm.opportunities["outcome"] == "open").sum())
        console.print(
            f"wrote {folder}: {prog.quarter} sold through {prog.as_of:%Y-%m-%d} ({len(prog.sellout):,} sell-out rows, "
            f"{len(prog.spend):,} spend rows, {len(prog.budgets):,} budget rows, {len(booked.won):,} deals won "
            f"= {booked.won['amount'].sum():,.0f} booked) and crm/ as it stood then ({n_open:,} open deals); load "
            "them with salesplan actuals load FILE --kind sellout|spend|budget|bookings, then salesplan track "
            f"--domain bookings --crm {folder / 'crm'}",
            soft_wrap=True,
        )


@app.command("demo")
@clean_errors
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the demo's outputs.")] = Path("demo_out"),
    seed: Annotated[int, typer.Option(help="Random seed of the simulated world.", min=0)] = 42,
    scale: Annotated[str, typer.Option(help="Simulator scale.")] = "small",
) -> None:
    """Run the main job end to end on the built-in simulator and print what each step produced."""
    from salesplan.cli.demo import run_demo

    check_scale(scale)
    run_demo(out=out, seed=seed, scale=scale)
