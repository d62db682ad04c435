"""Split-conformal quantiles from rolling-origin residuals.

Model-based intervals (ETS/ARIMA likelihoods, LightGBM quantile heads) are badly calibrated on retail data
(overdispersed counts, promotions, structural breaks), so every forecaster turns its point forecast into
quantiles the same way: errors of its own backtest, per horizon step, divided by a per-series scale so one
pool serves big and small series alike, then quantiles of those scaled errors. Each backtest error is divided by its series' scale *as of its origin*
(``origin_scales``), and a forecast's quantiles are multiplied by the scale as of its own origin (the end
of the data): a growing series' older, smaller errors divided by today's larger scale would understate
today's errors (on M1's yearly series the intervals covered 72 % instead of 80 % that way). Written by
hand because
statsforecast/mlforecast conformal intervals are symmetric, unscaled and per series (too few residuals per
series for weekly data) — pooling scaled errors across series is what gives ~nominal coverage here.

Normalised split conformal (``exponent``): each error is also divided by a *difficulty* ``d`` (``difficulty``:
the forecast over the series' level, clipped, to a power) and the quantiles are multiplied by the forecast
row's own ``d``, so a promoted or holiday week forecast far above its level gets a wider band and a calm
week a narrower one (marginal validity is kept). ``benchmarks/conformal_difficulty.py`` is the study that
chose it: with ``"auto"`` the 80 % interval score fell 4.7 % on average over 8 data sets. Exponent 0 is the
plain calibration above, bit for bit.

A second, optional difficulty follows the series' *noise ratio* (``noise_difficulty``: level over noise
scale, relative to the calibration rows' median, clipped, to a power ``noise_exponent``). Why: the noise
scale (mean |Δy|) is what makes one pool serve every series, but a smooth series' errors come from level
and trend shifts its small period-to-period noise does not measure; divided by that scale they are larger
than a noisy series', so pooled bands covered smooth series too little and noisy ones too much (on M1
quarterly's training folds 0.68 in the smoothest fifth against 0.91 in the noisiest; Dominick's
0.74 / 0.92). ``"auto"`` chooses it together with ``exponent`` by the same leave-one-window-out score;
0 keeps the bands as before, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
import pandas as pd

from salesplan.contracts import quantile_col
from salesplan.errors import ConfigError, InsufficientDataError, NotFittedError

__all__ = [
    "EXPONENTS",
    "INTERVAL",
    "NOISE_EXPONENTS",
    "RATIO_CLIP",
    "ConformalCalibrator",
    "auto_exponent",
    "auto_exponents",
    "check_exponent",
    "conformal_quantiles",
    "difficulty",
    "interval_score",
    "intervals",
    "noise_difficulty",
    "noise_reference",
    "origin_scales",
    "scale_window",
    "series_level",
    "series_scale",
]

EXPONENTS: tuple[float, ...] = (0.0, 0.5, 0.75)
"""Candidates of ``exponent="auto"``. Chosen in ``benchmarks/conformal_difficulty.py`` on folds no benchmark
scores: exponent 1 cost M5's intermittent daily series 16 %, so the largest candidate stays below it and
0 (the plain calibration) stays in, for the data sets where a difficulty does not pay."""
RATIO_CLIP: tuple[float, float] = (1 / 3, 3.0)
"""Bounds of forecast / level in ``difficulty`` (same study and folds): a wider clip (1/20–20) cost M5 26 %,
one wild forecast must not blow up or collapse its band."""
NOISE_EXPONENTS: tuple[float, ...] = (0.0, 0.25, 0.5)
"""Candidates of ``noise_exponent="auto"``, chosen in ``benchmarks/conformal_difficulty.py`` on the same
folds no benchmark scores (column ``auto+noise``, with ``exponent`` auto too: interval score −1.7 % on
average over the eight data sets against the exponent alone, online retail +0.2 % the only set worse; M1
yearly and Walmart keep 0). The ratio is clipped by ``RATIO_CLIP``, so the factor stays within
``3 ** ±g`` (at most 1.73× at g = 0.5)."""
INTERVAL: tuple[float, float] = (0.1, 0.9)
"""The interval the auto choice scores (80 %, the interval the benchmarks report)."""


def scale_window(season: int) -> int:
    """Periods the noise scale looks back: two seasons, at least 8 (104 weeks, 24 months, 8 quarters or
    years): recent enough to follow a series' level, long enough to be stable."""
    return max(2 * season, 8)


def series_scale(df: pd.DataFrame, lag: int = 1, window: int = 104) -> pd.Series:
    """Per-series noise scale: mean |y_t − y_{t−lag}| over the last ``window`` periods.

    Constant series have scale 0; they are floored at 1 % of the median scale (or 1e-6) so scaled errors
    stay finite — documented choice, the same floor the metrics use."""
    tail = df.groupby("unique_id", sort=False).tail(window + lag)
    diff = tail.groupby("unique_id", sort=False)["y"].diff(lag).abs()
    scale = diff.groupby(tail["unique_id"], sort=False).mean()
    scale = scale.reindex(df["unique_id"].unique())
    positive = scale[scale > 0]
    floor = max(0.01 * float(positive.median()), 1e-6) if len(positive) else 1.0
    return scale.fillna(floor).clip(lower=floor)


def series_level(df: pd.DataFrame, window: int) -> pd.Series:
    """Per-series level: mean |y| over the last ``window`` periods (NaN-safe; NaN when all are missing),
    indexed by ``unique_id`` in first-appearance order like ``series_scale``. What ``difficulty`` divides a
    forecast by."""
    tail = df.groupby("unique_id", sort=False).tail(window)
    level = tail["y"].abs().groupby(tail["unique_id"], sort=False).mean()
    return level.reindex(df["unique_id"].unique())


def origin_scales(data: pd.DataFrame, h: int, n_windows: int, window: int) -> pd.DataFrame:
    """``unique_id, window, scale, level``: each series' ``series_scale`` and ``series_level`` on its
    history before each rolling origin (window ``w`` ends ``w × h`` periods before the series' own end, as
    ``origin_splits`` cuts), so no backtest row is scaled with data after its origin."""
    pos = data.groupby("unique_id", sort=False).cumcount(ascending=False).to_numpy()
    parts = []
    for w in range(1, n_windows + 1):
        part = data[pos >= w * h]
        if len(part):
            sc = series_scale(part, window=window)
            lv = series_level(part, window).reindex(sc.index)
            parts.append(
                pd.DataFrame(
                    {
                        "unique_id": sc.index.astype(str),
                        "window": w,
                        "scale": sc.to_numpy(),
                        "level": lv.to_numpy(dtype=float),
                    }
                )
            )
    if not parts:
        return pd.DataFrame({"unique_id": [], "window": [], "scale": [], "level": []})
    return pd.concat(parts, ignore_index=True)


def check_exponent(
    exponent: object,
    who: str = "ConformalCalibrator: exponent",
    candidates: Sequence[float] = EXPONENTS,
) -> float | str:
    """``exponent`` as used: a number in [0, 2] or ``"auto"``; anything else is a ``ConfigError``."""
    if isinstance(exponent, str) and exponent == "auto":
        return "auto"
    if isinstance(exponent, Real) and not isinstance(exponent, bool) and 0.0 <= float(exponent) <= 2.0:
        return float(exponent)
    raise ConfigError(
        f"{who} must be a number in [0, 2] (0: the difficulty is off) or 'auto' (chosen among "
        f"{list(candidates)} on the fit's own backtest), got {exponent!r}"
    )


def difficulty(frame: pd.DataFrame, exponent: float) -> np.ndarray:
    """``d = clip(max(ŷ, 0) / level, *RATIO_CLIP) ** exponent`` per row of ``frame`` (``yhat``, ``level``);
    1 where the level is missing (NaN or no ``level`` column) and everywhere at exponent 0. Why: a
    forecast far above its series' level (promotion, holiday) misses by more than a calm period's."""
    if exponent == 0 or "level" not in frame.columns:
        return np.ones(len(frame))
    level = frame["level"].to_numpy(dtype=float)
    ratio = np.maximum(frame["yhat"].to_numpy(dtype=float), 0.0) / np.maximum(level, 1e-9)
    return np.where(np.isnan(level), 1.0, np.clip(ratio, *RATIO_CLIP) ** exponent)


def noise_reference(frame: pd.DataFrame) -> float:
    """Median level / noise scale over the rows of ``frame`` (``level``, ``scale``) where both are positive
    and finite; 1 when none is. What ``noise_difficulty`` measures a series' smoothness against."""
    if "level" not in frame.columns:
        return 1.0
    r = frame["level"].to_numpy(dtype=float) / frame["scale"].to_numpy(dtype=float)
    r = r[np.isfinite(r) & (r > 0)]
    return float(np.median(r)) if len(r) else 1.0


def noise_difficulty(frame: pd.DataFrame, exponent: float, reference: float) -> np.ndarray:
    """``clip((level / scale) / reference, *RATIO_CLIP) ** exponent`` per row of ``frame`` (``level``,
    ``scale``): above 1 for a series smoother than the calibration's median (module doc); 1 where the
    level is missing and everywhere at exponent 0."""
    if exponent == 0 or "level" not in frame.columns:
        return np.ones(len(frame))
    level = frame["level"].to_numpy(dtype=float)
    ratio = np.maximum(level, 0.0) / np.maximum(frame["scale"].to_numpy(dtype=float), 1e-12) / reference
    return np.where(np.isnan(level), 1.0, np.clip(ratio, *RATIO_CLIP) ** exponent)


def interval_score(lo: np.ndarray, hi: np.ndarray, y: np.ndarray) -> float:
    """Winkler score of the 80 % interval (width + 10 × the miss outside it), over Σ|y|: lower is better.
    Why this and not coverage: it rewards narrow bands only as long as they keep covering."""
    miss = np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0)
    return float(((hi - lo) + miss / 0.1).sum() / max(np.abs(y).sum(), 1e-9))


def conformal_quantiles(e: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Empirical quantiles with the split-conformal finite-sample correction (outer quantiles pushed
    outward a little), sorted (non-crossing). The one definition: the batch's level pools use it too."""
    n = len(e)
    levels = [min(max((q * (n + 1) - 0.5) / n, 0.0), 1.0) for q in quantiles]
    return np.sort(np.quantile(e, levels))


def _table(err: np.ndarray, steps: np.ndarray, quantiles: Sequence[float], smooth: int) -> np.ndarray:
    """``conformal_quantiles`` of the finite ``err`` per step 1..max (pooled ±``smooth``)."""
    top = int(steps.max())
    return np.array(
        [conformal_quantiles(err[np.abs(steps - k) <= smooth], quantiles) for k in range(1, top + 1)]
    )


def _width(frame: pd.DataFrame, exponent: float, noise: float, reference: float) -> np.ndarray:
    """Each row's unit of error: its scale times both difficulties."""
    d = difficulty(frame, exponent) * noise_difficulty(frame, noise, reference)
    return np.asarray(frame["scale"].to_numpy(dtype=float) * d)


def _scaled_errors(
    cv: pd.DataFrame, exponent: float, noise: float = 0.0, reference: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Finite errors (y − ŷ) / (scale × d) of ``cv`` (``scale`` per row) and their steps."""
    s = _width(cv, exponent, noise, reference)
    err = (cv["y"].to_numpy(dtype=float) - cv["yhat"].to_numpy(dtype=float)) / s
    ok = np.isfinite(err)
    return err[ok], cv["step"].to_numpy(dtype=int)[ok]


def intervals(
    cal: pd.DataFrame,
    target: pd.DataFrame,
    exponent: float,
    smooth: int = 1,
    nonneg: bool = True,
    noise: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The 80 % interval (q10, q90) of ``target``'s rows calibrated on ``cal``'s (both with ``step``,
    ``yhat``, ``scale``, ``level``; ``cal`` with ``y``): what ``ConformalCalibrator`` gives, for scoring
    (the noise difficulty's reference from ``cal``, as a fit takes it from its own rows)."""
    ref = noise_reference(cal)
    err, steps = _scaled_errors(cal, exponent, noise, ref)
    table = _table(err, steps, INTERVAL, smooth)
    step = np.clip(target["step"].to_numpy(dtype=int), 1, len(table)) - 1
    s = _width(target, exponent, noise, ref)
    yhat = target["yhat"].to_numpy(dtype=float)
    lo, hi = yhat + s * table[step, 0], yhat + s * table[step, 1]
    return (np.maximum(lo, 0.0), np.maximum(hi, 0.0)) if nonneg else (lo, hi)


def auto_exponents(
    cv: pd.DataFrame,
    smooth: int = 1,
    nonneg: bool = True,
    exponents: Sequence[float] = EXPONENTS,
    noises: Sequence[float] = NOISE_EXPONENTS,
) -> tuple[float, float]:
    """``(exponent, noise_exponent)``: the pair of candidates with the lowest 80 % interval score summed
    over the calibration windows, each scored when left out and the others calibrate (only the fit's own
    rows: no data beyond it); ties go to the smaller noise exponent, then the smaller exponent. The first
    candidates (0 by default) without ``window``/``level`` columns, a second window or any level. Rows:
    ``window, step, y, yhat, scale, level``."""
    plain = (float(exponents[0]), float(noises[0]))
    if not {"window", "level"} <= set(cv.columns) or cv["level"].isna().all():
        return plain
    windows = sorted(cv["window"].dropna().unique())
    if len(windows) < 2:
        return plain
    # each window's split once, not once per candidate pair (9 pairs score the same 3 splits)
    splits = [(cv[cv["window"] != w], cv[cv["window"] == w]) for w in windows]
    splits = [(cal, held) for cal, held in splits if len(cal) and len(held)]
    scores = {}
    for e in exponents:
        scorable = [(cal, held) for cal, held in splits if len(_scaled_errors(cal, e)[0])]
        for g in noises:
            total = 0.0
            for cal, held in scorable:
                lo, hi = intervals(cal, held, e, smooth, nonneg, noise=g)
                total += interval_score(lo, hi, held["y"].to_numpy(float))
            scores[(float(e), float(g))] = total
    return min(scores, key=lambda k: (scores[k], k[1], k[0]))


def auto_exponent(cv: pd.DataFrame, smooth: int = 1, nonneg: bool = True) -> float:
    """The candidate of ``EXPONENTS`` alone (no noise difficulty) that ``auto_exponents`` picks."""
    return auto_exponents(cv, smooth, nonneg, noises=(0.0,))[0]


class ConformalCalibrator:
    """Quantiles of scaled backtest errors per horizon step (pooled over series, ±``smooth`` steps).

    ``fit(cv, scale)`` takes rows ``unique_id, step, y, yhat`` (and ``scale``, the series' scale at the
    row's origin, when present; else ``scale`` maps each series; ``level`` and ``window`` for a non-zero
    ``exponent``); ``apply(fc, scale, level=...)`` adds quantile columns ``yhat + scale · d · Q_step(q)``,
    named by ``salesplan.contracts.quantile_col`` (``q05``, ``q10``, ...). ``exponent``: the difficulty's
    power (``difficulty``), ``noise_exponent`` the noise difficulty's (``noise_difficulty``), each a number
    in [0, 2] or ``"auto"`` (chosen together by ``auto_exponents`` at fit); 0 and 0 is the plain
    calibration. Steps beyond the calibrated horizon reuse the last step's errors. Fitted: ``table_``,
    ``max_step_``, ``n_residuals_``, ``exponent_``, ``noise_exponent_``, ``noise_ref_``."""

    def __init__(
        self,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        smooth: int = 1,
        exponent: float | str = 0.0,
        noise_exponent: float | str = 0.0,
    ) -> None:
        self.quantiles = tuple(quantiles)
        self.smooth = smooth
        self.exponent = exponent
        self.noise_exponent = noise_exponent

    def fit(self, cv: pd.DataFrame, scale: pd.Series) -> ConformalCalibrator:
        exponent = check_exponent(self.exponent)
        noise = check_exponent(self.noise_exponent, "ConformalCalibrator: noise_exponent", NOISE_EXPONENTS)
        if cv.empty:
            raise InsufficientDataError(
                "conformal calibration got no backtest rows; the history is too short for the calibration "
                "windows. Fix: give more history or lower calib_windows / calib_horizon"
            )
        s = cv["scale"] if "scale" in cv.columns else cv["unique_id"].map(scale)
        rows = cv.assign(scale=s.to_numpy(dtype=float))
        if "auto" in (exponent, noise):  # quantiles clipped at 0 as apply does when y never is < 0
            self.exponent_, self.noise_exponent_ = auto_exponents(
                rows,
                self.smooth,
                bool((rows["y"].dropna() >= 0).all()),
                EXPONENTS if exponent == "auto" else (float(exponent),),
                NOISE_EXPONENTS if noise == "auto" else (float(noise),),
            )
        else:
            self.exponent_, self.noise_exponent_ = float(exponent), float(noise)
        self.noise_ref_ = noise_reference(rows)
        err, steps = _scaled_errors(rows, self.exponent_, self.noise_exponent_, self.noise_ref_)
        self.max_step_ = int(steps.max())
        self.table_ = _table(err, steps, self.quantiles, self.smooth)
        self.n_residuals_ = len(err)
        return self

    def apply(
        self, fc: pd.DataFrame, scale: pd.Series, nonneg: bool = True, *, level: pd.Series | None = None
    ) -> pd.DataFrame:
        """Add quantile columns to ``fc`` (needs ``unique_id``, ``step``, ``yhat``); ``level`` maps each
        series to its level at the forecast's origin (``series_level``; d = 1 where absent or NaN)."""
        if not hasattr(self, "table_"):
            raise NotFittedError("ConformalCalibrator.apply called before fit; call fit(cv, scale) first")
        out = fc.copy()
        step = np.clip(out["step"].to_numpy(dtype=int), 1, self.max_step_) - 1
        s = out["unique_id"].map(scale).to_numpy(dtype=float)
        s = np.where(np.isfinite(s), s, float(np.nanmedian(scale.to_numpy())))
        # calibrators pickled before the exponents have neither: 0, the plain calibration
        exponent = float(getattr(self, "exponent_", 0.0))
        noise = float(getattr(self, "noise_exponent_", 0.0))
        if level is not None and (exponent != 0 or noise != 0):
            rows = out.assign(level=out["unique_id"].map(level), scale=s)
            s = _width(rows, exponent, noise, float(getattr(self, "noise_ref_", 1.0)))
        yhat = out["yhat"].to_numpy(dtype=float)
        for j, q in enumerate(self.quantiles):
            v = yhat + s * self.table_[step, j]
            out[quantile_col(q)] = np.maximum(v, 0.0) if nonneg else v
        return out
