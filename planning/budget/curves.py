"""Marketing response curves: outcome per period of each channel × region as a function of spend, fitted
on history (Hill or log curve on adstocked spend, the lower-AIC one kept) or taken from known parameters,
and evaluated at a constant spend per period (the steady state the optimiser plans with). See
:mod:`planning.budget` for the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit
from scipy.signal import lfilter

from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError, Problem
from salesplan.planning.types import ResponseCurves

__all__ = [
    "HILL_PARAMS",
    "LOG_PARAMS",
    "THETA_STARTS",
    "curve_arrays",
    "curves_from_params",
    "fit_response",
    "response",
    "steady_state",
]
HILL_PARAMS = ("baseline", "beta", "alpha", "half", "theta")
LOG_PARAMS = ("baseline", "beta", "theta")
THETA_STARTS = (0.05, 0.3, 0.6, 0.85)


def _adstock(s: np.ndarray, theta: float) -> np.ndarray:
    return np.asarray(lfilter([1.0], [1.0, -theta], s))


def _hill(a: np.ndarray, alpha: Any, half: Any) -> np.ndarray:
    return 1.0 / (1.0 + (np.asarray(half) / np.maximum(a, 1e-12)) ** alpha)


def _fit_one(s: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Best Hill and log fits of one series (spend and outcome in their own units)."""
    ms, my = max(float(s.mean()), 1e-9), max(float(np.abs(y).mean()), 1e-9)
    sn, yn = s / ms, y / my
    n = len(y)
    out: dict[str, Any] = {}

    def hill_model(_x: np.ndarray, b0: float, b: float, al: float, h: float, th: float) -> np.ndarray:
        return b0 + b * _hill(_adstock(sn, th), al, h)

    def log_model(_x: np.ndarray, b0: float, b: float, th: float) -> np.ndarray:
        return b0 + b * np.log1p(_adstock(sn, th) * (1 - th))

    for name, model, lo, hi in (
        ("hill", hill_model, [0, 0, 0.3, 0.02, 0], [np.inf, np.inf, 5.0, 50.0, 0.95]),
        ("log", log_model, [-np.inf, 0, 0], [np.inf, np.inf, 0.95]),
    ):
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        for th in THETA_STARTS:
            a = _adstock(sn, th)
            if name == "hill":
                h0 = float(np.median(a[a > 0])) if (a > 0).any() else 1.0
                x = _hill(a, 1.5, h0)
                p0 = [
                    max(yn.min(), 0.0),
                    max(float(np.ptp(yn)) / max(float(np.ptp(x)), 1e-3), 1e-3),
                    1.5,
                    h0,
                    th,
                ]
            else:
                x = np.log1p(a * (1 - th))
                p0 = [float(yn.min()), max(float(np.polyfit(x, yn, 1)[0]), 1e-3), th]
            p0 = list(np.clip(p0, np.array(lo) + 1e-9, np.array(hi) - 1e-9))
            try:
                p, cov = curve_fit(model, sn, yn, p0=p0, bounds=(lo, hi), maxfev=4000, x_scale="jac")
            except (RuntimeError, ValueError):
                continue
            sse = float(np.sum((model(sn, *p) - yn) ** 2))
            if best is None or sse < best[0]:
                best = (sse, p, cov)
        if best is None:
            continue
        sse, p, cov = best
        k = len(p)
        scale = np.array([my, my, 1, ms, 1] if name == "hill" else [my, my, 1])
        cov = np.asarray(cov) * np.outer(scale, scale)
        out[name] = {
            "p": p * scale,
            "cov": cov,
            "sse": sse * my**2,
            "aic": n * np.log(max(sse / n, 1e-300)) + 2 * k,
            "r2": 1 - sse / max(float(np.sum((yn - yn.mean()) ** 2)), 1e-300),
            "rmse": float(np.sqrt(sse / n)) * my,
            "scale": ms,
        }
    return out


def fit_response(
    spend: pd.DataFrame,
    *,
    models: tuple[str, ...] = ("hill", "log"),
    last_periods: int = 13,
    min_periods: int = 20,
) -> ResponseCurves:
    """Response curves per channel × region from a Spend frame (``period, channel, region, spend,
    outcome``). ``last_spend`` is the mean spend of the ``last_periods`` most recent periods (the
    "keep last period's split" baseline)."""
    need = [c for c in ("period", "channel", "region", "spend", "outcome") if c not in spend.columns]
    if need:
        raise DataValidationError(
            [Problem(c, "column missing", fix="pass a validated Spend frame") for c in need], "spend"
        )
    if not set(models) <= {"hill", "log"} or not models:
        raise ConfigError(f"models must be a subset of ('hill', 'log'), got {models}")
    rows, covs = [], {}
    for (ch, rg), g in spend.sort_values("period").groupby(["channel", "region"], sort=True):
        s, y = g["spend"].to_numpy(dtype=float), g["outcome"].to_numpy(dtype=float)
        if len(g) < min_periods or (s > 0).sum() < 5:
            raise InsufficientDataError(
                f"channel {ch!r}, region {rg!r}: {len(g)} periods ({(s > 0).sum()} with spend); "
                f"need {min_periods} "
                "with spend variation to fit a response curve. Fix: pass more history or drop the pair"
            )
        fits = {m: f for m, f in _fit_one(s, y).items() if m in models}
        if not fits:
            raise InsufficientDataError(f"channel {ch!r}, region {rg!r}: no response curve converged")
        m = min(fits, key=lambda k: fits[k]["aic"])
        f = fits[m]
        p = dict(zip(HILL_PARAMS if m == "hill" else LOG_PARAMS, f["p"], strict=True))
        rows.append(
            {
                "channel": ch,
                "region": rg,
                "model": m,
                "baseline": p["baseline"],
                "beta": p["beta"],
                "alpha": p.get("alpha", np.nan),
                "half": p.get("half", np.nan),
                "theta": p["theta"],
                "scale": f["scale"] if m == "log" else np.nan,
                "r2": f["r2"],
                "rmse": f["rmse"],
                "aic": f["aic"],
                "n": len(g),
                "last_spend": float(s[-last_periods:].mean()),
            }
        )
        covs[(str(ch), str(rg))] = f["cov"]
    return ResponseCurves(pd.DataFrame(rows), covs, {"hill": HILL_PARAMS, "log": LOG_PARAMS})


def curves_from_params(
    params: pd.DataFrame, last_spend: Mapping[tuple[str, str], float] | None = None
) -> ResponseCurves:
    """Curves from known Hill parameters (e.g. the simulator's ``truth.spend_response``)."""
    p = params.copy()
    p["model"] = p.get("model", "hill")
    p["scale"] = p.get("scale", np.nan)
    if last_spend is not None:
        p["last_spend"] = [
            float(last_spend.get((c, r), np.nan)) for c, r in zip(p["channel"], p["region"], strict=True)
        ]
    return ResponseCurves(p.reset_index(drop=True))


def curve_arrays(params: pd.DataFrame) -> dict[str, np.ndarray]:
    """Curve parameters as float arrays (plus the ``log`` model mask), the form :func:`steady_state` and
    the optimiser's inner loops evaluate without touching pandas."""
    return {
        k: params[k].to_numpy(dtype=float) for k in ("baseline", "beta", "alpha", "half", "theta", "scale")
    } | {"log": (params["model"] == "log").to_numpy()}


def steady_state(p: dict[str, np.ndarray], s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steady-state outcome per period and its derivative d/ds, per item (broadcasts over leading axes)."""
    k = 1.0 / (1.0 - p["theta"])
    a = np.maximum(s, 0.0) * k
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h = np.where(p["log"], 1.0, p["half"])
        r = (np.maximum(a, 1e-9 * h) / h) ** np.where(p["log"], 1.0, p["alpha"])
        hill_v = r / (1 + r)
        hill_d = p["alpha"] * r / (np.maximum(a, 1e-9 * h) * (1 + r) ** 2)
        sc = np.where(p["log"], p["scale"], 1.0)  # steady state of log1p((1 − theta)·a / scale)
        log_v, log_d = np.log1p(np.maximum(s, 0) / sc), 1.0 / (sc + np.maximum(s, 0))
    val = p["baseline"] + p["beta"] * np.where(p["log"], log_v, hill_v)
    der = p["beta"] * np.where(p["log"], log_d, hill_d * k)
    return val, der


def response(curves: ResponseCurves, spend: Any) -> np.ndarray:
    """Expected outcome per period of each curve (row order of ``curves.params``) at constant ``spend``."""
    return steady_state(curve_arrays(curves.params), np.asarray(spend, dtype=float))[0]
