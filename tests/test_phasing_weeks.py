"""Weekly phasing (#19): weeks add up to the quarter at every unit and to the parent's weeks at every level,
straddling weeks split consistently with the months, and a unit with little history borrows its parent's
weekly shape. Pure functions on a hand-made tree: no model, no simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.planning.phasing import phase_tree
from salesplan.planning.phasing_weeks import phase_weeks, week_pieces, weekly_wide

QUARTER = "2026Q1"  # February and March start on a Sunday: two weeks straddle months


def _tree() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": ["total", "north", "south", "s1", "s2", "s3", "s4"],
            "parent_id": [None, "total", "total", "north", "north", "south", "south"],
            "target": [100_000.01, 60_000.0, 40_000.01, 35_000.0, 25_000.0, 30_000.0, 10_000.01],
        }
    )


def _weekly(tree: pd.DataFrame) -> pd.DataFrame:
    """A weekly forecast: big units with a ramp over the quarter, s4 a tiny unit shaped the other way."""
    weeks = week_pieces(QUARTER)["week"].drop_duplicates()
    ramp = np.linspace(1.0, 3.0, len(weeks))
    rows = []
    for u in tree["unit_id"]:
        level = {"s4": 0.05}.get(u, 500.0)
        shape = ramp[::-1] if u == "s4" else ramp
        rows += [{"unique_id": u, "ds": w, "yhat": level * s} for w, s in zip(weeks, shape, strict=True)]
    return pd.DataFrame(rows)


def test_weeks_add_up_to_months_quarter_and_parent_at_every_level() -> None:
    tree = _tree()
    src = _weekly(tree)
    src_m = src.assign(ds=src["ds"].dt.to_period("M").dt.start_time)
    months = phase_tree(tree, QUARTER, "forecast", source=src_m)
    weeks = phase_weeks(tree, months, QUARTER, "forecast", source=src)
    cents = np.rint(weeks["target"] * 100)
    assert np.allclose(weeks["target"] * 100, cents)  # whole cents
    per_unit = weeks.groupby("unit_id")["target"].sum()
    want = tree.set_index("unit_id")["target"].reindex(per_unit.index)
    assert (np.rint(per_unit * 100).to_numpy() == np.rint(want * 100).to_numpy()).all()
    per_month = weeks.groupby(["unit_id", "m"])["target"].sum()
    mm = months.set_index(["unit_id", "m"])["target"]
    assert (
        np.rint(per_month * 100).to_numpy() == np.rint(mm.reindex(per_month.index) * 100).to_numpy()
    ).all()
    parent = tree.set_index("unit_id")["parent_id"]
    kids = weeks[weeks["unit_id"] != "total"].assign(parent=lambda d: d["unit_id"].map(parent))
    summed = kids.groupby(["parent", "week", "month"])["target"].sum()
    own = weeks.set_index(["unit_id", "week", "month"])["target"]
    assert (np.rint(summed * 100).to_numpy() == np.rint(own.reindex(summed.index) * 100).to_numpy()).all()
    # a week straddling January and February is two pieces whose sum is the week
    pieces = week_pieces(QUARTER)
    straddle = pieces.groupby("w")["month"].nunique()
    assert (straddle == 2).sum() == 2
    two = weeks[weeks["w"].isin(straddle.index[straddle == 2])].groupby(["unit_id", "w"])["month"].nunique()
    assert (two == 2).all()
    wide = weekly_wide(weeks).set_index("unit_id")
    assert wide.shape[1] == pieces["w"].max()
    assert np.allclose(wide.sum(axis=1), per_unit.reindex(wide.index), atol=0.02)


def test_a_unit_with_little_history_borrows_its_parents_weekly_shape() -> None:
    tree = _tree()
    src = _weekly(tree)
    months = phase_tree(tree, QUARTER, "even")
    weeks = phase_weeks(tree, months, QUARTER, "forecast", source=src)
    share = weeks.groupby(["unit_id", "w"])["target"].sum().unstack()
    share = share.div(share.sum(axis=1), axis=0)
    # s4's own shape falls over the quarter; with ~0.6 units of evidence (k = 10) it follows south's
    assert share.loc["s4"].iloc[-2] > share.loc["s4"].iloc[1]
    assert np.abs(share.loc["s4"] - share.loc["south"]).max() < 0.01
    alone = phase_weeks(tree, months, QUARTER, "forecast", source=src, shrink=0.0)
    own = alone.groupby(["unit_id", "w"])["target"].sum().unstack().loc["s4"]
    assert own.iloc[1] > own.iloc[-2]  # without shrinkage it keeps its own falling shape
    sh = weeks.drop_duplicates("unit_id").set_index("unit_id")
    assert sh.loc["s4", "own_weight"] < 0.2 < 0.99 < sh.loc["s1", "own_weight"]


def test_weekly_phasing_without_shape_splits_by_days_and_checks_input() -> None:
    tree = _tree()
    months = phase_tree(tree, QUARTER, "even")
    weeks = phase_weeks(tree, months, QUARTER, "even")
    assert set(weeks["shape"]) == {"even", "parent"}
    p = week_pieces(QUARTER, week_start=4)  # Friday weeks
    assert (
        (p["week"].dt.dayofweek == 4).all()
        and p["days"].sum() == 90
        and p["week"].iloc[0] == pd.Timestamp("2025-12-26")
    )
    with pytest.raises(ConfigError, match="weekday"):
        week_pieces(QUARTER, week_start=9)
    with pytest.raises(ConfigError, match="shape"):
        phase_weeks(tree, months, QUARTER, "weekly")  # type: ignore[arg-type]


@pytest.mark.parametrize("oa", [0.0, 0.1])
def test_a_weekly_proposal_carries_weeks_that_add_up_after_an_override(oa: float) -> None:
    from test_proposals import make_frames

    from salesplan.planning.phasing_weeks import weeks_from_record
    from salesplan.planning.proposals import ProposalRequest, build_proposal

    fc, hist = make_frames()
    res = build_proposal(ProposalRequest(quarter="2027Q1", by=("region", "store"), over_assignment=oa),
                         forecast=fc, history=hist)  # fmt: skip
    record = res.proposal.parameters["weekly"]
    rows = res.proposal.rows
    half = (rows["m2"] / 2).round(2)
    moved = rows.assign(m1=(rows["m1"] + rows["m2"] - half).round(2), m2=half)  # a month moved earlier
    parent = rows.set_index("unit_id")["parent_id"]
    for frame in (rows, moved):
        weeks = weeks_from_record(record, frame, "2027Q1")
        cents = weeks.assign(c=np.rint(weeks["target"] * 100))
        per_unit = cents.groupby("unit_id")["c"].sum()
        want = np.rint(frame.set_index("unit_id")["target"] * 100).reindex(per_unit.index)
        assert (per_unit.to_numpy() == want.to_numpy()).all()
        per_month = cents.groupby(["unit_id", "m"])["c"].sum().unstack()
        months = np.rint(frame.set_index("unit_id")[["m1", "m2", "m3"]] * 100).reindex(per_month.index)
        assert (per_month.to_numpy() == months.to_numpy()).all()
        kids = cents[cents["unit_id"] != "total"].assign(parent=lambda d: d["unit_id"].map(parent))
        summed = kids.groupby(["parent", "week", "month"])["c"].sum()
        own = cents.set_index(["unit_id", "week", "month"])["c"].reindex(summed.index)
        leaves = set(frame.loc[frame["level"] == "store", "parent_id"])
        rate = np.where(summed.index.get_level_values(0).isin(leaves), 1 + oa, 1.0)
        # children's months sum to the parent's × (1 + o) within a cent per child; so do their weeks
        assert np.abs(summed.to_numpy() - own.to_numpy() * rate).max() <= 3
