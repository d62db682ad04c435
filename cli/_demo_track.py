"""The demo's plan-vs-actual step: approve the sell-out targets, load a half-finished quarter (the
simulator's weeks sold through mid-quarter, its spend and the spend plan) and print the tracking table and
the open alerts — what ``salesplan actuals load`` and ``salesplan track`` do; then the same for the
bookings targets: the deals won so far (the simulator's CRM runs on into the quarter), the CRM as it stood
that day for the open pipeline, the landing per region → team → rep and its alerts (pipeline coverage)."""

from __future__ import annotations

import pandas as pd
from rich.rule import Rule

from salesplan.cli._common import console
from salesplan.simulator import SimulatedWorld

__all__ = ["demo_tracking"]


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
    approved: dict[str, str] = {}
    with proposal_service() as proposals:
        drafts = proposals.list(quarter=quarter, status="draft", limit=50).items
        for domain in ("sellout", "bookings"):
            found = [p for p in drafts if p.scope.startswith(f"{domain}:")]
            if found:
                p = found[0]
                proposals.approve(p.id, actor="demo-approver", expected_version=p.version,
                                  reason="demo: approved to show the quarter's tracking")  # fmt: skip
                approved[domain] = p.id
                what = "sell-out" if domain == "sellout" else domain
                console.print(f"approved the {what} proposal {p.id[:8]} (by demo-approver: four eyes)")
    if "sellout" not in approved:
        console.print("no sell-out draft to approve: tracking skipped")
        return
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
    if "bookings" in approved:
        _bookings(world, quarter, as_of)
    console.print(
        f"try: salesplan track --quarter {quarter} --xlsx tracking.xlsx; salesplan alerts ack ID; the Tracking tab",
        soft_wrap=True,
    )


def _bookings(world: SimulatedWorld, quarter: str, as_of: pd.Timestamp) -> None:
    """The bookings side of the same day: wins loaded as actuals, open deals scored by the deal champion."""
    from salesplan.cli.track import print_alerts, print_deals, print_units, tracking_service
    from salesplan.simulator.in_progress import world_bookings

    console.print(
        Rule(f"8c. track the bookings of {quarter} on the same day: won + open pipeline + new deals")
    )
    seen = world_bookings(world, quarter, as_of)
    n_open = int((seen.crm.opportunities["outcome"] == "open").sum())
    console.print(
        f"the CRM as of {as_of:%Y-%m-%d}: {len(seen.won)} deals won in {quarter} so far "
        f"({seen.won['amount'].sum():,.0f} booked), {n_open} deals open",
        soft_wrap=True,
    )
    with tracking_service(crm=seen.crm) as service:
        res = service.load("bookings", seen.won, "demo")
        console.print(
            f"loaded bookings: {res.inserted} new, {res.corrected} corrected, {res.unchanged} unchanged"
        )
        rep, alerts = service.evaluate(quarter, as_of, "bookings")
    for note in rep.notes:
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
    print_units(rep)
    if rep.deals is not None:
        print_deals(rep.deals)
    print_alerts(alerts)
    coverage = [a for a in alerts if a.rule == "pipeline_coverage_below" and a.status != "resolved"]
    console.print(
        f"{len(coverage)} unit(s) with open pipeline under the coverage rule's multiple of their remaining gap"
        if coverage
        else "pipeline coverage: every unit's open pipeline covers its remaining gap by the rule's multiple",
        soft_wrap=True,
    )
