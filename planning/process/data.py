"""The inputs every process analysis shares, prepared once: activities with their person's role and location
group, hours and integer codes (deal row, person row, deal owner, stage), the deals' paths through the
funnel and their stage spells as of one date, and everyone who logs activities.

Why integer codes: a year of 5,000 people is ~5 M activities; every analysis groups them by person, deal
and stage, and NumPy's ``bincount`` / ``lexsort`` over int arrays does in milliseconds what string
comparisons and object group-bys do in seconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts import STAGES, CRMData
from salesplan.errors import ConfigError, InsufficientDataError
from salesplan.planning.funnel.paths import DealPaths, deal_paths, stage_spells, to_date

__all__ = ["INTERNAL", "OVERHEAD_TYPES", "PRE_SALE", "ProcessData", "process_data"]

INTERNAL = "(internal)"
"""Stage label of work on no deal (admin, coaching, training): it has hours but no conversion."""
OVERHEAD_TYPES: tuple[str, ...] = ("travel",)
"""Activity types that serve the next activity (travel to a visit): the inefficiency finder charges them to
it, so a visit costs its drive."""
PRE_SALE: tuple[str, ...] = ("Find", "Meet", "Pitch")
STAGE_CODE: dict[str, int] = {s: i for i, s in enumerate(STAGES)}


@dataclass(frozen=True)
class ProcessData:
    """``activities``: the validated frame plus ``role``, ``location_group``, ``stage_label`` (the stage, or
    :data:`INTERNAL`), ``hours`` and the codes ``deal`` (row of ``paths.frame``, −1 for none), ``person``
    (row of ``reps``, −1 unknown), ``owner`` (the deal owner's row of ``reps``, −1), ``stage_code`` (index in
    the funnel, −1 internal); ``reps``: everyone who logs activities (with the CRM's rep columns they
    lack); ``paths``: the deals as of ``as_of`` (``owner`` code added); ``spells``: their stage spells (with
    ``deal``, ``owner``, ``stage_code``, ``entry``); ``start``: the first activity; ``crm``: the CRM."""

    activities: pd.DataFrame
    reps: pd.DataFrame
    paths: DealPaths
    spells: pd.DataFrame
    as_of: pd.Timestamp
    start: pd.Timestamp
    crm: CRMData

    def window(self, start: Any = None, end: Any = None) -> tuple[np.ndarray, pd.Timestamp, pd.Timestamp]:
        """Mask of the activities started in [start, end] (default: all), and the two dates."""
        lo = to_date(start, "start") if start is not None else self.start
        hi = to_date(end, "end") if end is not None else self.as_of
        if hi < lo:
            raise ConfigError(f"period {lo.date()} .. {hi.date()} ends before it starts. Fix: swap the dates")
        t = self.activities["started_at"].to_numpy("datetime64[ns]")
        mask = (t >= np.datetime64(lo, "ns")) & (t < np.datetime64(hi + pd.Timedelta(days=1), "ns"))
        return mask, lo, hi

    def between(self, start: Any = None, end: Any = None) -> ProcessData:
        """The same data with only the activities started in [start, end] (deals and reps unchanged)."""
        mask, lo, _ = self.window(start, end)
        return ProcessData(
            self.activities.loc[mask], self.reps, self.paths, self.spells, self.as_of, lo, self.crm
        )


def _codes(values: pd.Series, keys: pd.Index) -> np.ndarray:
    """Row of each value in ``keys`` (−1 when absent or missing), looking up only the distinct values (the
    categories of a validated frame, so no string is hashed twice)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    where = keys.get_indexer(pd.Index(uniques).astype(str)).astype(np.int64)
    return np.where(codes >= 0, where[np.maximum(codes, 0)], -1)


def _category(table: np.ndarray, code: np.ndarray, missing: str) -> pd.Categorical:
    """``table[code]`` as a categorical (``missing`` where the code is −1), built from codes, not strings."""
    cats, inv = np.unique(np.append(table.astype(str), missing), return_inverse=True)
    codes = np.where(code >= 0, inv[:-1][np.maximum(code, 0)], inv[-1])
    return pd.Categorical.from_codes(codes, pd.Index(cats))


KEEP = (
    "rep_id",
    "opportunity_id",
    "account_id",
    "type",
    "stage",
    "started_at",
    "minutes",
    "channel",
    "outcome",
)


def process_data(
    crm: CRMData,
    activities: pd.DataFrame,
    *,
    reps: pd.DataFrame | None = None,
    as_of: Any = None,
    paths: DealPaths | None = None,
) -> ProcessData:
    """Prepare validated activities (``validate_activities``) and a validated CRM for the analyses. ``reps``
    is everyone who logs activities (default the CRM's reps; people missing from it are added with role
    ``(unknown)``); ``as_of`` censors both (default: the CRM's end); ``paths`` (the deals as of a date)
    when already built, e.g. by the service at load."""
    if not len(activities):
        raise InsufficientDataError(
            "no activities. Fix: pass an activity export (see salesplan process --help)"
        )
    paths = paths if paths is not None else deal_paths(crm, as_of)
    cut = paths.as_of
    t = activities["started_at"].to_numpy("datetime64[ns]")
    limit = np.datetime64(cut.normalize() + pd.Timedelta(days=1), "ns")
    cols = {c: activities[c] for c in KEEP if c in activities.columns}
    a = pd.DataFrame({c: v.astype("category") if c not in ("started_at", "minutes") and not isinstance(
        v.dtype, pd.CategoricalDtype) else v for c, v in cols.items()})  # fmt: skip
    if t.max() >= limit:
        a = a.loc[t < limit]
    if a.empty:
        raise InsufficientDataError(f"no activities on or before {cut.date()}. Fix: check as_of")
    if not a["started_at"].is_monotonic_increasing:
        a = a.sort_values("started_at", kind="stable")
    a = a.reset_index(drop=True)
    people = crm.reps if reps is None else _with_crm_columns(reps, crm.reps)
    people = people.drop_duplicates("rep_id").reset_index(drop=True)
    unknown = sorted(set(a["rep_id"].cat.categories.astype(str)) - set(people["rep_id"].astype(str)))
    if unknown:
        people = pd.concat(
            [people, pd.DataFrame({"rep_id": unknown, "role": "(unknown)"})], ignore_index=True
        )
    rep_index = pd.Index(people["rep_id"].astype(str))
    frame = paths.frame
    owner_of_deal = _codes(frame["rep_id"], rep_index)
    paths = DealPaths(frame.assign(owner=owner_of_deal), cut)
    deal = _codes(a["opportunity_id"], pd.Index(frame["opportunity_id"].astype(str)))
    person = _codes(a["rep_id"], rep_index)
    stage_code = _codes(a["stage"], pd.Index(STAGES))
    new: dict[str, Any] = {
        "deal": deal.astype(np.int32),
        "person": person.astype(np.int32),
        "owner": np.where(deal >= 0, owner_of_deal[np.maximum(deal, 0)], -1).astype(np.int32),
        "stage_code": stage_code.astype(np.int8),
        "hours": a["minutes"].to_numpy(float) / 60.0,
    }
    for c in ("role", "location_group"):
        table = (
            people[c].astype(object).fillna("(none)").to_numpy()
            if c in people.columns
            else np.full(len(people), "(none)")
        )
        new[c] = _category(table, person, "(unknown)")
    labels = np.array([*STAGES, INTERNAL], dtype=object)
    label_codes = np.where(stage_code >= 0, stage_code, len(STAGES))
    new["stage_label"] = pd.Categorical.from_codes(label_codes, pd.Index(labels))  # type: ignore[arg-type]
    for c, v in new.items():
        a[c] = v
    start = pd.Timestamp(a["started_at"].iloc[0]).normalize()
    return ProcessData(a, people, paths, _spells(paths), cut, start, crm)


def _spells(paths: DealPaths) -> pd.DataFrame:
    """Stage spells of every deal (``stage_spells`` on the few columns it needs), with the deal and owner
    codes, the stage code and the entry time."""
    f = paths.frame
    ts = [f"ts_{s}" for s in STAGES]
    slim = f[["opportunity_id", "rep_id", "reached", "outcome", "lost", "loss_ts", *ts, "owner"]].assign(
        deal=np.arange(len(f), dtype=np.int32)
    )
    sp = stage_spells(DealPaths(slim, paths.as_of)).drop(columns=["reached", "lost", "loss_ts"])
    sp["stage_code"] = sp["stage"].map(STAGE_CODE).astype(np.int8)
    entry = f[ts].to_numpy("datetime64[ns]")
    sp["entry"] = entry[sp["deal"].to_numpy(), sp["stage_code"].to_numpy()]
    return sp


def _with_crm_columns(people: pd.DataFrame, crm_reps: pd.DataFrame) -> pd.DataFrame:
    """Everyone who logs activities, with the CRM's rep columns they lack (quota, hire date, ...) joined on."""
    extra = [c for c in crm_reps.columns if c not in people.columns]
    if not extra:
        return people
    return people.merge(crm_reps[["rep_id", *extra]].drop_duplicates("rep_id"), on="rep_id", how="left")
