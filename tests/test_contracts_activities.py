"""The activity contract (every problem listed at once, links to the CRM and the reps) and the loader that
maps a Salesforce-like Task/Event export onto it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from salesplan.contracts import (
    ACTIVITY_COLUMNS,
    CRMData,
    empty_activities,
    validate_activities,
    validate_crm,
    validate_reps,
)
from salesplan.errors import DataValidationError
from salesplan.loaders import load_activity_export
from salesplan.simulator import SimConfig, SimulatedWorld, simulate


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    return simulate(SimConfig(seed=4, n_opportunities=250, n_reps=5, n_products=2, n_stores=2))


def _good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "activity_id": ["a1", "a2", "a3"],
            "rep_id": ["R1", "R1", "M1"],
            "opportunity_id": ["O1", None, None],
            "account_id": ["A1", "A1", None],
            "type": ["Meeting ", "call", "coaching"],
            "stage": ["Meet", None, None],
            "started_at": ["2026-01-05 09:00", "2026-01-06", "2026-01-07 10:30"],
            "minutes": [60, 15, 45],
            "channel": ["Visit", "call", None],
            "outcome": ["Completed", None, None],
        }
    )


def test_a_clean_export_passes_with_clean_types() -> None:
    out = validate_activities(_good())
    assert list(out.columns) == list(ACTIVITY_COLUMNS)
    assert out["type"].astype(str).tolist() == ["meeting", "call", "coaching"]  # trimmed, lower-case
    assert out["channel"].astype(object).tolist()[:2] == ["visit", "call"] and pd.isna(out["channel"].iloc[2])
    assert pd.api.types.is_datetime64_any_dtype(out["started_at"]) and out["minutes"].dtype == float
    assert len(validate_activities(_good().drop(columns="opportunity_id"))) == 3  # the deal link is optional
    assert list(empty_activities().columns) == list(ACTIVITY_COLUMNS)


def test_every_problem_is_listed_at_once() -> None:
    bad = pd.concat([_good(), _good().iloc[[0]]], ignore_index=True)  # a duplicate id
    bad.loc[1, "rep_id"] = None
    bad.loc[1, "channel"] = "pigeon"
    bad.loc[2, "minutes"] = -5
    bad.loc[0, "minutes"] = 2000  # seconds logged as minutes
    bad.loc[0, "stage"] = "Negotiation"
    bad.loc[3, "stage"] = None  # a deal activity without a stage
    bad.loc[3, "channel"] = None  # a customer activity without a channel
    bad.loc[2, "started_at"] = "not a date"
    with pytest.raises(DataValidationError) as err:
        validate_activities(bad)
    text = str(err.value)
    for needle in ("missing rep", "duplicate activities", "unknown channel(s) ['pigeon']", "below 0",
                   "above 1440", "unknown stage(s) ['Negotiation']", "deal activity without a stage",
                   "customer but no channel", "unparsable date"):  # fmt: skip
        assert needle in text, (needle, text)
    assert len(err.value.problems) == 9


def test_missing_columns_and_empty_frames_say_what_is_needed() -> None:
    with pytest.raises(DataValidationError, match=r"missing required column\(s\) \['minutes'\]"):
        validate_activities(_good().drop(columns="minutes"))
    with pytest.raises(DataValidationError, match="activities is empty"):
        validate_activities(_good().iloc[:0])


def test_links_to_the_crm_and_the_people(world: SimulatedWorld) -> None:
    assert world.activity is not None
    acts = world.activity.activities.astype({c: object for c in ("rep_id", "opportunity_id", "account_id")})
    validate_activities(acts, crm=world.crm, reps=world.activity.reps)  # the simulated world is consistent
    deal = acts.index[acts["opportunity_id"].notna()]
    broken = acts.copy()
    broken.loc[deal[0], "opportunity_id"] = "O-nope"
    broken.loc[deal[1], "account_id"] = str(world.crm.accounts["account_id"].iloc[-1])
    broken.loc[deal[2], "rep_id"] = "R-nope"
    with pytest.raises(DataValidationError) as err:
        validate_activities(broken, crm=world.crm, reps=world.activity.reps)
    text = str(err.value)
    assert "unknown opportunity" in text and "differs from its opportunity's" in text
    assert "rep not in reps" in text and "R-nope" in text
    # without the people table the CRM's reps are who may log: managers and CSMs are not among them
    with pytest.raises(DataValidationError, match="rep not in reps"):
        validate_activities(acts, crm=world.crm)


def test_new_rep_columns_are_optional(world: SimulatedWorld) -> None:
    crm = world.crm
    assert "location_group" not in crm.reps.columns  # an existing CRM stays valid without them
    validate_crm(CRMData(crm.reps.drop(columns=["role"]), crm.opportunities, crm.accounts, crm.stage_events))
    assert world.activity is not None
    people = validate_reps(world.activity.reps.assign(location_group=lambda d: " " + d["location_group"]))
    assert set(people["location_group"]) == {"expatriate", "local"} and {"AE", "manager", "CSM"} <= set(
        people["role"]
    )
    with pytest.raises(DataValidationError, match="duplicate reps"):
        validate_reps(pd.concat([people, people.iloc[[0]]]))


def test_a_salesforce_export_maps_onto_the_contract(world: SimulatedWorld) -> None:
    """Tasks (calls, emails: seconds) and Events (meetings: start and end, a location for visits), deals
    behind Salesforce-style ids in WhatId and no stage: the loader recovers channel, minutes, account and
    the stage each deal was in."""
    assert world.activity is not None
    truth = world.activity.activities.astype(object)
    crm = world.crm
    sf = {o: "006" + o for o in crm.opportunities["opportunity_id"]}
    crm_sf = replace(crm, opportunities=crm.opportunities.assign(opportunity_id=lambda d: d["opportunity_id"].map(sf)),
                     stage_events=crm.stage_events.assign(opportunity_id=lambda d: d["opportunity_id"].map(sf)),
                     close_date_changes=crm.close_date_changes.iloc[:0], field_history=crm.field_history.iloc[:0])  # fmt: skip
    is_task = truth["channel"].isin(["call", "message"])
    t, e = truth[is_task], truth[~is_task]
    tasks = pd.DataFrame({"Id": t["activity_id"], "OwnerId": t["rep_id"], "WhatId": t["opportunity_id"].map(sf),
                          "Type": t["type"], "TaskSubtype": np.where(t["channel"] == "call", "Call", "Email"),
                          "ActivityDate": t["started_at"].astype(str), "CallDurationInSeconds": t["minutes"] * 60})  # fmt: skip
    start = pd.to_datetime(e["started_at"])
    events = pd.DataFrame({"Id": e["activity_id"], "OwnerId": e["rep_id"], "WhatId": e["opportunity_id"].map(sf),
                           "Type": e["type"], "StartDateTime": start.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "EndDateTime": (start + pd.to_timedelta(e["minutes"].astype(float), unit="min")).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "Location": np.where(e["channel"] == "visit", "Customer site", None)})  # fmt: skip
    out = load_activity_export({"task": tasks, "event": events}, crm=crm_sf, reps=world.activity.reps)
    m = out.astype(object).set_index("activity_id").join(truth.set_index("activity_id"), rsuffix="_true")
    assert len(m) == len(truth)
    deal = m["opportunity_id"].notna()
    assert (m.loc[deal, "opportunity_id"] == m.loc[deal, "opportunity_id_true"].map(sf)).all()
    assert (m.loc[deal, "account_id"] == m.loc[deal, "account_id_true"]).all()
    assert (
        m.loc[deal, "stage"] == m.loc[deal, "stage_true"]
    ).mean() > 0.99  # travel just before an entry may not
    cust = m["channel_true"].notna() & deal
    assert (m.loc[cust, "channel"] == m.loc[cust, "channel_true"]).all()
    np.testing.assert_allclose(m["minutes"].astype(float), m["minutes_true"].astype(float))
