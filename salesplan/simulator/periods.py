"""Sell-out at other frequencies than weeks: the weekly world split into days, or summed into calendar
months, quarters or years, with its ground truth carried along.

Each week's units are spread over its seven days by a multinomial draw with the retail day-of-week shares
``DAY_SHARE`` (so days add up to the week exactly), and every frequency is cut from those same days: the
daily sell-out is them; a month, quarter or year sums them (a week that straddles two periods gives each
side the units of its days), so one seed's days add up to its weeks, months to quarters, quarters to
years. Expected units are split by the same shares. Prices are the
days-weighted mean of the period, promotion and depth columns the share of its days on promotion and the
mean depth, ``holiday`` the share of its days in a holiday week (``calendar.holiday_share``). Only whole
calendar periods are kept: the first, partly simulated period is dropped; the period holding the last
history day moves to the future (with its actuals in the truth) when the simulated future completes it.
A series that launched or ended inside a period keeps that (smaller) period: that is what its sales
were."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from salesplan.contracts import period_days, period_start
from salesplan.simulator.calendar import holiday_share
from salesplan.simulator.config import SimConfig
from salesplan.simulator.sellout import SelloutResult

__all__ = ["DAY_SHARE", "resample_sellout"]

DAY_SHARE = np.array([0.12, 0.12, 0.13, 0.14, 0.16, 0.19, 0.14])
"""Share of a week's units sold Monday … Sunday (a typical retail week: busier towards Saturday)."""
MEAN_COLS = ("price", "promo", "promo_depth")
"""Known-future columns that become days-weighted means of the period (shares for 0/1 promotions)."""


def _weekly(so: SelloutResult) -> pd.DataFrame:
    """History and future weeks in one frame with ``y`` and ``expected``."""
    hist = so.df.assign(expected=so.expected, _hist=True)
    fut = so.future.assign(y=so.future_y, expected=so.future_expected, _hist=False)
    fut["revenue"] = np.round(fut["y"] * fut["price"], 2)
    return pd.concat([hist, fut[hist.columns]], ignore_index=True)


def _day_units(wk: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Units of each week's seven days (weeks × 7): a multinomial over ``DAY_SHARE``. History and future
    weeks draw from their own streams, the future week by week, so neither the planned horizon nor the
    history length changes the other's days."""
    hist_rng, future_rng = rng.spawn(2)
    units = np.zeros((len(wk), 7), dtype=np.int64)
    y = wk["y"].to_numpy(dtype=np.int64)
    past = wk["_hist"].to_numpy()
    units[past] = hist_rng.multinomial(y[past], DAY_SHARE)
    ahead = np.flatnonzero(~past)
    order = ahead[np.lexsort((wk["unique_id"].to_numpy()[ahead], wk["ds"].to_numpy()[ahead]))]
    units[order] = future_rng.multinomial(y[order], DAY_SHARE)
    return units


def _days(wk: pd.DataFrame, units: np.ndarray) -> pd.DataFrame:
    """Each week as seven days."""
    n = len(wk)
    out = wk.loc[wk.index.repeat(7)].reset_index(drop=True)
    out["ds"] = out["ds"] + pd.to_timedelta(np.tile(np.arange(7), n), unit="D")
    out["y"] = units.ravel().astype(float)
    out["expected"] = out["expected"].to_numpy() * np.tile(DAY_SHARE, n)
    out["revenue"] = np.round(out["y"] * out["price"], 2)
    return out


def _periods(wk: pd.DataFrame, freq: str, units: np.ndarray) -> pd.DataFrame:
    """Weeks summed to calendar periods; a straddling week gives each side the units of its days."""
    start = wk["ds"]
    first = period_start(start, freq)
    second = period_start(start + pd.Timedelta(days=6), freq)
    k = np.where(second.to_numpy() == first.to_numpy(), 7, (second - start).dt.days.to_numpy())
    p1 = np.cumsum(DAY_SHARE)[k - 1]
    y = wk["y"].to_numpy(dtype=np.int64)
    y1 = np.cumsum(units, axis=1)[np.arange(len(wk)), k - 1]
    split = k < 7
    parts = pd.concat(
        [
            wk.assign(ds=first.to_numpy(), y=y1, _days=k, expected=wk["expected"] * np.where(split, p1, 1.0)),
            wk[split].assign(
                ds=second.to_numpy()[split],
                y=(y - y1)[split],
                _days=7 - k[split],
                expected=wk["expected"].to_numpy()[split] * (1 - p1[split]),
            ),
        ],
        ignore_index=True,
    )
    parts["revenue"] = np.round(parts["y"] * parts["price"], 2)
    weighted = [c for c in MEAN_COLS if c in parts.columns]
    for c in weighted:
        parts[c] = parts[c] * parts["_days"]
    g = parts.groupby(["unique_id", "ds"], sort=True)
    sums = g[["y", "revenue", "expected", "_days", *weighted]].sum()
    for c in weighted:
        sums[c] = sums[c] / sums["_days"]
    sums["price"] = sums["price"].round(2)
    statics = [c for c in wk.columns if c not in {*sums.columns, "ds", "unique_id", "holiday"}]
    out = sums.join(g[statics].first()).reset_index()
    out["holiday"] = holiday_share(pd.DatetimeIndex(out["ds"]), freq)
    return out


def resample_sellout(so: SelloutResult, cfg: SimConfig, rng: np.random.Generator) -> SelloutResult:
    """The weekly ``SelloutResult`` at ``cfg.freq`` (module docstring); ``so`` itself for weeks."""
    if cfg.freq == "W":
        return so
    wk = _weekly(so)
    units = _day_units(wk, rng)
    cols = list(so.df.columns)
    hist_end = cfg.end_ts + pd.Timedelta(days=6)
    if cfg.freq == "D":
        frame = _days(wk, units)
        hist = frame["ds"] <= hist_end
    else:
        frame = _periods(wk, cfg.freq, units)
        last = frame["ds"] + pd.to_timedelta(period_days(frame["ds"], cfg.freq) - 1, unit="D")
        grid_end = cfg.end_ts + pd.Timedelta(weeks=cfg.horizon, days=6)
        whole = (frame["ds"] >= cfg.weeks_index[0]) & (last <= grid_end)
        hist = whole & (last <= hist_end)
        runs_on = set(so.future["unique_id"])
        future_ok = whole & ~hist & frame["unique_id"].isin(runs_on) & (last <= grid_end)
        frame = frame[hist | future_ok]
        hist = hist[hist | future_ok]
    order = frame.assign(_h=hist.to_numpy()).sort_values(["unique_id", "ds"], kind="stable")
    past, future = order[order["_h"]], order[~order["_h"]]
    return replace(
        so,
        df=past[cols].reset_index(drop=True),
        expected=past["expected"].to_numpy(),
        future=future[[c for c in cols if c not in ("y", "revenue")]].reset_index(drop=True),
        future_expected=future["expected"].to_numpy(),
        future_y=future["y"].to_numpy(dtype=float),
    )
