"""Activity contract: what sales people did and how long it took (visits, calls, messages, demos, onboarding
sessions, travel, admin, coaching), one row per activity, linked to the rep who did it and, when it served a
deal, to the opportunity, its account and the funnel stage the deal was in.

Columns: ``activity_id, rep_id, opportunity_id (optional), account_id, type, stage, started_at, minutes,
channel, outcome``. ``type`` and ``outcome`` are the team's own words (lower-cased); ``channel`` is one of
:data:`CHANNELS`. Internal work (admin, coaching, training, team meetings) has no opportunity, and may have
no account, stage or channel; work on a deal has its stage. Reps (everyone who logs activities, managers
included) carry ``role`` and ``location_group`` in the reps table (``contracts.crm.validate_reps``)."""

from __future__ import annotations

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
from salesplan.contracts.crm import STAGES, CRMData, StageMap

__all__ = [
    "ACTIVITY_COLUMNS",
    "ACTIVITY_REQUIRED",
    "CHANNELS",
    "MAX_MINUTES",
    "empty_activities",
    "validate_activities",
]

ACTIVITY_REQUIRED: tuple[str, ...] = (
    "activity_id", "rep_id", "account_id", "type", "stage", "started_at", "minutes", "channel", "outcome",
)  # fmt: skip
ACTIVITY_COLUMNS: tuple[str, ...] = (*ACTIVITY_REQUIRED[:2], "opportunity_id", *ACTIVITY_REQUIRED[2:])
CHANNELS: tuple[str, ...] = ("visit", "call", "message", "online")
MAX_MINUTES = 24 * 60.0
"""One activity lasts at most a day: longer rows are almost always a unit mix-up (seconds logged as minutes)."""
KEY = ("activity_id",)


def empty_activities() -> pd.DataFrame:
    """A valid activity frame with no rows (the columns and dtypes of the contract)."""
    cols: dict[str, pd.Series] = {c: pd.Series(dtype=object) for c in ACTIVITY_COLUMNS}
    cols["started_at"] = pd.Series(dtype="datetime64[ns]")
    cols["minutes"] = pd.Series(dtype=float)
    return pd.DataFrame(cols)


def _category(s: pd.Series, lower: bool = False, stage_map: StageMap | None = None) -> pd.Series:
    """Trimmed (optionally lower-case) text as a categorical, missing or blank as NaN, cleaned on the
    distinct values only: a 5 M-row column of a few thousand ids or a few dozen words stays fast, and every
    analysis downstream groups on its integer codes instead of hashing strings again."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    cleaned = pd.Series(
        [(str(u).strip().lower() if lower else str(u).strip()) or None for u in uniques], dtype=object
    )
    if stage_map is not None:
        cleaned = stage_map.apply(cleaned)
    new_codes, cats = pd.factorize(cleaned, use_na_sentinel=True)  # values equal once trimmed merge here
    mapped = np.append(new_codes, -1)[codes]
    cat = pd.Categorical.from_codes(mapped, pd.Index(cats, dtype=object))  # type: ignore[arg-type]  # pandas-stubs want a Sequence; an int array is what it takes
    return pd.Series(cat, index=s.index)


def validate_activities(
    activities: pd.DataFrame,
    *,
    crm: CRMData | None = None,
    reps: pd.DataFrame | None = None,
    stage_map: StageMap | None = None,
    source: str = "activities",
) -> pd.DataFrame:
    """A cleaned copy of ``activities`` (ids and words as categoricals of text, ``type``/``channel``/
    ``outcome`` lower-case, ``stage`` canonical, ``started_at`` datetime, ``minutes`` float), or one
    ``DataValidationError`` listing every
    problem. With ``crm`` the links are checked too (opportunities, their accounts); ``reps`` (default the
    CRM's) is who may log activities: every ``rep_id`` must be there."""
    problems = ProblemList(source)
    if not check_required(problems, activities, ACTIVITY_REQUIRED, "activities") or not check_not_empty(
        problems, activities, "activities"
    ):
        problems.raise_if_any()
    out = activities.copy()
    if "opportunity_id" not in out.columns:
        out["opportunity_id"] = None
    out["activity_id"] = clean_strings(out["activity_id"])
    for c in ("rep_id", "opportunity_id", "account_id"):
        out[c] = _category(out[c])
    for c in ("type", "channel", "outcome"):
        out[c] = _category(out[c], lower=True)
    out["stage"] = _category(out["stage"], stage_map=stage_map)
    for col, what in (("activity_id", "activity"), ("rep_id", "rep"), ("type", "type")):
        add_rows(problems, out, out[col].isna(), col, f"missing {what}", KEY,
                 fix=f"every activity needs its {what}" + (" (who did it)" if col == "rep_id" else ""))  # fmt: skip
    check_duplicates(problems, out, KEY, "activities", fix="one row per activity (drop the duplicates)")
    out["started_at"] = to_dates(problems, out, "started_at", KEY)
    out["minutes"] = to_numeric(problems, out, "minutes", KEY, min_value=0.0, what="duration")
    add_rows(problems, out, out["minutes"] > MAX_MINUTES, "minutes", f"durations above {MAX_MINUTES:g} minutes",
             KEY, fix="minutes is the duration in minutes; convert seconds or hours first")  # fmt: skip
    internal = out["opportunity_id"].isna() & out["account_id"].isna()
    bad_channel = out["channel"].notna() & ~out["channel"].isin(CHANNELS)
    add_rows(problems, out, bad_channel, "channel",
             f"unknown channel(s) {sorted(map(str, out.loc[bad_channel, 'channel'].unique()))[:5]}", KEY,
             fix=f"use one of {list(CHANNELS)} (map e.g. 'Email' to message, 'Meeting' to visit or online)")  # fmt: skip
    add_rows(problems, out, out["channel"].isna() & ~internal, "channel", "activity with a customer but no channel",
             KEY, fix=f"give every customer activity a channel: {list(CHANNELS)}")  # fmt: skip
    bad_stage = out["stage"].notna() & ~out["stage"].isin(STAGES)
    add_rows(problems, out, bad_stage, "stage",
             f"unknown stage(s) {sorted(map(str, out.loc[bad_stage, 'stage'].unique()))[:5]}", KEY,
             fix=f"use {list(STAGES)} or pass a StageMap for your stage names")  # fmt: skip
    add_rows(problems, out, out["stage"].isna() & out["opportunity_id"].notna(), "stage",
             "deal activity without a stage", KEY,
             fix="give the stage the deal was in (the loader derives it from the stage history)")  # fmt: skip
    if not problems:
        _check_links(
            problems, out, crm, reps if reps is not None else (crm.reps if crm is not None else None)
        )
    problems.raise_if_any()
    return out


def _check_links(
    problems: ProblemList, out: pd.DataFrame, crm: CRMData | None, reps: pd.DataFrame | None
) -> None:
    """Reps, opportunities and accounts the activities name must exist, and a deal's activity its account."""
    if reps is not None and "rep_id" in reps.columns:
        known = set(clean_strings(reps["rep_id"]).dropna())
        unknown = out["rep_id"].notna() & ~out["rep_id"].isin(known)
        names = sorted(map(str, out.loc[unknown, "rep_id"].unique()))[:5]
        add_rows(problems, out, unknown, "rep_id", f"activity of a rep not in reps {names}", KEY,
                 fix="add the person (with role and location_group) to reps, or fix the rep_id")  # fmt: skip
    if crm is None:
        return
    o = crm.opportunities
    has_opp = out["opportunity_id"].notna()
    if "opportunity_id" in o.columns:
        add_rows(problems, out, has_opp & ~out["opportunity_id"].isin(o["opportunity_id"]), "opportunity_id",
                 "activity of an unknown opportunity", KEY,
                 fix="every opportunity_id must be in the CRM's opportunities (or leave it blank)")  # fmt: skip
    a = crm.accounts
    if "account_id" in a.columns and len(a):
        add_rows(problems, out, out["account_id"].notna() & ~out["account_id"].isin(a["account_id"]),
                 "account_id", "activity with an account not in accounts", KEY,
                 fix="add the account or fix the account_id")  # fmt: skip
    if {"opportunity_id", "account_id"} <= set(o.columns):
        opp = out["opportunity_id"].cat
        of_cat = pd.Series(opp.categories).map(
            o.drop_duplicates("opportunity_id").set_index("opportunity_id")["account_id"]
        )
        codes = opp.codes.to_numpy()
        deal_account = of_cat.to_numpy(dtype=object)[np.maximum(codes, 0)]
        deal_account[codes < 0] = None
        mine = out["account_id"].astype(object).to_numpy()
        wrong = has_opp.to_numpy() & pd.notna(mine) & pd.notna(deal_account) & (deal_account != mine)
        add_rows(problems, out, wrong, "account_id", "activity's account differs from its opportunity's", KEY,
                 fix="a deal's activities are with the deal's account; fix one of the two ids")  # fmt: skip
