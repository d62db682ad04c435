"""``salesplan plan budget``: fit response curves of outcome to spend, split a budget to maximise the
expected outcome, and show it against keeping last period's split."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, progress
from salesplan.cli._plan_io import log_to_project_run, pairs
from salesplan.cli.plan import plan_app
from salesplan.errors import ConfigError, DataNotFoundError

if TYPE_CHECKING:
    from salesplan.planning.types import BudgetPlan


def spend_source(data: Path | None, simulated: bool, seed: int, scale: str) -> tuple[pd.DataFrame, str]:
    """A validated Spend frame from the simulator or from a table (or a folder holding ``spend.*``)."""
    from salesplan.contracts import validate_spend
    from salesplan.io import find_table, read_table

    if (data is None) == (not simulated):
        raise ConfigError(
            "give exactly one spend source: --simulated or --data PATH (a spend table or its folder)"
        )
    if simulated:
        from salesplan.cli._sources import check_scale
        from salesplan.simulator import SimConfig, simulate

        check_scale(scale)
        return simulate(SimConfig(seed=seed, scale=scale)).spend, f"simulated-{scale}-seed{seed}"  # type: ignore[arg-type]
    assert data is not None
    path = find_table(data, "spend") if data.is_dir() else data
    if path is None or not path.exists():
        raise DataNotFoundError(
            f"{data}: no spend table (spend.csv or spend.parquet with period, channel, region, spend, outcome)"
        )
    return validate_spend(read_table(path), source=path.name), path.name


def print_budget(plan: BudgetPlan, source: str) -> None:
    a = plan.allocation
    n = plan.periods
    t = Table(
        title=f"budget {plan.total_budget:,.0f} over {n} period(s) on {source}: optimal vs proportional"
    )
    # short headers: the table must stay readable in an 80-column terminal (the CSV has full names)
    for col in ("channel", "region", "spend", "last split", "Δ", "outcome", "mROI", "bound"):
        t.add_column(col, justify="left" if col in ("channel", "region") else "right")
    for _, r in a.iterrows():
        s, p = r["spend"] * n, r["proportional_spend"] * n
        t.add_row(
            str(r["channel"]),
            str(r["region"]),
            f"{s:,.0f}",
            f"{p:,.0f}",
            f"{s / p - 1:+.0%}" if p > 0 else "new",
            f"{r['outcome']:,.0f}",
            f"{r['marginal_roi']:.2f}",
            "●" if r["at_bound"] else "",
        )
    t.add_row(
        "total",
        "",
        f"{a['spend'].sum() * n:,.0f}",
        f"{a['proportional_spend'].sum() * n:,.0f}",
        "",
        f"{a['outcome'].sum():,.0f}",
        "",
        "",
    )
    console.print(t)
    lo, hi = plan.outcome_range
    console.print(
        f"expected outcome {plan.expected_outcome:,.0f} (P10–P90 {lo:,.0f}–{hi:,.0f}) vs {plan.proportional_outcome:,.0f} "
        f"keeping last period's split: {plan.uplift:+.1%}. mROI: extra outcome per extra unit of spend at the "
        "optimum (equal across items unless at a bound ●)"
        + ("" if plan.converged else " [yellow](optimiser did not report convergence)[/]"),
        soft_wrap=True,
    )


@plan_app.command("budget")
@clean_errors
def budget_cmd(
    total: Annotated[float, typer.Option(help="Budget to split over the whole plan (all periods).")],
    cap: Annotated[
        list[str] | None, typer.Option(help="CHANNEL=AMOUNT max for a channel over the plan (repeatable).")
    ] = None,
    floor: Annotated[
        list[str] | None, typer.Option(help="CHANNEL=AMOUNT min for a channel over the plan (repeatable).")
    ] = None,
    max_change: Annotated[
        float | None, typer.Option(help="Max ± change of each item vs last spend, e.g. 0.2.")
    ] = None,
    roi_floor: Annotated[float | None, typer.Option(help="Incremental outcome ≥ this × spend.")] = None,
    periods: Annotated[
        int, typer.Option(help="Periods of the plan (13 weeks = a quarter of weekly spend).")
    ] = 13,
    simulated: SimOpt = False,
    data: Annotated[
        Path | None, typer.Option(help="Spend table (.csv/.parquet) or a folder holding spend.*.")
    ] = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    out: Annotated[Path, typer.Option(help="Folder for budget.csv and budget.html.")] = Path("plan_out"),
) -> None:
    """Fit response curves per channel × region and split --total to maximise the expected outcome."""
    from salesplan.planning.budget import fit_response, optimise_budget
    from salesplan.planning.reports import budget_report

    if periods < 1:
        raise ConfigError(f"--periods must be >= 1, got {periods}")
    if max_change is not None and not 0 < max_change < 1:
        raise ConfigError(f"--max-change must be in (0, 1), got {max_change}")
    caps, floors = pairs(cap, "--cap"), pairs(floor, "--floor")
    spend, source = spend_source(data, simulated, seed, scale)
    bounds: dict[str, tuple[float | None, float | None]] = {
        ch: (
            floors[ch] / periods if ch in floors else None,
            caps[ch] / periods if ch in caps else None,
        )
        for ch in {*caps, *floors}
    }
    with progress(f"fitting response curves on {source}"):
        curves = fit_response(spend)
    with progress("optimising the split"):
        plan = optimise_budget(
            curves,
            total,
            periods=periods,
            channel_bounds=bounds or None,
            max_change=max_change,
            roi_floor=roi_floor,
        )
    print_budget(plan, source)
    out.mkdir(parents=True, exist_ok=True)
    table = plan.allocation.assign(
        spend_total=plan.allocation["spend"] * periods,
        proportional_spend_total=plan.allocation["proportional_spend"] * periods,
    )
    table.to_csv(out / "budget.csv", index=False)
    (out / "budget.html").write_text(
        budget_report(curves, plan, title=f"Budget {total:,.0f} on {source}"), encoding="utf-8"
    )
    console.print(
        f"wrote {out / 'budget.csv'} (spend_total per item sums to the budget) and {out / 'budget.html'}",
        soft_wrap=True,
    )
    log_to_project_run(
        [out / "budget.csv", out / "budget.html"],
        {
            "expected_outcome": plan.expected_outcome,
            "proportional_outcome": plan.proportional_outcome,
            "uplift": plan.uplift,
        },
    )
