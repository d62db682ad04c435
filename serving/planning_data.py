"""The planning data the service answers from (``SALESPLAN_PLANNING_DATA``): the folder ``salesplan
simulate`` writes (``sellout.*``, ``future.*``, ``crm/``, ``spend.*``, ``activities/``) or real data laid out
the same way.

Read once at start and on reload with the core readers and validators, never per request: a planner's
request must not pay for parsing files, fitting response curves or scoring every open deal."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import pandas as pd

from salesplan.contracts import (
    CRMData,
    Hierarchy,
    SelloutSpec,
    validate_activities,
    validate_crm,
    validate_reps,
    validate_sellout,
    validate_spend,
)
from salesplan.errors import ConfigError, DataNotFoundError, SalesplanError, ServiceUnavailableError
from salesplan.io import find_table, read_crm, read_table
from salesplan.loaders import read_activity_folder
from salesplan.models.registry import ModelRef
from salesplan.planning.budget import fit_response
from salesplan.planning.funnel import DealPaths, deal_paths
from salesplan.planning.process import ProcessWorkbench, process_data
from salesplan.planning.types import ResponseCurves

if TYPE_CHECKING:
    from salesplan.models.deals import DealScorer

log = logging.getLogger("salesplan.serving")
SETTING = "SALESPLAN_PLANNING_DATA"
PARTS = ("sellout", "crm", "spend", "deal_scores", "activities")


@dataclass(frozen=True)
class PlanningData:
    """What was loaded from the folder; a part is None when it is missing, with the reason in ``problems``."""

    path: Path
    sellout: pd.DataFrame | None = None
    spec: SelloutSpec | None = None
    future: pd.DataFrame | None = None
    crm: CRMData | None = None
    paths: DealPaths | None = None
    spend: pd.DataFrame | None = None
    curves: ResponseCurves | None = None
    scores: pd.DataFrame | None = None
    scores_ref: ModelRef | None = None
    process: ProcessWorkbench | None = None
    problems: dict[str, str] = field(default_factory=dict)

    def need_process(self) -> ProcessWorkbench:
        """The sales-activity analyses, or a 503 that names the folder and what is wrong."""
        if self.process is None:
            why = self.problems.get("activities", "not loaded")
            raise ServiceUnavailableError(
                f"planning data 'activities' is not available from {SETTING}={self.path}: {why}"
            )
        return self.process

    @overload
    def need(self, part: Literal["crm"]) -> CRMData: ...

    @overload
    def need(self, part: Literal["sellout", "future", "spend", "deal_scores"]) -> pd.DataFrame: ...

    def need(self, part: str) -> CRMData | pd.DataFrame:
        """The part, or a 503 that names the folder, the setting and what is wrong."""
        value: CRMData | pd.DataFrame | None = {
            "sellout": self.sellout,
            "future": self.future,
            "crm": self.crm,
            "spend": self.spend,
            "deal_scores": self.scores,
        }[part]
        if value is None:
            why = self.problems.get(part, "not loaded")
            raise ServiceUnavailableError(
                f"planning data {part!r} is not available from {SETTING}={self.path}: {why}"
            )
        return value

    def summary(self) -> dict[str, str]:
        """Per part: what is loaded, or why not (for /ready)."""
        out: dict[str, str] = {}
        if self.sellout is not None:
            out["sellout"] = f"{len(self.sellout):,} rows, {self.sellout['unique_id'].nunique():,} series"
        if self.crm is not None:
            out["crm"] = f"{len(self.crm.opportunities):,} opportunities"
        if self.spend is not None:
            out["spend"] = f"{len(self.spend):,} rows"
        if self.scores is not None and self.scores_ref is not None:
            out["deal_scores"] = f"{len(self.scores):,} open deals, model version {self.scores_ref.version}"
        if self.process is not None:
            out["activities"] = (
                f"{len(self.process.data.activities):,} activities of {len(self.process.data.reps):,} people"
            )
        for part in PARTS:
            out.setdefault(part, self.problems.get(part, "not loaded"))
        return out


def not_configured() -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"no planning data configured: set {SETTING} to a folder written by 'salesplan simulate --out DIR' "
        "(or real data in the same layout) and restart or call POST /api/v1/models/reload"
    )


def _why(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def sellout_spec(root: Path) -> SelloutSpec:
    """The sell-out spec: ``spec.json`` (SelloutSpec fields) if present, else the simulator's own spec for a
    folder it wrote (recognised by its ``truth.json``)."""
    spec_file = root / "spec.json"
    if spec_file.exists():
        try:
            raw = json.loads(spec_file.read_text())
            hierarchy = raw.pop("hierarchy", None)
            tuples = {k: tuple(raw[k]) for k in ("promo_cols", "exog_cols", "static_cols") if k in raw}
            return SelloutSpec(**{**raw, **tuples}, hierarchy=Hierarchy(hierarchy) if hierarchy else None)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"{spec_file}: not a valid sell-out spec ({_why(exc)}); write JSON like "
                '{"freq": "W", "hierarchy": {"geo": ["region", "store"]}, "promo_cols": ["promo"]}'
            ) from None
    if (root / "truth.json").exists():
        from salesplan.simulator.sellout import SPEC

        return SPEC
    raise ConfigError(
        f"{root}: no spec.json saying the sell-out's frequency, hierarchy and regressors; add one, e.g. "
        '{"freq": "W", "hierarchy": {"geo": ["region", "store"]}, "promo_cols": ["promo"]}'
    )


def _table(root: Path, name: str) -> pd.DataFrame:
    path = find_table(root, name)
    if path is None:
        raise DataNotFoundError(f"no {name}.parquet or {name}.csv in {root}")
    return read_table(path)


def load_planning_data(path: Path, deals_model: tuple[DealScorer, ModelRef] | None) -> PlanningData:
    """Read and validate every part that is there; a broken part is recorded, the others still load.
    ``deals_model`` (scorer, ref) scores the CRM's open deals once."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(
            f"{SETTING}={root} is not a folder; point it at 'salesplan simulate --out DIR'"
        )
    parts: dict[str, Any] = {"path": root}
    problems: dict[str, str] = {}
    try:
        spec = sellout_spec(root)
        parts["sellout"] = validate_sellout(_table(root, "sellout"), spec, source=f"{root}/sellout")
        parts["spec"] = spec
        if find_table(root, "future") is not None:
            parts["future"] = _table(root, "future").assign(ds=lambda d: pd.to_datetime(d["ds"]))
        else:
            problems["future"] = f"no future.parquet (planned prices and promotions) in {root}"
    except SalesplanError as exc:
        problems["sellout"] = _why(exc)
    try:
        crm = validate_crm(read_crm(root / "crm"), source=f"{root}/crm")
        parts["crm"], parts["paths"] = crm, deal_paths(crm)
    except SalesplanError as exc:
        problems["crm"] = _why(exc)
    try:
        spend = validate_spend(_table(root, "spend"), source=f"{root}/spend")
        parts["spend"], parts["curves"] = spend, fit_response(spend)
    except SalesplanError as exc:
        problems["spend"] = _why(exc)
    if "crm" not in parts:
        problems["activities"] = "needs the CRM"
    else:
        try:
            parts["process"] = load_process(root, parts["crm"], parts["paths"])
        except SalesplanError as exc:
            problems["activities"] = _why(exc)
    if "crm" not in parts:
        problems["deal_scores"] = "needs the CRM"
    elif deals_model is None:
        problems["deal_scores"] = "the deal model is not loaded"
    else:
        try:
            parts["scores"], parts["scores_ref"] = (
                score_open_deals(parts["crm"], *deals_model),
                deals_model[1],
            )
        except (SalesplanError, ValueError, KeyError) as exc:
            problems["deal_scores"] = f"scoring the open deals failed: {_why(exc)}"
    for part, why in problems.items():
        log.warning("planning data part missing", extra={"part": part, "problem": why})
    return PlanningData(**parts, problems=problems)


def load_process(root: Path, crm: CRMData, paths: DealPaths) -> ProcessWorkbench:
    """Activities (``activities/activities.*`` with ``activities/reps.*``, or ``activities.*`` at the root)
    validated against the CRM and prepared once for the process analyses."""
    folder = root / "activities" if (root / "activities").is_dir() else root
    raw, people = read_activity_folder(folder)
    reps = validate_reps(people, source=f"{folder}/reps") if people is not None else None
    acts = validate_activities(raw, crm=crm, reps=reps, source=f"{folder}/activities")
    return ProcessWorkbench(process_data(crm, acts, reps=reps, paths=paths))


def score_open_deals(crm: CRMData, scorer: DealScorer, ref: ModelRef) -> pd.DataFrame:
    """p_win, score, grade and reasons of every open deal as of the CRM's last date, joined to the deal's
    attributes (amount, expected close, rep, team, region, product) for the pipeline."""
    from salesplan.models.deals.features import features_asof

    scorer.model_version = ref.version
    scores = scorer.score_frame(features_asof(crm))
    o = crm.opportunities
    o = o[o["outcome"] == "open"] if "outcome" in o.columns else o
    extra = [c for c in scores.columns if c == "opportunity_id" or c not in o.columns]
    return o.merge(scores[extra], on="opportunity_id", how="inner").reset_index(drop=True)
