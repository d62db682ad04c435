"""Forecast accuracy metrics on backtest rows, per series, per hierarchy level and overall.

Scaled metrics (MASE, RMSSE, scaled pinball over all of a method's quantiles, and ``pinball80`` over the
80 % interval's two only, which compares methods with different quantile sets) divide by the in-sample
seasonal-naive error of the *training* part of each series (lag ``m``; lag 1 when the series is shorter
than ``m + 1``). A series whose scale is 0 (constant training history) has no meaningful scaled error: it is **skipped** from MASE,
RMSSE and pinball (counted in ``n_zero_scale``) but still counts in WAPE, bias and coverage.

sMAPE is the M competitions' symmetric percentage error, ``200 · |y − ŷ| / (|y| + |ŷ|)`` per row (0 when
both are 0), averaged per series and then over series."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesplan.contracts import quantile_levels
from salesplan.errors import DataValidationError, Problem


def seasonal_scales(train: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Per series: ``scale`` = mean |y_t − y_{t−m}| and ``scale_sq`` = mean (y_t − y_{t−m})² in ``train``."""
    g = train.sort_values(["unique_id", "ds"]).groupby("unique_id", sort=False)["y"]
    n = g.size()
    m = pd.Series(np.where(n > season_length, season_length, 1), index=n.index)
    rows = []
    for uid, y in g:
        v = y.to_numpy(dtype=float)
        k = int(m[uid])
        d = v[k:] - v[:-k] if len(v) > k else np.array([np.nan])
        rows.append((uid, float(np.mean(np.abs(d))), float(np.mean(d**2))))
    return pd.DataFrame(rows, columns=["unique_id", "scale", "scale_sq"])


def smape(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Symmetric absolute percentage error per row, in percent (0–200; 0 where ``y = ŷ = 0``)."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    den = np.abs(y) + np.abs(pred)
    return np.where(den > 0, 200.0 * np.abs(y - pred) / np.where(den > 0, den, 1.0), 0.0)


def pinball(y: np.ndarray, pred: np.ndarray, q: float) -> np.ndarray:
    """Quantile (pinball) loss per row."""
    diff = y - pred
    return np.maximum(q * diff, (q - 1) * diff)


def series_metrics(rows: pd.DataFrame, interval: tuple[float, float] = (0.1, 0.9)) -> pd.DataFrame:
    """One row per series (and ``cutoff`` when present): sums and scaled errors, ready to aggregate."""
    need = [c for c in ("unique_id", "y", "yhat", "scale", "scale_sq") if c not in rows.columns]
    if need:
        raise DataValidationError(
            [Problem(None, f"missing column(s) {need}", fix="attach scales with seasonal_scales() first")],
            source="metrics",
        )
    qcols = {q: c for c, q in quantile_levels(rows.columns).items()}  # level -> column
    d = rows.copy()
    e = d["y"].to_numpy(dtype=float) - d["yhat"].to_numpy(dtype=float)
    d["_abs"], d["_sq"], d["_err"], d["_absy"] = np.abs(e), e**2, -e, np.abs(d["y"])
    d["smape"] = smape(d["y"].to_numpy(dtype=float), d["yhat"].to_numpy(dtype=float))
    lo, hi = (qcols.get(interval[0]), qcols.get(interval[1]))
    if lo and hi:
        # a row without both bounds (a peer that gives no interval for short series) is left out of the
        # coverage, not counted as a miss; ``interval_share`` says how many rows had one
        has = (d[lo].notna() & d[hi].notna()).to_numpy()
        inside = ((d["y"] >= d[lo]) & (d["y"] <= d[hi])).to_numpy(dtype=float)
        d["_cov"], d["_ncov"] = np.where(has, inside, np.nan), has.astype(float)
        # the interval's two quantiles only: comparable between methods with different quantile columns
        # (``pinball`` averages whatever a method has, and a median's pinball is far larger than a tail's)
        y = d["y"].to_numpy(dtype=float)
        d["_pin80"] = (pinball(y, d[lo].to_numpy(dtype=float), interval[0])
                       + pinball(y, d[hi].to_numpy(dtype=float), interval[1])) / 2  # fmt: skip
    if qcols:
        d["_pin"] = np.mean(
            [pinball(d["y"].to_numpy(dtype=float), d[c].to_numpy(dtype=float), q) for q, c in qcols.items()],
            axis=0,
        )
    keys = ["unique_id", "cutoff"] if "cutoff" in d.columns else ["unique_id"]
    agg = {
        "_abs": "sum",
        "_sq": "mean",
        "_err": "sum",
        "_absy": "sum",
        "smape": "mean",
        "scale": "first",
        "scale_sq": "first",
    }
    agg |= {c: "mean" for c in ("_cov", "_pin", "_pin80") if c in d.columns}
    agg |= {c: "sum" for c in ("_ncov",) if c in d.columns}
    g = d.groupby(keys, sort=False).agg(agg)
    g["n"] = d.groupby(keys, sort=False).size()
    ok = g["scale"] > 0
    g["mase"] = np.where(ok, g["_abs"] / g["n"] / g["scale"].where(ok, 1.0), np.nan)
    g["rmsse"] = np.where(g["scale_sq"] > 0, np.sqrt(g["_sq"] / g["scale_sq"].where(ok, 1.0)), np.nan)
    for raw, name in (("_pin", "pinball"), ("_pin80", "pinball80")):
        if raw in g.columns:
            g[name] = np.where(ok, g[raw] / g["scale"].where(ok, 1.0), np.nan)
    return g.reset_index()


def summarize(per_series: pd.DataFrame, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Aggregate ``series_metrics`` rows overall (``by=None``) or per group column(s), e.g. a hierarchy
    level joined onto the rows. Scaled metrics are means over series; WAPE, bias, coverage are pooled
    (coverage over the rows that have both bounds; ``interval_share``: the share of rows that do)."""
    keys = [by] if isinstance(by, str) else list(by or [])
    d = per_series.assign(_all="all") if not keys else per_series
    keys = keys or ["_all"]
    g = d.groupby(keys, sort=True)
    out = pd.DataFrame(
        {
            "mase": g["mase"].mean(),
            "rmsse": g["rmsse"].mean(),
            "smape": g["smape"].mean(),
            "wape": g["_abs"].sum() / g["_absy"].sum(),
            "bias": g["_err"].sum() / g["_absy"].sum(),
            "n_series": g["unique_id"].nunique(),
            "n_zero_scale": g["mase"].apply(lambda s: int(s.isna().sum())),
        }
    )
    if "_cov" in d.columns:
        grp = [d[k] for k in keys]  # series_metrics writes ``_ncov`` (rows with an interval) with ``_cov``
        covered = d["_ncov"].groupby(grp).sum()
        out["coverage80"] = (d["_cov"] * d["_ncov"]).groupby(grp).sum() / covered.where(covered > 0)
        out["interval_share"] = covered / g["n"].sum()
    for name in ("pinball", "pinball80"):
        if name in d.columns:
            out[name] = g[name].mean()
    out = out.reset_index()
    return out.drop(columns="_all") if "_all" in out.columns else out


def evaluate(
    rows: pd.DataFrame, by: str | Sequence[str] | None = None, interval: tuple[float, float] = (0.1, 0.9)
) -> pd.DataFrame:
    """Forecast rows with actuals and scales → metric table (one row overall, or one per group)."""
    per = series_metrics(rows, interval)
    keys = [by] if isinstance(by, str) else list(by or [])
    extra = [k for k in keys if k not in per.columns]
    if extra:
        per = per.merge(rows[["unique_id", *extra]].drop_duplicates("unique_id"), on="unique_id", how="left")
    return summarize(per, by)
