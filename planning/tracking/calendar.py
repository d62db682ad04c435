"""The periods of a quarter and how much of each lies inside it, and which are over as of a date.

A week that straddles the quarter's start or end counts with the share of its days inside the quarter
(as the batch forecast's temporal aggregation splits it), so plan, forecast and actual add up to the
quarter the proposal's targets are for."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError

__all__ = ["QuarterCalendar", "quarter_calendar"]

QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")
FREQ_DAYS = {"D": 1, "W": 7}


@dataclass(frozen=True)
class QuarterCalendar:
    """``starts``: period starts overlapping the quarter; ``share``: share of each period's days inside it;
    ``month``: the quarter month (``2027-01``) each period's days mostly fall in; ``ends``: last day."""

    quarter: str
    freq: str
    starts: pd.DatetimeIndex
    ends: pd.DatetimeIndex
    share: np.ndarray
    month: tuple[str, ...]

    @property
    def first_day(self) -> pd.Timestamp:
        return pd.Period(self.quarter, "Q").start_time.normalize()

    @property
    def last_day(self) -> pd.Timestamp:
        return pd.Period(self.quarter, "Q").end_time.normalize()

    def elapsed(self, as_of: pd.Timestamp | str) -> int:
        """Periods whose last day is on or before ``as_of`` (actuals through that day are complete)."""
        day = pd.Timestamp(as_of).normalize()
        return int((self.ends <= day).sum())

    @property
    def months(self) -> tuple[str, ...]:
        q = pd.Period(self.quarter, "Q")
        return tuple(str(p) for p in pd.period_range(q.start_time, q.end_time, freq="M"))


def quarter_calendar(quarter: str, freq: str = "W", week_start: int = 0) -> QuarterCalendar:
    """Periods of ``freq`` (D, W or M) overlapping ``quarter`` (``2027Q1``)."""
    if not QUARTER_RE.match(str(quarter)):
        raise ConfigError(f"quarter must look like 2027Q1, got {quarter!r}")
    q = pd.Period(quarter, "Q")
    first, last = q.start_time.normalize(), q.end_time.normalize()
    if freq == "M":
        starts = pd.date_range(first, last, freq="MS")
        ends = starts + pd.offsets.MonthEnd(0)
        share = np.ones(len(starts))
    elif freq in FREQ_DAYS:
        step = FREQ_DAYS[freq]
        begin = first - pd.Timedelta(days=(first.dayofweek - week_start) % 7) if freq == "W" else first
        starts = pd.date_range(begin, last, freq=f"{step}D")
        ends = starts + pd.Timedelta(days=step - 1)
        inside = (ends.where(ends <= last, last) - starts.where(starts >= first, first)).days + 1
        share = np.asarray(inside, float) / step
    else:
        raise ConfigError(f"tracking works on daily, weekly or monthly data, got freq {freq!r}")
    lo, hi = starts.where(starts >= first, first), ends.where(ends <= last, last)
    mid = lo + (hi - lo) / 2
    month = tuple(str(pd.Timestamp(m).to_period("M")) for m in mid)
    return QuarterCalendar(str(q), freq, pd.DatetimeIndex(starts), pd.DatetimeIndex(ends), share, month)
