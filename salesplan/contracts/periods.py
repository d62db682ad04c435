"""The calendar every frame shares: the sell-out frequencies (days, weeks, calendar months, quarters and
years), how their periods are dated and labelled, which frequencies a series can be summed to, and the
per-frequency defaults (season length, forecast horizon) that the training job, the CLI and the API use.

A period is dated by its first day (``ds``): a day, the week's first day (all weeks of one frame start on
the same weekday), the 1st of the month, of the quarter's first month, of January. Labels: ``2027-01-04``
(days and weeks), ``2027-01``, ``2027Q1``, ``2027``."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError

__all__ = [
    "DAYS",
    "DEFAULT_HORIZON",
    "FREQS",
    "FREQ_NAMES",
    "MONTHS_PER",
    "PERIOD_NAMES",
    "SEASON_LENGTH",
    "YEAR_AGO",
    "Freq",
    "check_freq",
    "coarser",
    "infer_freq",
    "next_periods",
    "on_grid",
    "pandas_freq",
    "period_days",
    "period_index",
    "period_label",
    "period_start",
    "shift_periods",
]

Freq = Literal["D", "W", "M", "Q", "Y"]
FREQS: tuple[Freq, ...] = ("D", "W", "M", "Q", "Y")
"""Finest to coarsest."""
MONTHS_PER: dict[str, int] = {"M": 1, "Q": 3, "Y": 12}
SEASON_LENGTH: dict[str, int] = {"D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1}
"""Default season length per frequency: a week's days, a year's weeks, months and quarters; none for years
(``SelloutSpec.season_length`` overrides it, e.g. 365 for daily data with a yearly pattern)."""
DEFAULT_HORIZON: dict[str, int] = {"D": 91, "W": 13, "M": 3, "Q": 8, "Y": 3}
"""Default forecast (and backtest) horizon: one quarter ahead at the frequencies a quarterly plan is built
from (91 days, 13 weeks, 3 months), two years of quarters, three years."""
YEAR_AGO: dict[str, int] = {"D": 364, "W": 52, "M": 12, "Q": 4, "Y": 1}
"""Periods back to the same time last year (days: 52 weeks, so the weekday matches)."""
FREQ_NAMES: dict[str, str] = {"D": "daily", "W": "weekly", "M": "monthly", "Q": "quarterly", "Y": "yearly"}
PERIOD_NAMES: dict[str, str] = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def check_freq(freq: object, what: str = "freq") -> Freq:
    """``freq`` as a ``Freq``, or a ConfigError that lists the choices."""
    if freq not in FREQS:
        raise ConfigError(
            f"{what} must be one of {list(FREQS)} (days, weeks, months, quarters, years), got {freq!r}"
        )
    return freq


def coarser(freq: str) -> tuple[Freq, ...]:
    """The frequencies a series of ``freq`` can be summed to exactly: days → weeks, months, quarters,
    years; weeks → months, quarters, years (a week straddling two months is split by its days); months →
    quarters, years; quarters → years; years → none."""
    check_freq(freq)
    return FREQS[FREQS.index(freq) + 1 :]


SPACING_DAYS: dict[Freq, tuple[int, int]] = {
    "D": (1, 1),
    "W": (7, 7),
    "M": (28, 31),
    "Q": (89, 92),
    "Y": (365, 366),
}
"""Days between two consecutive periods of each frequency (calendar months, quarters and years vary)."""


def infer_freq(ds: pd.Series, ids: pd.Series) -> Freq | None:
    """The frequency the dates of a panel are on, or None when they fit none: the median, over series,
    of each series' shortest spacing between dates (gaps only make spacings longer), and every date on
    that frequency's grid (the first day of a month, quarter or year; one weekday for weeks). Used to tell
    a user who declared the wrong frequency which one the data has. Why by hand: ``pandas.infer_freq``
    reads one regular index and gives up on a series with a gap or on a panel of series."""
    d = _dates(ds)
    frame = pd.DataFrame({"uid": ids.to_numpy(), "d": d.to_numpy()}).dropna().drop_duplicates()
    if frame.empty:
        return None
    frame = frame.sort_values(["uid", "d"], kind="stable")
    gap = frame.groupby("uid", sort=False)["d"].diff().dt.days
    shortest = gap[gap > 0].groupby(frame["uid"]).min()
    if shortest.empty:
        return None
    days = float(shortest.median())
    freq = next((f for f, (lo, hi) in SPACING_DAYS.items() if lo <= days <= hi), None)
    return freq if freq is not None and bool(on_grid(frame["d"], freq).all()) else None


def on_grid(ds: pd.Series, freq: str) -> pd.Series:
    """Whether each date starts a period of ``freq`` as the contract dates them: midnight for days, the
    frame's most common weekday for weeks, the first day of the month, quarter or year (missing dates:
    False)."""
    check_freq(freq)
    d = _dates(ds)
    if freq == "D":
        return d.notna() & (d == d.dt.normalize())
    if freq == "W":
        weekday = d.dt.dayofweek
        return d.notna() & (weekday == weekday.mode().iloc[0]) if d.notna().any() else d.notna()
    return d.notna() & (d.dt.day == 1) & ((d.dt.month - 1) % MONTHS_PER[freq] == 0)


def _dates(ds: pd.Series | pd.DatetimeIndex) -> pd.Series:
    s = pd.Series(ds) if isinstance(ds, pd.DatetimeIndex) else ds
    return s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s)


def period_index(ds: pd.Series, freq: str) -> pd.Series:
    """Integer period number of each date (days, weeks, months, quarters or years since the epoch); gaps
    show as jumps, consecutive periods differ by 1. Weeks count 7-day blocks, so any weekday works."""
    check_freq(freq)
    d = _dates(ds)
    if freq in MONTHS_PER:
        return ((d.dt.year * 12 + d.dt.month - 1) // MONTHS_PER[freq]).astype("int64")
    days = (d - pd.Timestamp("1970-01-01")).dt.days
    return (days // (7 if freq == "W" else 1)).astype("int64")


def _from_months(months: np.ndarray) -> pd.DatetimeIndex:
    """First days of months counted from year 0 (``year * 12 + month - 1``)."""
    m = np.asarray(months, dtype="int64")
    return pd.DatetimeIndex((m - 1970 * 12).astype("datetime64[M]").astype("datetime64[ns]"))


def period_start(ds: pd.Series, freq: str, *, week_start: int = 0) -> pd.Series:
    """Start of the period of ``freq`` holding each date (weeks start on ``week_start``, 0 = Monday)."""
    check_freq(freq)
    d = _dates(ds).dt.normalize()
    if freq == "D":
        return d
    if freq == "W":
        return d - pd.to_timedelta((d.dt.dayofweek - week_start) % 7, unit="D")
    months = (d.dt.year * 12 + d.dt.month - 1) // MONTHS_PER[freq] * MONTHS_PER[freq]
    return pd.Series(_from_months(months.to_numpy()), index=d.index)


def shift_periods(ds: pd.Series, freq: str, k: int | np.ndarray | pd.Series) -> pd.Series:
    """Each period start moved ``k`` periods on (``k`` may differ per row); vectorised calendar
    arithmetic rather than ``DateOffset`` per row."""
    check_freq(freq)
    d = _dates(ds)
    steps = np.asarray(k, dtype="int64")
    if freq in MONTHS_PER:
        months = (d.dt.year * 12 + d.dt.month - 1).to_numpy() + steps * MONTHS_PER[freq]
        return pd.Series(_from_months(months), index=d.index)
    days = steps * (7 if freq == "W" else 1)
    return d + pd.to_timedelta(days, unit="D")


def next_periods(last: pd.Timestamp, freq: str, n: int) -> pd.DatetimeIndex:
    """The ``n`` period starts after ``last``."""
    shifted = shift_periods(pd.Series([pd.Timestamp(last)] * n), freq, np.arange(1, n + 1))
    return pd.DatetimeIndex(shifted)


def period_days(start: pd.Series, freq: str) -> np.ndarray:
    """Days in each period starting at ``start``."""
    nxt = shift_periods(start, freq, 1)
    return (nxt - _dates(start)).dt.days.to_numpy()


def period_label(ds: pd.Series, freq: str) -> pd.Series:
    """Readable label of each period start: ``2027-01-04`` (days, weeks), ``2027-01``, ``2027Q1``,
    ``2027``."""
    check_freq(freq)
    d = _dates(ds)
    if freq in ("D", "W"):
        return d.dt.strftime("%Y-%m-%d")
    if freq == "M":
        return d.dt.strftime("%Y-%m")
    year = d.dt.year.astype(str)
    return year + "Q" + ((d.dt.month - 1) // 3 + 1).astype(str) if freq == "Q" else year


def pandas_freq(freq: str, week_start: int = 0) -> str:
    """The pandas offset alias of a frequency, periods dated by their first day (``W-MON`` ... for weeks
    starting on ``week_start``, ``MS``, ``QS``, ``YS``): what statsforecast and mlforecast take."""
    check_freq(freq)
    if freq == "W":
        # pandas anchors W-XXX on one weekday; anchored on the start weekday, its dates are the weeks'
        # first days, as the contract dates them
        return "W-" + DAYS[week_start][:3].upper()
    return {"D": "D", "M": "MS", "Q": "QS", "Y": "YS"}[freq]
