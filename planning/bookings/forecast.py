"""Quarterly bookings (won value) per rep / team / region / total, and calibrated quarter-total
distributions of next bookings for target setting — using only what the CRM knew at ``as_of``.

Point forecast of a rep's quarter (why: bookings are the sum of two different streams, and both are
measured the same way in past quarters, so the method needs no model and is replayable as of any date):

- already booked: deals won between the quarter start and ``as_of`` (when ``as_of`` is inside it);
- open pipeline at ``as_of``: amount × the empirical share of open amount, by stage reached and age, that
  was won inside the same window in recent quarters (snapshots taken at the same lead before each
  quarter); with ``scores`` (``opportunity_id, p_win``) the scored deals share out what the stage rates
  expect of them together in proportion to p_win × amount × the empirical share of eventually-won value
  that closed inside the window. Why not the scores' own sum: past scores are not known, so the spread
  is calibrated on the replayed stage-rate point, and a split-conformal spread is only valid for the
  point it was calibrated on (issue #19: on the simulator the scores' sum ran 22 % above the stage
  rates, and the ratios calibrated on the stage-rate point then put the total's median 11 % too high:
  total hit 0.375 for 0.6 promised, team 0.45; the stage-rate point gave 0.50 and 0.55, 16 quarters);
- deals not yet created: the rep's recent run-rate of deals created and won inside the window, per
  fully-ramped quarter, shrunk toward the team's rate (``shrink`` pseudo-quarters; new reps lean on the
  team) and multiplied by the rep's ramp in the quarter (``ramp`` by quarter of tenure, monthly steps).

Spread: split conformal. The same point method is replayed at the same lead for up to ``calibration``
earlier quarters whose actuals were complete at ``as_of``; the ratios actual / point per level (and
size bin when there are many) give the quantiles (point × ratio quantile), so they are non-negative and
calibrated as long as recent quarters resemble the next one
(:func:`planning.target_backtest.conformal_distributions`; a level with too few ratios, typically the
total, borrows the next finer level's wider spread, so its targets err on the safe side). Why not a
parametric spread: deal values are heavy-tailed and reps' quarters lumpy, so the replayed errors are
the honest measure. History starts at the later of the first created and the first closed deal.

Units: reps hired before the quarter ends and not gone by its start (or by ``as_of``); a rep's future
leaving is not known (reps with neither a hire date nor any deal before ``as_of`` are not units). Teams and regions add their reps plus the pipeline of reps who left (their deals
still book to the team), so the actual of a team is all its bookings. The point already includes ramp:
allocate with ``ramp=(1.0,)`` on top of it, or new reps are ramped twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts.crm import CRMData
from salesplan.errors import ConfigError, InsufficientDataError
from salesplan.planning.bookings.book import (
    MONTH_DAYS,
    Book,
    deals_frame,
    parse_quarter,
    quarter_units,
    window,
)
from salesplan.planning.distributions import COMBINED_LEVELS, QuarterDistribution
from salesplan.planning.target_backtest import conformal_distributions
from salesplan.planning.types import RAMP_BY_QUARTER

__all__ = ["LEVELS", "RATE_QUARTERS", "bookings_actuals", "bookings_distributions", "quarterly_bookings"]

LEVELS: tuple[str, ...] = ("region", "team", "rep")
RATE_QUARTERS = 4
"""Recent quarters whose snapshots give the stage rates and the run-rates."""


def quarterly_bookings(crm: CRMData) -> pd.DataFrame:
    """Won value by rep and close quarter: ``rep_id, team, region, quarter, won_value`` (``won_value``
    when the CRM has it, e.g. Maven's close value, else the deal amount)."""
    d = deals_frame(crm)
    w = d[d["won"] & d["closed"].notna()]
    q = pd.to_datetime(w["closed"]).dt.to_period("Q").astype(str)
    out = pd.DataFrame(
        w.assign(quarter=q).groupby(["rep_id", "team", "region", "quarter"], as_index=False)["value"].sum()
    )
    return out.rename(columns={"value": "won_value"}).sort_values(["quarter", "rep_id"], ignore_index=True)


def _point(
    book: Book, q: pd.Period, as_of: pd.Timestamp, ramp: Sequence[float], shrink: float, use_scores: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rep points for ``q`` known at ``as_of`` (``rep_id, team, region, known, pipeline, new, point,
    ramp``) and the pipeline of departed reps per (team, region) (``orphan``)."""
    lead = q.start_time - as_of
    refs = [q - k for k in range(1, 40) if (q - k + 1).start_time <= as_of]
    refs = [r for r in refs if r.start_time - lead >= book.start + pd.Timedelta(days=28)][:RATE_QUARTERS]
    if not refs:
        raise InsufficientDataError(
            f"bookings {q} as of {as_of.date()}: no complete earlier quarter to measure pipeline conversion "
            f"and run-rates (CRM data start {book.start.date()}); plan a later quarter or load more history"
        )
    cells = np.zeros(6)
    cell_amt = np.zeros(6)
    won_all = np.zeros(6)
    units = quarter_units(book, q, as_of)
    new_v = np.zeros(len(units))
    expo = np.zeros(len(units))
    rep_pos = pd.Series(np.arange(len(units)), index=units["rep_id"])
    d_rep = rep_pos.reindex(book.d["rep_id"]).to_numpy()
    has = ~np.isnan(d_rep)
    for r in refs:
        t = r.start_time - lead
        t64 = np.datetime64(t, "ns")
        _, w0, w1 = window(r, t)
        open_, cell = book.state(t64)
        in_win = book.closed >= w0
        in_win &= book.closed < w1
        wv = np.where(in_win, book.value, 0.0)
        cells += np.bincount(cell[open_], weights=wv[open_], minlength=6)
        cell_amt += np.bincount(cell[open_], weights=book.amount[open_], minlength=6)
        # won by as_of (not "won in the end": a replay must not know how later closes went)
        won_then = open_ & book.d["won"].to_numpy() & (book.closed < np.datetime64(as_of, "ns"))
        won_all += np.bincount(cell[won_then], weights=book.value[won_then], minlength=6)
        fresh = (book.created >= t64) & in_win & has
        new_v += np.bincount(d_rep[fresh].astype(int), weights=book.value[fresh], minlength=len(units))
        expo += book.exposure(units["rep_id"], r, ramp, as_of)
    stage_amt = cell_amt.reshape(3, 2).sum(1).repeat(2)
    stage_rate = np.divide(
        cells.reshape(3, 2).sum(1).repeat(2), stage_amt, out=np.zeros(6), where=stage_amt > 0
    )
    rate = np.where(
        cell_amt > 0.05 * max(cell_amt.sum(), 1e-9),
        np.divide(cells, cell_amt, out=np.zeros(6), where=cell_amt > 0),
        stage_rate,
    )
    timing = np.divide(cells, won_all, out=np.zeros(6), where=won_all > 0)
    # run-rate per fully ramped quarter, shrunk toward the team (then the region, then everyone)
    full = pd.DataFrame({"v": new_v, "e": expo, "team": units["team"], "region": units["region"]})
    overall = full["v"].sum() / max(full["e"].sum(), 1e-9)
    reg = full.groupby("region")[["v", "e"]].sum()
    reg_rate = ((reg["v"] + shrink * overall) / (reg["e"] + shrink)).reindex(full["region"]).to_numpy()
    tm = full.groupby("team")[["v", "e"]].sum()
    team_rate = (tm["v"] + shrink * pd.Series(reg_rate, index=full["team"]).groupby(level=0).first()) / (
        tm["e"] + shrink
    )
    prior = team_rate.reindex(full["team"]).to_numpy()
    rep_rate = (new_v + shrink * prior) / (expo + shrink)
    s, w0, w1 = window(q, as_of)
    a64 = np.datetime64(as_of, "ns")
    open_, cell = book.state(a64)
    ev = book.amount * rate[cell]
    if use_scores and book.p_win is not None:
        p = book.p_win.reindex(book.d["opportunity_id"]).to_numpy()
        scored = open_ & ~np.isnan(p)
        by_score = np.nan_to_num(p) * book.amount * timing[cell]
        # the scores share out what the stage rates expect of the scored deals, they do not change it:
        # the spread is calibrated on the stage-rate point (module doc)
        total = float(by_score[scored].sum())
        if total > 0:  # all-zero scores share out nothing: the stage rates stand
            ev = np.where(scored, by_score * float(ev[scored].sum()) / total, ev)
    ev = np.where(open_, ev, 0.0)
    done = book.d["won"].to_numpy() & (book.closed >= s) & (book.closed < w0)
    known = np.where(done, book.value, 0.0)
    pos = d_rep[has].astype(int)
    units = units.assign(
        known=np.bincount(pos, weights=known[has], minlength=len(units)),
        pipeline=np.bincount(pos, weights=ev[has], minlength=len(units)),
        ramp=book.exposure(units["rep_id"], q, ramp, as_of),
    )
    left = float((w1 - w0) / (w1 - s))  # share of the quarter still to come at as_of
    units["new"] = rep_rate * units["ramp"].to_numpy() * left
    units["point"] = units["known"] + units["pipeline"] + units["new"]
    orphan = book.d.loc[~has, ["team", "region"]].assign(orphan=(ev + known)[~has])
    return units, pd.DataFrame(orphan.groupby(["team", "region"], as_index=False)["orphan"].sum())


def _check_levels(levels: Sequence[str]) -> tuple[str, ...]:
    lv = tuple(levels)
    if not lv or any(x not in LEVELS for x in lv) or list(lv) != [x for x in LEVELS if x in lv]:
        raise ConfigError(
            f"levels must be coarse-to-fine names from {LEVELS} (e.g. ('region', 'team', 'rep')), got {lv}"
        )
    return lv


def _rollup(reps: pd.DataFrame, extra: pd.DataFrame, levels: tuple[str, ...], col: str) -> pd.DataFrame:
    """``unit_id, parent_id, level, <col>`` for "total" and every level: the reps' values summed, plus
    ``extra`` (values of deals whose rep is not a unit, keyed by team and region) on aggregate levels."""
    key = {"rep": "rep_id", "team": "team", "region": "region"}
    rows = [
        pd.DataFrame(
            {
                "unit_id": ["total"],
                "parent_id": [None],
                "level": ["total"],
                col: [reps[col].sum() + extra[col].sum()],
            }
        )
    ]
    for i, lv in enumerate(levels):
        k = key[lv]
        parent = key[levels[i - 1]] if i else None
        g = reps.groupby(k, sort=True)
        v = g[col].sum()
        if lv != "rep" and len(extra):
            v = v.add(extra.groupby(k)[col].sum(), fill_value=0.0).reindex(v.index)
        par = g[parent].first() if parent else pd.Series("total", index=v.index)
        rows.append(
            pd.DataFrame(
                {
                    "unit_id": v.index.astype(str),
                    "parent_id": par.reindex(v.index).to_numpy(),
                    "level": lv,
                    col: v.to_numpy(),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    clash = out["unit_id"].duplicated(keep=False) & (out["level"] != out["level"].iat[-1])
    if clash.any():  # e.g. a team named like its region: aggregate ids get their level as a prefix
        prefixed = out["level"] + ":" + out["unit_id"]
        kids = out["parent_id"].notna()
        par_level = out["level"].map(dict(zip(levels, ["total", *levels[:-1]], strict=True)))
        ren = {
            (lv, u): f"{lv}:{u}"
            for lv, u in zip(out.loc[clash, "level"], out.loc[clash, "unit_id"], strict=True)
        }
        out.loc[kids, "parent_id"] = [
            ren.get((pl, pid), pid)
            for pl, pid in zip(par_level[kids], out.loc[kids, "parent_id"], strict=True)
        ]
        out.loc[clash, "unit_id"] = prefixed[clash]
    return out


def _actual(book: Book, q: pd.Period, units: pd.DataFrame, levels: tuple[str, ...]) -> pd.DataFrame:
    s, e = np.datetime64(q.start_time, "ns"), np.datetime64((q + 1).start_time, "ns")
    got = book.d["won"].to_numpy() & (book.closed >= s) & (book.closed < e)
    d = book.d.loc[got, ["rep_id", "team", "region"]].assign(actual=book.value[got])
    mine = d["rep_id"].isin(units["rep_id"])
    per = d[mine].groupby("rep_id")["actual"].sum()
    reps = units[["rep_id", "team", "region"]].assign(
        actual=per.reindex(units["rep_id"]).fillna(0.0).to_numpy()
    )
    return _rollup(reps, d[~mine], levels, "actual")


def bookings_actuals(
    crm: CRMData, quarter: Any, *, as_of: Any = None, levels: Sequence[str] = LEVELS
) -> pd.Series:
    """What was booked in ``quarter`` per unit of the tree :func:`bookings_distributions` builds for it
    (same units, same ``as_of`` rule), indexed by unit_id — the actuals a target backtest compares with."""
    book, q = Book(crm, None), parse_quarter(quarter)
    a = _actual(book, q, quarter_units(book, q, _as_of(book, as_of)), _check_levels(levels))
    return a.set_index("unit_id")["actual"]


def _as_of(book: Book, as_of: Any) -> pd.Timestamp:
    if as_of is None:
        return book.end + pd.Timedelta(days=1)
    try:
        return pd.Timestamp(as_of)
    except (ValueError, TypeError):
        raise ConfigError(f"as_of {as_of!r} is not a date; use ISO like '2026-01-01'") from None


def bookings_distributions(
    crm: CRMData,
    quarter: Any,
    *,
    as_of: Any = None,
    scores: pd.DataFrame | None = None,
    levels: Sequence[str] = LEVELS,
    ramp: Sequence[float] = RAMP_BY_QUARTER,
    shrink: float = 2.0,
    calibration: int = 8,
    quantile_levels: Sequence[float] = COMBINED_LEVELS,
) -> tuple[dict[str, QuarterDistribution], pd.DataFrame]:
    """Quarter-total won-value distributions keyed by level name ("total" and each of ``levels``) and the
    unit tree: ``unit_id, parent_id, level, forecast_q50, point, known, pipeline, new, ramp,
    last_quarter, last_quarter_actual, last_year_quarter, last_year_actual, last_period,
    last_period_actual, tenure_months, last_quota`` (``last_period_actual`` = same quarter last year when
    its data were complete at ``as_of``, else the last complete quarter; ``last_period`` names it).
    Only data before ``as_of`` (default: the day after the CRM's last date) are used; see the module doc."""
    lv = _check_levels(levels)
    book, q = Book(crm, scores), parse_quarter(quarter)
    t = _as_of(book, as_of)
    if t >= (q + 1).start_time:
        raise ConfigError(f"as_of {t.date()} is after quarter {q} ended; forecast a later quarter")
    if calibration < 1 or shrink < 0:
        raise ConfigError(f"calibration must be ≥ 1 and shrink ≥ 0, got {calibration}, {shrink}")
    reps, orphan = _point(book, q, t, ramp, shrink, use_scores=True)
    tree = _rollup(reps, orphan.rename(columns={"orphan": "point"}), lv, "point")
    cal: list[pd.DataFrame] = []
    lead = q.start_time - t
    for k in range(1, 40):
        c = q - k
        if (c + 1).start_time > t:
            continue
        try:
            r2, o2 = _point(book, c, c.start_time - lead, ramp, shrink, use_scores=False)
        except InsufficientDataError:
            break
        pt = _rollup(r2, o2.rename(columns={"orphan": "point"}), lv, "point")
        cal.append(
            pt.merge(_actual(book, c, r2, lv)[["unit_id", "level", "actual"]], on=["unit_id", "level"])
        )
        if len(cal) >= calibration:
            break
    if not cal:
        raise InsufficientDataError(
            f"bookings {q} as of {t.date()}: no earlier quarter can be replayed to calibrate the spread "
            f"(CRM history {book.start.date()}–{book.end.date()}); at least two complete quarters of "
            "history are needed before as_of"
        )
    order = ["total", *lv]
    dists = conformal_distributions(
        tree, pd.concat(cal, ignore_index=True), order, quantile_levels=quantile_levels
    )
    tree["forecast_q50"] = np.concatenate([dists[n].quantile(0.5)[:, 0] for n in order])
    return dists, _describe(book, q, t, reps, orphan, tree, lv)


def _describe(
    book: Book,
    q: pd.Period,
    t: pd.Timestamp,
    reps: pd.DataFrame,
    orphan: pd.DataFrame,
    tree: pd.DataFrame,
    lv: tuple[str, ...],
) -> pd.DataFrame:
    """The tree's descriptive columns: point parts, last actuals known at ``t``, tenure and last quota."""
    out = tree.copy()
    for col in ("known", "pipeline", "new"):
        extra = orphan.rename(columns={"orphan": col}) if col == "pipeline" else orphan.assign(**{col: 0.0})
        out[col] = _rollup(reps, extra.drop(columns=["orphan"], errors="ignore"), lv, col)[col].to_numpy()
    last = q - 1
    while (last + 1).start_time > t:
        last -= 1
    ly = q - 4
    for name, c in (("last_quarter", last), ("last_year", ly)):
        out[f"{name}_quarter" if name == "last_year" else name] = str(c)
        ok = (c + 1).start_time <= t and c.start_time >= book.start.to_period("Q").start_time
        vals = _actual(book, c, reps, lv)["actual"].to_numpy() if ok else np.full(len(out), np.nan)
        out[f"{name}_actual"] = vals
    use_ly = out["last_year_actual"].notna()
    out["last_period"] = np.where(use_ly, out["last_year_quarter"], out["last_quarter"])
    out["last_period_actual"] = out["last_year_actual"].where(use_ly, out["last_quarter_actual"])
    r = book.reps.reindex(reps["rep_id"])
    hire = pd.to_datetime(r["hire_date"]) if "hire_date" in r else pd.Series(pd.NaT, index=r.index)
    ten = pd.Series(((q.start_time - hire).dt.days / MONTH_DAYS).round(1).to_numpy(), index=reps["rep_id"])
    is_rep = (out["level"] == "rep").to_numpy()
    out["tenure_months"] = np.where(is_rep, ten.reindex(out["unit_id"]).to_numpy(), np.nan)
    out["ramp"] = np.where(
        is_rep, reps.set_index("rep_id")["ramp"].reindex(out["unit_id"]).to_numpy(), np.nan
    )
    out["last_quota"] = np.nan
    if "quota" in r.columns:
        quota = reps[["rep_id", "team", "region"]].assign(
            last_quota=pd.to_numeric(r["quota"], errors="coerce").to_numpy()
        )
        rolled = _rollup(quota, pd.DataFrame(columns=["team", "region", "last_quota"]), lv, "last_quota")
        n_missing = _rollup(
            quota.assign(last_quota=quota["last_quota"].isna().astype(float)),
            pd.DataFrame(columns=["team", "region", "last_quota"]),
            lv,
            "last_quota",
        )
        out["last_quota"] = rolled["last_quota"].where(n_missing["last_quota"] == 0).to_numpy()
    return out
