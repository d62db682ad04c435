"""Retail holiday weeks (Monday week starts), their share of the days of any period, and yearly Fourier
terms shared by the sell-out simulator.

Holidays are computed, not listed, so any ``end`` date and history length works."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.contracts import period_days

# Multiplicative lift on expected units in the week holding the holiday.
HOLIDAY_LIFTS: dict[str, float] = {
    "easter": 1.15,
    "black_friday": 1.45,  # Thanksgiving Thursday and Black Friday fall in the same Monday week
    "pre_christmas": 1.3,
    "christmas": 1.2,
}


def easter_sunday(year: int) -> pd.Timestamp:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return pd.Timestamp(year=year, month=month, day=day)


def _monday(ts: pd.Timestamp) -> pd.Timestamp:
    return (ts - pd.Timedelta(days=ts.dayofweek)).normalize()


def holiday_weeks(weeks: pd.DatetimeIndex) -> pd.Series:
    """Holiday name per week start (empty string for ordinary weeks)."""
    found: dict[pd.Timestamp, str] = {}
    for year in range(weeks.min().year - 1, weeks.max().year + 2):
        nov1 = pd.Timestamp(year=year, month=11, day=1)
        thanksgiving = nov1 + pd.Timedelta(days=(3 - nov1.dayofweek) % 7 + 21)
        xmas = _monday(pd.Timestamp(year=year, month=12, day=25))
        for name, day in (
            ("easter", _monday(easter_sunday(year))),
            ("black_friday", _monday(thanksgiving)),
            ("pre_christmas", xmas - pd.Timedelta(days=7)),
            ("christmas", xmas),
        ):
            found[day] = name
    return pd.Series([found.get(w, "") for w in weeks], index=weeks, dtype=object)


def fourier(weeks: pd.DatetimeIndex, k: int) -> np.ndarray:
    """Yearly Fourier terms, shape (len(weeks), 2k): sin/cos of 1..k cycles per year (by mid-week day)."""
    doy = (weeks + pd.Timedelta(days=3)).dayofyear.to_numpy(dtype=float)
    ang = 2 * np.pi * doy[:, None] * np.arange(1, k + 1)[None, :] / 365.25
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)


def holiday_share(starts: pd.DatetimeIndex | pd.Series, freq: str = "W") -> np.ndarray:
    """Share of the days of each period (dated by its first day, ``freq`` D/W/M/Q/Y) that fall in a
    holiday week of ``holiday_weeks``: 0 or 1 for days and Monday weeks, a fraction for months,
    quarters, years and weeks that start on another weekday. The simulator's ``holiday`` column at every
    frequency, and what the batch job extends it with."""
    first = pd.Series(pd.DatetimeIndex(starts))
    if first.empty:
        return np.zeros(0)
    n_days = period_days(first, freq)
    day = np.repeat(first.to_numpy(), n_days) + np.concatenate([np.arange(k) for k in n_days]).astype(
        "timedelta64[D]"
    )
    days = pd.DatetimeIndex(day)
    mondays = days - pd.to_timedelta(days.dayofweek, unit="D")
    uniq = pd.DatetimeIndex(mondays.unique())
    flag = pd.Series((holiday_weeks(uniq) != "").to_numpy(dtype=float), index=uniq)
    on = flag.reindex(mondays).to_numpy()
    owner = np.repeat(np.arange(len(first)), n_days)
    return np.bincount(owner, weights=on, minlength=len(first)) / n_days
