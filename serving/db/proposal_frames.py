"""Stored proposal rows ↔ the planning layer's row frame (``level, unit_id, parent_id, target, forecast_q50,
p_hit, last_period_actual, m1..m3, overridden``). One conversion for the CLI and the API, so a proposal
written by one reads back identically in the other."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from salesplan.errors import ConfigError
from salesplan.io import finite_or_none
from salesplan.serving.db.records import ProposalRowData

MONTH_COLS = ("m1", "m2", "m3")
FRAME_COLS = ["level", "unit_id", "parent_id", "target", "forecast_q50", "p_hit", "last_period_actual"]


def _target(r: Mapping[str, Any]) -> float:
    t = finite_or_none(r.get("target"))
    if t is None:  # never store a made-up number
        raise ConfigError(f"unit {r.get('unit_id')!r} ({r.get('level')}) has no target; nothing was stored")
    return t


def _text_or_none(v: Any) -> str | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def frame_to_rows(rows: pd.DataFrame, months: Sequence[str]) -> list[ProposalRowData]:
    """Planning rows as the store's row records (money to the cent, phasing keyed by month label)."""
    out = []
    for r in rows.to_dict("records"):
        p_hit = finite_or_none(r.get("p_hit"))
        phasing = {
            m: v
            for m, key in zip(months, MONTH_COLS, strict=False)
            if (v := finite_or_none(r.get(key))) is not None
        }
        out.append(
            ProposalRowData(
                level=str(r["level"]),
                unit_id=str(r["unit_id"]),
                target=_target(r),  # type: ignore[arg-type]
                parent_id=_text_or_none(r.get("parent_id")),
                forecast_q50=finite_or_none(r.get("forecast_q50")),  # type: ignore[arg-type]
                p_hit=None if p_hit is None else min(max(p_hit, 0.0), 1.0),
                last_period_actual=finite_or_none(r.get("last_period_actual")),  # type: ignore[arg-type]
                phasing=phasing,
                overridden=bool(r.get("overridden", False) or False),
            )
        )
    return out


def rows_to_frame(rows: Sequence[ProposalRowData], months: Sequence[str]) -> pd.DataFrame:
    """Stored rows as the planning frame (``m1..m3`` in month order; missing numbers are NaN) — what
    ``planning.rebalance.rebalance_rows`` takes."""
    recs = []
    for r in rows:
        rec: dict[str, Any] = {
            "level": r.level,
            "unit_id": r.unit_id,
            "parent_id": r.parent_id,
            "target": float(r.target),
            "forecast_q50": math.nan if r.forecast_q50 is None else float(r.forecast_q50),
            "p_hit": math.nan if r.p_hit is None else float(r.p_hit),
            "last_period_actual": math.nan if r.last_period_actual is None else float(r.last_period_actual),
        }
        for col, m in zip(MONTH_COLS, months, strict=False):
            rec[col] = r.phasing.get(m, math.nan)
        rec["overridden"] = r.overridden
        recs.append(rec)
    return pd.DataFrame(recs, columns=[*FRAME_COLS, *MONTH_COLS, "overridden"])
