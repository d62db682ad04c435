"""What tracking a bookings proposal reads besides the loaded wins: the CRM with its scored open deals,
as the rows the landing simulates and the alerts name (one row per deal and unit it counts in)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.contracts import CRMData
from salesplan.planning.pipeline_shock import QuarterShock
from salesplan.planning.tracking import Tracking, place_undated, unit_membership

__all__ = ["CRMState", "deals_per_unit", "open_deals"]


@dataclass(frozen=True)
class CRMState:
    """What a bookings tracking reads besides the loaded wins: the CRM (its open deals, the history the
    run-rate is measured on), the open deals' ``scores`` (``opportunity_id, p_win``; None: no deal model,
    open deals count at the CRM's historical win rate) and the pipeline's quarter ``shock`` (None: deals
    independent; ``salesplan plan backtest`` fits it)."""

    crm: CRMData
    scores: pd.DataFrame | None
    shock: QuarterShock | None = None


def open_deals(state: CRMState, notes: list[str], quarter: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """The CRM's open deals with their scores (unscored ones at the CRM's historical win rate; undated
    ones timed by :func:`planning.tracking.place_undated`) and a readable name (id, account, product) for the alerts' suggested reviews."""
    o = state.crm.opportunities
    o = o[o["outcome"] == "open"].copy()
    closed = state.crm.opportunities["outcome"].isin(["won", "lost"])
    rate = float((state.crm.opportunities.loc[closed, "outcome"] == "won").mean()) if closed.any() else 0.0
    if state.scores is not None and "p_win" in state.scores:
        o = o.merge(state.scores[["opportunity_id", "p_win"]], on="opportunity_id", how="left")
    else:
        o["p_win"] = np.nan
        notes.append(f"no deal scores: open deals count at the historical win rate {rate:.0%}")
    o["p_win"] = o["p_win"].fillna(rate)
    o = place_undated(o, state.crm, quarter, as_of)  # a CRM without expected close dates (Maven)
    parts = [o["opportunity_id"].astype(str)]
    extra = [o[c].astype(str) for c in ("account_id", "product") if c in o.columns]
    o["deal"] = parts[0] + (" (" + pd.concat(extra, axis=1).agg(", ".join, axis=1) + ")" if extra else "")
    return o.reset_index(drop=True)


def deals_per_unit(plan: pd.DataFrame, tr: Tracking, deals: pd.DataFrame) -> pd.DataFrame:
    """One row per open deal that can still book this quarter and unit it counts in."""
    end = tr.calendar.last_day
    d = deals[pd.to_datetime(deals["expected_close_date"]) <= end].reset_index(drop=True)
    m = unit_membership(plan, d).tocoo()
    units = plan["unit_id"].astype(str).to_numpy()
    out = d.iloc[m.row][["opportunity_id", "deal", "amount", "p_win", "expected_close_date"]].copy()
    out.insert(0, "unit_id", units[m.col])
    out["amount"] = pd.to_numeric(out["amount"], errors="coerce").fillna(0.0)
    out["expected_value"] = out["p_win"].astype(float) * out["amount"]
    return out.sort_values(["unit_id", "expected_value"], ascending=[True, False], ignore_index=True)
