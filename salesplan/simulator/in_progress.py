"""A quarter in progress: what a simulated world actually sold and spent in the weeks after its history, up
to a date, as the actuals a sales-ops team would load mid-quarter (``salesplan actuals load``).

Sell-out comes from the world's ground truth (``truth.future_units``: the weeks after ``end``, drawn by
the same process as the history) with the planned regressors and hierarchy columns of ``future``, so it
passes the sell-out contract. Spend repeats each channel × region's last weeks of the history (the
flighting a team would keep), with one planted overspend: the ``overspend`` channel runs at
``overspend_factor`` × its usual rate in every region, so expense control has a breach to find.

Bookings: :func:`bookings_in_progress` shows any CRM's quarter as it stood on a day (:func:`crm_as_of`):
the deals won so far (the bookings actuals), the deals still open then, and what the quarter booked in
the end. :func:`world_bookings` does it for a simulated world's quarter after its history, on the CRM that
runs on through the planned horizon (``truth.crm_ahead``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from salesplan.contracts import CRMData, validate_sellout, validate_spend

__all__ = [
    "BookingsInProgress",
    "InProgress",
    "bookings_in_progress",
    "crm_as_of",
    "quarter_in_progress",
    "world_bookings",
]


@dataclass(frozen=True)
class InProgress:
    """Actuals of ``quarter`` through ``as_of``: ``sellout`` (sell-out contract) and ``spend`` (spend
    contract); ``budgets``: the plan the spend is held against (``month, channel, region, budget,
    soft_cap, hard_cap, planned_outcome``: last year's rate, soft cap = budget, hard cap = 110 %)."""

    quarter: str
    as_of: pd.Timestamp
    sellout: pd.DataFrame
    spend: pd.DataFrame
    budgets: pd.DataFrame


def quarter_in_progress(
    world: object,
    quarter: str,
    as_of: str | pd.Timestamp,
    *,
    overspend: str = "search",
    overspend_factor: float = 1.35,
    seed: int = 0,
) -> InProgress:
    """The world's actuals of ``quarter`` through ``as_of`` (weeks whose last day is on or before it)."""
    from salesplan.simulator.world import SimulatedWorld

    if not isinstance(world, SimulatedWorld):
        raise TypeError(f"world must be a SimulatedWorld, got {type(world).__name__}")
    q = pd.Period(quarter, "Q")
    first, last, day = q.start_time.normalize(), q.end_time.normalize(), pd.Timestamp(as_of).normalize()
    fu = world.truth.future_units
    fut = world.future.drop(columns=[c for c in ("y", "expected") if c in world.future.columns])
    rows = fu[["unique_id", "ds", "y"]].merge(fut, on=["unique_id", "ds"], how="left")
    ends = rows["ds"] + pd.Timedelta(days=6)
    rows = rows[(ends >= first) & (rows["ds"] <= last) & (ends <= day)]
    if rows.empty:
        have = f"{fu['ds'].min().date()}..{fu['ds'].max().date()}" if len(fu) else "none"
        raise ValueError(
            f"the world has no sold weeks of {quarter} through {day.date()} (its future weeks: {have}); "
            "simulate with an end just before the quarter and a horizon that reaches as_of"
        )
    keep = [c for c in world.sellout.df.columns if c in rows.columns]
    sellout = validate_sellout(
        rows[keep].reset_index(drop=True), world.sellout.spec, source="simulated quarter"
    )
    spend, budgets = _spend(world.spend, q, day, overspend, overspend_factor, seed)
    return InProgress(str(q), day, sellout, spend, budgets)


def _spend(
    hist: pd.DataFrame, q: pd.Period, day: pd.Timestamp, overspend: str, factor: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    first, last = q.start_time.normalize(), q.end_time.normalize()
    h = hist.assign(period=pd.to_datetime(hist["period"]))
    recent = h[h["period"] > h["period"].max() - pd.Timedelta(weeks=13)]
    rate = recent.groupby(["channel", "region"], as_index=False)[["spend", "outcome"]].mean()
    weeks = pd.date_range(first - pd.Timedelta(days=first.dayofweek), last, freq="7D")
    months = [str(p) for p in pd.period_range(first, last, freq="M")]
    budgets = rate.merge(pd.DataFrame({"month": months}), how="cross")
    days = pd.PeriodIndex(budgets["month"], freq="M").days_in_month.to_numpy()
    budgets["budget"] = (budgets["spend"] * days / 7).round(2)
    budgets["planned_outcome"] = (budgets["outcome"] * days / 7).round(2)
    budgets["soft_cap"] = budgets["budget"]
    budgets["hard_cap"] = (budgets["budget"] * 1.1).round(2)
    budgets = budgets[["month", "channel", "region", "budget", "soft_cap", "hard_cap", "planned_outcome"]]
    done = weeks[weeks + pd.Timedelta(days=6) <= day]
    sp = rate.merge(pd.DataFrame({"period": done}), how="cross")
    noise = rng.lognormal(0.0, 0.08, len(sp))
    lift = np.where(sp["channel"] == overspend, factor, 1.0)
    sp["spend"] = (sp["spend"] * noise * lift).round(2)
    sp["outcome"] = (sp["outcome"] * noise * np.sqrt(lift)).round(2)
    spend = validate_spend(sp[["period", "channel", "region", "spend", "outcome"]].reset_index(drop=True))
    return spend, budgets.reset_index(drop=True)


def crm_as_of(crm: CRMData, as_of: str | pd.Timestamp) -> CRMData:
    """The CRM as it stood just before ``as_of``: deals created by then, an outcome and close date only
    when the deal had closed by then (else ``open``), each expected close date as last set before then,
    and only the stage events, close-date moves and field changes recorded by then. Works on any CRM
    (simulated or real): a past quarter replayed with only what was known at each week."""
    t = pd.Timestamp(as_of)
    o = crm.opportunities
    o = o[pd.to_datetime(o["created_date"]) < t].copy()
    closed = pd.to_datetime(o["close_date"])
    later = closed.isna() | (closed >= t)
    o.loc[later, "outcome"] = "open"
    o["close_date"] = closed.where(~later)
    ch = crm.close_date_changes
    moves = ch[pd.to_datetime(ch["ts"]) < t] if ch is not None and len(ch) else ch
    if "expected_close_date" in o.columns and moves is not None and len(moves):
        last = moves.sort_values("ts").groupby("opportunity_id")["expected_close_date"].last()
        # a deal moved only after t: its first move's old value is not on file; keep the current value
        o["expected_close_date"] = pd.to_datetime(o["opportunity_id"].map(last)).fillna(
            pd.to_datetime(o["expected_close_date"])
        )
    if "won_value" in o.columns:
        o.loc[later, "won_value"] = np.nan
    ev = crm.stage_events
    if "stage" in o.columns and len(ev):  # the stage a still-open deal had reached by then
        e = ev[pd.to_datetime(ev["ts"]) < t].sort_values("ts")
        reached = e.groupby("opportunity_id")["stage"].last()
        o.loc[later, "stage"] = o.loc[later, "opportunity_id"].map(reached).fillna(o.loc[later, "stage"])
    ids = set(o["opportunity_id"])

    def before(frame: pd.DataFrame, col: str = "ts") -> pd.DataFrame:
        keep = (pd.to_datetime(frame[col]) < t) & frame["opportunity_id"].isin(ids)
        return frame[keep].reset_index(drop=True)

    return replace(
        crm,
        opportunities=o.reset_index(drop=True),
        stage_events=before(crm.stage_events),
        close_date_changes=before(crm.close_date_changes) if moves is not None else crm.close_date_changes,
        field_history=before(crm.field_history) if len(crm.field_history) else crm.field_history,
    )


@dataclass(frozen=True)
class BookingsInProgress:
    """A quarter of bookings in progress: ``crm`` as it stood at ``as_of`` (open deals still open) and
    ``won``: the deals won in the quarter before ``as_of`` as a CRM export holds them (``opportunity_id,
    close_date, amount, outcome, rep_id, team, region``), what ``salesplan actuals load --kind bookings``
    takes; ``final`` is what the quarter booked in the end per deal (the truth a replay scores against)."""

    quarter: str
    as_of: pd.Timestamp
    crm: CRMData
    won: pd.DataFrame
    final: pd.DataFrame


def bookings_in_progress(crm: CRMData, quarter: str, as_of: str | pd.Timestamp) -> BookingsInProgress:
    """``crm``'s ``quarter`` seen from ``as_of`` (inside the quarter, or its last day + 1 for the end)."""
    q = pd.Period(quarter, "Q")
    first, day = q.start_time.normalize(), pd.Timestamp(as_of).normalize()
    if not first <= day <= (q + 1).start_time:
        raise ValueError(f"as_of {day.date()} is not inside {q} ({first.date()}..{q.end_time.date()})")
    seen = crm_as_of(crm, day)

    def won_in(o: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
        c = pd.to_datetime(o["close_date"])
        w = o[(o["outcome"] == "won") & (c >= first) & (c < end)].copy()
        if "won_value" in w.columns:  # what was booked (Maven's close value), else the deal amount
            w["amount"] = pd.to_numeric(w["won_value"], errors="coerce").fillna(w["amount"])
        cols = [c for c in ("opportunity_id", "close_date", "amount", "outcome", "rep_id", "team", "region")
                if c in w.columns]  # fmt: skip
        return w[cols].reset_index(drop=True)

    return BookingsInProgress(
        str(q), day, seen, won_in(seen.opportunities, day), won_in(crm.opportunities, (q + 1).start_time)
    )


def world_bookings(world: object, quarter: str, as_of: str | pd.Timestamp) -> BookingsInProgress:
    """A simulated world's bookings of ``quarter`` through ``as_of`` (the last day of deals seen): the CRM
    after the history (``truth.crm_ahead``, through the planned horizon) as it stood at the end of that day;
    ``final`` holds the quarter's wins through the horizon (all of them when it reaches the quarter's end)."""
    from salesplan.simulator.world import SimulatedWorld

    if not isinstance(world, SimulatedWorld):
        raise TypeError(f"world must be a SimulatedWorld, got {type(world).__name__}")
    ahead, day = world.truth.crm_ahead, pd.Timestamp(as_of).normalize()
    until = world.config.asof + pd.Timedelta(weeks=world.config.horizon)
    if ahead is None or day > until:
        raise ValueError(
            f"the world's CRM runs through {until.date()}, before {day.date()}; simulate with a horizon "
            "that reaches as_of"
        )
    return bookings_in_progress(ahead, quarter, day + pd.Timedelta(days=1))
