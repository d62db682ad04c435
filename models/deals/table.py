"""A plain table as a training set: one row per deal or lead, an outcome column, optionally an id and a
date (``salesplan train deals --input table.csv --target COLUMN [--id COLUMN] [--date COLUMN]``).

Outcomes are read leniently and refused clearly: 1/0, true/false, yes/no, won/lost, converted/not
converted (any case); rows still open (``open``, ``pending``, blank) are left out of training, and only
tell the leakage guard which columns are filled when a deal ends (blank while open). Every other column is
a candidate feature; with no timestamps behind them, the leakage guard judges each by its signals.
Columns holding dates become dates (never features: the guard says so). The date column orders the
training job's holdout by time; without one the holdout is a random share of rows, and says so."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from salesplan.errors import DataValidationError, Problem
from salesplan.models.deals.encoding import level_key
from salesplan.models.deals.features import EVIDENCE_ATTR, KEY_COLUMNS, TrainingSet
from salesplan.models.deals.leakage import open_row_evidence

WON: frozenset[str] = frozenset({"1", "1.0", "true", "t", "yes", "y", "won", "win", "converted", "closed won", "success"})  # fmt: skip
LOST: frozenset[str] = frozenset({"0", "0.0", "false", "f", "no", "n", "lost", "loss", "not converted", "closed lost", "failure", "fail"})  # fmt: skip
OPEN: frozenset[str] = frozenset({"open", "pending", "in progress", "ongoing"})
DATE_LIKE = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})([ T]\d{1,2}:\d{2}.*)?\s*$")


def table_training_set(
    table: pd.DataFrame, target: str, *, id_column: str | None = None, date_column: str | None = None,
    source: str = "table",
) -> TrainingSet:  # fmt: skip
    """Labelled rows of ``table`` (closed deals only) as a ``TrainingSet`` with no timestamp evidence."""
    problems: list[Problem] = []
    for what, col in (("--target", target), ("--id", id_column), ("--date", date_column)):
        if col is not None and col not in table.columns:
            problems.append(Problem(col, f"{what} column not in the table", fix=f"columns are: {', '.join(map(str, table.columns))}"))  # fmt: skip
    clash = [c for c in KEY_COLUMNS if c in table.columns and c not in (id_column, date_column)]
    problems += [
        Problem(c, "a column with a reserved name", fix="pass it as --id/--date or rename it") for c in clash
    ]
    if problems:
        raise DataValidationError(problems, source=source)
    label = _labels(table[target], target, source)
    closed = label.notna().to_numpy()
    t = table.loc[closed].reset_index(drop=True)
    y = label[closed].to_numpy(dtype=int)
    ids = (t[id_column].astype("string") if id_column else pd.Series([f"row {i + 1}" for i in np.flatnonzero(closed)], dtype="string"))  # fmt: skip
    bad = ids.isna() | ids.duplicated(keep=False)
    if id_column and bad.any():
        shown = ids[bad].fillna("(blank)").astype(str).unique()[:5].tolist()
        raise DataValidationError(
            [Problem(id_column, "ids missing or repeated", shown, int(bad.sum()), fix="one row per deal, each with its own id")],
            source=source,
        )  # fmt: skip
    when = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]")
    if date_column:
        when = pd.to_datetime(t[date_column], errors="coerce", format="mixed")
        if when.isna().any():
            shown = t.loc[when.isna(), date_column].astype(str).unique()[:5].tolist()
            raise DataValidationError(
                [Problem(date_column, "dates missing or not dates", shown, int(when.isna().sum()),
                         fix="give every closed row its date (ISO like 2025-03-31), or drop --date")],
                source=source,
            )  # fmt: skip
        when = when.astype("datetime64[ns]")
    X = pd.DataFrame({"opportunity_id": ids.to_numpy(dtype=object), "snapshot_ts": when.to_numpy()})
    for c in t.columns:
        if c in (target, id_column, date_column):
            continue
        X[str(c)] = _as_dates(t[c])
    features = [c for c in t.columns if c not in (target, id_column, date_column)]
    evidence = open_row_evidence(t, table.loc[~closed], features)  # the open rows' only use
    X.attrs[EVIDENCE_ATTR] = evidence
    return TrainingSet(X, y, when.reset_index(drop=True), X["opportunity_id"].to_numpy(), evidence)


def _labels(col: pd.Series, name: str, source: str) -> pd.Series:
    """1 won, 0 lost, NA open or blank; raises naming the values it cannot read."""
    if pd.api.types.is_bool_dtype(col):
        return col.astype("Int64")
    keys = col.astype("string").map(lambda v: level_key(v) if v is not pd.NA else None)
    out = pd.Series(pd.NA, index=col.index, dtype="Int64")
    out[keys.isin(WON)] = 1
    out[keys.isin(LOST)] = 0
    unknown = keys.notna() & ~keys.isin(WON | LOST | OPEN)
    if unknown.any():
        counts = col[unknown].astype(str).value_counts()
        shown = [f"{v} ({n})" for v, n in counts.head(5).items()]
        raise DataValidationError(
            [Problem(name, "outcome values that are neither won nor lost", shown, int(unknown.sum()),
                     fix="map them to won/lost (or 1/0); rows still open may say open or be blank")],
            source=source,
        )  # fmt: skip
    return out


def _as_dates(col: pd.Series) -> pd.Series:
    """A text column whose values all look like dates, as dates (so the guard reports it as one)."""
    if (
        pd.api.types.is_numeric_dtype(col)
        or pd.api.types.is_bool_dtype(col)
        or pd.api.types.is_datetime64_any_dtype(col)
    ):
        return col
    text = col.dropna().astype(str)
    if len(text) and text.map(lambda v: bool(DATE_LIKE.match(v))).mean() >= 0.95:
        return pd.to_datetime(col, errors="coerce", format="mixed")
    return col
