"""Deal-win scores: one deal or a batch sent by a CRM, and the open deals of the planning data.

Hot path: the raw ``DealScorer`` champion from the model store, the deal's features built without pandas
(``models.deals.fastpath.deal_features``) from a history summary of the planning data's CRM (built once per
loaded CRM, not per request), one encoded row, and the same ``explain_matrix`` that ``score_frame`` uses,
so the API and the batch frame give identical numbers."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from salesplan.contracts import CRMData
from salesplan.errors import ServiceUnavailableError
from salesplan.io import jsonable
from salesplan.models.deals.fastpath import (
    DealContext,
    day_ns,
    deal_context,
    deal_features,
    encode_rows,
    score_matrix,
    unseen_levels,
)
from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.model_store import LoadedModel
from salesplan.serving.routers.common import MAX_OFFSET, errors
from salesplan.serving.schemas_deals import BatchIn, BatchOut, DealIn, DealScore, OpenDeals
from salesplan.serving.services import Services, freeze_heap

if TYPE_CHECKING:
    import pandas as pd

    from salesplan.models.deals import DealScorer

router = APIRouter(prefix="/api/v1/deals", tags=["deals"])
SCORE_ERRORS = errors(400, 401, 403, 413, 422, 429, 503)
OPEN_COLUMNS = (
    "amount", "stage", "expected_close_date", "rep_id", "rep_name", "team", "region", "product", "account_id",
    "account_name",
)  # fmt: skip


class _ContextCache:
    """The history summary of the CRM currently loaded; rebuilt when a reload swaps the CRM object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crm: CRMData | None = None
        self._ctx: DealContext | None = None

    def current(self, services: Services) -> tuple[bool, DealContext | None]:
        """(whether the cached summary is that of the loaded CRM, the summary)."""
        data = services.planning
        crm = data.crm if data is not None else None
        if crm is None:
            return True, None
        return crm is self._crm, self._ctx

    def get(self, services: Services) -> DealContext | None:
        data = services.planning
        crm = data.crm if data is not None else None
        if crm is None:
            return None
        if crm is self._crm:
            return self._ctx
        with self._lock:
            if crm is not self._crm:
                self._ctx, self._crm = deal_context(crm), crm
                freeze_heap(collect=False)  # the summary lives as long as the CRM: keep GC off it too
            return self._ctx


def _cache(request: Request) -> _ContextCache:
    cache: _ContextCache | None = getattr(request.app.state, "deal_context", None)
    if cache is None:
        cache = request.app.state.deal_context = _ContextCache()
    return cache


def _context(request: Request, services: Services) -> DealContext | None:
    return _cache(request).get(services)


async def _context_async(request: Request, services: Services) -> DealContext | None:
    """The cached summary; building it (once per loaded CRM, up to seconds) happens off the event loop."""
    cache = _cache(request)
    fresh, ctx = cache.current(services)
    return ctx if fresh else await run_in_threadpool(cache.get, services)


class OrjsonResponse(Response):
    """JSON via orjson: a 10k-deal answer serialises in ~20 ms where the standard library takes ~250 ms."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _model_info(model: LoadedModel[DealScorer]) -> dict[str, str]:
    return {
        "name": model.ref.name,
        "version": str(model.ref.version),
        "run_id": model.ref.run_id,
        "kind": model.estimator.model_name,
    }


def _ns(day: date | None, default: int) -> int:
    return default if day is None else day_ns(day)


def _score(
    model: LoadedModel[DealScorer], ctx: DealContext | None, deals: list[DealIn]
) -> list[dict[str, Any]]:
    """Features → one matrix → p, score, grade, reasons; one code path for 1 and 10,000 deals."""
    scorer = model.estimator
    today = day_ns(datetime.now(UTC).date())
    names = scorer.encoder_.features
    needed = frozenset(names)
    feats, notes = [], []
    for deal in deals:
        f, why = deal_features(vars(deal), ctx, _ns(deal.as_of, today))
        if not needed <= f.keys():
            absent = [c for c in names if c not in f]
            for c in absent:  # e.g. account attributes with no CRM loaded, or extra opportunity columns
                f[c] = None
            if ctx is not None:
                why.append(f"not given, treated as unknown: {', '.join(absent)} (send them in 'attributes')")
        feats.append(f)
        notes.append(why)
    M = encode_rows(scorer.encoder_, feats)
    for why, unseen in zip(notes, unseen_levels(scorer.encoder_, feats, M), strict=True):
        why.extend(unseen)
    out = score_matrix(scorer, M)
    return [
        {
            "opportunity_id": deal.opportunity_id,
            "p_win": float(p),
            "score": int(s),
            "grade": str(g),
            "reasons": reasons,
            "fallbacks": why,
        }
        for deal, p, s, g, reasons, why in zip(
            deals, out["p_win"], out["score"], out["grade"], out["reasons"], notes, strict=True
        )
    ]


@router.post(
    "/score",
    response_model=DealScore,
    responses=SCORE_ERRORS,
    dependencies=[require("deals:score")],
    summary="Score one open deal",
)
async def score_one(deal: DealIn, request: Request, services: ServicesDep) -> OrjsonResponse:
    """P(win), 1–99 score, A–D grade and the top reasons for and against one deal. Runs on the event loop:
    ~0.2 ms of numpy is cheaper there than a hop to the thread pool."""
    model = services.models.deals()
    row = _score(model, await _context_async(request, services), [deal])[0]
    row["model"] = _model_info(model)
    return OrjsonResponse(row)


@router.post(
    "/score:batch",
    response_model=BatchOut,
    responses=SCORE_ERRORS,
    dependencies=[require("deals:score")],
    summary="Score up to 10,000 open deals",
)
def score_batch(batch: BatchIn, request: Request, services: ServicesDep) -> OrjsonResponse:
    """The same numbers as ``/score`` for each deal, in the order sent (runs in the thread pool)."""
    limit = services.settings.max_batch
    if len(batch.deals) > limit:
        raise HTTPException(
            status_code=413,
            detail=f"batch of {len(batch.deals):,} deals exceeds the limit of {limit:,} "
            "(SALESPLAN_MAX_BATCH); split it into smaller batches",
        )
    model = services.models.deals()
    results = _score(model, _context(request, services), batch.deals)
    return OrjsonResponse({"results": results, "model": _model_info(model)})


@router.get(
    "/open",
    response_model=OpenDeals,
    responses=errors(401, 403, 422, 429, 503),
    dependencies=[require("deals:read")],
    summary="Scored open deals of the planning data",
)
def open_deals(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    sort: Annotated[Literal["expected_value", "p_win", "amount"], Query()] = "expected_value",
    grade: Annotated[Literal["A", "B", "C", "D"] | None, Query()] = None,
) -> OrjsonResponse:
    """The CRM's open deals scored once (at load) by the deal champion, largest first by ``sort``; page with
    ``limit`` / ``offset``."""
    data = services.planning_data()
    scores = data.need("deal_scores")
    ref = data.scores_ref  # the version that scored them at load (a reload rescores them)
    if ref is None:  # pragma: no cover - load_planning_data sets the scores and their ref together
        raise ServiceUnavailableError(
            "planning data 'deal_scores' carry no model version; call POST /api/v1/models/reload"
        )
    frame = scores.assign(expected_value=scores["p_win"] * scores["amount"])
    if grade is not None:
        frame = frame[frame["grade"] == grade]
    frame = frame.sort_values([sort, "opportunity_id"], ascending=[False, True], kind="stable")
    page = with_names(frame.iloc[offset : offset + limit], data.crm)
    cols = ["opportunity_id", "p_win", "score", "grade", "reasons", "expected_value"]
    cols += [c for c in OPEN_COLUMNS if c in page.columns]
    rows = [
        {c: jsonable(v) for c, v in zip(cols, values, strict=True)}
        for values in page[cols].itertuples(index=False, name=None)
    ]
    kind = str(scores["model"].iloc[0]) if len(scores) and "model" in scores.columns else ""
    info = {"name": ref.name, "version": str(ref.version), "run_id": ref.run_id, "kind": kind}
    totals = {
        "amount_total": float(frame["amount"].sum()),
        "expected_total": float(frame["expected_value"].sum()),
    }
    return OrjsonResponse(
        {"total": len(frame), **totals, "limit": limit, "offset": offset, "rows": rows, "model": info}
    )


def with_names(deals: pd.DataFrame, crm: CRMData | None) -> pd.DataFrame:
    """``deals`` with ``rep_name`` / ``account_name`` beside the ids, where the CRM's reps and accounts
    carry a ``name`` (the page shows names, the ids stay for lookups)."""
    if crm is None:
        return deals
    out = deals
    for key, table, col in (("rep_id", crm.reps, "rep_name"), ("account_id", crm.accounts, "account_name")):
        if key in out.columns and table is not None and {key, "name"} <= set(table.columns):
            names = table.drop_duplicates(key).set_index(key)["name"].astype(str)
            out = out.assign(**{col: out[key].astype(str).map(names)})
    return out
