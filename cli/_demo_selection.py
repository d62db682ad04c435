"""The demo's selection, promotion and key-account step: the featured portfolio from the champion's batch, a
promotion plan over a few of the simulated candidates (each runs the what-if twice), and one joint
business plan: the account with the largest gap to its peers, drafted and stored."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rich.rule import Rule

from salesplan.cli._common import console, progress

if TYPE_CHECKING:
    from salesplan.models.batch import BatchForecast
    from salesplan.models.forecast import Forecaster

DEMO_CANDIDATES = 4


def demo_selection(out: Path) -> None:
    from salesplan.cli.promotions import print_promotion_plan
    from salesplan.cli.selection import print_selection
    from salesplan.io import find_table, read_table
    from salesplan.models.batch import load_batch
    from salesplan.models.registry import load_forecaster
    from salesplan.planning.promotions import PromotionRules
    from salesplan.planning.selection import PortfolioRules, SelectionRequest
    from salesplan.serving.promotion_service import run_promotion_plan
    from salesplan.serving.selection_service import load_products, margins_input, run_selection

    console.print(Rule("3b. selection and promotions: featured products per store, the promotion plan"))
    data = out / "data"
    products = load_products(data)
    batch = load_batch()
    margins, source = margins_input(products, future=batch.future)
    sel = run_selection(
        batch.forecast, batch.history, batch.info.get("hierarchy"), SelectionRequest("store", "product"),
        PortfolioRules(slots_per_market=2, max_per_category=1), margins, source,
    )  # fmt: skip
    print_selection(sel, top=8)
    path = find_table(data, "promotion_candidates")
    if path is None or products is None or batch.future is None:
        console.print("no promotion candidates in the simulated data; skipped the promotion plan")
        return
    cands = read_table(path).rename(columns={"region": "market"}).head(DEMO_CANDIDATES)
    budget = float(cands["cost"].sum()) / 2
    estimator, _ = load_forecaster(batch.ref.version)
    with progress(f"what-if of {len(cands)} candidate promotions, then the plan"):
        plan = run_promotion_plan(
            estimator, batch.future, read_table(data / "sellout.parquet"), cands, products,
            PromotionRules(budget=budget), batch.info.get("hierarchy"), "region",
        )  # fmt: skip
    print_promotion_plan(plan)
    chosen = plan.table[plan.table["chosen"]]
    console.print(
        f"{len(chosen)} promotion(s) chosen for {plan.spend:,.0f} of a {budget:,.0f} budget: "
        f"{plan.incremental_margin:+,.0f} incremental margin expected "
        f"({', '.join(pd.Series(chosen['candidate_id']).astype(str)) or 'none pays back'})",
        soft_wrap=True,
    )
    demo_jbp(data, batch, estimator)


def demo_jbp(data: Path, batch: BatchForecast, model: Forecaster) -> None:
    """One joint business plan, for the account furthest below its peers' top quartile (the largest account
    when no gap can be sized), stored as a draft in the demo's database (``salesplan jbp list`` shows it)."""
    from salesplan.cli.jbp import jbp_service, print_plan
    from salesplan.models.registry import FORECAST_MODEL
    from salesplan.planning.jbp import LeverSettings, account_metrics, peer_benchmark
    from salesplan.serving.jbp_service import load_account_data

    console.print(
        Rule("3c. joint business plan of a key account (the largest gap to its peers, else the largest)")
    )
    stamps: dict[str, dict[str, str | None]] = {
        FORECAST_MODEL: {"version": batch.ref.version, "run_id": batch.ref.run_id}
    }
    accounts = load_account_data(data, batch.forecast, batch.future, batch.info.get("hierarchy"), model=model,
                                 models=stamps)  # fmt: skip
    metrics, recent = account_metrics(accounts.sales, accounts.outlets, accounts.accounts)
    size = metrics.set_index("account_id")["revenue_per_quarter"].fillna(0.0)
    rank = {
        a: (float(np.nan_to_num(peer_benchmark(metrics, a, recent).opportunity)), float(size[a]))
        for a in metrics["account_id"]
    }
    account = max(rank, key=lambda a: rank[a])
    with progress(f"what-ifs and the plan of account {account}"), jbp_service(lambda: accounts) as service:
        rec, plan = service.create(account, LeverSettings(new_outlets=1), author="demo")
    print_plan(plan, rec)
