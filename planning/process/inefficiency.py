"""The inefficiency finder: activity patterns that take many hours and buy few conversions, ranked by the
hours that could be saved, each with its evidence.

A *pattern* is the k-th (1st, 2nd, 3rd and later) activity of one type by one role on a deal in a stage,
done through one channel, with the travel that led to it. Its yield is measured by comparison: deals that
got it against deals that stopped before it (no activity of that type for the 1st; one to k − 1 of them,
whatever the channel, for the k-th: a visit is compared with no meeting, not with a video call), *within
each rep* (a
Mantel–Haenszel-style weighted difference over the deal owners, so a strong rep's habits are not credited
with their skill), on the deals whose stage is resolved (moved on or lost; open deals are left out). The
difference times the deals that got the pattern, per hour it cost, is the pattern's incremental conversions
per hour; the stage's own conversions per hour of all work in it is the yardstick. A pattern is flagged when
even the upper end of its interval is below ``yield_ratio`` of the yardstick and it takes at least
``min_share`` of the pre-sale hours; the hours it could save are its hours less those its conversions are
worth at the stage's rate. Patterns that merely track time in stage (chasing a stalled deal) show as
low-yield too: that is the time this finder is for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from salesplan.contracts import STAGES
from salesplan.errors import ConfigError
from salesplan.planning.process.data import OVERHEAD_TYPES, PRE_SALE, ProcessData

__all__ = ["Inefficiencies", "find_inefficiencies", "pattern_label", "score_findings"]

MAX_ORDINAL = 3  # the 3rd and later activities of a kind form one pattern
HALF_DAY_NS = 12 * 3600 * 10**9  # travel is charged to the same rep's next activity on the deal within this


@dataclass(frozen=True)
class Inefficiencies:
    """``patterns``: every pattern evaluated (hours, deals, conversion with vs without, the difference and
    its interval, yield per hour vs the stage's, ``flagged``, ``hours_saved``); ``findings``: the flagged
    ones, most hours saved first, each with ``evidence`` (a dict: reps, example deals, the comparison);
    ``activity_pattern``: the pattern id of each activity (aligned with ``ProcessData.activities``, −1
    for activities outside the pre-sale deal work)."""

    patterns: pd.DataFrame
    findings: pd.DataFrame
    benchmark: pd.DataFrame
    activity_pattern: np.ndarray


def pattern_label(row: Mapping[str, Any]) -> str:
    """'AE · Meet · meeting (visit) · 3rd and later' — how a pattern reads in a table."""
    k = int(row["ordinal"])
    nth = {1: "1st", 2: "2nd"}.get(k, f"{k}rd and later" if k == 3 else f"{k}th and later")
    return f"{row['role']} · {row['stage']} · {row['type']} ({row['channel']}) · {nth}"


def _tag(data: ProcessData, stages: Sequence[str]) -> dict[str, np.ndarray]:
    """Pre-sale deal activities as int arrays: family (role, stage, type), channel, ordinal among the same
    family on the deal (1, 2, 3 = 3rd and later, across channels), travel charged to the activity it led to
    (same person and deal, within 12 hours), the spell row, hours, and the row in the activities."""
    a = data.activities
    st = a["stage_code"].to_numpy()
    deal = a["deal"].to_numpy()
    rows = np.flatnonzero((deal >= 0) & np.isin(st, [STAGES.index(s) for s in stages]))
    role = a["role"].cat.codes.to_numpy()[rows].astype(np.int64)
    typ = a["type"].cat.codes.to_numpy()[rows].astype(np.int64)
    chan = a["channel"].cat.codes.to_numpy()[rows].astype(np.int64)
    over = np.isin(a["type"].cat.categories.to_numpy(), OVERHEAD_TYPES)[typ]
    t = a["started_at"].to_numpy("datetime64[ns]").view(np.int64)[rows]
    person, dl, sc = a["person"].to_numpy()[rows], deal[rows].astype(np.int64), st[rows].astype(np.int64)
    n_role, n_type = len(a["role"].cat.categories) + 1, len(a["type"].cat.categories) + 1
    fam = (role * len(STAGES) + sc) * n_type + typ
    work = np.flatnonzero(~over)
    # rows are in time order already (process_data sorts them): a stable sort on one int key keeps it
    key_all = dl * (n_role * len(STAGES) * n_type) + fam
    order = work[np.argsort(key_all[work], kind="stable")]
    key = key_all[order]
    first = np.r_[True, key[1:] != key[:-1]]
    pos = np.arange(order.size)
    ordinal = np.zeros(rows.size, np.int64)
    ordinal[order] = pos - np.maximum.accumulate(np.where(first, pos, 0)) + 1
    o2 = np.argsort(_small(person), kind="stable")
    cur, nxt = o2[:-1], o2[1:]
    charge = (
        over[cur]
        & ~over[nxt]
        & (person[cur] == person[nxt])
        & (dl[cur] == dl[nxt])
        & (t[nxt] - t[cur] <= HALF_DAY_NS)
    )
    src, dst = cur[charge], nxt[charge]
    fam2, chan2 = fam.copy(), chan.copy()
    fam2[src], chan2[src], ordinal[src] = fam[dst], chan[dst], ordinal[dst]
    ordinal[over & (ordinal == 0)] = 1  # travel to nothing on record: its own pattern
    n_deals = len(data.paths.frame)
    sp = data.spells
    spell_of = np.full((n_deals, len(STAGES)), -1, np.int64)
    spell_of[sp["deal"].to_numpy(), sp["stage_code"].to_numpy()] = np.arange(len(sp))
    return {"rows": rows, "fam": fam2, "chan": chan2, "ordinal": np.minimum(ordinal, MAX_ORDINAL), "over": over,
            "spell": spell_of[dl, sc], "hours": a["hours"].to_numpy()[rows], "person": person, "deal": dl,
            "n_type": np.array(n_type), "sc": sc}  # fmt: skip


def _small(x: np.ndarray) -> np.ndarray:
    """``x`` as int16 when it fits: NumPy's stable sort is a radix sort for 16-bit ints (linear time)."""
    return x.astype(np.int16) if x.size and x.min() >= 0 and x.max() < 2**15 else x


def _weighted_diff(rep: np.ndarray, y: np.ndarray, treated: np.ndarray, n_reps: int) -> tuple[float, float]:
    """Within-rep difference in conversion, treated − control, pooled with weights n_t·n_c/(n_t + n_c), and
    its standard error (add-½ rates in the variance so all-or-nothing strata still count)."""
    nt = np.bincount(rep[treated], minlength=n_reps).astype(float)
    nc = np.bincount(rep[~treated], minlength=n_reps).astype(float)
    yt = np.bincount(rep[treated], weights=y[treated], minlength=n_reps)
    yc = np.bincount(rep[~treated], weights=y[~treated], minlength=n_reps)
    ok = (nt > 0) & (nc > 0)
    if not ok.any():
        return np.nan, np.nan
    nt, nc, yt, yc = nt[ok], nc[ok], yt[ok], yc[ok]
    w = nt * nc / (nt + nc)
    pt, pc = yt / nt, yc / nc
    diff = float(np.sum(w * (pt - pc)) / w.sum())
    vt, vc = (yt + 0.5) / (nt + 1), (yc + 0.5) / (nc + 1)
    var = np.sum(w**2 * (vt * (1 - vt) / nt + vc * (1 - vc) / nc)) / w.sum() ** 2
    return diff, float(np.sqrt(var))


def find_inefficiencies(
    data: ProcessData, *, stages: Sequence[str] = PRE_SALE, min_share: float = 0.005, min_deals: int = 20,
    yield_ratio: float = 0.25, level: float = 0.95,
) -> Inefficiencies:  # fmt: skip
    """Evaluate every pattern of the pre-sale stages and flag the low-yield, high-hour ones (module doc).

    Defaults chosen on simulated worlds of other seeds than the benchmark scores (see benchmarks/process.py)."""
    if not 0 < yield_ratio < 1 or not 0 <= min_share < 1 or not 0 < level < 1:
        raise ConfigError("yield_ratio and level must be in (0, 1) and min_share in [0, 1)")
    g = _tag(data, stages)
    a = data.activities
    sp = data.spells
    status = sp["status"].to_numpy()
    moved = (status == 1).astype(float)
    resolved_sp = np.isin(status, [1, 2]) & sp["stage"].isin(list(stages)).to_numpy()
    owner = sp["owner"].to_numpy()
    n_reps = max(int(owner.max()) + 2, 1)
    spell = g["spell"]
    res_row = (spell >= 0) & resolved_sp[np.maximum(spell, 0)]
    sp_stage = sp["stage_code"].to_numpy()
    bench_rows = []
    for s in stages:
        code = STAGES.index(s)
        hours = float(g["hours"][res_row & (g["sc"] == code)].sum())
        at = resolved_sp & (sp_stage == code)
        conv = float(moved[at].sum())
        bench_rows.append({"stage": s, "spells": int(at.sum()), "conversions": conv, "hours": hours,
                           "conversions_per_hour": conv / hours if hours else np.nan})  # fmt: skip
    bench = pd.DataFrame(bench_rows).set_index("stage")
    total_hours = float(g["hours"].sum())
    z = float(stats.norm.ppf(level))
    n_chan = len(a["channel"].cat.categories) + 1
    pkey = (g["fam"] * n_chan + (g["chan"] + 1)) * (MAX_ORDINAL + 1) + g["ordinal"]
    codes, found = pd.factorize(pkey)  # hashing, O(n): faster than sorting millions of keys
    order = np.argsort(found)
    uniq = found[order]
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    pid = rank[codes]
    hours_all = np.bincount(pid, weights=g["hours"], minlength=uniq.size)
    hours_res = np.bincount(pid, weights=g["hours"] * res_row, minlength=uniq.size)
    acts = np.bincount(pid, weights=~g["over"], minlength=uniq.size)
    work = res_row & ~g["over"]
    roles, types = a["role"].cat.categories, a["type"].cat.categories
    chans = np.r_[["(none)"], a["channel"].cat.categories.to_numpy(dtype=object)]
    n_type = int(g["n_type"])
    rows = []
    w_idx = np.flatnonzero(work)
    w_idx = w_idx[np.argsort(_small(g["fam"][w_idx]), kind="stable")]  # one sort, then a slice per family
    w_fam, w_spell = g["fam"][w_idx], spell[w_idx]
    w_ck = g["chan"][w_idx] * (MAX_ORDINAL + 1) + g["ordinal"][w_idx]
    fams, starts = np.unique(w_fam, return_index=True)
    for f, lo, hi in zip(fams, starts, np.r_[starts[1:], w_fam.size], strict=True):
        f_spell, f_ck = w_spell[lo:hi], w_ck[lo:hi]
        n_per_spell = np.bincount(f_spell, minlength=len(sp)).astype(float)
        code = int((f // n_type) % len(STAGES))
        at = np.flatnonzero(resolved_sp & (sp_stage == code))
        n_s, y_s, r_s = n_per_spell[at], moved[at], owner[at] + 1
        role, typ = roles[int(f // n_type // len(STAGES))], types[int(f % n_type)]
        b = float(bench["conversions_per_hour"].to_numpy()[list(bench.index).index(STAGES[code])])
        for ck in np.unique(f_ck):
            c, k = int(ck // (MAX_ORDINAL + 1)), int(ck % (MAX_ORDINAL + 1))
            got = np.zeros(len(sp), bool)
            got[f_spell[f_ck == ck]] = True
            treated = got[at]
            group = treated | ((n_s == 0) if k == 1 else ((n_s >= 1) & (n_s < k)))
            n_t, n_c = int(treated.sum()), int((group & ~treated).sum())
            j = int(np.searchsorted(uniq, (f * n_chan + (c + 1)) * (MAX_ORDINAL + 1) + k))
            h_all, h_res = float(hours_all[j]), float(hours_res[j])
            diff, se = _weighted_diff(r_s[group], y_s[group], treated[group], n_reps)
            yld = diff * n_t / h_res if h_res else np.nan
            ucb = (diff + z * se) * n_t / h_res if h_res else np.nan
            ratio = yld / b if b else np.nan
            ok = n_t >= min_deals and n_c >= min_deals and bool(np.isfinite(ucb))
            rows.append({
                "pattern": j, "role": str(role), "stage": STAGES[code], "type": str(typ), "channel": str(chans[c + 1]),
                "ordinal": k, "activities": int(acts[j]), "hours": h_all, "share_of_hours": h_all / total_hours,
                "deals": n_t, "control_deals": n_c, "conv_with": float(y_s[treated].mean()),
                "conv_without": float(y_s[group & ~treated].mean()) if n_c else np.nan,
                "diff": diff, "diff_low": max(diff - z * se, -1.0), "diff_high": min(diff + z * se, 1.0),
                "conversions_per_hour": yld, "stage_conversions_per_hour": b, "yield_vs_stage": ratio,
                "evaluated": ok, "flagged": bool(ok and ucb < yield_ratio * b and h_all >= min_share * total_hours),
                "hours_saved": h_all * float(np.clip(1 - max(ratio, 0.0), 0, 1)) if np.isfinite(ratio) else 0.0,
            })  # fmt: skip
    patterns = pd.DataFrame(rows)
    patterns["label"] = [pattern_label(r) for r in rows]
    act_pattern = np.full(len(a), -1, np.int64)
    act_pattern[g["rows"]] = pid
    findings = (
        patterns[patterns["flagged"]].sort_values("hours_saved", ascending=False).reset_index(drop=True)
    )
    by_pid = np.argsort(_small(pid), kind="stable")
    sorted_pid = pid[by_pid]
    evidence: list[dict[str, Any]] = []
    for r in findings.to_dict("records"):
        lo, hi = np.searchsorted(sorted_pid, [r["pattern"], r["pattern"] + 1])
        evidence.append(_evidence(data, g, by_pid[lo:hi], {str(k): v for k, v in r.items()}))
    findings["evidence"] = pd.Series(evidence, index=findings.index, dtype=object)
    return Inefficiencies(patterns, findings, bench.reset_index(), act_pattern)


def _evidence(
    data: ProcessData, g: dict[str, np.ndarray], mine: np.ndarray, row: dict[str, Any]
) -> dict[str, Any]:
    """Who does it, on which deals, and the comparison that condemns it, in plain numbers (``mine``: the
    rows of the pattern in the tagged arrays)."""
    people = data.reps["rep_id"].to_numpy()
    by_person = np.bincount(g["person"][mine] + 1, weights=g["hours"][mine])
    top = np.argsort(-by_person)[:5]
    total = float(by_person.sum())
    status = data.spells["status"].to_numpy()
    spell = g["spell"][mine]
    lost = mine[(spell >= 0) & (status[np.maximum(spell, 0)] == 2)]
    deal_hours = pd.Series(g["hours"][lost]).groupby(g["deal"][lost]).sum().sort_values(ascending=False)
    ids = data.paths.frame["opportunity_id"].to_numpy()
    return {
        "reps": int((by_person > 0).sum()),
        "top_reps": [{"rep_id": str(people[i - 1]) if i > 0 else "(unknown)", "hours": round(float(by_person[i]), 1)}
                     for i in top if by_person[i] > 0],
        "rep_hours_share_top5": float(by_person[top].sum() / total) if total else 0.0,
        "example_lost_deals": [str(ids[d]) for d in deal_hours.index[:5]],
        "summary": (
            f"{row['deals']} deals got it and moved on {row['conv_with']:.0%} of the time vs "
            f"{row['conv_without']:.0%} for the {row['control_deals']} that stopped before it (same reps: "
            f"{row['diff']:+.0%}, 95 % {row['diff_low']:+.0%} to {row['diff_high']:+.0%}); "
            f"{row['hours']:,.0f} h at {row['conversions_per_hour']:.3f} conversions per hour vs "
            f"{row['stage_conversions_per_hour']:.3f} for all {row['stage']} work"
        ),
    }  # fmt: skip


def score_findings(findings: pd.DataFrame, planted: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Precision and recall of findings against known habits (each with role, stage, type, channel and the
    ordinal it starts at): a finding is right when it is the activity of a habit from that ordinal on; a
    habit is found when a finding is right about it."""
    hit = np.zeros(len(findings), bool)
    found = []
    for h in planted:
        m = ((findings["role"] == h["role"]) & (findings["stage"] == h["stage"]) & (findings["type"] == h["type"])
             & (findings["channel"] == h["channel"]) & (findings["ordinal"] >= h["min_ordinal"])).to_numpy()  # fmt: skip
        hit |= m
        found.append(bool(m.any()))
    n = len(findings)
    return {
        "precision": float(hit.sum() / n) if n else 0.0,
        "recall": float(np.mean(found)) if found else float("nan"),
        "findings": n,
        "true_findings": int(hit.sum()),
        "habits_found": [
            str(h.get("name", i)) for i, (h, f) in enumerate(zip(planted, found, strict=True)) if f
        ],
        "habits_missed": [
            str(h.get("name", i)) for i, (h, f) in enumerate(zip(planted, found, strict=True)) if not f
        ],
    }
