"""Productivity scorecards per person and role: bookings, won deals, activities per day, conversion per stage,
hours per won deal, ramp-adjusted attainment, cadence adherence and hours on low-yield patterns, each against
the role's benchmark (its median), with the gap and the one or two actions most likely to close it.

Every metric is one vectorised group-by over the activities and the deals (no loop over people), so a year of
5,000 people and 5 M activities scores in seconds. An action's worth is the bookings it would add if the
rep matched the role's median on that lever, through the funnel arithmetic (a stage conversion raised to the
median multiplies the bookings), the measured within-rep cadence effect, and the role's bookings per
selling hour for freed or added hours; the two largest are proposed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import SalesplanError
from salesplan.planning.funnel import estimate_ramp
from salesplan.planning.funnel.paths import to_date
from salesplan.planning.process.cadence import Cadence, standard_cadence
from salesplan.planning.process.data import PRE_SALE, ProcessData
from salesplan.planning.process.inefficiency import Inefficiencies, find_inefficiencies
from salesplan.planning.process.roles import ROLE_LOWER_IS_BETTER, ROLE_METRICS, role_actions, role_metrics

__all__ = ["LOWER_IS_BETTER", "METRICS", "Scorecards", "scorecards"]

METRICS: tuple[str, ...] = (
    "bookings", "won_deals", "win_rate", "activities_per_day", "selling_hours_per_day", "selling_share",
    "conv_Find", "conv_Meet", "conv_Pitch", "hours_per_won_deal", "attainment", "ramp_adjusted_attainment",
    "adherence", "low_yield_hours", *ROLE_METRICS,
)  # fmt: skip
LOWER_IS_BETTER: frozenset[str] = frozenset({"hours_per_won_deal", "low_yield_hours", *ROLE_LOWER_IS_BETTER})
MIN_ACTIVE_DAYS = 20  # people with fewer working days in the period do not shape the role's benchmark
QUARTER_DAYS = 65.0  # working days in a quarter (quota is per quarter)
RAMP_SAMPLES = 24  # days sampled per person to average the ramp share over their window
MIN_RAMP_SHARE = 0.05
"""Below this expected share of a full quota (hired in the last weeks) ramp-adjusted attainment is not scored:
the ratio of two near-zero numbers says nothing."""


@dataclass(frozen=True)
class Scorecards:
    """``table``: one row per person (metrics, ``bench_<m>`` and ``gap_<m>``, the bookings gap and the two
    actions); ``benchmarks``: per role the median (and the better quartile) of each metric; ``actions``:
    long form (rep, rank, lever, action, estimated bookings uplift); ``period``: (start, end)."""

    table: pd.DataFrame
    benchmarks: pd.DataFrame
    actions: pd.DataFrame
    period: tuple[pd.Timestamp, pd.Timestamp]

    def card(self, rep_id: str) -> dict[str, Any]:
        """One person's row, their role benchmark and actions (for the per-rep page and the API)."""
        t = self.table.set_index("rep_id")
        if rep_id not in t.index:
            from salesplan.errors import DataNotFoundError

            raise DataNotFoundError(
                f"no scorecard for rep {rep_id!r}. Fix: use one of {list(t.index[:5])} ..."
            )
        row = t.loc[rep_id]
        acts = self.actions[self.actions["rep_id"] == rep_id]
        return {"rep_id": rep_id, "row": row, "actions": acts}


def _working_days(reps: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Working days (Mon–Fri) each person was employed inside [start, end]."""
    n = len(reps)
    hire = (
        pd.to_datetime(reps["hire_date"])
        if "hire_date" in reps.columns
        else pd.Series(pd.NaT, index=reps.index)
    )
    leave = (
        pd.to_datetime(reps["end_date"])
        if "end_date" in reps.columns
        else pd.Series(pd.NaT, index=reps.index)
    )
    lo = hire.fillna(start).clip(lower=start).to_numpy("datetime64[D]")  # type: ignore[call-overload]
    hi = (
        leave.fillna(end + pd.Timedelta(days=1))
        .clip(upper=end + pd.Timedelta(days=1))  # type: ignore[call-overload]
        .to_numpy("datetime64[D]")
    )
    return np.busday_count(lo, np.maximum(hi, lo)).astype(float) if n else np.zeros(0)


def _ramp_share(data: ProcessData, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Mean ramp share over the days each person worked in the period (1 without hire dates or an
    estimable ramp): a rep hired mid-period is expected to book the ramp's share of a full quota on each of
    their days, not the share at the period's midpoint (which is 0 for someone hired after it)."""
    reps = data.reps
    if "hire_date" not in reps.columns:
        return np.ones(len(reps))
    try:
        ramp = estimate_ramp(data.paths, reps)
    except SalesplanError:
        return np.ones(len(reps))
    hire = pd.to_datetime(reps["hire_date"]).to_numpy("datetime64[D]")
    lo = np.maximum(np.where(np.isnat(hire), np.datetime64(start, "D"), hire), np.datetime64(start, "D"))
    span = np.maximum((np.datetime64(end, "D") - lo).astype(float), 0.0)
    # RAMP_SAMPLES evenly spaced days of each person's window: a vectorised mean of the step curve
    at = lo[:, None] + (span[:, None] * (np.arange(RAMP_SAMPLES) + 0.5) / RAMP_SAMPLES).astype(
        "timedelta64[D]"
    )
    tenure = (at - hire[:, None]).astype("timedelta64[D]").astype(float)
    share = ramp.share(np.floor(np.nan_to_num(tenure, nan=1e6) / 30.44) + 1).mean(axis=1)
    return np.where(np.isnat(hire), 1.0, share)


def _per(code: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of ``weights`` (or count) per code 0..n-1; code −1 (unknown) is dropped."""
    ok = code >= 0
    return np.bincount(code[ok], weights=None if weights is None else weights[ok], minlength=n)[:n].astype(
        float
    )


def scorecards(
    data: ProcessData, *, start: Any = None, end: Any = None, inefficiencies: Inefficiencies | None = None,
    cadence: Cadence | None = None,
) -> Scorecards:  # fmt: skip
    """Scorecards over [start, end] (default: the last 365 days to the as-of date). The inefficiency finder
    and the cadence run on the whole history unless passed in (their patterns need many deals)."""
    end_ts = to_date(end, "end") if end is not None else data.as_of.normalize()
    start_ts = to_date(start, "start") if start is not None else end_ts - pd.Timedelta(days=364)
    ineff = inefficiencies if inefficiencies is not None else find_inefficiencies(data)
    try:
        cad = cadence if cadence is not None else standard_cadence(data)
    except SalesplanError:
        cad = None
    inwin, _, _ = data.window(start_ts, end_ts)
    a = data.activities
    reps = data.reps
    n = len(reps)
    t = pd.DataFrame({"rep_id": reps["rep_id"].astype(str).to_numpy(), "_person": np.arange(n)})
    for c in ("name", "role", "location_group", "team", "region"):
        t[c] = reps[c].astype(object).fillna("(none)").to_numpy() if c in reps.columns else "(none)"
    t["active_days"] = _working_days(reps, start_ts, end_ts)
    person, hours = a["person"].to_numpy(), a["hours"].to_numpy()
    selling = a["stage_code"].to_numpy() >= 0
    t["activities"] = _per(np.where(inwin, person, -1), n)
    t["hours"] = _per(np.where(inwin, person, -1), n, hours)
    t["selling_hours"] = _per(np.where(inwin & selling, person, -1), n, hours)
    days = t["active_days"].where(t["active_days"] > 0)
    t["activities_per_day"] = t["activities"] / days
    t["selling_hours_per_day"] = t["selling_hours"] / days
    t["selling_share"] = t["selling_hours"] / t["hours"].where(t["hours"] > 0)
    d = data.paths.frame
    owner = d["owner"].to_numpy()
    close = d["close_date"].to_numpy("datetime64[ns]")
    in_period = (close >= np.datetime64(start_ts, "ns")) & (
        close < np.datetime64(end_ts + pd.Timedelta(days=1), "ns")
    )
    outcome = d["outcome"].to_numpy()
    won = in_period & (outcome == "won")
    is_owner = _per(owner, n) > 0
    t["bookings"] = np.where(
        is_owner, _per(np.where(won, owner, -1), n, d["amount"].fillna(0.0).to_numpy(float)), np.nan
    )
    t["won_deals"] = np.where(is_owner, _per(np.where(won, owner, -1), n), np.nan)
    closed = _per(np.where(in_period & np.isin(outcome, ["won", "lost"]), owner, -1), n)
    t["win_rate"] = t["won_deals"] / np.where(closed > 0, closed, np.nan)
    _conversions(t, data, start_ts, end_ts)
    own_work = inwin & selling & (a["deal"].to_numpy() >= 0)
    own_hours = _per(np.where(own_work, a["owner"].to_numpy(), -1), n, hours)
    t["hours_per_won_deal"] = np.where(
        t["won_deals"] > 0, own_hours / t["won_deals"].where(t["won_deals"] > 0), np.nan
    )
    quota = (
        pd.to_numeric(reps["quota"], errors="coerce").to_numpy(float)
        if "quota" in reps.columns
        else np.full(n, np.nan)
    )
    t["quota"] = quota * t["active_days"].to_numpy() / QUARTER_DAYS
    t["ramp_share"] = _ramp_share(data, start_ts, end_ts)
    q = t["quota"].where(t["quota"] > 0)
    t["attainment"] = t["bookings"] / q
    ramped = t["ramp_share"].where(t["ramp_share"] >= MIN_RAMP_SHARE)
    t["ramp_adjusted_attainment"] = t["bookings"] / (q * ramped)
    if cad is not None:
        adh = cad.reps[cad.reps["owner"] >= 0]
        t["adherence"] = (
            pd.Series(adh["adherence"].to_numpy(), index=adh["owner"].to_numpy())
            .reindex(np.arange(n))
            .to_numpy()
        )
    else:
        t["adherence"] = np.nan
    flagged = ineff.findings["pattern"].to_numpy() if len(ineff.findings) else np.zeros(0, int)
    low = inwin & np.isin(ineff.activity_pattern, flagged)
    t["low_yield_hours"] = _per(np.where(low, person, -1), n, hours)
    roles = role_metrics(data, inwin, start_ts, end_ts, t)
    for c in roles.columns:
        t[c] = roles[c].to_numpy()
    t[list(METRICS)] = t[list(METRICS)].astype(float)
    t = t[(t["active_days"] > 0) | (t["activities"] > 0)].reset_index(drop=True)  # nobody gone all period
    bench = _benchmarks(t)
    t = _gaps(t, bench)
    actions = _actions(t, cad, ineff, person, ineff.activity_pattern, low, hours)
    top = actions[actions["rank"] <= 2].pivot(index="rep_id", columns="rank", values="action")
    t["action_1"] = t["rep_id"].map(top.get(1, pd.Series(dtype=object)))
    t["action_2"] = t["rep_id"].map(top.get(2, pd.Series(dtype=object)))
    return Scorecards(t.drop(columns="_person"), bench, actions, (start_ts, end_ts))


def _conversions(t: pd.DataFrame, data: ProcessData, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Moved on / (moved on + lost) per person and pre-sale stage, over the stage exits inside the period."""
    sp = data.spells
    code, status = sp["stage_code"].to_numpy(), sp["status"].to_numpy()
    exit_ = sp["entry"].to_numpy("datetime64[ns]") + (sp["days"].fillna(0.0).to_numpy() * 86400e9).astype(
        "timedelta64[ns]"
    )
    ok = (code < len(PRE_SALE)) & np.isin(status, [1, 2])
    ok &= (exit_ >= np.datetime64(start, "ns")) & (exit_ < np.datetime64(end + pd.Timedelta(days=1), "ns"))
    owner, n = sp["owner"].to_numpy(), len(t)
    for i, s in enumerate(PRE_SALE):
        m = ok & (code == i)
        tried = _per(np.where(m, owner, -1), n)
        moved = _per(np.where(m & (status == 1), owner, -1), n)
        t[f"conv_{s}"] = np.where(tried > 0, moved / np.maximum(tried, 1), np.nan)


def _benchmarks(t: pd.DataFrame) -> pd.DataFrame:
    """Per role: people counted and, per metric, the median and the better quartile (75th percentile, or
    25th where lower is better) over people active at least :data:`MIN_ACTIVE_DAYS` days."""
    ok = t[t["active_days"] >= MIN_ACTIVE_DAYS].copy()
    ok["bookings_per_day"] = ok["bookings"] / ok["active_days"]
    ok["bookings_per_selling_hour"] = ok["bookings"] / ok["selling_hours"].where(ok["selling_hours"] > 0)
    cols = [*METRICS, "bookings_per_day", "bookings_per_selling_hour"]
    g = ok.groupby("role")[cols]
    med = g.median().add_prefix("median_")
    q75, q25 = g.quantile(0.75), g.quantile(0.25)
    better = pd.DataFrame({f"best_{c}": (q25 if c in LOWER_IS_BETTER else q75)[c] for c in cols})
    return pd.concat([ok.groupby("role").size().rename("people"), med, better], axis=1).reset_index()


def _gaps(t: pd.DataFrame, bench: pd.DataFrame) -> pd.DataFrame:
    """``bench_<m>`` (the role median; bookings scaled to the person's working days) and ``gap_<m>``
    (person − benchmark, signed so that negative is worse), and ``bookings_gap`` (≥ 0, to the median)."""
    b = bench.set_index("role")
    for m in METRICS:
        med = t["role"].map(b[f"median_{m}"]) if f"median_{m}" in b.columns else np.nan
        if m == "bookings":
            med = t["role"].map(b["median_bookings_per_day"]) * t["active_days"]
        t[f"bench_{m}"] = med
        diff = t[m] - t[f"bench_{m}"]
        t[f"gap_{m}"] = -diff if m in LOWER_IS_BETTER else diff
    t["bookings_gap"] = (t["bench_bookings"] - t["bookings"]).clip(lower=0.0)
    return t


def _actions(t: pd.DataFrame, cad: Cadence | None, ineff: Inefficiencies, person: np.ndarray, pat: np.ndarray,
             low: np.ndarray, hours: np.ndarray) -> pd.DataFrame:  # fmt: skip
    """Each lever's bookings uplift if the person matched the role median on it; the ranked long table."""
    bookings = t["bookings"].fillna(0.0).to_numpy()
    per_hour = (
        t["role"]
        .map((t["bookings"] / t["selling_hours"].where(t["selling_hours"] > 0)).groupby(t["role"]).median())
        .fillna(0.0)
        .to_numpy()
    )
    levers: dict[str, np.ndarray] = {}
    text: dict[str, list[str]] = {}
    for s, nxt in zip(PRE_SALE, (*PRE_SALE[1:], "Sign"), strict=True):
        own, med = t[f"conv_{s}"].to_numpy(float), t[f"bench_conv_{s}"].to_numpy(float)
        up = np.where(own < med, bookings * np.minimum(med / np.maximum(own, 0.05) - 1, 1.0), 0.0)
        levers[f"conv_{s}"] = np.nan_to_num(up)
        text[f"conv_{s}"] = [
            f"raise {s}→{nxt} conversion from {o:.0%} to the role median {m:.0%}"
            for o, m in zip(own, med, strict=True)
        ]
    if cad is not None and np.isfinite(cad.effect.get("risk_difference", np.nan)):
        rd = float(cad.effect["risk_difference"])
        own, med = t["adherence"].to_numpy(float), t["bench_adherence"].to_numpy(float)
        conv = t[[f"conv_{s}" for s in PRE_SALE]].mean(axis=1).to_numpy(float)
        rel = np.where(own < med, rd * (med - own) / np.maximum(np.nan_to_num(conv, nan=0.5), 0.05), 0.0)
        levers["adherence"] = np.nan_to_num(bookings * ((1 + rel) ** len(PRE_SALE) - 1))
        std = cad.standard["first_within_days"].max() if len(cad.standard) else np.nan
        text["adherence"] = [f"keep the standard cadence (first action within {std:g} days of each stage): {o:.0%} of deals now vs {m:.0%}"
                             for o, m in zip(own, med, strict=True)]  # fmt: skip
    lowh = t["low_yield_hours"].fillna(0.0).to_numpy()
    levers["low_yield"] = lowh * per_hour
    top_pat = _top_pattern(person, pat, low, hours)
    labels = ineff.findings.set_index("pattern")["label"] if len(ineff.findings) else pd.Series(dtype=object)
    text["low_yield"] = [f"stop {labels.get(top_pat.get(i), 'low-yield activities')} ({h:,.0f} h on low-yield patterns)"
                         for i, h in zip(t["_person"], lowh, strict=True)]  # fmt: skip
    own, med = t["selling_hours_per_day"].to_numpy(float), t["bench_selling_hours_per_day"].to_numpy(float)
    levers["selling_time"] = np.nan_to_num(
        np.where(own < med, (med - own) * t["active_days"].to_numpy() * per_hour, 0.0)
    )
    text["selling_time"] = [f"spend {(m - o) * 5:.1f} more selling hours a week (now {o * 5:.1f}, role median {m * 5:.1f})"
                            for o, m in zip(own, med, strict=True)]  # fmt: skip
    names = list(levers)
    up = np.column_stack([levers[k] for k in names])
    order = np.argsort(-up, axis=1, kind="stable")[:, :2]
    rows = []
    taken: dict[str, int] = {}
    for i, r in enumerate(t["rep_id"].to_numpy()):
        for j in order[i]:
            if up[i, j] > 0:
                taken[r] = taken.get(r, 0) + 1
                rows.append((r, taken[r], names[j], text[names[j]][i], float(up[i, j])))
    for r, lever, action in role_actions(t)[["rep_id", "lever", "action"]].itertuples(index=False):
        if taken.get(r, 0) < 2:  # then the non-selling levers, whose bookings effect is not measured
            taken[r] = taken.get(r, 0) + 1
            rows.append((r, taken[r], lever, action, np.nan))
    return pd.DataFrame(rows, columns=["rep_id", "rank", "lever", "action", "bookings_uplift"])


def _top_pattern(person: np.ndarray, pat: np.ndarray, low: np.ndarray, hours: np.ndarray) -> pd.Series:
    """Per person (row of reps), the flagged pattern they spend the most hours on."""
    if not low.any():
        return pd.Series(dtype=float)
    x = pd.DataFrame({"person": person[low], "pattern": pat[low], "hours": hours[low]})
    g = x.groupby(["person", "pattern"])["hours"].sum().reset_index().sort_values("hours", ascending=False)
    return g.drop_duplicates("person").set_index("person")["pattern"]
