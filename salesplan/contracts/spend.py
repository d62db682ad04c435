"""Spend contract: spend per period × channel × region and the outcome it drove, for response curves."""

from __future__ import annotations

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

SPEND_REQUIRED = ("period", "channel", "region", "spend", "outcome")
SPEND_KEYS = ("period", "channel", "region")


def validate_spend(df: pd.DataFrame, *, source: str = "spend") -> pd.DataFrame:
    """Clean typed spend frame sorted by period/channel/region, or one ``DataValidationError`` with all problems."""
    problems = ProblemList(source)
    if not check_not_empty(problems, df, "the spend frame") or not check_required(
        problems, df, SPEND_REQUIRED, "spend"
    ):
        problems.raise_if_any()
    unknown = [c for c in df.columns if c not in SPEND_REQUIRED]
    if unknown:
        problems.add(None, f"unknown column(s) {unknown}", fix=f"spend holds only {list(SPEND_REQUIRED)}")
    out = pd.DataFrame(index=df.index)
    for c in ("channel", "region"):
        out[c] = clean_strings(df[c])
        add_rows(problems, df, out[c].isna(), c, f"missing {c}", SPEND_KEYS, fix=f"every row needs a {c}")
    out["period"] = to_dates(problems, df, "period", SPEND_KEYS)
    out["spend"] = to_numeric(problems, df, "spend", SPEND_KEYS, min_value=0.0, what="spend")
    out["outcome"] = to_numeric(problems, df, "outcome", SPEND_KEYS, what="outcome")
    check_duplicates(
        problems,
        out.assign(period=df["period"]),
        SPEND_KEYS,
        "rows",
        fix="one row per period, channel and region (sum them)",
    )
    problems.raise_if_any()
    return out[list(SPEND_REQUIRED)].sort_values(list(SPEND_KEYS), kind="stable").reset_index(drop=True)
