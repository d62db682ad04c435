"""As-of deal features: nothing known after the snapshot may leak in; every feature carries its evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.contracts.crm import CRMData, validate_crm
from salesplan.models.deals.features import (
    EVIDENCE_ATTR,
    PRIOR_DEALS,
    build_features,
    features_asof,
    snapshot_times,
    training_set,
)

D = pd.Timestamp


def _crm() -> CRMData:
    """Rep r1 (hired 2024-01-01) closes d1 won on 02-01, d2 lost on 03-01, d3 won on 05-01; rep r2 closes d4
    lost on 02-15; d5 (r1) is the deal under test: created 01-10, Meet 01-20, Pitch 03-10, lost 06-01,
    close date moved on 02-01, 04-01 and 05-15."""
    reps = pd.DataFrame(
        {"rep_id": ["r1", "r2"], "team": ["T", "T"], "hire_date": ["2024-01-01", "2024-06-01"]}
    )
    accounts = pd.DataFrame({"account_id": ["a1", "a2"], "size": ["S", "L"]})
    opps = pd.DataFrame(
        {
            "opportunity_id": ["d1", "d2", "d3", "d4", "d5", "d6"],
            "rep_id": ["r1", "r1", "r1", "r2", "r1", "r2"],
            "account_id": ["a1", "a2", "a1", "a2", "a1", "a2"],
            "product": ["X", "Y", "X", "Y", "X", "X"],
            "amount": [1000.0, 2000.0, 1500.0, 800.0, 5000.0, 700.0],
            "created_date": [
                "2025-01-01",
                "2025-01-05",
                "2025-02-01",
                "2025-01-02",
                "2025-01-10",
                "2025-04-01",
            ],
            "expected_close_date": [
                "2025-02-10",
                "2025-03-01",
                "2025-05-01",
                "2025-02-20",
                "2025-07-01",
                "2025-08-01",
            ],
            "close_date": ["2025-02-01", "2025-03-01", "2025-05-01", "2025-02-15", "2025-06-01", None],
            "outcome": ["won", "lost", "won", "lost", "lost", "open"],
            "lead_source": ["Referral", "Inbound", "Referral", "Outbound", "Inbound", "Event"],
        }
    )
    ev = [
        ("d1", "Find", "2025-01-01"), ("d1", "Meet", "2025-01-05"), ("d1", "Pitch", "2025-01-15"),
        ("d1", "Sign", "2025-02-01"), ("d2", "Find", "2025-01-05"), ("d2", "Meet", "2025-01-25"),
        ("d2", "Lost", "2025-03-01"), ("d3", "Find", "2025-02-01"), ("d3", "Meet", "2025-02-11"),
        ("d3", "Sign", "2025-05-01"), ("d4", "Find", "2025-01-02"), ("d4", "Lost", "2025-02-15"),
        ("d5", "Find", "2025-01-10"), ("d5", "Meet", "2025-01-20"), ("d5", "Pitch", "2025-03-10"),
        ("d5", "Lost", "2025-06-01"), ("d6", "Find", "2025-04-01"),
    ]  # fmt: skip
    events = pd.DataFrame(ev, columns=["opportunity_id", "stage", "ts"])
    changes = pd.DataFrame(
        {
            "opportunity_id": ["d5", "d5", "d5"],
            "ts": ["2025-02-01", "2025-04-01", "2025-05-15"],
            "expected_close_date": ["2025-03-15", "2025-05-01", "2025-07-01"],
        }
    )
    return validate_crm(CRMData(reps, opps, accounts, events, changes))


def _at(crm: CRMData, opp: str, ts: str) -> pd.Series:
    return build_features(crm, pd.DataFrame({"opportunity_id": [opp], "snapshot_ts": [D(ts)]})).iloc[0]


def test_slips_after_the_snapshot_are_not_counted() -> None:
    crm = _crm()
    assert _at(crm, "d5", "2025-01-20")["n_slips"] == 0
    row = _at(crm, "d5", "2025-03-01")
    assert row["n_slips"] == 1  # the moves of 04-01 and 05-15 are in the future
    assert row["days_to_close"] == (D("2025-03-15") - D("2025-03-01")).days
    assert _at(crm, "d5", "2025-05-20")["n_slips"] == 3


def test_expected_close_is_unknown_before_the_first_move() -> None:
    """d5's final expected close (07-01, after three slips) must not show before its first move, and no
    made-up date stands in for it (a reason would then quote a date the deal never had)."""
    crm = _crm()
    assert np.isnan(_at(crm, "d5", "2025-01-20")["days_to_close"])
    assert np.isnan(_at(crm, "d1", "2025-01-20")["days_to_close"])  # never moved: unknown throughout
    assert _at(crm, "d5", "2025-02-01")["days_to_close"] == (D("2025-03-15") - D("2025-02-01")).days


def test_rep_win_rate_uses_only_deals_closed_before_the_snapshot() -> None:
    crm = _crm()
    early = _at(crm, "d5", "2025-01-20")
    assert np.isnan(early["rep_win_rate"])  # nothing closed yet at all
    mid = _at(crm, "d5", "2025-03-10")  # r1 closed d1 (won) and d2 (lost); globally 1 won of 3
    assert mid["rep_win_rate"] == pytest.approx((1 + PRIOR_DEALS * (1 / 3)) / (2 + PRIOR_DEALS))
    # d3 (won 05-01) is later: it must not count at 03-10 but does at 05-02
    late = _at(crm, "d5", "2025-05-02")
    assert late["rep_win_rate"] == pytest.approx((2 + PRIOR_DEALS * (2 / 4)) / (3 + PRIOR_DEALS))
    assert late["rep_tenure_months"] == pytest.approx((D("2025-05-02") - D("2024-01-01")).days / 30.44)


def test_stage_features_as_of_the_snapshot() -> None:
    crm = _crm()
    row = _at(crm, "d5", "2025-03-01")
    assert row["stage_rank"] == 1  # Meet; Pitch comes on 03-10
    assert row["days_in_stage"] == (D("2025-03-01") - D("2025-01-20")).days
    assert row["deal_age_days"] == (D("2025-03-01") - D("2025-01-10")).days
    assert "stage" not in row.index and "outcome" not in row.index and "close_date" not in row.index


def test_typical_stage_age_uses_only_spells_finished_before(monkeypatch: pytest.MonkeyPatch) -> None:
    import salesplan.models.deals.features as f

    monkeypatch.setattr(f, "MIN_SPELLS", 1)
    crm = _crm()
    # Find spells finished by 01-12: d1 (4 days, ended 01-05), d4? (lost, not a spell); d2's ends 01-25
    row = _at(crm, "d5", "2025-01-12")
    assert row["stage_age_ratio"] == pytest.approx(2 / 4)
    row = _at(crm, "d5", "2025-01-19")
    assert row["stage_age_ratio"] == pytest.approx(9 / 4)


def test_snapshots_strictly_before_the_close() -> None:
    crm = _crm()
    snaps = snapshot_times(crm, every_days=30)
    close = crm.opportunities.set_index("opportunity_id")["close_date"]
    assert (snaps["snapshot_ts"] < snaps["opportunity_id"].map(close)).all()
    assert "d6" not in set(snaps["opportunity_id"])  # open deals have no label
    d5 = snaps[snaps["opportunity_id"] == "d5"]["snapshot_ts"]
    assert {D("2025-01-10"), D("2025-01-20"), D("2025-03-10"), D("2025-02-09")} <= set(d5)


def test_training_set_labels_and_evidence() -> None:
    ts = training_set(_crm())
    lab = dict(zip(ts.X["opportunity_id"], ts.y, strict=True))
    assert lab["d1"] == 1 and lab["d5"] == 0
    assert not {"stage", "outcome", "close_date", "expected_close_date"} & set(ts.X.columns)
    assert ts.X.attrs[EVIDENCE_ATTR] == ts.evidence
    assert ts.evidence["stage_rank"].basis == "as-of" and ts.evidence["n_slips"].basis == "as-of"
    assert "lead_source" not in ts.evidence  # no timestamps: judged by signals


def test_features_asof_reopens_deals_closed_later() -> None:
    crm = _crm()
    f = features_asof(crm, "2025-04-15")
    assert set(f["opportunity_id"]) == {"d3", "d5", "d6"}  # d5 closes 06-01, d3 05-01
    row = f.set_index("opportunity_id").loc["d5"]
    assert row["n_slips"] == 2 and row["stage_rank"] == 2
    assert row["rep_win_rate"] == pytest.approx((1 + PRIOR_DEALS * (1 / 3)) / (2 + PRIOR_DEALS))
