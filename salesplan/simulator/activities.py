"""Sales activities consistent with the simulated CRM: what each person did on each deal in each stage, how
long it took, plus travel, admin, managers' coaching, Deliver/Operate work after a win, and planted habits.

Who: the CRM's reps (role ``AE``), one manager per team (``M..``, coaching, joint visits, deal reviews) and
one customer-success manager per region (``C..``, onboarding and account care), each ``expatriate`` or
``local`` (:data:`LOCATION_SHARE`). Expatriates travel longer and spend more on admin (:data:`TRAVEL_MIN`,
:data:`.activity_work.ADMIN_MIN_PER_WEEK`).

Deals: in every stage spell the owner runs a short core sequence (:data:`CORE`), longer on deals that will
move on. Its *cadence* is causal: a deal handled to cadence (first action within :data:`ADHERENT_FIRST`
days of entering the stage, then every few days) moves on with log-odds :data:`CADENCE_LOG_ODDS` higher than
one that is not. The CRM's outcomes are fixed, so the cadence is drawn from its posterior given the
outcome, which gives exactly the joint law of that causal model (:func:`_cadence`); the reps' propensity to
keep cadence rises with their skill, so rep-level correlation overstates the effect and within-rep
comparisons are needed.

After a win (Sign → Deliver → Operate, from the CRM): contract and handoff, the CSM's onboarding sessions
(more sessions → likelier first order), then orders: a first order within :data:`.activity_work.FIRST_ORDER_DAYS` of
Operate or never, active at 30 days (a repeat order in the 30 days after the first), active at 90 days (an
order in days 61–90); :data:`POST_SALE` gives the true rates.

Planted habits (:data:`HABITS`, ground truth of the inefficiency finder): some AEs keep visiting deals
that will be lost at Meet, chase cold leads with call after call, rewrite proposals on dying deals, and
visit prospects in person at Find where it changes nothing. Drawn from a stream of their own, so the CRM
and every other table of a world are unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts import ACTIVITY_COLUMNS, CRMData
from salesplan.simulator.activity_work import (
    FIRST_ORDER_DAYS,
    ActivityRows,
    draw_minutes,
    internal_work,
    post_sale_work,
    sigmoid,
)
from salesplan.simulator.config import SimConfig
from salesplan.simulator.crm import FUNNEL

__all__ = ["HABITS", "ActivityResult", "ActivityTruth", "simulate_activities"]

LOCATION_SHARE = 0.3  # share of expatriates among every role
AES_PER_CSM = 40  # account executives one customer success manager serves
TRAVEL_MIN = {"local": 40.0, "expatriate": 65.0}  # mean one-way travel before a visit
VISIT_SHARE = {"local": 0.6, "expatriate": 0.4}  # meetings and demos in person rather than online
# Core sequence per pre-sale stage: (type, channel, mean minutes); channel "meet" = visit or online.
CORE: dict[str, tuple[tuple[str, str, float], ...]] = {
    "Find": (("call", "call", 15.0), ("email", "message", 5.0), ("call", "call", 15.0)),
    "Meet": (("meeting", "meet", 60.0), ("follow_up", "message", 10.0), ("meeting", "meet", 60.0)),
    "Pitch": (("demo", "meet", 90.0), ("proposal", "online", 120.0), ("negotiation", "call", 45.0)),
}
EXTRA_P = {"Find": (0.6, 0.35), "Meet": (0.6, 0.35), "Pitch": (0.9, 0.6)}
"""Chance of each core action after the first, on deals that will move on / not (a deal that moves on fits
its actions in before it does)."""
ADHERENT_FIRST = (0.0, 2.0)  # days from entering the stage to the first action, on cadence
LATE_FIRST = (4.0, 10.0)  # ... off cadence
ADHERENT_GAP = (2.0, 5.0)
LATE_GAP = (8.0, 18.0)
CADENCE_LOG_ODDS = 0.8  # causal effect of keeping cadence on each pre-sale conversion


@dataclass(frozen=True)
class Habit:
    """A planted inefficiency: the pattern it leaves (role, stage, type, channel, from the ``min_ordinal``-th
    such activity of a deal in that stage on) and which deals get it."""

    name: str
    role: str
    stage: str
    type: str
    channel: str
    min_ordinal: int
    description: str


HABITS: tuple[Habit, ...] = (
    Habit("repeat_visits", "AE", "Meet", "meeting", "visit", 2,
          "keeps visiting deals that will be lost at Meet (2–6 more visits with travel)"),
    Habit("cold_call_chasing", "AE", "Find", "call", "call", 2,
          "chases leads that will never meet with 4–10 more calls"),
    Habit("proposal_rewrites", "AE", "Pitch", "proposal", "online", 2,
          "rewrites the proposal of deals that will be lost at Pitch 2–4 more times"),
    Habit("prospect_visits", "AE", "Find", "meeting", "visit", 1,
          "visits prospects in person at Find (with travel), which converts no better than a call"),
)  # fmt: skip
HABIT_SHARE = 0.3  # of AEs per habit, independently


@dataclass
class ActivityTruth:
    """What generated the activities: the planted habits and who has them, the cadence effect, each AE's
    propensity to keep cadence, and the true post-sale conversion rates (over won deals)."""

    habits: tuple[Habit, ...]
    habit_reps: dict[str, list[str]]
    cadence_log_odds: float
    cadence_propensity: pd.Series
    post_sale: dict[str, float]
    first_order_days: float = FIRST_ORDER_DAYS
    planted_hours: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "habits": [
                {**h.__dict__, "reps": self.habit_reps[h.name], "hours": self.planted_hours.get(h.name)}
                for h in self.habits
            ],
            "cadence_log_odds": self.cadence_log_odds,
            "cadence_propensity": {str(k): float(v) for k, v in self.cadence_propensity.items()},
            "post_sale": self.post_sale,
            "first_order_days": self.first_order_days,
        }


@dataclass
class ActivityResult:
    activities: pd.DataFrame
    reps: pd.DataFrame  # everyone who logs activities: the CRM's AEs, managers, CSMs (role, location_group)
    truth: ActivityTruth


def _people(crm: CRMData, rng: np.random.Generator) -> pd.DataFrame:
    """AEs from the CRM plus a manager per team and CSMs per region (one per :data:`AES_PER_CSM` AEs, at
    least one), each with a location group."""
    reps = crm.reps
    teams = reps.drop_duplicates("team").sort_values("team")
    regions = sorted(reps["region"].unique())
    start = reps["hire_date"].min()
    managers = pd.DataFrame({
        "rep_id": [f"M{i + 1:02d}" for i in range(len(teams))], "name": teams["manager"].to_numpy(),
        "team": teams["team"].to_numpy(), "manager": None, "region": teams["region"].to_numpy(),
        "role": "manager", "hire_date": start, "end_date": pd.NaT,
    })  # fmt: skip
    per_region = reps.groupby("region").size()
    csm_region = [r for r in regions for _ in range(max(1, -(-int(per_region[r]) // AES_PER_CSM)))]
    csm_name = [f"CSM {r}" if per_region[r] <= AES_PER_CSM else f"CSM {r} {j + 1}"
                for r in regions for j in range(max(1, -(-int(per_region[r]) // AES_PER_CSM)))]  # fmt: skip
    csms = pd.DataFrame({
        "rep_id": [f"C{i + 1:02d}" for i in range(len(csm_region))], "name": csm_name,
        "team": [f"{r}-CS" for r in csm_region], "manager": None, "region": csm_region, "role": "CSM",
        "hire_date": start, "end_date": pd.NaT,
    })  # fmt: skip
    cols = ["rep_id", "name", "team", "manager", "region", "role", "hire_date", "end_date"]
    people = pd.concat([reps[cols], managers, csms], ignore_index=True)
    people["location_group"] = np.where(rng.random(len(people)) < LOCATION_SHARE, "expatriate", "local")
    return people


def _stage_days(crm: CRMData, base: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Entry day of each stage per deal (NaN when not reached by the as-of date) and the Lost day."""
    ids = pd.Index(crm.opportunities["opportunity_id"])
    ev = crm.stage_events
    row = ids.get_indexer(ev["opportunity_id"])
    day = ((ev["ts"] - base) / pd.Timedelta(days=1)).to_numpy(float)
    rank = ev["stage"].map({s: i for i, s in enumerate(FUNNEL)}).to_numpy(float)
    entry = np.full((len(ids), len(FUNNEL)), np.nan)
    ok = ~np.isnan(rank)
    entry[row[ok], rank[ok].astype(int)] = day[ok]
    lost = np.full(len(ids), np.nan)
    lost[row[~ok]] = day[~ok]
    return entry, lost


def _cadence(p: np.ndarray, passed: np.ndarray, pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Latent cadence per deal and transition, drawn given the (fixed) outcome so that the joint law is the
    causal model a ~ Bern(pi), pass ~ Bern(sigmoid(l + gamma·a)), with l solved per deal so the marginal
    pass rate stays the CRM's p (bisection, vectorised)."""
    g = CADENCE_LOG_ODDS
    lo, hi = np.full(p.shape, -30.0), np.full(p.shape, 30.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        f = pi * sigmoid(mid + g) + (1 - pi) * sigmoid(mid) - p
        lo, hi = np.where(f < 0, mid, lo), np.where(f < 0, hi, mid)
    l0 = (lo + hi) / 2
    q1 = sigmoid(l0 + g)
    post = np.where(passed, pi * q1 / np.maximum(p, 1e-12), pi * (1 - q1) / np.maximum(1 - p, 1e-12))
    return rng.random(p.shape) < np.clip(post, 0, 1)


def simulate_activities(
    cfg: SimConfig, crm: CRMData, stage_probs: pd.DataFrame, fate: pd.DataFrame, rep_skill: pd.Series
) -> ActivityResult:
    """Activities of the (unvalidated) simulated CRM; see the module doc for what is drawn and why."""
    rng = np.random.default_rng([cfg.seed, 22])  # a stream of its own: the CRM and sell-out stay as they are
    people = _people(crm, rng)
    base = cfg.weeks_index[0] - pd.Timedelta(days=7)
    asof_day = (cfg.asof - base) / pd.Timedelta(days=1)
    o = crm.opportunities
    n = len(o)
    pid = pd.Index(people["rep_id"])
    owner = pid.get_indexer(o["rep_id"])
    expat = (people["location_group"] == "expatriate").to_numpy()
    team_mgr = dict(
        zip(
            people.loc[people["role"] == "manager", "team"],
            np.flatnonzero(people["role"] == "manager"),
            strict=True,
        )
    )
    is_csm = (people["role"] == "CSM").to_numpy()
    region_csms = {
        r: np.flatnonzero(is_csm & (people["region"] == r).to_numpy()) for r in people.loc[is_csm, "region"]
    }
    manager = np.array([team_mgr[t] for t in o["team"]])
    # a customer keeps one CSM, picked by account (no random draw: every other stream stays as it was)
    account_code = pd.factorize(o["account_id"])[0]
    csm = np.array(
        [region_csms[r][a % len(region_csms[r])] for r, a in zip(o["region"], account_code, strict=True)]
    )
    size = o["account_id"].map(crm.accounts.set_index("account_id")["size"]).to_numpy()
    entry, lost = _stage_days(crm, base)
    reached = (
        pd.Series(fate["furthest_stage"].to_numpy()).map({s: i for i, s in enumerate(FUNNEL)}).to_numpy()
    )
    won_final = (fate["final_outcome"] == "won").to_numpy()
    end_rep = people["end_date"].fillna(cfg.asof + pd.Timedelta(days=1))
    rep_end_day = ((end_rep - base) / pd.Timedelta(days=1)).to_numpy(float)

    ae = people["role"].eq("AE").to_numpy()
    ae_ids = people.loc[ae, "rep_id"].to_numpy()
    skill = rep_skill.reindex(ae_ids).fillna(0.0).to_numpy()
    pi_rep = np.zeros(len(people))
    pi_rep[ae] = sigmoid(0.2 + 2.0 * skill + rng.normal(0, 0.3, ae.sum()))
    habit_of = {h.name: np.zeros(len(people), bool) for h in HABITS}
    for h in HABITS:
        habit_of[h.name][np.flatnonzero(ae)] = rng.random(int(ae.sum())) < HABIT_SHARE
    rows = ActivityRows()
    planted: dict[str, np.ndarray] = {}

    def meet_channel(who: np.ndarray) -> np.ndarray:
        visit = rng.random(len(who)) < np.where(expat[who], VISIT_SHARE["expatriate"], VISIT_SHARE["local"])
        return np.where(visit, "visit", "online")

    def travel(who: np.ndarray, opp: np.ndarray, day: np.ndarray, stage: str, channel: np.ndarray) -> None:
        v = channel == "visit"
        mean = np.where(expat[who[v]], TRAVEL_MIN["expatriate"], TRAVEL_MIN["local"])
        mins = draw_minutes(rng, mean, int(v.sum()))
        rows.add(rep=who[v], opp=opp[v], day=day[v] - mins / 1440.0, type_="travel", stage=stage, channel="visit",
                 minutes=mins)  # fmt: skip

    p_all = stage_probs.to_numpy()
    passed = reached[:, None] > np.arange(3)[None, :]
    adherent = _cadence(p_all, passed, pi_rep[owner][:, None], rng)
    for j, stage in enumerate(("Find", "Meet", "Pitch")):
        start, nxt = entry[:, j], entry[:, j + 1]
        has = ~np.isnan(start)
        stop = np.minimum(np.where(np.isnan(nxt), np.where(np.isnan(lost), asof_day, lost), nxt), asof_day)
        length = np.maximum(stop - start, 0.5)
        a = adherent[:, j]
        first = np.where(a, rng.uniform(*ADHERENT_FIRST, n), rng.uniform(*LATE_FIRST, n))
        first = np.where(
            first < length, first, length * rng.uniform(0.2, 0.9, n)
        )  # the deal moved on: acted before
        t = start + first
        done: dict[str, np.ndarray] = {}
        for k, (typ, chan, mins) in enumerate(CORE[stage]):
            if k:
                gap = np.where(a, rng.uniform(*ADHERENT_GAP, n), rng.uniform(*LATE_GAP, n))
                t = t + gap
                t = np.where(passed[:, j] & (t >= stop), stop - rng.uniform(0.05, 0.5, n) * length, t)
                go = has & (rng.random(n) < np.where(passed[:, j], *EXTRA_P[stage])) & (t < stop)
            else:
                go = has
            done[typ] = done.get(typ, np.zeros(n, bool)) | go
            idx = np.flatnonzero(go)
            ch = meet_channel(owner[idx]) if chan == "meet" else np.full(idx.size, chan)
            outcome = (
                np.where(rng.random(idx.size) < 0.35, "no_answer", "connected")
                if typ == "call"
                else "completed"
            )
            rows.add(rep=owner[idx], opp=idx, day=t[idx], type_=typ, stage=stage, channel=ch,
                     minutes=draw_minutes(rng, mins, idx.size), outcome=outcome)  # fmt: skip
            travel(owner[idx], idx, t[idx], stage, ch)
            if stage == "Find" and k == 0:  # account research before the first touch
                rows.add(rep=owner[idx], opp=idx, day=t[idx] - 0.05, type_="research", stage=stage,
                         channel="online", minutes=draw_minutes(rng, 30.0, idx.size))  # fmt: skip
        if stage == "Pitch":  # managers: a deal review of every other deal, joint demos where it will close
            idx = np.flatnonzero(has & (rng.random(n) < 0.5))
            rows.add(rep=manager[idx], opp=idx, day=start[idx] + length[idx] * rng.uniform(0.1, 0.8, idx.size),
                     type_="deal_review", stage=stage, channel="online", minutes=draw_minutes(rng, 20.0, idx.size))  # fmt: skip
            idx = np.flatnonzero(has & (rng.random(n) < np.where(passed[:, 2], 0.35, 0.12)))
            day = start[idx] + length[idx] * rng.uniform(0.2, 0.9, idx.size)
            rows.add(rep=manager[idx], opp=idx, day=day, type_="demo", stage=stage, channel="visit",
                     minutes=draw_minutes(rng, 90.0, idx.size))  # fmt: skip
            travel(manager[idx], idx, day, stage, np.full(idx.size, "visit"))
        # --- planted habits on this stage
        for h in HABITS:
            if h.stage != stage:
                continue
            who = habit_of[h.name][owner] & has
            if h.name == "prospect_visits":
                idx = np.flatnonzero(who & (rng.random(n) < 0.6))
                k_extra = np.ones(idx.size, int)
            else:
                # on deals that will be lost here, after the first such activity of the core sequence
                idx = np.flatnonzero(who & (reached == j) & ~won_final & done.get(h.type, has))
                lam = {
                    "repeat_visits": (2, 1.5),
                    "cold_call_chasing": (4, 3.0),
                    "proposal_rewrites": (2, 1.0),
                }[h.name]
                k_extra = lam[0] + rng.poisson(lam[1], idx.size)
            opp = np.repeat(idx, k_extra)
            day = start[opp] + length[opp] * rng.uniform(0.3, 1.0, opp.size)  # after the first core action
            mins = {"meeting": 60.0, "call": 15.0, "proposal": 120.0}[h.type]
            ch = np.full(opp.size, h.channel)
            m = draw_minutes(rng, mins, opp.size)
            rows.add(rep=owner[opp], opp=opp, day=day, type_=h.type, stage=stage, channel=ch, minutes=m,
                     outcome="no_answer" if h.type == "call" else "completed")  # fmt: skip
            travel(owner[opp], opp, day, stage, ch)
            planted[h.name] = m

    post = post_sale_work(rows, rng, entry, won_final, owner, csm, size, asof_day, meet_channel, travel)
    internal_work(rows, rng, people, expat, base, asof_day, rep_end_day)
    return _finish(
        rows, rng, people, o, rep_end_day, asof_day, base, habit_of, planted, pi_rep, ae_ids, ae, post
    )


def _finish(rows: ActivityRows, rng: np.random.Generator, people: pd.DataFrame, o: pd.DataFrame, rep_end_day: np.ndarray, asof_day: float,
            base: pd.Timestamp, habit_of: dict[str, np.ndarray], planted: dict[str, np.ndarray], pi_rep: np.ndarray,
            ae_ids: np.ndarray, ae: np.ndarray, post: dict[str, float]) -> ActivityResult:  # fmt: skip
    """Working hours, censoring at the as-of date and the rep's leaving, ids in time order, the truth."""
    f = rows.frame()
    hour = 8.0 + rng.uniform(0, 9, len(f["day"]))
    day = np.floor(f["day"]) + hour / 24.0
    keep = (day <= asof_day + 1) & (day < rep_end_day[f["rep"]]) & (day >= 0)
    order = np.argsort(day[keep], kind="stable")
    sel = {k: v[keep][order] for k, v in f.items()}
    ts = base + pd.to_timedelta(np.round(day[keep][order] * 1440.0), unit="min")
    opp = sel["opp"]
    has_opp = opp >= 0
    opp_ids = o["opportunity_id"].to_numpy(dtype=object)
    acc_ids = o["account_id"].to_numpy(dtype=object)
    n = len(ts)
    acts = pd.DataFrame({
        "activity_id": np.char.add("T", np.char.zfill(np.arange(1, n + 1).astype(str), 8)).astype(object),
        "rep_id": people["rep_id"].to_numpy(dtype=object)[sel["rep"]],
        "opportunity_id": np.where(has_opp, opp_ids[np.maximum(opp, 0)], None),
        "account_id": np.where(has_opp, acc_ids[np.maximum(opp, 0)], None),
        "type": sel["type"], "stage": sel["stage"], "started_at": ts.to_numpy(), "minutes": sel["minutes"],
        "channel": sel["channel"], "outcome": sel["outcome"],
    })[list(ACTIVITY_COLUMNS)]  # fmt: skip
    hours = {h.name: float(planted.get(h.name, np.zeros(0)).sum() / 60.0) for h in HABITS}  # before travel
    truth = ActivityTruth(
        habits=HABITS,
        habit_reps={h.name: sorted(people["rep_id"].to_numpy()[habit_of[h.name]].tolist()) for h in HABITS},
        cadence_log_odds=CADENCE_LOG_ODDS,
        cadence_propensity=pd.Series(pi_rep[ae], index=pd.Index(ae_ids, name="rep_id"), name="propensity"),
        post_sale=post,
        planted_hours=hours,
    )
    return ActivityResult(acts, people, truth)
