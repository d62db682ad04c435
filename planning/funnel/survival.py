"""Competing-risk survival of a stage: a deal leaves it by moving on or by being lost, or is still there
(censored). Aalen–Johansen incidences of each exit, the conversion rate they imply, the timing profile of
each exit, and the EM rate that credits open deals by how long they have already waited."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["conversion_rate", "cumulative_incidence", "exit_survival", "mixture_rate"]


def cumulative_incidence(days: np.ndarray, status: np.ndarray) -> pd.DataFrame:
    """Aalen–Johansen estimate with two competing exits (1 moved on, 2 lost; 0 censored): per distinct
    time, the all-cause survival ``surv`` and cumulative incidences ``cif_1``, ``cif_2``. Open deals stay
    at risk until their censoring time, so neither exit is favoured by being quicker to happen."""
    days, status = np.asarray(days, float), np.asarray(status, int)
    ok = ~np.isnan(days)
    days, status = days[ok], status[ok]
    if not len(days):
        return pd.DataFrame(
            {c: pd.Series(dtype=float) for c in ("days", "at_risk", "surv", "cif_1", "cif_2")}
        )
    t, inv = np.unique(days, return_inverse=True)
    d1 = np.bincount(inv, weights=status == 1, minlength=len(t))
    d2 = np.bincount(inv, weights=status == 2, minlength=len(t))
    gone = np.bincount(inv, minlength=len(t))
    at_risk = len(days) - np.concatenate([[0], np.cumsum(gone)[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        surv = np.cumprod(1 - (d1 + d2) / at_risk)
        before = np.concatenate([[1.0], surv[:-1]])
        cif1, cif2 = np.cumsum(before * d1 / at_risk), np.cumsum(before * d2 / at_risk)
    return pd.DataFrame({"days": t, "at_risk": at_risk, "surv": surv, "cif_1": cif1, "cif_2": cif2})


def conversion_rate(days: np.ndarray, status: np.ndarray) -> float:
    """P(move on | left the stage), censoring-aware: CIF_1 / (CIF_1 + CIF_2) at the last time seen.
    With nothing open this is exactly converted / (converted + lost)."""
    ci = cumulative_incidence(days, status)
    if ci.empty:
        return np.nan
    a, b = float(ci["cif_1"].to_numpy()[-1]), float(ci["cif_2"].to_numpy()[-1])
    return float(a / (a + b)) if a + b > 0 else np.nan


def exit_survival(days: np.ndarray, status: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times and P(still in stage at t | eventually moves on), P(... | eventually lost), from the
    Aalen–Johansen incidences normalised per exit: the timing profile of each outcome."""
    ci = cumulative_incidence(days, status)
    t = ci["days"].to_numpy()
    a, b = ci["cif_1"].to_numpy(), ci["cif_2"].to_numpy()
    s1 = 1 - a / a[-1] if len(a) and a[-1] > 0 else np.ones(len(t))
    s2 = 1 - b / b[-1] if len(b) and b[-1] > 0 else np.ones(len(t))
    return t, s1, s2


def mixture_rate(
    n_moved: int, n_lost: int, s1_open: np.ndarray, s2_open: np.ndarray, tol: float = 1e-10
) -> float:
    """EM maximum likelihood of P(move on) when open deals are known only to have lasted this long:
    an open deal is a move-on still to come with weight p·S1(e), a loss to come with (1-p)·S2(e)."""
    informative = (s1_open + s2_open) > 0
    s1, s2 = s1_open[informative], s2_open[informative]
    n = n_moved + n_lost + len(s1)
    if n == 0:
        return np.nan
    p = (n_moved + 0.5 * len(s1)) / n
    for _ in range(500):
        den = p * s1 + (1 - p) * s2
        resp = np.divide(p * s1, den, out=np.full(len(s1), p), where=den > 0)
        p_new = (n_moved + resp.sum()) / n
        if abs(p_new - p) < tol:
            return float(p_new)
        p = p_new
    return float(p)
