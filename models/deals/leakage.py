"""Leakage guard: for every candidate feature, evidence that its value is known before the outcome.

Evidence, strongest first:

1. **Timestamps.** Features built as of each snapshot from dated history (stage events, close-date moves,
   hire and close dates; :mod:`models.deals.features`) are kept. An opportunity column with a field
   history (``CRMData.field_history``) is refused when the history shows it first set or changed at or
   after the close in at least :data:`AFTER_CLOSE_SHARE` of the closed deals, and no flag keeps it; when
   every change precedes the close it is kept.
2. **Signals**, for everything else (plain tables, attributes without history): a name that says outcome
   or after-the-call judgement (:data:`SUSPECT_WORDS`: status, stage, tag, quality, score, reason,
   result, closed, ...), a single-feature AUC of at least ``max_auc``, or a frequent level that is almost
   always won or always lost (:data:`PURE_RATE`). Any signal refuses the feature unless the user names it
   in ``allow`` (``--allow-feature NAME``): a signal is a suspicion, not proof, and the user may know
   better (a marketing "lead score" set at creation is fine). A plain table that still holds its open rows
   adds one more (:func:`open_row_evidence`): a column filled in the closed rows but mostly blank in the
   open ones is filled in when the deal closes.

Columns named exactly like the outcome or its by-products (:data:`LEAKY_COLUMNS`) are refused the same
way. :class:`LeakageReport` keeps the verdict of every feature for the training report."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from salesplan.errors import ConfigError

LEAKY_COLUMNS: frozenset[str] = frozenset(
    {
        "close_date", "won_value", "close_value", "outcome", "won", "is_won", "lost", "is_lost",
        "label", "target", "status", "deal_stage", "stage", "final_stage", "expected_close_date",
        "closed", "is_closed", "close_reason", "loss_reason", "lost_reason", "won_amount",
        "actual_value", "days_to_close_actual", "sales_cycle_days", "engage_to_close_days",
    }
)  # fmt: skip
"""Outcome-derived or known only after the close (``stage``/``expected_close_date`` on the opportunity
are their *latest* values)."""
SUSPECT_WORDS: frozenset[str] = frozenset(
    {
        "status", "stage", "tag", "quality", "score", "scoring", "reason", "result", "closed", "close",
        "outcome", "won", "lost", "win", "loss", "final", "disposition", "converted", "conversion",
    }
)  # fmt: skip
"""Words (of a column name split at ``_``, spaces and camelCase; plurals too) that name an outcome or a
judgement the sales team records after talking to the lead."""
AFTER_CLOSE_SHARE = 0.01
"""A field set or changed after the close in at least this share of closed deals is refused: one stray
correction in thousands of deals is not a post-outcome field."""
PURE_RATE = 0.01
"""A level whose win rate is within this of 0 or 1 is near-deterministic ..."""
PURE_MIN_SHARE, PURE_MIN_DEALS = 0.05, 30
"""... when it holds at least this share of the rows and this many deals."""
OPEN_FILL_GAP, MIN_OPEN_ROWS = 0.5, 20
"""A column filled in this much larger a share of the closed rows than of the open ones (at least this many)
is suspect: honest columns are filled alike whatever the outcome."""
MAX_AUC = 0.85
SIGNAL_ROWS = 10_000
"""Signals are measured on at most this many rows (whole deals drawn at random, seeded): an AUC or a
level's win rate on 10,000 rows is within about ±0.01 of the whole set's."""


@dataclass(frozen=True)
class Evidence:
    """What the data's timestamps say about when a feature's value was known."""

    basis: str  # "as-of" (built from dated history as of the snapshot), "field history" or "open rows"
    detail: str
    after_close: bool = False  # proof: set after the close (refused whatever the flags)
    suspect: bool = False  # a signal only (refused unless allowed), not evidence that clears the feature


@dataclass(frozen=True)
class Verdict:
    """One feature's verdict: ``kept``, ``allowed`` (suspect, kept by the user's flag), ``refused`` or
    ``unusable`` (one value, an identifier or a date)."""

    feature: str
    verdict: str
    basis: str
    why: str
    auc: float

    @property
    def keep(self) -> bool:
        return self.verdict in ("kept", "allowed")


@dataclass(frozen=True)
class LeakageReport:
    """Verdicts of every candidate feature, in column order."""

    verdicts: tuple[Verdict, ...]

    @property
    def kept(self) -> list[str]:
        return [v.feature for v in self.verdicts if v.keep]

    @property
    def refused(self) -> list[str]:
        return [v.feature for v in self.verdicts if v.verdict == "refused"]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(v.feature, v.verdict, v.basis, v.auc, v.why) for v in self.verdicts],
            columns=["feature", "verdict", "basis", "auc", "why"],
        )

    def refusal_text(self) -> str:
        """The refused features, one line each, with how to keep the suspect ones."""
        lines = [f"- {v.feature}: {v.why}" for v in self.verdicts if v.verdict == "refused"]
        return "\n".join(lines)


def name_words(name: str) -> list[str]:
    """``"Lead Quality"`` → [lead, quality]; ``"closeReason"`` → [close, reason]."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name))
    return re.findall(r"[a-z]+", spaced.lower())


def suspect_name(name: str) -> str | None:
    """The word of ``name`` that makes it suspect, if any."""
    if str(name).lower() in LEAKY_COLUMNS:
        return str(name).lower()
    for w in name_words(name):
        if w in SUSPECT_WORDS or (w.endswith("s") and w[:-1] in SUSPECT_WORDS):
            return w
    return None


def single_feature_auc(col: pd.Series, y: np.ndarray) -> float:
    """How well one column alone separates won from lost, as max(AUC, 1 − AUC). Categories are scored by
    2-fold target means (so a many-level id column is not mistaken for a leak); numbers as they are, with
    missing values put at whichever end separates better (missingness itself can be the leak)."""
    y = np.asarray(y, dtype=int)
    if y.min() == y.max():
        return float("nan")
    if _is_categorical(col):
        codes = _codes(col)
        fold = np.random.default_rng(7919).permutation(len(y)) % 2
        score = np.full(len(y), float(y.mean()))
        for f in (0, 1):
            fit, use = fold != f, fold == f
            n = np.bincount(codes[fit], minlength=codes.max() + 1)
            won = np.bincount(codes[fit], weights=y[fit], minlength=codes.max() + 1)
            seen = n[codes[use]] > 0
            score[np.flatnonzero(use)[seen]] = (won / np.maximum(n, 1))[codes[use][seen]]
        return _auc(y, score)
    v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    miss = np.isnan(v)
    if miss.all():
        return float("nan")
    if not miss.any():
        return _auc(y, v)
    lo, hi = np.nanmin(v) - 1.0, np.nanmax(v) + 1.0
    return max(_auc(y, np.where(miss, lo, v)), _auc(y, np.where(miss, hi, v)))


def _codes(col: pd.Series) -> np.ndarray:
    """Integer code per row, missing values one more level."""
    return pd.factorize(col.astype("string"), use_na_sentinel=False)[0]


def _auc(y: np.ndarray, v: np.ndarray) -> float:
    """Mann-Whitney AUC from average ranks (scikit-learn's roc_auc_score gives the same; its input checks
    cost more than the sum over a few thousand rows, and the guard scores every column)."""
    n1 = int(y.sum())
    n0 = len(y) - n1
    if np.ptp(v) == 0 or n1 == 0 or n0 == 0:
        return 0.5
    a = (float(rankdata(v)[y == 1].sum()) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return max(a, 1.0 - a)


def pure_levels(col: pd.Series, y: np.ndarray, groups: np.ndarray) -> list[str]:
    """Frequent levels (missing included) that are almost always won or almost always lost."""
    y = np.asarray(y, dtype=float)
    rate = y.mean()
    if rate <= PURE_RATE or rate >= 1 - PURE_RATE:
        return []
    if not _is_categorical(col) and pd.to_numeric(col, errors="coerce").nunique() > 12:
        key = col.isna().map({True: "(missing)", False: "(a value)"})
    else:
        key = col.astype("string").fillna("(missing)")
    codes, levels = pd.factorize(key)
    n = np.bincount(codes, minlength=len(levels))
    won = np.bincount(codes, weights=y, minlength=len(levels)) / np.maximum(n, 1)
    big = np.flatnonzero((n >= PURE_MIN_SHARE * len(y)) & ((won <= PURE_RATE) | (won >= 1 - PURE_RATE)))
    out = []
    for k in big:
        deals = len(np.unique(groups[codes == k]))
        if deals >= PURE_MIN_DEALS:
            out.append(f"{levels[int(k)]!s} ({won[k]:.0%} won)")
    return out


def assess_features(
    X: pd.DataFrame,
    y: np.ndarray,
    features: Sequence[str],
    *,
    groups: np.ndarray | None = None,
    evidence: Mapping[str, Evidence] | None = None,
    allow: Iterable[str] = (),
    max_auc: float = MAX_AUC,
) -> LeakageReport:
    """The verdict of every candidate feature (see the module doc). Raises ``ConfigError`` when ``allow``
    names a column that is not a candidate or one the field history shows set after the close."""
    ev = dict(evidence or {})
    allowed = set(allow)
    unknown = sorted(allowed - set(features))
    if unknown:
        raise ConfigError(
            f"--allow-feature {', '.join(unknown)}: not a candidate feature; candidates are "
            f"{', '.join(map(str, features))}"
        )
    g = np.arange(len(X)) if groups is None else np.asarray(groups)
    rows = _sample_rows(g, SIGNAL_ROWS)
    Xs, ys, gs = X.iloc[rows], np.asarray(y)[rows], g[rows]
    n_deals = len(pd.unique(pd.Series(g)))
    out = []
    for f in features:
        full, col = X[f], Xs[f]  # types and counts on every row, signals on the sample
        e = ev.get(f)
        if e is not None and e.after_close:  # proof beats all: refused even when constant as of snapshots
            if f in allowed:
                raise ConfigError(
                    f"--allow-feature {f}: the field history shows it set after the close ({e.detail}); "
                    "a value recorded after the outcome cannot be kept"
                )
            out.append(Verdict(f, "refused", e.basis, e.detail, single_feature_auc(col, ys)))
            continue
        if pd.api.types.is_datetime64_any_dtype(full):
            out.append(Verdict(f, "unusable", "type", "a date: give it as an age as of the snapshot", np.nan))
            continue
        distinct = full.nunique(dropna=True)
        if full.nunique(dropna=False) <= 1:  # a value and blanks still tell deals apart
            what = "blank in every closed deal" if distinct == 0 else "one value in every closed deal"
            out.append(Verdict(f, "unusable", "type", what, np.nan))
            continue
        if _is_categorical(full) and distinct >= 0.9 * n_deals and distinct > 50:
            out.append(Verdict(f, "unusable", "type", "a different value for nearly every deal (an id or "
                                                        "free text)", np.nan))  # fmt: skip
            continue
        auc = single_feature_auc(col, ys)
        if e is not None and not e.suspect:
            out.append(Verdict(f, "kept", e.basis, e.detail, auc))
            continue
        signals = _signals(f, col, ys, gs, auc, max_auc) + ([e.detail] if e is not None else [])
        if not signals:
            out.append(Verdict(f, "kept", "signals", "no timestamps; no leakage signal", auc))
        elif f in allowed:
            out.append(Verdict(f, "allowed", "signals", "kept by --allow-feature despite: " + "; ".join(signals), auc))  # fmt: skip
        else:
            why = "; ".join(signals) + f" (no timestamps to clear it: keep it with --allow-feature {f})"
            out.append(Verdict(f, "refused", "signals", why, auc))
    return LeakageReport(tuple(out))


def open_row_evidence(
    closed: pd.DataFrame, open_rows: pd.DataFrame, columns: Iterable[str]
) -> dict[str, Evidence]:
    """Suspect evidence for the columns much more often filled in ``closed`` rows than in ``open_rows``
    (blank text counts as unfilled): tags, ratings and notes a team records when a deal ends. Nothing when
    there are fewer than :data:`MIN_OPEN_ROWS` open rows."""
    if len(open_rows) < MIN_OPEN_ROWS or not len(closed):
        return {}

    def filled(col: pd.Series) -> float:
        text = col.astype("string").str.strip()
        return float((col.notna() & text.fillna("").ne("")).mean())

    out = {}
    for c in columns:
        done, still = filled(closed[c]), filled(open_rows[c])
        if done - still >= OPEN_FILL_GAP:
            out[str(c)] = Evidence(
                "open rows",
                f"filled in {done:.0%} of the closed rows but {still:.0%} of the {len(open_rows):,} open ones: "
                "it looks filled in when the deal ends",
                suspect=True,
            )
    return out


def _signals(f: str, col: pd.Series, y: np.ndarray, g: np.ndarray, auc: float, max_auc: float) -> list[str]:
    out = []
    word = suspect_name(f)
    if word is not None:
        out.append(f"its name ({word!r}) suggests a value recorded at or after the outcome")
    if auc == auc and auc >= max_auc:
        out.append(f"alone it separates won from lost with AUC {auc:.3f} (≥ {max_auc})")
    pure = pure_levels(col, y, g)
    if pure:
        out.append("near-deterministic level(s): " + ", ".join(pure[:3]))
    return out


def _sample_rows(g: np.ndarray, limit: int) -> np.ndarray:
    """All rows, or the rows of whole deals drawn at random (seeded) adding up to about ``limit``."""
    if len(g) <= limit:
        return np.arange(len(g))
    codes = pd.factorize(pd.Series(g), use_na_sentinel=False)[0]
    size = np.bincount(codes)
    order = np.random.default_rng(7919).permutation(len(size))
    take = np.zeros(len(size), dtype=bool)
    take[order[np.cumsum(size[order]) <= limit]] = True
    return np.flatnonzero(take[codes])


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
