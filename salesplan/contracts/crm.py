"""CRM contract: reps, accounts, opportunities, stage events (and optionally close-date changes and the field
history of opportunity columns) on the funnel Find → Meet → Pitch → Sign → Deliver → Operate (plus the
outcomes Won/Lost).

A deal is *won* when it is signed: ``Won`` ranks with ``Sign``; Deliver and Operate follow a win.
Datasets with other stage names map onto these through a ``StageMap`` (config, not code)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pandas as pd

from salesplan.contracts._checks import (
    ProblemList,
    add_rows,
    check_duplicates,
    check_required,
    clean_strings,
    to_dates,
    to_numeric,
)
from salesplan.errors import ConfigError

STAGES: tuple[str, ...] = ("Find", "Meet", "Pitch", "Sign", "Deliver", "Operate")
OUTCOME_EVENTS: tuple[str, ...] = ("Won", "Lost")
EVENT_RANK: dict[str, int] = {**{s: i for i, s in enumerate(STAGES)}, "Won": STAGES.index("Sign")}
OUTCOMES: tuple[str, ...] = ("won", "lost", "open")
WON_EVENTS: tuple[str, ...] = ("Won", "Sign", "Deliver", "Operate")

REP_REQUIRED = ("rep_id",)
REP_DATES = ("hire_date", "end_date")
REP_TEXT = ("name", "team", "manager", "region", "role", "location_group")
"""Optional rep attributes: ``role`` (e.g. AE, manager, CSM) and ``location_group`` (e.g. expatriate /
local) split activity and productivity analyses; a CRM without them stays valid."""
ACCOUNT_REQUIRED = ("account_id",)
OPP_REQUIRED = ("opportunity_id", "rep_id", "outcome")
OPP_DATES = ("created_date", "expected_close_date", "close_date")
OPP_TEXT = ("account_id", "product", "stage", "lead_source", "region", "team")
EVENT_REQUIRED = ("opportunity_id", "stage", "ts")
CHANGE_REQUIRED = ("opportunity_id", "ts", "expected_close_date")
FIELD_HISTORY_REQUIRED = ("opportunity_id", "field", "ts")


@dataclass(frozen=True)
class StageMap:
    """Maps a dataset's stage names onto the canonical ones, e.g. Maven's
    ``{"Prospecting": "Find", "Engaging": "Pitch", "Won": "Won", "Lost": "Lost"}``."""

    mapping: Mapping[str, str]

    def __post_init__(self) -> None:
        allowed = set(STAGES) | set(OUTCOME_EVENTS)
        bad = {k: v for k, v in self.mapping.items() if v not in allowed}
        if bad:
            raise ConfigError(f"StageMap targets {bad} are not canonical stages {sorted(allowed)}")

    def apply(self, stages: pd.Series) -> pd.Series:
        """Canonical names; names neither mapped nor canonical are left as they are (the validator flags them)."""
        return stages.map(lambda s: self.mapping.get(s, s) if isinstance(s, str) else s)


@dataclass(frozen=True)
class CRMData:
    """The four CRM frames. ``accounts`` and ``stage_events`` may be empty (same columns, no rows)."""

    reps: pd.DataFrame
    opportunities: pd.DataFrame
    accounts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"account_id": pd.Series(dtype=str)}))
    stage_events: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "opportunity_id": pd.Series(dtype=str),
                "stage": pd.Series(dtype=str),
                "ts": pd.Series(dtype="datetime64[ns]"),
            }
        )
    )

    close_date_changes: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "opportunity_id": pd.Series(dtype=str),
                "ts": pd.Series(dtype="datetime64[ns]"),
                "expected_close_date": pd.Series(dtype="datetime64[ns]"),
            }
        )
    )

    field_history: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "opportunity_id": pd.Series(dtype=str),
                "field": pd.Series(dtype=str),
                "ts": pd.Series(dtype="datetime64[ns]"),
                "value": pd.Series(dtype=object),
            }
        )
    )
    """One row per time an opportunity column (``field``) was set or changed, with the new ``value`` when
    known (Salesforce's OpportunityFieldHistory): the deal model's leakage guard refuses a column first set
    or changed after the close, and builds as-of values from it."""

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            "reps": self.reps,
            "accounts": self.accounts,
            "opportunities": self.opportunities,
            "stage_events": self.stage_events,
            "close_date_changes": self.close_date_changes,
            "field_history": self.field_history,
        }


def _ids(problems: ProblemList, df: pd.DataFrame, col: str, what: str) -> pd.Series:
    ids = clean_strings(df[col])
    add_rows(problems, df, ids.isna(), col, f"missing {what} id(s)", (), fix=f"every {what} needs an id")
    return ids


def _validate_reps(problems: ProblemList, reps: pd.DataFrame) -> pd.DataFrame:
    if not check_required(problems, reps, REP_REQUIRED, "reps"):
        return reps
    out = reps.copy()
    out["rep_id"] = _ids(problems, reps, "rep_id", "rep")
    check_duplicates(problems, out, ("rep_id",), "reps", fix="one row per rep")
    for c in REP_TEXT:
        if c in out.columns:
            out[c] = clean_strings(out[c])
    for c in REP_DATES:
        if c in out.columns:
            out[c] = to_dates(problems, out, c, ("rep_id",), required=c == "hire_date" and False)
    if "quota" in out.columns:
        out["quota"] = to_numeric(
            problems, out, "quota", ("rep_id",), required=False, min_value=0, what="quota"
        )
    return out


def validate_reps(reps: pd.DataFrame, *, source: str = "reps") -> pd.DataFrame:
    """The reps table alone (e.g. everyone who logs activities, managers included): cleaned ids, text
    attributes and dates, or one ``DataValidationError`` listing every problem."""
    problems = ProblemList(source)
    out = _validate_reps(problems, reps)
    problems.raise_if_any()
    return out


def _validate_accounts(problems: ProblemList, accounts: pd.DataFrame) -> pd.DataFrame:
    if not check_required(problems, accounts, ACCOUNT_REQUIRED, "accounts"):
        return accounts
    out = accounts.copy()
    out["account_id"] = _ids(problems, accounts, "account_id", "account")
    check_duplicates(problems, out, ("account_id",), "accounts", fix="one row per account")
    return out


def _validate_opportunities(
    problems: ProblemList, opps: pd.DataFrame, stage_map: StageMap | None
) -> pd.DataFrame:
    if not check_required(problems, opps, OPP_REQUIRED, "opportunities"):
        return opps
    key = ("opportunity_id",)
    out = opps.copy()
    out["opportunity_id"] = _ids(problems, opps, "opportunity_id", "opportunity")
    check_duplicates(problems, out, key, "opportunities", fix="one row per opportunity")
    out["rep_id"] = clean_strings(out["rep_id"])
    add_rows(
        problems,
        out,
        out["rep_id"].isna(),
        "rep_id",
        "opportunity without a rep",
        key,
        fix="assign every opportunity to a rep (use a placeholder rep such as 'unassigned')",
    )
    outcome = clean_strings(out["outcome"]).str.lower()
    add_rows(
        problems,
        out,
        ~outcome.isin(OUTCOMES),
        "outcome",
        f"outcome not one of {list(OUTCOMES)}",
        key,
        fix="map your status to won / lost / open",
    )
    out["outcome"] = outcome
    for c in OPP_TEXT:
        if c in out.columns:
            out[c] = clean_strings(out[c])
    if "stage" in out.columns:
        if stage_map is not None:
            out["stage"] = stage_map.apply(out["stage"])
        bad = out["stage"].notna() & ~out["stage"].isin(STAGES)
        add_rows(
            problems,
            out,
            bad,
            "stage",
            f"unknown stage(s) {sorted(out.loc[bad, 'stage'].unique())[:5]}",
            key,
            fix=f"use {list(STAGES)} or pass a StageMap for your stage names",
        )
    if "amount" in out.columns:
        out["amount"] = to_numeric(problems, out, "amount", key, required=False, min_value=0.0, what="amount")
    for c in OPP_DATES:
        if c in out.columns:
            out[c] = to_dates(problems, out, c, key, required=False)
    if "close_date" in out.columns:
        closed = out["outcome"].isin(["won", "lost"])
        add_rows(
            problems,
            out,
            closed & out["close_date"].isna(),
            "close_date",
            "closed deal without a close date",
            key,
            fix="give won and lost deals their close date",
        )
        add_rows(
            problems,
            out,
            (out["outcome"] == "open") & out["close_date"].notna(),
            "close_date",
            "open deal with a close date",
            key,
            fix="an open deal has no close date; set its outcome",
        )
        if "created_date" in out.columns:
            add_rows(
                problems,
                out,
                out["close_date"] < out["created_date"],
                "close_date",
                "close date before the created date",
                key,
                fix="check the two dates",
            )
    return out


def _validate_events(problems: ProblemList, events: pd.DataFrame, stage_map: StageMap | None) -> pd.DataFrame:
    if not check_required(problems, events, EVENT_REQUIRED, "stage_events"):
        return events
    key = ("opportunity_id", "stage")
    out = events.copy()
    out["opportunity_id"] = _ids(problems, events, "opportunity_id", "opportunity")
    stage = clean_strings(out["stage"])
    if stage_map is not None:
        stage = stage_map.apply(stage)
    out["stage"] = stage
    known = set(STAGES) | set(OUTCOME_EVENTS)
    bad = ~out["stage"].isin(known)
    add_rows(
        problems,
        out,
        bad,
        "stage",
        f"unknown stage(s) {sorted(map(str, out.loc[bad, 'stage'].unique()))[:5]}",
        key,
        fix=f"use {list(STAGES) + list(OUTCOME_EVENTS)} or pass a StageMap for your stage names",
    )
    out["ts"] = to_dates(problems, out, "ts", key)
    check_duplicates(problems, out, key, "stage events", fix="one event per opportunity and stage")
    if problems:
        return out
    ordered = out.sort_values(["opportunity_id", "ts"], kind="stable")
    g = ordered["opportunity_id"]
    rank = ordered["stage"].map(EVENT_RANK).astype(float)  # NaN for Lost
    # Funnel order: ranks never go down in time; Lost, if any, comes last; not both won and Lost.
    prev_max = rank.groupby(g).cummax().groupby(g).shift()
    backwards = rank < prev_max
    is_lost = ordered["stage"].eq("Lost").astype(int)
    after_lost = (is_lost.groupby(g).cumsum() - is_lost) > 0
    won_row = ordered["stage"].isin(WON_EVENTS)
    both = won_row.groupby(g).transform("any") & is_lost.astype(bool).groupby(g).transform("any")
    for mask, msg in (
        (backwards, "stage events go backwards in the funnel (a later stage has an earlier timestamp)"),
        (after_lost, "stage events after Lost"),
        (both, "deal is both won (Won/Sign/Deliver/Operate) and Lost"),
    ):
        opp = ordered.loc[mask.to_numpy(dtype=bool), "opportunity_id"].drop_duplicates()
        if len(opp):
            problems.add(
                "stage",
                msg,
                opp,
                fix=f"events must follow {' → '.join(STAGES)} in time, ending in Lost or after Sign",
            )
    return out


def _validate_changes(problems: ProblemList, changes: pd.DataFrame) -> pd.DataFrame:
    """History of expected-close-date moves (one row per change): what as-of slip counts are built from."""
    if not check_required(problems, changes, CHANGE_REQUIRED, "close_date_changes"):
        return changes
    key = ("opportunity_id", "ts")
    out = changes.copy()
    out["opportunity_id"] = _ids(problems, changes, "opportunity_id", "opportunity")
    out["ts"] = to_dates(problems, out, "ts", key)
    out["expected_close_date"] = to_dates(problems, out, "expected_close_date", key)
    return out


def _validate_field_history(problems: ProblemList, history: pd.DataFrame) -> pd.DataFrame:
    """When each opportunity field was set or changed (and to what, in ``value`` when given)."""
    if not check_required(problems, history, FIELD_HISTORY_REQUIRED, "field_history"):
        return history
    key = ("opportunity_id", "field")
    out = history.copy()
    out["opportunity_id"] = _ids(problems, history, "opportunity_id", "opportunity")
    out["field"] = clean_strings(out["field"])
    add_rows(problems, out, out["field"].isna(), "field", "change without a field name", key,
             fix="name the opportunity column that changed")  # fmt: skip
    out["ts"] = to_dates(problems, out, "ts", key)
    return out


def _check_links(problems: ProblemList, crm: CRMData) -> None:
    o, r, a, e = crm.opportunities, crm.reps, crm.accounts, crm.stage_events
    key = ("opportunity_id",)
    if {"rep_id"} <= set(o.columns) and "rep_id" in r.columns:
        add_rows(
            problems,
            o,
            o["rep_id"].notna() & ~o["rep_id"].isin(r["rep_id"]),
            "rep_id",
            "opportunity's rep not in reps",
            key,
            fix="add the rep to reps or fix the rep_id",
        )
    if "account_id" in o.columns and "account_id" in a.columns and len(a):
        add_rows(
            problems,
            o,
            o["account_id"].notna() & ~o["account_id"].isin(a["account_id"]),
            "account_id",
            "opportunity's account not in accounts",
            key,
            fix="add the account or fix the account_id",
        )
    if len(e) and "opportunity_id" in e.columns and "opportunity_id" in o.columns:
        add_rows(
            problems,
            e,
            ~e["opportunity_id"].isin(o["opportunity_id"]),
            "opportunity_id",
            "stage event of an unknown opportunity",
            ("opportunity_id", "stage"),
            fix="every event must belong to an opportunity in opportunities",
        )
    ch = crm.close_date_changes
    if len(ch) and "opportunity_id" in ch.columns and "opportunity_id" in o.columns:
        add_rows(
            problems,
            ch,
            ~ch["opportunity_id"].isin(o["opportunity_id"]),
            "close_date_changes",
            "close-date change of an unknown opportunity",
            ("opportunity_id", "ts"),
            fix="every change must belong to an opportunity in opportunities",
        )
    fh = crm.field_history
    if len(fh) and "opportunity_id" in fh.columns and "opportunity_id" in o.columns:
        add_rows(
            problems,
            fh,
            ~fh["opportunity_id"].isin(o["opportunity_id"]),
            "field_history",
            "field change of an unknown opportunity",
            ("opportunity_id", "field"),
            fix="every field change must belong to an opportunity in opportunities",
        )
    if len(e) and not problems and {"opportunity_id", "outcome"} <= set(o.columns):
        won_evt = e["stage"].isin(WON_EVENTS).groupby(e["opportunity_id"]).any()
        lost_evt = e["stage"].eq("Lost").groupby(e["opportunity_id"]).any()
        oc = o.set_index("opportunity_id")["outcome"].reindex(won_evt.index)
        bad = (oc.eq("won") & ~won_evt) | (oc.eq("lost") & ~lost_evt) | (oc.eq("open") & (won_evt | lost_evt))
        if bad.any():
            problems.add(
                "outcome",
                "opportunity outcome disagrees with its stage events",
                bad[bad].index,
                fix="won deals need a Won or Sign event, lost deals a Lost event, open deals neither",
            )


def validate_crm(crm: CRMData, stage_map: StageMap | None = None, *, source: str = "CRM") -> CRMData:
    """Validate the four frames and their links; return cleaned copies or raise one
    ``DataValidationError`` listing every problem across all frames."""
    problems = ProblemList(source)
    if len(crm.opportunities) == 0:
        problems.add("opportunities", "no opportunities (0 rows)", fix="pass at least one opportunity")
        problems.raise_if_any()
    parts: dict[str, pd.DataFrame] = {}
    for name, fn in (
        ("reps", _validate_reps),
        ("accounts", _validate_accounts),
        ("close_date_changes", _validate_changes),
        ("field_history", _validate_field_history),
    ):
        sub = ProblemList(name)
        parts[name] = fn(sub, crm.frames()[name])
        _prefix(problems, sub, name)
    for name, fn2 in (("opportunities", _validate_opportunities), ("stage_events", _validate_events)):
        sub = ProblemList(name)
        parts[name] = fn2(sub, crm.frames()[name], stage_map)
        _prefix(problems, sub, name)
    clean = replace(crm, **parts)
    if not problems:
        _check_links(problems, clean)
    problems.raise_if_any()
    return clean


def _prefix(into: ProblemList, sub: ProblemList, frame: str) -> None:
    for p in sub.items:
        col = f"{frame}.{p.column}" if p.column else frame
        into.items.append(replace(p, column=col))
