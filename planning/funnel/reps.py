"""Rep productivity per month, the ramp curve of new hires, and attainment against quota.

Everything is counted on a rep × day grid of *active* days (hire date to end date, within the history),
so a rep who joined mid-month counts as part of a rep-month and new hires are compared with tenured reps
over the *same* calendar days — seasonality and quarter-end pushes cancel out of the ramp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression

from salesplan.contracts.crm import CRMData
from salesplan.errors import ConfigError, InsufficientDataError
from salesplan.planning.funnel.paths import DealPaths, deal_paths

__all__ = ["MONTH_DAYS", "Productivity", "Ramp", "RampMetric", "estimate_ramp", "productivity"]

MONTH_DAYS = 30.44
RampMetric = Literal["created", "won", "won_value"]


@dataclass(frozen=True)
class Ramp:
    """Productivity of tenure months 1..N as a share of tenured reps' (tenure > N months) over the same
    days: ``raw`` ratio of actual to expected, ``share`` monotone and within [0, 1] (isotonic fit weighted
    by ``expected``), ``reps`` contributing to each month."""

    table: pd.DataFrame
    metric: str
    months: int

    def share(self, tenure_month: np.ndarray | float) -> np.ndarray:
        """Ramp share of (1-based) tenure months; 1 beyond the ramp, 0 before hire."""
        m = np.asarray(tenure_month, dtype=float)
        curve = self.table["share"].to_numpy()
        idx = np.clip(m.astype(int) - 1, 0, len(curve) - 1)
        return np.where(m < 1, 0.0, np.where(m > self.months, 1.0, curve[idx]))


@dataclass(frozen=True)
class Productivity:
    """``rep_month``: per rep and calendar month; ``role_month``: the same summed per role with won value
    per rep-month and per ramped rep-month; ``ramp`` (None without hire dates); ``attainment`` per rep
    and quota period (empty without quotas)."""

    rep_month: pd.DataFrame
    role_month: pd.DataFrame
    ramp: Ramp | None
    attainment: pd.DataFrame


def _grid(
    paths: DealPaths, reps: pd.DataFrame
) -> tuple[pd.DatetimeIndex, pd.DataFrame, np.ndarray, np.ndarray]:
    """Days of the history, the reps, their active mask and tenure in days (NaN without a hire date)."""
    d = paths.frame
    start = d["created_date"].min()
    if pd.isna(start):
        raise InsufficientDataError("no created_date on any opportunity: cannot place deals in months")
    days = pd.date_range(start.normalize(), paths.as_of.normalize(), freq="D")
    r = reps.drop_duplicates("rep_id").reset_index(drop=True)
    r = pd.concat([r, pd.DataFrame({"rep_id": sorted(set(d["rep_id"].dropna()) - set(r["rep_id"]))})])
    r = r.reset_index(drop=True)
    hire = pd.to_datetime(r["hire_date"]) if "hire_date" in r.columns else pd.Series(pd.NaT, index=r.index)
    end = pd.to_datetime(r["end_date"]) if "end_date" in r.columns else pd.Series(pd.NaT, index=r.index)
    day = days.to_numpy()[None, :]
    lo = hire.fillna(days[0]).to_numpy()[:, None]
    hi = end.fillna(days[-1] + pd.Timedelta(days=1)).to_numpy()[:, None]
    active = (day >= lo) & (day < hi)
    tenure = (day - hire.to_numpy()[:, None]) / np.timedelta64(1, "D")
    return days, r, active, tenure.astype(float)


def _on_grid(
    d: pd.DataFrame, date_col: str, days: pd.DatetimeIndex, reps: pd.DataFrame, w: pd.Series
) -> np.ndarray:
    """Sum of ``w`` per rep × day of ``date_col``."""
    out = np.zeros((len(reps), len(days)))
    ri = pd.Index(reps["rep_id"]).get_indexer(d["rep_id"])
    di = days.get_indexer(d[date_col].dt.normalize())
    ok = (ri >= 0) & (di >= 0) & w.notna().to_numpy()
    np.add.at(out, (ri[ok], di[ok]), w.to_numpy(float)[ok])
    return out


def estimate_ramp(
    crm: CRMData | DealPaths, reps: pd.DataFrame | None = None, *, months: int = 12,
    metric: RampMetric = "created", as_of: Any = None,
) -> Ramp:  # fmt: skip
    """Ramp curve from hire dates. ``metric`` "created" (default) counts deals opened — the earliest signal,
    not delayed by the sales cycle; "won" / "won_value" use deals by their *creation* day that were won."""
    if months < 1:
        raise ConfigError(f"months={months} must be >= 1 (the length of the ramp in months)")
    if metric not in ("created", "won", "won_value"):
        raise ConfigError(f"metric={metric!r} is not one of 'created', 'won', 'won_value'")
    paths = crm if isinstance(crm, DealPaths) else deal_paths(crm, as_of)
    reps = reps if reps is not None else (crm.reps if isinstance(crm, CRMData) else None)
    if reps is None or "hire_date" not in reps.columns or reps["hire_date"].notna().sum() == 0:
        raise InsufficientDataError(
            "reps have no hire_date: the ramp is estimated from hire dates. Fix: add them"
        )
    d = paths.frame[paths.frame["created_date"].notna()]
    won = d["outcome"].eq("won")
    w = {"created": pd.Series(1.0, index=d.index), "won": won.astype(float), "won_value": d["amount"] * won}[
        metric
    ]
    days, r, active, tenure = _grid(paths, reps)
    counts = _on_grid(d, "created_date", days, r, w.fillna(0.0))
    ramp_end = months * MONTH_DAYS
    tenured = active & (tenure >= ramp_end)
    month = days.to_period("M")
    codes, uniq = pd.factorize(month)
    num = np.bincount(codes, weights=(counts * tenured).sum(axis=0), minlength=len(uniq))
    den = np.bincount(codes, weights=tenured.sum(axis=0), minlength=len(uniq))
    bench = np.divide(num, den, out=np.full(len(uniq), np.nan), where=den > 0)[codes]
    expected = active * np.nan_to_num(bench)[None, :]
    k = np.floor(tenure / MONTH_DAYS) + 1
    ramping = active & (tenure >= 0) & (tenure < ramp_end) & np.isfinite(bench)[None, :]
    idx = np.where(ramping, k, 0).astype(int)
    act = np.bincount(idx.ravel(), weights=np.where(ramping, counts, 0).ravel(), minlength=months + 1)[1:]
    exp_ = np.bincount(idx.ravel(), weights=np.where(ramping, expected, 0).ravel(), minlength=months + 1)[1:]
    n_reps = [int(np.any(idx == m, axis=1).sum()) for m in range(1, months + 1)]
    if exp_.sum() <= 0:
        raise InsufficientDataError(
            f"no rep was both hired inside the history and compared with tenured reps (> {months} months): "
            "cannot estimate the ramp. Fix: use a longer history or a shorter ramp (months=...)"
        )
    raw = np.divide(act, exp_, out=np.full(months, np.nan), where=exp_ > 0)
    fit_w = np.where(exp_ > 0, exp_, 0.0)
    filled = pd.Series(raw).ffill().bfill().fillna(1.0).to_numpy()
    share = np.clip(isotonic_regression(filled, weights=fit_w + 1e-9, increasing=True).x, 0.0, 1.0)
    table = pd.DataFrame(
        {
            "tenure_month": np.arange(1, months + 1),
            "actual": act,
            "expected": exp_,
            "raw": raw,
            "share": share,
            "reps": n_reps,
        }
    )
    return Ramp(table, metric, months)


def _month_frame(values: np.ndarray, days: pd.DatetimeIndex, reps: pd.DataFrame, name: str) -> pd.Series:
    """Rep × day values summed to rep × calendar month (long)."""
    df = pd.DataFrame(values.T, index=days.to_period("M")).groupby(level=0).sum()
    df.columns = reps["rep_id"].to_numpy()
    s = pd.Series(df.to_numpy().ravel(), index=pd.MultiIndex.from_product([df.index, df.columns]), name=name)
    s.index.names = ["month", "rep_id"]
    return s


def productivity(
    crm: CRMData, *, as_of: Any = None, ramp: Ramp | None = None, ramp_months: int = 12,
    quota_period: Literal["M", "Q", "Y"] = "Q",
) -> Productivity:  # fmt: skip
    """Per rep and per role per month: deals created (by creation month), won / lost / won value, win
    rate, average deal size and median cycle days (by close month), rep-months and ramped rep-months;
    attainment = won value in each ``quota_period`` / the rep's quota (quota is per that period)."""
    paths = deal_paths(crm, as_of)
    if ramp is None and "hire_date" in crm.reps.columns and crm.reps["hire_date"].notna().any():
        ramp = estimate_ramp(paths, crm.reps, months=ramp_months)
    days, r, active, tenure = _grid(paths, crm.reps)
    d = paths.frame
    dim = np.asarray(days.days_in_month, float)[None, :]
    # Without hire dates (or a ramp) every active rep-month counts as fully ramped.
    ramp_share = (
        np.ones_like(tenure)
        if ramp is None
        else np.where(np.isnan(tenure), 1.0, ramp.share(np.floor(np.nan_to_num(tenure) / MONTH_DAYS) + 1))
    )
    closed = d[d["close_date"].notna()]
    won = closed[closed["outcome"].eq("won")]
    parts = [
        _month_frame(active / dim, days, r, "rep_months"),
        _month_frame(active * ramp_share / dim, days, r, "ramped_rep_months"),
        _month_frame(_on_grid(d, "created_date", days, r, pd.Series(1.0, index=d.index)), days, r, "created"),
        _month_frame(_on_grid(won, "close_date", days, r, pd.Series(1.0, index=won.index)), days, r, "won"),
        _month_frame(
            _on_grid(closed, "close_date", days, r, closed["outcome"].eq("lost").astype(float)),
            days,
            r,
            "lost",
        ),
        _month_frame(_on_grid(won, "close_date", days, r, won["amount"].fillna(0.0)), days, r, "won_value"),
    ]
    rm = pd.concat(parts, axis=1).reset_index()
    rm = rm[(rm["rep_months"] > 0) | (rm[["created", "won", "lost"]].sum(axis=1) > 0)]
    cyc = won.assign(
        month=won["close_date"].dt.to_period("M"),
        cycle_days=(won["close_date"] - won["created_date"]).dt.days,
    )
    med = cyc.groupby(["rep_id", "month"])["cycle_days"].median()
    rm = rm.join(med, on=["rep_id", "month"])
    attrs = [c for c in ("role", "team", "region", "hire_date") if c in r.columns]
    rm = rm.merge(r[["rep_id", *attrs]], on="rep_id", how="left")
    if "role" not in rm.columns:
        rm["role"] = "(none)"
    rm["role"] = rm["role"].fillna("(none)")
    if "hire_date" in rm.columns:
        mid = rm["month"].dt.start_time + pd.Timedelta(days=14)
        rm["tenure_month"] = np.floor((mid - pd.to_datetime(rm["hire_date"])).dt.days / MONTH_DAYS) + 1
    _rates(rm)
    role = rm.groupby(["role", "month"], as_index=False)[
        ["rep_months", "ramped_rep_months", "created", "won", "lost", "won_value"]
    ].sum()
    cyc_role = cyc.assign(role=cyc["role"].fillna("(none)")).groupby(["role", "month"])["cycle_days"].median()
    role = role.join(cyc_role, on=["role", "month"])
    _rates(role)
    with np.errstate(invalid="ignore", divide="ignore"):
        role["won_value_per_rep_month"] = role["won_value"] / role["rep_months"].where(role["rep_months"] > 0)
        role["won_value_per_ramped_rep_month"] = role["won_value"] / role["ramped_rep_months"].where(
            role["ramped_rep_months"] > 0
        )
    att = _attainment(rm, r, quota_period)
    return Productivity(rm.reset_index(drop=True), role, ramp, att)


def _rates(df: pd.DataFrame) -> None:
    with np.errstate(invalid="ignore", divide="ignore"):
        df["win_rate"] = df["won"] / (df["won"] + df["lost"]).where(lambda x: x > 0)
        df["avg_deal_size"] = df["won_value"] / df["won"].where(df["won"] > 0)


def _attainment(rm: pd.DataFrame, reps: pd.DataFrame, period: str) -> pd.DataFrame:
    """Won value per rep and quota period over the quota; ``prorated`` scales the quota by active share."""
    cols = ["rep_id", "period", "quota", "won_value", "active_share", "attainment", "prorated_attainment"]
    if period not in ("M", "Q", "Y"):
        raise ConfigError(f"quota_period={period!r} is not one of 'M', 'Q', 'Y'")
    if "quota" not in reps.columns or reps["quota"].notna().sum() == 0:
        return pd.DataFrame(columns=cols)
    x = rm.assign(period=rm["month"].dt.asfreq(period))
    n_months = {"M": 1, "Q": 3, "Y": 12}[period]
    g = x.groupby(["rep_id", "period"], as_index=False).agg(
        won_value=("won_value", "sum"), rm=("rep_months", "sum")
    )
    g = g.merge(reps[["rep_id", "quota"]], on="rep_id", how="inner").dropna(subset=["quota"])
    g["active_share"] = g["rm"] / n_months
    with np.errstate(invalid="ignore", divide="ignore"):
        g["attainment"] = g["won_value"] / g["quota"].where(g["quota"] > 0)
        g["prorated_attainment"] = g["won_value"] / (g["quota"] * g["active_share"]).where(
            g["active_share"] > 0
        )
    return g[cols]
