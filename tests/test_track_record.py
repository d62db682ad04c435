"""The track record replays the proposal builder on past quarters: with distributions that are right, each
level's hit rate matches what its targets promised, inside a cluster-bootstrap interval; quarters that
cannot be built are skipped with the reason."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan.contracts import QUANTILES
from salesplan.errors import InsufficientDataError
from salesplan.planning.distributions import QuarterDistribution
from salesplan.planning.proposals import PlanInputs, ProposalRequest
from salesplan.planning.track_record import cluster_bootstrap, replay_targets

LEAVES = {f"s{i}": ("North" if i < 4 else "South") for i in range(8)}
MU = {u: 100.0 + 30 * i for i, u in enumerate(LEAVES)}
SD = {u: 0.25 * MU[u] for u in LEAVES}


def _tree() -> pd.DataFrame:
    rows = [("total", None, "total"), ("North", "total", "region"), ("South", "total", "region")]
    rows += [(u, r, "store") for u, r in LEAVES.items()]
    return pd.DataFrame(rows, columns=["unit_id", "parent_id", "level"]).assign(
        last_period_actual=np.nan, last_year_actual=np.nan
    )


def _normal(mu: float, sd: float) -> np.ndarray:
    return np.asarray(stats.norm.ppf(QUANTILES, loc=mu, scale=sd))


def inputs(quarter: str) -> PlanInputs:
    """Exact distributions: independent normal stores, sums above them."""
    tree = _tree()
    region = {r: [u for u, rr in LEAVES.items() if rr == r] for r in ("North", "South")}
    mu = {**MU, **{r: sum(MU[u] for u in us) for r, us in region.items()}, "total": sum(MU.values())}
    var = {**{u: SD[u] ** 2 for u in LEAVES}, **{r: sum(SD[u] ** 2 for u in us) for r, us in region.items()}}
    var["total"] = sum(SD[u] ** 2 for u in LEAVES)
    values = np.vstack([_normal(mu[u], np.sqrt(var[u])) for u in tree["unit_id"]])
    m0 = pd.Period(quarter, "Q").asfreq("M", "start")
    return PlanInputs(
        domain="sellout", measure="units",
        dist=QuarterDistribution(tuple(tree["unit_id"]), np.asarray(QUANTILES), values, tail="normal"),
        units=tree, months=(str(m0), str(m0 + 1), str(m0 + 2)), monthly=None, monthly_shape="even",
        last_period=None,
    )  # fmt: skip


def actuals(quarter: str) -> pd.Series:
    rng = np.random.default_rng(int(pd.Period(quarter, "Q").ordinal) + 1000)
    leaf = {u: rng.normal(MU[u], SD[u]) for u in LEAVES}
    out = dict(leaf)
    for r in ("North", "South"):
        out[r] = sum(v for u, v in leaf.items() if LEAVES[u] == r)
    out["total"] = sum(leaf.values())
    return pd.Series(out)


QUARTERS = [str(pd.Period("2000Q1", "Q") + k) for k in range(100)]


def test_hit_rates_match_the_promise_at_every_level_with_right_distributions() -> None:
    request = ProposalRequest(quarter="2027Q1", by=("region", "store"), probability=0.6, method="top_down")
    tr = replay_targets(QUARTERS, inputs, actuals, request, n_boot=500)
    s = tr.by_level.set_index("level")
    assert list(s.index) == ["total", "region", "store"] and not tr.skipped
    assert s.loc["total", "promised"] == pytest.approx(0.6, abs=1e-3)  # the company target's promise
    for lv in s.index:
        r = s.loc[lv]
        assert r["quarters"] == 100 and r["hit_lo"] <= r["hit_rate"] <= r["hit_hi"]
        # the promise holds within the evidence (a 99.9 % interval: the test must not fail 1 run in 20)
        g = tr.rows[tr.rows["level"] == lv].assign(hit=lambda d: d["hit"].astype(float))
        lo, hi = cluster_bootstrap(g, "hit", n_boot=2000, level=0.999)
        assert lo <= r["promised"] <= hi, (lv, lo, r["promised"], hi)
    rows = tr.rows
    assert set(rows.columns) >= {"quarter", "level", "unit_id", "target", "p_hit", "actual", "hit"}
    assert rows.groupby("quarter").size().eq(11).all()


def test_quarters_without_inputs_are_skipped_with_the_reason() -> None:
    def some(quarter: str) -> PlanInputs:
        if quarter < "2000Q3":
            raise InsufficientDataError(f"{quarter}: less than a year of history before it")
        return inputs(quarter)

    request = ProposalRequest(quarter="2027Q1", by=("region", "store"))
    tr = replay_targets(QUARTERS[:6], some, actuals, request, n_boot=100)
    assert list(tr.skipped) == ["2000Q1", "2000Q2"] and "history" in tr.skipped["2000Q1"]
    assert tr.rows["quarter"].nunique() == 4


def test_a_season_the_history_never_showed_is_skipped_by_the_builder_itself() -> None:
    """The replay skips what the proposal builder refuses: a promised P(hit) for a quarter whose history
    lacks the whole quarter a year back (``season_seen`` False) is not a promise the product makes."""

    def young(quarter: str) -> PlanInputs:
        plan = inputs(quarter)
        return replace(plan, notes={"season_seen": quarter >= "2000Q3"})

    request = ProposalRequest(quarter="2027Q1", by=("region", "store"))
    tr = replay_targets(QUARTERS[:4], young, actuals, request, n_boot=100)
    assert list(tr.skipped) == ["2000Q1", "2000Q2"] and "season" in tr.skipped["2000Q1"]
    assert sorted(tr.rows["quarter"].unique()) == ["2000Q3", "2000Q4"]


def test_cluster_bootstrap_keeps_a_quarter_together() -> None:
    rows = pd.DataFrame({"quarter": ["a"] * 50 + ["b"] * 50, "hit": [1.0] * 50 + [0.0] * 50})
    lo, hi = cluster_bootstrap(rows, "hit", n_boot=2000)
    assert lo == pytest.approx(0.0) and hi == pytest.approx(1.0)  # two quarters: it could be either
    assert cluster_bootstrap(rows[rows["quarter"] == "a"], "hit") == (1.0, 1.0)
