"""The track record of the shipped target method, one workflow for CLI, API and web.

``salesplan plan backtest`` replays past quarters through exactly the path ``salesplan plan targets``
takes (``bookings_inputs`` → ``build_from_inputs``, the planner's own request), with only what was known
at each quarter's first day: the CRM as it stood, and deal scores from a clone of the deal champion (same
parameters) refitted on the deals closed before that day (``models.deals.scores_as_of``). It stores the
result as JSON under ``SALESPLAN_TRACK_RECORD_DIR``; the API (``GET /api/v1/targets/track-record``) and
the planner page's track-record panel read the latest one. Replaying refits a model per quarter (tens of
seconds to minutes), which is a batch job's work, not a web request's: the service reads, the CLI writes."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from salesplan.contracts import CRMData
from salesplan.errors import ConfigError, NotFoundError
from salesplan.models.deals import DealScorer, scores_as_of
from salesplan.planning.bookings import bookings_actuals
from salesplan.planning.pipeline import weighted_pipeline
from salesplan.planning.pipeline_shock import (
    MIN_QUARTERS,
    QuarterShock,
    fit_quarter_shock,
    quarter_pipeline,
)
from salesplan.planning.proposals import PlanInputs, ProposalRequest, bookings_inputs
from salesplan.planning.track_record import TrackRecord, replay_targets

__all__ = [
    "BookingsReplay",
    "TrackRecordDomain",
    "TrackRecordService",
    "past_quarters",
    "record_json",
]

TrackRecordDomain = Literal["bookings", "sellout"]
FILE_SCHEMA = 1


def past_quarters(end: Any, n: int) -> list[str]:
    """The ``n`` most recent quarters that ended on or before ``end`` (the data's last date), oldest first."""
    last = (pd.Timestamp(end) + pd.Timedelta(days=1)).to_period("Q") - 1
    return [str(last - k) for k in range(n - 1, -1, -1)]


def record_json(
    record: TrackRecord,
    *,
    domain: TrackRecordDomain,
    source: str,
    inputs: str,
    shock: QuarterShock | None = None,
) -> dict[str, Any]:
    """The stored (and served) form of a track record: per level, promised and realised hit rate with
    their 95 % cluster-bootstrap intervals, the quarters replayed and skipped (with why), and the
    pipeline's quarter shock fitted on the same quarters (what the weighted pipeline's bands then use)."""
    levels = [
        {
            "level": str(r["level"]),
            "units": int(r["units"]),
            "quarters": int(r["quarters"]),
            "promised": float(r["promised"]),
            "promised_ci95": [float(r["promised_lo"]), float(r["promised_hi"])],
            "hit_rate": float(r["hit_rate"]),
            "hit_ci95": [float(r["hit_lo"]), float(r["hit_hi"])],
        }
        for _, r in record.by_level.iterrows()
    ]
    return {
        "schema": FILE_SCHEMA,
        "domain": domain,
        "source": source,
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": f"salesplan plan targets with this request; {inputs}",
        "request": record.request.model_dump(mode="json", exclude={"quarter"}),
        "quarters": sorted(record.rows["quarter"].unique().tolist()),
        "skipped": dict(record.skipped),
        "levels": levels,
        "pipeline_shock": None
        if shock is None
        else {"mean": shock.mean, "sd": shock.sd, "quarters": shock.quarters, "deals": shock.deals},
    }


class BookingsReplay:
    """Past quarters of one CRM as a planner lived them: deal scores refitted as of each quarter's first
    day (``scores_as_of``, once per quarter, shared by every request replayed), the shipped bookings plan
    inputs, what was booked, and the pipeline's quarter shock fitted on those quarters."""

    def __init__(
        self,
        crm: CRMData,
        quarters: Sequence[str],
        *,
        template: DealScorer | None = None,
        on_quarter: Callable[[str], None] | None = None,
    ) -> None:
        self.crm, self.quarters = crm, [str(pd.Period(str(q), freq="Q")) for q in quarters]
        self.template, self.on_quarter = template, on_quarter
        self._scores: dict[str, pd.DataFrame | None] = {}
        self._inputs: dict[tuple[str, tuple[str, ...], tuple[float, ...]], PlanInputs] = {}

    @staticmethod
    def start(q: str) -> pd.Timestamp:
        return pd.Period(q, freq="Q").start_time

    def scores(self, q: str) -> pd.DataFrame | None:
        if q not in self._scores:
            if self.on_quarter is not None:
                self.on_quarter(q)
            self._scores[q] = scores_as_of(self.crm, self.start(q), template=self.template)
        return self._scores[q]

    def record(self, request: ProposalRequest) -> TrackRecord:
        """``request`` replayed on every quarter (its own quarter ignored)."""

        def inputs_for(q: str) -> PlanInputs:
            key = (q, tuple(request.by), tuple(request.ramp))
            if key not in self._inputs:
                self._inputs[key] = bookings_inputs(
                    q, request.by, self.crm, scores=self.scores(q), ramp=request.ramp, as_of=self.start(q)
                )
            return self._inputs[key]

        def actuals_for(q: str) -> pd.Series:
            return bookings_actuals(self.crm, q, as_of=self.start(q), levels=request.by)

        return replay_targets(self.quarters, inputs_for, actuals_for, request)

    def pipelines(self) -> list[pd.DataFrame]:
        """Per quarter, its pipeline as of its first day (:func:`planning.pipeline_shock.quarter_pipeline`)."""
        return [quarter_pipeline(self.crm, q, self.scores(q)) for q in self.quarters]

    def shock(self) -> QuarterShock:
        """The quarter shock fitted on every replayed quarter (independent when too few quarters)."""
        frames = [f for f in self.pipelines() if len(f)]
        if not frames:
            return fit_quarter_shock(pd.DataFrame({"period": [], "p_win": [], "won": []}))
        return fit_quarter_shock(pd.concat(frames, ignore_index=True)[["period", "p_win", "won"]])

    def band_coverage(self, by: str = "region") -> dict[str, dict[str, float | int | None]]:
        """Share of (group, quarter) won values inside the weighted pipeline's P10–P90, each quarter's
        shock fitted on the earlier quarters only (quarters with fewer than ``MIN_QUARTERS`` earlier ones
        are not scored), beside the same bands for independent deals."""
        frames = self.pipelines()
        hit: dict[str, list[bool]] = {"shock": [], "independent": []}
        for k, (q, d) in enumerate(zip(self.quarters, frames, strict=True)):
            past = [f for f in frames[:k] if len(f)]
            if len(past) < MIN_QUARTERS or d.empty:
                continue
            fitted = fit_quarter_shock(pd.concat(past, ignore_index=True)[["period", "p_win", "won"]])
            actual = d.groupby(by)["won_value"].sum()
            for name, sh in (("shock", fitted), ("independent", None)):
                wp = weighted_pipeline(d, q, by=by, shock=sh).set_index(by)
                inside = (actual.reindex(wp.index) >= wp["q10"]) & (actual.reindex(wp.index) <= wp["q90"])
                hit[name] += inside.astype(bool).tolist()
        return {
            k: {"coverage": float(sum(v) / len(v)) if v else None, "group_quarters": len(v)}
            for k, v in hit.items()
        }


class TrackRecordService:
    """Stores (``save``) and reads (``latest``, ``shock``) track records (replayed by ``BookingsReplay``) in
    ``directory``, one file per domain (the latest replay replaces the previous one atomically)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def shock(self) -> QuarterShock | None:
        """The pipeline's quarter shock of the latest bookings track record, if one was stored."""
        try:
            s = self.latest("bookings").get("pipeline_shock")
        except (NotFoundError, ConfigError):
            return None
        if not isinstance(s, dict):
            return None
        return QuarterShock(float(s["mean"]), float(s["sd"]), int(s["quarters"]), int(s["deals"]))

    def path(self, domain: TrackRecordDomain) -> Path:
        return self.directory / f"track_record_{domain}.json"

    def save(self, payload: dict[str, Any]) -> Path:
        """Write ``payload`` (``record_json``) atomically: a reader never sees half a file."""
        domain = payload.get("domain")
        if domain not in ("bookings", "sellout"):
            raise ConfigError(f"track record domain must be bookings or sellout, got {domain!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(domain)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".track_record.", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=1)
        os.replace(tmp, target)
        return target

    def latest(self, domain: TrackRecordDomain) -> dict[str, Any]:
        """The last stored track record of ``domain``; NotFoundError says how to make one."""
        p = self.path(domain)
        if not p.exists():
            raise NotFoundError(
                f"no {domain} track record yet in {self.directory}. Fix: run `salesplan plan backtest` "
                "(with the CRM the service plans on) to replay past quarters"
            )
        try:
            data: dict[str, Any] = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"{p} is not a readable track record ({exc}); run `salesplan plan backtest` again"
            ) from None
        return data
