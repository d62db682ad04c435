"""Normalised split conformal in the forecaster's calibrator: errors divided by scale × difficulty
(``d = clip(max(ŷ, 0) / level, 1/3, 3) ** exponent``), quantiles multiplied back by the forecast row's own
``d``; ``exponent="auto"`` chosen by leave-one-window-out interval score. Exponent 0 is the calibration
before the change, bit for bit. The noise difficulty (``clip((level / scale) / ref, 1/3, 3) ** g``: smooth
series get wider bands) is chosen the same way and is also the old calibration at 0."""

from __future__ import annotations

import pickle
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from salesplan.errors import ConfigError
from salesplan.models.forecast.base import BaseForecaster
from salesplan.models.forecast.baselines import Naive, SeasonalNaive, WindowAverage
from salesplan.models.forecast.coldstart import ColdStartForecaster
from salesplan.models.forecast.conformal import (
    EXPONENTS,
    NOISE_EXPONENTS,
    ConformalCalibrator,
    auto_exponent,
    auto_exponents,
    noise_reference,
    origin_scales,
    series_level,
)
from salesplan.models.forecast.ensemble import SalesplanForecaster
from salesplan.simulator import SimConfig, simulate

QS = (0.1, 0.5, 0.9)


def _old_fit(cv: pd.DataFrame, scale: pd.Series, quantiles: Sequence[float], smooth: int = 1) -> np.ndarray:
    """Frozen copy of ``ConformalCalibrator.fit`` before the exponent (its ``table_``)."""
    s = (cv["scale"] if "scale" in cv.columns else cv["unique_id"].map(scale)).to_numpy(dtype=float)
    err = (cv["y"].to_numpy(dtype=float) - cv["yhat"].to_numpy(dtype=float)) / s
    steps = cv["step"].to_numpy(dtype=int)
    ok = np.isfinite(err)
    err, steps = err[ok], steps[ok]
    top = int(steps.max())
    table = np.zeros((top, len(quantiles)))
    for k in range(1, top + 1):
        pool = err[np.abs(steps - k) <= smooth]
        n = len(pool)
        levels = [min(max((q * (n + 1) - 0.5) / n, 0.0), 1.0) for q in quantiles]
        table[k - 1] = np.quantile(pool, levels)
    return np.sort(table, axis=1)


def _old_apply(table: np.ndarray, fc: pd.DataFrame, scale: pd.Series, quantiles: Sequence[float]) -> dict:
    """Frozen copy of ``ConformalCalibrator.apply`` before the exponent (nonneg)."""
    step = np.clip(fc["step"].to_numpy(dtype=int), 1, len(table)) - 1
    s = fc["unique_id"].map(scale).to_numpy(dtype=float)
    s = np.where(np.isfinite(s), s, float(np.nanmedian(scale.to_numpy())))
    yhat = fc["yhat"].to_numpy(dtype=float)
    return {q: np.maximum(yhat + s * table[step, j], 0.0) for j, q in enumerate(quantiles)}


def _cv(
    n_series: int = 60, windows: int = 3, steps: int = 6, power: float = 0.0, seed: int = 0
) -> pd.DataFrame:
    """Backtest rows whose error spread is ``scale × (ŷ / level) ** power``: 0 homoscedastic, 1 errors
    proportional to the forecast over the series' level."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_series):
        level, scale = rng.uniform(20, 200), rng.uniform(2, 20)
        for w in range(1, windows + 1):
            ratio = np.exp(rng.uniform(np.log(0.35), np.log(2.8), steps))
            yhat = level * ratio
            y = yhat + scale * ratio**power * rng.standard_normal(steps)
            rows.append(pd.DataFrame({"unique_id": f"s{i:03d}", "window": w, "step": np.arange(1, steps + 1),
                                      "y": y, "yhat": yhat, "scale": scale, "level": level}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def _fc(cv: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Forecast rows of ``cv``'s series (steps 1..8, past the calibrated 6) with their scale and level."""
    first = cv.groupby("unique_id").first()
    rng = np.random.default_rng(9)
    fc = pd.DataFrame({"unique_id": np.repeat(first.index, 8), "step": np.tile(np.arange(1, 9), len(first))})
    fc["yhat"] = fc["unique_id"].map(first["level"]).to_numpy() * rng.uniform(0.2, 4.0, len(fc))
    return fc, first["scale"], first["level"]


def test_exponent_zero_is_the_calibration_before_it() -> None:
    cv = _cv(power=1.0)
    cv.loc[3, "y"] = np.nan  # a non-finite error is dropped, as before
    fc, scale, level = _fc(cv)
    for frame in (cv, cv.drop(columns="scale")):  # scale per row, or per series from the mapping
        cal = ConformalCalibrator(QS).fit(frame, scale)
        old = _old_fit(frame, scale, QS)
        assert cal.exponent_ == 0.0
        assert np.array_equal(cal.table_, old)
        for lv in (None, level):  # exponent 0: the level changes nothing
            out = cal.apply(fc, scale, level=lv)
            for q, v in _old_apply(old, fc, scale, QS).items():
                assert np.array_equal(out[f"q{round(q * 100):02d}"].to_numpy(), v)


def test_auto_keeps_zero_without_windows_or_levels() -> None:
    cv = _cv(power=1.0)
    scale = cv.groupby("unique_id")["scale"].first()
    for frame in (
        cv[cv["window"] == 1],  # one window: nothing to leave out
        cv.drop(columns="level"),
        cv.drop(columns="window"),
        cv.assign(level=np.nan),
    ):
        assert ConformalCalibrator(exponent="auto").fit(frame, scale).exponent_ == 0.0


def test_quantiles_at_exponent_half_follow_the_normalised_formula() -> None:
    cv = _cv(power=0.5, seed=3)
    cv.loc[cv.index[:40], "level"] = np.nan  # no level: d = 1
    fc, scale, level = _fc(cv)
    level.iloc[:5] = np.nan
    cal = ConformalCalibrator((0.1, 0.9), exponent=0.5).fit(cv, scale)
    out = cal.apply(fc, scale, level=level)

    def d(yhat: np.ndarray, lv: np.ndarray) -> np.ndarray:
        r = np.clip(np.maximum(yhat, 0) / np.maximum(lv, 1e-9), 1 / 3, 3) ** 0.5
        return np.where(np.isnan(lv), 1.0, r)

    err = (cv["y"] - cv["yhat"]).to_numpy() / (
        cv["scale"].to_numpy() * d(cv["yhat"].to_numpy(), cv["level"].to_numpy())
    )
    steps = cv["step"].to_numpy()
    for k in range(1, 9):
        pool = err[np.abs(steps - min(k, 6)) <= 1]
        n = len(pool)
        lo, hi = np.quantile(pool, [(0.1 * (n + 1) - 0.5) / n, (0.9 * (n + 1) - 0.5) / n])
        rows = fc["step"].to_numpy() == k
        part = fc[rows]
        s = part["unique_id"].map(scale).to_numpy() * d(
            part["yhat"].to_numpy(), part["unique_id"].map(level).to_numpy()
        )
        np.testing.assert_allclose(out.loc[rows, "q10"], np.maximum(part["yhat"] + s * lo, 0), rtol=1e-12)
        np.testing.assert_allclose(out.loc[rows, "q90"], np.maximum(part["yhat"] + s * hi, 0), rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_follows_the_errors(seed: int) -> None:
    hetero, homo = _cv(power=1.0, seed=seed), _cv(power=0.0, seed=seed)
    scale = hetero.groupby("unique_id")["scale"].first()
    picked = ConformalCalibrator(exponent="auto").fit(hetero, scale).exponent_
    assert picked == max(EXPONENTS)  # errors ∝ ŷ / level: the largest candidate
    assert ConformalCalibrator(exponent="auto").fit(homo, scale).exponent_ == 0.0
    assert ConformalCalibrator(exponent="auto").fit(_cv(power=0.5, seed=seed), scale).exponent_ == 0.5
    assert auto_exponent(hetero) == picked  # the study's entry point is the same choice


@pytest.mark.parametrize("bad", [-0.1, 2.5, "big", True, None, float("nan")])
def test_exponent_is_validated(bad: object) -> None:
    cv = _cv(n_series=3)
    with pytest.raises(ConfigError, match=r"\[0, 2\]"):
        ConformalCalibrator(exponent=bad).fit(cv, cv.groupby("unique_id")["scale"].first())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="calib_exponent"):
        SalesplanForecaster(calib_exponent=bad).fit(_panel())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"noise_exponent must be a number in \[0, 2\]"):
        ConformalCalibrator(noise_exponent=bad).fit(cv, cv.groupby("unique_id")["scale"].first())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="calib_noise_exponent"):
        SalesplanForecaster(calib_noise_exponent=bad).fit(_panel())  # type: ignore[arg-type]


def _cv_noise(power: float, n_series: int = 150, seed: int = 0, draw: int | None = None) -> pd.DataFrame:
    """Backtest rows whose error spread is ``scale × (level / scale) ** power``: at 0 the noise scale
    measures the errors; above 0 a smooth series (level far above its noise) misses by more than its
    noise says, as level shifts do. ``draw``: another draw of the errors of the same series."""
    rng = np.random.default_rng(seed)
    noise = np.random.default_rng(seed + 1000 if draw is None else draw)
    rows = []
    for i in range(n_series):
        level, scale = rng.uniform(50, 150), np.exp(rng.uniform(np.log(1), np.log(50)))
        for w in range(1, 4):
            yhat = level * rng.uniform(0.8, 1.2, 6)
            y = yhat + scale * (level / scale) ** power * noise.standard_normal(6)
            rows.append(pd.DataFrame({"unique_id": f"s{i:03d}", "window": w, "step": np.arange(1, 7),
                                      "y": y, "yhat": yhat, "scale": scale, "level": level}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_noise_exponent_follows_the_errors(seed: int) -> None:
    smooth_worse, plain = _cv_noise(0.5, seed=seed), _cv_noise(0.0, seed=seed)
    scale = plain.groupby("unique_id")["scale"].first()
    assert auto_exponents(plain, exponents=(0.0,)) == (0.0, 0.0)
    picked = ConformalCalibrator(noise_exponent="auto").fit(smooth_worse, scale)
    assert picked.exponent_ == 0.0 and picked.noise_exponent_ == max(NOISE_EXPONENTS)
    both = ConformalCalibrator(exponent="auto", noise_exponent="auto").fit(smooth_worse, scale)
    nonneg = bool((smooth_worse["y"] >= 0).all())  # as fit decides whether quantiles are clipped at 0
    assert (both.exponent_, both.noise_exponent_) == auto_exponents(smooth_worse, nonneg=nonneg)
    assert both.noise_exponent_ > 0
    # the choice evens the coverage out: the smoothest and noisiest thirds, held-out windows
    first = smooth_worse.groupby("unique_id").first()
    ratio = first["level"] / first["scale"]
    thirds = pd.qcut(ratio, 3, labels=False)
    fresh = _cv_noise(0.5, seed=seed, draw=99)
    gaps = []
    for g in (0.0, picked.noise_exponent_):
        cal = ConformalCalibrator((0.1, 0.9), noise_exponent=g).fit(smooth_worse, scale)
        out = cal.apply(fresh, scale, level=first["level"])
        inside = (fresh["y"] >= out["q10"]) & (fresh["y"] <= out["q90"])
        cov = inside.groupby(fresh["unique_id"].map(thirds)).mean()
        gaps.append(float(cov.max() - cov.min()))
    assert gaps[1] < gaps[0] / 2


def test_noise_difficulty_follows_its_formula() -> None:
    cv = _cv_noise(0.25, seed=4)
    cv.loc[cv.index[:12], "level"] = np.nan  # no level: d = 1
    first = cv.groupby("unique_id").first()
    scale, level = first["scale"], first["level"].fillna(first["yhat"])
    level.iloc[:3] = np.nan
    cal = ConformalCalibrator((0.1, 0.9), noise_exponent=0.25).fit(cv, scale)
    r = (cv["level"] / cv["scale"]).to_numpy()
    ref = float(np.median(r[np.isfinite(r)]))
    assert cal.noise_ref_ == pytest.approx(ref) == noise_reference(cv)

    def d(lv: np.ndarray, sc: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(lv), 1.0, np.clip(lv / sc / ref, 1 / 3, 3) ** 0.25)

    err = (cv["y"] - cv["yhat"]).to_numpy() / (
        cv["scale"].to_numpy() * d(cv["level"].to_numpy(), cv["scale"].to_numpy())
    )
    fc = cv[cv["window"] == 1][["unique_id", "step", "yhat"]].reset_index(drop=True)
    out = cal.apply(fc, scale, level=level)
    steps = cv["step"].to_numpy()
    for k in range(1, 7):
        pool = err[np.abs(steps - k) <= 1]
        n = len(pool)
        lo, hi = np.quantile(pool, [(0.1 * (n + 1) - 0.5) / n, (0.9 * (n + 1) - 0.5) / n])
        part = fc[fc["step"] == k]
        sc = part["unique_id"].map(scale).to_numpy()
        s = sc * d(part["unique_id"].map(level).to_numpy(), sc)
        np.testing.assert_allclose(
            out.loc[part.index, "q10"], np.maximum(part["yhat"] + s * lo, 0), rtol=1e-12
        )
        np.testing.assert_allclose(
            out.loc[part.index, "q90"], np.maximum(part["yhat"] + s * hi, 0), rtol=1e-12
        )


def _panel() -> pd.DataFrame:
    t = np.arange(60)
    rng = np.random.default_rng(0)
    return pd.concat(
        [pd.DataFrame({"unique_id": f"u{i}", "ds": pd.date_range("2024-01-01", periods=60, freq="7D"),
                       "y": 50 + 10 * i + 5 * np.sin(t / 3) + rng.normal(0, 2, 60)}) for i in range(4)]
    )  # fmt: skip


def test_origin_levels_use_no_data_after_the_origin() -> None:
    data = _panel().sort_values(["unique_id", "ds"]).reset_index(drop=True)
    h, window = 6, 8
    before = origin_scales(data, h, 3, window)
    pos = data.groupby("unique_id", sort=False).cumcount(ascending=False).to_numpy()
    late = data.assign(y=np.where(pos < 2 * h, data["y"] * 5 + 100, data["y"]))  # after window 2's origin
    after = origin_scales(late, h, 3, window)
    assert list(before.columns) == ["unique_id", "window", "scale", "level"]
    kept = before["window"] >= 2
    pd.testing.assert_frame_equal(before[kept], after[kept])
    assert not np.allclose(before.loc[~kept, "level"], after.loc[~kept, "level"])
    # the level is mean |y| of the last ``window`` periods up to the origin
    u0 = data[data["unique_id"] == "u0"]["y"].to_numpy()
    got = before.query("unique_id == 'u0' and window == 2")["level"].item()
    assert got == pytest.approx(np.abs(u0[: len(u0) - 2 * h][-window:]).mean())
    assert series_level(data, window)["u0"] == pytest.approx(np.abs(u0[-window:]).mean())
    assert np.isnan(series_level(data.assign(y=np.nan), window)).all()


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    cfg = SimConfig(seed=3, n_products=4, n_stores=3, n_weeks=100, launch_share=0.0, discontinue_share=0.0)
    return simulate(cfg).sellout


def _members() -> list[BaseForecaster]:
    return [SeasonalNaive(), WindowAverage(), Naive()]


def _calibrator(model: SalesplanForecaster) -> ConformalCalibrator:
    assert model.calibrator_ is not None
    return model.calibrator_


def test_blend_defaults_to_auto_and_gives_sound_quantiles(world) -> None:  # type: ignore[no-untyped-def]
    assert SalesplanForecaster().get_params()["calib_exponent"] == "auto"
    assert SalesplanForecaster().get_params()["calib_noise_exponent"] == "auto"
    est = SalesplanForecaster(members=_members(), calib_windows=3)
    assert clone(est).get_params()["calib_exponent"] == "auto"
    assert clone(est.set_params(calib_exponent=0.5)).calib_exponent == 0.5
    model = SalesplanForecaster(members=_members(), calib_windows=3).fit(world.df, world.spec)
    assert {"window", "level"} <= set(model.calib_cv_.columns)
    assert _calibrator(model).exponent_ in EXPONENTS
    assert _calibrator(model).noise_exponent_ in NOISE_EXPONENTS
    for fc in (model.predict(13), model.predict_quantiles(13, quantiles=(0.05, 0.5, 0.95))):
        q = fc.filter(regex=r"^q\d\d$").to_numpy()
        assert np.isfinite(q).all() and (np.diff(q, axis=1) >= 0).all()


def test_blend_at_exponent_zero_matches_the_old_calibration(world) -> None:  # type: ignore[no-untyped-def]
    model = SalesplanForecaster(
        members=_members(), calib_windows=3, calib_exponent=0.0, calib_noise_exponent=0.0
    ).fit(world.df, world.spec)
    assert _calibrator(model).exponent_ == 0.0 and _calibrator(model).noise_exponent_ == 0.0
    fc = model.predict(13)
    table = _old_fit(model.calib_cv_, model.scale_, QS)
    assert np.array_equal(_calibrator(model).table_, table)
    fc["step"] = fc.groupby("unique_id").cumcount() + 1
    for q, v in _old_apply(table, fc, model.scale_, QS).items():
        assert np.array_equal(fc[f"q{round(q * 100):02d}"].to_numpy(), v)


def test_a_model_fitted_before_the_exponent_still_predicts_and_clones(world) -> None:  # type: ignore[no-untyped-def]
    model = SalesplanForecaster(
        members=_members(), calib_windows=3, calib_exponent=0.0, calib_noise_exponent=0.0
    ).fit(world.df, world.spec)
    expected = model.predict(13)
    for attr in ("abs_level_", "calib_exponent", "calib_noise_exponent"):
        del model.__dict__[attr]
    for attr in ("exponent_", "noise_exponent_", "noise_ref_"):
        del _calibrator(model).__dict__[attr]
    model.calib_cv_ = model.calib_cv_.drop(columns=["window", "level"])  # old backtest rows had neither
    old = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(old.predict(13), expected)
    assert len(old.predict_quantiles(13, quantiles=(0.2, 0.8)))
    twin = clone(old)
    assert twin.get_params()["calib_exponent"] == 0.0  # the old behaviour, not the new default
    assert twin.get_params()["calib_noise_exponent"] == 0.0
    refit = _calibrator(twin.fit(world.df, world.spec))
    assert refit.exponent_ == 0.0 and refit.noise_exponent_ == 0.0


def test_cold_series_get_no_difficulty(world) -> None:  # type: ignore[no-untyped-def]
    df = world.df[["unique_id", "ds", "y"]]
    model = ColdStartForecaster(base=SalesplanForecaster(members=_members()), calib_windows=3).fit(df)
    grid = model.make_future_frame(13)
    new = grid[grid["unique_id"] == grid["unique_id"].iloc[0]].assign(unique_id="brand-new")
    fc = model.predict(13, pd.concat([grid, new], ignore_index=True))
    cold = fc[fc["cold_start"]]
    assert set(cold["unique_id"]) == {"brand-new"} and "brand-new" not in model.abs_level_.index
    assert np.isfinite(fc[["q10", "q50", "q90"]].to_numpy()).all()
    assert len(model.predict_quantiles(13, quantiles=(0.25, 0.75)))


def test_young_series_keep_their_own_bands_at_any_quantiles(world) -> None:  # type: ignore[no-untyped-def]
    df = world.df[["unique_id", "ds", "y"]]
    ids = sorted(df["unique_id"].unique())
    young = df[df["unique_id"].isin(ids[:2])].groupby("unique_id").tail(10)  # no rolling origin of their own
    model = SalesplanForecaster(members=_members(), calib_windows=3).fit(
        pd.concat([df[~df["unique_id"].isin(ids[:2])], young], ignore_index=True)
    )
    assert set(model.young_ids_) == set(ids[:2]) and model.young_calibrator_ is not None
    plain, again = model.predict(13), model.predict_quantiles(13, quantiles=QS)
    pd.testing.assert_frame_equal(plain, again[plain.columns])  # same levels: the same bands, young included
    longs_only = BaseForecaster.predict_quantiles(model, 13, quantiles=QS)  # the long series' errors for all
    assert not np.allclose(longs_only.loc[longs_only["unique_id"].isin(ids[:2]), "q90"],
                           plain.loc[plain["unique_id"].isin(ids[:2]), "q90"])  # fmt: skip
    wide = model.predict_quantiles(13, quantiles=(0.05, 0.95))
    mine = wide["unique_id"].isin(ids[:2]).to_numpy()
    young_cal = ConformalCalibrator((0.05, 0.95), exponent=0.0).fit(model.young_calib_rows_, model.scale_)
    assert young_cal.table_.tolist() != _calibrator(model).table_[:, [0, -1]].tolist()
    assert (wide.loc[mine, "q95"] >= wide.loc[mine, "yhat"]).all() and np.isfinite(
        wide.loc[mine, "q05"]
    ).all()
