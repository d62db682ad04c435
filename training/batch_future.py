"""The batch forecast's horizon and its future regressors: how far the batch looks ahead, the planned
price/promotion rows where the user gave them, and the documented assumption for the periods after the
plan (``FUTURE_ASSUMPTION``), flagged per row so every forecast row can say how much of it was assumed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesplan.contracts import (
    YEAR_AGO,
    SelloutDataset,
    next_periods,
    period_start,
    shift_periods,
)
from salesplan.models.hierarchy import period_shares
from salesplan.simulator.calendar import holiday_share

__all__ = ["FUTURE_ASSUMPTION", "assumed_share", "batch_periods", "extend_future"]

FUTURE_ASSUMPTION = (
    "periods after the planned future: price = the series' last known non-promotional price, promotion "
    "columns = 0, holiday columns computed from the retail holiday calendar when the data's values follow "
    "it, other known-future columns = the same series' value one year earlier (0 if none)"
)


def batch_periods(last_ds: pd.Timestamp, h: int, freq: str = "W") -> int:
    """Periods after the one starting ``last_ds`` (the last data period) through the end of the next
    calendar quarter after the data ends (the next year for yearly data); at least ``h``."""
    last = pd.Series([pd.Timestamp(last_ds)])
    last_day = shift_periods(last, freq, 1).iloc[0] - pd.Timedelta(days=1)
    plan = "Y" if freq == "Y" else "Q"
    end = shift_periods(period_start(pd.Series([last_day]), plan), plan, 2).iloc[0] - pd.Timedelta(days=1)
    n = 0
    while shift_periods(last, freq, n + 1).iloc[0] <= end:
        n += 1
    return max(int(h), n)


def _holiday_calendar(df: pd.DataFrame, col: str, freq: str) -> bool:
    """True when ``col`` equals the retail holiday calendar's share of each period's days (the
    simulator's ``holiday`` column at any frequency) and is not all zero."""
    per_date = df.groupby("ds")[col].max()
    if per_date.isna().any() or not per_date.between(0.0, 1.0).all():
        return False
    expected = holiday_share(pd.DatetimeIndex(per_date.index), freq)
    return bool(np.allclose(per_date.to_numpy(dtype=float), expected, atol=1e-9)) and bool(expected.any())


def extend_future(
    dataset: SelloutDataset, future: pd.DataFrame | None, n: int, series: Sequence[str]
) -> pd.DataFrame:
    """Future regressors of ``series`` for the ``n`` periods after the data: the planned ``future`` where
    it has them, else ``FUTURE_ASSUMPTION`` (rows flagged ``assumed``). Static and hierarchy columns
    repeat the series' last history row."""
    df, spec = dataset.df, dataset.spec
    freq = spec.freq
    ids = pd.Index([str(s) for s in series])
    periods = next_periods(pd.Timestamp(df["ds"].max()), freq, n)
    grid = pd.DataFrame({"unique_id": np.repeat(ids.to_numpy(), n), "ds": np.tile(periods, len(ids))})
    hist = df.assign(unique_id=df["unique_id"].astype(str))
    statics = [*spec.static_cols, *(spec.hierarchy.columns if spec.hierarchy else [])]
    statics = [c for c in dict.fromkeys(statics) if c in hist.columns]
    regs = [c for c in ("price", *spec.regressors) if c in hist.columns]
    if statics:
        grid = grid.merge(hist.groupby("unique_id")[statics].last(), left_on="unique_id", right_index=True)
    if not regs:
        return grid.assign(assumed=False)
    known = pd.DataFrame(columns=["unique_id", "ds"])
    if future is not None and len(future):
        have = [c for c in regs if c in future.columns]
        known = future[["unique_id", "ds", *have]].assign(
            unique_id=future["unique_id"].astype(str), ds=pd.to_datetime(future["ds"])
        )
        known = known.drop_duplicates(["unique_id", "ds"], keep="last")
    out = grid.merge(known, on=["unique_id", "ds"], how="left")
    for c in regs:
        if c not in out.columns:
            out[c] = np.nan
    assumed = out[regs].isna().any(axis=1).to_numpy()
    out["assumed"] = assumed
    if not assumed.any():
        return out
    parts = [hist[["unique_id", "ds", *regs]], *([known] if len(known) else [])]
    both = pd.concat(parts, ignore_index=True).sort_values(["unique_id", "ds"])
    promo = [c for c in spec.promo_cols if c in regs]
    if "price" in regs:
        regular = both[(both[promo].fillna(0) == 0).all(axis=1)] if promo else both
        price = regular.dropna(subset=["price"]).groupby("unique_id")["price"].last()
        fallback = both.dropna(subset=["price"]).groupby("unique_id")["price"].last()
        price = price.reindex(fallback.index).fillna(fallback)
        fill = out["unique_id"].map(price)
        out.loc[assumed & out["price"].isna().to_numpy(), "price"] = fill
    for c in promo:
        out.loc[assumed & out[c].isna().to_numpy(), c] = 0.0
    for c in (c for c in spec.exog_cols if c in regs):
        todo = assumed & out[c].isna().to_numpy()
        if _holiday_calendar(hist, c, freq):
            out.loc[todo, c] = holiday_share(pd.DatetimeIndex(out.loc[todo, "ds"]), freq)
            continue
        lag = both[["unique_id", "ds", c]].assign(ds=shift_periods(both["ds"], freq, YEAR_AGO[freq]))
        prev = out.loc[todo, ["unique_id", "ds"]].merge(lag, on=["unique_id", "ds"], how="left")[c]
        out.loc[todo, c] = prev.fillna(0.0).to_numpy()
    return out


def assumed_share(levels: pd.DataFrame, assumed: pd.Series, base: str, week_start: int) -> np.ndarray:
    """Per forecast row, the share of its period's days that fall in assumed base periods (``assumed``:
    a flag per base period start; base rows get 0 or 1)."""
    flag = assumed.groupby(level=0).max().astype(float)
    starts = pd.Series(flag.index)
    out = np.zeros(len(levels))
    own = (levels["freq"] == base).to_numpy()
    out[own] = levels.loc[own, "ds"].map(flag).fillna(0.0).to_numpy()
    for freq in pd.unique(levels.loc[~own, "freq"]):
        rows = (levels["freq"] == freq).to_numpy()
        sh = period_shares(starts, str(freq), base=base, week_start=week_start)
        sh["a"] = flag.to_numpy()[sh["row"].to_numpy()] * sh["days"]
        per = sh.groupby("period")[["a", "days"]].sum()
        share = (per["a"] / per["days"]).reindex(levels.loc[rows, "period"]).fillna(0.0)
        out[rows] = share.to_numpy()
    return out
