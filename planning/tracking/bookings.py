"""Plan vs actual vs landing for every unit of an approved bookings proposal (region / team / rep).

Landing = won to date + what the open pipeline still wins this quarter + what deals not yet created win
before the quarter ends:

- **open pipeline**: every deal open at ``as_of`` and expected to close by the quarter's end (overdue ones
  included: they are still open) is won with its calibrated score ``p_win``; with a fitted
  :class:`~salesplan.planning.pipeline_shock.QuarterShock` every deal's win log-odds share one draw of
  the quarter shock (the dependence the weighted pipeline uses, so a team's deals slip together);
- **run-rate of new deals** (:func:`new_deal_run_rate`): per rep, the value of deals created after the
  same point of recent quarters and won inside them, shrunk toward the team's rate, as a compound Poisson
  (count ~ Poisson(rate / mean deal size), each the team's mean won deal size).

The three parts are simulated jointly (one draw of the shock per simulation, shared by every unit), and
every unit's landing sums its deals through the plan's tree, so a region's draw is the sum of its teams'
and P10/P50/P90 and P(hit) come from the same draws at every level. Why Monte Carlo: a weighted sum of
dependent Bernoullis plus a compound Poisson has no closed form, and a few thousand draws over the open
deals of one quarter take milliseconds.

A CRM that records no expected close date (Maven) has its open deals timed by how often deals of the
same age closed within their quarter recently (:func:`place_undated`).

Deals are placed at the deepest unit of the plan they belong to: their rep, else (a rep without a target,
e.g. gone) their team, else their region, else the total, as the bookings targets count them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, special

from salesplan.contracts import CRMData
from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.planning.bookings.book import deals_frame
from salesplan.planning.pipeline_shock import QuarterShock
from salesplan.planning.tracking.calendar import quarter_calendar
from salesplan.planning.tracking.sellout import Tracking, fan_series, plan_periods, unit_rows

__all__ = [
    "BOOKING_KEYS",
    "N_DRAWS",
    "RUN_RATE_QUARTERS",
    "BookingsState",
    "new_deal_run_rate",
    "open_pipeline",
    "place_undated",
    "track_bookings",
    "unit_membership",
]

BOOKING_KEYS: dict[str, str] = {"rep": "rep_id", "team": "team", "region": "region"}
"""The deal column that places a deal in a unit of each bookings level."""
N_DRAWS = 4000
"""Joint simulations of the rest of the quarter: P(hit) and the quantiles within about ±1 point."""
RUN_RATE_QUARTERS = 4
"""Recent complete quarters whose same-point windows give the run-rate of deals not yet created."""
AGE_BANDS: tuple[float, ...] = (0.0, 30.0, 60.0, 120.0, np.inf)
"""Days since creation: the bands whose recent close-within-quarter shares time undated deals."""
SHRINK = 2.0
"""Pseudo-quarters of the team's rate a rep's run-rate is shrunk toward (the bookings forecast's value)."""


@dataclass(frozen=True)
class BookingsState:
    """What is known of a bookings quarter at ``as_of``: ``won`` (deals won in the quarter so far:
    ``opportunity_id, close_date, amount`` + ``rep_id, team, region``), ``open_deals`` (open at ``as_of``:
    ``opportunity_id, p_win, amount, expected_close_date`` + the same keys), ``run_rate`` (per rep:
    ``rep_id, team, region, expected, size``; :func:`new_deal_run_rate`) and the quarter ``shock``."""

    won: pd.DataFrame
    open_deals: pd.DataFrame
    run_rate: pd.DataFrame
    shock: QuarterShock | None = None


def _need(frame: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataValidationError(
            [Problem(c, "column missing", fix=f"{what} need {', '.join(cols)}") for c in missing], what
        )


def unit_membership(plan: pd.DataFrame, items: pd.DataFrame) -> sparse.csr_matrix:
    """(items × plan units) 0/1: each item (deal or rep run-rate) in its deepest unit and every ancestor."""
    units = plan["unit_id"].astype(str).tolist()
    pos = {u: i for i, u in enumerate(units)}
    parent = dict(zip(units, plan["parent_id"], strict=True))
    total = plan.loc[plan["level"] == "total", "unit_id"].astype(str).tolist()
    leaf = np.full(len(items), pos[total[0]] if total else -1)
    for lv in ("region", "team", "rep"):  # coarse to fine: the deepest match wins
        rows = plan[plan["level"] == lv]
        if rows.empty:
            continue
        col = BOOKING_KEYS[lv]
        if col not in items.columns:
            continue
        ids = rows["unit_id"].astype(str)
        key = {u.split(":", 1)[1] if u.startswith(f"{lv}:") else u: pos[u] for u in ids}
        hit = items[col].astype(str).map(key)
        leaf = np.where(hit.notna(), hit.fillna(-1).to_numpy(int), leaf)
    ri, ci = [], []
    for i, u in enumerate(leaf):
        node = units[u] if u >= 0 else None
        while node is not None and node in pos:
            ri.append(i)
            ci.append(pos[node])
            p = parent.get(node)
            node = None if p is None or (isinstance(p, float) and np.isnan(p)) else str(p)
    return sparse.csr_matrix((np.ones(len(ri)), (ri, ci)), shape=(len(items), len(units)))


def open_pipeline(state: BookingsState, quarter: str) -> pd.DataFrame:
    """The open deals that can still book this quarter (expected close on or before its last day), with
    ``expected_value`` = p_win × amount."""
    d = state.open_deals
    _need(d, ["opportunity_id", "p_win", "amount", "expected_close_date"], "open deals")
    end = pd.Period(quarter, "Q").end_time
    d = d[pd.to_datetime(d["expected_close_date"]) <= end].copy()
    d["amount"] = pd.to_numeric(d["amount"], errors="coerce").fillna(0.0)
    d["p_win"] = pd.to_numeric(d["p_win"], errors="coerce").fillna(0.0).clip(0, 1)
    d["expected_value"] = d["p_win"] * d["amount"]
    return d.reset_index(drop=True)


def place_undated(
    deals: pd.DataFrame, crm: CRMData, quarter: str, as_of: Any, *, quarters: int = RUN_RATE_QUARTERS
) -> pd.DataFrame:
    """``deals`` with an ``expected_close_date`` everywhere. A deal without one (a CRM that records none,
    e.g. Maven) counts as closing in the rest of the quarter with ``p_win`` (the score: P(won | it closes),
    as the scorer learns on closed deals) times P(it closes before the quarter ends): the share of the deals
    in its age band (``AGE_BANDS`` days since creation), open at the same point of the ``quarters``
    complete quarters before ``as_of``, that closed (won or lost) before their quarter ended. Stale deals,
    which such a pipeline holds many of, rarely close at all; the score alone would count them as
    likely wins. The score is kept as ``p_win_ever``."""
    t, q = pd.Timestamp(as_of), pd.Period(quarter, "Q")
    d = deals.copy()
    exp = (
        pd.to_datetime(d["expected_close_date"])
        if "expected_close_date" in d
        else pd.Series(pd.NaT, index=d.index)
    )
    undated = exp.isna().to_numpy()
    d["expected_close_date"] = exp.fillna(max(t, q.start_time))
    if not undated.any():
        return d
    h = deals_frame(crm)
    created, closed = pd.to_datetime(h["created"]), pd.to_datetime(h["closed"])
    into = t - q.start_time
    hits, seen = np.zeros(len(AGE_BANDS) - 1), np.zeros(len(AGE_BANDS) - 1)
    for r in [r for r in (q - k for k in range(1, 40)) if (r + 1).start_time <= t][:quarters]:
        t_r = r.start_time + into
        open_r = ((created < t_r) & (closed.isna() | (closed >= t_r))).to_numpy()
        band = np.digitize((t_r - created[open_r]).dt.days.to_numpy(float), AGE_BANDS[1:-1])
        seen += np.bincount(band, minlength=len(seen))
        hits += np.bincount(
            band, weights=(closed[open_r] < (r + 1).start_time).to_numpy(float), minlength=len(seen)
        )
    share = np.divide(hits, seen, out=np.ones_like(hits), where=seen > 0)
    age = (
        (t - pd.to_datetime(d["created_date"])).dt.days.to_numpy(float)
        if "created_date" in d
        else np.zeros(len(d))
    )
    timing = np.where(undated, share[np.digitize(np.nan_to_num(age), AGE_BANDS[1:-1])], 1.0)
    d["p_win_ever"] = d["p_win"]
    d["p_win"] = pd.to_numeric(d["p_win"], errors="coerce").fillna(0.0).to_numpy() * timing
    return d


def new_deal_run_rate(
    crm: CRMData, quarter: str, as_of: Any, *, quarters: int = RUN_RATE_QUARTERS, shrink: float = SHRINK
) -> pd.DataFrame:
    """Per active rep (``rep_id, team, region, expected, size``): the value expected from deals created
    from ``as_of`` on and won before ``quarter`` ends. Measured on the ``quarters`` most recent complete
    quarters at the same point (day ``as_of − quarter start``), as the rep's mean shrunk toward its team's
    per-rep mean with ``shrink`` pseudo-quarters; ``size``: the team's mean such won deal (else everyone's)."""
    q, t = pd.Period(quarter, "Q"), pd.Timestamp(as_of)
    into = t - q.start_time
    d = deals_frame(crm)
    refs = [r for r in (q - k for k in range(1, 40)) if (r + 1).start_time <= t][:quarters]
    reps = crm.reps.assign(rep_id=crm.reps["rep_id"].astype(str))
    end = pd.to_datetime(reps["end_date"]) if "end_date" in reps else pd.Series(pd.NaT, index=reps.index)
    active = reps[end.isna() | (end > t)]
    first = d.groupby("rep_id")[["team", "region"]].first()
    out = pd.DataFrame({"rep_id": active["rep_id"].to_numpy()})
    for col in ("team", "region"):
        own = active[col].astype(str).to_numpy() if col in active else np.full(len(active), None)
        out[col] = pd.Series(own).fillna(out["rep_id"].map(first[col])).fillna(f"(no {col})").to_numpy()
    if not refs or out.empty:
        return out.assign(expected=0.0, size=0.0)
    vals = np.zeros((len(out), len(refs)))
    sizes: list[pd.DataFrame] = []
    created, closed = pd.to_datetime(d["created"]), pd.to_datetime(d["closed"])
    for k, r in enumerate(refs):
        t_r = r.start_time + into
        got = d[d["won"] & (created >= t_r) & (closed >= t_r) & (closed < (r + 1).start_time)]
        vals[:, k] = got.groupby("rep_id")["value"].sum().reindex(out["rep_id"]).fillna(0.0).to_numpy()
        sizes.append(got[["team", "value"]])
    rep_mean = vals.mean(axis=1)
    team_mean = pd.Series(rep_mean).groupby(out["team"].to_numpy()).transform("mean").to_numpy()
    expected = (vals.sum(axis=1) + shrink * team_mean) / (len(refs) + shrink)
    won = pd.concat(sizes, ignore_index=True)
    everyone = float(won["value"].mean()) if len(won) else 0.0
    size = out["team"].map(won.groupby("team")["value"].mean()).fillna(everyone).to_numpy(float)
    return out.assign(expected=expected, size=size)


def _simulate(
    deals: pd.DataFrame, rates: pd.DataFrame, m_deals: sparse.csr_matrix, m_rates: sparse.csr_matrix,
    shock: QuarterShock | None, n_draws: int, seed: int,
) -> np.ndarray:  # fmt: skip
    """(draws × units) value booked from now to the quarter's end."""
    rng = np.random.default_rng(seed)
    n_units = m_deals.shape[1]
    out = np.zeros((n_draws, n_units))
    if len(deals):
        logit = special.logit(np.clip(deals["p_win"].to_numpy(float), 1e-9, 1 - 1e-9))
        amount = deals["amount"].to_numpy(float)
        chunk = max(1, 4_000_000 // len(deals))
        for s in range(0, n_draws, chunk):
            m = min(chunk, n_draws - s)
            eps = np.zeros((m, 1))
            if shock is not None and not shock.independent:
                eps = rng.normal(shock.mean, shock.sd, size=(m, 1))
            won = rng.random((m, len(deals))) < special.expit(logit[None, :] + eps)
            out[s : s + m] += np.asarray(m_deals.T @ (won * amount).T).T
    if len(rates):
        size = rates["size"].to_numpy(float)
        lam = np.divide(rates["expected"].to_numpy(float), size, out=np.zeros(len(rates)), where=size > 0)
        booked = rng.poisson(lam[None, :], size=(n_draws, len(rates))) * size[None, :]
        out += np.asarray(m_rates.T @ booked.T).T
    return out


def track_bookings(
    plan: pd.DataFrame,
    state: BookingsState,
    quarter: str,
    as_of: Any,
    *,
    n_draws: int = N_DRAWS,
    seed: int = 0,
) -> Tracking:
    """Tracking of every unit in ``plan`` (``level, unit_id, parent_id, target`` and optional ``p_hit``,
    ``m1..m3``): ``sellout.TRACKING_COLUMNS`` per unit, weekly cumulative series for the fan chart.
    ``as_of``: the day through which wins are counted (the open deals are those open then)."""
    _need(plan, ["level", "unit_id", "parent_id", "target"], "the plan")
    _need(state.won, ["close_date", "amount"], "bookings actuals")
    cal = quarter_calendar(quarter, "W")
    day = pd.Timestamp(as_of).normalize()
    if not cal.first_day - pd.Timedelta(days=1) <= day <= cal.last_day:
        raise ConfigError(
            f"as_of {day.date()} is outside {cal.quarter} ({cal.first_day.date()}..{cal.last_day.date()}); "
            "track the quarter holding the day"
        )
    won = state.won.assign(close_date=pd.to_datetime(state.won["close_date"]))
    won = won[(won["close_date"] >= cal.first_day) & (won["close_date"] <= day)]
    deals = open_pipeline(state, quarter)
    left = (cal.last_day - day).days / ((cal.last_day - cal.first_day).days + 1)
    rates = state.run_rate
    units = plan["unit_id"].astype(str).tolist()
    m_won, m_deals, m_rates = (unit_membership(plan, f) for f in (won, deals, rates))
    # the run-rate was measured over the whole rest of the same point of past quarters: no extra scaling
    rest = _simulate(
        deals, rates if left > 0 else rates.iloc[:0], m_deals, m_rates, state.shock, n_draws, seed
    )
    actual = np.asarray(m_won.T @ won["amount"].to_numpy(float)).ravel()
    landing = actual[None, :] + rest
    target = plan["target"].to_numpy(float)
    q10, q50, q90 = np.quantile(landing, [0.1, 0.5, 0.9], axis=0)
    p_hit = (landing >= target[None, :] - 1e-9).mean(axis=0)
    # plan to date: each month's target spread evenly over its days, summed through as_of
    daily = quarter_calendar(quarter, "D")
    plan_d = plan_periods(plan, np.zeros((len(plan), len(daily.starts))), daily)
    plan_to_date = plan_d[:, : daily.elapsed(day)].sum(axis=1)
    # weekly: wins per week, the plan per week, the expected rest by expected close (run-rate evenly)
    shape = (len(units), len(cal.starts))
    e = cal.elapsed(day)
    week_of = cal.starts.searchsorted(pd.DatetimeIndex(won["close_date"]), side="right") - 1
    act = np.zeros(shape)
    np.add.at(
        act.T,
        np.clip(week_of, 0, shape[1] - 1),
        np.asarray(m_won.multiply(won["amount"].to_numpy(float)[:, None]).todense()),
    )
    act[:, e:] = np.nan
    plan_w = plan_periods(plan, np.zeros(shape), cal)
    expect = np.zeros(shape)
    if e < shape[1]:
        close = pd.DatetimeIndex(pd.to_datetime(deals["expected_close_date"]))
        wk = np.clip(cal.starts.searchsorted(close, side="right") - 1, e, shape[1] - 1)
        ev = m_deals.multiply(deals["expected_value"].to_numpy(float)[:, None]).todense()
        np.add.at(expect.T, wk, np.asarray(ev))
        share = cal.share[e:] / cal.share[e:].sum()
        expect[:, e:] += np.asarray(m_rates.T @ rates["expected"].to_numpy(float)).ravel()[:, None] * share
    land = pd.DataFrame(
        {"actual_to_date": actual, "landing_p10": q10, "landing_p50": q50, "landing_p90": q90}
    )
    # bookings have no pre-quarter weekly forecast to compare with: forecast_to_date is NaN
    out = unit_rows(
        plan, units, actual, plan_to_date, np.nan, np.column_stack([q10, q50, q90]), p_hit, e, shape[1]
    ).assign(
        open_pipeline=np.asarray(m_deals.T @ deals["amount"].to_numpy(float)).ravel(),
        expected_pipeline=np.asarray(m_deals.T @ deals["expected_value"].to_numpy(float)).ravel(),
        expected_new=np.asarray(m_rates.T @ rates["expected"].to_numpy(float)).ravel() * (left > 0),
    )
    return Tracking(cal.quarter, day, cal, out, fan_series(units, cal, plan_w, act, expect, land, e))
