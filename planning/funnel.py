"""Stage-to-stage and cumulative funnel conversion for any period and any cut, with intervals (the
empirical-Bayes shrinkage of rep rates toward their team's, for planning, is in ``reverse_funnel``).

Censoring rule: only *resolved* transitions are events. A deal that reached a stage moved on when it
reached any later stage (a skipped stage counts as passed through) and failed when it was lost there (or,
with ``stall_days``, has sat there open longer than that). A deal still open in the stage on the as-of
date is never a failure: it is right-censored. Dropping open deals is not enough either, because losses
take longer than moves (deals stall before they are lost), so the recent, still-open part of the history
hides more future losses than future moves. The default estimator therefore gives each open deal the
odds of moving on *given how long it has already waited*, using the timing of each exit learnt from all
deals (Aalen–Johansen), and solves for the rate by EM (``mixture_rate``). With nothing open all methods
equal converted / (converted + lost).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from salesplan.contracts.crm import EVENT_RANK, STAGES, CRMData
from salesplan.errors import ConfigError, InsufficientDataError

FUNNEL_STAGES: tuple[str, ...] = STAGES[: STAGES.index("Sign") + 1]
"""Pre-sale stages whose conversions are planned (Find → Meet → Pitch → Sign); a deal is won when signed."""
TRANSITIONS: tuple[tuple[str, str], ...] = tuple(itertools.pairwise(FUNNEL_STAGES))
CUTS: dict[str, str] = {"rep": "rep_id", "cohort": "cohort"}
"""Cut aliases; any other column of the deal-path frame (region, team, product, lead_source, ...) works too."""
SIGN = EVENT_RANK["Sign"]
_DRAWS = 4000
Method = Literal["mixture", "aalen_johansen", "resolved"]
METHODS: tuple[str, ...] = ("mixture", "aalen_johansen", "resolved")


@dataclass(frozen=True)
class DealPaths:
    """One row per opportunity as of ``as_of``: attributes, the rank of the furthest stage reached, the
    entry time of each stage (``ts_<Stage>``, NaT when skipped or unknown), outcome and loss."""

    frame: pd.DataFrame
    as_of: pd.Timestamp


@dataclass(frozen=True)
class FunnelResult:
    """Funnel table: one row per cut value and transition with counts, rate, interval and cumulative
    conversion from Find (with a Beta-posterior interval)."""

    table: pd.DataFrame
    by: tuple[str, ...]
    as_of: pd.Timestamp
    period: tuple[pd.Timestamp, pd.Timestamp] | None
    level: float


def data_end(crm: CRMData) -> pd.Timestamp:
    """Latest date anywhere in the CRM: the natural censoring date of the history."""
    o = crm.opportunities
    dates = [crm.stage_events["ts"].max()] if len(crm.stage_events) else []
    dates += [o[c].max() for c in ("created_date", "close_date") if c in o.columns]
    dates = [d for d in dates if pd.notna(d)]
    if not dates:
        raise InsufficientDataError(
            "CRM has no dates (stage_events.ts, opportunities.created_date/close_date): "
            "cannot tell which deals are still open. Fix: pass as_of or add the dates"
        )
    return pd.Timestamp(max(dates))


def to_date(value: Any, what: str) -> pd.Timestamp:
    """A date argument, or a ConfigError that names it."""
    msg = f"{what} {value!r} is not a date. Fix: use ISO dates like 2026-06-30"
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(msg) from None
    if pd.isna(ts):
        raise ConfigError(msg)
    return ts


def deal_paths(crm: CRMData, as_of: Any = None) -> DealPaths:
    """Each deal's path through the funnel as known on ``as_of`` (default: the end of the data).

    An earlier ``as_of`` replays the history: later deals, events and closes are dropped, so the same
    estimators can be checked on a censored view. Expects a CRM that passed ``validate_crm``."""
    end = data_end(crm)
    cut = end if as_of is None else to_date(as_of, "as_of")
    truncated = cut < end
    o = crm.opportunities.copy()
    for c in ("created_date", "close_date", "expected_close_date"):
        o[c] = pd.to_datetime(o[c]) if c in o.columns else pd.NaT
    o = o[o["created_date"].isna() | (o["created_date"] <= cut)]
    if "amount" not in o.columns:
        o["amount"] = np.nan
    closed_late = o["close_date"] > cut
    o.loc[closed_late, "outcome"] = "open"
    o.loc[closed_late, "close_date"] = pd.NaT
    ev = crm.stage_events
    has_events = o["opportunity_id"].isin(ev["opportunity_id"])
    ev = ev[(ev["ts"] <= cut) & ev["opportunity_id"].isin(o["opportunity_id"])]
    ev = ev.assign(stage=ev["stage"].replace({"Won": "Sign"}))
    first = ev.groupby(["opportunity_id", "stage"])["ts"].min().unstack()
    ids = o["opportunity_id"]
    rank = ev[ev["stage"] != "Lost"].assign(r=lambda d: d["stage"].map(EVENT_RANK))
    reached = ids.map(rank.groupby("opportunity_id")["r"].max()).fillna(0)
    if "stage" in o.columns and not truncated:
        # The current-stage column speaks only for deals with no events at all (e.g. Maven prospects).
        col = o["stage"].map(EVENT_RANK).where(~has_events)
        reached = pd.Series(np.fmax(reached.to_numpy(float), col.fillna(0).to_numpy(float)), index=o.index)
    reached = reached.where(o["outcome"] != "won", reached.clip(lower=SIGN)).astype(int)
    out = o.assign(reached=reached.to_numpy())
    for s in STAGES:
        ts = ids.map(first[s]) if s in first.columns else pd.Series(pd.NaT, index=o.index)
        out[f"ts_{s}"] = pd.to_datetime(ts)
    out["ts_Find"] = out["ts_Find"].fillna(out["created_date"])
    out["lost"] = out["outcome"].eq("lost")
    lost_ts = ids.map(first["Lost"]) if "Lost" in first.columns else pd.Series(pd.NaT, index=o.index)
    out["loss_ts"] = pd.to_datetime(lost_ts).fillna(out["close_date"]).where(out["lost"])
    out["cohort"] = out["created_date"].dt.to_period("M").astype(str).where(out["created_date"].notna())
    return DealPaths(_attach_rep_attrs(out, crm.reps).reset_index(drop=True), cut)


def _attach_rep_attrs(deals: pd.DataFrame, reps: pd.DataFrame) -> pd.DataFrame:
    """Team/region/role of the deal's rep where the opportunity itself does not carry them."""
    r = reps.set_index("rep_id") if "rep_id" in reps.columns else pd.DataFrame()
    for c in ("team", "region", "role", "manager"):
        from_rep = deals["rep_id"].map(r[c]) if c in r.columns else pd.Series(np.nan, index=deals.index)
        deals[c] = deals[c].fillna(from_rep) if c in deals.columns else from_rep
    return deals


def wilson(k: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval: honest near 0 and 1 and for small n, unlike the normal approximation."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def resolve_cut(by: str | Sequence[str] | None, cols: pd.Index) -> tuple[str, ...]:
    """Column names of a cut (``rep`` → ``rep_id``), or a ConfigError listing the cuts there are."""
    names = (by,) if isinstance(by, str) else tuple(by or ())
    cols_out = tuple(CUTS.get(b, b) for b in names)
    missing = [b for b, c in zip(names, cols_out, strict=True) if c not in cols]
    if missing:
        raise ConfigError(
            f"funnel cut(s) {missing} not found. Fix: use rep, cohort or a column of the opportunities "
            f"(or of reps): {sorted(c for c in cols if not c.startswith('ts_'))}"
        )
    return cols_out


def filter_period(d: pd.DataFrame, period: tuple[Any, Any] | None) -> tuple[pd.DataFrame, Any]:
    """Deals created in ``period`` (both ends inclusive): a funnel is a property of a creation cohort."""
    if period is None:
        return d, None
    lo, hi = to_date(period[0], "period start"), to_date(period[1], "period end")
    if hi < lo:
        raise ConfigError(f"period {lo.date()} .. {hi.date()} ends before it starts. Fix: swap the two dates")
    return d[d["created_date"].between(lo, hi)], (lo, hi)


def stage_spells(paths: DealPaths, stall_days: float | None = None) -> pd.DataFrame:
    """One row per deal and stage it reached (Find .. Deliver): ``days`` in the stage and ``status``
    1 = moved on, 2 = lost there (or stalled beyond ``stall_days``), 0 = still there on the as-of date
    (censored). A skipped stage is passed through in 0 days; ``days`` is NaN when a time is missing."""
    d = paths.frame
    ts = d[[f"ts_{s}" for s in STAGES]]
    reached, outcome = d["reached"].to_numpy(), d["outcome"].to_numpy()
    as_of = np.datetime64(paths.as_of, "ns")
    attrs = d.drop(columns=[c for c in d.columns if c.startswith("ts_")])
    rows = []
    for i, s in enumerate(STAGES[:-1]):
        start = ts.iloc[:, i].to_numpy("datetime64[ns]")
        nxt = ts.iloc[:, i + 1 :].min(axis=1).to_numpy("datetime64[ns]")  # NaT-skipping
        moved = reached > i
        lost = d["lost"].to_numpy() & (reached == i)
        # Before Sign an open deal is still in play; after Sign a won deal sits in its post-sale stage.
        here = (outcome == ("open" if i < SIGN else "won")) & (reached == i)
        stop = np.where(moved, nxt, np.where(lost, d["loss_ts"].to_numpy("datetime64[ns]"), as_of))
        skipped = moved & np.isnat(start) & ~np.isnat(nxt) & (i > 0)
        days = (stop - start).astype("timedelta64[s]").astype(float) / 86400.0
        days[np.isnat(start) | np.isnat(stop)] = np.nan  # NaT arithmetic casts to a huge negative
        days = np.where(skipped, 0.0, np.maximum(days, 0.0))
        status = np.where(moved, 1, np.where(lost, 2, 0))
        if stall_days is not None:
            status = np.where((status == 0) & (days > stall_days), 2, status)
        keep = (reached >= i) & (moved | lost | here)
        rows.append(
            attrs.loc[keep].assign(stage=s, days=days[keep], status=status[keep], skipped=skipped[keep])
        )
    return pd.concat(rows, ignore_index=True)


def cumulative_incidence(days: np.ndarray, status: np.ndarray) -> pd.DataFrame:
    """Aalen–Johansen estimate with two competing exits (1 moved on, 2 lost; 0 censored): per distinct
    time, the all-cause survival ``surv`` and cumulative incidences ``cif_1``, ``cif_2``. Open deals stay
    at risk until their censoring time, so neither exit is favoured by being quicker to happen."""
    days, status = np.asarray(days, float), np.asarray(status, int)
    ok = ~np.isnan(days)
    days, status = days[ok], status[ok]
    if not len(days):
        return pd.DataFrame(
            {c: pd.Series(dtype=float) for c in ("days", "at_risk", "surv", "cif_1", "cif_2")}
        )
    t, inv = np.unique(days, return_inverse=True)
    d1 = np.bincount(inv, weights=status == 1, minlength=len(t))
    d2 = np.bincount(inv, weights=status == 2, minlength=len(t))
    gone = np.bincount(inv, minlength=len(t))
    at_risk = len(days) - np.concatenate([[0], np.cumsum(gone)[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        surv = np.cumprod(1 - (d1 + d2) / at_risk)
        before = np.concatenate([[1.0], surv[:-1]])
        cif1, cif2 = np.cumsum(before * d1 / at_risk), np.cumsum(before * d2 / at_risk)
    return pd.DataFrame({"days": t, "at_risk": at_risk, "surv": surv, "cif_1": cif1, "cif_2": cif2})


def conversion_rate(days: np.ndarray, status: np.ndarray) -> float:
    """P(move on | left the stage), censoring-aware: CIF_1 / (CIF_1 + CIF_2) at the last time seen.
    With nothing open this is exactly converted / (converted + lost)."""
    ci = cumulative_incidence(days, status)
    if ci.empty:
        return np.nan
    a, b = float(ci["cif_1"].to_numpy()[-1]), float(ci["cif_2"].to_numpy()[-1])
    return float(a / (a + b)) if a + b > 0 else np.nan


def exit_survival(days: np.ndarray, status: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times and P(still in stage at t | eventually moves on), P(... | eventually lost), from the
    Aalen–Johansen incidences normalised per exit: the timing profile of each outcome."""
    ci = cumulative_incidence(days, status)
    t = ci["days"].to_numpy()
    a, b = ci["cif_1"].to_numpy(), ci["cif_2"].to_numpy()
    s1 = 1 - a / a[-1] if len(a) and a[-1] > 0 else np.ones(len(t))
    s2 = 1 - b / b[-1] if len(b) and b[-1] > 0 else np.ones(len(t))
    return t, s1, s2


def mixture_rate(
    n_moved: int, n_lost: int, s1_open: np.ndarray, s2_open: np.ndarray, tol: float = 1e-10
) -> float:
    """EM maximum likelihood of P(move on) when open deals are known only to have lasted this long:
    an open deal is a move-on still to come with weight p·S1(e), a loss to come with (1-p)·S2(e)."""
    informative = (s1_open + s2_open) > 0
    s1, s2 = s1_open[informative], s2_open[informative]
    n = n_moved + n_lost + len(s1)
    if n == 0:
        return np.nan
    p = (n_moved + 0.5 * len(s1)) / n
    for _ in range(500):
        den = p * s1 + (1 - p) * s2
        resp = np.divide(p * s1, den, out=np.full(len(s1), p), where=den > 0)
        p_new = (n_moved + resp.sum()) / n
        if abs(p_new - p) < tol:
            return float(p_new)
        p = p_new
    return float(p)


def transition_counts(
    paths: DealPaths,
    by: Sequence[str] = (),
    stall_days: float | None = None,
    method: Method = "mixture",
    timing: DealPaths | None = None,
) -> pd.DataFrame:
    """Per cut and transition: deals that entered the stage, converted, were lost there, are still open,
    and the conversion rate by ``method`` (see ``funnel``)."""
    sp = stage_spells(paths, stall_days)
    sp = sp[sp["stage"].isin(FUNNEL_STAGES[:-1])]
    profile = {}
    if method == "mixture":
        pooled = stage_spells(timing, stall_days) if timing is not None else sp
        # Timing of each exit, from deals that sat in the stage with known times (skips say nothing).
        timed = pooled[~pooled["skipped"] & pooled["days"].notna()]
        for s, g in timed.groupby("stage"):
            profile[s] = exit_survival(g["days"].to_numpy(), g["status"].to_numpy())
    keys = [*by, "stage"]
    sp = sp.assign(**{c: sp[c].fillna("(none)") for c in by})
    rows = []
    for key, g in sp.groupby(keys, sort=False):
        status = g["status"].to_numpy()
        # Unknown time in stage: a resolved deal counts at time 0, an open one carries no information.
        known = g["days"].notna().to_numpy() | (status > 0)
        days, status_k = g["days"].fillna(0.0).to_numpy()[known], status[known]
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        n_conv, n_lost = int((status == 1).sum()), int((status == 2).sum())
        row.update(entered=len(g), converted=n_conv, lost=n_lost, open=int((status == 0).sum()))
        res = n_conv + n_lost
        if method == "resolved":
            row["estimate"] = n_conv / res if res else np.nan
        elif method == "mixture":
            t, s1, s2 = profile.get(str(row["stage"]), (np.zeros(0), np.zeros(0), np.zeros(0)))
            e = days[status_k == 0]
            at = np.searchsorted(t, e, side="right") - 1  # survival just after the last time <= e
            pick = at >= 0
            s1e, s2e = np.where(pick, s1[np.maximum(at, 0)], 1.0), np.where(pick, s2[np.maximum(at, 0)], 1.0)
            row["estimate"] = mixture_rate(n_conv, n_lost, s1e, s2e)
        else:
            row["estimate"] = conversion_rate(days, status_k)
        rows.append(row)
    out = pd.DataFrame(rows)
    order = {s: i for i, s in enumerate(FUNNEL_STAGES)}
    out = out.sort_values([*by, "stage"], key=lambda c: c.map(order) if c.name == "stage" else c)
    out.insert(len(by) + 1, "next_stage", out["stage"].map(dict(TRANSITIONS)))
    return out.reset_index(drop=True)


def _cumulative(table: pd.DataFrame, by: tuple[str, ...], level: float) -> pd.DataFrame:
    """Cumulative Find → next-stage conversion with a Jeffreys-Beta posterior interval (product of draws)."""
    rng = np.random.default_rng(0)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    cum, lo, hi = np.empty(len(table)), np.empty(len(table)), np.empty(len(table))
    groups = table.groupby(list(by), sort=False).indices if by else {(): np.arange(len(table))}
    resolved, rate = table["resolved"].to_numpy(float), table["rate"].to_numpy(float)
    for idx in groups.values():
        draws = np.ones(_DRAWS)
        point = 1.0
        for j in idx:  # rows of a group are in funnel order
            r, p = float(resolved[j]), float(rate[j])
            point *= p
            k = p * r if r and np.isfinite(p) else 0.0
            draws = draws * rng.beta(k + 0.5, r - k + 0.5, _DRAWS)
            cum[j] = point
            lo[j], hi[j] = np.quantile(draws, [lo_q, hi_q]) if np.isfinite(point) else (np.nan, np.nan)
    return table.assign(cumulative=cum, cum_low=lo, cum_high=hi)


def funnel(
    crm: CRMData | DealPaths,
    *,
    by: str | Sequence[str] | None = None,
    period: tuple[Any, Any] | None = None,
    as_of: Any = None,
    level: float = 0.95,
    stall_days: float | None = None,
    min_resolved: int = 1,
    method: Method = "mixture",
) -> FunnelResult:
    """Conversion Find → Meet → Pitch → Sign for deals created in ``period`` (inclusive), per cut.

    Only resolved transitions are events; open deals are censored (module docstring). ``method``:
    ``"mixture"`` (default) credits each open deal by how long it has waited, with exit timings pooled
    over all deals, so small cuts and young cohorts borrow the history's timing; ``"aalen_johansen"``
    uses only the cell's own deals (CIF_move / (CIF_move + CIF_lost) at the last time seen);
    ``"resolved"`` is the plain converted / (converted + lost), biased upward while losses are pending.
    The interval is Wilson's at the resolved count (an approximation for the censoring-aware rates);
    cells with fewer than ``min_resolved`` resolved deals get NaN."""
    if not 0 < level < 1:
        raise ConfigError(f"level={level} must be in (0, 1), e.g. 0.95")
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not one of {list(METHODS)}")
    paths = crm if isinstance(crm, DealPaths) else deal_paths(crm, as_of)
    cols = resolve_cut(by, paths.frame.columns)
    sub, per = filter_period(paths.frame, period)
    if sub.empty:
        raise InsufficientDataError(
            f"no opportunities created in {period} (as of {paths.as_of.date()}). Fix: widen the period"
        )
    t = transition_counts(DealPaths(sub, paths.as_of), cols, stall_days, method, timing=paths)
    resolved = t["converted"] + t["lost"]
    ok = (resolved >= max(min_resolved, 1)).to_numpy()
    t["resolved"] = resolved
    t["rate"] = np.where(ok, t.pop("estimate"), np.nan)
    low, high = wilson((t["rate"].fillna(0) * resolved).to_numpy(), resolved.to_numpy(), level)
    rate = t["rate"].to_numpy(float)
    # Float round-off at rates of exactly 0 or 1 must not leave the point outside its own interval.
    t["ci_low"] = np.where(ok, np.minimum(low, rate), np.nan)
    t["ci_high"] = np.where(ok, np.maximum(high, rate), np.nan)
    t = _cumulative(t, cols, level)
    return FunnelResult(t, cols, paths.as_of, per, level)


def rates(result: FunnelResult, kind: Literal["rate", "cumulative"] = "rate") -> dict[str, float]:
    """``{"Find": p(Find→Meet), ...}`` of an uncut funnel: the input the reverse funnel plans with."""
    if result.by:
        raise ConfigError(f"rates() needs an uncut funnel, got by={list(result.by)}. Fix: funnel(crm)")
    return {str(s): float(v) for s, v in zip(result.table["stage"], result.table[kind], strict=True)}
