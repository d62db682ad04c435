"""The simulated activities that do not depend on how a deal is sold: the rows being built
(:class:`ActivityRows`), durations, the work after a win (contract, handoff, onboarding, orders, check-ins)
and everyone's internal work (admin, coaching, training). Used by :mod:`.activities`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ADMIN_MIN_PER_WEEK",
    "COACHING_MIN",
    "EXPAT_ADMIN",
    "FIRST_ORDER_DAYS",
    "POST_SALE_Q2",
    "POST_SALE_Q3",
    "SIZE_EFFECT",
    "ActivityRows",
    "draw_minutes",
    "internal_work",
    "post_sale_work",
    "sigmoid",
]

ADMIN_MIN_PER_WEEK = {"AE": 150.0, "manager": 240.0, "CSM": 120.0}
EXPAT_ADMIN = 1.3
COACHING_MIN = 45.0  # a manager's weekly 1:1 with each AE
FIRST_ORDER_DAYS = 60.0
POST_SALE_Q2, POST_SALE_Q3 = 0.8, 0.75  # P(active 30 d | first order), P(active 90 d | active 30 d)
SIZE_EFFECT = {"S": 0.3, "M": 0.0, "L": -0.3}


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class ActivityRows:
    """Column arrays of the activities as they are generated (one ``add`` per kind of activity)."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, *, rep: np.ndarray, opp: np.ndarray, day: np.ndarray, type_: str | np.ndarray, stage: str | None,
            channel: str | np.ndarray | None, minutes: np.ndarray, outcome: str | np.ndarray = "completed") -> None:  # fmt: skip
        n = len(rep)
        if n == 0:
            return

        def full(v: Any) -> np.ndarray:
            return np.asarray(v, dtype=object) if isinstance(v, np.ndarray) else np.full(n, v, dtype=object)

        self.parts.append({"rep": np.asarray(rep, int), "opp": np.asarray(opp, int), "day": np.asarray(day, float),
                           "type": full(type_), "stage": full(stage), "channel": full(channel),
                           "minutes": np.asarray(minutes, float), "outcome": full(outcome)})  # fmt: skip

    def frame(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


def draw_minutes(rng: np.random.Generator, mean: float | np.ndarray, n: int) -> np.ndarray:
    """Durations around ``mean`` (lognormal, 30 % spread), in whole 5 minutes, at least 5."""
    return np.maximum(5.0, np.round(np.asarray(mean) * np.exp(rng.normal(-0.045, 0.3, n)) / 5.0) * 5.0)


def drawdraw_minutes(rng: np.random.Generator, mean: float | np.ndarray, n: int) -> np.ndarray:
    """Durations around ``mean`` (lognormal, 30 % spread), in whole 5 minutes, at least 5."""
    return np.maximum(5.0, np.round(np.asarray(mean) * np.exp(rng.normal(-0.045, 0.3, n)) / 5.0) * 5.0)


def post_sale_work(rows: ActivityRows, rng: np.random.Generator, entry: np.ndarray, won_final: np.ndarray, owner: np.ndarray,
               csm: np.ndarray, size: np.ndarray, asof_day: float, meet_channel: Callable[[np.ndarray], np.ndarray], travel: Callable[..., None]) -> dict[str, float]:  # fmt: skip
    """Sign: contract and handoff; Deliver: onboarding sessions; Operate: orders (first, 30 d, 90 d, monthly)."""
    n = len(owner)
    sign, deliver, operate = entry[:, 3], entry[:, 4], entry[:, 5]
    idx = np.flatnonzero(~np.isnan(sign))
    span = np.where(np.isnan(deliver[idx]), 20.0, deliver[idx] - sign[idx])  # both happen before Deliver
    rows.add(rep=owner[idx], opp=idx, day=sign[idx] + span * rng.uniform(0.0, 0.3, idx.size), type_="contract",
             stage="Sign", channel="online", minutes=draw_minutes(rng, 60.0, idx.size))  # fmt: skip
    day = sign[idx] + span * rng.uniform(0.35, 0.95, idx.size)
    for who in (owner[idx], csm[idx]):
        rows.add(rep=who, opp=idx, day=day, type_="handoff", stage="Sign", channel="online",
                 minutes=draw_minutes(rng, 45.0, idx.size))  # fmt: skip
    sessions = 1 + rng.binomial(3, 0.5, n)  # drawn for every deal: the truth averages over all won deals
    q1 = sigmoid(-0.4 + 0.7 * (sessions - 2) + pd.Series(size).map(SIZE_EFFECT).fillna(0.0).to_numpy())
    idx = np.flatnonzero(~np.isnan(deliver))
    opp = np.repeat(idx, sessions[idx])
    span = np.where(np.isnan(operate[opp]), 50.0, operate[opp] - deliver[opp])
    day = deliver[opp] + span * rng.uniform(0.05, 0.95, opp.size)
    ch = meet_channel(csm[opp])
    rows.add(rep=csm[opp], opp=opp, day=day, type_="onboarding", stage="Deliver", channel=ch,
             minutes=draw_minutes(rng, 90.0, opp.size))  # fmt: skip
    travel(csm[opp], opp, day, "Deliver", ch)
    # Operate: first order within the window or never; then activity at 30 and 90 days
    first = rng.random(n) < q1
    active30 = first & (rng.random(n) < POST_SALE_Q2)
    active90 = active30 & (rng.random(n) < POST_SALE_Q3)
    fo = operate + rng.uniform(2, FIRST_ORDER_DAYS - 1, n)
    idx = np.flatnonzero(~np.isnan(operate) & first)
    rows.add(rep=csm[idx], opp=idx, day=fo[idx], type_="order", stage="Operate", channel="online",
             minutes=draw_minutes(rng, 10.0, idx.size), outcome="placed")  # fmt: skip
    # windows kept a day inside their bounds: ``_finish`` moves each activity to a random hour of its day
    for live, lo, hi in ((active30, 3, 29), (active90, 31, 59), (active90, 62, 89)):
        if lo == 31:
            live = live & (rng.random(n) < 0.7)
        idx = np.flatnonzero(~np.isnan(operate) & live)
        rows.add(rep=csm[idx], opp=idx, day=fo[idx] + rng.uniform(lo, hi, idx.size), type_="order",
                 stage="Operate", channel="online", minutes=draw_minutes(rng, 10.0, idx.size), outcome="placed")  # fmt: skip
    # customers still active after 90 days keep ordering about monthly; CSM check-ins at 30 and 90 days
    idx = np.flatnonzero(~np.isnan(operate) & active90)
    months = np.clip(((asof_day - fo[idx] - 90) // 30).astype(int), 0, 24) if idx.size else np.zeros(0, int)
    opp = np.repeat(idx, months)
    k = np.arange(opp.size) - np.repeat(np.cumsum(months) - months, months)
    rows.add(rep=csm[opp], opp=opp, day=fo[opp] + 90 + 30 * (k + 1) - rng.uniform(0, 10, opp.size), type_="order",
             stage="Operate", channel="online", minutes=draw_minutes(rng, 10.0, opp.size), outcome="placed")  # fmt: skip
    for d in (30.0, 90.0):
        idx = np.flatnonzero(~np.isnan(operate) & first)
        rows.add(rep=csm[idx], opp=idx, day=fo[idx] + d + rng.uniform(0, 3, idx.size), type_="check_in",
                 stage="Operate", channel="call", minutes=draw_minutes(rng, 20.0, idx.size))  # fmt: skip
    w = won_final
    return {
        "Sign": 1.0,
        "Deliver": 1.0,
        "Operate": float(q1[w].mean()) if w.any() else float("nan"),
        "First order": POST_SALE_Q2,
        "Active 30d": POST_SALE_Q3,
    }


def internal_work(rows: ActivityRows, rng: np.random.Generator, people: pd.DataFrame, expat: np.ndarray, base: pd.Timestamp,
              asof_day: float, rep_end_day: np.ndarray) -> None:  # fmt: skip
    """Weekly admin of everyone, the managers' 1:1 coaching of each AE and monthly AE training."""
    hire = ((people["hire_date"].fillna(base) - base) / pd.Timedelta(days=1)).to_numpy(float)
    first_week = np.maximum(hire, 7.0) // 7  # day 7 is the first day of the history
    last_week = np.minimum(rep_end_day, asof_day) // 7
    weeks = np.maximum(last_week - first_week, 0).astype(int)
    person = np.repeat(np.arange(len(people)), weeks)
    week = np.repeat(first_week, weeks) + (
        np.arange(person.size) - np.repeat(np.cumsum(weeks) - weeks, weeks)
    )
    role = people["role"].to_numpy()[person]
    mean = pd.Series(role).map(ADMIN_MIN_PER_WEEK).to_numpy() * np.where(expat[person], EXPAT_ADMIN, 1.0)
    for half in (0, 1):  # admin in two sittings a week
        rows.add(rep=person, opp=np.full(person.size, -1), day=week * 7 + 1 + 2 * half + rng.uniform(0, 2, person.size),
                 type_="admin", stage=None, channel=None, minutes=draw_minutes(rng, mean / 2, person.size))  # fmt: skip
    ae = role == "AE"
    mgr_of_team = dict(zip(people.loc[people["role"] == "manager", "team"], np.flatnonzero(people["role"] == "manager"), strict=True))  # fmt: skip
    mgr = pd.Series(people["team"].to_numpy()[person[ae]]).map(mgr_of_team).to_numpy(int)
    ch = np.where(rng.random(mgr.size) < 0.5, "visit", "call")
    rows.add(rep=mgr, opp=np.full(mgr.size, -1), day=week[ae] * 7 + rng.uniform(0, 5, mgr.size), type_="coaching",
             stage=None, channel=ch, minutes=draw_minutes(rng, COACHING_MIN, mgr.size))  # fmt: skip
    monthly = ae & (week % 4 == 0)
    rows.add(rep=person[monthly], opp=np.full(int(monthly.sum()), -1), day=week[monthly] * 7 + rng.uniform(0, 5, int(monthly.sum())),
             type_="training", stage=None, channel="online", minutes=draw_minutes(rng, 120.0, int(monthly.sum())))  # fmt: skip
