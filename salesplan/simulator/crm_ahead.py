"""The CRM after a world's history: the same reps and accounts keep working the weeks of the planned
horizon, so a quarter in progress has bookings (``simulator.in_progress.world_bookings``).

Deals open at the history's end go on along the paths already drawn for them (their fate is in
``truth.deal_fate``), and push their expected close dates on at the same rates; new deals are created at
the history's rates (same rep volumes, ramps, quarter-end push and scale) with the same drivers and win
mechanism. Everything after the history comes from a random stream of its own
(``SeedSequence([seed, AHEAD_STREAM])``), so the history of every world is the same as without it:
``crm_as_of(ahead, end of history)`` shows the world's CRM again. The CRM ahead carries the contract's
columns only (no planted post-outcome columns, no field history)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.contracts import CRMData
from salesplan.simulator.config import SimConfig
from salesplan.simulator.crm import (
    FUNNEL,
    LEAD_SOURCES,
    PRODUCTS,
    STAGE_DAYS,
    CRMResult,
    censor,
    close_dates,
    creation_rate,
    draw_creations,
    draw_deals,
    slips,
)
from salesplan.simulator.crm_columns import HONEST_COLUMNS, PLANTED_COLUMNS

__all__ = ["AHEAD_STREAM", "crm_ahead"]

AHEAD_STREAM = 26
"""Second key of the random stream of everything after the history (the planted columns use 25)."""


def crm_ahead(cfg: SimConfig, cr: CRMResult, until: pd.Timestamp) -> CRMData:
    """The CRM as it stands at the end of day ``until`` (on or after the history's last day ``cfg.asof``):
    deals created through then, won or lost when their path ended by then, the rest open."""
    if cr.draws is None:
        raise ValueError("this CRM result carries no draws to continue (simulate_crm makes them)")
    dr, crm = cr.draws, cr.crm
    until = pd.Timestamp(until).normalize()
    if until < cfg.asof:
        raise ValueError(f"until {until.date()} is before the history's last day {cfg.asof.date()}")
    rng = np.random.default_rng([cfg.seed, AHEAD_STREAM])
    reps = crm.reps
    hire = reps["hire_date"].to_numpy()

    # --- new deals: the history's creation intensity on the weeks after it
    weeks = pd.date_range(cfg.end_ts + pd.Timedelta(days=7), until, freq="7D")
    lam = creation_rate(reps, weeks, until, dr.volume)[0] * dr.factor
    rep_ix, created = draw_creations(rng, lam, weeks, until)
    m = rep_ix.size
    deal_region = pd.Index(dr.regions).get_indexer(pd.Index(reps["region"].to_numpy()[rep_ix]))
    new = draw_deals(rng, rep_ix, created, deal_region, hire, dr.skill, dr.acc_region, dr.acc_size)
    day0 = created.astype("datetime64[D]")
    n = dr.day0.size
    ids = np.array([f"O{i:06d}" for i in range(n + 1, n + m + 1)], dtype=object)
    end_day = np.datetime64(until, "D")
    events, outcome, close_day, current = censor(new, day0, (end_day - day0).astype(float), ids)
    initial = np.round(sum(STAGE_DAYS[s] for s in FUNNEL[:3]) * np.exp(rng.normal(0, 0.3, m)))
    ends = np.where(new.won, new.entry[:, 3], new.lost_day)
    s_deal, s_day, new_day = slips(
        rng, new.won, np.zeros(m), np.minimum(ends, (end_day - day0).astype(float)), initial
    )
    final_day = initial.copy()
    final_day[s_deal] = new_day
    accounts = crm.accounts["account_id"].to_numpy()
    added = pd.DataFrame(
        {
            "opportunity_id": ids,
            "account_id": accounts[new.acc],
            "rep_id": reps["rep_id"].to_numpy()[rep_ix],
            "product": np.asarray(PRODUCTS)[new.product],
            "amount": new.amount,
            "created_date": day0.astype("datetime64[ns]"),
            "stage": current,
            "expected_close_date": (day0 + final_day.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "close_date": close_dates(day0, close_day),
            "outcome": outcome,
            "lead_source": np.asarray(LEAD_SOURCES)[new.lead],
            "competitor": np.where(new.competitor, "yes", "no"),
            "region": reps["region"].to_numpy()[rep_ix],
            "team": reps["team"].to_numpy()[rep_ix],
        }
    )
    new_moves = _moves(ids, day0, s_deal, s_day, new_day)

    # --- the history's deals, seen later: their drawn paths and further close-date pushes
    old = crm.opportunities.drop(
        columns=[c for c in (*PLANTED_COLUMNS, *HONEST_COLUMNS) if c in crm.opportunities]
    )
    old_ids = old["opportunity_id"].to_numpy(dtype=object)
    span = (end_day - dr.day0).astype(float)
    was = (np.datetime64(cfg.asof, "D") - dr.day0).astype(float)
    old_events, old_outcome, old_close, old_current = censor(dr.deals, dr.day0, span, old_ids)
    ends = np.where(dr.deals.won, dr.deals.entry[:, 3], dr.deals.lost_day)
    lo, hi = np.minimum(ends, was), np.minimum(ends, span)
    o_deal, o_day, o_new = slips(rng, dr.deals.won, lo, hi, dr.final_day)
    old_final = dr.final_day.copy()
    old_final[o_deal] = o_new
    old = old.assign(
        stage=old_current,
        outcome=old_outcome,
        close_date=pd.to_datetime(dr.day0) + pd.to_timedelta(old_close, unit="D"),
        expected_close_date=(dr.day0 + old_final.astype("timedelta64[D]")).astype("datetime64[ns]"),
    )
    moves = pd.concat(
        [crm.close_date_changes, _moves(old_ids, dr.day0, o_deal, o_day, o_new), new_moves], ignore_index=True
    ).sort_values(["opportunity_id", "ts"], kind="stable", ignore_index=True)
    stage_events = pd.concat([old_events, events], ignore_index=True)
    return CRMData(
        reps=reps,
        opportunities=pd.concat([old, added], ignore_index=True),
        accounts=crm.accounts,
        stage_events=stage_events,
        close_date_changes=moves,
        field_history=crm.field_history.iloc[:0],
    )


def _moves(
    ids: np.ndarray, day0: np.ndarray, deal: np.ndarray, day: np.ndarray, new_day: np.ndarray
) -> pd.DataFrame:
    """Close-date pushes as the CRM records them: when, and the new expected close date."""
    return pd.DataFrame(
        {
            "opportunity_id": ids[deal],
            "ts": (day0[deal] + day.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "expected_close_date": (day0[deal] + new_day.astype("timedelta64[D]")).astype("datetime64[ns]"),
        }
    )
