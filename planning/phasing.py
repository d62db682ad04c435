"""Monthly phasing of quarterly targets: each quarter's target split over its three months by the
forecast's monthly shape or last year's, to the cent (largest remainder keeps the three months summing
exactly to the quarter). Months with no shape information fall back to an even split, stated per row."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, Problem

Shape = Literal["forecast", "last_year", "even"]


def _quarter(q: object) -> pd.Period:
    try:
        return pd.Period(str(q), freq="Q")
    except (ValueError, TypeError):
        raise ConfigError(f"quarter {q!r} not understood; use e.g. '2026Q1'") from None


def split_cents(total: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rows of ``weights`` (n, k) scaled to ``total`` (n,) in integer cents by largest remainder, so each
    row sums exactly to round(total × 100). Rows with no positive weight split evenly."""
    cents = np.rint(np.asarray(total, dtype=float) * 100)
    w = np.where(np.asarray(weights, dtype=float) > 0, weights, 0.0)
    s = w.sum(axis=1, keepdims=True)
    w = np.where(s > 0, w / np.where(s > 0, s, 1), 1.0 / w.shape[1])
    raw = cents[:, None] * w
    fl = np.floor(raw + 1e-9)
    rem = (cents - fl.sum(axis=1)).astype(np.int64)
    rank = np.argsort(np.argsort(-(raw - fl), axis=1, kind="stable"), axis=1, kind="stable")
    return (fl + (rank < rem[:, None])) / 100


def monthly_shares(df: pd.DataFrame, value: str, *, shift_years: int = 0) -> pd.DataFrame:
    """Sum ``value`` per unit and calendar month from a frame with ``unique_id`` (or ``unit_id``) and
    ``ds``; ``shift_years`` moves the months forward (1 = last year's shape used for this year)."""
    idc = "unit_id" if "unit_id" in df.columns else "unique_id"
    missing = [c for c in (idc, "ds", value) if c not in df.columns]
    if missing:
        raise DataValidationError(
            [Problem(c, "column missing", fix=f"pass unit id, ds and {value}") for c in missing],
            "phasing shape",
        )
    month = (pd.to_datetime(df["ds"]) + pd.DateOffset(years=shift_years)).dt.to_period("M")
    out = df.assign(month=month).groupby([df[idc].astype(str).rename("unit_id"), "month"])[value].sum()
    return out.rename("weight").reset_index()


def phase(
    targets: pd.DataFrame,
    shape: Shape = "forecast",
    *,
    forecast: pd.DataFrame | None = None,
    actuals: pd.DataFrame | None = None,
    value: str | None = None,
) -> pd.DataFrame:
    """Months of each ``quarter, unit_id, target`` row: long frame ``quarter, unit_id, month, m, target,
    shape`` (``m`` = 1..3). ``forecast`` (``unique_id, ds, yhat``) gives the forecast's monthly shape,
    ``actuals`` (``unique_id, ds, y``) last year's; units without a shape for that quarter split evenly."""
    need = [c for c in ("quarter", "unit_id", "target") if c not in targets.columns]
    if need:
        raise DataValidationError(
            [Problem(c, "column missing", fix="pass an allocation's targets frame") for c in need], "targets"
        )
    t = targets[["quarter", "unit_id", "target"]].copy()
    t["unit_id"] = t["unit_id"].astype(str)
    periods = [_quarter(q) for q in t["quarter"]]
    months = pd.DataFrame([[q.asfreq("M", "start") + j for j in range(3)] for q in periods]).to_numpy()
    w = np.zeros((len(t), 3))
    used = np.full(len(t), "even", dtype=object)
    if shape != "even":
        src = forecast if shape == "forecast" else actuals
        if src is None:
            raise ConfigError(f"shape={shape!r} needs {'forecast' if shape == 'forecast' else 'actuals'}=")
        col = value or ("yhat" if shape == "forecast" else "y")
        sh = monthly_shares(src, col, shift_years=0 if shape == "forecast" else 1)
        lookup = sh.set_index(["unit_id", "month"])["weight"]
        keys = pd.MultiIndex.from_arrays([np.repeat(t["unit_id"].to_numpy(), 3), months.ravel()])
        w = lookup.reindex(keys).to_numpy(dtype=float).reshape(len(t), 3)
        ok = (
            (~np.isnan(w)).all(axis=1)
            & (np.nan_to_num(w) >= 0).all(axis=1)
            & (np.nan_to_num(w).sum(axis=1) > 0)
        )
        w = np.where(ok[:, None], np.nan_to_num(w), 0.0)
        used = np.where(ok, shape, "even")
    elif shape not in ("forecast", "last_year", "even"):
        raise ConfigError(f"shape must be 'forecast', 'last_year' or 'even', got {shape!r}")
    split = split_cents(t["target"].to_numpy(dtype=float), w)
    return pd.DataFrame(
        {
            "quarter": np.repeat([str(q) for q in periods], 3),
            "unit_id": np.repeat(t["unit_id"].to_numpy(), 3),
            "month": months.ravel(),
            "m": np.tile([1, 2, 3], len(t)),
            "target": split.ravel(),
            "shape": np.repeat(used, 3),
        }
    )


def wide(phased: pd.DataFrame) -> pd.DataFrame:
    """``quarter, unit_id, m1, m2, m3`` from :func:`phase` output (the proposal's monthly columns)."""
    w = phased.pivot_table(index=["quarter", "unit_id"], columns="m", values="target", aggfunc="sum")
    w.columns = [f"m{int(c)}" for c in w.columns]
    return w.reset_index()
