"""Opportunity columns of a simulated CRM beyond the contract's (``SimConfig.crm_post_outcome_columns``):
honest ones set at creation and planted ones a sales team fills in at or after the outcome, with their
field history: the ground truth of the deal model's leakage test (``simulator.crm``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.simulator.config import SimConfig

__all__ = ["HONEST_COLUMNS", "PLANTED_COLUMNS", "extra_columns"]

PLANTED_COLUMNS = ("tags", "lead_quality", "activity_score", "profile_index")
"""Opportunity columns recorded at or after the close, drawn from the outcome (leaks)."""
HONEST_COLUMNS = ("campaign", "lead_score", "budget_confirmed")
"""Opportunity columns set at creation from the deal's drivers or at random (known before the outcome)."""
EARLY_TAGS = ("Ringing", "Interested", "No answer")
FINAL_TAGS = {
    "won": (("Closed by rep", "Contract signed", "Will revert after reading the email", "Busy"), (0.55, 0.2, 0.15, 0.1)),
    "lost": (("Lost to competitor", "Not interested", "Ringing", "Will revert after reading the email", "Busy"),
             (0.3, 0.25, 0.2, 0.15, 0.1)),
}  # fmt: skip
QUALITY = ("High in relevance", "Might be", "Not sure", "Low in relevance", "Worst")
QUALITY_P = {"won": (0.4, 0.3, 0.2, 0.08, 0.02), "lost": (0.05, 0.15, 0.3, 0.3, 0.2)}
CAMPAIGNS = ("Spring webinar", "Trade show", "Newsletter", "Partner day", "None")


def extra_columns(
    cfg: SimConfig, ids: np.ndarray, day0: np.ndarray, outcome: np.ndarray, close_day: np.ndarray,
    xb: np.ndarray, horizon: np.ndarray,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:  # fmt: skip
    """Honest columns set at creation and post-outcome columns set at or after the close (see the module
    doc), their current values (censored at the as-of date) and their field history."""
    rng = np.random.default_rng([cfg.seed, 25])  # a stream of its own: switching this on changes nothing else
    n = len(ids)
    closed = outcome != "open"
    won = outcome == "won"
    z = (xb - xb.mean()) / max(float(xb.std()), 1e-9)
    honest: dict[str, np.ndarray] = {
        "campaign": rng.choice(CAMPAIGNS, n),
        "lead_score": np.clip(np.round(50 + 12 * z + rng.normal(0, 12, n)), 0, 100),
        "budget_confirmed": np.where(rng.random(n) < 0.2, "unknown", np.where(rng.random(n) < 1 / (1 + np.exp(-z)), "yes", "no")),
    }  # fmt: skip
    early_tag = rng.choice(EARLY_TAGS, n)
    final_tag = np.empty(n, dtype=object)
    quality = np.empty(n, dtype=object)
    for kind in ("won", "lost"):
        m = outcome == kind
        tags, tp = FINAL_TAGS[kind]
        final_tag[m] = rng.choice(tags, int(m.sum()), p=tp)
        quality[m] = rng.choice(QUALITY, int(m.sum()), p=QUALITY_P[kind])
    activity = np.round(np.where(won, rng.normal(16.0, 2.0, n), rng.normal(13.5, 2.5, n)), 1)
    profile = np.round(np.where(won, rng.normal(1.0, 1.0, n), rng.normal(0.3, 1.0, n)), 2)
    # days after creation each post-outcome value is recorded: on the close day or up to two weeks later
    after = np.where(closed, np.nan_to_num(close_day) + rng.integers(0, 15, n), np.inf)
    seen = closed & (after <= horizon)
    rows: list[pd.DataFrame] = []

    def record(field: str, at: np.ndarray, values: np.ndarray, mask: np.ndarray) -> None:
        rows.append(pd.DataFrame({"opportunity_id": ids[mask], "field": field,
                                  "ts": (day0[mask] + at[mask].astype("timedelta64[D]")).astype("datetime64[ns]"),
                                  "value": pd.Series(values[mask]).astype(str).to_numpy(dtype=object)}))  # fmt: skip

    zero, everyone = np.zeros(n), np.ones(n, dtype=bool)
    for name, values in honest.items():
        record(name, zero, values, everyone)
    record("tags", zero, early_tag, everyone)
    record("tags", after, final_tag, seen)
    for name, values in (("lead_quality", quality), ("activity_score", activity), ("profile_index", profile)):
        record(name, after, values, seen)
    current = {
        **honest,
        "tags": np.where(seen, final_tag, early_tag),
        "lead_quality": np.where(seen, quality, np.array(None, dtype=object)),
        "activity_score": np.where(seen, activity, np.nan),
        "profile_index": np.where(seen, profile, np.nan),
    }
    history = pd.concat(rows, ignore_index=True).sort_values(["opportunity_id", "ts"], kind="stable")
    return current, history.reset_index(drop=True)
