"""Training the deal model from a plain table: outcome parsing, validation messages, the time-ordered or
honestly labelled holdout, the CLI and MLproject doors, and the leakage report they print and log."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.errors import DataValidationError
from salesplan.models.deals.table import table_training_set
from salesplan.training.deals_job import holdout_mask

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def _leads(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A lead table as a marketing tool exports it: text outcome, a few blanks still open, a post-call tag."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["Referral", "referral ", "Web", "Event"], n)
    size = rng.lognormal(9, 1, n)
    z = 0.9 * np.isin(source, ["Referral", "referral "]) + 0.4 * (np.log(size) - 9) - 0.3
    won = rng.random(n) < 1 / (1 + np.exp(-z))
    status = np.where(won, "Converted", "Not Converted").astype(object)
    status[rng.random(n) < 0.05] = None  # still open
    return pd.DataFrame(
        {
            "Lead ID": [f"L{i:04d}" for i in range(n)],
            "Lead Source": source,
            "Deal Size": np.round(size, 2),
            "Created": pd.date_range("2025-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "Tags": np.where(won, "Closed by rep", rng.choice(["Ringing", "Lost to competitor"], n)),
            "Status": status,
        }
    )


def test_outcomes_ids_and_dates_are_read_and_open_rows_left_out() -> None:
    t = _leads()
    ts = table_training_set(t, "Status", id_column="Lead ID", date_column="Created")
    closed = t["Status"].notna()
    assert len(ts.y) == int(closed.sum()) and ts.y.sum() == int((t["Status"] == "Converted").sum())
    assert list(ts.X["opportunity_id"][:2]) == list(t.loc[closed, "Lead ID"][:2])
    assert ts.close_date.notna().all() and ts.evidence == {}
    assert {"Lead Source", "Deal Size", "Tags"} <= set(ts.X.columns) and "Status" not in ts.X.columns
    assert pd.api.types.is_datetime64_any_dtype(table_training_set(t, "Status").X["Created"])  # a date column
    yes_no = t.assign(Status=t["Status"].map({"Converted": "YES", "Not Converted": " no"}))
    np.testing.assert_array_equal(table_training_set(yes_no, "Status").y, ts.y)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.assign(Status=t["Status"].replace("Converted", "maybe")),
            r"neither won nor lost.*maybe",
        ),
        (lambda t: t.assign(**{"Lead ID": "L1"}), "ids missing or repeated"),
        (lambda t: t.assign(Created="soon"), "dates missing or not dates"),
        (lambda t: t.rename(columns={"Status": "Outcome"}), "--target column not in the table"),
    ],
)
def test_bad_tables_are_refused_with_the_column_and_a_fix(change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataValidationError, match=message):
        table_training_set(change(_leads()), "Status", id_column="Lead ID", date_column="Created")


def test_holdout_is_time_ordered_only_with_dates() -> None:
    t = _leads()
    dated = table_training_set(t, "Status", id_column="Lead ID", date_column="Created")
    late, label = holdout_mask(dated, 0.2)
    assert "latest 20% of closes" in label
    assert dated.close_date[late].min() > dated.close_date[~late].max()
    undated = table_training_set(t, "Status", id_column="Lead ID")
    late, label = holdout_mask(undated, 0.2)
    assert "random 20% of deals: no dates" in label and "latest" not in label
    assert 0.15 < late.mean() < 0.25


def test_cli_trains_from_a_plain_table_and_reports_every_feature(mlflow_store: Path) -> None:
    _leads().to_csv(mlflow_store / "leads.csv", index=False)
    args = [
        "train",
        "deals",
        "--input",
        "leads.csv",
        "--target",
        "Status",
        "--id",
        "Lead ID",
        "--date",
        "Created",
    ]
    res = runner.invoke(app, args, terminal_width=200)
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "holdout (latest 20% of closes" in out and "champion" in out
    assert "Tags" in out and "refused" in out and "--allow-feature" in out  # post-call tag
    assert "Lead Source" in out and "kept" in out
    run = mlflow.get_run(mlflow.search_runs(output_format="list")[0].info.run_id)
    assert run.data.params["input_kind"] == "table" and run.data.metrics["features_refused"] >= 1
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "report")}
    assert "report/leakage_report.csv" in artifacts
    res = runner.invoke(app, ["score", "deals", "--input", "leads.csv", "--id", "Lead ID", "--out", "s.csv"])
    assert res.exit_code == 0, res.output
    scored = pd.read_csv(mlflow_store / "s.csv")
    assert scored["opportunity_id"].iloc[0] == "L0000" and scored["score"].between(1, 99).all()
    # kept on request, and no date: the holdout says it is random
    res = runner.invoke(app, [*args[:6], "--allow-feature", "Tags"], terminal_width=200)
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "allowed" in out and "random 20% of deals" in out


def test_cli_table_errors_are_clean(mlflow_store: Path) -> None:
    _leads().to_csv(mlflow_store / "leads.csv", index=False)
    res = runner.invoke(app, ["train", "deals", "--input", "leads.csv"])
    assert res.exit_code == 1 and "--target" in res.output
    res = runner.invoke(app, ["train", "deals", "--input", "leads.csv", "--target", "Status", "--simulated"])
    assert res.exit_code == 1 and "not both" in res.output
    res = runner.invoke(
        app, ["train", "deals", "--input", "leads.csv", "--target", "Status", "--allow-feature", "x"]
    )
    assert res.exit_code == 1 and "not a candidate feature" in res.output
    # too few of one outcome: said of the whole table, or of the part before the holdout, before any run
    dated = ["--target", "Status", "--id", "Lead ID", "--date", "Created"]
    runs = len(mlflow.search_runs(search_all_experiments=True))
    _leads().assign(Status="Converted").to_csv(mlflow_store / "won.csv", index=False)
    res = runner.invoke(app, ["train", "deals", "--input", "won.csv", *dated])
    assert res.exit_code == 1 and "the data has 600 won and 0 lost" in " ".join(res.output.split())
    late = _leads().assign(Status=np.where(np.arange(600) < 540, "Not Converted", "Converted"))
    late.to_csv(mlflow_store / "late.csv", index=False)
    res = runner.invoke(app, ["train", "deals", "--input", "late.csv", *dated])
    out = " ".join(res.output.split())
    assert res.exit_code == 1 and "the training part" in out and "has 0 won and 480 lost" in out, out
    assert len(mlflow.search_runs(search_all_experiments=True)) == runs


def test_mlproject_train_deals_takes_a_table() -> None:
    spec = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"]["train_deals"]
    assert {"input", "target", "id", "date", "allow"} <= set(spec["parameters"])
    assert "--input" in spec["command"] and "--allow-feature" in spec["command"]
