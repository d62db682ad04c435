"""Planted-leakage test of the deal scorer's leakage guard: simulated CRMs with post-outcome columns whose
truth is known (``SimConfig(crm_post_outcome_columns=True)``: ``simulator.crm.PLANTED_COLUMNS`` are drawn
from the outcome and recorded at or after the close; every other candidate column is honest).

Two paths, three worlds each (seeds 0-2, 4,000 opportunities):

- CRM with field history (what ``salesplan train deals --data`` sees): ``training_set`` + ``DealScorer``;
  the headline ``planted``/``planted_refused``/``honest``/``honest_refused``.
- The same deals exported as a plain table with no timestamps, open deals included with outcome ``open``
  (``--input table.csv --target outcome``): only leakage signals can speak; reported under
  ``plain_table``. A post-outcome column with an innocent name and a modest AUC (``profile_index``) is
  caught only because the open rows have it blank (a table of closed deals alone could not tell it from an
  honest one), and an honest column named like a score (``lead_score``) is refused until allowed
  (``--allow-feature lead_score``): that is the case for timestamps."""

from __future__ import annotations

from typing import Any

import pandas as pd

from salesplan.models.deals.features import training_set
from salesplan.models.deals.scorer import DealScorer
from salesplan.models.deals.table import table_training_set

WORLDS = (0, 1, 2)
TABLE_COLUMNS = (
    "opportunity_id", "created_date", "amount", "product", "lead_source", "competitor", "region", "team",
    "rep_id", "campaign", "lead_score", "budget_confirmed", "tags", "lead_quality", "activity_score",
    "profile_index", "outcome", "close_date",
)  # fmt: skip


def _count(report: pd.DataFrame, planted: set[str]) -> dict[str, int]:
    is_planted = report["feature"].isin(planted)
    refused = report["verdict"] == "refused"
    return {
        "planted": int(is_planted.sum()),
        "planted_refused": int((is_planted & refused).sum()),
        "honest": int((~is_planted).sum()),
        "honest_refused": int((~is_planted & refused).sum()),
    }


def _add(total: dict[str, int], part: dict[str, int]) -> None:
    for k, v in part.items():
        total[k] = total.get(k, 0) + v


def _verdicts(into: dict[str, dict[str, Any]], report: pd.DataFrame, planted: set[str]) -> None:
    for r in report.itertuples(index=False):
        row = into.setdefault(
            str(r.feature), {"truth": "planted" if r.feature in planted else "honest", "verdicts": []}
        )
        row["verdicts"].append(f"{r.verdict} ({r.basis})")


def run_leakage(worlds: tuple[int, ...] = WORLDS) -> dict[str, Any]:
    from salesplan.simulator import SimConfig, simulate
    from salesplan.simulator.crm import PLANTED_COLUMNS

    planted = set(PLANTED_COLUMNS)
    crm_total: dict[str, int] = {}
    table_total: dict[str, int] = {}
    crm_rows: dict[str, dict[str, Any]] = {}
    table_rows: dict[str, dict[str, Any]] = {}
    for seed in worlds:
        cfg = SimConfig(seed=seed, scale="small", n_opportunities=4000, crm_post_outcome_columns=True)
        crm = simulate(cfg).crm
        ts = training_set(crm)
        report = DealScorer(random_state=0).fit(ts.X, ts.y).leakage_report_.frame()
        _add(crm_total, _count(report, planted))
        _verdicts(crm_rows, report, planted)
        table = crm.opportunities[list(TABLE_COLUMNS)].copy()
        for c in ("created_date", "close_date"):
            table[c] = table[c].dt.strftime("%Y-%m-%d")
        tts = table_training_set(table, "outcome", id_column="opportunity_id", date_column="close_date")
        report = DealScorer(random_state=0).fit(tts.X, tts.y).leakage_report_.frame()
        _add(table_total, _count(report, planted))
        _verdicts(table_rows, report, planted)
    notes = (
        f"Worlds {list(worlds)} (small, 4,000 opportunities each); counts summed over the worlds. Planted: "
        f"{', '.join(sorted(planted))}. Honest: every other candidate feature (as-of features, deal, account "
        "and rep attributes, campaign, lead_score, budget_confirmed). Unusable columns (one value, dates) "
        "count as honest and not refused. The plain table keeps its open deals (outcome 'open'): they are "
        "not trained on, but show which columns are blank until a deal ends."
    )
    return {**crm_total, "plain_table": table_total, "notes": notes, "crm": crm_rows,
            "plain_table_columns": table_rows, "worlds": list(worlds)}  # fmt: skip
