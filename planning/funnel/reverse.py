"""Reverse funnel: from a quarter's won-value target back to the signings, pitches, meetings and new
deals it takes, when each must enter the funnel, and how many reps it takes to carry them; and the
empirical-Bayes rep rates (``shrink``) a per-rep plan should run on.

Volumes run backwards through the step conversion rates (signings = target / deal size, pitches =
signings / P(Pitch→Sign), ...). Timing runs backwards through the days deals spend in each stage: to
sign inside the quarter a deal must enter Pitch between quarter start and quarter end minus the time in
Pitch, and so on up the funnel. ``forward_funnel`` feeds volumes back down the same rates, so a plan can
be checked: forward(reverse(target)) == target.

With the selling hours each deal takes in each stage (``FunnelInputs.stage_hours``, measured from activities
by ``planning.process.capacity``), the plan also says how many hours its deals need, and ``reps_needed``
staffs for whichever binds: the won value reps deliver, or the hours they have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesplan.contracts.crm import CRMData
from salesplan.errors import ConfigError, InsufficientDataError
from salesplan.planning.funnel.conversion import FUNNEL_STAGES, FunnelResult, funnel
from salesplan.planning.funnel.durations import velocity
from salesplan.planning.funnel.paths import CUTS, DealPaths, deal_paths
from salesplan.planning.funnel.reps import Productivity, Ramp

__all__ = [
    "PRE_SIGN",
    "FunnelInputs",
    "ReversePlan",
    "Staffing",
    "capacity",
    "fit_beta_prior",
    "forward_funnel",
    "inputs_from_history",
    "ramped_productivity",
    "reps_needed",
    "reverse_funnel",
    "reverse_funnel_by",
    "shrink",
]

PRE_SIGN: tuple[str, ...] = FUNNEL_STAGES[:-1]  # Find, Meet, Pitch: the stages a deal converts out of


@dataclass(frozen=True)
class FunnelInputs:
    """What a plan runs on: P(next | stage) for Find, Meet, Pitch; average won deal size; days in each
    of those stages before moving on."""

    conversion: Mapping[str, float]
    deal_size: float
    stage_days: Mapping[str, float]
    stage_hours: Mapping[str, float] | None = None
    """Selling hours per deal entering Find, Meet, Pitch (won or lost) and per signing (``Sign``: contract
    and handoff); None when no activities were measured."""

    def __post_init__(self) -> None:
        missing = [s for s in PRE_SIGN if s not in self.conversion or s not in self.stage_days]
        if missing:
            raise ConfigError(
                f"FunnelInputs lacks stage(s) {missing}. Fix: give conversion and days for {list(PRE_SIGN)}"
            )
        bad = {s: p for s, p in self.conversion.items() if not (np.isfinite(p) and 0 < p <= 1)}
        if bad:
            raise ConfigError(
                f"conversion rates {bad} must be in (0, 1]. Fix: check the funnel cut has resolved deals"
            )
        if not (np.isfinite(self.deal_size) and self.deal_size > 0):
            raise ConfigError(f"deal_size={self.deal_size} must be > 0 (average won amount)")
        neg = {s: d for s, d in self.stage_days.items() if not (np.isfinite(d) and d >= 0)}
        if neg:
            raise ConfigError(f"stage days {neg} must be >= 0")
        if self.stage_hours is not None:
            bad_h = {
                s: h
                for s, h in self.stage_hours.items()
                if s not in (*PRE_SIGN, "Sign") or not (np.isfinite(h) and h >= 0)
            }
            if bad_h:
                raise ConfigError(f"stage hours {bad_h}: give hours >= 0 for {[*PRE_SIGN, 'Sign']} only")


@dataclass(frozen=True)
class ReversePlan:
    """``stages``: per stage the deals that must enter it (``needed``), the conversion out of it, the lag
    from entering it to signing and the window [``enter_from``, ``enter_by``] to enter it."""

    target: float
    quarter: pd.Period
    signings: float
    stages: pd.DataFrame
    hours: float | None = None
    """Selling hours the plan's deals take (None without ``stage_hours``)."""


@dataclass(frozen=True)
class Staffing:
    """Capacity of the current reps over the period, what one new hire adds, and the hires needed."""

    target: float
    existing_capacity: float
    capacity_per_hire: float
    hires_needed: int
    ramped_rep_equivalents: float
    hires_for_value: int | None = None
    hours_needed: float | None = None
    existing_hours: float | None = None
    hours_per_hire: float | None = None
    hires_for_time: int | None = None
    binding: str = "value"
    """What sets ``hires_needed``: "value" (won value the reps deliver) or "time" (the hours they have)."""


def fit_beta_prior(k: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Method-of-moments beta-binomial prior (alpha, beta) of units with k successes out of n trials.

    Solves E[S] for S = sum n_i (p_i - p)^2, which corrects the spread of raw rates for binomial noise;
    when the spread is all noise the prior is (near) a point mass at the pooled rate (full pooling)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    keep = n > 0
    k, n = k[keep], n[keep]
    if n.sum() == 0:
        return np.nan, np.nan
    mu = k.sum() / n.sum()
    m, total = len(n), n.sum()
    kappa_max = 1e6
    if m < 2 or mu <= 0 or mu >= 1:
        return mu * kappa_max, (1 - mu) * kappa_max
    s = float(np.sum(n * (k / n - mu) ** 2))
    denom = total - np.sum(n**2) / total - (m - 1)
    rho = (s / (mu * (1 - mu)) - (m - 1)) / denom if denom > 0 else 0.0
    rho = float(np.clip(rho, 1.0 / (kappa_max + 1), 1 - 1e-6))
    kappa = 1.0 / rho - 1.0
    return mu * kappa, (1 - mu) * kappa


def shrink(result: FunnelResult, unit: str = "rep", group: str | None = "team") -> pd.DataFrame:
    """Empirical-Bayes rates of each ``unit`` pulled toward its ``group`` (beta-binomial, MoM prior fitted
    per group and transition), so a rep with 4 deals is planned near the team and one with 400 near
    their own record. ``weight`` is the share of the prior in the posterior, kappa / (kappa + resolved)."""
    u = CUTS.get(unit, unit)
    g = CUTS.get(group, group) if group else None
    need = [c for c in (g, u) if c]
    if any(c not in result.by for c in need):
        raise ConfigError(
            f"shrink needs a funnel cut by {need}, got by={list(result.by)}. Fix: funnel(crm, by={need})"
        )
    t = result.table.copy()
    keys = [c for c in (g,) if c] + ["stage"]
    parts = []
    # Successes at the censoring-aware rate (equal to ``converted`` when nothing is open).
    t["k"] = t["rate"].fillna(0.0) * t["resolved"]
    for _, part in t.groupby(keys, sort=False):
        a, b = fit_beta_prior(part["k"].to_numpy(), part["resolved"].to_numpy())
        parts.append(part.assign(prior_alpha=a, prior_beta=b))
    t = pd.concat(parts).sort_index()
    kappa = t["prior_alpha"] + t["prior_beta"]
    t["prior_mean"] = t["prior_alpha"] / kappa
    t["shrunk_rate"] = (t["k"] + t["prior_alpha"]) / (t["resolved"] + kappa)
    t["weight"] = kappa / (kappa + t["resolved"])
    t["shrunk_cumulative"] = t.groupby([c for c in result.by], sort=False)["shrunk_rate"].cumprod()
    cols = [*result.by, "stage", "next_stage", "entered", "converted", "lost", "open", "resolved", "rate"]
    return t[[*cols, "prior_mean", "prior_alpha", "prior_beta", "weight", "shrunk_rate", "shrunk_cumulative"]]


def inputs_from_history(
    crm: CRMData | DealPaths, *, by: str | None = None, period: tuple[Any, Any] | None = None,
    as_of: Any = None, days: Literal["mean", "median"] = "mean", shrink_to: str | None = None,
) -> dict[str, FunnelInputs]:  # fmt: skip
    """Funnel inputs estimated from the CRM, per value of ``by`` (key ``"all"`` without a cut).

    ``shrink_to`` (e.g. ``by="rep", shrink_to="team"``) plans with empirical-Bayes rates pulled toward the
    group, so a rep with a handful of deals is not planned on their luck. A unit without its own stage
    time (no deal moved on there) takes the overall one."""
    paths = crm if isinstance(crm, DealPaths) else deal_paths(crm, as_of)
    if shrink_to is not None and by is None:
        raise ConfigError("shrink_to needs a cut to shrink. Fix: pass by='rep' (or another unit) with it")
    f = funnel(paths, by=by, period=period).table
    if shrink_to is not None:
        sh = shrink(funnel(paths, by=[shrink_to, str(by)], period=period), unit=str(by), group=shrink_to)
        key_col = sh.columns[1]
        f = sh.rename(columns={"rate": "raw_rate", "shrunk_rate": "rate"}).drop(columns=[sh.columns[0]])
        f = f[[key_col, *[c for c in f.columns if c != key_col]]]
    v = velocity(paths, by=by, period=period).stages
    overall = velocity(paths, period=period).stages.set_index("stage")[days]
    won = paths.frame[paths.frame["outcome"].eq("won")]
    key = f.columns[0] if by else None
    units = sorted(f[key].unique()) if key else ["all"]
    out = {}
    for u in units:
        fu, vu = (f[f[key] == u], v[v[key] == u]) if key else (f, v)
        wu = won[won[key].fillna("(none)") == u] if key else won
        if wu["amount"].notna().sum() == 0:
            raise InsufficientDataError(
                f"{by}={u}: no won deal with an amount, so no deal size. Fix: drop the cut"
            )
        own = vu.set_index("stage")[days].reindex(list(PRE_SIGN))
        out[str(u)] = FunnelInputs(
            conversion=dict(zip(fu["stage"], fu["rate"].astype(float), strict=True)),
            deal_size=float(wu["amount"].mean()),
            stage_days={s: float(own[s]) if np.isfinite(own[s]) else float(overall[s]) for s in PRE_SIGN},
        )
    return out


def _quarter(q: Any) -> pd.Period:
    try:
        return pd.Period(q, freq="Q")
    except (ValueError, TypeError):
        raise ConfigError(f"quarter {q!r} is not a quarter. Fix: use e.g. '2026Q4'") from None


def reverse_funnel(target: float, inputs: FunnelInputs, quarter: Any) -> ReversePlan:
    """Deals needed at each stage and when they must enter it to sign ``target`` won value in ``quarter``."""
    if not (np.isfinite(target) and target >= 0):
        raise ConfigError(f"target={target} must be a won value >= 0")
    q = _quarter(quarter)
    signings = target / inputs.deal_size
    needed, lag, vol, cum_lag = {}, {}, signings, 0.0
    for s in reversed(PRE_SIGN):
        vol = vol / inputs.conversion[s]
        cum_lag += inputs.stage_days[s]
        needed[s], lag[s] = vol, cum_lag
    start, end = q.start_time.normalize(), q.end_time.normalize()
    rows = [
        {"stage": s, "needed": needed[s], "conversion": inputs.conversion[s], "lag_days": lag[s],
         "enter_from": start - pd.Timedelta(days=round(lag[s])), "enter_by": end - pd.Timedelta(days=round(lag[s]))}
        for s in PRE_SIGN
    ]  # fmt: skip
    rows.append({"stage": "Sign", "needed": signings, "conversion": np.nan, "lag_days": 0.0,
                 "enter_from": start, "enter_by": end})  # fmt: skip
    table = pd.DataFrame(rows)
    hours = None
    if inputs.stage_hours is not None:
        table["hours_per_deal"] = table["stage"].map(dict(inputs.stage_hours)).astype(float)
        table["hours"] = table["needed"] * table["hours_per_deal"]
        hours = float(table["hours"].sum())
    return ReversePlan(float(target), q, float(signings), table, hours)


def forward_funnel(volume: float, inputs: FunnelInputs, at: str = "Find") -> float:
    """Won value that ``volume`` deals entering stage ``at`` turn into through the same rates."""
    if at not in FUNNEL_STAGES:
        raise ConfigError(f"stage {at!r} is not one of {list(FUNNEL_STAGES)}")
    v = float(volume)
    for s in PRE_SIGN[FUNNEL_STAGES.index(at) :]:
        v *= inputs.conversion[s]
    return v * inputs.deal_size


def reverse_funnel_by(
    targets: Mapping[str, float], inputs: Mapping[str, FunnelInputs], quarter: Any, unit: str = "unit"
) -> pd.DataFrame:
    """``reverse_funnel`` for each team / region: one row per unit and stage."""
    missing = sorted(set(targets) - set(inputs))
    if missing:
        raise ConfigError(f"no funnel inputs for {unit}(s) {missing}. Fix: estimate inputs with the same cut")
    parts = [
        reverse_funnel(t, inputs[u], quarter).stages.assign(target=float(t)).assign(**{unit: str(u)})
        for u, t in targets.items()
    ]
    out = pd.concat(parts, ignore_index=True)
    return out[[unit, "target", *[c for c in out.columns if c not in (unit, "target")]]]


def _ramp_curve(ramp: Ramp | Sequence[float]) -> Ramp:
    if isinstance(ramp, Ramp):
        return ramp
    shares = np.asarray(ramp, float)
    if shares.ndim != 1 or not len(shares) or np.any((shares < 0) | (shares > 1)):
        raise ConfigError("ramp must be a Ramp or shares in [0, 1] for tenure months 1..N")
    table = pd.DataFrame({"tenure_month": np.arange(1, len(shares) + 1), "share": shares})
    return Ramp(table, "given", len(shares))


def capacity(
    tenure_months: Sequence[float], ramp: Ramp | Sequence[float], per_ramped_rep_month: float, *,
    months: int = 3, attrition: float = 0.0,
) -> float:  # fmt: skip
    """Won value reps of the given tenure (months, at period start; 0 = hired at the start) deliver over
    ``months``: per ramped rep-month × ramp share × P(still here), with monthly ``attrition``."""
    if not 0 <= attrition < 1:
        raise ConfigError(f"attrition={attrition} is a monthly rate in [0, 1)")
    if months < 1:
        raise ConfigError(f"months={months} must be >= 1")
    curve = _ramp_curve(ramp)
    m = np.arange(months)
    stay = (1 - attrition) ** m
    ten = np.asarray(tenure_months, float)[:, None] + m[None, :] + 1  # 1-based tenure month of each month
    return float(per_ramped_rep_month * np.sum(curve.share(ten) * stay[None, :]))


def reps_needed(
    target: float, ramp: Ramp | Sequence[float], per_ramped_rep_month: float, *,
    tenure_months: Sequence[float] = (), months: int = 3, attrition: float = 0.0,
    hours_needed: float | None = None, hours_per_rep_month: float | None = None,
) -> Staffing:  # fmt: skip
    """New hires (starting at period start) on top of the current reps to reach ``target``; also the
    number of fully ramped reps that would carry it after attrition.

    With ``hours_needed`` (the plan's selling hours, ``ReversePlan.hours``) and ``hours_per_rep_month`` (the
    selling hours one rep has in a month, measured), the hires also cover the time the deals take: a new
    rep has the hours from the start (the ramp is in what the hours yield, already in the value side)."""
    if per_ramped_rep_month <= 0:
        raise ConfigError(f"per_ramped_rep_month={per_ramped_rep_month} must be > 0")
    have = capacity(tenure_months, ramp, per_ramped_rep_month, months=months, attrition=attrition)
    per_hire = capacity([0.0], ramp, per_ramped_rep_month, months=months, attrition=attrition)
    gap = max(target - have, 0.0)
    hires = int(np.ceil(gap / per_hire - 1e-9)) if gap > 0 else 0
    ramped = target / (per_ramped_rep_month * float(np.sum((1 - attrition) ** np.arange(months))))
    if hours_needed is None:
        return Staffing(float(target), have, per_hire, hires, ramped, hires_for_value=hires)
    if hours_per_rep_month is None or not (np.isfinite(hours_per_rep_month) and hours_per_rep_month > 0):
        raise ConfigError(f"hours_per_rep_month={hours_per_rep_month} must be > 0 when hours_needed is given")
    stay = float(np.sum((1 - attrition) ** np.arange(months)))
    have_h = len(tenure_months) * hours_per_rep_month * stay
    per_hire_h = hours_per_rep_month * stay
    gap_h = max(hours_needed - have_h, 0.0)
    hires_t = int(np.ceil(gap_h / per_hire_h - 1e-9)) if gap_h > 0 else 0
    return Staffing(float(target), have, per_hire, max(hires, hires_t), ramped, hires_for_value=hires,
                    hours_needed=float(hours_needed), existing_hours=have_h, hours_per_hire=per_hire_h,
                    hires_for_time=hires_t, binding="time" if hires_t > hires else "value")  # fmt: skip


def ramped_productivity(prod: Productivity, *, role: str | None = None, last_months: int = 12) -> float:
    """Won value per ramped rep-month over the last ``last_months`` months (of one role, or all)."""
    rm = prod.role_month if role is None else prod.role_month[prod.role_month["role"] == role]
    if rm.empty:
        raise InsufficientDataError(
            f"no rep-months for role {role!r}. Fix: pick one of {sorted(prod.role_month['role'].unique())}"
        )
    months = sorted(rm["month"].unique())[-last_months:]
    r = rm[rm["month"].isin(months)]
    return float(r["won_value"].sum() / r["ramped_rep_months"].sum())
