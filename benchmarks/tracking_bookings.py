"""Bookings landing backtest (issue #21), used by ``benchmarks/tracking.py`` (entries ``maven`` and
``simulated_bookings``): replay past quarters week by week with only what the CRM knew that day.

For each quarter and week k in (0, 4, 8, 12), as of day t = quarter start + k weeks:

- the CRM as it stood just before t (``simulator.in_progress.bookings_in_progress``: deals created by
  then, outcomes only of deals closed by then, expected close dates as last set before then), the deals
  won so far in the quarter (the bookings actuals a team would have loaded);
- deal scores refitted on the deals closed before t (``models.deals.scores_as_of``, the shipped
  ``DealScorer`` parameters; historical win rate where too few had closed);
- the pipeline's quarter shock fitted on the earlier quarters' pipelines with their own as-of scores
  (``serving.track_record.BookingsReplay``; independent deals with fewer than four quarters, as Maven);
- the run-rate of deals not yet created from the complete quarters before t.

``track_bookings`` (what ``salesplan track`` and ``GET /api/v1/tracking`` run for a bookings proposal)
then gives every unit's landing P10/P50/P90, scored against what the unit booked in the whole quarter
(``planning.bookings.bookings_actuals``: the units of the planning tree as of the quarter's start). Peers, on the same
units and days: ``independent`` (the same landing with deals independent, no quarter shock) and
``forecast_asof`` (``planning.bookings.bookings_distributions`` as of t: won so far + open pipeline at
stage rates + run-rate with the split-conformal spread, the planning method replayed mid-quarter). No
constant is chosen here: the landing's are the shipped defaults (``N_DRAWS``, ``RUN_RATE_QUARTERS``,
the bookings ``SHRINK``, ``AGE_BANDS``). Maven records no expected close dates: its open deals are
timed by ``planning.tracking.place_undated`` (P(win) × how often deals of the same age closed within
their quarter recently), as the service times them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts import CRMData
from salesplan.errors import InsufficientDataError
from salesplan.models.deals import scores_as_of
from salesplan.planning.bookings import bookings_actuals, bookings_distributions
from salesplan.planning.bookings.book import Book, quarter_units
from salesplan.planning.pipeline_shock import MIN_QUARTERS, fit_quarter_shock
from salesplan.planning.tracking import BookingsState, new_deal_run_rate, place_undated, track_bookings
from salesplan.serving.track_record import BookingsReplay
from salesplan.simulator.in_progress import bookings_in_progress

__all__ = ["replay_bookings"]

COLS = [
    "quarter",
    "week",
    "method",
    "level",
    "unit_id",
    "actual",
    "landing_p10",
    "landing_p50",
    "landing_p90",
]


def _open_with_scores(crm: CRMData, seen: CRMData, q: str, t: pd.Timestamp) -> pd.DataFrame:
    """The deals open at ``t`` (``seen``: the CRM as it stood) with scores refitted on what had closed by
    then; unscored ones at the historical win rate then; undated ones timed as the service times them."""
    o = seen.opportunities
    closed = o[o["outcome"] != "open"]
    rate = float((closed["outcome"] == "won").mean()) if len(closed) else 0.0
    o = o[o["outcome"] == "open"]
    sc = scores_as_of(crm, t)
    if sc is None:
        d = o.assign(p_win=rate)
    else:
        d = o.merge(sc[["opportunity_id", "p_win"]], on="opportunity_id", how="left")
        d = d.assign(p_win=d["p_win"].fillna(rate))
    return place_undated(d, seen, q, t)


def _tree(crm: CRMData, p: pd.Period) -> pd.DataFrame:
    """total → region → team → rep of the reps that are units of quarter ``p`` at its start (the units
    ``bookings_distributions`` plans and ``bookings_actuals`` counts), target 0."""
    u = quarter_units(Book(crm, None), p, p.start_time)
    rows: list[tuple[str, str, str | None]] = [("total", "total", None)]
    rows += [("region", str(r), "total") for r in sorted(u["region"].unique())]
    rows += [("team", str(t), str(g["region"].iloc[0])) for t, g in u.groupby("team")]
    rows += [("rep", str(r), str(t)) for r, t in zip(u["rep_id"], u["team"], strict=True)]
    return pd.DataFrame(rows, columns=["level", "unit_id", "parent_id"]).assign(target=0.0, p_hit=0.5)


def _peer(crm: CRMData, q: str, t: pd.Timestamp, actual: pd.Series) -> pd.DataFrame | None:
    try:
        dists, _ = bookings_distributions(crm, q, as_of=t)
    except InsufficientDataError:
        return None
    out = []
    for level, d in dists.items():
        lv = np.asarray(d.levels)
        qs = {name: np.array([np.interp(x, lv, row) for row in d.values]) for name, x in
              (("landing_p10", 0.1), ("landing_p50", 0.5), ("landing_p90", 0.9))}  # fmt: skip
        out.append(pd.DataFrame({"level": level, "unit_id": list(d.unit_ids),
                                 "actual": [float(actual.get(u, 0.0)) for u in d.unit_ids], **qs}))  # fmt: skip
    return pd.concat(out, ignore_index=True)


def replay_bookings(
    crm: CRMData, quarters: list[str], weeks: tuple[int, ...], history: int = 8
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows ``COLS`` per quarter × week × method × unit, and what was skipped (with why)."""
    first = pd.Period(quarters[0], "Q")
    past = [str(first - k) for k in range(history, 0, -1)]
    replay = BookingsReplay(crm, [*past, *quarters])
    frames = dict(zip(replay.quarters, replay.pipelines(), strict=True))
    out: list[pd.DataFrame] = []
    skipped: dict[str, str] = {}
    for q in quarters:
        p = pd.Period(q, "Q")
        earlier = [f for k, f in frames.items() if pd.Period(k, "Q") < p and len(f)]
        shock = None
        if len(earlier) >= MIN_QUARTERS:
            shock = fit_quarter_shock(pd.concat(earlier, ignore_index=True)[["period", "p_win", "won"]])
        # the units of the quarter as the planning tree has them (region → team → rep of the reps active at
        # its start); the landing's coverage and error never read the target
        plan = _tree(crm, p)
        actual = bookings_actuals(crm, q, as_of=p.start_time)
        for k in weeks:
            t = p.start_time + pd.Timedelta(weeks=k)
            seen = bookings_in_progress(crm, q, t)
            deals = _open_with_scores(crm, seen.crm, q, t)  # expected close dates as they stood at t
            rates = new_deal_run_rate(crm, q, t)
            for method, sh in (("landing", shock), ("independent", None)):
                tr = track_bookings(
                    plan, BookingsState(seen.won, deals, rates, sh), q, t - pd.Timedelta(days=1)
                )
                u = tr.units
                out.append(u.assign(quarter=q, week=k, method=method,
                                    actual=u["unit_id"].map(actual).fillna(0.0).to_numpy())[COLS])  # fmt: skip
            peer = _peer(crm, q, t, actual)
            if peer is None:
                skipped[f"{q} week {k} forecast_asof"] = "too little history before the day"
            else:
                out.append(peer.assign(quarter=q, week=k, method="forecast_asof")[COLS])
        print(f"  bookings {q} done (shock: {'none' if shock is None else f'sd {shock.sd:.2f}'})", flush=True)
    rows = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=COLS)
    return rows, skipped


def by_method(rows: pd.DataFrame, summarise: Any) -> dict[str, Any]:
    """The shipped method's summary at the top, the peers' under ``peers`` (with the shipped method's on
    the same quarter-weeks and units where a peer had to skip some)."""
    ours = rows[rows["method"] == "landing"]
    res: dict[str, Any] = summarise(ours)
    res["peers"] = {}
    for m, g in rows[rows["method"] != "landing"].groupby("method"):
        res["peers"][m] = summarise(g)
        keys = ["quarter", "week", "unit_id"]
        same = ours.merge(g[keys].drop_duplicates(), on=keys)
        if len(same) < len(ours):  # the peer skipped some days: the shipped method on the peer's days too
            res["peers"][f"landing on {m}'s days"] = summarise(same)
    return res
