"""Temporal aggregation: values of a base frequency summed to every coarser calendar frequency, exactly.

Only to coarser frequencies (``salesplan.contracts.coarser``): days → weeks, months, quarters, years;
weeks → months, quarters, years; months → quarters, years; quarters → years. A day, month or quarter lies
in one period of each coarser frequency. A week is seven equal days, so a week that straddles a month (or
quarter, or year) boundary gives each side its share of days: Mon 2026-12-28 puts 4/7 of its value in
2026-12 / 2026Q4 / 2026 and 3/7 in 2027-01 / 2027Q1 / 2027. Totals are conserved to float precision (the
shares of a base period sum to 1), so months add up to quarters and quarters to years.

Quantiles do not add; ``models.hierarchy.temporal_quantiles`` turns base-period distributions into
distributions of period sums.

Grouping (``by``) defaults to ``unique_id`` plus ``level`` when the frame has one, so a forecast frame
of all hierarchy levels goes through as is (and stays coherent: day shares are linear)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from salesplan.contracts import FREQ_NAMES, PERIOD_NAMES, coarser, period_days, period_label, period_start
from salesplan.contracts.periods import DAYS, check_freq
from salesplan.errors import ConfigError, DataValidationError, Problem

__all__ = [
    "Period",
    "default_by",
    "fail",
    "parse_period",
    "period_coverage",
    "period_shares",
    "quarter_coverage",
    "to_periods",
    "week_shares",
]

Period = Literal["W", "M", "Q", "Y"]
"""A frequency a finer series is aggregated to."""


def fail(message: str, rows: Iterable[object] = (), fix: str = "", column: str | None = None) -> None:
    """Raise one validation problem of temporal aggregation (sample of five ``rows``, all counted)."""
    items = [str(r) for r in rows]
    raise DataValidationError(
        [Problem(column, message, rows=tuple(items[:5]), n_rows=len(items), fix=fix)], "temporal aggregation"
    )


def default_by(df: pd.DataFrame, by: Sequence[str] | None) -> list[str]:
    """Default grouping: the series id, plus its hierarchy ``level`` when the frame has one."""
    if by is not None:
        return list(by)
    return ["unique_id", *(["level"] if "level" in df.columns else [])]


def _check_pair(base: str, freq: str) -> None:
    check_freq(base, "base")
    if freq not in coarser(base):
        raise ConfigError(
            f"{FREQ_NAMES[base]} values aggregate only to coarser frequencies {list(coarser(base))}, "
            f"not to {freq!r}"
        )


def _base_starts(ds: pd.Series, base: str, week_start: int) -> pd.Series:
    """Base-period dates as midnight timestamps, each the first day of its period (weeks on
    ``week_start``, 0 = Monday)."""
    if not pd.api.types.is_datetime64_any_dtype(ds):
        ds = pd.to_datetime(ds, errors="coerce")
    if ds.isna().any():
        fail("missing or unreadable dates", ds.index[ds.isna()], "give every row its period start", "ds")
    bad = ds != period_start(ds, base, week_start=week_start)
    if bad.any():
        if base == "W":
            what = f"weekly dates must be {DAYS[week_start]} midnights (the start of each week)"
            fix = f"shift each date to its week's {DAYS[week_start]}, e.g. ds - pd.to_timedelta(ds.dt.dayofweek, 'D')"
        else:
            what = f"{FREQ_NAMES[base]} dates must be the first day of each {PERIOD_NAMES[base]} at midnight"
            fix = f"date each {PERIOD_NAMES[base]} by its first day, e.g. ds.dt.to_period('{base}').dt.start_time"
        fail(what, ds[bad].dt.strftime("%Y-%m-%d %H:%M").unique(), fix, "ds")
    return ds


def period_shares(ds: pd.Series, freq: str = "M", *, base: str = "W", week_start: int = 0) -> pd.DataFrame:
    """Split each base period (dated by ``ds``) over the periods of the coarser ``freq`` by days: one
    row per input row, two for a week that straddles a boundary, with ``row`` (position in ``ds``),
    ``period`` ("2027-01" / "2027Q1" / "2027" / a week's start date), ``period_start``, ``days`` (of the
    base period inside that period) and ``share`` (of the base period's days).

    ``week_start`` is the weekday weeks start on: of the input weeks when ``base`` is W, of the output
    weeks when ``freq`` is W (days to weeks)."""
    _check_pair(base, freq)
    start = _base_starts(ds.reset_index(drop=True), base, week_start)
    pos = np.arange(len(start))
    first = period_start(start, freq, week_start=week_start)
    if base != "W":  # a day, month or quarter lies inside one coarser period
        days = period_days(start, base)
        out = pd.DataFrame({"row": pos, "period_start": first.to_numpy(), "days": days, "share": 1.0})
    else:
        nxt = period_start(start + pd.Timedelta(days=6), freq, week_start=week_start)
        days1 = np.minimum((nxt - start).dt.days.to_numpy(), 7)
        days1 = np.where(nxt.to_numpy() == first.to_numpy(), 7, days1)
        split = days1 < 7
        out = pd.DataFrame(
            {
                "row": np.concatenate([pos, pos[split]]),
                "period_start": np.concatenate([first.to_numpy(), nxt.to_numpy()[split]]),
                "days": np.concatenate([days1, 7 - days1[split]]),
            }
        )
        out["share"] = out["days"] / 7.0
    out["period"] = period_label(out["period_start"], freq).to_numpy()
    out = out[["row", "period", "period_start", "days", "share"]]
    return out.sort_values(["row", "period_start"], kind="stable").reset_index(drop=True)


def week_shares(ds: pd.Series, freq: str = "M", *, week_start: int = 0) -> pd.DataFrame:
    """``period_shares`` of weeks (``base="W"``)."""
    return period_shares(ds, freq, base="W", week_start=week_start)


def check_unique(df: pd.DataFrame, keys: list[str]) -> None:
    """One row per series and base period."""
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        fail(
            f"duplicate rows for {keys}",
            df.loc[dup, keys].astype(str).agg("/".join, axis=1).unique(),
            "keep one row per series and period (sum them first)",
        )


def to_periods(
    df: pd.DataFrame,
    freq: str = "M",
    value_cols: Sequence[str] = ("yhat",),
    by: Sequence[str] | None = None,
    *,
    week_start: int = 0,
    base: str = "W",
) -> pd.DataFrame:
    """Sum base-frequency values (forecasts or actuals; not quantiles) to the coarser ``freq``.

    Returns ``by..., period, period_start, value_cols..., coverage`` where ``coverage`` is the share of
    the period's days covered by that group's base periods (1.0 = complete; below 1 = partial, e.g. the
    forecast horizon ends mid-quarter). A NaN base value makes its periods NaN."""
    by, value_cols = default_by(df, by), list(value_cols)
    missing = [c for c in [*by, "ds", *value_cols] if c not in df.columns]
    if missing:
        fail(f"column(s) {missing} missing", fix="pass the frame with its id and value columns")
    _check_pair(base, freq)
    check_unique(df, [*by, "ds"])
    shares = period_shares(df["ds"], freq, base=base, week_start=week_start)
    rows = shares["row"].to_numpy()
    base_rows = df.iloc[rows].reset_index(drop=True)
    vals = base_rows[value_cols].to_numpy(dtype=float) * shares["share"].to_numpy()[:, None]
    work = pd.DataFrame(vals, columns=value_cols)
    for c in by:
        work[c] = base_rows[c].to_numpy()
    work["period"], work["period_start"] = shares["period"], shares["period_start"]
    work["days"] = shares["days"].to_numpy()
    keys = [*by, "period", "period_start"]
    g = work.groupby(keys, sort=True, dropna=False)
    out = g[value_cols].sum()
    out = out.mask(work[value_cols].isna().groupby([work[k] for k in keys], dropna=False).any())
    out["coverage"] = g["days"].sum()
    out = out.reset_index()
    out["coverage"] = out["coverage"] / period_days(out["period_start"], freq)
    return out


def parse_period(period: str) -> tuple[pd.Timestamp, Period]:
    """Start and frequency of a period label: ``2027Q1``, ``2027-01``, ``2027`` or a week's start date."""
    text = str(period).strip().upper()
    try:
        if "Q" in text:
            return pd.Period(text, freq="Q").start_time, "Q"
        if text.isdigit() and len(text) == 4:
            return pd.Timestamp(f"{text}-01-01"), "Y"
        if len(text) == 7:
            return pd.Period(text, freq="M").start_time, "M"
        if len(text) == 10:
            return pd.Timestamp(text), "W"
    except (ValueError, TypeError):
        pass
    raise ConfigError(f"period {period!r} is not like '2027Q1', '2027-01', '2027' or a week's '2027-01-04'")


def period_coverage(
    ds: pd.Series | Sequence[object], period: str, *, week_start: int = 0, base: str = "W"
) -> float:
    """Share (0–1) of the days of ``period`` ("2027Q1", "2027-01", "2027") covered by the base periods
    in ``ds`` (duplicates, e.g. one row per series, are fine) — below 1 means a partial period."""
    start, freq = parse_period(period)
    dates = pd.Series(pd.to_datetime(pd.Series(list(ds)), errors="coerce")).drop_duplicates()
    if dates.empty:
        return 0.0
    shares = period_shares(dates, freq, base=base, week_start=week_start)
    covered = int(shares.loc[shares["period_start"] == start, "days"].sum())
    return covered / int(period_days(pd.Series([start]), freq)[0])


def quarter_coverage(
    ds: pd.Series | Sequence[object], quarter: str, *, week_start: int = 0, base: str = "W"
) -> float:
    """Share of the days of ``quarter`` (e.g. "2027Q1") covered by the available base periods."""
    if "Q" not in str(quarter).upper():
        raise ConfigError(f"quarter must look like '2027Q1', got {quarter!r}")
    return period_coverage(ds, quarter, week_start=week_start, base=base)
