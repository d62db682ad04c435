"""As-of view of a CRM for bookings forecasts: which deals were open at a moment, at which stage and age,
which reps were units of a quarter and how productive (ramp, presence). Everything is read from arrays
prepared once, and the states of repeated snapshot moments are memoised per view (a forecast replays the
same moments for its calibration quarters)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts.crm import EVENT_RANK, CRMData
from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError, Problem

__all__ = ["AGE_SPLIT_DAYS", "MONTH_DAYS", "Book", "deals_frame", "parse_quarter", "quarter_units", "window"]

AGE_SPLIT_DAYS = 60.0
"""Open deals older than this at the snapshot convert differently (stalled deals): a second rate cell."""
MONTH_DAYS = 30.44


def parse_quarter(q: Any) -> pd.Period:
    try:
        return pd.Period(str(q), freq="Q")
    except (ValueError, TypeError):
        raise ConfigError(f"quarter {q!r} not understood; use e.g. '2026Q1'") from None


def deals_frame(crm: CRMData) -> pd.DataFrame:
    """One row per opportunity: rep, team, region, amount, won value, created, closed (NaT if open), won."""
    o, r = crm.opportunities, crm.reps
    missing = [c for c in ("rep_id", "outcome", "amount", "close_date") if c not in o.columns]
    if missing:
        raise DataValidationError(
            [
                Problem(c, "column missing", fix="bookings need rep_id, outcome, amount, close_date")
                for c in missing
            ],
            "opportunities",
        )
    rep = r.set_index("rep_id") if "rep_id" in r.columns else pd.DataFrame()
    d = pd.DataFrame({"rep_id": o["rep_id"].astype(str).to_numpy()}, index=o.index)
    for col in ("team", "region"):
        from_rep = d["rep_id"].map(rep[col]) if col in rep.columns else pd.Series(np.nan, index=d.index)
        own = o[col] if col in o.columns else pd.Series(np.nan, index=o.index)
        d[col] = from_rep.fillna(own).fillna(f"(no {col})").astype(str)
    amount = pd.to_numeric(o["amount"], errors="coerce").fillna(0.0)
    won = (o["outcome"] == "won").to_numpy()
    value = pd.to_numeric(o["won_value"], errors="coerce") if "won_value" in o.columns else amount
    d["amount"] = amount.to_numpy()
    d["value"] = np.where(won, value.fillna(amount).to_numpy(), 0.0)
    created = o["created_date"] if "created_date" in o.columns else pd.Series(pd.NaT, index=o.index)
    d["created"] = pd.to_datetime(created).to_numpy()
    d["closed"] = pd.to_datetime(o["close_date"]).where(o["outcome"] != "open").to_numpy()
    d["won"] = won
    d["opportunity_id"] = o["opportunity_id"].astype(str).to_numpy() if "opportunity_id" in o else d.index
    return d.reset_index(drop=True)


class Book:
    """Prepared deals, events and reps; every as-of view is built from these arrays."""

    def __init__(self, crm: CRMData, scores: pd.DataFrame | None) -> None:
        self.d = deals_frame(crm)
        self.created = self.d["created"].to_numpy("datetime64[ns]")
        self.closed = self.d["closed"].to_numpy("datetime64[ns]")
        self.value = self.d["value"].to_numpy(float)
        self.amount = self.d["amount"].to_numpy(float)
        ev = crm.stage_events
        pos = pd.Series(np.arange(len(self.d)), index=self.d["opportunity_id"])
        ix = pos.reindex(ev["opportunity_id"].astype(str)).to_numpy()
        rank = ev["stage"].map(EVENT_RANK).to_numpy(dtype=float)
        ok = ~np.isnan(ix) & ~np.isnan(rank)
        self.ev_ix, self.ev_rank = ix[ok].astype(np.int64), rank[ok].astype(np.int64)
        self.ev_ts = pd.to_datetime(ev["ts"]).to_numpy("datetime64[ns]")[ok]
        made, shut = self.created[~np.isnat(self.created)], self.closed[~np.isnat(self.closed)]
        if not len(shut):
            raise InsufficientDataError(
                "bookings: no closed opportunity with a close_date; won/lost history is needed to forecast"
            )
        # history starts when deals both open and close: before the first close there are no conversions
        # to learn from (Maven's pipeline opens in Oct 2016 but records closes only from March 2017)
        self.start = max(
            pd.Timestamp(made.min()) if len(made) else pd.Timestamp(shut.min()), pd.Timestamp(shut.min())
        )
        self.end = pd.Timestamp(max(made.max() if len(made) else shut.max(), shut.max()))
        self.reps = crm.reps.assign(rep_id=crm.reps["rep_id"].astype(str)).set_index("rep_id")
        self.rep_pos = pd.Series(np.arange(len(self.reps)), index=self.reps.index)
        nat = pd.Series(pd.NaT, index=self.reps.index)
        self.hire = pd.to_datetime(self.reps.get("hire_date", nat)).to_numpy("datetime64[ns]")
        self.leave = pd.to_datetime(self.reps.get("end_date", nat)).to_numpy("datetime64[ns]")
        self._states: dict[np.datetime64, tuple[np.ndarray, np.ndarray]] = {}
        self.p_win: pd.Series | None = None
        if scores is not None:
            if not {"opportunity_id", "p_win"} <= set(scores.columns):
                raise DataValidationError(
                    [
                        Problem(
                            "p_win",
                            "scores need opportunity_id and p_win",
                            fix="pass DealScorer.score_frame output",
                        )
                    ],
                    "scores",
                )
            self.p_win = scores.set_index(scores["opportunity_id"].astype(str))["p_win"].astype(float)

    def state(self, t: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
        """Deals open at ``t`` (created before, not closed before; undated deals only at the data end)
        and their rate cell: 2 × stage rank reached before t + (age > AGE_SPLIT_DAYS)."""
        if t in self._states:
            return self._states[t]
        known = self.created < t
        if t > np.datetime64(self.end):
            known |= np.isnat(self.created)
        open_ = known & (np.isnat(self.closed) | (self.closed >= t))
        e = self.ev_ts < t
        rank = np.zeros(len(self.d), dtype=np.int64)
        np.maximum.at(rank, self.ev_ix[e], self.ev_rank[e])
        age = (t - self.created).astype("timedelta64[ns]") / np.timedelta64(1, "D")  # datetime − datetime
        out = open_, 2 * np.minimum(rank, 2) + (np.nan_to_num(age, nan=0.0) > AGE_SPLIT_DAYS)
        self._states[t] = out
        return out

    def exposure(
        self, rep_ids: Sequence[str] | pd.Series, q: pd.Period, ramp: Sequence[float], known: Any
    ) -> np.ndarray:
        """Productive share of each rep in quarter ``q``: mean over its months of ramp × presence; an
        end date counts only when known at ``known`` (a leaving after it is not foreseen)."""
        pos = self.rep_pos.reindex(list(rep_ids)).to_numpy()
        ok = ~np.isnan(pos)
        ix = np.where(ok, pos, 0).astype(np.int64)
        hire = np.where(ok, self.hire[ix], np.datetime64("NaT"))
        end = np.where(ok, self.leave[ix], np.datetime64("NaT")).astype("datetime64[ns]")
        end = np.where(end <= np.datetime64(pd.Timestamp(known), "ns"), end, np.datetime64("NaT"))
        steps = np.asarray(ramp, dtype=float)
        out = np.zeros(len(pos))
        day = np.timedelta64(1, "D")
        for m in range(3):
            m0 = np.datetime64((q.start_time + pd.DateOffset(months=m)).normalize(), "ns")
            m1 = np.datetime64((q.start_time + pd.DateOffset(months=m + 1)).normalize(), "ns")
            days = (m1 - m0) / day
            ten = (m0 - hire).astype("timedelta64[ns]") / day / MONTH_DAYS
            k = np.clip(np.floor(np.nan_to_num(ten)) // 3, 0, len(steps) - 1).astype(int)
            fac = np.where(np.isnan(ten), 1.0, steps[k])
            lo = np.maximum(0.0, np.nan_to_num((hire - m0) / day, nan=0.0))
            hi = np.minimum(days, np.nan_to_num((end - m0) / day, nan=days))
            out += fac * np.clip(hi - lo, 0, days) / days / 3
        return out


def quarter_units(book: Book, q: pd.Period, as_of: pd.Timestamp) -> pd.DataFrame:
    """Reps that are units of quarter ``q``: hired before it ends, not gone by its start / ``as_of``."""
    r = book.reps
    hire = pd.to_datetime(r["hire_date"]) if "hire_date" in r else pd.Series(pd.NaT, index=r.index)
    end = pd.to_datetime(r["end_date"]) if "end_date" in r else pd.Series(pd.NaT, index=r.index)
    gone = end.notna() & (end <= max(as_of, q.start_time))
    # a rep with neither a hire date nor any deal before as_of is not a seller we can see (e.g. Maven's
    # five agents without opportunities): no unit rather than a target built on nothing
    seen = book.d.loc[book.created < np.datetime64(as_of, "ns"), "rep_id"].unique()
    keep = ~gone & (hire.notna() & (hire <= q.end_time) | r.index.isin(seen))
    ids = r.index[keep.to_numpy()]
    first = book.d.groupby("rep_id")["team"].first()
    teams = r["team"].reindex(ids) if "team" in r else first.reindex(ids)
    regions = (
        r["region"].reindex(ids) if "region" in r else book.d.groupby("rep_id")["region"].first().reindex(ids)
    )
    return pd.DataFrame(
        {
            "rep_id": ids,
            "team": teams.fillna("(no team)").astype(str).to_numpy(),
            "region": regions.fillna("(no region)").astype(str).to_numpy(),
        }
    )


def window(q: pd.Period, t: pd.Timestamp) -> tuple[np.datetime64, np.datetime64, np.datetime64]:
    """Start of quarter ``q``, ``t`` clipped into it, and its end: the part already seen at ``t``."""
    s, e = q.start_time, (q + 1).start_time
    return np.datetime64(s, "ns"), np.datetime64(max(s, min(t, e)), "ns"), np.datetime64(e, "ns")
