"""Target proposals from a proposal request: exact totals at every level under every method and bound,
probability ↔ target consistent with the forecast quantiles, phasing to the cent, clear errors, both domains.

Most tests use a small synthetic Forecast / history pair in the batch-output shapes (fast); one uses a
real ``forecast_all_levels`` output of a small simulated world, one the simulated CRM (bookings)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan.contracts import QUANTILES, quantile_cols
from salesplan.errors import ConfigError, DataValidationError, InfeasibleError, InsufficientDataError
from salesplan.planning.distributions import from_quantile_frame
from salesplan.planning.proposals import (
    ProposalRequest,
    build_from_inputs,
    build_proposal,
    implied_probability_for,
    plan_inputs,
)

LEVELS = QUANTILES
QCOLS = quantile_cols(LEVELS)
STORES = {"A1": "North", "A2": "North", "A3": "North", "B1": "South", "B2": "South"}
PRODUCTS = {"P1": "Food", "P2": "Food", "P3": "Drink"}
SPREAD = {"total": 0.05, "region": 0.08, "store": 0.12, "category": 0.08, "product": 0.12}


def _levels(bottom: pd.DataFrame, value: str) -> pd.DataFrame:
    """Bottom (store × product) rows summed to total, region, store, category and product."""
    keys = {
        "total": pd.Series("total", index=bottom.index),
        "region": "region=" + bottom["store"].map(STORES),
        "store": "store=" + bottom["store"],
        "category": "category=" + bottom["product"].map(PRODUCTS),
        "product": "product=" + bottom["product"],
    }
    parts = [
        bottom.assign(unique_id=k).groupby(["unique_id", "ds"], as_index=False)[value].sum().assign(level=lv)
        for lv, k in keys.items()
    ]
    return pd.concat(parts, ignore_index=True)


def make_frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(forecast, history) in the shapes of ``salesplan.contracts.forecast``: history W/M/Q 2025-2026,
    forecast W/M/Q for 2027Q1 (whole) and a sliver of 2027Q2 (coverage < 1)."""
    rng = np.random.default_rng(seed)
    combos = [(s, p) for s in STORES for p in PRODUCTS]
    scale = {c: rng.uniform(5, 40) for c in combos}

    def weekly(start: str, n: int, col: str) -> pd.DataFrame:
        ds = pd.date_range(start, periods=n, freq="W-MON")
        season = 1 + 0.1 * np.sin(2 * np.pi * ds.dayofyear.to_numpy() / 365.25)  # same calendar shape
        rows = [
            pd.DataFrame({"store": s, "product": p, "ds": ds,
                          col: np.round(scale[(s, p)] * season * rng.uniform(0.6, 1.4, n), 1)})
            for s, p in combos
        ]  # fmt: skip
        return _levels(pd.concat(rows, ignore_index=True), col)

    hist_w = weekly("2025-01-06", 104, "y")  # through 2026-12-28: whole quarters 2025Q1..2026Q4
    fc_w = weekly("2027-01-04", 14, "yhat")  # 2027-01-04 .. 2027-04-05

    def periods(w: pd.DataFrame, col: str, freq: str) -> pd.DataFrame:
        per = w["ds"].dt.to_period(freq)
        g = (
            w.assign(period=per.astype(str), ds=per.dt.start_time)
            .groupby(["unique_id", "level", "period", "ds"], as_index=False)[col]
            .sum()
        )
        return g.assign(freq=freq)

    hist = pd.concat(
        [hist_w.assign(freq="W", period=hist_w["ds"].dt.strftime("%Y-%m-%d")),
         periods(hist_w, "y", "M"), periods(hist_w, "y", "Q")], ignore_index=True,
    )  # fmt: skip
    fc = pd.concat(
        [fc_w.assign(freq="W", period=fc_w["ds"].dt.strftime("%Y-%m-%d")),
         periods(fc_w, "yhat", "M"), periods(fc_w, "yhat", "Q")], ignore_index=True,
    )  # fmt: skip
    fc["coverage"] = np.where(fc["period"].isin(["2027-04", "2027Q2"]), 0.1, 1.0)
    z = stats.norm.ppf(LEVELS)
    s = fc["level"].map(SPREAD).to_numpy()[:, None] * np.where(fc["freq"] == "W", 2.0, 1.0)[:, None]
    fc[QCOLS] = np.maximum(fc["yhat"].to_numpy()[:, None] * (1 + s * z[None, :]), 0.0)
    fc["source"] = "synthetic"
    return fc, hist


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_frames()


def build(frames: Any, **kw: Any) -> Any:
    fc, hist = frames
    by = kw.pop("by", ("region", "store"))
    return build_proposal(ProposalRequest(quarter="2027Q1", by=by, **kw), forecast=fc, history=hist)


def assert_exact(rows: pd.DataFrame, oa: float) -> None:
    """Children's cents == parent cents at every parent, × (1 + oa) only where the children are leaves
    (the over-assignment is applied once); every unit's months sum to its target and every parent's
    months to its children's (× (1 + oa) above the leaves), to the cent."""
    cents = np.rint(rows["target"].to_numpy() * 100)
    np.testing.assert_allclose(cents / 100, rows["target"], atol=1e-9)
    by = dict(zip(rows["unit_id"], cents, strict=True))
    months = rows.set_index("unit_id")[["m1", "m2", "m3"]].mul(100).round()
    leaves = set(rows["unit_id"]) - set(rows["parent_id"].dropna())
    kids = rows[rows["parent_id"].notna()]
    assert len(kids.groupby("parent_id")) >= 1
    for parent, g in kids.groupby("parent_id"):
        rate = 1 + oa if set(g["unit_id"]) <= leaves else 1.0
        assert np.rint(g["target"] * 100).sum() == np.rint(by[parent] * rate), parent
        kid_months = months.loc[g["unit_id"]].sum().to_numpy()
        np.testing.assert_allclose(kid_months, months.loc[parent].to_numpy() * rate, atol=1.0 + 1e-9)
    assert (months.sum(axis=1).to_numpy() == cents).all()


BOUNDS: dict[str, dict[str, Any]] = {
    "none": {},
    "floors_caps": {"floors": {"store=B2": 2_000.0}, "caps": {"store=A1": 900.0, "region=South": 2_500.0}},
    "max_change": {"max_change": 0.5},
    "override": {"overrides": {"store=A2": 1_000.0}},
}


@pytest.mark.parametrize("method", ["top_down", "bottom_up", "blended"])
@pytest.mark.parametrize(("bounds", "oa"), [(b, 0.1) for b in BOUNDS] + [("none", 0.0), ("override", 0.0)])
def test_totals_exact_at_every_level(frames: Any, method: str, bounds: str, oa: float) -> None:
    res = build(frames, method=method, over_assignment=oa, **BOUNDS[bounds])
    rows = res.proposal.rows
    assert rows["level"].tolist() == ["total", "region", "region", *["store"] * 5]
    assert_exact(rows, oa)
    t = rows.set_index("unit_id")["target"]
    if bounds == "floors_caps":
        assert t["store=B2"] >= 2_000.0 and t["store=A1"] <= 900.0 and t["region=South"] <= 2_500.0
    if bounds == "override":
        assert t["store=A2"] == 1_000.0 and rows.set_index("unit_id").loc["store=A2", "overridden"]
    if bounds == "max_change":
        last = rows.set_index("unit_id")["last_period_actual"]
        inner = rows["parent_id"].notna().to_numpy()
        ratio = (t / last).to_numpy()[inner]
        assert (ratio >= 0.5 - 1e-4).all() and (ratio <= 1.5 + 1e-4).all()
    fc = frames[0]
    q = fc[(fc["freq"] == "Q") & (fc["period"] == "2027Q1") & (fc["level"] == "total")]
    d = from_quantile_frame(q)
    if method != "bottom_up":  # the top is the total's 40 % quantile (P(hit) = 0.6 by default)
        assert res.company.target == pytest.approx(float(d.quantile(0.4)[0, 0]), abs=0.006)
    assert res.company.target == t["total"] and res.company.p_hit == pytest.approx(
        1 - float(d.cdf(t["total"])[0, 0])
    )


def test_probability_and_target_agree_with_the_quantiles(frames: Any) -> None:
    fc = frames[0]
    q = fc[(fc["freq"] == "Q") & (fc["period"] == "2027Q1")].set_index("unique_id")
    for p, col in ((0.7, "q30"), (0.9, "q10"), (0.2, "q80")):
        res = build(frames, probability=p, method="top_down")
        assert res.company.target == pytest.approx(q.loc["total", col], abs=0.006)
        assert res.company.p_hit == pytest.approx(p, abs=1e-4)
        assert implied_probability_for(res, "total", q.loc["total", col]) == pytest.approx(p, abs=1e-9)
    res = build(frames)
    values = np.linspace(q.loc["total", "q05"] * 0.8, q.loc["total", "q95"] * 1.2, 50)
    probs = [implied_probability_for(res, "total", v) for v in values]
    assert all(a >= b for a, b in itertools.pairwise(probs)) and probs[0] > 0.95 > 0.05 > probs[-1]
    curve = res.curve
    assert curve["target"].is_monotonic_decreasing and curve["p_hit"].is_monotonic_increasing
    at = curve.set_index(curve["p_hit"].round(2))["target"]
    for p, col in ((0.5, "q50"), (0.9, "q10"), (0.1, "q90")):
        assert at[p] == pytest.approx(q.loc["total", col])
    # every unit's p_hit is read off its own quarter distribution, independently rebuilt here
    for _, row in res.proposal.rows.iterrows():
        own = from_quantile_frame(q.loc[[row["unit_id"]]].reset_index())
        assert row["p_hit"] == pytest.approx(1 - own.cdf(row["target"])[0, 0], abs=1e-9)
        assert row["forecast_q50"] == pytest.approx(q.loc[row["unit_id"], "q50"])
    fc, hist = frames
    slider = plan_inputs(
        ProposalRequest(quarter="2027Q1", by=("region", "store")), forecast=fc, history=hist
    ).dist
    np.testing.assert_allclose(slider.values, res.distribution.values)  # type: ignore[union-attr]
    assert res.distribution is not None and implied_probability_for(
        res.distribution, "store=A1", 0.0
    ) == pytest.approx(1.0)


def test_growth_and_value_modes(frames: Any) -> None:
    hist = frames[1]
    ly = hist[(hist["freq"] == "Q") & (hist["period"] == "2026Q1") & (hist["level"] == "total")]["y"].iat[0]
    last = hist[(hist["freq"] == "Q") & (hist["period"] == "2026Q4") & (hist["level"] == "total")]["y"].iat[0]
    g = build(frames, mode="growth", growth=0.08, method="top_down")
    assert g.company.target == pytest.approx(round(ly * 1.08, 2), abs=0.006)
    assert g.company.last_period_actual == pytest.approx(last)
    assert g.proposal.parameters["last_period"] == "2026Q4"
    assert g.proposal.parameters["last_year_actual"] == pytest.approx(ly)
    v = build(frames, mode="value", value=12_345.67)
    assert v.company.target == 12_345.67
    assert v.company.p_hit == pytest.approx(implied_probability_for(v, "total", 12_345.67))
    assert_exact(v.proposal.rows, 0.0)  # the default: no over-assignment
    bu = build(frames, mode="growth", growth=0.0, method="bottom_up", over_assignment=0.0)
    leaves = bu.proposal.rows[bu.proposal.rows["level"] == "store"]
    ly_leaf = hist[(hist["freq"] == "Q") & (hist["period"] == "2026Q1")].set_index("unique_id")["y"]
    np.testing.assert_allclose(leaves["target"], ly_leaf.reindex(leaves["unit_id"]).round(2), atol=0.011)


def test_top_down_shares_follow_the_forecast_and_fairness(frames: Any) -> None:
    res = build(frames, method="top_down", over_assignment=0.0)
    rows = res.proposal.rows
    st = rows[rows["level"] == "store"]
    north = st[st["parent_id"] == "region=North"]
    share = north["target"] / north["target"].sum()
    pot = north["forecast_q50"] / north["forecast_q50"].sum()
    np.testing.assert_allclose(share, pot, atol=1e-4)
    f = res.fairness.by_quarter.iloc[0]
    assert f["units"] == 5 and 0 <= f["gini"] < 0.05
    assert len(res.fairness.per_unit) == 5


def test_phasing_follows_the_monthly_forecast_and_sums_exactly(frames: Any) -> None:
    """Each unit's months follow its forecast's monthly shape as closely as adding up to the parent's
    months allows (here within 0.1 % of the target); the top unit's exactly."""
    res = build(frames)
    assert res.months == ("2027-01", "2027-02", "2027-03")
    rows = res.proposal.rows.set_index("unit_id")
    fc = frames[0]
    m = fc[(fc["freq"] == "M") & fc["period"].isin(res.months)].pivot_table(
        index="unique_id", columns="period", values="yhat"
    )
    for uid, row in rows.iterrows():
        shape = m.loc[uid] / m.loc[uid].sum()
        tol = 0.011 if uid == "total" else 0.011 + 1e-3 * row["target"]
        np.testing.assert_allclose(
            row[["m1", "m2", "m3"]].to_numpy(float), row["target"] * shape.to_numpy(), atol=tol
        )
    assert res.proposal.parameters["phasing_shape"] == {"forecast": 8}
    assert res.proposal.parameters["months"] == list(res.months)


def test_other_dimension_and_single_level(frames: Any) -> None:
    res = build(frames, by=("category", "product"))
    rows = res.proposal.rows
    parent = dict(zip(rows["unit_id"], rows["parent_id"], strict=True))
    assert parent["product=P1"] == parent["product=P2"] == "category=Food"
    assert parent["product=P3"] == "category=Drink" and parent["category=Food"] == "total"
    assert_exact(rows, 0.0)
    one = build(frames, by=("store",))
    assert set(one.proposal.rows["parent_id"].dropna()) == {"total"}
    assert_exact(one.proposal.rows, 0.0)
    assert_exact(build(frames, by=("store",), over_assignment=0.1).proposal.rows, 0.1)
    assert res.measure == "units" and res.proposal.parameters["domain"] == "sellout"


def test_tree_is_read_from_the_sums_or_given(frames: Any) -> None:
    fc, hist = frames
    res = build(frames)
    got = res.proposal.rows.set_index("unit_id")["parent_id"]
    for s, r in STORES.items():
        assert got[f"store={s}"] == f"region={r}"
    # a given tree wins (here: a different, deliberate grouping)
    tree = pd.DataFrame({
        "unit_id": ["total", "region=North", "region=South", *[f"store={s}" for s in STORES]],
        "parent_id": [None, "total", "total", "region=North", "region=North", "region=South", "region=South",
                      "region=South"],
        "level": ["total", "region", "region", *["store"] * 5],
    })  # fmt: skip
    given = build_proposal(
        ProposalRequest(quarter="2027Q1", by=("region", "store")), forecast=fc, history=hist, tree=tree
    )
    assert given.proposal.rows.set_index("unit_id").loc["store=A3", "parent_id"] == "region=South"
    assert given.proposal.parameters["tree"] == "given"
    # hierarchy columns on the frame (as the batch outputs carry them) win over the sums
    moved = {**STORES, "A3": "South"}
    sid = fc["unique_id"].str.removeprefix("store=")
    cols = fc.assign(
        region=np.where(fc["level"] == "region", fc["unique_id"].str.removeprefix("region="),
                        np.where(fc["level"] == "store", sid.map(moved), None)),
        store=np.where(fc["level"] == "store", sid, None),
    )  # fmt: skip
    by_cols = build_proposal(
        ProposalRequest(quarter="2027Q1", by=("region", "store")), forecast=cols, history=hist
    )
    assert by_cols.proposal.rows.set_index("unit_id").loc["store=A3", "parent_id"] == "region=South"
    assert by_cols.proposal.parameters["tree"] == "hierarchy columns"
    assert build(frames).proposal.parameters["tree"] == "inferred from the frames' sums"
    # levels of two dimensions are not nested: a clear error, not a made-up tree
    with pytest.raises(ConfigError, match=r"not nested|fit several|tree="):
        build(frames, by=("region", "product"))
    bad = tree.assign(parent_id=tree["parent_id"].replace({"region=South": "store=A1"}))
    with pytest.raises(DataValidationError, match="level above"):
        build_proposal(
            ProposalRequest(quarter="2027Q1", by=("region", "store")), forecast=fc, history=hist, tree=bad
        )


def test_infeasible_bounds_name_the_units(frames: Any) -> None:
    caps = {f"store={s}": 10.0 for s in STORES}
    with pytest.raises(InfeasibleError, match=r"caps sum.*region=North.*store=A1.*store=A2.*store=A3"):
        build(frames, caps=caps)
    with pytest.raises(InfeasibleError, match=r"floors sum.*region=South.*store=B1"):
        build(frames, floors={"store=B1": 1e6})
    with pytest.raises(ConfigError, match="floors above caps"):
        ProposalRequest.checked(quarter="2027Q1", by=("region", "store"), floors={"store=A1": 100.0},
                                caps={"store=A1": 50.0})  # fmt: skip


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"by": ("region", "shelf")}, r"unknown level.*shelf.*has levels"),
        ({"quarter": "2028Q3"}, r"2028Q3 is not in the forecast.*2027Q1"),
        ({"quarter": "2027Q2"}, r"only 10% covered"),
        ({"probability": 0.0}, r"probability: must be in \(0, 1\)"),
        ({"probability": 1.0}, r"probability: must be in \(0, 1\)"),
        ({"probability": 1.5}, r"probability: must be in \(0, 1\)"),
        ({"mode": "growth"}, "needs growth"),
        ({"mode": "value", "value": 10.0, "method": "bottom_up"}, "top_down"),
        ({"floors": {"store=ZZ": 1.0}}, r"unknown unit.*store=ZZ"),
        ({"overrides": {"store=A1": -5.0}}, r"overrides\[store=A1\]: must be in \[0, "),
        ({"quarter": "next"}, "quarter: must look like 2027Q1"),
        ({"method": "sideways"}, "method: Input should be 'top_down', 'bottom_up' or 'blended'"),
        ({"over_assignment": -1.0}, r"over_assignment: must be in \[0, 1\]"),
        ({"caps": {"total": 5.0}}, "would be ignored"),
    ],
)
def test_clear_config_errors(frames: Any, kw: dict[str, Any], match: str) -> None:
    fc, hist = frames
    args = {"quarter": "2027Q1", "by": ("region", "store"), **kw}
    with pytest.raises(ConfigError, match=match):
        build_proposal(ProposalRequest.checked(**args), forecast=fc, history=hist)


def test_growth_without_history_and_missing_inputs(frames: Any) -> None:
    fc, _ = frames
    with pytest.raises(ConfigError, match="last year"):
        build_proposal(
            ProposalRequest(quarter="2027Q1", by=("region",), mode="growth", growth=0.1), forecast=fc
        )
    res = build_proposal(
        ProposalRequest(quarter="2027Q1", by=("region",)), forecast=fc
    )  # history optional otherwise
    assert res.proposal.rows["last_period_actual"].isna().all()
    with pytest.raises(ConfigError, match="needs forecast="):
        build_proposal(ProposalRequest(quarter="2027Q1", by=("region", "store")))
    with pytest.raises(ConfigError, match="needs crm="):
        build_proposal(ProposalRequest(quarter="2027Q1", by=("region", "team", "rep")), forecast=fc)
    with pytest.raises(DataValidationError, match="yhat"):
        build_proposal(ProposalRequest(quarter="2027Q1", by=("region",)), forecast=fc.drop(columns=["yhat"]))


def test_a_season_the_history_never_showed_gets_no_promised_probability(frames: Any) -> None:
    """Without a whole quarter a year back (2026Q1 cut from the history) the forecast has not seen the
    season: a target at a promised P(hit) is refused with the fix, growth points to a typed value, and
    a typed value is built with ``season_seen`` False in its parameters; a history that has it is True."""
    fc, hist = frames
    short = hist[~((hist["freq"] == "Q") & (hist["period"].astype(str) == "2026Q1"))]
    req = {"quarter": "2027Q1", "by": ("region", "store")}
    with pytest.raises(InsufficientDataError, match=r"no whole 2026Q1.*mode='value'"):
        build_proposal(ProposalRequest(**req), forecast=fc, history=short)
    with pytest.raises(ConfigError, match="mode='value'"):
        build_proposal(ProposalRequest(**req, mode="growth", growth=0.1), forecast=fc, history=short)
    v = build_proposal(ProposalRequest(**req, mode="value", value=9_000.0), forecast=fc, history=short)
    assert v.company.target == 9_000.0 and v.proposal.parameters["season_seen"] is False
    assert build(frames).proposal.parameters["season_seen"] is True
    # no history given: not known, nothing refused
    assert build_proposal(ProposalRequest(**req), forecast=fc).proposal.parameters["season_seen"] is None


def test_parameters_are_json_ready_and_complete(frames: Any) -> None:
    import json

    fc, hist = frames
    req = ProposalRequest(quarter="2027Q1", by=["region", "store"], floors={"store=B2": 10})  # type: ignore[arg-type]
    res = build_proposal(req, forecast=fc, history=hist, input_model_versions={"salesplan-forecast": "7"})
    assert res.proposal.input_model_versions == {"salesplan-forecast": "7"}
    p = json.loads(json.dumps(res.proposal.parameters, allow_nan=False))
    for key in ("quarter", "by", "mode", "probability", "method", "over_assignment", "floors", "months"):
        assert key in p
    assert p["by"] == ["region", "store"] and p["floors"] == {"store=B2": 10.0}
    assert res.proposal.quarter == "2027Q1" and res.proposal.method == "blended"


@pytest.mark.slow
def test_real_forecast_of_a_simulated_world() -> None:
    """End to end on forecast_all_levels output: the tree comes from its sums, totals hold exactly."""
    from salesplan.models.forecast import SalesplanForecaster, SeasonalNaive, WindowAverage
    from salesplan.models.hierarchy import aggregate, to_periods
    from salesplan.simulator import SimConfig, simulate
    from salesplan.training.forecast_job import alive, run_backtest
    from salesplan.training.forecast_levels import forecast_all_levels

    world = simulate(SimConfig(seed=4, n_products=4, n_stores=3, horizon=19))
    model = lambda: SalesplanForecaster(members=[WindowAverage(), SeasonalNaive()])  # noqa: E731
    bt = run_backtest(world.sellout, model(), 13, 2, 52)
    bottom = model().fit(alive(world.sellout.df), world.sellout.spec).predict(19, world.future)
    fc = forecast_all_levels(bottom, bt, world.sellout, quantiles=LEVELS)
    h, df = world.sellout.spec.hierarchy, world.sellout.df
    keys = df[["unique_id", *h.columns]].drop_duplicates("unique_id")
    agg = aggregate(df[["unique_id", "ds", "y"]], h, ["y"], keys=keys)
    parts = [
        agg[["unique_id", "level", "ds", "y"]].assign(freq="W", period=agg["ds"].dt.strftime("%Y-%m-%d"))
    ]
    for freq in ("M", "Q"):
        per = to_periods(agg[["unique_id", "level", "ds", "y"]], freq, ["y"], ["unique_id", "level"])
        parts.append(per[per["coverage"] >= 1].rename(columns={"period_start": "ds"}).assign(freq=freq))
    hist = pd.concat(parts, ignore_index=True)
    store_region = keys.drop_duplicates("store").set_index("store")["region"]
    for by in (("region", "store"), ("category", "product")):
        res = build_proposal(ProposalRequest(quarter="2027Q1", by=by), forecast=fc, history=hist)
        rows = res.proposal.rows
        assert_exact(rows, 0.0)
        assert set(rows["level"]) == {"total", *by}
        assert res.company.p_hit == pytest.approx(0.6, abs=1e-3)
    res = build_proposal(ProposalRequest(quarter="2027Q1", by=("region", "store")), forecast=fc, history=hist)
    got = res.proposal.rows.set_index("unit_id")["parent_id"]
    for store, region in store_region.items():
        if f"store={store}" in got.index:
            assert got[f"store={store}"] == f"region={region}"
    assert res.proposal.parameters["last_period"] == "2026Q3"  # data end 2026-11-23: Q4 not whole


def test_bookings_domain_from_the_simulated_crm() -> None:
    from salesplan.simulator import SimConfig, simulate

    crm = simulate(SimConfig(seed=1, scale="small")).crm
    res = build_proposal(
        ProposalRequest(quarter="2027Q1", by=("region", "team", "rep"), method="top_down"), crm=crm
    )
    rows = res.proposal.rows
    assert res.measure == "won_value" and res.proposal.parameters["domain"] == "bookings"
    assert list(dict.fromkeys(rows["level"])) == ["total", "region", "team", "rep"]
    assert_exact(rows, 0.0)
    assert res.company.p_hit == pytest.approx(0.6, abs=1e-3)
    assert res.distribution is not None
    for _, row in rows.iterrows():
        assert row["p_hit"] == pytest.approx(implied_probability_for(res, row["unit_id"], row["target"]))
    assert rows.set_index("unit_id").loc["North-1", "parent_id"] == "North"
    assert res.proposal.parameters["ramp_applied_in"].startswith("bookings")


def test_inputs_built_once_serve_many_requests_unchanged(frames: Any) -> None:
    forecast, history = frames
    base = ProposalRequest(quarter="2027Q1", by=("region", "store"))
    inputs = plan_inputs(base, forecast=forecast, history=history)
    units_before = inputs.units.copy()
    for req in (
        base,
        ProposalRequest(quarter="2027Q1", by=("region", "store"), probability=0.8, method="top_down"),
    ):
        got = build_from_inputs(req, inputs)
        want = build_proposal(req, forecast=forecast, history=history)
        pd.testing.assert_frame_equal(got.proposal.rows, want.proposal.rows)
        assert got.company == want.company
    pd.testing.assert_frame_equal(inputs.units, units_before)
