"""Activity exports from a CRM onto the activity contract: Salesforce-like Task and Event tables (or any
export) through a column map, with the things such exports lack filled in from the CRM.

    acts = load_activity_export({"task": tasks, "event": events}, crm=crm)

What the loader does beyond renaming: durations from seconds (``CallDurationInSeconds``) or from start and
end (``EndDateTime``); Salesforce's polymorphic ``WhatId`` split by key prefix into the opportunity
(``006``) or the account (``001``); the channel from the activity's words (``Call`` → call, ``Email`` →
message, anything with a location → visit, other customer work online); the account from the opportunity; and the
stage the deal was in when the activity happened, from the CRM's stage history. Then the frame goes through
``validate_activities`` like any other. ``read_activity_folder`` reads what ``salesplan simulate`` writes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from salesplan.contracts import ACTIVITY_COLUMNS, CHANNELS, STAGES, CRMData, StageMap, validate_activities
from salesplan.contracts.crm import EVENT_RANK
from salesplan.errors import DataNotFoundError, DataValidationError, Problem
from salesplan.io import find_table, read_table

__all__ = [
    "CHANNEL_WORDS",
    "SALESFORCE_EVENT_MAP",
    "SALESFORCE_TASK_MAP",
    "load_activity_export",
    "read_activity_folder",
]

SALESFORCE_TASK_MAP: dict[str, str] = {
    "Id": "activity_id", "OwnerId": "rep_id", "WhatId": "what_id", "AccountId": "account_id",
    "Type": "type", "TaskSubtype": "subtype", "ActivityDate": "started_at", "CompletedDateTime": "started_at",
    "CallDurationInSeconds": "seconds", "Status": "outcome", "CallDisposition": "outcome",
}  # fmt: skip
"""Salesforce Task fields → contract (``what_id``, ``subtype``, ``seconds`` are worked out, see the module)."""
SALESFORCE_EVENT_MAP: dict[str, str] = {
    "Id": "activity_id", "OwnerId": "rep_id", "WhatId": "what_id", "AccountId": "account_id",
    "Type": "type", "EventSubtype": "subtype", "StartDateTime": "started_at", "EndDateTime": "ended_at",
    "DurationInMinutes": "minutes", "Location": "location", "ShowAs": "outcome",
}  # fmt: skip
CHANNEL_WORDS: dict[str, str] = {
    "call": "call", "phone": "call", "email": "message", "e-mail": "message", "sms": "message",
    "message": "message", "whatsapp": "message", "wechat": "message", "linkedin": "message", "letter": "message",
    "visit": "visit", "onsite": "visit", "on-site": "visit", "field": "visit", "video": "online",
    "zoom": "online", "teams": "online", "webinar": "online", "online": "online", "web": "online",
}  # fmt: skip
"""Words of a type or subtype → channel (first match wins); a meeting with a location is a visit."""
OPPORTUNITY_PREFIX, ACCOUNT_PREFIX = "006", "001"


def _channel(df: pd.DataFrame, words: Mapping[str, str]) -> pd.Series:
    """Channel per row: a valid ``channel`` column as is, else from subtype/type words, else visit when
    the row has a location, else online for any other customer work (a video meeting, a proposal written);
    internal work (no deal, no account) stays empty."""
    out = (
        df["channel"].astype(object).str.lower()
        if "channel" in df.columns
        else pd.Series(None, index=df.index, dtype=object)
    )
    out = out.where(out.isin(CHANNELS))
    text = pd.Series("", index=df.index, dtype=object)
    for c in ("subtype", "type"):
        if c in df.columns:
            text = text + " " + df[c].astype(object).fillna("").astype(str).str.lower()
    for word, channel in words.items():
        out = out.where(out.notna() | ~text.str.contains(word, regex=False), channel)
    if "location" in df.columns:
        located = df["location"].astype(object).fillna("").astype(str).str.strip() != ""
        out = out.where(out.notna() | ~located, "visit")
    customer = df["opportunity_id"].notna() | df["account_id"].notna()
    return out.where(out.notna() | ~customer, "online")


def _stage_at(df: pd.DataFrame, crm: CRMData) -> pd.Series:
    """The stage each deal was in when its activity started (the last stage entered before it; Find when
    it predates every event), from the CRM's stage events."""
    ev = crm.stage_events
    ev = ev[ev["stage"].isin(STAGES) | ev["stage"].eq("Won")].assign(
        stage=lambda e: e["stage"].replace({"Won": "Sign"})
    )
    has = df["opportunity_id"].notna()
    left = pd.DataFrame({"row": np.flatnonzero(has), "opportunity_id": df.loc[has, "opportunity_id"].astype(str).to_numpy(),
                         "t": pd.to_datetime(df.loc[has, "started_at"]).to_numpy()})  # fmt: skip
    right = ev.assign(opportunity_id=ev["opportunity_id"].astype(str), rank=ev["stage"].map(EVENT_RANK))
    right = right.sort_values(["ts", "rank"]).rename(columns={"ts": "t"})[["opportunity_id", "t", "stage"]]
    m = pd.merge_asof(left.sort_values("t"), right, on="t", by="opportunity_id", direction="backward")
    out = pd.Series(None, index=df.index, dtype=object)
    out.iloc[m["row"].to_numpy()] = m["stage"].fillna("Find").to_numpy()
    return out


def load_activity_export(
    export: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    column_map: Mapping[str, str] | None = None,
    crm: CRMData | None = None,
    reps: pd.DataFrame | None = None,
    channel_words: Mapping[str, str] = CHANNEL_WORDS,
    stage_map: StageMap | None = None,
    source: str = "activity export",
) -> pd.DataFrame:
    """One export frame, or several (``{"task": ..., "event": ...}``), onto the activity contract and
    validated. ``column_map`` renames the export's columns (default: Salesforce's Task and Event fields,
    :data:`SALESFORCE_TASK_MAP` and :data:`SALESFORCE_EVENT_MAP`; map to ``channel``/``stage``/``minutes``
    directly when the export has them). With ``crm`` the account and the stage are filled in from the deal."""
    frames = {"export": export} if isinstance(export, pd.DataFrame) else dict(export)
    mapping = dict(column_map) if column_map is not None else {**SALESFORCE_TASK_MAP, **SALESFORCE_EVENT_MAP}
    parts = []
    for name, raw in frames.items():
        df = pd.DataFrame(index=raw.index)
        for src, dst in mapping.items():
            if src in raw.columns and (dst not in df.columns or df[dst].isna().all()):
                df[dst] = raw[src]
        for c in raw.columns:
            if c in ACTIVITY_COLUMNS and c not in df.columns:
                df[c] = raw[c]
        parts.append(df.assign(_part=name))
    df = pd.concat(parts, ignore_index=True)
    if "started_at" not in df.columns:
        raise DataValidationError([Problem(None, "no start time column mapped", fix="map your date/time column to 'started_at' in column_map")], source=source)  # fmt: skip
    df["started_at"] = pd.to_datetime(
        df["started_at"], errors="coerce", format="mixed", utc=True
    ).dt.tz_convert(None)
    if "minutes" not in df.columns:
        df["minutes"] = np.nan
    df["minutes"] = pd.to_numeric(df["minutes"], errors="coerce")
    if "seconds" in df.columns:
        df["minutes"] = df["minutes"].fillna(pd.to_numeric(df["seconds"], errors="coerce") / 60.0)
    if "ended_at" in df.columns:
        ended = pd.to_datetime(df["ended_at"], errors="coerce", format="mixed", utc=True).dt.tz_convert(None)
        df["minutes"] = df["minutes"].fillna((ended - df["started_at"]).dt.total_seconds() / 60.0)
    if "what_id" in df.columns:
        what = df["what_id"].astype(object).fillna("").astype(str)
        is_opp = what.str.startswith(OPPORTUNITY_PREFIX) & df["what_id"].notna()
        is_acc = what.str.startswith(ACCOUNT_PREFIX) & df["what_id"].notna()
        df["opportunity_id"] = df.get("opportunity_id", pd.Series(None, index=df.index)).where(
            lambda s: s.notna(), df["what_id"].where(is_opp)
        )
        df["account_id"] = df.get("account_id", pd.Series(None, index=df.index)).where(lambda s: s.notna(), df["what_id"].where(is_acc))  # fmt: skip
    for c in ("opportunity_id", "account_id", "stage", "outcome", "type"):
        if c not in df.columns:
            df[c] = None
    if crm is not None:
        acc = (
            crm.opportunities.set_index("opportunity_id")["account_id"]
            if "account_id" in crm.opportunities.columns
            else None
        )
        if acc is not None:
            df["account_id"] = df["account_id"].where(df["account_id"].notna(), df["opportunity_id"].map(acc))
        df["stage"] = df["stage"].where(df["stage"].notna(), _stage_at(df, crm))
    df["channel"] = _channel(df, channel_words)
    if "activity_id" not in df.columns:
        df["activity_id"] = [f"{p}-{i}" for p, i in zip(df["_part"], range(len(df)), strict=True)]
    out = df[[c for c in ACTIVITY_COLUMNS if c in df.columns]]
    return validate_activities(out, crm=crm, reps=reps, stage_map=stage_map, source=source)


def read_activity_folder(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``activities.<csv|parquet>`` and, if present, ``reps.<csv|parquet>`` (everyone who logs activities)
    of a folder, as read (validate them with the CRM)."""
    root = Path(folder)
    path = find_table(root, "activities") if root.is_dir() else None
    if path is None:
        raise DataNotFoundError(
            f"{root}: no activities.csv or activities.parquet (write one with 'salesplan simulate --out DIR', "
            "DIR/activities/, or map your CRM's export with salesplan.loaders.load_activity_export)"
        )
    reps_path = find_table(root, "reps")
    return read_table(path), read_table(reps_path) if reps_path is not None else None
