"""The demo's plan-vs-actual step: approve the sell-out targets, load a half-finished quarter (the
simulator's weeks sold through mid-quarter, its spend and the spend plan) and print the tracking table and
the open alerts — what ``salesplan actuals load`` and ``salesplan track`` do."""

from __future__ import annotations

import pandas as pd
from rich.rule import Rule

from salesplan.cli._common import console
from salesplan.simulator import SimulatedWorld


def demo_tracking(world: SimulatedWorld, quarter: str) -> None:
    from salesplan.cli._plan_io import proposal_service
    from salesplan.cli.track import print_alerts, print_spend, print_units, tracking_service
    from salesplan.simulator.in_progress import quarter_in_progress

    q = pd.Period(quarter, "Q")
    weeks = pd.date_range(q.start_time - pd.Timedelta(days=q.start_time.dayofweek), q.end_time, freq="7D")
    as_of = weeks[len(weeks) // 2] + pd.Timedelta(days=6)  # the quarter half sold
    console.print(
        Rule(f"8b. track {quarter} half-way (actuals through {as_of:%Y-%m-%d}): plan vs actual vs landing")
    )
    with proposal_service() as proposals:
        drafts = proposals.list(quarter=quarter, status="draft", limit=50).items
        sellout = [p for p in drafts if p.scope.startswith("sellout:")]
        if not sellout:
            console.print("no sell-out draft to approve: tracking skipped")
            return
        p = sellout[0]
        proposals.approve(p.id, actor="demo-approver", expected_version=p.version,
                          reason="demo: approved to show the quarter's tracking")  # fmt: skip
    console.print(f"approved the sell-out proposal {p.id[:8]} (by demo-approver: four eyes)")
    progress = quarter_in_progress(world, quarter, as_of)
    with tracking_service(spend_history=world.spend) as service:
        for kind, frame in (
            ("budget", progress.budgets),
            ("spend", progress.spend),
            ("sellout", progress.sellout),
        ):
            res = service.load(kind, frame, "demo")
            console.print(
                f"loaded {kind}: {res.inserted} new, {res.corrected} corrected, {res.unchanged} unchanged"
            )
        rep, alerts = service.evaluate(quarter, as_of)
    print_units(rep)
    if rep.spend is not None:
        print_spend(rep.spend)
    print_alerts(alerts)
    console.print(
        f"try: salesplan track --quarter {quarter} --xlsx tracking.xlsx; salesplan alerts ack ID; the Tracking tab",
        soft_wrap=True,
    )
