"""B2B CRM history with a known win mechanism: reps (skill, ramp, attrition), accounts, opportunities
moving Find → Meet → Pitch → Sign (→ Deliver → Operate), losses that stall first, and close-date slips.

Each stage conversion is p_s = sigmoid(a_s + x·β) with x = deal drivers, so the true P(win) of every
deal is known at creation and after each stage; the history is censored at the as-of date.

With ``SimConfig.crm_post_outcome_columns`` the opportunities also get columns a sales team fills in
*after* the outcome (:data:`PLANTED_COLUMNS`: free-text tags, a quality rating, an activity score and an
innocently named profile index, all drawn from the outcome) and honest ones set at creation
(:data:`HONEST_COLUMNS`, one named like a score), each with its field history: the ground truth of the deal
model's leakage test. Off by default, and drawn from a stream of their own, so other worlds do not
change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts import CRMData
from salesplan.simulator.config import SimConfig

# the extra columns' names are the CRM's too: re-exported (the leakage test and benchmark read them here)
from salesplan.simulator.crm_columns import HONEST_COLUMNS as HONEST_COLUMNS
from salesplan.simulator.crm_columns import PLANTED_COLUMNS as PLANTED_COLUMNS
from salesplan.simulator.crm_columns import extra_columns

FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
         "Dana", "Robin", "Chris", "Pat", "Lee", "Noor", "Ines", "Mateo", "Yuki", "Priya")  # fmt: skip
LAST = ("Kim", "Garcia", "Smith", "Okafor", "Müller", "Rossi", "Novak", "Silva", "Chen", "Dubois",
        "Larsen", "Patel", "Cohen", "Ito", "Moreau", "Walsh", "Haddad", "Nowak", "Reyes", "Berg")  # fmt: skip
INDUSTRIES = ("Manufacturing", "Retail", "Healthcare", "Finance", "Technology", "Logistics", "Public")
SIZES = ("S", "M", "L")
SIZE_P = (0.5, 0.35, 0.15)
SIZE_AMOUNT = (8_000.0, 25_000.0, 80_000.0)  # median deal amount by account size
PRODUCTS = ("Platform", "Analytics", "Integrations", "Support", "Training")
PRODUCT_P = (0.35, 0.25, 0.15, 0.15, 0.1)
PRODUCT_AMOUNT = (1.3, 1.0, 0.8, 0.6, 0.4)
LEAD_SOURCES = ("Referral", "Inbound", "Outbound", "Partner", "Event")
LEAD_P = (0.15, 0.3, 0.3, 0.1, 0.15)
FUNNEL = ("Find", "Meet", "Pitch", "Sign", "Deliver", "Operate")
TRANSITIONS = ("Find→Meet", "Meet→Pitch", "Pitch→Sign")
INTERCEPTS = np.array([0.9, 0.6, 0.3])  # a_s of the three conversions
AMOUNT_REF = 20_000.0  # log-amount driver is log(amount / AMOUNT_REF)
EFFECTS: dict[str, float] = {
    "log_amount": -0.35,
    "rep_skill": 1.0,
    "ramp_gap": -1.2,  # × (1 − ramp share at creation): a rep at 25 % productivity loses 0.9 log-odds
    "competitor": -0.6,
    "lead_source=Referral": 0.6,
    "lead_source=Partner": 0.4,
    "lead_source=Inbound": 0.0,
    "lead_source=Event": -0.1,
    "lead_source=Outbound": -0.5,
    "size=S": 0.15,
    "size=M": 0.0,
    "size=L": -0.2,
    "product=Platform": 0.0,
    "product=Analytics": 0.2,
    "product=Integrations": -0.15,
    "product=Support": 0.3,
    "product=Training": 0.1,
}
# Mean days in a stage before moving on (gamma, shape 2); a deal that will be lost sits LOST_STALL times
# longer in its last stage before the Lost event.
STAGE_DAYS: dict[str, float] = {"Find": 10.0, "Meet": 14.0, "Pitch": 21.0, "Sign": 30.0, "Deliver": 60.0}
GAMMA_SHAPE = 2.0
LOST_STALL = 2.0
SLIP_RATE = {"won": 0.25, "lost": 0.7}  # expected close-date pushes per month open
RAMP = np.repeat([0.25, 0.5, 0.75, 1.0], 3)  # productivity share by month of tenure (≥ 12 → 1)
QUARTER_PUSH = np.array([0.85, 1.0, 1.3])  # deal creation by month within the quarter


@dataclass
class CRMResult:
    crm: CRMData
    stage_probs: pd.DataFrame  # per opportunity: p of each of the three conversions
    rep_skill: pd.Series
    initial_expected_close: pd.Series
    fate: pd.DataFrame  # uncensored: how every deal ends (also the ones still open at the as-of date)
    planted: tuple[str, ...] = ()  # post-outcome columns added to the opportunities (ground truth of leaks)
    draws: CRMDraws | None = None  # what ran the history, for the CRM after it (``simulator.crm_ahead``)


@dataclass
class CRMDraws:
    """The draws behind a CRM history that the CRM after it continues: per rep ``skill`` and deal
    ``volume``, the creation intensity's scale ``factor``, the accounts' regions and sizes, and per deal its
    path (``deals``), creation day and last expected close day after creation (``final_day``)."""

    regions: tuple[str, ...]
    skill: np.ndarray
    volume: np.ndarray
    factor: float
    acc_region: np.ndarray
    acc_size: np.ndarray
    deals: DealDraws
    day0: np.ndarray
    final_day: np.ndarray


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def ramp_share(tenure_days: np.ndarray) -> np.ndarray:
    """Productivity share of a rep by tenure (days since hire); before hire 0."""
    month = np.floor(np.asarray(tenure_days, dtype=float) / 30.44)
    idx = np.clip(month, 0, len(RAMP) - 1).astype(int)
    return np.where(month < 0, 0.0, np.where(month >= len(RAMP), 1.0, RAMP[idx]))


def creation_rate(
    reps: pd.DataFrame, weeks: pd.DatetimeIndex, until: pd.Timestamp, volume: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per rep × week, the deal-creation intensity before scaling (active, ramping by tenure, pushed at a
    quarter's end, times the rep's ``volume``) and its ramped-activity part (active × ramp share). A rep
    without an end date is active through ``until``. Shared by the history and its continuation."""
    hire = reps["hire_date"].to_numpy()
    stop = reps["end_date"].fillna(until + pd.Timedelta(days=1)).to_numpy()
    wk = weeks.to_numpy()
    tenure = (wk[None, :] - hire[:, None]) / np.timedelta64(1, "D")
    active = (wk[None, :] >= hire[:, None]) & (wk[None, :] + np.timedelta64(4, "D") < stop[:, None])
    ramped = active * ramp_share(tenure)
    month_in_q = (weeks.month.to_numpy() - 1) % 3
    return ramped * volume[:, None] * QUARTER_PUSH[month_in_q][None, :], ramped


def draw_creations(
    rng: np.random.Generator, lam: np.ndarray, weeks: pd.DatetimeIndex, until: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Deals drawn from the rep × week intensity ``lam``: each one's rep index and creation time (a day
    of its week, never after ``until``), sorted by time, then rep."""
    counts = rng.poisson(lam)
    rep_ix, week_ix = np.nonzero(counts)
    k = counts[rep_ix, week_ix]
    rep_ix, week_ix = np.repeat(rep_ix, k), np.repeat(week_ix, k)
    created = weeks.to_numpy()[week_ix] + rng.integers(0, 5, rep_ix.size).astype("timedelta64[D]")
    created = np.minimum(created, np.datetime64(until, "ns"))
    order = np.lexsort((rep_ix, created))
    return rep_ix[order], created[order]


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    """'O000001'-style ids without a Python loop per row."""
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _gamma_days(rng: np.random.Generator, mean: np.ndarray | float, n: int) -> np.ndarray:
    """Whole days ≥ 1 (rounded, so the sample mean stays at the gamma mean)."""
    return np.maximum(1.0, np.round(rng.gamma(GAMMA_SHAPE, np.asarray(mean) / GAMMA_SHAPE, n)))


@dataclass
class DealDraws:
    """One batch of deals' drivers and their whole (uncensored) funnel path: ``entry[:, j]`` is the day
    after creation a deal enters stage j if it gets there, ``lost_day`` the day a deal that is lost ends."""

    acc: np.ndarray
    size: np.ndarray
    product: np.ndarray
    amount: np.ndarray
    lead: np.ndarray
    competitor: np.ndarray
    xb: np.ndarray
    p: np.ndarray  # (n, 3) stage conversions
    reached: np.ndarray  # last stage reached, 0 Find .. 3 Sign
    won: np.ndarray
    entry: np.ndarray  # (n, 6)
    lost_day: np.ndarray


def draw_deals(
    rng: np.random.Generator, rep_ix: np.ndarray, created: np.ndarray, deal_region: np.ndarray,
    hire: np.ndarray, skill: np.ndarray, acc_region: np.ndarray, acc_size: np.ndarray,
) -> DealDraws:  # fmt: skip
    """Accounts (in the rep's region), drivers, true stage conversions and the path of each deal created
    at ``created`` by rep ``rep_ix`` (the one draw order every world's history depends on)."""
    n = rep_ix.size
    n_regions = int(acc_region.max()) + 1
    first = np.searchsorted(acc_region, np.arange(n_regions))
    per_region = np.bincount(acc_region, minlength=n_regions)
    acc = first[deal_region] + np.floor(rng.random(n) * per_region[deal_region]).astype(int)
    size = acc_size[acc]
    product = rng.choice(len(PRODUCTS), n, p=PRODUCT_P)
    amount = np.round(
        np.asarray(SIZE_AMOUNT)[size] * np.asarray(PRODUCT_AMOUNT)[product] * np.exp(rng.normal(0, 0.6, n)),
        -2,
    )
    amount = np.maximum(amount, 500.0)
    lead = rng.choice(len(LEAD_SOURCES), n, p=LEAD_P)
    competitor = rng.random(n) < 0.35
    ramp_at = ramp_share((created - hire[rep_ix]) / np.timedelta64(1, "D"))
    xb = (
        EFFECTS["log_amount"] * np.log(amount / AMOUNT_REF)
        + EFFECTS["rep_skill"] * skill[rep_ix]
        + EFFECTS["ramp_gap"] * (1 - ramp_at)
        + EFFECTS["competitor"] * competitor
        + np.array([EFFECTS[f"lead_source={s}"] for s in LEAD_SOURCES])[lead]
        + np.array([EFFECTS[f"size={s}"] for s in SIZES])[size]
        + np.array([EFFECTS[f"product={p}"] for p in PRODUCTS])[product]
    )
    p = _sigmoid(INTERCEPTS[None, :] + xb[:, None])  # (n, 3)

    # --- funnel path: last stage reached (0 Find .. 3 Sign), stage timing, stalls before a loss
    passed = rng.random((n, 3)) < p
    reached = np.cumprod(passed, axis=1).sum(axis=1)  # 0..3
    won = reached == 3
    dur = np.stack([_gamma_days(rng, STAGE_DAYS[s], n) for s in FUNNEL[:5]], axis=1)  # (n, 5)
    stall = _gamma_days(
        rng, np.array([STAGE_DAYS[s] for s in FUNNEL[:3]])[np.minimum(reached, 2)] * LOST_STALL, n
    )
    entry = np.concatenate([np.zeros((n, 1)), np.cumsum(dur, axis=1)], axis=1)  # day of entering stage j
    lost_day = entry[np.arange(n), np.minimum(reached, 2)] + stall
    return DealDraws(acc, size, product, amount, lead, competitor, xb, p, reached, won, entry, lost_day)


def censor(
    d: DealDraws, day0: np.ndarray, horizon: np.ndarray, ids: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """What the CRM shows of the deals ``horizon`` days after their creation: stage events (funnel order
    within a deal), outcome (won, lost or open), close day after creation (NaN while open), current stage."""
    n = ids.size
    won, reached, entry, lost_day = d.won, d.reached, d.entry, d.lost_day
    stage_j = np.tile(np.arange(6), n)
    deal_j = np.repeat(np.arange(n), 6)
    ev_day = entry.ravel()
    ok = (stage_j <= np.where(won, 5, reached)[deal_j]) & (ev_day <= horizon[deal_j])
    lost_ok = ~won & (lost_day <= horizon)
    ev_deal = np.concatenate([deal_j[ok], np.flatnonzero(lost_ok)])
    ev_stage = np.concatenate([np.asarray(FUNNEL)[stage_j[ok]], np.full(lost_ok.sum(), "Lost")])
    ev_rank = np.concatenate([stage_j[ok], np.full(lost_ok.sum(), 9)])
    ev_ts = day0[ev_deal] + np.concatenate([ev_day[ok], lost_day[lost_ok]]).astype("timedelta64[D]")
    eo = np.lexsort((ev_rank, ev_deal))
    events = pd.DataFrame(
        {"opportunity_id": ids[ev_deal[eo]], "stage": ev_stage[eo], "ts": ev_ts[eo].astype("datetime64[ns]")}
    )
    won_seen = won & (entry[:, 3] <= horizon)
    outcome = np.where(won_seen, "won", np.where(lost_ok, "lost", "open"))
    close_day = np.where(won_seen, entry[:, 3], np.where(lost_ok, lost_day, np.nan))
    last_stage = np.bincount(deal_j[ok], weights=None, minlength=n)  # events kept per deal ≥ 1 (Find)
    return events, outcome, close_day, np.asarray(FUNNEL)[last_stage - 1]


def close_dates(day0: Any, close_day: np.ndarray) -> pd.Series | pd.DatetimeIndex:
    """Close dates ``day0 + close_day`` days; open deals (NaN, or inf past the horizon) get NaT without
    the float → timedelta cast overflowing."""
    finite = np.isfinite(close_day)
    # NaN days make pandas' unit cast round NaN × 1e9·86400 (a numpy overflow warning): cast 0 and mask
    dates = pd.to_datetime(day0) + pd.to_timedelta(np.where(finite, close_day, 0.0), unit="D")
    return dates.where(finite)


def slips(
    rng: np.random.Generator, won: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected-close-date pushes of deals open from day ``lo`` to ``hi`` after creation (more for deals
    that end up lost): the deal, the day of each push and the new expected close day, pushed out from
    ``start`` (both strictly increase within a deal; sorted by deal and day)."""
    rate = np.where(won, SLIP_RATE["won"], SLIP_RATE["lost"])
    n_slip = np.minimum(rng.poisson(rate * np.maximum(hi - lo, 0) / 30.44), 6)
    s_deal = np.repeat(np.arange(won.size), n_slip)
    span = hi[s_deal] - lo[s_deal]
    s_day = lo[s_deal] + np.minimum(np.floor(rng.random(s_deal.size) * span) + 1, span)
    so = np.lexsort((s_day, s_deal))
    s_deal, s_day = s_deal[so], s_day[so]
    new_key = (np.diff(s_deal) != 0) | (np.diff(s_day) != 0)
    first_of_day = np.r_[True, new_key][: s_deal.size]  # one push per deal-day
    s_deal, s_day = s_deal[first_of_day], s_day[first_of_day]
    step = np.ceil(rng.gamma(2.0, 10.5, s_deal.size)) + 3  # days each push moves the date out
    csum = np.cumsum(step)
    starts = np.searchsorted(s_deal, s_deal)  # index of the deal's first push (sorted by deal)
    within = csum - np.r_[0.0, csum][starts]
    return s_deal, s_day, np.maximum(start[s_deal] + within, s_day + 7)


def _reps(cfg: SimConfig, rng: np.random.Generator, regions: tuple[str, ...]) -> pd.DataFrame:
    n = cfg.reps
    start, asof = cfg.weeks_index[0], cfg.asof
    history = (asof - start).days
    region = rng.permutation(np.arange(n) % len(regions))
    team_no = np.zeros(n, dtype=int)
    for g in range(len(regions)):  # teams of ≤ 6 reps within a region (loop over a handful of regions)
        members = np.flatnonzero(region == g)
        team_no[members] = np.arange(members.size) // 6
    team = [f"{regions[g]}-{k + 1}" for g, k in zip(region, team_no, strict=True)]
    managers = {t: f"{rng.choice(FIRST)} {rng.choice(LAST)}" for t in sorted(set(team))}
    during = rng.random(n) < 0.35
    offset = np.where(during, rng.uniform(0, history - 90, n), -rng.uniform(90, 1500, n))
    hire = start + pd.to_timedelta(np.floor(offset), unit="D")
    leave_after = rng.uniform(200, 900, n)
    leaves = (rng.random(n) < 0.25) & (offset + leave_after < history - 30)
    end = pd.Series(hire + pd.to_timedelta(np.floor(leave_after), unit="D")).where(leaves)
    return pd.DataFrame(
        {
            "rep_id": [f"R{i + 1:03d}" for i in range(n)],
            "name": [f"{a} {b}" for a, b in zip(rng.choice(FIRST, n), rng.choice(LAST, n), strict=True)],
            "team": team,
            "manager": [managers[t] for t in team],
            "region": np.asarray(regions)[region],
            "role": "AE",
            "hire_date": hire,
            "end_date": end.to_numpy(),
        }
    )


def simulate_crm(cfg: SimConfig, rng: np.random.Generator, regions: tuple[str, ...]) -> CRMResult:
    """Generate the CRM frames (unvalidated) and the per-deal truth."""
    reps = _reps(cfg, rng, regions)
    n_r = len(reps)
    weeks, asof = cfg.weeks_index, cfg.asof
    skill = rng.normal(0, 0.5, n_r)
    volume = np.exp(rng.normal(0, 0.25, n_r))

    # --- deal creation intensity on the rep × week grid, scaled to the configured number of deals
    hire = reps["hire_date"].to_numpy()
    lam, ramped = creation_rate(reps, weeks, asof, volume)
    factor = cfg.opportunities / max(lam.sum(), 1e-9)
    lam *= factor
    rep_ix, created = draw_creations(rng, lam, weeks, asof)
    n = rep_ix.size

    # --- accounts (in the rep's region) and deal drivers
    n_acc = max(20, n // 3)
    acc_region = np.sort(rng.integers(0, len(regions), n_acc))
    acc_region[: len(regions)] = np.arange(len(regions))  # every region has accounts
    acc_region.sort()
    acc_size = rng.choice(3, n_acc, p=SIZE_P)
    accounts = pd.DataFrame(
        {
            "account_id": _ids("A", n_acc, 5),
            "industry": rng.choice(INDUSTRIES, n_acc),
            "size": np.asarray(SIZES)[acc_size],
            "region": np.asarray(regions)[acc_region],
        }
    )
    deal_region = pd.Index(regions).get_indexer(pd.Index(reps["region"].to_numpy()[rep_ix]))
    d = draw_deals(rng, rep_ix, created, deal_region, hire, skill, acc_region, acc_size)
    acc, product, amount, lead = d.acc, d.product, d.amount, d.lead
    competitor, xb, p = d.competitor, d.xb, d.p
    won, reached, entry, lost_day = d.won, d.reached, d.entry, d.lost_day
    day0 = created.astype("datetime64[D]")
    horizon = (np.datetime64(asof, "D") - day0).astype(float)

    ids = _ids("O", n, 6)
    events, outcome, close_day, current = censor(d, day0, horizon, ids)

    # --- expected close date and its slips (more for deals that end up lost)
    initial = np.round(sum(STAGE_DAYS[s] for s in FUNNEL[:3]) * np.exp(rng.normal(0, 0.3, n)))
    open_until = np.minimum(np.where(won, entry[:, 3], lost_day), horizon)
    s_deal, s_day, new_day = slips(rng, won, np.zeros(n), open_until, initial)
    changes = pd.DataFrame(
        {
            "opportunity_id": ids[s_deal],
            "ts": (day0[s_deal] + s_day.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "expected_close_date": (day0[s_deal] + new_day.astype("timedelta64[D]")).astype("datetime64[ns]"),
        }
    )
    final_day = initial.copy()
    final_day[s_deal] = new_day  # sorted within deal, so the last write is the latest slip

    opps = pd.DataFrame(
        {
            "opportunity_id": ids,
            "account_id": accounts["account_id"].to_numpy()[acc],
            "rep_id": reps["rep_id"].to_numpy()[rep_ix],
            "product": np.asarray(PRODUCTS)[product],
            "amount": amount,
            "created_date": day0.astype("datetime64[ns]"),
            "stage": current,
            "expected_close_date": (day0 + final_day.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "close_date": close_dates(day0, close_day),
            "outcome": outcome,
            "lead_source": np.asarray(LEAD_SOURCES)[lead],
            "competitor": np.where(competitor, "yes", "no"),
            "region": reps["region"].to_numpy()[rep_ix],
            "team": reps["team"].to_numpy()[rep_ix],
        }
    )
    # quota: won amount per fully productive rep-quarter, set ~10 % above by management
    ramped_quarters = float(ramped.sum()) / 13.0
    per_quarter = float(amount[won].sum()) / max(ramped_quarters, 1.0)
    reps["quota"] = np.round(per_quarter * np.exp(rng.normal(0.1, 0.1, n_r)), -3)
    history = pd.DataFrame({"opportunity_id": pd.Series(dtype=object), "field": pd.Series(dtype=object),
                            "ts": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=object)})  # fmt: skip
    if cfg.crm_post_outcome_columns:
        columns, history = extra_columns(cfg, ids, day0, outcome, close_day, xb, horizon)
        for c, v in columns.items():
            opps[c] = v
    probs = pd.DataFrame(p, index=pd.Index(ids, name="opportunity_id"), columns=list(TRANSITIONS))
    fate = pd.DataFrame(
        {
            "final_outcome": np.where(won, "won", "lost"),
            "final_close_date": (day0 + np.where(won, entry[:, 3], lost_day).astype("timedelta64[D]")).astype(
                "datetime64[ns]"
            ),
            "furthest_stage": np.asarray(FUNNEL)[reached],
        },
        index=probs.index,
    )
    return CRMResult(
        crm=CRMData(
            reps=reps,
            opportunities=opps,
            accounts=accounts,
            stage_events=events,
            close_date_changes=changes,
            field_history=history,
        ),
        stage_probs=probs,
        rep_skill=pd.Series(skill, index=pd.Index(reps["rep_id"], name="rep_id"), name="rep_skill"),
        initial_expected_close=pd.Series(
            (day0 + initial.astype("timedelta64[D]")).astype("datetime64[ns]"), index=probs.index
        ),
        fate=fate,
        planted=PLANTED_COLUMNS if cfg.crm_post_outcome_columns else (),
        draws=CRMDraws(regions, skill, volume, factor, acc_region, acc_size, d, day0, final_day),
    )
