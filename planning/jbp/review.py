"""Quarterly review of a joint business plan against actuals: per plan quarter the target, the actual to
date, and where the quarter will land — the same conditioned landing as tracking a target proposal
(``planning.tracking.landing``: actual to date + the rest of the quarter as forecast, updated by the
surprise so far), on the account's weekly plan (its outlets' weekly forecast scaled to the plan quarter)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.planning.tracking.landing import LandingInputs, landing

__all__ = ["REVIEW_COLUMNS", "review_plan"]

REVIEW_COLUMNS = [
    "quarter", "target", "plan_p50", "weeks", "weeks_elapsed", "actual_to_date", "plan_to_date",
    "attainment_to_date", "landing_p10", "landing_p50", "landing_p90", "p_hit", "status",
]  # fmt: skip


def _status(row: dict[str, float]) -> str:
    if row["weeks_elapsed"] == 0:
        return "not started"
    if row["p_hit"] >= 0.6:
        return "on track" if row["weeks_elapsed"] < row["weeks"] else "hit"
    if row["weeks_elapsed"] == row["weeks"]:
        return "missed"
    return "at risk" if row["p_hit"] >= 0.3 else "off track"


def review_plan(quarters: pd.DataFrame, weekly: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """``quarters``: the plan's quarter, target, plan_p10, plan_p50, plan_p90, baseline_p50; ``weekly``: the
    account's weekly baseline (``ds, p10, p50, p90`` in sell-out value, every week of the plan quarters the
    forecast holds); ``actuals``: ``ds, actual`` (sell-out value per week). One row per plan quarter
    (``REVIEW_COLUMNS``); weeks before the first missing actual count as elapsed."""
    w = weekly.assign(ds=pd.to_datetime(weekly["ds"])).sort_values("ds")
    w["quarter"] = w["ds"].dt.to_period("Q").astype(str)
    act = (actuals.assign(ds=pd.to_datetime(actuals["ds"])).groupby("ds")["actual"].sum()
           if len(actuals) else pd.Series(dtype=float))  # fmt: skip
    rows = []
    for q in quarters.to_dict("records"):
        wk = w[w["quarter"] == str(q["quarter"])]
        if wk.empty:
            continue
        scale = float(q["plan_p50"]) / float(wk["p50"].sum()) if wk["p50"].sum() > 0 else 1.0
        a = act.reindex(wk["ds"]).to_numpy(dtype=float)
        missing = np.flatnonzero(np.isnan(a))
        elapsed = int(missing[0]) if len(missing) else len(a)
        inp = LandingInputs(
            unit_ids=(str(q["quarter"]),), periods=tuple(wk["ds"]),
            p50=(wk["p50"].to_numpy(float) * scale)[None, :], lo=(wk["p10"].to_numpy(float) * scale)[None, :],
            hi=(wk["p90"].to_numpy(float) * scale)[None, :], quarter_lo=np.array([float(q["plan_p10"])]),
            quarter_hi=np.array([float(q["plan_p90"])]), actual=a[None, :], elapsed=elapsed,
        )  # fmt: skip
        land = landing(inp, targets=np.array([float(q["target"])])).iloc[0]
        plan_to_date = float(land["forecast_to_date"])
        row = {"quarter": str(q["quarter"]), "target": float(q["target"]), "plan_p50": float(q["plan_p50"]),
               "weeks": len(a), "weeks_elapsed": elapsed, "actual_to_date": float(land["actual_to_date"]),
               "plan_to_date": plan_to_date,
               "attainment_to_date": float(land["actual_to_date"]) / plan_to_date if plan_to_date > 0 else np.nan,
               "landing_p10": float(land["landing_p10"]), "landing_p50": float(land["landing_p50"]),
               "landing_p90": float(land["landing_p90"]), "p_hit": float(land["p_hit"])}  # fmt: skip
        row["status"] = _status(row)  # type: ignore[arg-type]
        rows.append(row)
    return pd.DataFrame(rows, columns=REVIEW_COLUMNS)
