"""Shared machinery of the validators: collect every problem, then raise once.

Hand-written because pandera-style schema libraries stop at type checks; our contracts need
cross-row rules (gaps, hierarchy consistency, funnel order) reported with row keys and fixes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from salesplan.errors import DataValidationError, Problem

SAMPLE = 5


def sample_keys(keys: Iterable[object], limit: int = SAMPLE) -> tuple[list[str], int]:
    """The first ``limit`` keys as strings and how many there are in all."""
    items = [str(k) for k in keys]
    return items[:limit], len(items)


class ProblemList:
    """Accumulates problems of one frame; ``raise_if_any`` raises them all together."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[Problem] = []

    def add(
        self,
        column: str | None,
        message: str,
        rows: Iterable[object] = (),
        fix: str = "",
        first: bool = False,
    ) -> None:
        """Record a problem; ``first``: ahead of those found so far (the one that explains them)."""
        sample, n = sample_keys(rows)
        problem = Problem(column=column, message=message, rows=tuple(sample), n_rows=n, fix=fix)
        self.items.insert(0 if first else len(self.items), problem)

    def extend(self, other: ProblemList) -> None:
        self.items.extend(other.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise DataValidationError(self.items, source=self.source)


def row_labels(df: pd.DataFrame, mask: pd.Series | np.ndarray, key_cols: Sequence[str]) -> list[str]:
    """Human-readable keys of the rows where ``mask`` holds: key columns if present, else line numbers."""
    sub = df.loc[np.asarray(mask, dtype=bool)]
    cols = [c for c in key_cols if c in sub.columns]
    if not cols:
        return [f"row {i}" for i in sub.index[: SAMPLE * 4]]
    head = sub[cols].head(SAMPLE)
    labels = ["/".join(_label(v) for v in rec) for rec in head.itertuples(index=False, name=None)]
    return labels + ["…"] * (int(np.asarray(mask, dtype=bool).sum()) - len(labels))


def _label(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)
    return str(value)


def add_rows(
    problems: ProblemList,
    df: pd.DataFrame,
    mask: pd.Series | np.ndarray,
    column: str | None,
    message: str,
    key_cols: Sequence[str],
    fix: str = "",
) -> None:
    """Record a problem for the rows in ``mask`` (nothing if the mask is empty)."""
    m = np.asarray(mask, dtype=bool)
    if m.any():
        labels = row_labels(df, m, key_cols)
        problems.items.append(
            Problem(column, message, rows=tuple(x for x in labels if x != "…"), n_rows=int(m.sum()), fix=fix)
        )


def check_required(problems: ProblemList, df: pd.DataFrame, required: Sequence[str], what: str) -> bool:
    """All required columns present? Records one problem listing the missing ones."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        problems.add(
            None,
            f"missing required column(s) {missing}; {what} needs {list(required)} (found {list(df.columns)})",
            fix="rename your columns to the contract names or map them in the loader",
        )
    return not missing


def check_not_empty(problems: ProblemList, df: pd.DataFrame, what: str) -> bool:
    if len(df) == 0:
        problems.add(None, f"{what} is empty (0 rows)", fix="pass a file with at least one data row")
        return False
    return True


DATE_RANGE = (pd.Timestamp("1901-01-01"), pd.Timestamp("2199-12-31"))
"""Dates a sales record can carry. Outside it a date is a stand-in (1900-01-01, 1899-12-30, 9999-12-31
are what spreadsheets and ERPs write for 'none'), and one such row would stretch a series' grid over a
century of empty periods (a gap error at best, a memory blow-up with ``allow_gaps``)."""
MAX_MAGNITUDE = 1e15
"""Largest magnitude a number may have: above it sums overflow float64 soon (1e308 + 1e308 is inf) and
no sales row is that large in any currency; such a value is a unit slip or a mis-read number."""
SLASHED = r"^\s*(\d{1,2})[/.](\d{1,2})[/.]\d{2,4}\b"
"""Dates written day and month first with slashes or dots (04/01/2027, 25.01.2027)."""


def _parse_dates(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text dates in any unambiguous form, and the rows whose day/month order cannot be told.

    Numbers are read only as ``yyyymmdd`` (20270104: what ERP exports and spreadsheets write), never as
    pandas' default nanoseconds since 1970, which turned 20270104 into 1970-01-01 and stored it. Slashed
    dates take the order the column itself proves (a first field above 12 is a day, a second one a day
    too): left to pandas, 04/01/2027 became April 1 and 25/01/2027 January 25 in the same column; a column
    that proves neither order (or both) is refused rather than guessed."""
    if raw.dtype.kind in "iuf":
        numeric = raw.notna()
    else:
        numeric = raw.map(
            lambda v: isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        )
    text = raw.where(~numeric)
    parts = text.astype("string").str.extract(SLASHED)
    slashed = parts[0].notna().to_numpy(dtype=bool)
    ambiguous = pd.Series(False, index=raw.index, dtype=bool)
    parsed = pd.to_datetime(text.where(~slashed), errors="coerce", format="mixed").astype("datetime64[ns]")
    if slashed.any():
        first, second = parts.loc[slashed, 0].astype(int), parts.loc[slashed, 1].astype(int)
        day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
        if day_first != month_first:
            parsed.loc[slashed] = pd.to_datetime(
                text[slashed], errors="coerce", format="mixed", dayfirst=day_first
            ).to_numpy()
        else:
            ambiguous.loc[slashed] = True
    if numeric.any():
        num = pd.to_numeric(raw[numeric], errors="coerce")
        ymd = num.where((num % 1 == 0) & num.between(10000101, 99991231)).astype("Int64").astype(str)
        parsed.loc[numeric] = pd.to_datetime(ymd, format="%Y%m%d", errors="coerce").to_numpy()
    return parsed, ambiguous


def to_dates(
    problems: ProblemList, df: pd.DataFrame, col: str, key_cols: Sequence[str], required: bool = True
) -> pd.Series:
    """Parse a date column; unparsable, ambiguous (and, if required, missing) values become problems,
    returns NaT there."""
    raw = df[col]
    ambiguous = pd.Series(False, index=raw.index, dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.to_datetime(raw)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert(None)
    else:
        parsed, ambiguous = _parse_dates(raw)
    add_rows(
        problems, df, ambiguous, col, "dates like 04/01/2027 whose day/month order the column leaves open",
        key_cols, fix="use ISO dates like 2027-01-04",
    )  # fmt: skip
    candidates = parsed.isna() & raw.notna() & ~ambiguous
    bad = pd.Series(False, index=raw.index, dtype=bool)
    if candidates.any():
        bad.loc[candidates] = (raw[candidates].astype(str).str.strip() != "").to_numpy(dtype=bool)
    # ISO dates outside pandas' range (9999-12-31, 0001-01-01) come back unparsed: judged by their year,
    # they are the same stand-ins as the parsed ones outside DATE_RANGE
    year = pd.to_numeric(
        raw.astype("string").str.extract(r"^\s*(\d{4})-\d{1,2}-\d{1,2}\b")[0], errors="coerce"
    )
    far = bad & ((year < DATE_RANGE[0].year) | (year > DATE_RANGE[1].year)).fillna(False).to_numpy(dtype=bool)
    bad &= ~far
    odd = (parsed.notna() & ((parsed < DATE_RANGE[0]) | (parsed > DATE_RANGE[1]))) | far
    add_rows(
        problems, df, odd, col,
        f"date(s) outside {DATE_RANGE[0].year}-{DATE_RANGE[1].year}, most likely a placeholder for 'no date'",
        key_cols, fix="correct those dates or drop their rows (1900-01-01 and 1899-12-30 are spreadsheets' "
        "empty dates)",
    )  # fmt: skip
    add_rows(problems, df, bad, col, "unparsable date(s)", key_cols, fix="use ISO dates like 2026-01-05")
    if required:
        add_rows(problems, df, raw.isna(), col, "missing date(s)", key_cols, fix="fill in every date")
    return parsed.astype("datetime64[ns]")


def to_numeric(
    problems: ProblemList,
    df: pd.DataFrame,
    col: str,
    key_cols: Sequence[str],
    *,
    required: bool = True,
    min_value: float | None = None,
    what: str = "value",
) -> pd.Series:
    """Parse a numeric column; non-numeric, missing (if required) and too-small values become problems."""
    raw = df[col]
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype(float)
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() & raw.notna()
    add_rows(
        problems, df, bad, col, f"non-numeric {what}(s)", key_cols, fix="use plain numbers (no units or text)"
    )
    add_rows(problems, df, np.isinf(num), col, f"infinite {what}(s)", key_cols, fix="use finite numbers")
    huge = np.isfinite(num) & (num.abs() > MAX_MAGNITUDE)
    add_rows(
        problems, df, huge, col, f"{what}(s) beyond ±{MAX_MAGNITUDE:.0e}", key_cols,
        fix="check the column's unit or a mis-parsed number, or rescale it (e.g. to thousands)",
    )  # fmt: skip
    if required:
        add_rows(problems, df, raw.isna(), col, f"missing {what}(s)", key_cols, fix="fill in every value")
    if min_value is not None:
        add_rows(
            problems,
            df,
            num < min_value,
            col,
            f"{what}(s) below {min_value:g}",
            key_cols,
            fix=f"{what}s must be >= {min_value:g}",
        )
    return num.astype(float)


def check_duplicates(
    problems: ProblemList, df: pd.DataFrame, keys: Sequence[str], what: str, fix: str = ""
) -> None:
    dup = df.duplicated(list(keys), keep=False)
    add_rows(
        problems,
        df,
        dup,
        None,
        f"duplicate {what} (same {'/'.join(keys)})",
        keys,
        fix=fix or "keep one row per key (aggregate or drop duplicates)",
    )


def clean_strings(s: pd.Series) -> pd.Series:
    """Ids and categories as trimmed strings (object dtype), missing or blank as None.

    Works on the distinct values only, so a million-row column of a few thousand ids stays fast."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    cleaned = np.array([str(u).strip() or None for u in uniques] + [None], dtype=object)
    return pd.Series(cleaned[codes], index=s.index, dtype=object)
