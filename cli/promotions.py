"""``salesplan plan promotions``: choose the promotions to run under a budget and slot limits, each
candidate's effect from the champion's what-if (the same ``serving.promotion_service`` as ``POST
/api/v1/promotions/plan``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from salesplan.cli._common import clean_errors, console, progress
from salesplan.cli.plan import plan_app
from salesplan.errors import ConfigError
from salesplan.planning.promotions import PromotionPlan

__all__ = ["print_promotion_plan", "promotions_cmd"]


def print_promotion_plan(plan: PromotionPlan, top: int = 20) -> None:
    """Every candidate (chosen first) with its margin terms and the reason it is in or out."""
    t = Table(
        title=f"promotion plan: {int(plan.table['chosen'].sum())} of {len(plan.table)} candidates, spend "
        f"{plan.spend:,.0f} of {plan.rules.budget:,.0f}, incremental margin {plan.incremental_margin:+,.0f}",
        caption=f"post-promotion dip from the sell-out: {plan.dip[0]:.0%} and {plan.dip[1]:.0%} of baseline in "
        "the 1st and 2nd week after (0 where the data do not show one)",
    )
    for c in (
        "",
        "candidate",
        "market",
        "product",
        "start",
        "wk",
        "depth",
        "units Δ",
        "siblings Δ",
        "margin Δ",
        "why",
    ):
        t.add_column(
            c, justify="right" if c in ("wk", "depth", "units Δ", "siblings Δ", "margin Δ") else "left"
        )
    rows = plan.table.sort_values(["chosen", "incremental_margin"], ascending=False).head(top)
    for _, r in rows.iterrows():
        t.add_row(
            "✓" if r["chosen"] else "", str(r["candidate_id"]), str(r["market"]), str(r["product"]),
            r["start"].date().isoformat(), str(int(r["weeks"])), f"{r['depth']:.0%}",
            f"{r['incremental_units']:+,.1f}", f"{r['siblings_diff']:+,.1f}", f"{r['incremental_margin']:+,.0f}",
            str(r["reason"]),
        )  # fmt: skip
    console.print(t)


@plan_app.command("promotions")
@clean_errors
def promotions_cmd(
    budget: Annotated[float, typer.Option(help="Most spend over the chosen promotions.")],
    data: Annotated[
        Path,
        typer.Option(help="Planning data folder: promotion_candidates, products and sellout tables."),
    ],
    candidates: Annotated[
        Path | None, typer.Option(help="Candidates table (default: DATA/promotion_candidates.csv).")
    ] = None,
    max_per_market_week: Annotated[int | None, typer.Option(help="Promotions at once in a market.")] = None,
    max_per_category_week: Annotated[
        int | None, typer.Option(help="Of one category at once in a market (effects are estimated alone).")
    ] = 1,
    gap_weeks: Annotated[int, typer.Option(help="Weeks between promotions of one product and market.")] = 2,
    market_col: Annotated[str, typer.Option(help="Column the candidates' market is a value of.")] = "region",
    model: Annotated[str, typer.Option(help="Registry alias or version of salesplan-forecast.")] = "champion",
    out: Annotated[Path | None, typer.Option(help="Write the plan (.csv or .xlsx).")] = None,
) -> None:
    """Incremental margin of each candidate promotion (what-if uplift, siblings' cannibalisation, the
    post-promotion dip the history shows, the discount and the spend) and the exact best plan (HiGHS MILP)."""
    from salesplan.io import find_table, read_table
    from salesplan.models.batch import load_batch
    from salesplan.models.registry import FORECAST_MODEL, load_forecaster
    from salesplan.planning.promotions import PromotionRules
    from salesplan.serving.promotion_service import run_promotion_plan
    from salesplan.serving.selection_service import load_products

    rules = PromotionRules(
        budget=budget, max_per_market_week=max_per_market_week, max_per_category_week=max_per_category_week,
        gap_weeks=gap_weeks,
    )  # fmt: skip
    path = candidates or find_table(data, "promotion_candidates")
    if path is None:
        raise ConfigError(f"no promotion_candidates.csv in {data}; pass --candidates FILE")
    cands = read_table(path)
    if "market" not in cands.columns and market_col in cands.columns:
        cands = cands.rename(columns={market_col: "market"})
    products = load_products(data)
    if products is None:
        raise ConfigError(f"no products.csv (product, price, unit_cost) in {data}")
    sellout_path = find_table(data, "sellout")
    history = read_table(sellout_path) if sellout_path is not None else None
    with progress(f"loading {FORECAST_MODEL}@{model} and its planned future"):
        batch = load_batch(alias=model)
        estimator, _ = load_forecaster(batch.ref.version)
    if batch.future is None:
        raise ConfigError(f"{FORECAST_MODEL} v{batch.ref.version} has no stored future regressors")
    with progress(f"what-if of {len(cands)} candidate(s), then the plan"):
        plan = run_promotion_plan(
            estimator, batch.future, history, cands, products, rules, batch.info.get("hierarchy"), market_col
        )
    print_promotion_plan(plan)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".xlsx":
            plan.table.to_excel(out, index=False, engine="openpyxl")
        else:
            plan.table.to_csv(out, index=False)
        console.print(f"wrote {out}")
