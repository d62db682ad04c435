"""``salesplan train deals``, ``salesplan score deals`` and ``salesplan pipeline``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, progress
from salesplan.cli._sources import crm_source
from salesplan.cli.app import app, score_app, train_app
from salesplan.errors import ConfigError

if TYPE_CHECKING:
    from salesplan.contracts import CRMData
    from salesplan.models.deals import DealScorer
    from salesplan.training.deals_job import DealsTraining

DataOpt = Annotated[Path | None, typer.Option(help="A CRM folder (reps, opportunities, ... as CSV/Parquet).")]
DatasetOpt = Annotated[
    str | None, typer.Option(help="A real CRM set from SALESPLAN_DATA_DIR: maven, salvirt.")
]


@train_app.command("deals")
@clean_errors
def train_deals_cmd(
    data: DataOpt = None,
    simulated: SimOpt = False,
    dataset: DatasetOpt = None,
    input: Annotated[
        Path | None,
        typer.Option(help="Or a plain table (.csv/.parquet): one row per deal or lead; needs --target."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="With --input: the outcome column (won/lost, 1/0, yes/no; open = blank)."),
    ] = None,
    id: Annotated[str | None, typer.Option("--id", help="With --input: the deal id column.")] = None,
    date: Annotated[
        str | None, typer.Option(help="With --input: a date column; the holdout is then the latest rows.")
    ] = None,
    allow_feature: Annotated[
        list[str] | None,
        typer.Option(help="Keep a feature the leakage guard suspects (repeat for several)."),
    ] = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    holdout: Annotated[float, typer.Option(help="Share of the latest closes the gate compares on.")] = 0.2,
    min_won: Annotated[int, typer.Option(help="Refuse to train below this many won deals.")] = 40,
    min_lost: Annotated[int, typer.Option(help="Refuse to train below this many lost deals.")] = 40,
) -> None:
    """Train the deal-win model on a CRM or a plain table, log it to MLflow with the leakage guard's verdict
    on every feature, and make it champion only if it passes the gate."""
    from salesplan.training.deals_job import train_deals, train_deals_table

    if not 0 < holdout < 0.5:
        raise ConfigError(f"--holdout must be in (0, 0.5), got {holdout}")
    params = {"min_won": min_won, "min_lost": min_lost, "allow_features": tuple(allow_feature or ())}
    if input is None:
        if target or id or date:
            raise ConfigError("--target, --id and --date go with --input (a plain table)")
        crm, source = crm_source(data, simulated, dataset, seed, scale)
        with progress(f"training the deal model on {source}"):
            result = train_deals(crm, params=params, holdout_fraction=holdout, source=source)
    else:
        from salesplan.io import read_table

        if data or simulated or dataset:
            raise ConfigError("give either --input (a plain table) or one CRM source, not both")
        if not target:
            raise ConfigError("--input needs --target COLUMN: the outcome column of the table")
        table = read_table(input)
        with progress(f"training the deal model on {input.name}"):
            result = train_deals_table(
                table, target, id_column=id, date_column=date, params=params, holdout_fraction=holdout,
                source=input.name,
            )  # fmt: skip
    print_deals_training(result)


def print_deals_training(result: DealsTraining) -> None:
    t = Table(title=f"deal model {result.ref.name} v{result.ref.version} → {result.ref.alias}")
    for col in ("metric", result.holdout_label, "validation (nested cross-fit, all rows)"):
        t.add_column(col)
    for m in ("auc", "brier", "logloss", "ece"):
        t.add_row(m, f"{result.holdout[m]:.4f}", f"{float(result.validation[m]):.4f}")
    console.print(t)
    console.print(
        f"model {result.scorer.model_name}, {result.n_deals:,} closed deals; run {result.ref.run_id}",
        soft_wrap=True,
    )
    console.print(f"gate: {result.decision.reason}", soft_wrap=True)
    print_leakage(result.leakage)


def print_leakage(report: pd.DataFrame) -> None:
    """Every candidate feature with the leakage guard's verdict and its evidence."""
    t = Table(title="features: leakage guard")
    for col in ("feature", "verdict", "evidence", "AUC alone", "why"):
        t.add_column(col, justify="right" if col == "AUC alone" else "left")
    style = {"kept": "green", "allowed": "yellow", "refused": "red", "unusable": "dim"}
    for r in report.to_dict("records"):
        auc = "" if r["auc"] != r["auc"] else f"{float(r['auc']):.3f}"
        verdict = str(r["verdict"])
        t.add_row(
            str(r["feature"]), f"[{style.get(verdict, '')}]{verdict}[/]", str(r["basis"]), auc, str(r["why"])
        )
    console.print(t)
    refused = report[report["verdict"] == "refused"]
    if len(refused):
        console.print(
            f"[red]{len(refused)} feature(s) refused[/]: {', '.join(map(str, refused['feature']))}. Suspects "
            "(evidence 'signals') can be kept with --allow-feature NAME once you know they are set before "
            "the outcome.",
            soft_wrap=True,
        )


@score_app.command("deals")
@clean_errors
def score_deals_cmd(
    out: Annotated[Path, typer.Option(help="Where to write the scores (.csv or .parquet).")],
    input: Annotated[
        Path | None, typer.Option(help="Deal feature rows (.csv/.parquet), one per open deal.")
    ] = None,
    crm: Annotated[
        Path | None, typer.Option(help="Or a CRM folder: score its open deals as of its last date.")
    ] = None,
    model: Annotated[str, typer.Option(help="Registry alias or version of salesplan-deals.")] = "champion",
    id: Annotated[
        str | None, typer.Option("--id", help="With --input: the column naming each deal in the output.")
    ] = None,
) -> None:
    """Score open deals with a registered model: p_win, score 1–99, grade A–D and reasons."""
    from salesplan.io import read_crm, read_table, write_table
    from salesplan.models.registry import DEALS_MODEL, load_deal_scorer

    if (input is None) == (crm is None):
        raise ConfigError("give exactly one of --input (feature rows) or --crm (a CRM folder)")
    scorer, ref = load_deal_scorer(model)
    scorer.model_version = ref.version
    if crm is not None:
        from salesplan.contracts import validate_crm
        from salesplan.models.deals.features import features_asof

        features = features_asof(validate_crm(read_crm(crm), source=str(crm)))
    else:
        assert input is not None
        features = read_table(input)
        if id is not None:
            if id not in features.columns:
                raise ConfigError(
                    f"--id {id!r} is not a column of {input}; columns: {', '.join(map(str, features.columns))}"
                )
            features = features.assign(opportunity_id=features[id].astype(str))
    scores = scorer.score_frame(features)
    table = scores.assign(reasons=scores["reasons"].map(lambda r: " | ".join(map(str, r))))
    write_table(table, out)
    console.print(f"scored {len(scores):,} deals with {DEALS_MODEL} v{ref.version} → {out}", soft_wrap=True)
    console.print(scores["grade"].value_counts().sort_index().to_string(), soft_wrap=True)


@app.command("pipeline")
@clean_errors
def pipeline_cmd(
    quarter: Annotated[str, typer.Option(help="Period like 2026Q1 (or 2026-03 for a month).")],
    data: DataOpt = None,
    simulated: SimOpt = False,
    dataset: DatasetOpt = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    by: Annotated[
        str | None, typer.Option(help="Split by region, team, rep or product (comma-separated).")
    ] = None,
    model: Annotated[str, typer.Option(help="Registry alias or version of salesplan-deals.")] = "champion",
    out: Annotated[Path | None, typer.Option(help="Also write the table (.csv/.parquet).")] = None,
) -> None:
    """Weighted pipeline of a period: Σ p × amount of open deals expected to close in it, P10–P90, categories."""
    from salesplan.io import write_table
    from salesplan.models.registry import DEALS_MODEL, load_deal_scorer

    crm_data, source = crm_source(data, simulated, dataset, seed, scale)
    scorer, ref = load_deal_scorer(model)
    scorer.model_version = ref.version
    cuts = [c.strip() for c in by.split(",")] if by else None
    _, table = score_and_pipeline(crm_data, scorer, quarter, cuts)
    print_pipeline(table, f"weighted pipeline {quarter} ({source}, {DEALS_MODEL} v{ref.version})")
    if out is not None:
        write_table(table, out)


def score_and_pipeline(
    crm: CRMData, scorer: DealScorer, period: str, by: str | list[str] | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the CRM's open deals as of its last date, then their weighted pipeline for ``period``, with
    the quarter shock of the latest track record (``salesplan plan backtest``) when there is one."""
    from salesplan.models.deals.features import features_asof
    from salesplan.planning.pipeline import pipeline_deals, weighted_pipeline
    from salesplan.planning.pipeline_shock import dependence_note
    from salesplan.serving.settings import ServingSettings
    from salesplan.serving.track_record import TrackRecordService

    scores = scorer.score_frame(features_asof(crm))
    shock = TrackRecordService(ServingSettings().track_record_dir).shock()
    console.print(f"[dim]bands: {dependence_note(shock)}[/]", soft_wrap=True)
    return scores, weighted_pipeline(pipeline_deals(crm.opportunities, scores), period, by=by, shock=shock)


def print_pipeline(table: pd.DataFrame, title: str) -> None:
    t = Table(title=title)
    keys = [c for c in table.columns if c not in _VALUE_COLS and table[c].dtype == object and c != "method"]
    for col in [*keys, "deals", "pipeline", "expected", "P10", "P90", "commit", "best case"]:
        t.add_column(col, justify="right" if col not in keys else "left")
    for _, r in table.iterrows():
        t.add_row(
            *[str(r[k]) for k in keys],
            f"{int(r['n_deals']):,}",
            f"{r['pipeline_value']:,.0f}",
            f"{r['expected_value']:,.0f}",
            f"{r['q10']:,.0f}",
            f"{r['q90']:,.0f}",
            f"{r['commit_value']:,.0f}",
            f"{r['best_case_value']:,.0f}",
        )
    console.print(t)


_VALUE_COLS = {
    "n_deals",
    "pipeline_value",
    "expected_value",
    "sd",
    "q10",
    "q50",
    "q90",
    "period_start",
    "period_end",
}
