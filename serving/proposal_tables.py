"""A stored proposal as tables people read: its rows with the monthly targets under their month labels, and
its weekly targets (where the proposal's data were weekly) recomputed from the current rows, so exports, the
CLI and the API show weeks that add up to the months after every override."""

from __future__ import annotations

import pandas as pd

from salesplan.planning.phasing_weeks import weeks_from_record
from salesplan.serving.db.proposal_frames import rows_to_frame
from salesplan.serving.db.proposal_parameters import ProposalParameters
from salesplan.serving.db.records import StoredProposal

__all__ = ["csv_frame", "weekly_frame"]


def csv_frame(p: StoredProposal) -> pd.DataFrame:
    """A proposal's rows as one table: monthly targets under their month labels, then the weekly ones
    (``week_<first day>``) where the proposal has weekly phasing."""
    months = ProposalParameters.from_json(p.parameters, p.id).months
    df = rows_to_frame(p.rows, months)
    weeks = weekly_frame(p)
    if weeks is not None:
        df = df.merge(
            weeks.rename(columns=lambda c: c if c == "unit_id" else f"week_{c}"), on="unit_id", how="left"
        )
    return df.rename(columns={f"m{i}": f"target_{m}" for i, m in enumerate(months[:3], 1)})


def weekly_frame(p: StoredProposal) -> pd.DataFrame | None:
    """``unit_id`` and one column per week (its first day, ISO) of the current rows (overrides included),
    split by the weekly shape stored at creation (:func:`planning.phasing_weeks.weeks_from_record`); None
    when the proposal's data were not weekly."""
    params = ProposalParameters.from_json(p.parameters, p.id)
    record = params.plan.get("weekly")
    if not isinstance(record, dict):
        return None
    rows = rows_to_frame(p.rows, params.months)
    pieces = weeks_from_record(record, rows, p.quarter)
    pieces = pieces.assign(label=pd.to_datetime(pieces["week"]).dt.strftime("%Y-%m-%d"))
    w = pieces.pivot_table(index="unit_id", columns="label", values="target", aggfunc="sum", sort=False)
    return w.round(2).reindex(rows["unit_id"].astype(str)).reset_index()
