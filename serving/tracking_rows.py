"""Rows of a file or request body as the typed actuals and spend plan the tracking stores, validated
through the contracts (what ``TrackingService.load`` takes): one clear error per problem, never a half
load."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import String

from salesplan.contracts import OUTCOMES, SelloutSpec, validate_sellout, validate_spend
from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.serving.db.actuals import ActualRow, BudgetRow
from salesplan.serving.db.tables import Actual, SpendBudget

__all__ = ["BOOKING_ATTRS", "actual_rows", "budget_rows"]

BOOKING_ATTRS = ("rep_id", "team", "region", "account_id", "product")
ROW = "__source_row__"
"""The position of each sell-out row in its file, carried through validation (which sorts)."""


def _day(value: Any) -> date:
    return pd.Timestamp(value).date()


def _check_length(values: list[str], column: Any, what: str, kind: str) -> None:
    """Stored keys have bounded columns (PostgreSQL enforces them, SQLite does not): a longer value is
    refused here, by name, rather than failing the load inside the database."""
    typ = column.type
    limit = typ.length if isinstance(typ, String) and typ.length else None
    long = [v for v in values if limit is not None and len(v) > limit]
    if long:
        raise DataValidationError(
            [Problem(what, f"longer than {limit} characters", rows=tuple(x[:40] + "…" for x in long[:3]),
                     n_rows=len(long), fix=f"shorten the {what} values")],
            kind,
        )  # fmt: skip


def _fits(rows: list[ActualRow], kind: str) -> list[ActualRow]:
    _check_length([r.series for r in rows], Actual.__table__.c.series, "id", kind)
    return rows


def actual_rows(kind: str, frame: pd.DataFrame, freq: str = "W") -> list[ActualRow]:
    """Rows of a file or request body as typed actuals, validated through the contracts: sell-out
    (``unique_id, ds, y`` + hierarchy columns, kept as attributes), bookings (CRM opportunities: won ones
    count, ``opportunity_id, close_date, amount`` + rep/team/region) or spend (``period, channel, region,
    spend, outcome``)."""
    if frame.empty:
        raise DataValidationError([Problem(None, "no rows", fix="load a file with at least one row")], kind)
    for col in frame.columns:
        nested = frame[col].map(lambda v: isinstance(v, dict | list | tuple | set))
        if nested.any():
            raise DataValidationError(
                [Problem(str(col), "holds lists or objects, not single values", n_rows=int(nested.sum()),
                         fix="one number, date or text per cell")],
                kind,
            )  # fmt: skip
    if kind == "sellout":
        extra = [c for c in frame.columns if c not in ("unique_id", "ds", "y")]
        # validation sorts by series and date: each row carries its position through it, so its attributes
        # (store, product, ...) stay with it whatever order the file lists the rows in
        core = validate_sellout(
            frame[[c for c in ("unique_id", "ds", "y") if c in frame.columns]].assign(
                **{ROW: range(len(frame))}
            ),
            SelloutSpec(freq=freq, allow_gaps=True, exog_cols=(ROW,)),  # type: ignore[arg-type]
            source="sell-out actuals",
        )
        attrs = frame[extra].astype("string").iloc[core[ROW].astype(int).to_numpy()] if extra else None
        return _fits([
            ActualRow("sellout", str(u), _day(d), float(y),
                      attrs={} if attrs is None else {str(k): v for k, v in attrs.iloc[i].items() if pd.notna(v)})
            for i, (u, d, y) in enumerate(zip(core["unique_id"], core["ds"], core["y"], strict=True))
        ], kind)  # fmt: skip
    if kind == "spend":
        sp = validate_spend(frame, source="spend actuals")
        return _fits([
            ActualRow("spend", f"{c}/{r}", _day(p), float(s), float(o) if pd.notna(o) else None,
                      {"channel": str(c), "region": str(r)})
            for p, c, r, s, o in zip(sp["period"], sp["channel"], sp["region"], sp["spend"], sp["outcome"],
                                     strict=True)
        ], kind)  # fmt: skip
    if kind == "bookings":
        need = [c for c in ("opportunity_id", "close_date", "amount", "outcome") if c not in frame.columns]
        if need:
            raise DataValidationError(
                [Problem(None, f"column(s) {need} missing", fix="load the CRM opportunities export")],
                "bookings",
            )
        outcome = frame["outcome"].astype(str).str.strip().str.lower()
        odd = frame.loc[~outcome.isin(OUTCOMES), "opportunity_id"].astype(str).tolist()
        if odd:  # a deal whose outcome is misspelt would be left out without a word
            raise DataValidationError(
                [Problem("outcome", f"outcome not one of {list(OUTCOMES)}", rows=tuple(odd[:5]), n_rows=len(odd),
                         fix="won deals count; lost and open ones are skipped")],
                "bookings",
            )  # fmt: skip
        won = frame[outcome == "won"]
        dates = pd.to_datetime(won["close_date"], errors="coerce")
        amount = pd.to_numeric(won["amount"], errors="coerce")
        bad = won.loc[dates.isna() | amount.isna() | (amount < 0), "opportunity_id"].astype(str).tolist()
        if bad:
            raise DataValidationError(
                [Problem("close_date/amount", "won deal without a close date or a non-negative amount",
                         rows=tuple(bad[:5]), n_rows=len(bad), fix="fix these rows in the CRM export")],
                "bookings",
            )  # fmt: skip
        keep = [c for c in BOOKING_ATTRS if c in won.columns]
        return _fits([
            ActualRow("bookings", str(o), _day(d), float(a),
                      attrs={k: str(v) for k, v in zip(keep, vals, strict=True) if pd.notna(v)})
            for o, d, a, *vals in zip(won["opportunity_id"], dates, amount, *(won[k] for k in keep), strict=True)
        ], kind)  # fmt: skip
    raise ConfigError(f"kind must be one of sellout, bookings, spend (or budget), got {kind!r}")


def budget_rows(frame: pd.DataFrame) -> list[BudgetRow]:
    """The spend plan: ``month, channel, region, budget`` and optional ``soft_cap, hard_cap, planned_outcome``."""
    need = [c for c in ("month", "channel", "region", "budget") if c not in frame.columns]
    if need:
        raise DataValidationError(
            [
                Problem(
                    None, f"column(s) {need} missing", fix="columns: month (2027-01), channel, region, budget"
                )
            ],
            "budgets",
        )
    months = frame["month"].astype(str)
    bad = months[~months.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])")]
    if len(bad):
        raise DataValidationError(
            [Problem("month", "not a month like 2027-01", rows=tuple(bad.head(5)), n_rows=len(bad),
                     fix="year and month 01-12, e.g. 2027-01")],
            "budgets",
        )  # fmt: skip
    keys = months + "/" + frame["channel"].astype(str) + "/" + frame["region"].astype(str)
    dup = keys[keys.duplicated(keep=False)]
    if len(dup):
        raise DataValidationError(
            [Problem("month/channel/region", "the same month, channel and region on more than one row",
                     rows=tuple(dict.fromkeys(dup))[:5], n_rows=len(dup),
                     fix="keep one row per month, channel and region (sum or pick the budget)")],
            "budgets",
        )  # fmt: skip

    for col in ("channel", "region"):
        _check_length(frame[col].astype(str).tolist(), SpendBudget.__table__.c[col], col, "budgets")
    nums = {}
    for col in ("budget", "soft_cap", "hard_cap", "planned_outcome"):
        if col not in frame.columns:
            continue
        raw = frame[col]
        v = pd.to_numeric(
            raw.where(raw.map(lambda x: isinstance(x, int | float | str) or x is None)), errors="coerce"
        )
        bad = frame.loc[(v.isna() & raw.notna()) | (v < 0) | ((col == "budget") & v.isna()), "month"]
        if len(bad):
            raise DataValidationError(
                [Problem(col, "not a number ≥ 0", rows=tuple(bad.astype(str).head(5)), n_rows=len(bad),
                         fix="amounts in the spend currency, e.g. 125000")],
                "budgets",
            )  # fmt: skip
        nums[col] = v

    def num(col: str, i: int) -> float | None:
        v = nums[col].iloc[i] if col in nums else None
        return None if v is None or pd.isna(v) else float(v)

    return [
        BudgetRow(months.iloc[i], str(frame["channel"].iloc[i]), str(frame["region"].iloc[i]),
                  float(nums["budget"].iloc[i]), num("soft_cap", i), num("hard_cap", i), num("planned_outcome", i))
        for i in range(len(frame))
    ]  # fmt: skip
