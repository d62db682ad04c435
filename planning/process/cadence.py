"""The standard cadence: how the best-performing quartile of reps works each pre-sale stage (how soon after a
deal enters it they act, how many actions, how far apart), each rep's adherence to it, and what keeping it
is worth in conversion — measured within reps, not across them.

Adherence is judged at a *landmark*: a deal still in the stage on day X (the cadence's deadline) kept
cadence if its owner had acted by then. Judging it over the whole stay instead would credit quick deals
with adherence merely for being quick (the immortal-time bias of survival analysis). The effect is the
Mantel–Haenszel odds ratio of moving on, adherent vs not, over strata of one rep and one stage (statsmodels
``StratifiedTable``): the same rep's deals compared with each other, so reps who both keep cadence and win
more for other reasons (skill) do not inflate it. The naive across-rep correlation is reported beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from salesplan.errors import InsufficientDataError
from salesplan.planning.process.data import OVERHEAD_TYPES, PRE_SALE, ProcessData

__all__ = ["Cadence", "rep_win_rates", "standard_cadence"]


@dataclass(frozen=True)
class Cadence:
    """``standard``: per stage the recommendation (``first_within_days``, ``actions``, ``spacing_days``) and
    the sentence that says it; ``spells``: per deal and stage the observed timing and, at the landmark,
    ``adherent``; ``reps``: per rep adherence, win rate and quartile; ``effect``: the within-rep odds ratio
    with its interval, the risk difference, the naive correlation; ``top_reps``: the quartile used."""

    standard: pd.DataFrame
    spells: pd.DataFrame
    reps: pd.DataFrame
    effect: dict[str, Any]
    top_reps: tuple[str, ...]


def rep_win_rates(data: ProcessData, min_closed: int = 10) -> pd.DataFrame:
    """Won / closed deals per deal owner (owners with at least ``min_closed`` closed deals are ranked)."""
    d = data.paths.frame
    owner = d["owner"].to_numpy() + 1
    outcome = d["outcome"].to_numpy()
    n = len(data.reps) + 1
    closed = np.bincount(owner, weights=np.isin(outcome, ["won", "lost"]), minlength=n)
    won = np.bincount(owner, weights=outcome == "won", minlength=n)
    ids = np.r_[["(unknown)"], data.reps["rep_id"].astype(str).to_numpy()]
    out = pd.DataFrame({"owner": np.arange(n) - 1, "rep_id": ids, "closed": closed, "won": won})
    out = out[out["closed"] > 0].copy()
    out["win_rate"] = out["won"] / out["closed"]
    out["ranked"] = out["closed"] >= min_closed
    return out.reset_index(drop=True)


def _spell_timing(data: ProcessData) -> pd.DataFrame:
    """Per pre-sale spell: owner, entry, status, days in stage, and the owner's own actions in it (first,
    count, median and longest gap), from int codes and sorted arrays."""
    sp = data.spells
    keep = sp["stage_code"].to_numpy() < len(PRE_SALE)
    keep &= sp["days"].notna().to_numpy() & ~sp["skipped"].to_numpy(bool)
    sp = sp.loc[keep, ["deal", "owner", "stage", "stage_code", "entry", "days", "status"]].reset_index(
        drop=True
    )
    a = data.activities
    deal, st = a["deal"].to_numpy(), a["stage_code"].to_numpy()
    over = np.isin(a["type"].cat.categories.to_numpy(), OVERHEAD_TYPES)[a["type"].cat.codes.to_numpy()]
    m = (
        (deal >= 0)
        & (st >= 0)
        & (st < len(PRE_SALE))
        & ~over
        & (a["person"].to_numpy() == a["owner"].to_numpy())
    )
    spell_of = np.full((len(data.paths.frame), len(PRE_SALE)), -1, np.int64)
    spell_of[sp["deal"].to_numpy(), sp["stage_code"].to_numpy()] = np.arange(len(sp))
    spell = spell_of[deal[m], st[m]]
    t = a["started_at"].to_numpy("datetime64[ns]")[m]
    ok = spell >= 0
    spell, t = spell[ok], t[ok]
    day = (t - sp["entry"].to_numpy("datetime64[ns]")[spell]) / np.timedelta64(1, "D")
    ok = day >= -1.0
    spell, day = spell[ok], day[ok]
    order = np.argsort(spell, kind="stable")  # rows are in time order: within a spell, day order
    spell, day = spell[order], day[order]
    n = len(sp)
    first_row = np.r_[True, spell[1:] != spell[:-1]]
    first = np.full(n, np.nan)
    first[spell[first_row]] = day[first_row]
    gap = np.where(first_row, np.nan, np.r_[np.nan, np.diff(day)])
    has_gap = ~np.isnan(gap)
    med = pd.Series(gap[has_gap]).groupby(spell[has_gap]).median()
    longest = np.full(n, np.nan)
    longest[med.index.to_numpy()] = pd.Series(gap[has_gap]).groupby(spell[has_gap]).max().to_numpy()
    sp["first_day"] = first
    sp["actions"] = np.bincount(spell, minlength=n)
    sp["median_gap"] = med.reindex(np.arange(n)).to_numpy()
    sp["max_gap"] = longest
    return sp


def standard_cadence(data: ProcessData, *, min_closed: int = 10, quantile: float = 0.75) -> Cadence:
    """The cadence of the best quartile of reps (by win rate over closed deals), adherence to it and its
    measured relation to conversion (module doc). ``quantile``: the share of the top reps' deals that acted
    within the recommended first-action deadline."""
    wr = rep_win_rates(data, min_closed)
    ranked = wr[wr["ranked"] & (wr["owner"] >= 0)]
    if len(ranked) < 4:
        raise InsufficientDataError(
            f"only {len(ranked)} reps have {min_closed}+ closed deals; a best quartile needs 4 or more. "
            "Fix: lower min_closed or use a longer history"
        )
    cut = ranked["win_rate"].quantile(0.75)
    top_owner = ranked.loc[ranked["win_rate"] >= cut, "owner"].to_numpy()
    sp = _spell_timing(data)
    sp["top"] = np.isin(sp["owner"].to_numpy(), top_owner)
    resolved = sp["status"].isin([1, 2]).to_numpy()
    rows = []
    for s in PRE_SALE:
        t = sp[(sp["stage"] == s).to_numpy() & sp["top"].to_numpy() & resolved]
        acted = t[t["actions"] > 0]
        if acted.empty:
            continue
        within = float(np.ceil(max(acted["first_day"].quantile(quantile), 0.0)))
        moved = acted["status"] == 1
        actions = int(np.round(acted.loc[moved, "actions"].median())) if moved.any() else 1
        spacing = (
            float(np.round(acted["median_gap"].median(), 1)) if acted["median_gap"].notna().any() else np.nan
        )
        nxt = PRE_SALE[PRE_SALE.index(s) + 1] if s != PRE_SALE[-1] else "Sign"
        text = f"within {within:g} days of {s}, a first action; about {actions} actions"
        if np.isfinite(spacing) and actions > 1:
            text += f" {spacing:g} days apart"
        rows.append({"stage": s, "first_within_days": within, "actions": actions, "spacing_days": spacing,
                     "top_deals": len(acted), "text": text + f" until {nxt}"})  # fmt: skip
    standard = pd.DataFrame(rows)
    deadline = sp["stage"].map(standard.set_index("stage")["first_within_days"]).to_numpy(float)
    sp["landmark"] = (sp["days"].to_numpy() >= deadline) & np.isfinite(deadline)
    adherent = sp["first_day"].to_numpy() <= deadline
    sp["adherent"] = np.where(sp["landmark"], adherent.astype(float), np.nan)
    reps = _rep_adherence(sp, wr, data)
    effect = _effect(sp, reps)
    ids = data.reps["rep_id"].astype(str).to_numpy()
    sp.insert(
        0, "opportunity_id", data.paths.frame["opportunity_id"].astype(str).to_numpy()[sp["deal"].to_numpy()]
    )
    sp.insert(
        1, "rep_id", np.where(sp["owner"] >= 0, ids[np.maximum(sp["owner"].to_numpy(), 0)], "(unknown)")
    )
    return Cadence(standard, sp, reps, effect, tuple(sorted(ids[top_owner])))


def _rep_adherence(sp: pd.DataFrame, wr: pd.DataFrame, data: ProcessData) -> pd.DataFrame:
    n = len(data.reps) + 1
    owner = sp["owner"].to_numpy() + 1
    lm = sp["landmark"].to_numpy()
    n_lm = np.bincount(owner[lm], minlength=n)
    adh = np.bincount(owner[lm], weights=sp["adherent"].to_numpy()[lm], minlength=n)
    out = pd.DataFrame({"owner": np.arange(n) - 1, "landmark_deals": n_lm})
    out["adherence"] = np.where(n_lm > 0, adh / np.maximum(n_lm, 1), np.nan)
    out["median_spacing_days"] = sp.groupby(owner)["median_gap"].median().reindex(np.arange(n)).to_numpy()
    out["median_first_action_days"] = sp.groupby(owner)["first_day"].median().reindex(np.arange(n)).to_numpy()
    out = wr.merge(out, on="owner", how="left")
    out["top_quartile"] = False
    ranked = out["ranked"].to_numpy(bool)
    if ranked.any():
        out.loc[ranked, "top_quartile"] = out.loc[ranked, "win_rate"] >= out.loc[ranked, "win_rate"].quantile(
            0.75
        )
    return out


def _effect(sp: pd.DataFrame, reps: pd.DataFrame) -> dict[str, Any]:
    """Within-rep Mantel–Haenszel odds ratio (strata: rep × stage) of moving on after the landmark, the
    pooled within-stratum risk difference, and the across-rep Spearman correlation for contrast."""
    lm = sp[sp["landmark"].to_numpy() & sp["status"].isin([1, 2]).to_numpy()]
    stratum = (lm["owner"].to_numpy() + 1) * len(PRE_SALE) + lm["stage_code"].to_numpy()
    _, k = np.unique(stratum, return_inverse=True)
    cell = k * 4 + (1 - lm["adherent"].to_numpy().astype(int)) * 2 + (lm["status"].to_numpy() != 1)
    arr = np.bincount(cell, minlength=4 * (k.max() + 1 if k.size else 0)).reshape(-1, 2, 2).astype(float)
    arr = arr[(arr[:, 0].sum(axis=1) > 0) & (arr[:, 1].sum(axis=1) > 0)]
    out: dict[str, Any] = {"strata": len(arr), "landmark_deals": len(lm)}
    if len(arr):
        st = StratifiedTable(np.transpose(arr, (1, 2, 0)))
        lo, hi = st.logodds_pooled_confint()
        out.update(log_odds=float(st.logodds_pooled), log_odds_low=float(lo), log_odds_high=float(hi),
                   odds_ratio=float(np.exp(st.logodds_pooled)), p_value=float(st.test_null_odds().pvalue))  # fmt: skip
        n1, n0 = arr[:, 0].sum(axis=1), arr[:, 1].sum(axis=1)
        w = n1 * n0 / (n1 + n0)
        rd = arr[:, 0, 0] / n1 - arr[:, 1, 0] / n0
        out["risk_difference"] = float(np.sum(w * rd) / w.sum())
    else:
        out.update(log_odds=np.nan, log_odds_low=np.nan, log_odds_high=np.nan, odds_ratio=np.nan,
                   p_value=np.nan, risk_difference=np.nan)  # fmt: skip
    r = reps.dropna(subset=["adherence", "win_rate"])
    r = r[r["ranked"].astype(bool)]
    rho = stats.spearmanr(r["adherence"], r["win_rate"]).statistic if len(r) >= 3 else np.nan
    out["across_rep_spearman"] = float(rho)
    out["adherence_rate"] = float(np.nanmean(lm["adherent"].to_numpy())) if len(lm) else np.nan
    return out
