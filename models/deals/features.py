"""As-of deal features: every value is what the CRM knew at the scoring moment, never later.

Training rows are *snapshots* of each closed deal (at creation, at each stage entry and every
``every_days`` while open, strictly before the close), labelled with the final outcome, so the model sees
deals as open deals really look. Each training frame carries, per feature, the timestamps' evidence that
it was known before the outcome (:mod:`models.deals.history`; ``X.attrs["deal_feature_evidence"]``), which
the leakage guard (:mod:`models.deals.leakage`) reads: features built from dated history are as of the
snapshot by construction; other opportunity columns are judged by their field history when the CRM has
one, else by leakage signals. Columns named like the outcome pass through to be refused there, visibly.

Expected close date: the contract keeps the *history* of moves (``close_date_changes``) but not the value
before the first move, and ``opportunities.expected_close_date`` is the latest value (after every slip).
Using it for early snapshots would tell the model which deals will slip, so ``days_to_close`` is known
only from a deal's first recorded move on (missing before: the deal's age carries the rest). Record a
change at creation to give the real initial date."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts.crm import EVENT_RANK, CRMData
from salesplan.errors import DataValidationError, InsufficientDataError, Problem
from salesplan.models.deals.history import as_of_evidence, as_of_values, field_evidence
from salesplan.models.deals.leakage import LEAKY_COLUMNS, Evidence

__all__ = [
    "EVIDENCE_ATTR", "LEAKY_COLUMNS", "TrainingSet", "build_features", "features_asof", "snapshot_times",
    "training_set",
]  # fmt: skip

KEY_COLUMNS: tuple[str, ...] = ("opportunity_id", "snapshot_ts")
"""Row keys of a feature frame; never used as features."""

NUMERIC_FEATURES: tuple[str, ...] = (
    "amount", "rep_tenure_months", "rep_win_rate", "stage_rank", "days_in_stage",
    "stage_age_ratio", "n_slips", "days_to_close", "deal_age_days",
)  # fmt: skip
BASE_CATEGORICALS: tuple[str, ...] = ("product", "lead_source", "competitor", "region", "team", "rep_id")
_OPP_NOT_PASSED = frozenset({"opportunity_id", "account_id", "amount", "created_date", "name", "dup_group",
                             "stage", "expected_close_date", "close_date", "outcome"})  # fmt: skip
"""Opportunity columns never passed through: keys, names, and the contract's latest-value columns (their
as-of versions are built from stage events and close-date changes)."""
_REP_PASSED = ("manager", "role", "team", "region")
ACCOUNT_SKIP = frozenset({"account_id", "name", "account", "subsidiary_of"})
"""Account columns that identify or name the account: never features."""
PRIOR_DEALS = 10.0
"""Pseudo-deals at the global win rate that a rep's past win rate is shrunk toward."""
MIN_SPELLS = 5
"""Earlier completed stage spells needed before a 'typical' stage duration is trusted."""
MONTH_DAYS = 30.44
EVIDENCE_ATTR = "deal_feature_evidence"
"""``X.attrs`` key of a training frame's per-feature timestamp evidence (feature → ``Evidence``)."""


@dataclass(frozen=True)
class TrainingSet:
    """Snapshots of closed deals: features ``X`` (with the key columns), label ``y`` (1 = won), each row's
    deal ``close_date`` (for the time-ordered holdout; NaT when undated), ``groups`` (the deal id) and the
    timestamp ``evidence`` per feature (also in ``X.attrs[EVIDENCE_ATTR]``)."""

    X: pd.DataFrame
    y: np.ndarray
    close_date: pd.Series
    groups: np.ndarray
    evidence: Mapping[str, Evidence] = field(default_factory=dict)


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series(pd.NaT if name.endswith("date") else np.nan, index=df.index)


def _ns(s: pd.Series) -> pd.Series:
    """Nanosecond datetimes: as-of joins refuse keys of different resolutions."""
    return pd.to_datetime(s).astype("datetime64[ns]")


def _dated(crm: CRMData) -> bool:
    o = crm.opportunities
    return bool(
        len(crm.stage_events)
        or ("close_date" in o.columns and o["close_date"].notna().any())
        or ("created_date" in o.columns and o["created_date"].notna().any())
    )


def snapshot_times(crm: CRMData, *, every_days: int = 30, asof: Any = None) -> pd.DataFrame:
    """Moments at which each closed deal is observed for training: creation, every stage entry and every
    ``every_days`` while open, all strictly before its close (and not after ``asof``). Undated data give
    one row per closed deal with ``snapshot_ts`` NaT."""
    o = crm.opportunities
    closed = o[o["outcome"].isin(["won", "lost"])]
    if not _dated(crm):
        return pd.DataFrame({"opportunity_id": closed["opportunity_id"].to_numpy(), "snapshot_ts": pd.NaT})
    close = pd.to_datetime(_col(closed, "close_date"))
    ids = closed["opportunity_id"].to_numpy()
    parts = []
    ev = crm.stage_events
    ev = ev[ev["opportunity_id"].isin(ids) & ~ev["stage"].isin(["Won", "Lost"])]
    parts.append(ev[["opportunity_id", "ts"]].rename(columns={"ts": "snapshot_ts"}))
    start = pd.to_datetime(_col(closed, "created_date"))
    first_ev = ev.groupby("opportunity_id")["ts"].min()
    start = start.fillna(pd.Series(ids).map(first_ev).set_axis(closed.index))
    end = close.fillna(start.max() + pd.Timedelta(days=3650))
    span = ((end - start).dt.days // every_days).fillna(0)
    n = np.clip(span.to_numpy(dtype=float), 0, 400).astype(int) + 1
    rep_ids = np.repeat(ids, n)
    k = np.concatenate([np.arange(m) for m in n]) if len(n) else np.array([], dtype=int)
    ts = np.repeat(start.to_numpy(), n) + pd.to_timedelta(k * every_days, unit="D").to_numpy()
    parts.append(pd.DataFrame({"opportunity_id": rep_ids, "snapshot_ts": ts}))
    snaps = pd.concat(parts, ignore_index=True).dropna(subset=["snapshot_ts"])
    snaps = snaps.drop_duplicates().reset_index(drop=True)
    close_of = snaps["opportunity_id"].map(pd.Series(close.to_numpy(), index=ids))
    keep = close_of.isna() | (snaps["snapshot_ts"] < close_of)
    if asof is not None:
        keep &= snaps["snapshot_ts"] <= pd.Timestamp(asof)
    return snaps[keep].sort_values(["opportunity_id", "snapshot_ts"], kind="stable").reset_index(drop=True)


def build_features(crm: CRMData, snapshots: pd.DataFrame) -> pd.DataFrame:
    """Features of each (opportunity_id, snapshot_ts) row as known at ``snapshot_ts``, with each feature's
    timestamp evidence in ``attrs[EVIDENCE_ATTR]``.

    Time-dependent features are left out when the data have no dates (e.g. Salvirt); extra opportunity
    attributes pass through as categoricals (text) or numbers."""
    o = crm.opportunities.set_index("opportunity_id")
    unknown = ~snapshots["opportunity_id"].isin(o.index)
    if unknown.any():
        bad = snapshots.loc[unknown, "opportunity_id"].astype(str)
        raise DataValidationError(
            [
                Problem(
                    "opportunity_id",
                    "snapshot of an unknown opportunity",
                    bad.head(5).tolist(),
                    int(unknown.sum()),
                    fix="snapshot only opportunities present in crm.opportunities",
                )
            ],
            source="build_features",
        )
    snaps = snapshots[list(KEY_COLUMNS)].reset_index(drop=True)
    t = _ns(snaps["snapshot_ts"])
    ids = snaps["opportunity_id"]
    opp = o.reindex(ids)
    out = snaps.copy()
    out["amount"] = pd.to_numeric(_col(opp, "amount"), errors="coerce").to_numpy()
    for c in BASE_CATEGORICALS:
        if c in opp.columns:
            out[c] = opp[c].astype("string").to_numpy()
    dated = _dated(crm) and t.notna().any()
    if dated:
        _rep_features(out, crm, opp, t)
        _stage_features(out, crm, t)
        _slip_features(out, crm, t)
        created = pd.to_datetime(_col(opp, "created_date")).to_numpy()
        out["deal_age_days"] = (t.to_numpy() - created) / np.timedelta64(1, "D")
    _attribute_passthrough(out, crm, opp, snaps)
    cols = [c for c in out.columns if c not in KEY_COLUMNS]
    out.attrs[EVIDENCE_ATTR] = {**as_of_evidence(cols), **field_evidence(crm, cols)}
    return out


def _rep_features(out: pd.DataFrame, crm: CRMData, opp: pd.DataFrame, t: pd.Series) -> None:
    """Tenure at the moment, and the rep's win rate on deals closed strictly before it, shrunk toward the
    global rate of the same moment by :data:`PRIOR_DEALS` pseudo-deals."""
    reps = crm.reps.set_index("rep_id")
    rep = opp["rep_id"].astype("string").to_numpy()
    if "hire_date" in reps.columns and reps["hire_date"].notna().any():
        hire = pd.to_datetime(pd.Series(rep).map(reps["hire_date"])).to_numpy()
        out["rep_tenure_months"] = (t.to_numpy() - hire) / np.timedelta64(1, "D") / MONTH_DAYS
    o = crm.opportunities
    if "close_date" not in o.columns:
        return
    closed = o[o["outcome"].isin(["won", "lost"]) & o["close_date"].notna()]
    cd = pd.to_datetime(closed["close_date"]).to_numpy()
    won = (closed["outcome"] == "won").to_numpy(dtype=float)
    order = np.argsort(cd, kind="stable")
    g_cd, g_won = cd[order], np.concatenate([[0.0], np.cumsum(won[order])])
    tv = t.to_numpy()
    k = np.searchsorted(g_cd, tv, side="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        global_rate = np.where(k > 0, g_won[k] / np.maximum(k, 1), np.nan)
    n_rep = np.zeros(len(out))
    w_rep = np.zeros(len(out))
    crep = closed["rep_id"].astype("string").to_numpy()
    for r in np.unique(rep[~pd.isna(rep)]):
        m = crep == r
        if not m.any():
            continue
        o_r = np.argsort(cd[m], kind="stable")
        r_cd, r_won = cd[m][o_r], np.concatenate([[0.0], np.cumsum(won[m][o_r])])
        rows = rep == r
        kr = np.searchsorted(r_cd, tv[rows], side="left")
        n_rep[rows], w_rep[rows] = kr, r_won[kr]
    # The count of past closes itself is not a feature: it grows with the calendar, and when training
    # deals are picked by close date, calendar time is a proxy for the (outcome-linked) deal length.
    out["rep_win_rate"] = (w_rep + PRIOR_DEALS * global_rate) / (n_rep + PRIOR_DEALS)


def _stage_features(out: pd.DataFrame, crm: CRMData, t: pd.Series) -> None:
    """Furthest funnel stage entered by the moment, days since entering it, and that age over the median
    time earlier deals spent in the same stage before moving on (spells finished before the moment)."""
    ev = crm.stage_events
    ev = ev[~ev["stage"].isin(["Won", "Lost"])].copy()
    if not len(ev):
        return
    ev["rank"] = ev["stage"].map(EVENT_RANK).astype(float)
    ev = ev.sort_values(["opportunity_id", "ts", "rank"], kind="stable").reset_index(drop=True)
    # as-of join: latest event at or before each snapshot
    q = pd.DataFrame(
        {"opportunity_id": out["opportunity_id"].to_numpy(), "t": t.to_numpy(), "row": np.arange(len(out))}
    )
    q = q.dropna(subset=["t"]).sort_values("t", kind="stable")
    e = (
        ev[["opportunity_id", "ts", "rank", "stage"]]
        .assign(ts=_ns(ev["ts"]))
        .sort_values("ts", kind="stable")
    )
    j = pd.merge_asof(q, e, left_on="t", right_on="ts", by="opportunity_id", direction="backward")
    rank = np.full(len(out), np.nan)
    entered = np.full(len(out), np.datetime64("NaT"), dtype="datetime64[ns]")
    rank[j["row"].to_numpy()] = j["rank"].to_numpy(dtype=float)
    entered[j["row"].to_numpy()] = j["ts"].to_numpy()
    out["stage_rank"] = rank
    days = (t.to_numpy() - entered) / np.timedelta64(1, "D")
    out["days_in_stage"] = days
    # completed spells: a stage left by entering a later stage
    nxt = ev.groupby("opportunity_id")["ts"].shift(-1)
    spells = pd.DataFrame({"rank": ev["rank"], "end": nxt, "dur": (nxt - ev["ts"]).dt.days}).dropna()
    ratio = np.full(len(out), np.nan)
    for r, grp in spells.groupby("rank"):
        grp = grp.sort_values("end", kind="stable")
        med = grp["dur"].expanding().median().to_numpy()
        rows = np.flatnonzero(rank == r)
        k = np.searchsorted(grp["end"].to_numpy(), t.to_numpy()[rows], side="left")
        ok = k >= MIN_SPELLS
        typical = np.where(ok, med[np.maximum(k - 1, 0)], np.nan)
        ratio[rows] = days[rows] / np.maximum(typical, 1.0)
    out["stage_age_ratio"] = ratio


def _slip_features(out: pd.DataFrame, crm: CRMData, t: pd.Series) -> None:
    """Close-date moves recorded up to the moment, and days from the moment to the expected close as it
    stood then (missing before the deal's first recorded move; see the module doc)."""
    ch = crm.close_date_changes
    o = crm.opportunities
    has_expected = "expected_close_date" in o.columns and o["expected_close_date"].notna().any()
    if not len(ch) and not has_expected:
        return
    q = pd.DataFrame(
        {"opportunity_id": out["opportunity_id"].to_numpy(), "t": t.to_numpy(), "row": np.arange(len(out))}
    )
    q = q.dropna(subset=["t"]).sort_values("t", kind="stable")
    n_slips = np.zeros(len(out))
    asof_close = np.full(len(out), np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(ch):
        c = ch.assign(ts=_ns(ch["ts"]), expected_close_date=_ns(ch["expected_close_date"]))
        c = c.sort_values(["opportunity_id", "ts"], kind="stable")
        c["n"] = c.groupby("opportunity_id").cumcount() + 1.0
        c = c.rename(columns={"expected_close_date": "ecd"}).sort_values("ts", kind="stable")
        j = pd.merge_asof(q, c[["opportunity_id", "ts", "ecd", "n"]], left_on="t", right_on="ts",
                          by="opportunity_id", direction="backward")  # fmt: skip
        n_slips[j["row"].to_numpy()] = j["n"].fillna(0.0).to_numpy()
        asof_close[j["row"].to_numpy()] = j["ecd"].to_numpy()
    out["n_slips"] = n_slips
    out["days_to_close"] = (asof_close - t.to_numpy()) / np.timedelta64(1, "D")


def _attribute_passthrough(out: pd.DataFrame, crm: CRMData, opp: pd.DataFrame, snaps: pd.DataFrame) -> None:
    """Extra opportunity columns (e.g. Salvirt's 20 attributes; as of the snapshot where the field history
    records their values), the account's attributes and the rep's team/manager, named ``account_<col>`` /
    ``rep_<col>``; dates never pass, nor account columns named like the outcome."""
    known = set(NUMERIC_FEATURES) | set(BASE_CATEGORICALS) | _OPP_NOT_PASSED
    for c in opp.columns:
        if c in known or pd.api.types.is_datetime64_any_dtype(opp[c]):
            continue
        values = as_of_values(crm, str(c), snaps["opportunity_id"], snaps["snapshot_ts"])
        if values is None:
            out[c] = opp[c].to_numpy()
        elif pd.api.types.is_numeric_dtype(opp[c]) and not pd.api.types.is_bool_dtype(opp[c]):
            out[c] = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        else:
            out[c] = pd.Series(values, dtype=object).astype("string").to_numpy()
    acc = crm.accounts
    if "account_id" in opp.columns and len(acc) and len(acc.columns) > 1:
        a = acc.set_index("account_id")
        for c in a.columns:
            if (
                c in ACCOUNT_SKIP
                or str(c).lower() in LEAKY_COLUMNS
                or pd.api.types.is_datetime64_any_dtype(a[c])
            ):
                continue
            out[f"account_{c}"] = opp["account_id"].map(a[c]).to_numpy()
    reps = crm.reps.set_index("rep_id")
    for c in _REP_PASSED:
        if c in reps.columns and c not in out.columns:
            out[f"rep_{c}"] = opp["rep_id"].map(reps[c]).to_numpy()


def training_set(crm: CRMData, *, every_days: int = 30, asof: Any = None) -> TrainingSet:
    """Labelled snapshots of the deals closed (by ``asof`` if given) — what :class:`DealScorer` fits on."""
    o = crm.opportunities
    if asof is not None and "close_date" in o.columns:
        o = o[o["close_date"].notna() & (o["close_date"] <= pd.Timestamp(asof))]
    closed = o[o["outcome"].isin(["won", "lost"])]
    if not len(closed):
        raise InsufficientDataError("no closed (won/lost) deals to learn from. Fix: pass a CRM with history")
    sub = CRMData(crm.reps, closed, crm.accounts, crm.stage_events, crm.close_date_changes)
    snaps = snapshot_times(sub, every_days=every_days, asof=asof)
    X = build_features(crm if asof is None else _history(crm, asof), snaps)
    oc = closed.set_index("opportunity_id")
    y = (X["opportunity_id"].map(oc["outcome"]) == "won").to_numpy(dtype=int)
    close = pd.to_datetime(X["opportunity_id"].map(_col(oc, "close_date")))
    return TrainingSet(
        X, y, close.reset_index(drop=True), X["opportunity_id"].to_numpy(), X.attrs[EVIDENCE_ATTR]
    )


def _history(crm: CRMData, asof: Any) -> CRMData:
    """The CRM as it stood on ``asof``: later closes reopened, later events and moves dropped."""
    cut = pd.Timestamp(asof)
    o = crm.opportunities.copy()
    if "created_date" in o.columns:
        o = o[o["created_date"].isna() | (o["created_date"] <= cut)]
    if "close_date" in o.columns:
        late = o["close_date"] > cut
        o.loc[late, "outcome"] = "open"
        o.loc[late, "close_date"] = pd.NaT
    ev = crm.stage_events[crm.stage_events["ts"] <= cut]
    ch = crm.close_date_changes[crm.close_date_changes["ts"] <= cut]
    return CRMData(crm.reps, o, crm.accounts, ev, ch)


def features_asof(
    crm: CRMData, asof: Any = None, *, opportunity_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Features of the deals open on ``asof`` (default: the end of the data), ready for scoring."""
    end = max(
        [pd.Timestamp(x) for x in (_col(crm.opportunities, "close_date").max(),
                                   _col(crm.opportunities, "created_date").max(),
                                   crm.stage_events["ts"].max() if len(crm.stage_events) else pd.NaT) if pd.notna(x)],
        default=pd.NaT,
    )  # fmt: skip
    cut = end if asof is None else pd.Timestamp(asof)
    hist = _history(crm, cut) if pd.notna(cut) else crm
    o = hist.opportunities
    o = o[o["outcome"] == "open"]
    if opportunity_ids is not None:
        o = o[o["opportunity_id"].isin(list(opportunity_ids))]
    snaps = pd.DataFrame({"opportunity_id": o["opportunity_id"].to_numpy(), "snapshot_ts": cut})
    return build_features(hist, snaps)
