"""Sell-out contract: Nixtla-style long frame ``unique_id, ds, y`` plus optional price, revenue,
promotion, known-future exogenous, static and hierarchy columns. Validated once where data enters."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from salesplan.contracts._checks import (
    ProblemList,
    add_rows,
    check_duplicates,
    check_not_empty,
    check_required,
    clean_strings,
    to_dates,
    to_numeric,
)
from salesplan.contracts.periods import (
    DAYS,
    FREQ_NAMES,
    FREQS,
    MONTHS_PER,
    PERIOD_NAMES,
    SEASON_LENGTH,
    Freq,
    infer_freq,
    on_grid,
    period_index,
    shift_periods,
)
from salesplan.errors import ConfigError

__all__ = [
    "FREQS",
    "KEYS",
    "MONTHS_PER",
    "REQUIRED",
    "SEASON_LENGTH",
    "Freq",
    "Hierarchy",
    "SelloutDataset",
    "SelloutSpec",
    "fill_gaps",
    "period_index",
    "validate_sellout",
]

REQUIRED = ("unique_id", "ds", "y")
OPTIONAL_NUMERIC = ("revenue", "price")
KEYS = ("unique_id", "ds")


@dataclass(frozen=True)
class Hierarchy:
    """Ordered levels (top → bottom) of each dimension, e.g.
    ``Hierarchy({"geo": ["region", "store"], "product": ["category", "product"]})``.
    The bottom columns of all dimensions together identify one series (``unique_id``)."""

    levels: Mapping[str, Sequence[str]]

    def __post_init__(self) -> None:
        if not self.levels:
            raise ConfigError("Hierarchy needs at least one dimension, e.g. {'geo': ['region', 'store']}")
        seen: set[str] = set()
        for dim, cols in self.levels.items():
            if not cols:
                raise ConfigError(f"Hierarchy dimension {dim!r} has no levels")
            for c in cols:
                if c in seen or c in REQUIRED:
                    raise ConfigError(
                        f"Hierarchy column {c!r} is used twice or clashes with a contract column"
                    )
                seen.add(c)

    @property
    def columns(self) -> list[str]:
        return [c for cols in self.levels.values() for c in cols]

    @property
    def bottom(self) -> list[str]:
        return [list(cols)[-1] for cols in self.levels.values()]

    def to_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.levels.items()}


@dataclass(frozen=True)
class SelloutSpec:
    """Roles of the columns of a sell-out frame. Anything not named here is an unknown column.

    ``freq``: D, W, M, Q or Y (``salesplan.contracts.periods``). ``season_length``: periods per season
    when it is not the frequency's default (``SEASON_LENGTH``: 7, 52, 12, 4, 1), e.g. 365 for daily data
    with a yearly pattern; ``season`` is the one to use."""

    freq: Freq = "W"
    hierarchy: Hierarchy | None = None
    promo_cols: tuple[str, ...] = ()
    exog_cols: tuple[str, ...] = ()
    static_cols: tuple[str, ...] = ()
    allow_negative: bool = False
    allow_gaps: bool = False
    season_length: int | None = None

    def __post_init__(self) -> None:
        if self.freq not in FREQS:
            raise ConfigError(
                f"freq must be one of {FREQS} (days, weeks, months, quarters, years), got {self.freq!r}"
            )
        if self.season_length is not None and (
            isinstance(self.season_length, bool)
            or not isinstance(self.season_length, int | np.integer)
            or self.season_length < 1
        ):
            raise ConfigError(
                f"season_length must be a whole number of periods >= 1 (or None for the {self.freq} default "
                f"{SEASON_LENGTH[self.freq]}), got {self.season_length!r}"
            )

    @property
    def season(self) -> int:
        """Periods per season: ``season_length`` if given, else the frequency's default."""
        return int(self.season_length) if self.season_length is not None else SEASON_LENGTH[self.freq]

    @property
    def known_columns(self) -> list[str]:
        hier = self.hierarchy.columns if self.hierarchy else []
        return [*REQUIRED, *OPTIONAL_NUMERIC, *self.promo_cols, *self.exog_cols, *self.static_cols, *hier]

    @property
    def regressors(self) -> list[str]:
        """Known-future numeric regressors a model may use: price, promotions, other exogenous."""
        return [*self.promo_cols, *self.exog_cols]


@dataclass
class SelloutDataset:
    """A validated sell-out frame with its spec and provenance, as loaders and the simulator return it."""

    df: pd.DataFrame
    spec: SelloutSpec
    name: str
    notes: list[str] = field(default_factory=list)


def _check_grid(problems: ProblemList, df: pd.DataFrame, freq: Freq) -> None:
    if df["ds"].dropna().empty:
        return
    bad = df["ds"].notna() & ~on_grid(df["ds"], freq)
    if freq == "D":
        add_rows(problems, df, bad, "ds", "daily dates carry a time of day", KEYS, fix="drop the time part")
    elif freq in MONTHS_PER:
        add_rows(
            problems,
            df,
            bad,
            "ds",
            f"{FREQ_NAMES[freq]} ds must be the first day of the {PERIOD_NAMES[freq]}",
            KEYS,
            fix=f"date each {PERIOD_NAMES[freq]} by its first day, e.g. ds.dt.to_period('{freq}').dt.start_time",
        )
    else:
        mode = int(df["ds"].dt.dayofweek.mode().iloc[0])
        add_rows(
            problems,
            df,
            bad,
            "ds",
            f"weekly ds must all fall on the same weekday (most are {DAYS[mode]})",
            KEYS,
            fix="give each week's start date, on one weekday for all series",
        )


def _check_gaps(problems: ProblemList, df: pd.DataFrame, freq: Freq) -> None:
    sub = df.dropna(subset=["ds"]).drop_duplicates(list(KEYS))
    if sub.empty:
        return
    per = period_index(sub["ds"], freq)
    g = per.groupby(sub["unique_id"])
    expected = g.max() - g.min() + 1
    missing = (expected - g.size()).astype(int)
    gappy = missing[missing > 0]
    if len(gappy):
        rows = [f"{uid} ({n} missing)" for uid, n in gappy.sort_values(ascending=False).items()]
        problems.add(
            "ds",
            f"{len(gappy)} series have gaps ({int(gappy.sum())} missing periods in all)",
            rows,
            fix="add the missing periods with y=0 (salesplan.contracts.fill_gaps) if no sale "
            "happened, or pass allow_gaps=True to keep them as missing",
        )


def _hint_freq(problems: ProblemList, df: pd.DataFrame, freq: Freq) -> None:
    """When the dates break the declared frequency's grid or leave gaps in it, and they all sit on
    another frequency's grid, say so first: "weekly ds must fall on one weekday" or "178 missing
    periods" does not tell a user with quarterly data that the fix is ``--freq Q``."""
    if not any(p.column == "ds" for p in problems.items):
        return
    found = infer_freq(df["ds"], df["unique_id"])
    if found is None or found == freq:
        return
    problems.add(
        "ds",
        f"the dates are {FREQ_NAMES[found]} (one {PERIOD_NAMES[found]} apart, each dated by the "
        f"{PERIOD_NAMES[found]}'s first day), not {FREQ_NAMES[freq]} as declared",
        fix=f"declare the data's frequency: --freq {found} (SelloutSpec(freq={found!r}); the API's freq field)",
        first=True,
    )


def _check_hierarchy(problems: ProblemList, df: pd.DataFrame, hierarchy: Hierarchy) -> None:
    cols = [c for c in hierarchy.columns if c in df.columns]
    missing = [c for c in hierarchy.columns if c not in df.columns]
    if missing:
        problems.add(
            None,
            f"hierarchy column(s) {missing} not in the frame",
            fix="add them or change the Hierarchy spec",
        )
    for c in cols:
        add_rows(
            problems,
            df,
            df[c].isna(),
            c,
            "missing hierarchy value(s)",
            KEYS,
            fix="every row needs every hierarchy level",
        )
    for c in cols:
        n = df.groupby("unique_id", observed=True)[c].nunique()
        bad = n[n > 1]
        if len(bad):
            problems.add(
                c,
                "hierarchy value changes within a series",
                bad.index,
                fix=f"each unique_id must belong to exactly one {c}",
            )
    for dim, levels in hierarchy.levels.items():
        present = [c for c in levels if c in df.columns]
        for parent, child in itertools.pairwise(present):
            n = df.groupby(child, observed=True)[parent].nunique()
            bad = n[n > 1]
            if len(bad):
                problems.add(
                    child,
                    f"{child} belongs to more than one {parent} (dimension {dim})",
                    bad.index,
                    fix=f"make {child} ids unique per {parent}, e.g. prefix them with the {parent}",
                )
    bottoms = [c for c in hierarchy.bottom if c in df.columns]
    if bottoms and len(bottoms) == len(hierarchy.bottom):
        n = df.groupby(bottoms, observed=True)["unique_id"].nunique()
        bad = n[n > 1]
        if len(bad):
            problems.add(
                "unique_id",
                f"one combination of {bottoms} has several unique_ids",
                ["/".join(map(str, k if isinstance(k, tuple) else (k,))) for k in bad.index],
                fix="unique_id must be the bottom key of the hierarchy",
            )


def validate_sellout(
    df: pd.DataFrame, spec: SelloutSpec | None = None, *, source: str = "sell-out"
) -> pd.DataFrame:
    """Return a clean, typed sell-out frame sorted by ``unique_id, ds``, or raise one
    ``DataValidationError`` listing every problem (column, sample row keys, fix)."""
    spec = spec or SelloutSpec()
    problems = ProblemList(source)
    if not check_not_empty(problems, df, "the sell-out frame"):
        problems.raise_if_any()
    complete = check_required(problems, df, REQUIRED, "sell-out")
    unknown = [c for c in df.columns if c not in spec.known_columns]
    if unknown:
        missing = [c for c in REQUIRED if c not in df.columns]
        rename = f"; or rename one of them to the missing {missing}" if missing else ""
        problems.add(
            None,
            f"unknown column(s) {unknown}",
            fix="declare them in the spec (promo_cols, exog_cols, static_cols or the hierarchy) or drop them"
            + rename,
        )
    declared_missing = [
        c for c in (*spec.promo_cols, *spec.exog_cols, *spec.static_cols) if c not in df.columns
    ]
    if declared_missing:
        problems.add(
            None,
            f"declared column(s) {declared_missing} are missing",
            fix="add them or remove them from the spec",
        )

    if not complete:
        # the row checks need every required column; the values of the numeric columns present are still
        # checked, so one error lists every problem that can be known
        keys = tuple(k for k in KEYS if k in df.columns)
        for col in ("y", *OPTIONAL_NUMERIC, *spec.promo_cols, *spec.exog_cols):
            if col in df.columns:
                to_numeric(problems, df, col, keys, required=col == "y", what=f"{col} value")
        problems.raise_if_any()
    out = pd.DataFrame(index=df.index)
    out["unique_id"] = clean_strings(df["unique_id"])
    add_rows(
        problems,
        df,
        out["unique_id"].isna(),
        "unique_id",
        "missing series id(s)",
        ("ds",),
        fix="every row needs a unique_id",
    )
    keyed = df.assign(unique_id=out["unique_id"])
    out["ds"] = to_dates(problems, keyed, "ds", KEYS)
    keyed = keyed.assign(ds=out["ds"])
    out["y"] = to_numeric(
        problems, keyed, "y", KEYS, min_value=None if spec.allow_negative else 0.0, what="unit"
    )
    for col in OPTIONAL_NUMERIC:
        if col in df.columns:
            out[col] = to_numeric(problems, keyed, col, KEYS, required=False, min_value=0.0, what=col)
    for col in (*spec.promo_cols, *spec.exog_cols):
        if col in df.columns:
            out[col] = to_numeric(problems, keyed, col, KEYS, required=False, what=f"{col} value")
            if col in spec.promo_cols:
                add_rows(
                    problems,
                    keyed,
                    out[col].isna(),
                    col,
                    "missing promotion value(s)",
                    KEYS,
                    fix="use 0 for no promotion",
                )
    hier_cols = spec.hierarchy.columns if spec.hierarchy else []
    for col in (*spec.static_cols, *hier_cols):
        if col in df.columns:
            out[col] = (
                df[col]
                if pd.api.types.is_numeric_dtype(df[col]) and col in spec.static_cols
                else clean_strings(df[col])
            )

    check_duplicates(  # rows whose date did not parse are reported as such, not as duplicates of each other
        problems,
        out.assign(ds=keyed["ds"])[keyed["ds"].notna()],
        KEYS,
        "rows",
        fix="keep one row per unique_id and period (sum the units)",
    )
    _check_grid(problems, out.assign(ds=out["ds"]), spec.freq)
    for col in spec.static_cols:
        if col in out.columns:
            n = out.groupby("unique_id", observed=True)[col].nunique()
            bad = n[n > 1]
            if len(bad):
                problems.add(
                    col,
                    "static column changes within a series",
                    bad.index,
                    fix="static columns hold one value per series; use exog_cols for time-varying ones",
                )
    if spec.hierarchy:
        _check_hierarchy(problems, out, spec.hierarchy)
    if not spec.allow_gaps and not problems:
        _check_gaps(problems, out, spec.freq)
    if problems:
        _hint_freq(problems, out, spec.freq)
    problems.raise_if_any()
    out = out.sort_values(list(KEYS), kind="stable").reset_index(drop=True)
    for col in hier_cols:
        out[col] = out[col].astype(str)
    out["unique_id"] = out["unique_id"].astype(str)
    return out


def fill_gaps(
    df: pd.DataFrame,
    freq: Freq,
    *,
    value: float = 0.0,
    carry: Sequence[str] = (),
    zero: Sequence[str] = (),
    start: Literal["series", "global"] = "series",
) -> pd.DataFrame:
    """Add the missing periods of each series between its first (or the global first) and last date,
    with ``y = value``; ``carry`` columns (static/hierarchy/price) are forward- then back-filled and
    ``zero`` columns (promotions, revenue) are 0 in the added periods. Works at every frequency; weekly
    frames keep their weekday. Rows come out sorted by ``unique_id, ds``."""
    if df.empty:
        return df.copy()
    per = period_index(df["ds"], freq)
    base = df.assign(_p=per.to_numpy())
    bounds = base.groupby("unique_id")["_p"].agg(["min", "max"])
    if start == "global":
        bounds["min"] = bounds["min"].min()
    lengths = (bounds["max"] - bounds["min"] + 1).to_numpy()
    uid = np.repeat(bounds.index.to_numpy(), lengths)
    offs = np.concatenate([np.arange(n) for n in lengths]) if len(lengths) else np.array([], dtype=int)
    p = np.repeat(bounds["min"].to_numpy(), lengths) + offs
    grid = pd.DataFrame({"unique_id": uid, "_p": p})
    merged = grid.merge(base, on=["unique_id", "_p"], how="left")
    # every period is the anchor date moved a whole number of periods (weeks keep the data's weekday)
    anchor = pd.Series([df["ds"].iloc[0]] * len(merged))
    merged["ds"] = shift_periods(anchor, freq, merged["_p"].to_numpy() - int(per.iloc[0])).to_numpy()
    merged["y"] = merged["y"].fillna(value)
    for col in zero:
        if col in merged.columns:
            merged[col] = merged[col].fillna(0.0)
    if carry:
        cols = [c for c in carry if c in merged.columns]
        filled = merged.groupby("unique_id")[cols].ffill()
        merged[cols] = filled.fillna(filled.groupby(merged["unique_id"]).bfill())
    return merged.drop(columns="_p")[list(df.columns)]
