"""The full funnel Find → Meet → Pitch → Sign → Deliver → Operate → first order → active at 30 days → active
at 90 days, with intervals and time in each step, censoring-aware throughout.

The pre-sale rates are :func:`planning.funnel.funnel`'s (the mixture estimator that credits open deals by how
long they have waited). Every later step is a spell with two competing exits too: Sign → Deliver and Deliver
→ Operate from the CRM's stage events (:func:`planning.funnel.paths.stage_spells`), and the post-sale
milestones from the order activities: a first order within ``first_order_days`` of entering Operate, a
repeat order in the 30 days after the first (active at 30 days), an order in days 61–90 (active at 90 days).
A milestone is reached at its order, missed at its deadline, and open (censored) before both; the same
:func:`planning.funnel.survival.mixture_rate` turns those spells into a rate, so the young customers of the
last months count for what they are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError
from salesplan.planning.funnel import FUNNEL_STAGES, funnel, velocity, wilson
from salesplan.planning.funnel.durations import time_to_move_on
from salesplan.planning.funnel.paths import stage_spells
from salesplan.planning.funnel.survival import exit_survival, mixture_rate
from salesplan.planning.process.data import ProcessData

__all__ = ["LIFECYCLE_STEPS", "FullFunnel", "Milestones", "full_funnel"]

LIFECYCLE_STEPS: tuple[str, ...] = (
    *FUNNEL_STAGES,
    "Deliver",
    "Operate",
    "First order",
    "Active 30d",
    "Active 90d",
)
_DRAWS = 4000


@dataclass(frozen=True)
class Milestones:
    """How the post-sale milestones are read from the activities: orders are activities of ``order_type``;
    the first must come within ``first_order_days`` of entering Operate."""

    order_type: str = "order"
    first_order_days: float = 60.0

    def __post_init__(self) -> None:
        if not self.first_order_days > 0:
            raise ConfigError(f"first_order_days={self.first_order_days} must be > 0")


@dataclass(frozen=True)
class FullFunnel:
    """One row per step (``stage`` → ``next_stage``): deals entering, moved on, lost (missed), open, the
    censoring-aware ``rate`` with a Wilson interval at the resolved count, cumulative conversion from Find
    with a Beta-draw interval, and the median days to move on."""

    table: pd.DataFrame
    as_of: pd.Timestamp
    level: float


def _spell_row(stage: str, nxt: str, days: np.ndarray, status: np.ndarray) -> dict[str, object]:
    """Counts and the mixture rate of one step's spells (status 1 moved, 2 missed/lost, 0 open)."""
    days, status = np.asarray(days, float), np.asarray(status, int)
    ok = ~np.isnan(days)
    days, status = days[ok], status[ok]
    n1, n2 = int((status == 1).sum()), int((status == 2).sum())
    t, s1, s2 = exit_survival(days, status)
    e = days[status == 0]
    at = np.searchsorted(t, e, side="right") - 1
    pick = at >= 0
    s1e = np.where(pick, s1[np.maximum(at, 0)] if len(t) else 1.0, 1.0)
    s2e = np.where(pick, s2[np.maximum(at, 0)] if len(t) else 1.0, 1.0)
    rate = mixture_rate(n1, n2, s1e, s2e) if n1 + n2 else np.nan
    if n1 + n2 and n1 * n2 == 0:  # one exit never seen: the MLE is exactly 0 or 1 (EM only approaches it)
        rate = float(n1 > 0)
    tt, cdf, _ = time_to_move_on(days, status)
    hit = np.nonzero(cdf >= 0.5 - 1e-12)[0]
    return {"stage": stage, "next_stage": nxt, "entered": len(days), "converted": n1, "lost": n2,
            "open": int((status == 0).sum()), "rate": rate,
            "median_days": float(tt[hit[0]]) if len(hit) else np.nan}  # fmt: skip


def _milestone(start: np.ndarray, success: np.ndarray, deadline: np.ndarray, as_of: np.datetime64) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Days and status of milestone spells: reached at ``success`` (≤ deadline), missed at the deadline,
    open before both (censored at the as-of date)."""
    reached = ~np.isnat(success) & (success <= deadline) & (success <= as_of)
    missed = ~reached & (deadline <= as_of)
    stop = np.where(reached, success, np.where(missed, deadline, as_of))
    days = (stop - start) / np.timedelta64(1, "D")
    return np.maximum(days.astype(float), 0.0), np.where(reached, 1, np.where(missed, 2, 0))


def _first_after(orders: pd.DataFrame, start: pd.Series, lo_days: float, hi_days: float) -> np.ndarray:
    """Per deal (index of ``start``), the first order strictly after start + lo_days and at most start +
    hi_days (NaT when none): one merge_asof, vectorised."""
    s = start.dropna()
    out = pd.Series(pd.NaT, index=start.index, dtype="datetime64[ns]")
    if s.empty or orders.empty:
        return out.to_numpy()
    left = pd.DataFrame(
        {"opportunity_id": s.index.to_numpy(), "t": (s + pd.Timedelta(days=lo_days)).to_numpy()}
    )
    left = left.sort_values("t", kind="stable")
    right = orders.rename(columns={"started_at": "order_ts"}).assign(t=lambda d: d["order_ts"])
    m = pd.merge_asof(left, right.sort_values("t"), on="t", by="opportunity_id", direction="forward",
                      allow_exact_matches=False)  # fmt: skip
    found = m.set_index("opportunity_id")["order_ts"]
    limit = (s + pd.Timedelta(days=hi_days)).reindex(found.index)
    out.loc[found.index] = found.where(found <= limit)
    return out.to_numpy()


def full_funnel(
    data: ProcessData, *, milestones: Milestones | None = None, level: float = 0.95
) -> FullFunnel:
    """Every step of the deal's life with its rate, interval and time (module docstring)."""
    ms = milestones or Milestones()
    if not 0 < level < 1:
        raise ConfigError(f"level={level} must be in (0, 1), e.g. 0.95")
    paths = data.paths
    pre = funnel(paths, level=level).table
    vel = velocity(paths).stages.set_index("stage")["median"]
    rows = [
        {**{c: r[c] for c in ("stage", "next_stage", "entered", "converted", "lost", "open", "rate")},
         "median_days": float(vel.get(r["stage"], np.nan))}
        for r in pre.to_dict("records")
    ]  # fmt: skip
    sp = stage_spells(paths)
    for s, nxt in (("Sign", "Deliver"), ("Deliver", "Operate")):
        g = sp[sp["stage"] == s]
        rows.append(_spell_row(s, nxt, g["days"].to_numpy(), g["status"].to_numpy()))
    d = paths.frame.set_index("opportunity_id")
    as_of = np.datetime64(paths.as_of.normalize() + pd.Timedelta(days=1), "ns")
    a = data.activities
    orders = a.loc[
        (a["type"] == ms.order_type) & a["opportunity_id"].notna(), ["opportunity_id", "started_at"]
    ]
    orders = orders.assign(opportunity_id=orders["opportunity_id"].astype(str))
    op = d["ts_Operate"].dropna()
    fo = _first_after(orders, op - pd.Timedelta(seconds=1), 0.0, ms.first_order_days)
    op_start = op.to_numpy("datetime64[ns]")
    days, status = _milestone(
        op_start, fo, op_start + np.timedelta64(int(ms.first_order_days * 86400), "s"), as_of
    )
    rows.append(_spell_row("Operate", "First order", days, status))
    fo_s = pd.Series(fo, index=op.index)[status == 1]
    a30 = _first_after(orders, fo_s, 0.0, 30.0)
    fo_t = fo_s.to_numpy("datetime64[ns]")
    days, status = _milestone(fo_t, a30, fo_t + np.timedelta64(30, "D"), as_of)
    rows.append(_spell_row("First order", "Active 30d", days, status))
    live = fo_s[status == 1]
    a90 = _first_after(orders, live, 60.0, 90.0)
    start = pd.Series(a30, index=fo_s.index)[status == 1].to_numpy("datetime64[ns]")
    days, status = _milestone(start, a90, live.to_numpy("datetime64[ns]") + np.timedelta64(90, "D"), as_of)
    rows.append(_spell_row("Active 30d", "Active 90d", days, status))
    t = pd.DataFrame(rows)
    resolved = (t["converted"] + t["lost"]).to_numpy()
    low, high = wilson(np.nan_to_num(t["rate"].to_numpy(float)) * resolved, resolved, level)
    rate = t["rate"].to_numpy(float)
    t["resolved"] = resolved
    t["ci_low"], t["ci_high"] = np.minimum(low, rate), np.maximum(high, rate)
    t = _cumulative(t, level)
    cols = ["stage", "next_stage", "entered", "converted", "lost", "open", "resolved", "rate", "ci_low",
            "ci_high", "cumulative", "cum_low", "cum_high", "median_days"]  # fmt: skip
    return FullFunnel(t[cols], paths.as_of, level)


def _cumulative(t: pd.DataFrame, level: float) -> pd.DataFrame:
    """Conversion from Find to each next step, with a Jeffreys-Beta posterior interval (product of draws)."""
    rng = np.random.default_rng(0)
    draws = np.ones(_DRAWS)
    point = 1.0
    cum, lo, hi = [], [], []
    for r, p in zip(t["resolved"].to_numpy(float), t["rate"].to_numpy(float), strict=True):
        p = p if np.isfinite(p) else 0.0
        point *= p
        k = p * r
        draws = draws * rng.beta(k + 0.5, max(r - k, 0.0) + 0.5, _DRAWS)
        cum.append(point)
        q = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
        lo.append(min(float(q[0]), point))
        hi.append(max(float(q[1]), point))
    return t.assign(cumulative=cum, cum_low=lo, cum_high=hi)
