"""Hierarchical structure, aggregation and reconciliation: coherence, non-negativity, MinT vs
bottom-up, quantile handling and the error messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import linalg
from scipy.optimize import lsq_linear
from sklearn.base import clone

from salesplan.contracts.sellout import Hierarchy
from salesplan.errors import (
    ConfigError,
    DataValidationError,
    InsufficientDataError,
    NotFittedError,
)
from salesplan.models.hierarchy import (
    METHODS,
    HierarchicalReconciler,
    aggregate,
    choose_method,
    hierarchy_levels,
    summing_matrix,
)
from salesplan.models.hierarchy.mint import GLSProjection, shrunk_covariance, shrunk_weights

H = Hierarchy({"geo": ["region", "store"], "product": ["category", "product"]})
BOTTOM = "store/product"


def make_keys() -> pd.DataFrame:
    rows = []
    for r in ("North", "South"):
        for s in range(2):
            for c in ("Drinks", "Food"):
                for p in range(2):
                    store, prod = f"{r[0]}{s}", f"{c[0]}{p}"
                    rows.append(
                        {
                            "unique_id": f"{store}/{prod}",
                            "region": r,
                            "store": store,
                            "category": c,
                            "product": prod,
                        }
                    )
    return pd.DataFrame(rows)


def weekly(keys: pd.DataFrame, n: int, start: str = "2026-01-05") -> pd.DataFrame:
    ds = pd.DataFrame({"ds": pd.date_range(start, periods=n, freq="W-MON")})
    return keys.merge(ds, how="cross")


def assert_coherent(frame: pd.DataFrame, col: str = "yhat") -> None:
    """Every aggregate row equals S times the bottom rows, date by date."""
    sm = summing_matrix(frame[frame["level"] == BOTTOM], H)
    mat = frame.pivot(index="unique_id", columns="ds", values=col).loc[sm.keys["unique_id"]].to_numpy()
    bottom = mat[-sm.n_bottom :]
    np.testing.assert_allclose(sm.S @ bottom, mat, rtol=1e-9, atol=1e-6)


def scenario(seed: int, n_in: int, n_out: int, noise: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """True bottom series around 50 with base forecasts whose error sd depends on the level; returns
    (in-sample frame with y and yhat, out-of-sample frame with y and yhat), all levels."""
    rng = np.random.default_rng(seed)
    keys = make_keys()
    frame = weekly(keys, n_in + n_out)
    frame["y"] = 50 + 10 * rng.standard_normal(len(frame))
    allv = aggregate(frame, H, ["y"])
    sd = allv["level"].map(noise).fillna(noise["default"]).to_numpy()
    allv["yhat"] = allv["y"] + sd * rng.standard_normal(len(allv))
    dates = frame["ds"].sort_values().unique()
    cut = dates[n_in] if n_out else dates[-1] + np.timedelta64(1, "D")
    return allv[allv["ds"] < cut].copy(), allv[allv["ds"] >= cut].copy()


def test_levels_are_the_cross_product_of_dimension_prefixes():
    names = [lv.name for lv in hierarchy_levels(H)]
    assert names[0] == "total" and names[-1] == BOTTOM
    assert set(names) == {
        "total",
        "region",
        "store",
        "category",
        "product",
        "region/category",
        "region/product",
        "store/category",
        "store/product",
    }
    assert [lv.is_bottom for lv in hierarchy_levels(H)].count(True) == 1
    store_cat = next(lv for lv in hierarchy_levels(H) if lv.name == "store/category")
    assert store_cat.columns == ("store", "category")
    assert store_cat.prefix == ("region", "store", "category")
    single = Hierarchy({"geo": ["region", "store"]})
    assert [lv.name for lv in hierarchy_levels(single)] == ["total", "region", "store"]


def test_summing_matrix_shape_labels_and_identity_block():
    keys = make_keys()
    sm = summing_matrix(weekly(keys, 3), H)
    # 1 total + 2 regions + 2 categories + 4 stores + 4 region/cat + 4 products + 8 + 8 + 16 bottom
    assert sm.S.shape == (49, 16)
    dense = sm.S.toarray()
    np.testing.assert_array_equal(dense[-16:], np.eye(16))
    ids = sm.keys["unique_id"].tolist()
    assert ids[0] == "total" and dense[0].sum() == 16
    assert "region=North/category=Drinks" in ids
    row = ids.index("region=North/category=Drinks")
    under = [sm.bottom_ids[j] for j in np.flatnonzero(dense[row])]
    assert sorted(under) == sorted(keys.query("region == 'North' and category == 'Drinks'")["unique_id"])
    assert sm.bottom_ids == sorted(keys["unique_id"])


def test_aggregate_equals_plain_sums_at_every_level():
    rng = np.random.default_rng(1)
    frame = weekly(make_keys(), 5)
    frame["y"] = rng.poisson(20, len(frame)).astype(float)
    out = aggregate(frame, H, ["y"])
    for lv in hierarchy_levels(H):
        part = out[out["level"] == lv.name]
        expected = (
            frame.groupby([*lv.prefix, "ds"])["y"].sum() if lv.prefix else frame.groupby("ds")["y"].sum()
        )
        got = part.set_index([*lv.prefix, "ds"])["y"] if lv.prefix else part.set_index("ds")["y"]
        pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    out["yhat"] = out["y"]
    assert_coherent(out)


def test_aggregate_propagates_nan_and_merges_keys():
    frame = weekly(make_keys(), 2)
    frame["y"] = 1.0
    frame.loc[0, "y"] = np.nan
    bare = frame[["unique_id", "ds", "y"]]
    out = aggregate(bare, H, ["y"], keys=make_keys())
    first = frame.loc[0]
    total = out[(out["level"] == "total")].set_index("ds")["y"]
    assert np.isnan(total[first["ds"]]) and total.drop(first["ds"]).iloc[0] == 16.0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("nonnegative", [True, False])
def test_every_method_is_coherent_and_nonnegative(method, nonnegative):
    train, test = scenario(2, 30, 6, {"total": 2.0, "default": 5.0})
    test = test.copy()
    bottom_rows = test.index[test["level"] == BOTTOM][:10]
    test.loc[bottom_rows, "yhat"] = -1000.0  # negative base forecasts must not survive
    rec = HierarchicalReconciler(method, nonnegative=nonnegative).fit(train, H)
    out = rec.transform(test)
    assert_coherent(out)
    assert list(out.index) == list(test.index)
    if nonnegative:
        assert out["yhat"].min() >= 0.0
    else:
        assert out["yhat"].min() < 0.0


def test_bottom_up_equals_sums_of_bottom_forecasts():
    _, test = scenario(3, 0, 4, {"default": 3.0})
    out = HierarchicalReconciler("bottom_up").fit(test, H).transform(test)
    sums = aggregate(test, H, ["yhat"]).set_index(["unique_id", "ds"])["yhat"]
    got = out.set_index(["unique_id", "ds"])["yhat"]
    np.testing.assert_allclose(got.loc[sums.index], sums, rtol=1e-12)


@pytest.mark.parametrize("method", ["ols", "wls_struct", "wls_var", "mint_shrink"])
def test_coherent_forecasts_pass_through_unchanged(method):
    train, test = scenario(4, 30, 4, {"default": 4.0})
    coherent = aggregate(test, H, ["y"]).rename(columns={"y": "yhat"})
    out = HierarchicalReconciler(method).fit(train, H).transform(coherent)
    np.testing.assert_allclose(out["yhat"], coherent["yhat"], rtol=1e-9, atol=1e-9)


def _mse_by_level(frame: pd.DataFrame) -> pd.Series:
    return ((frame["yhat"] - frame["y"]) ** 2).groupby(frame["level"]).mean()


def test_mint_beats_bottom_up_when_the_top_is_well_forecast():
    noise = {"total": 1.0, "region": 2.0, "category": 2.0, "default": 6.0}
    train, test = scenario(5, 80, 40, noise)
    bu = HierarchicalReconciler("bottom_up").fit(train, H).transform(test)
    mint = HierarchicalReconciler("mint_shrink").fit(train, H)
    out = mint.transform(test)
    mse_bu, mse_mint = _mse_by_level(bu), _mse_by_level(out)
    assert mse_mint["total"] < 0.1 * mse_bu["total"]
    assert (mse_mint / mse_bu).mean() < 0.7
    assert mse_mint[BOTTOM] <= mse_bu[BOTTOM]
    assert mint.lambda_ is not None and 0.0 <= mint.lambda_ <= 1.0
    choice = choose_method(test, H, residuals=train)
    assert choice.method == "mint_shrink"
    assert choice.scores.loc["mean", "mint_shrink"] < choice.scores.loc["mean", "bottom_up"]
    assert {"base", "bottom_up", "mint_shrink"} <= set(choice.scores.columns)
    assert "total" in choice.scores.index and "mean" in choice.scores.index


def test_choose_method_prefers_bottom_up_when_only_bottom_is_informative():
    noise = {
        "total": 200.0,
        "region": 150.0,
        "category": 150.0,
        "store": 100.0,
        "product": 100.0,
        "region/category": 100.0,
        "store/category": 80.0,
        "region/product": 80.0,
        "default": 0.5,
    }
    train, test = scenario(6, 60, 20, noise)
    choice = choose_method(test, H, residuals=train, methods=("bottom_up", "ols"))
    assert choice.method == "bottom_up"


def test_choose_method_from_backtest_cutoffs_alone():
    train, _ = scenario(7, 48, 0, {"total": 1.0, "default": 6.0})
    dates = np.sort(train["ds"].unique())
    folds = []
    for cutoff in dates[7:-4:4]:
        fold = train[(train["ds"] > cutoff) & (train["ds"] <= cutoff + np.timedelta64(28, "D"))]
        folds.append(fold.assign(cutoff=cutoff))
    backtest = pd.concat(folds, ignore_index=True)
    choice = choose_method(backtest, H)
    assert choice.method == "mint_shrink"
    with pytest.raises(InsufficientDataError, match="residuals="):
        choose_method(backtest.drop(columns="cutoff").drop_duplicates(["unique_id", "ds"]), H)


def quantile_case() -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    train, test = scenario(8, 30, 3, {"default": 4.0})
    test = test.copy()
    test["q50"] = test["yhat"] - 2.0  # right-skewed: median below the mean
    test["q10"] = test["yhat"] - 6.0
    test["q90"] = test["yhat"] + np.where(test["level"] == "total", 30.0, 8.0)
    small = test.index[test["level"] == BOTTOM][:3]
    test.loc[small, ["yhat", "q50", "q10", "q90"]] = [1.0, 1.0, -10.0, 4.0]
    test.loc[small[:1], "q10"] = 3.0  # a crossed quantile pair in the input
    return train, test, small


def test_quantiles_shift_with_the_reconciled_mean():
    train, test, small = quantile_case()
    out = HierarchicalReconciler("mint_shrink").fit(train, H).transform(test)
    assert_coherent(out)
    assert (out["q10"] <= out["q50"]).all() and (out["q50"] <= out["q90"]).all()
    assert out[["q10", "q50", "q90"]].min().min() >= 0.0
    clean = ~test.index.isin(small)
    shift = (out["yhat"] - test["yhat"])[clean]
    for c in ("q10", "q50", "q90"):
        np.testing.assert_allclose((out[c] - test[c])[clean], shift, rtol=1e-9, atol=1e-9)
    total = out[out["level"] == "total"].set_index("ds")
    bottom_sum = out[out["level"] == BOTTOM].groupby("ds")["q50"].sum()
    assert (total["q50"] > bottom_sum).all()  # medians are not summed: the parent keeps its own


def test_coherent_median_mode_reconciles_q50_and_keeps_offsets():
    train, test, small = quantile_case()
    out = HierarchicalReconciler("mint_shrink", quantile_mode="coherent_median").fit(train, H).transform(test)
    assert_coherent(out)
    assert_coherent(out, "q50")
    assert (out["q10"] <= out["q50"]).all() and (out["q50"] <= out["q90"]).all()
    assert out[["q10", "q50", "q90"]].min().min() >= 0.0
    clean = ~test.index.isin(small)
    np.testing.assert_allclose(
        (out["q90"] - out["q50"])[clean], (test["q90"] - test["q50"])[clean], rtol=1e-9
    )
    with pytest.raises(ConfigError, match="quantile_mode"):
        HierarchicalReconciler(quantile_mode="sum").fit(train, H)  # type: ignore[arg-type]


def test_errors_name_the_missing_level_series_and_columns():
    train, test = scenario(9, 20, 2, {"default": 3.0})
    rec = HierarchicalReconciler("mint_shrink").fit(train, H)
    with pytest.raises(DataValidationError, match=r"region/category"):
        rec.transform(test[test["level"] != "region/category"])
    gone = test["unique_id"].isin(["N0/D0"])
    with pytest.raises(DataValidationError, match="N0/D0"):
        rec.transform(test[~gone])
    with pytest.raises(DataValidationError, match="region=North"):
        rec.transform(test[test["unique_id"] != "region=North"])
    with pytest.raises(DataValidationError, match="not in the hierarchy"):
        rec.transform(pd.concat([test, test.head(1).assign(unique_id="X9/Z9")]))
    with pytest.raises(DataValidationError, match="duplicate"):
        rec.transform(pd.concat([test, test.head(1)]))
    with pytest.raises(DataValidationError, match="level does not match"):
        rec.transform(test.assign(level=test["level"].replace({"store": "region"})))
    with pytest.raises(DataValidationError, match=r"\['category'\]"):
        HierarchicalReconciler("ols").fit(train.drop(columns="category"), H)
    with pytest.raises(DataValidationError, match="needs residuals"):
        HierarchicalReconciler("mint_shrink").fit(train.drop(columns=["y"]), H)
    with pytest.raises(InsufficientDataError, match="at least 3"):
        HierarchicalReconciler("mint_shrink").fit(
            train[train["ds"] < train["ds"].min() + pd.Timedelta(days=8)], H
        )
    with pytest.raises(NotFittedError):
        HierarchicalReconciler().transform(test)
    with pytest.raises(ConfigError):
        HierarchicalReconciler("topdown").fit(train, H)  # type: ignore[arg-type]


def test_structure_errors_for_broken_hierarchies():
    keys = make_keys()
    moved = keys.copy()
    moved.loc[0, "region"] = "South"  # store N0 now sits in two regions
    with pytest.raises(DataValidationError, match="belongs to more than one region"):
        summing_matrix(moved, H)
    twice = pd.concat([keys, keys.head(1).assign(store="N1")])
    with pytest.raises(DataValidationError, match="more than one hierarchy position"):
        summing_matrix(twice, H)
    with pytest.raises(DataValidationError, match=r"\['store'\] missing"):
        aggregate(weekly(keys, 2).assign(y=1.0).drop(columns="store"), H, ["y"])
    clash = keys.copy()
    clash.loc[0, "unique_id"] = "total"
    with pytest.raises(DataValidationError, match="aggregate series"):
        summing_matrix(clash, H)


def test_end_to_end_on_the_simulator():
    sim = pytest.importorskip("salesplan.simulator")
    world = sim.simulate(sim.SimConfig(seed=0, scale="small"))
    hier = world.sellout.spec.hierarchy
    df = world.sellout.df
    allv = aggregate(df, hier, ["y"]).sort_values(["unique_id", "ds"])
    # a deliberately simple base model per series: mean of the previous 4 weeks
    allv["yhat"] = allv.groupby("unique_id")["y"].transform(lambda s: s.shift(1).rolling(4).mean())
    last = allv["ds"].max()
    horizon = allv["ds"] > last - pd.Timedelta(weeks=8)
    train = allv[~horizon & allv["yhat"].notna()]
    test = allv[horizon].copy()
    bottom_name = hierarchy_levels(hier)[-1].name
    for method in ("bottom_up", "mint_shrink"):
        # the structure is the series alive in the horizon; residuals of discontinued ones are ignored
        active = df[df["unique_id"].isin(test["unique_id"])]
        rec = HierarchicalReconciler(method).fit(train, hier, bottom_keys=active)
        out = rec.transform(test.fillna({"yhat": 0.0}))
        sm = rec.structure_
        mat = out.pivot(index="unique_id", columns="ds", values="yhat").loc[sm.keys["unique_id"]].to_numpy()
        np.testing.assert_allclose(sm.S @ mat[-sm.n_bottom :], mat, rtol=1e-9, atol=1e-6)
        assert out["yhat"].min() >= 0.0
        assert set(out["level"]) == {lv.name for lv in hierarchy_levels(hier)}
        assert (out["level"] == bottom_name).sum() == active["unique_id"].nunique() * 8


def test_shrunk_covariance_matches_the_direct_schafer_strimmer_formula():
    rng = np.random.default_rng(11)
    t, n = 25, 12
    resid = rng.standard_normal((t, n)) @ rng.standard_normal((n, n)) + 0.5
    xc = resid - resid.mean(axis=0)
    cov = np.cov(resid, rowvar=False)
    xs = xc / np.sqrt(np.diag(cov))
    corr = np.corrcoef(resid, rowvar=False)
    w = np.einsum("ti,tj->tij", xs, xs)
    var_r = t / (t - 1) ** 3 * ((w - w.mean(axis=0)) ** 2).sum(axis=0)
    off = ~np.eye(n, dtype=bool)
    lam = np.clip(var_r[off].sum() / (corr[off] ** 2).sum(), 0, 1)
    expected = (1 - lam) * cov + lam * np.diag(np.diag(cov))
    got, got_lam = shrunk_covariance(resid)
    assert got_lam == pytest.approx(lam, rel=1e-10)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_nonnegative_solution_is_the_exact_constrained_optimum():
    """The active set must land on the same point as scipy's bounded least squares (BVLS)."""
    rng = np.random.default_rng(12)
    sm = summing_matrix(make_keys(), H)
    n = sm.S.shape[0]
    weights, _ = shrunk_weights(rng.standard_normal((30, n)) @ rng.standard_normal((n, n)) * 0.2)
    proj = GLSProjection(sm.S, weights)
    chol = linalg.cholesky(weights.dense(), lower=True)
    A = linalg.solve_triangular(chol, sm.S.toarray(), lower=True)
    yhat = rng.normal(3.0, 8.0, size=(n, 40))
    got = proj.bottom(yhat, nonnegative=True)
    assert (got >= 0).all() and (proj.bottom(yhat, nonnegative=False) < 0).any()
    for j in range(yhat.shape[1]):
        rhs = linalg.solve_triangular(chol, yhat[:, j], lower=True)
        ref = lsq_linear(A, rhs, bounds=(0.0, np.inf), method="bvls", tol=1e-14).x
        np.testing.assert_allclose(got[:, j], ref, atol=1e-8)


def test_reconciler_follows_the_sklearn_contract():
    rec = HierarchicalReconciler("ols", nonnegative=False)
    assert rec.get_params() == {"method": "ols", "nonnegative": False, "quantile_mode": "shift"}
    assert clone(rec).get_params() == rec.get_params() and not hasattr(clone(rec), "structure_")
    train, _ = scenario(13, 5, 0, {"default": 1.0})
    assert rec.fit(train, H) is rec and rec.W_ is not None
