"""``salesplan plan backtest``: replay past quarters of bookings as a planner would have lived them (the
distributions known at each quarter's start, targets by each method, then what was won) and report whether
the promised hit probability held and how evenly the targets stretched the reps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, progress
from salesplan.cli._plan_io import crm_end, log_to_project_run
from salesplan.cli.plan import plan_app
from salesplan.errors import ConfigError

SELLOUT_SETS_NOTE = (
    "the target backtest replays bookings from a CRM (--simulated, --dataset maven, --data CRM_DIR); "
    "sell-out sets such as walmart need a quarterly forecast per past origin, which the CLI does not run"
)


def past_quarters(end: pd.Timestamp, n: int) -> list[str]:
    """The ``n`` most recent quarters that ended on or before ``end`` (the CRM's last date), oldest first."""
    last = (end + pd.Timedelta(days=1)).to_period("Q") - 1
    return [str(last - k) for k in range(n - 1, -1, -1)]


@plan_app.command("backtest")
@clean_errors
def backtest_cmd(
    probability: Annotated[float, typer.Option(help="Hit probability the targets promise.")] = 0.6,
    quarters: Annotated[int, typer.Option(help="How many recent complete quarters to replay.")] = 4,
    over_assignment: Annotated[float, typer.Option(help="Over-assignment of the allocation methods.")] = 0.0,
    simulated: SimOpt = False,
    data: Annotated[Path | None, typer.Option(help="A CRM folder.")] = None,
    dataset: Annotated[str | None, typer.Option(help="A real CRM set: maven.")] = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    out: Annotated[Path, typer.Option(help="Folder for the per-unit rows and the summary (CSV).")] = Path(
        "plan_out"
    ),
) -> None:
    """Backtest quarterly bookings targets: promised vs realised hit rate and fairness, per method."""
    from salesplan.cli._sources import crm_source
    from salesplan.loaders import SELLOUT_SETS
    from salesplan.planning.bookings import bookings_actuals, bookings_distributions
    from salesplan.planning.target_backtest import target_backtest

    if dataset in SELLOUT_SETS:
        raise ConfigError(f"--dataset {dataset}: {SELLOUT_SETS_NOTE}")
    if not 0 < probability < 1:
        raise ConfigError(f"--probability must be strictly between 0 and 1, got {probability}")
    if not 1 <= quarters <= 20:
        raise ConfigError(f"--quarters must be between 1 and 20, got {quarters}")
    with progress("reading the CRM"):
        crm, source = crm_source(data, simulated, dataset, seed, scale)
    qs = past_quarters(crm_end(crm), quarters)

    def dists(q: str) -> tuple[dict[str, object], pd.DataFrame]:
        return bookings_distributions(crm, q, as_of=pd.Period(q, freq="Q").start_time)  # type: ignore[return-value]

    def actual(q: str) -> pd.Series:
        return bookings_actuals(crm, q, as_of=pd.Period(q, freq="Q").start_time)

    with progress(f"replaying {', '.join(qs)} on {source}"):
        bt = target_backtest(qs, dists, actual, probability=probability, over_assignment=over_assignment)  # type: ignore[arg-type]
    t = Table(
        title=f"target backtest on {source}, {qs[0]}–{qs[-1]}, targets promised P(hit) {probability:.0%} (leaf units)"
    )
    for col in ("method", "units", "promised", "hit rate", "gap", "Gini", "CV", "Gini vs actual"):
        t.add_column(col, justify="left" if col == "method" else "right")
    for _, r in bt.summary.iterrows():
        t.add_row(
            str(r["method"]),
            f"{int(r['units'])}",
            f"{r['promised']:.1%}",
            f"{r['hit_rate']:.1%}",
            f"{r['gap']:+.1%}",
            f"{r['gini']:.3f}",
            f"{r['cv']:.3f}",
            f"{r['gini_actual']:.3f}",
        )
    console.print(t)
    lv = (
        bt.by_level[bt.by_level["method"] == "blended"]
        if "blended" in set(bt.by_level["method"])
        else bt.by_level
    )
    console.print(
        "by level (blended): "
        + "; ".join(
            f"{r['level']} hit {r['hit_rate']:.0%} vs promised {r['promised']:.0%}" for _, r in lv.iterrows()
        ),
        soft_wrap=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    bt.rows.to_csv(out / "target_backtest_rows.csv", index=False)
    bt.summary.to_csv(out / "target_backtest_summary.csv", index=False)
    console.print(
        f"wrote {out / 'target_backtest_rows.csv'} and {out / 'target_backtest_summary.csv'}", soft_wrap=True
    )
    log_to_project_run([out / "target_backtest_summary.csv"], {})
