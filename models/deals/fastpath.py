"""The single-deal fast path: what an external CRM sends for one open deal becomes the feature dict
``build_features`` would compute for it, then one encoded row, its score, grade and worded reasons (about a
millisecond for the default blend); ``tests/test_deal_fastpath_property.py`` holds it to
``DealScorer.score_frame`` to 1e-9."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesplan.contracts.crm import EVENT_RANK, CRMData
from salesplan.models.deals.encoding import FeatureEncoder, level_key
from salesplan.models.deals.features import ACCOUNT_SKIP, LEAKY_COLUMNS, MIN_SPELLS, MONTH_DAYS, PRIOR_DEALS
from salesplan.models.deals.reasons import MIN_POINTS, describe, reason_points

if TYPE_CHECKING:  # the scorer is only a parameter type here
    from salesplan.models.deals.scorer import DealScorer


# ----------------------------------------------------------------------------------------------------------
# Single-deal features without pandas: what an external CRM sends (one opportunity's fields) becomes the same
# feature dict ``build_features`` would compute for it, using a context of per-rep, per-account and per-stage
# history summarised once from the CRM the service holds. Hand-written (not build_features on a one-row frame)
# because the pandas as-of joins cost milliseconds per call; tests hold both paths to the same numbers.

DAY_NS = 86_400 * 10**9
REP_ATTRIBUTES = ("team", "region", "manager", "role")


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_ns(day: date) -> int:
    """Nanoseconds since the epoch of midnight (UTC) of ``day``."""
    return (day.toordinal() - EPOCH_ORDINAL) * DAY_NS


def _ns(value: Any) -> int | None:
    """Nanoseconds since the epoch of a date-like value (None when missing); plain dates, the API's case,
    without numpy's slower parsing."""
    if value is None:
        return None
    if type(value) is date:
        return day_ns(value)
    t = np.datetime64(value, "ns")
    return None if np.isnat(t) else int(t.astype(np.int64))


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT:
        return None
    return str(value)


@dataclass(frozen=True)
class RepHistory:
    hire_ns: int | None
    attributes: Mapping[str, str | None]
    close_ns: list[int]  # closes of the rep's deals, ascending
    won_cum: list[float]  # wins among the first k closes, k = 0..n


@dataclass(frozen=True)
class DealContext:
    """History the single-deal path needs, summarised from one CRM (see :func:`deal_context`)."""

    end_ns: int | None
    reps: Mapping[str, RepHistory]
    accounts: Mapping[str, Mapping[str, Any]]
    close_ns: list[int]  # every dated close, ascending
    won_cum: list[float]
    spells: Mapping[int, tuple[list[int], list[float]]]  # stage rank → (spell ends ascending, running median)
    account_columns: tuple[str, ...] = ()  # account_<attribute> features the CRM has


def deal_context(crm: CRMData) -> DealContext:
    """Summarise ``crm`` (a validated ``CRMData``) as ``build_features`` uses it for deals open at its end."""
    o = crm.opportunities
    ends = [o[c].max() for c in ("close_date", "created_date") if c in o.columns]
    if len(crm.stage_events):
        ends.append(crm.stage_events["ts"].max())
    ends = [pd.Timestamp(x) for x in ends if pd.notna(x)]
    closed = o[o["outcome"].isin(["won", "lost"])]
    closed = closed[closed["close_date"].notna()] if "close_date" in o.columns else closed.iloc[:0]
    cd = pd.to_datetime(closed["close_date"]).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    won = (closed["outcome"] == "won").to_numpy(dtype=float)
    order = np.argsort(cd, kind="stable")
    reps: dict[str, RepHistory] = {}
    r = crm.reps.drop_duplicates("rep_id").set_index("rep_id")
    hire = pd.to_datetime(r["hire_date"]) if "hire_date" in r.columns else pd.Series(pd.NaT, index=r.index)
    crep = closed["rep_id"].astype("string").to_numpy()
    for rep_id in set(r.index.astype(str)) | {str(x) for x in crep if not pd.isna(x)}:
        m = crep == rep_id
        o_r = np.argsort(cd[m], kind="stable")
        attrs = {c: _text(r.at[rep_id, c]) if rep_id in r.index and c in r.columns else None
                 for c in REP_ATTRIBUTES}  # fmt: skip
        reps[rep_id] = RepHistory(
            _ns(hire.get(rep_id)) if rep_id in r.index else None,
            attrs,
            cd[m][o_r].tolist(),
            np.concatenate([[0.0], np.cumsum(won[m][o_r])]).tolist(),
        )
    a = crm.accounts
    accounts: dict[str, dict[str, Any]] = {}
    cols: list[str] = []
    if len(a) and len(a.columns) > 1:
        cols = [c for c in a.columns if c not in ACCOUNT_SKIP and str(c).lower() not in LEAKY_COLUMNS
                and not pd.api.types.is_datetime64_any_dtype(a[c])]  # fmt: skip
        for rec in a.drop_duplicates("account_id")[["account_id", *cols]].to_dict("records"):
            accounts[str(rec.pop("account_id"))] = {f"account_{k}": v for k, v in rec.items()}
    return DealContext(
        _ns(max(ends)) if ends else None,
        reps,
        accounts,
        cd[order].tolist(),
        np.concatenate([[0.0], np.cumsum(won[order])]).tolist(),
        _stage_spells(crm.stage_events),
        tuple(f"account_{c}" for c in cols) if accounts else (),
    )


def _stage_spells(events: pd.DataFrame) -> dict[int, tuple[list[int], list[float]]]:
    """Completed stage spells per rank (as ``features._stage_features``): ends and running median days."""
    ev = events[~events["stage"].isin(["Won", "Lost"])].copy()
    if not len(ev):
        return {}
    ev["rank"] = ev["stage"].map(EVENT_RANK).astype(float)
    ev = ev.sort_values(["opportunity_id", "ts", "rank"], kind="stable").reset_index(drop=True)
    nxt = ev.groupby("opportunity_id")["ts"].shift(-1)
    spells = pd.DataFrame({"rank": ev["rank"], "end": nxt, "dur": (nxt - ev["ts"]).dt.days}).dropna()
    out: dict[int, tuple[list[int], list[float]]] = {}
    for rank, grp in spells.groupby("rank"):
        assert isinstance(rank, float)  # ranks were cast to float above
        grp = grp.sort_values("end", kind="stable")
        ends = pd.to_datetime(grp["end"]).to_numpy(dtype="datetime64[ns]").astype(np.int64)
        out[int(rank)] = (ends.tolist(), grp["dur"].expanding().median().to_numpy(dtype=float).tolist())
    return out


def deal_features(
    deal: Mapping[str, Any], ctx: DealContext | None, as_of_ns: int
) -> tuple[dict[str, Any], list[str]]:
    """(feature dict of one open deal as of ``as_of_ns``, what had to be imputed and why).

    ``deal`` holds the opportunity's fields: amount, product, lead_source, competitor, region, team, rep_id,
    account_id, account (attributes), stage, stage_entered_date, created_date, expected_close_date, n_slips
    (times the expected close moved), attributes (extra opportunity columns). Unknown reps and accounts are
    scored with those features missing (the model's missing-value handling), never refused."""
    t = as_of_ns
    fallbacks: list[str] = []
    f: dict[str, Any] = {k: v for k, v in (deal.get("attributes") or {}).items()}
    amount = deal.get("amount")
    f["amount"] = np.nan if amount is None else float(amount)
    rep_id = _text(deal.get("rep_id"))
    rep = ctx.reps.get(rep_id) if ctx is not None and rep_id is not None else None
    if ctx is None:
        fallbacks.append("no CRM history loaded: rep, account and stage-duration features treated as unknown")
    elif rep_id is not None and rep is None:
        fallbacks.append(
            f"rep {rep_id!r} not in the CRM: tenure and rep attributes unknown, win rate = team-wide"
        )
    for c in ("product", "lead_source", "competitor", "region", "team", "rep_id"):
        f[c] = _text(deal.get(c))
    for c in REP_ATTRIBUTES:
        known = rep.attributes.get(c) if rep is not None else None
        f[f"rep_{c}"] = known
        if c in ("team", "region") and f[c] is None:
            f[c] = known
    # rep tenure and shrunk past win rate, on closes strictly before the moment (features._rep_features)
    f["rep_tenure_months"] = (
        (t - rep.hire_ns) / DAY_NS / MONTH_DAYS if rep is not None and rep.hire_ns is not None else np.nan
    )
    if ctx is not None:
        k = bisect_left(ctx.close_ns, t)
        global_rate = ctx.won_cum[k] / max(k, 1) if k > 0 else np.nan
        n_rep, w_rep = (bisect_left(rep.close_ns, t), 0.0) if rep is not None else (0, 0.0)
        if rep is not None:
            w_rep = rep.won_cum[n_rep]
        f["rep_win_rate"] = (w_rep + PRIOR_DEALS * global_rate) / (n_rep + PRIOR_DEALS)
    else:
        f["rep_win_rate"] = np.nan
    # account attributes: the CRM's, overridden by what the request sends
    account_id = _text(deal.get("account_id"))
    known_acc = dict(ctx.accounts.get(account_id, {})) if ctx is not None and account_id is not None else {}
    if (
        ctx is not None
        and account_id is not None
        and account_id not in ctx.accounts
        and not deal.get("account")
    ):
        fallbacks.append(f"account {account_id!r} not in the CRM: account attributes unknown")
    for key in ctx.account_columns if ctx is not None else ():
        f.setdefault(key, known_acc.get(key))
    for k, v in (deal.get("account") or {}).items():
        f[f"account_{k}"] = v
    # stage reached, days in it and that age over the typical completed spell (features._stage_features)
    stage = _text(deal.get("stage"))
    entered = _ns(deal.get("stage_entered_date"))
    if stage is not None and entered is not None and entered > t:
        # as of the moment the stage is not reached yet: the as-of join of build_features sees no stage
        fallbacks.append(f"stage {stage} entered after as_of: stage unknown as of then")
        stage = None
    f["stage_rank"] = float(EVENT_RANK[stage]) if stage in EVENT_RANK else np.nan
    f["days_in_stage"] = (t - entered) / DAY_NS if stage is not None and entered is not None else np.nan
    f["stage_age_ratio"] = np.nan
    if stage is not None and entered is None:
        fallbacks.append("stage_entered_date missing: days in stage unknown")
    spells = ctx.spells.get(EVENT_RANK.get(stage, -1)) if ctx is not None and stage is not None else None
    if spells is not None and f["days_in_stage"] == f["days_in_stage"]:
        k = bisect_left(spells[0], t)
        if k >= MIN_SPELLS:
            f["stage_age_ratio"] = f["days_in_stage"] / max(spells[1][k - 1], 1.0)
    # close-date slips and days to the expected close as the model saw it (features._slip_features)
    n_slips = int(deal.get("n_slips") or 0)
    f["n_slips"] = float(n_slips)
    created = _ns(deal.get("created_date"))
    expected = _ns(deal.get("expected_close_date"))
    f["days_to_close"] = np.nan
    if n_slips > 0:
        if expected is None:
            fallbacks.append("expected_close_date missing on a deal that slipped: days to close unknown")
        else:
            f["days_to_close"] = (expected - t) / DAY_NS
    f["deal_age_days"] = (t - created) / DAY_NS if created is not None else np.nan
    if created is None:
        fallbacks.append("created_date missing: deal age unknown")
    return f, fallbacks


def unseen_levels(
    encoder: FeatureEncoder, rows: Sequence[Mapping[str, Any]], M: np.ndarray
) -> list[list[str]]:
    """Per row, the category values the model never saw in training (scored as unknown): worth telling the
    caller. Only cells whose code in the encoded ``M`` is missing are looked at (few), not every cell."""
    out: list[list[str]] = [[] for _ in rows]
    k = len(encoder.numeric)
    for j, c in enumerate(encoder.categorical):
        for i in np.flatnonzero(np.isnan(M[:, k + j])).tolist():
            v = rows[i].get(c)
            if v is not None and v == v and level_key(v) is not None:
                out[i].append(f"{c} {str(v)!r} not seen in training: treated as unknown")
    return out


def score_matrix(scorer: DealScorer, M: np.ndarray) -> dict[str, Any]:
    """p_win, score, grade and structured reasons of encoded rows: the numbers ``DealScorer.score_frame``
    gives (same ``explain_matrix``), with each reason as feature, direction, points and words."""
    e = scorer.explain_matrix(M)
    p = e["p"]
    return {
        "p_win": p,
        "score": np.clip(np.floor(100 * p + 0.5), 1, 99).astype(int),
        "grade": grades(p, scorer.grade_thresholds),
        "reasons": reason_records(e["points"], M, scorer.encoder_, scorer.n_reasons),
    }


def grades(p: np.ndarray, thresholds: Sequence[float]) -> list[str]:
    """``DealScorer.grade`` in plain Python (np.select costs more than the rest of a one-row score)."""
    a, b, c = thresholds
    return ["A" if x >= a else "B" if x >= b else "C" if x >= c else "D" for x in p.tolist()]


def reason_records(
    pts: np.ndarray, M: np.ndarray, encoder: FeatureEncoder, n_reasons: int = 3
) -> list[list[dict]]:
    """The reasons of ``models.deals.reasons.reason_lists`` (same choice and order: top ``n_reasons`` for,
    then top against, each at least MIN_POINTS) as records {feature, direction, contribution, text}."""
    pts = reason_points(pts, M, encoder)
    n, n_feat = pts.shape
    k = min(n_reasons, n_feat)
    order = np.argsort(-pts, axis=1, kind="stable")
    cols = np.concatenate([order[:, :k], order[:, ::-1][:, :k]], axis=1)
    v = np.take_along_axis(pts, cols, axis=1)
    sign = np.concatenate([np.ones((n, k)), -np.ones((n, k))], axis=1)
    ii, jj = np.nonzero(v * sign >= MIN_POINTS)
    feat = cols[ii, jj]
    vals = M[ii, feat]
    texts: dict[tuple[int, float | None], str] = {}  # NaN keyed as None: NaN != NaN would never hit
    names = encoder.features
    out: list[list[dict]] = [[] for _ in range(n)]
    for i, j, x, c in zip(ii.tolist(), feat.tolist(), vals.tolist(), v[ii, jj].tolist(), strict=True):
        key = (j, x if x == x else None)
        text = texts.get(key)
        if text is None:
            text = texts[key] = describe(names[j], encoder.value_text(j, x))
        out[i].append(
            {"feature": names[j], "direction": "-" if c < 0 else "+", "contribution": c, "text": text}
        )
    return out


def label(reason: Mapping[str, Any]) -> str:
    """The reason as ``reason_lists`` words it: "text: +N pts"."""
    r = min(int(np.floor(abs(reason["contribution"]) + 0.5)), 100)
    return f"{reason['text']}: {'−' if reason['contribution'] < 0 else '+'}{r} pts"


def encode_rows(encoder: FeatureEncoder, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Encoded matrix of feature dicts: ``FeatureEncoder.row`` for one deal (no pandas), the encoder's frame
    path for many (half the cost at 10k rows); the two agree exactly (tests/test_serving_deals.py)."""
    if len(rows) == 1:
        return encoder.row(rows[0])
    frame = pd.DataFrame.from_records(list(rows), columns=list(encoder.features))
    return encoder.matrix(frame)


def open_deal_fields(crm: CRMData, as_of: Any = None) -> list[dict[str, Any]]:
    """What a CRM would send the API for each open deal: its fields, the stage it reached and when, and the
    number of close-date moves so far (for clients, tests and benchmarks)."""
    o = crm.opportunities
    ev = crm.stage_events[~crm.stage_events["stage"].isin(["Won", "Lost"])]
    last = ev.sort_values(["opportunity_id", "ts"], kind="stable").groupby("opportunity_id").last()
    ch = crm.close_date_changes.sort_values(["opportunity_id", "ts"], kind="stable")
    slips, moved = ch.groupby("opportunity_id").size(), ch.groupby("opportunity_id").last()

    def day(v: Any) -> str | None:
        return None if pd.isna(v) else pd.Timestamp(v).date().isoformat()

    out = []
    for r in o[o["outcome"] == "open"].to_dict("records"):
        oid = r["opportunity_id"]
        stage = oid in last.index
        expected = (
            moved.at[oid, "expected_close_date"] if oid in moved.index else r.get("expected_close_date")
        )
        deal = {"opportunity_id": oid, "amount": None if pd.isna(r.get("amount")) else float(r["amount"]),
                "stage": last.at[oid, "stage"] if stage else None,
                "stage_entered_date": day(last.at[oid, "ts"]) if stage else None,
                "created_date": day(r.get("created_date")), "expected_close_date": day(expected),
                "n_slips": int(slips.get(oid, 0))}  # fmt: skip
        for c in ("product", "lead_source", "competitor", "region", "team", "rep_id", "account_id"):
            deal[c] = _text(r.get(c))
        if as_of is not None:
            deal["as_of"] = day(as_of)
        out.append(deal)
    return out
