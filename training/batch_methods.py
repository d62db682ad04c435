"""What made each bottom series' forecast, in words (the batch's ``method`` column at the bottom level;
aggregates say ``sum``).

A planner reading a forecast should know when a series was too short for the full blend: the default
forecaster weighs its members per series, and a series shorter than a member needs gets none of that
member's weight (a six-quarter series gets no seasonal member, a one-period series only the naive one);
a series without the history the blend needs at all falls to the cold-start analogues. The label names the
members that carry the series' weight (largest first, those with at least ``MIN_SHOWN`` of it) and says
when the weights were learned for short histories or the forecast is a cold start. Models without
per-series weights are labelled by their name. A ``method`` column the model's own forecast carries wins."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["MIN_SHOWN", "series_methods"]

MIN_SHOWN = 0.05
"""Members with a smaller share of a series' weight are left out of its label."""


def _name(member: object) -> str:
    return str(getattr(member, "name", type(member).__name__))


def _blend_labels(model: object, ids: Sequence[str]) -> dict[str, str]:
    """Labels from a fitted blend's per-series weights (``series_weights_``: series × member)."""
    W = getattr(model, "series_weights_", None)
    members = getattr(model, "members_", None)
    if not isinstance(W, pd.DataFrame) or members is None or W.shape[1] != len(members):
        return {}
    names = [_name(m) for m in members]
    young = set(map(str, getattr(model, "young_ids_", []) or []))
    dropped = list(getattr(model, "dropped_members_", []) or [])
    W = W.reindex(pd.Index(ids)).dropna(how="all")
    out = {}
    for uid, row in zip(W.index.astype(str), W.to_numpy(dtype=float), strict=True):
        total = row.sum()
        share = row / total if total > 0 else row
        order = np.argsort(-share, kind="stable")
        shown = [i for i in order if share[i] >= MIN_SHOWN]
        rest = 1.0 - float(share[shown].sum())
        if len(shown) == 1 and rest < 0.005:
            text = names[shown[0]]
        else:
            text = "blend: " + ", ".join(f"{names[i]} {share[i]:.2f}" for i in shown)
            text += f", others {rest:.2f}" if rest >= 0.005 else ""
        if uid in young:
            text = f"short history: {text} (weights learned on the early periods of longer series)"
        out[uid] = text
    if dropped and out:
        note = f"; {', '.join(dropped)} left out (too few series long enough)"
        out = {k: v + note for k, v in out.items()}
    return out


def _labels(model: object, ids: Sequence[str]) -> dict[str, str]:
    parts = getattr(model, "models_", None)  # a partitioned model: one fitted model per partition
    if isinstance(parts, list) and hasattr(model, "partitions_"):
        out: dict[str, str] = {}
        for part, part_ids in zip(parts, model.partitions_, strict=True):
            mine = set(map(str, part_ids))
            out |= _labels(part, [i for i in ids if i in mine])
        return out
    base = getattr(model, "base_", None)
    cold = getattr(model, "cold_ids_", None)
    if base is not None and cold is not None:  # cold start around a base model
        cold_set = set(map(str, cold))
        out = _labels(base, [i for i in ids if i not in cold_set])
        how = "the matching analogue series" if getattr(model, "match_cols_", None) else "all modelled series"
        for uid in ids:
            if uid in cold_set:
                out[uid] = f"cold start: too short for {_name(base)}, its recent level × the profile of {how}"
        return out
    labels = _blend_labels(model, ids)
    return labels or dict.fromkeys(ids, _name(model))


def series_methods(model: object, bottom: pd.DataFrame) -> pd.Series:
    """The ``method`` label of each series of ``bottom`` (the fitted ``model``'s forecast frame), indexed
    by ``unique_id``; the frame's own ``method`` column when it has one."""
    uid = bottom["unique_id"].astype(str)
    if "method" in bottom.columns:
        return pd.Series(bottom["method"].astype(str).to_numpy(), index=uid).groupby(level=0).first()
    ids = list(dict.fromkeys(uid))
    labels = _labels(model, ids)
    fallback = _name(model)
    return pd.Series([labels.get(i, fallback) for i in ids], index=pd.Index(ids, name="unique_id"))
