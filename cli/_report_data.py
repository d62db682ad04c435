"""What ``salesplan report`` shows, gathered from the MLflow store and the planning data: the forecaster's
and the deal model's latest champion runs (metrics and the ``report/`` artifacts their jobs log), the
weighted pipeline, the latest stored target proposal with the distribution behind its fan chart, and the
budget response curves. It joins training's store and planning's functions, which neither layer may do
for the other, so it lives in the CLI; rendering is :mod:`salesplan.cli._report_html`, the database and
the command line :mod:`salesplan.cli.report`."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from salesplan.contracts import CRMData
from salesplan.errors import ModelNotFoundError, SalesplanError, ServiceUnavailableError
from salesplan.models import registry
from salesplan.planning.reports.charts import month_names
from salesplan.planning.types import BudgetPlan, ResponseCurves, TargetChoice
from salesplan.training.deals_job import EXPERIMENT as DEALS_EXPERIMENT
from salesplan.training.forecast_job import EXPERIMENT as FORECAST_EXPERIMENT

__all__ = [
    "TRAIN_FIRST",
    "ProposalView",
    "ReportData",
    "RunSummary",
    "budget_curves",
    "gather",
    "latest_run",
    "pipeline_table",
    "proposal_view",
]
TRAIN_FIRST = (
    "train first: salesplan train forecast --simulated --horizon 8 --origins 2 and "
    "salesplan train deals --simulated (or with --dataset/--data), then run salesplan report again"
)


@dataclass(frozen=True)
class RunSummary:
    """One training run: which model version it registered (if any), its params and metrics, and the
    tables (``*.csv``) and images (``*.png``) it logged under ``report/``."""

    experiment: str
    run_id: str
    run_name: str
    started: datetime
    model: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    images: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class ProposalView:
    """The latest stored proposal: header facts, its rows (planning frame, ``m1..m3``), and — when the
    inputs it was built from are at hand — the top unit's target ↔ probability curve and quarterly history."""

    header: Mapping[str, Any]
    rows: pd.DataFrame
    quarter: str
    measure: str
    months: tuple[str, str, str]
    company: TargetChoice | None = None
    curve: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    note: str = ""


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows; a section is ``None`` with its ``notes`` entry saying why."""

    tracking_uri: str
    generated: datetime
    forecast: RunSummary | None = None
    deals: RunSummary | None = None
    pipeline: pd.DataFrame | None = None
    pipeline_period: str | None = None
    proposal: ProposalView | None = None
    budget: tuple[ResponseCurves, BudgetPlan] | None = None
    budget_source: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)


def _champion_or_latest(client: MlflowClient, experiment: str, model: str) -> tuple[Run, str] | None:
    """The run behind ``model@champion``; without a champion, the experiment's latest finished run."""
    ref = registry.find_version(model)
    if ref is not None:
        return client.get_run(ref.run_id), f"{model} v{ref.version} (champion)"
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return (runs[0], "no champion: latest run") if runs else None


def latest_run(experiment: str, model: str) -> RunSummary | None:
    """The champion (else latest) run of ``experiment`` with its ``report/`` artifacts, or None."""
    registry.quiet_mlflow()
    uri = registry.tracking_uri()
    client = MlflowClient(uri)
    try:
        found = _champion_or_latest(client, experiment, model)
    except MlflowException as exc:
        raise ServiceUnavailableError(
            f"cannot read the MLflow store at {uri}: {str(exc).splitlines()[0][:300]}. "
            "Fix: start the tracking server or set --tracking-uri / MLFLOW_TRACKING_URI"
        ) from None
    if found is None:
        return None
    run, model_label = found
    tables: dict[str, pd.DataFrame] = {}
    images: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(client.download_artifacts(run.info.run_id, "report", tmp))
        except (MlflowException, OSError):
            local = Path(tmp) / "none"  # a run without report artifacts still has its metrics
        for f in sorted(local.glob("*.csv")) if local.exists() else []:
            tables[f.stem] = pd.read_csv(f)
        for f in sorted(local.glob("*.png")) if local.exists() else []:
            images[f.stem] = f.read_bytes()
    return RunSummary(
        experiment=experiment,
        run_id=run.info.run_id,
        run_name=run.info.run_name or run.info.run_id,
        started=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
        model=model_label,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tables=tables,
        images=images,
    )


def pipeline_table(crm: CRMData, scores: pd.DataFrame, period: str) -> pd.DataFrame:
    """Weighted pipeline of ``period`` by region and in total (open deals with their champion scores)."""
    from salesplan.planning.pipeline import pipeline_deals, weighted_pipeline

    deals = pipeline_deals(crm.opportunities, scores)
    by_region = weighted_pipeline(deals, period, by="region")
    total = weighted_pipeline(deals, period).rename(columns={"group": "region"})
    return pd.concat([by_region, total], ignore_index=True)


def proposal_view(
    header: Mapping[str, Any],
    rows: pd.DataFrame,
    *,
    crm: CRMData | None = None,
    scores: pd.DataFrame | None = None,
    bookings_history: pd.DataFrame | None = None,
) -> ProposalView:
    """The stored proposal with its fan: the distribution is rebuilt from the inputs it was planned on —
    the forecast batch of the version it records (sell-out) or the CRM and deal scores (bookings)."""
    from salesplan.planning.proposals import (
        ProposalRequest,
        implied_probability,
        plan_inputs,
        probability_curve,
    )
    from salesplan.serving.db.proposal_parameters import ProposalParameters

    params = ProposalParameters.from_json(header.get("parameters") or {}, str(header.get("id", "?")))
    quarter = str(header["quarter"])
    by = tuple(params.request.by)
    m = params.months
    months = (m[0], m[1], m[2]) if len(m) >= 3 else month_names(quarter)
    view = ProposalView(header, rows, quarter, params.measure, months)
    root = rows[rows["parent_id"].isna()]
    if len(root) != 1:
        return _with_note(view, "the stored proposal has no single top unit")
    top = root.iloc[0]
    request = ProposalRequest(quarter=quarter, by=by, domain=params.request.resolved_domain)
    history = bookings_history
    try:
        if request.resolved_domain == "bookings":
            if crm is None:
                return _with_note(
                    view,
                    "the fan chart of a bookings proposal needs the CRM it was planned on: add --simulated "
                    "(same --seed) or --data FOLDER",
                )
            inputs = plan_inputs(request, crm=crm, scores=scores)
        else:
            from salesplan.models.batch import load_batch

            stamp = (header.get("input_models") or {}).get(registry.FORECAST_MODEL)
            version = str(stamp.get("version") or "champion") if isinstance(stamp, dict) else "champion"
            batch = load_batch(alias=version)
            inputs = plan_inputs(request, forecast=batch.forecast, history=batch.history)
            h = batch.history
            history = h[(h["level"] == "total") & (h["freq"] == "Q")][["period", "y"]]
    except SalesplanError as exc:
        return _with_note(view, f"no fan chart: its inputs could not be rebuilt ({exc})")
    unit = str(top["unit_id"])
    target = float(top["target"])
    company = TargetChoice(
        unit_id=unit,
        mode=params.request.mode,
        target=target,
        p_hit=float(implied_probability(inputs.dist, unit, target)[0, 0]),
        forecast_q50=float(inputs.dist.quantile(0.5, unit)[0, 0]),
        last_period_actual=None if pd.isna(top["last_period_actual"]) else float(top["last_period_actual"]),
    )
    note = ""
    planned = dict(params.summary.get("company") or {})
    stored_p, stored_t = planned.get("p_hit"), planned.get("target")
    same_target = stored_t is not None and abs(float(stored_t) - target) < 0.01
    if same_target and stored_p is not None and abs(float(stored_p) - company.p_hit) > 0.02:
        note = (  # same target, other odds: the inputs are not the ones it was planned on
            f"caution: the inputs given imply P(hit) {company.p_hit:.0%} for the top target, the proposal "
            f"was planned at {float(stored_p):.0%}: they are not the data or models it was planned on"
        )
    return ProposalView(
        header,
        rows,
        quarter,
        params.measure,
        months,
        company,
        probability_curve(inputs.dist, unit),
        history,
        note,
    )


def _with_note(view: ProposalView, note: str) -> ProposalView:
    return ProposalView(view.header, view.rows, view.quarter, view.measure, view.months, note=note)


def budget_curves(spend: pd.DataFrame, periods: int = 13) -> tuple[ResponseCurves, BudgetPlan]:
    """Response curves fitted on ``spend`` and the optimal split of last quarter's budget (the last
    ``periods`` periods' spend) over the same ``periods``."""
    from salesplan.planning.budget import fit_response, optimise_budget

    curves = fit_response(spend, last_periods=periods)
    last = spend.sort_values("period").groupby(["channel", "region"]).tail(periods)
    return curves, optimise_budget(curves, float(last["spend"].sum()), periods=periods)


def gather(
    *,
    crm: CRMData | None = None,
    scores: pd.DataFrame | None = None,
    scores_note: str = "",
    spend: pd.DataFrame | None = None,
    spend_source: str = "",
    period: str | None = None,
    proposal: tuple[Mapping[str, Any], pd.DataFrame] | None = None,
    proposal_note: str = "",
    bookings_history: pd.DataFrame | None = None,
) -> ReportData:
    """Collect every section. Raises ``ModelNotFoundError`` (with how to train) when the store holds
    neither a forecast nor a deals run: a report of nothing helps nobody."""
    forecast = latest_run(FORECAST_EXPERIMENT, registry.FORECAST_MODEL)
    deals = latest_run(DEALS_EXPERIMENT, registry.DEALS_MODEL)
    uri = registry.tracking_uri()
    if forecast is None and deals is None:
        raise ModelNotFoundError(f"no salesplan-forecast or salesplan-deals runs in {uri}; {TRAIN_FIRST}")
    notes: dict[str, str] = {}
    if forecast is None:
        notes["forecast"] = "no salesplan-forecast run yet: salesplan train forecast --simulated"
    if deals is None:
        notes["deals"] = "no salesplan-deals run yet: salesplan train deals --simulated"
    pipe = None
    if crm is None:
        notes["pipeline"] = "no CRM given: add --simulated or --data FOLDER to see the weighted pipeline"
    elif scores is None:
        notes["pipeline"] = scores_note or "no deal-win champion to score the open deals"
    else:
        pipe = pipeline_table(crm, scores, str(period))
    view = None
    if proposal is not None:
        view = proposal_view(
            proposal[0], proposal[1], crm=crm, scores=scores, bookings_history=bookings_history
        )
    else:
        notes["proposal"] = proposal_note or "no stored proposal: salesplan plan targets --quarter ..."
    budget = None
    if spend is None:
        notes["budget"] = (
            "no spend data given: add --simulated or --data FOLDER (with spend.csv) to fit the budget curves"
        )
    else:
        budget = budget_curves(spend)
    return ReportData(
        tracking_uri=uri,
        generated=datetime.now(tz=UTC),
        forecast=forecast,
        deals=deals,
        pipeline=pipe,
        pipeline_period=period if pipe is not None else None,
        proposal=view,
        budget=budget,
        budget_source=spend_source,
        notes=notes,
    )
