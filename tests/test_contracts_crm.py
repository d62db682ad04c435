"""The CRM contract: each broken rule is named, links between frames are checked, stage maps work."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.contracts import CRMData, StageMap, validate_crm, validate_spend
from salesplan.errors import ConfigError, DataValidationError


def _crm(frames: dict[str, pd.DataFrame], **changes: pd.DataFrame) -> CRMData:
    return CRMData(**{**frames, **changes})


def _problems(crm: CRMData, stage_map: StageMap | None = None) -> str:
    with pytest.raises(DataValidationError) as info:
        validate_crm(crm, stage_map)
    return str(info.value)


def test_clean_crm_accepted(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    out = validate_crm(_crm(clean_crm_frames))
    assert pd.api.types.is_datetime64_any_dtype(out.opportunities["created_date"])
    assert pd.api.types.is_datetime64_any_dtype(out.stage_events["ts"])
    assert pd.api.types.is_datetime64_any_dtype(out.reps["hire_date"])
    assert len(out.close_date_changes) == 0


def test_missing_columns_named(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    opps = clean_crm_frames["opportunities"].drop(columns=["outcome"])
    msg = _problems(_crm(clean_crm_frames, opportunities=opps))
    assert "opportunities" in msg and "missing required column(s) ['outcome']" in msg


def test_bad_outcome_dates_and_duplicates(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    opps = clean_crm_frames["opportunities"].copy()
    opps.loc[0, "outcome"] = "maybe"
    opps.loc[1, "close_date"] = None
    opps.loc[2, "amount"] = -5
    opps = pd.concat([opps, opps.iloc[[2]]], ignore_index=True)
    msg = _problems(_crm(clean_crm_frames, opportunities=opps))
    for part in (
        "outcome not one of",
        "closed deal without a close date",
        "amount(s) below 0",
        "duplicate opportunities",
    ):
        assert part in msg, part


def test_unknown_rep_and_account(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    opps = clean_crm_frames["opportunities"].copy()
    opps.loc[0, "rep_id"] = "ghost"
    opps.loc[1, "account_id"] = "nobody"
    msg = _problems(_crm(clean_crm_frames, opportunities=opps))
    assert "rep not in reps" in msg and "o1" in msg and "account not in accounts" in msg


def test_unknown_stage_and_stage_map(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    events = clean_crm_frames["stage_events"].replace({"Pitch": "Demo"})
    msg = _problems(_crm(clean_crm_frames, stage_events=events))
    assert "unknown stage(s) ['Demo']" in msg and "StageMap" in msg
    fixed = validate_crm(_crm(clean_crm_frames, stage_events=events), StageMap({"Demo": "Pitch"}))
    assert "Demo" not in set(fixed.stage_events["stage"])
    with pytest.raises(ConfigError):
        StageMap({"Demo": "Negotiation"})


def test_stage_order_going_backwards(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    events = clean_crm_frames["stage_events"].copy()
    events.loc[1, "ts"] = "2025-02-15"  # Meet after Pitch
    assert "go backwards in the funnel" in _problems(_crm(clean_crm_frames, stage_events=events))


def test_events_after_lost_and_won_and_lost(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    extra = pd.DataFrame(
        {"opportunity_id": ["o2", "o1"], "stage": ["Sign", "Lost"], "ts": ["2025-03-01", "2025-04-01"]}
    )
    events = pd.concat([clean_crm_frames["stage_events"], extra], ignore_index=True)
    msg = _problems(_crm(clean_crm_frames, stage_events=events))
    assert "after Lost" in msg and "both won" in msg


def test_outcome_must_agree_with_events(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    opps = clean_crm_frames["opportunities"].copy()
    opps.loc[2, ["outcome", "close_date"]] = ["won", "2025-03-01"]
    assert "disagrees with its stage events" in _problems(_crm(clean_crm_frames, opportunities=opps))


def test_event_for_unknown_opportunity(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    extra = pd.DataFrame({"opportunity_id": ["o9"], "stage": ["Find"], "ts": ["2025-01-01"]})
    events = pd.concat([clean_crm_frames["stage_events"], extra], ignore_index=True)
    assert "stage event of an unknown opportunity" in _problems(_crm(clean_crm_frames, stage_events=events))


def test_close_date_changes_checked(clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    changes = pd.DataFrame(
        {
            "opportunity_id": ["o3", "o7"],
            "ts": ["2025-02-05", "bad"],
            "expected_close_date": ["2025-04-01", "2025-05-01"],
        }
    )
    msg = _problems(_crm(clean_crm_frames, close_date_changes=changes))
    assert "unparsable date" in msg


def test_no_opportunities() -> None:
    crm = CRMData(
        reps=pd.DataFrame({"rep_id": ["r"]}),
        opportunities=pd.DataFrame({"opportunity_id": [], "rep_id": [], "outcome": []}),
    )
    assert "no opportunities" in _problems(crm)


def _spend() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": ["2025-01-06", "2025-01-06", "2025-01-13"],
            "channel": ["search", "tv", "search"],
            "region": ["N", "N", "N"],
            "spend": [100.0, 50.0, 120.0],
            "outcome": [900, 300, 1000],
        }
    )


def test_spend_contract() -> None:
    out = validate_spend(_spend())
    assert list(out.columns) == ["period", "channel", "region", "spend", "outcome"]
    bad = _spend().astype({"spend": object})
    bad.loc[0, "spend"] = -1
    bad.loc[1, "spend"] = "lots"
    bad = pd.concat([bad, bad.iloc[[2]]], ignore_index=True).assign(extra=1)
    with pytest.raises(DataValidationError) as info:
        validate_spend(bad)
    msg = str(info.value)
    for part in ("spend(s) below 0", "non-numeric spend", "duplicate rows", "unknown column(s) ['extra']"):
        assert part in msg, part
    with pytest.raises(DataValidationError, match="empty"):
        validate_spend(_spend().iloc[:0])
