"""Timestamps behind the deal features: which features are built as of the snapshot, and what the CRM's
field history (``CRMData.field_history``) says about the opportunity columns it records.

A column whose history shows it set or changed on or after the close day of enough closed deals is a
post-outcome field (refused by :mod:`models.deals.leakage`); one whose changes all precede the close is
known before the outcome. When the history records the new ``value`` of each change, a column's feature is
its value as of each snapshot (missing before it was first set), not its latest value."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from salesplan.contracts.crm import CRMData
from salesplan.models.deals.leakage import AFTER_CLOSE_SHARE, Evidence

AS_OF: dict[str, str] = {
    "rep_tenure_months": "from the rep's hire date, as of the snapshot",
    "rep_win_rate": "from the rep's deals closed before the snapshot",
    "stage_rank": "from stage events up to the snapshot",
    "days_in_stage": "from stage events up to the snapshot",
    "stage_age_ratio": "from stage events up to the snapshot",
    "n_slips": "from close-date changes up to the snapshot",
    "days_to_close": "from close-date changes up to the snapshot",
    "deal_age_days": "from the created date, as of the snapshot",
}
"""Features ``build_features`` computes from dated history as of each snapshot, and from what."""


def as_of_evidence(columns: Iterable[str]) -> dict[str, Evidence]:
    return {c: Evidence("as-of", f"built {AS_OF[c]}") for c in columns if c in AS_OF}


def field_evidence(crm: CRMData, fields: Iterable[str]) -> dict[str, Evidence]:
    """Evidence for each of ``fields`` the field history records, judged on the closed deals."""
    fh = crm.field_history
    o = crm.opportunities
    if not len(fh) or "close_date" not in o.columns:
        return {}
    closed = o[o["outcome"].isin(["won", "lost"]) & o["close_date"].notna()]
    close = pd.Series(pd.to_datetime(closed["close_date"]).to_numpy(), index=closed["opportunity_id"])
    out: dict[str, Evidence] = {}
    recorded = set(fh["field"].dropna().astype(str))
    for f in fields:
        if f not in recorded:
            continue
        h = fh[(fh["field"] == f) & fh["opportunity_id"].isin(close.index)]
        if not len(h):
            continue
        last = pd.to_datetime(h["ts"]).groupby(h["opportunity_id"].to_numpy()).max()
        after = int((last.to_numpy() >= close.reindex(last.index).to_numpy()).sum())
        n = len(last)
        if after >= max(1, AFTER_CLOSE_SHARE * n):
            detail = f"field history: set or changed on or after the close in {after:,} of {n:,} closed deals"
            out[f] = Evidence("field history", detail, after_close=True)
        else:
            late = f"; {after} changed after the close (below {AFTER_CLOSE_SHARE:.0%})" if after else ""
            out[f] = Evidence("field history", f"field history: set before the close in {n - after:,} of {n:,} closed deals{late}")  # fmt: skip
    return out


def as_of_values(crm: CRMData, field: str, ids: pd.Series, t: pd.Series) -> np.ndarray | None:
    """The value of ``field`` at each (opportunity, moment) from the field history (missing before its
    first change), or None when the history records no values for it."""
    fh = crm.field_history
    if "value" not in fh.columns or not len(fh):
        return None
    h = fh[(fh["field"] == field) & fh["value"].notna()]
    if not len(h):
        return None
    q = pd.DataFrame({"opportunity_id": ids.to_numpy(), "t": pd.to_datetime(t).astype("datetime64[ns]").to_numpy(),
                      "row": np.arange(len(ids))}).dropna(subset=["t"]).sort_values("t", kind="stable")  # fmt: skip
    e = pd.DataFrame(
        {"opportunity_id": h["opportunity_id"].to_numpy(), "ts": pd.to_datetime(h["ts"]).astype("datetime64[ns]").to_numpy(),
         "value": h["value"].to_numpy()}
    ).sort_values("ts", kind="stable")  # fmt: skip
    j = pd.merge_asof(q, e, left_on="t", right_on="ts", by="opportunity_id", direction="backward")
    out = np.full(len(ids), None, dtype=object)
    out[j["row"].to_numpy()] = j["value"].to_numpy()
    return out
