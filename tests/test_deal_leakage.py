"""The deal scorer's leakage guard: timestamps where the CRM has them (field history), signals where it does
not, an explicit allow list, and the simulator's planted post-outcome columns as ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.contracts.crm import CRMData, validate_crm
from salesplan.errors import ConfigError, DataValidationError
from salesplan.models.deals.features import build_features, training_set
from salesplan.models.deals.leakage import (
    assess_features,
    open_row_evidence,
    pure_levels,
    single_feature_auc,
    suspect_name,
)
from salesplan.models.deals.scorer import DealScorer
from salesplan.models.deals.table import table_training_set
from salesplan.simulator import SimConfig, simulate
from salesplan.simulator.crm import HONEST_COLUMNS, PLANTED_COLUMNS


@pytest.fixture(scope="module")
def planted() -> CRMData:
    cfg = SimConfig(seed=4, n_products=2, n_stores=2, n_opportunities=1500, crm_post_outcome_columns=True)
    return simulate(cfg).crm


def _signals_frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    X = pd.DataFrame(
        {
            "honest": rng.normal(size=600) + 0.5 * y,
            "copy_of_label": y * 1.0,
            "Lead Quality": rng.choice(["High", "Low"], 600),
            "closing_note": np.where(y == 1, "signed", rng.choice(["no budget", "signed"], 600)),
            "rep": rng.choice([f"r{i}" for i in range(60)], 600),
            "flag": np.where(rng.random(600) < 0.5, "a", None),
        }
    )
    return X, y


def test_signals_refuse_suspects_and_keep_the_rest() -> None:
    X, y = _signals_frame()
    report = assess_features(X, y, list(X.columns)).frame().set_index("feature")
    assert (
        report.loc["copy_of_label", "verdict"] == "refused"
        and "AUC 1.000" in report.loc["copy_of_label", "why"]
    )
    assert (
        report.loc["Lead Quality", "verdict"] == "refused"
        and "'quality'" in report.loc["Lead Quality", "why"]
    )
    # a level held by a third of the rows that is always lost: near-deterministic
    assert "no budget (0% won)" in report.loc["closing_note", "why"]
    for honest in ("honest", "rep", "flag"):  # a 60-level id is not mistaken for a leak
        assert report.loc[honest, "verdict"] == "kept", report.loc[honest, "why"]
    assert "--allow-feature copy_of_label" in report.loc["copy_of_label", "why"]


def test_allow_keeps_a_suspect_and_unknown_names_are_refused() -> None:
    X, y = _signals_frame()
    report = assess_features(X, y, list(X.columns), allow=["Lead Quality"])
    assert "Lead Quality" in report.kept and "Lead Quality" not in report.refused
    with pytest.raises(ConfigError, match="not a candidate feature"):
        assess_features(X, y, list(X.columns), allow=["lead_quality"])


def test_name_words_and_fast_auc() -> None:
    assert suspect_name("Tags") == "tags" and suspect_name("closeReason") == "close"
    assert suspect_name("Asymmetrique Activity Score") == "score" and suspect_name("won_value") == "won_value"
    assert suspect_name("lead_source") is None and suspect_name("amount") is None
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    v = rng.normal(size=500) + y
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(y, v)
    assert single_feature_auc(pd.Series(v), y) == pytest.approx(max(auc, 1 - auc), abs=1e-12)
    # missing values count at whichever end separates: here they are the won deals
    assert single_feature_auc(pd.Series(np.where(y == 1, np.nan, v)), y) == pytest.approx(1.0)
    assert pure_levels(pd.Series(np.where(y == 1, "x", "z")), y, np.arange(500)) == [
        "z (0% won)",
        "x (100% won)",
    ]


def _history_crm(set_after_close: bool) -> CRMData:
    """40 won and 40 lost deals, each with a 'segment' set at creation and a 'disposition' set either at
    creation or on its close day."""
    n = 80
    ids = [f"d{i}" for i in range(n)]
    created = pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n), unit="D")
    close = created + pd.Timedelta(days=30)
    won = np.arange(n) % 2 == 0
    opps = pd.DataFrame(
        {"opportunity_id": ids, "rep_id": "r1", "amount": 1000.0 + np.arange(n), "created_date": created,
         "close_date": close, "outcome": np.where(won, "won", "lost"),
         "segment": np.where(np.arange(n) % 3 == 0, "SMB", "ENT"), "disposition": np.where(won, "happy", "gone")}
    )  # fmt: skip
    at = close if set_after_close else created
    history = pd.concat(
        [
            pd.DataFrame(
                {"opportunity_id": ids, "field": "segment", "ts": created, "value": opps["segment"]}
            ),
            pd.DataFrame(
                {"opportunity_id": ids, "field": "disposition", "ts": at, "value": opps["disposition"]}
            ),
        ]
    )
    return validate_crm(CRMData(pd.DataFrame({"rep_id": ["r1"]}), opps, field_history=history))


def test_field_history_refuses_a_field_set_after_the_close() -> None:
    ts = training_set(_history_crm(set_after_close=True))
    assert ts.evidence["disposition"].after_close and not ts.evidence["segment"].after_close
    m = DealScorer(models=("logistic", "prior"), min_won=10, min_lost=10, Cs=(0.3,)).fit(ts.X, ts.y)
    report = m.leakage_report_.frame().set_index("feature")
    assert report.loc["disposition", "verdict"] == "refused"
    assert "on or after the close in 40 of 80" not in report.loc["disposition", "why"]  # all 80 closed deals
    assert "80 of 80" in report.loc["disposition", "why"]
    assert report.loc["segment", "verdict"] == "kept" and report.loc["segment", "basis"] == "field history"
    with pytest.raises(ConfigError, match="cannot be kept"):
        DealScorer(min_won=10, min_lost=10, allow_features=["disposition"]).fit(ts.X, ts.y)


def test_field_history_gives_values_as_of_the_snapshot() -> None:
    crm = _history_crm(set_after_close=True)
    snaps = pd.DataFrame({"opportunity_id": ["d0", "d0"], "snapshot_ts": pd.to_datetime(["2025-01-10", "2025-02-01"])})  # fmt: skip
    X = build_features(crm, snaps)
    assert pd.isna(X.loc[0, "disposition"]) and X.loc[1, "disposition"] == "happy"
    assert (X["segment"] == "SMB").all()
    # set at creation, a field that alone predicts the outcome is kept: the timestamps clear it
    ts = training_set(_history_crm(set_after_close=False))
    report = (
        DealScorer(models=("logistic",), min_won=10, min_lost=10, Cs=(0.3,)).fit(ts.X, ts.y).leakage_report_
    )
    row = report.frame().set_index("feature").loc["disposition"]
    assert row["verdict"] == "kept" and row["basis"] == "field history" and row["auc"] == pytest.approx(1.0)


def test_field_history_contract_checks_links(planted: CRMData) -> None:
    bad = planted.field_history.head(3).assign(opportunity_id="nope")
    crm = CRMData(planted.reps, planted.opportunities, planted.accounts, planted.stage_events,
                  planted.close_date_changes, pd.concat([planted.field_history, bad]))  # fmt: skip
    with pytest.raises(DataValidationError, match="field change of an unknown opportunity"):
        validate_crm(crm)


def test_planted_post_outcome_columns_are_all_refused_and_no_honest_one(planted: CRMData) -> None:
    ts = training_set(planted)
    report = DealScorer(random_state=0).fit(ts.X, ts.y).leakage_report_.frame().set_index("feature")
    assert set(report.index[report["verdict"] == "refused"]) == set(PLANTED_COLUMNS)
    assert (report.loc[list(PLANTED_COLUMNS), "basis"] == "field history").all()
    assert (report.loc[list(HONEST_COLUMNS), "verdict"] == "kept").all()  # lead_score too: set at creation


def test_planted_columns_without_timestamps_meet_the_signals(planted: CRMData) -> None:
    """The same deals as a plain table: the named and the near-deterministic leaks are refused, and so is
    the innocently named one, since the table's open rows have it blank; an honest column named like a score
    is refused too until allowed (the case for timestamps)."""
    cols = [
        "opportunity_id",
        "amount",
        "product",
        "lead_source",
        *HONEST_COLUMNS,
        *PLANTED_COLUMNS,
        "outcome",
    ]
    ts = table_training_set(planted.opportunities[cols], "outcome", id_column="opportunity_id")
    report = DealScorer(random_state=0).fit(ts.X, ts.y).leakage_report_.frame().set_index("feature")
    assert (report.loc[list(PLANTED_COLUMNS), "verdict"] == "refused").all()
    assert "near-deterministic" in report.loc["tags", "why"]
    assert "open ones" in report.loc["profile_index", "why"] and "open" not in report.loc["amount", "why"]
    assert report.loc["lead_score", "verdict"] == "refused"
    assert (
        report.loc[["amount", "product", "lead_source", "campaign", "budget_confirmed"], "verdict"] == "kept"
    ).all()
    allowed = DealScorer(random_state=0, allow_features=["lead_score"]).fit(ts.X, ts.y)
    assert "lead_score" in allowed.feature_names_in_


def test_planting_is_off_by_default_and_changes_nothing_else(planted: CRMData) -> None:
    plain = simulate(SimConfig(seed=4, n_products=2, n_stores=2, n_opportunities=1500)).crm
    assert len(plain.field_history) == 0
    pd.testing.assert_frame_equal(
        plain.opportunities, planted.opportunities.drop(columns=[*PLANTED_COLUMNS, *HONEST_COLUMNS])
    )
    pd.testing.assert_frame_equal(plain.stage_events, planted.stage_events)
    open_deals = planted.opportunities["outcome"] == "open"
    assert planted.opportunities.loc[open_deals, "lead_quality"].isna().all()  # not yet recorded


def test_field_history_round_trips_through_a_crm_folder(planted: CRMData, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from salesplan.io import read_crm, write_crm

    again = validate_crm(read_crm(write_crm(planted, tmp_path / "crm")))
    assert len(again.field_history) == len(planted.field_history)
    assert set(again.field_history["field"]) == {*PLANTED_COLUMNS, *HONEST_COLUMNS}
    ts = training_set(again)
    assert ts.evidence["tags"].after_close and not ts.evidence["campaign"].after_close


def test_columns_filled_only_once_a_deal_ends_are_suspect() -> None:
    rng = np.random.default_rng(1)
    closed = pd.DataFrame({"note": rng.choice(["good", "bad"], 200), "region": rng.choice(["N", "S"], 200)})
    still_open = pd.DataFrame({"note": [None] * 25 + ["good"] * 5, "region": rng.choice(["N", "S"], 30)})
    still_open.loc[0, "note"] = "  "  # blank text is not filled in
    ev = open_row_evidence(closed, still_open, ["note", "region"])
    assert set(ev) == {"note"} and ev["note"].suspect and not ev["note"].after_close
    assert "100% of the closed rows but 17% of the 30 open ones" in ev["note"].detail
    assert open_row_evidence(closed, still_open.head(10), ["note"]) == {}  # too few open rows to tell
    X = closed.assign(opportunity_id=[f"d{i}" for i in range(200)])
    y = rng.integers(0, 2, 200)
    report = assess_features(X, y, ["note", "region"], evidence=ev)
    assert report.refused == ["note"] and "--allow-feature note" in report.verdicts[0].why
    kept = assess_features(X, y, ["note", "region"], evidence=ev, allow=["note"])
    assert kept.kept == ["note", "region"] and kept.verdicts[0].verdict == "allowed"
