"""Scorecard metrics of the people who do not sell deals themselves: those who lead a team (their reports'
bookings and attainment, coaching hours per report, the report furthest behind) and those who onboard won
customers (onboardings finished, days from Deliver to Operate). Kept apart from the sellers' metrics in
:mod:`planning.process.scorecards` because the inputs differ (the reporting line, the post-sale spells); the
style is the same: one ``bincount`` or group-by over integer codes, no loop over people.

A person leads the reps whose ``manager`` column names them (by ``rep_id``, or by ``name`` as CRMs often
store it: the person of that name in the rep's team, else the only person of that name). A won deal's onboarding is credited to whoever logged the most Deliver hours on it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.contracts import STAGES
from salesplan.planning.process.data import ProcessData

__all__ = [
    "COACHING_TYPES",
    "ROLE_LOWER_IS_BETTER",
    "ROLE_METRICS",
    "manager_rows",
    "role_actions",
    "role_metrics",
]

ROLE_METRICS: tuple[str, ...] = (
    "team_bookings", "team_attainment", "coaching_hours_per_report", "onboarded", "days_to_operate",
)  # fmt: skip
ROLE_LOWER_IS_BETTER: frozenset[str] = frozenset({"days_to_operate"})
COACHING_TYPES: tuple[str, ...] = ("coaching",)
"""Activity types counted as coaching (lower-case, as the contract stores them)."""
MONTH_DAYS = 65.0 / 3  # working days in a month
_DELIVER = STAGES.index("Deliver")


def _sum_by(code: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    ok = code >= 0
    w = None if weights is None else weights[ok]
    return np.bincount(code[ok], weights=w, minlength=n)[:n].astype(float)


def manager_rows(reps: pd.DataFrame) -> np.ndarray:
    """Row of each person's manager in ``reps`` (−1 when none or not in the table), matched on ``rep_id``
    first, then on a unique ``name``."""
    n = len(reps)
    if "manager" not in reps.columns or not n:
        return np.full(n, -1)
    text = reps["manager"].astype(object).fillna("").astype(str).str.strip()
    by_id = pd.Series(np.arange(n), index=reps["rep_id"].astype(str).to_numpy())
    rows = text.map(by_id[~by_id.index.duplicated()])
    if "name" in reps.columns:
        names = pd.Series(
            reps["name"].astype(object).fillna("").astype(str).str.strip().to_numpy(), index=reps.index
        )
        if "team" in reps.columns:  # names repeat in a large sales force: the manager of the same team first
            team = reps["team"].astype(object).fillna("").astype(str).str.strip()
            # who reports to someone of their own name is not that someone (a namesake in the team)
            lead = (text != names).to_numpy()
            by_team = pd.Series(np.arange(n)[lead], index=(names + "\x00" + team).to_numpy()[lead])
            rows = rows.fillna((text + "\x00" + team).map(by_team[~by_team.index.duplicated(keep=False)]))
        by_name = pd.Series(np.arange(n), index=names.to_numpy())
        by_name = by_name[~by_name.index.duplicated(keep=False) & (by_name.index != "")]
        rows = rows.fillna(text.map(by_name))
    out = rows.fillna(-1).to_numpy(dtype=np.int64)
    return np.where(out == np.arange(n), -1, out)  # nobody manages themself


def role_metrics(
    data: ProcessData, inwin: np.ndarray, start: pd.Timestamp, end: pd.Timestamp, table: pd.DataFrame
) -> pd.DataFrame:
    """:data:`ROLE_METRICS` plus ``reports`` and ``weakest_report`` per row of ``data.reps`` (NaN where
    the person leads nobody / onboarded nothing). ``table`` is the scorecard so far, aligned with ``reps``
    (``bookings``, ``quota``, ``attainment``, ``active_days``)."""
    reps, a = data.reps, data.activities
    n = len(reps)
    boss = manager_rows(reps)
    reports = _sum_by(boss, n)
    bookings = table["bookings"].fillna(0.0).to_numpy(float)
    team_bookings = _sum_by(boss, n, bookings)
    team_quota = _sum_by(boss, n, table["quota"].fillna(0.0).to_numpy(float))
    person, hours = a["person"].to_numpy(), a["hours"].to_numpy()
    coaching = inwin & a["type"].isin(COACHING_TYPES).to_numpy()
    months = table["active_days"].to_numpy(float) / MONTH_DAYS
    lead = reports > 0
    out = pd.DataFrame(index=reps.index)
    out["reports"] = reports
    out["team_bookings"] = np.where(lead, team_bookings, np.nan)
    out["team_attainment"] = np.where(
        lead & (team_quota > 0), team_bookings / np.maximum(team_quota, 1e-9), np.nan
    )
    out["coaching_hours_per_report"] = np.where(
        lead & (months > 0),
        _sum_by(np.where(coaching, person, -1), n, hours) / np.maximum(reports, 1) / np.maximum(months, 1e-9),
        np.nan,
    )
    att = pd.DataFrame({"boss": boss, "rep_id": reps["rep_id"].astype(str), "att": table["attainment"]})
    att = att[(att["boss"] >= 0) & att["att"].notna()].sort_values("att", kind="stable")
    out["weakest_report"] = (
        att.drop_duplicates("boss").set_index("boss")["rep_id"].reindex(np.arange(n)).to_numpy()
    )
    out["onboarded"], out["days_to_operate"] = _onboardings(data, inwin, start, end)
    return out


def _onboardings(
    data: ProcessData, inwin: np.ndarray, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Per person: Deliver → Operate moves in the period of the deals they led the onboarding of, and the
    median days those took (NaN for people who did no post-sale work in the period)."""
    a, n = data.activities, len(data.reps)
    code, deal = a["stage_code"].to_numpy(), a["deal"].to_numpy()
    person, hours = a["person"].to_numpy(), a["hours"].to_numpy()
    post_sale = _sum_by(np.where(inwin & (code >= _DELIVER), person, -1), n) > 0
    m = (code == _DELIVER) & (deal >= 0) & (person >= 0)
    lead = np.full(len(data.paths.frame), -1)
    if m.any():
        x = pd.DataFrame({"deal": deal[m], "person": person[m], "hours": hours[m]})
        x = x.groupby(["deal", "person"], sort=False)["hours"].sum().reset_index()
        x = x.sort_values("hours", ascending=False, kind="stable").drop_duplicates("deal")
        lead[x["deal"].to_numpy()] = x["person"].to_numpy()
    sp = data.spells
    days = sp["days"].to_numpy(float)
    exit_ = sp["entry"].to_numpy("datetime64[ns]") + (np.nan_to_num(days) * 86400e9).astype("timedelta64[ns]")
    done = (sp["stage_code"].to_numpy() == _DELIVER) & (sp["status"].to_numpy() == 1)
    done &= (exit_ >= np.datetime64(start, "ns")) & (exit_ < np.datetime64(end + pd.Timedelta(days=1), "ns"))
    who = lead[sp["deal"].to_numpy()[done]]
    count = _sum_by(who, n)
    med = pd.Series(days[done][who >= 0]).groupby(who[who >= 0]).median().reindex(np.arange(n)).to_numpy()
    return np.where(post_sale, count, np.nan), np.where(post_sale, med, np.nan)


def role_actions(t: pd.DataFrame) -> pd.DataFrame:
    """Actions on the non-selling levers (the team's weakest report, coaching, onboarding speed) for people
    below their role's median on them, ranked by the relative gap. Their effect on bookings is not measured,
    so they come after the levers whose uplift is estimated (the caller gives them no ``bookings_uplift``)."""
    who = t[t["coaching_hours_per_report"].notna() | t["onboarded"].notna()]  # a few per cent of the table

    def col(name: str) -> np.ndarray:
        return who[name].to_numpy(dtype=float)

    ids, weakest = who["rep_id"].astype(str).to_numpy(), who["weakest_report"].to_numpy(dtype=object)
    rows: list[tuple[str, str, str, float]] = []
    own, med = col("team_attainment"), col("bench_team_attainment")
    for i in np.flatnonzero((own < med) & pd.notna(weakest)):  # NaN compares False: no team, no action
        rows.append((ids[i], "team_attainment", f"start with {weakest[i]} (furthest behind quota): the team is "
                     f"at {own[i]:.0%} of quota vs {med[i]:.0%} for the role median", (med[i] - own[i]) / max(med[i], 1e-9)))  # fmt: skip
    own, med = col("coaching_hours_per_report"), col("bench_coaching_hours_per_report")
    for i in np.flatnonzero(own < med):
        rows.append((ids[i], "coaching", f"coach each report {med[i] - own[i]:.1f} more hours a month (now "
                     f"{own[i]:.1f}, role median {med[i]:.1f})", (med[i] - own[i]) / max(med[i], 1e-9)))  # fmt: skip
    own, med = col("days_to_operate"), col("bench_days_to_operate")
    for i in np.flatnonzero(own > med):
        rows.append((ids[i], "days_to_operate", f"shorten onboarding (Deliver → Operate) from {own[i]:.0f} to "
                     f"the role median {med[i]:.0f} days", (own[i] - med[i]) / max(own[i], 1e-9)))  # fmt: skip
    x = pd.DataFrame(rows, columns=["rep_id", "lever", "action", "gap"])
    return x.sort_values(["rep_id", "gap"], ascending=[True, False], kind="stable").reset_index(drop=True)
