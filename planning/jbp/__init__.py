"""Key-account joint business plans: the account's baseline, the gap to its peers' top quartile, levers
with modelled effects, costs and who pays, a joint target with its P(hit), both sides' investments, the
supplier's P&L on the account and the quarterly review against actuals. Pure functions over frames; the
workflow (storage, versions, what-ifs, exports) is ``serving.jbp_service``."""

from salesplan.planning.jbp.benchmark import METRICS, MIN_PEERS, Benchmark, account_metrics, peer_benchmark
from salesplan.planning.jbp.inputs import (
    JbpInputs,
    LeverSettings,
    WhatIfEffect,
    account_row,
    quarterly_sales,
    top_products,
)
from salesplan.planning.jbp.levers import LEVER_COLUMNS, LEVERS, lever_table
from salesplan.planning.jbp.plan import FULL_COVERAGE, JointBusinessPlan, build_plan, plan_distribution
from salesplan.planning.jbp.review import REVIEW_COLUMNS, review_plan

__all__ = [
    "FULL_COVERAGE",
    "LEVERS",
    "LEVER_COLUMNS",
    "METRICS",
    "MIN_PEERS",
    "REVIEW_COLUMNS",
    "Benchmark",
    "JbpInputs",
    "JointBusinessPlan",
    "LeverSettings",
    "WhatIfEffect",
    "account_metrics",
    "account_row",
    "build_plan",
    "lever_table",
    "peer_benchmark",
    "plan_distribution",
    "quarterly_sales",
    "review_plan",
    "top_products",
]
