"""``TrackingService``: the one plan-vs-actual workflow the CLI, the API and the web page call.

Load actuals and the spend plan (validated through the contracts, stored idempotently), track a quarter
(the approved sell-out proposal against the actuals, with the champion batch's conditioned landing and the
spend against budgets and caps), evaluate and store the alerts, change an alert's status, read and set
the rules, and export any table to CSV or Excel. Where the forecast batch and the marginal returns come
from is injected (the running service's loaded champion, or the registry for the CLI)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesplan.contracts import SelloutSpec, validate_sellout, validate_spend
from salesplan.errors import ConfigError, DataValidationError, NotFoundError, Problem
from salesplan.planning.tracking import (
    SPEND_COLUMNS,
    TRACKING_COLUMNS,
    AlertRules,
    evaluate_alerts,
    quarter_calendar,
    rollup_actuals,
    spend_control,
    track_sellout,
    week_start_of,
)
from salesplan.serving.db.actuals import ActualRow, ActualsRepository, BudgetRow, LoadResult
from salesplan.serving.db.alerts import AlertRecord, AlertRepository
from salesplan.serving.db.engine import Transaction
from salesplan.serving.db.proposal_frames import rows_to_frame
from salesplan.serving.db.proposal_parameters import ProposalParameters
from salesplan.serving.db.records import Actor, StoredProposal
from salesplan.serving.db.repository import ProposalRepository

__all__ = ["KINDS", "TableExport", "TrackingReport", "TrackingService", "table_export"]

Kind = Literal["sellout", "bookings", "spend", "budget"]
KINDS: tuple[str, ...] = ("sellout", "bookings", "spend", "budget")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOOKING_ATTRS = ("rep_id", "team", "region", "account_id", "product")


@dataclass(frozen=True)
class TableExport:
    content: bytes
    media_type: str
    filename: str


@dataclass(frozen=True)
class TrackingReport:
    """A tracked quarter: ``units`` (``TRACKING_COLUMNS``), ``series`` (cumulative plan, actual and
    landing fan per unit and period), ``spend`` (``SPEND_COLUMNS``, None without budgets or spend), the
    quarter's stored ``alerts`` and what was left out (``notes``)."""

    quarter: str
    as_of: pd.Timestamp
    proposal_id: str
    measure: str
    units: pd.DataFrame
    series: pd.DataFrame
    spend: pd.DataFrame | None
    alerts: list[AlertRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def table_export(tables: dict[str, pd.DataFrame], fmt: str, stem: str) -> TableExport:
    """CSV (the first table) or an Excel workbook with one sheet per table."""
    if fmt == "csv":
        first = next(iter(tables.values()))
        return TableExport(first.to_csv(index=False).encode(), "text/csv", f"{stem}.csv")
    if fmt != "xlsx":
        raise ConfigError(f"export format must be csv or xlsx, got {fmt!r}")
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        for name, df in tables.items():
            df.to_excel(xl, sheet_name=name[:31], index=False)
    return TableExport(buf.getvalue(), XLSX, f"{stem}.xlsx")


def _day(value: Any) -> date:
    return pd.Timestamp(value).date()


def actual_rows(kind: str, frame: pd.DataFrame, freq: str = "W") -> list[ActualRow]:
    """Rows of a file or request body as typed actuals, validated through the contracts: sell-out
    (``unique_id, ds, y`` + hierarchy columns, kept as attributes), bookings (CRM opportunities: won ones
    count, ``opportunity_id, close_date, amount`` + rep/team/region) or spend (``period, channel, region,
    spend, outcome``)."""
    if frame.empty:
        raise DataValidationError([Problem(None, "no rows", fix="load a file with at least one row")], kind)
    for col in frame.columns:
        nested = frame[col].map(lambda v: isinstance(v, dict | list | tuple | set))
        if nested.any():
            raise DataValidationError(
                [Problem(str(col), "holds lists or objects, not single values", n_rows=int(nested.sum()),
                         fix="one number, date or text per cell")],
                kind,
            )  # fmt: skip
    if kind == "sellout":
        extra = [c for c in frame.columns if c not in ("unique_id", "ds", "y")]
        core = validate_sellout(
            frame[[c for c in ("unique_id", "ds", "y") if c in frame.columns]],
            SelloutSpec(freq=freq, allow_gaps=True),  # type: ignore[arg-type]
            source="sell-out actuals",
        )
        attrs = frame.loc[core.index, extra].astype("string") if extra else None
        return [
            ActualRow("sellout", str(u), _day(d), float(y),
                      attrs={} if attrs is None else {str(k): v for k, v in attrs.iloc[i].items() if pd.notna(v)})
            for i, (u, d, y) in enumerate(zip(core["unique_id"], core["ds"], core["y"], strict=True))
        ]  # fmt: skip
    if kind == "spend":
        sp = validate_spend(frame, source="spend actuals")
        return [
            ActualRow("spend", f"{c}/{r}", _day(p), float(s), float(o) if pd.notna(o) else None,
                      {"channel": str(c), "region": str(r)})
            for p, c, r, s, o in zip(sp["period"], sp["channel"], sp["region"], sp["spend"], sp["outcome"],
                                     strict=True)
        ]  # fmt: skip
    if kind == "bookings":
        need = [c for c in ("opportunity_id", "close_date", "amount", "outcome") if c not in frame.columns]
        if need:
            raise DataValidationError(
                [Problem(None, f"column(s) {need} missing", fix="load the CRM opportunities export")],
                "bookings",
            )
        won = frame[frame["outcome"].astype(str).str.lower() == "won"]
        dates = pd.to_datetime(won["close_date"], errors="coerce")
        amount = pd.to_numeric(won["amount"], errors="coerce")
        bad = won.loc[dates.isna() | amount.isna() | (amount < 0), "opportunity_id"].astype(str).tolist()
        if bad:
            raise DataValidationError(
                [Problem("close_date/amount", "won deal without a close date or a non-negative amount",
                         rows=tuple(bad[:5]), n_rows=len(bad), fix="fix these rows in the CRM export")],
                "bookings",
            )  # fmt: skip
        keep = [c for c in BOOKING_ATTRS if c in won.columns]
        return [
            ActualRow("bookings", str(o), _day(d), float(a),
                      attrs={k: str(v) for k, v in zip(keep, vals, strict=True) if pd.notna(v)})
            for o, d, a, *vals in zip(won["opportunity_id"], dates, amount, *(won[k] for k in keep), strict=True)
        ]  # fmt: skip
    raise ConfigError(f"kind must be one of sellout, bookings, spend (or budget), got {kind!r}")


def budget_rows(frame: pd.DataFrame) -> list[BudgetRow]:
    """The spend plan: ``month, channel, region, budget`` and optional ``soft_cap, hard_cap, planned_outcome``."""
    need = [c for c in ("month", "channel", "region", "budget") if c not in frame.columns]
    if need:
        raise DataValidationError(
            [
                Problem(
                    None, f"column(s) {need} missing", fix="columns: month (2027-01), channel, region, budget"
                )
            ],
            "budgets",
        )
    months = frame["month"].astype(str)
    bad = months[~months.str.fullmatch(r"\d{4}-\d{2}")]
    if len(bad):
        raise DataValidationError(
            [Problem("month", "not a month like 2027-01", rows=tuple(bad.head(5)), n_rows=len(bad))],
            "budgets",
        )

    nums = {}
    for col in ("budget", "soft_cap", "hard_cap", "planned_outcome"):
        if col not in frame.columns:
            continue
        raw = frame[col]
        v = pd.to_numeric(
            raw.where(raw.map(lambda x: isinstance(x, int | float | str) or x is None)), errors="coerce"
        )
        bad = frame.loc[(v.isna() & raw.notna()) | (v < 0) | ((col == "budget") & v.isna()), "month"]
        if len(bad):
            raise DataValidationError(
                [Problem(col, "not a number ≥ 0", rows=tuple(bad.astype(str).head(5)), n_rows=len(bad),
                         fix="amounts in the spend currency, e.g. 125000")],
                "budgets",
            )  # fmt: skip
        nums[col] = v

    def num(col: str, i: int) -> float | None:
        v = nums[col].iloc[i] if col in nums else None
        return None if v is None or pd.isna(v) else float(v)

    return [
        BudgetRow(months.iloc[i], str(frame["channel"].iloc[i]), str(frame["region"].iloc[i]),
                  float(nums["budget"].iloc[i]), num("soft_cap", i), num("hard_cap", i), num("planned_outcome", i))
        for i in range(len(frame))
    ]  # fmt: skip


class TrackingService:
    """Every tracking operation over a transaction factory; ``forecast`` gives the champion batch's
    forecast frame, ``marginal`` the marginal return per channel × region (or None)."""

    def __init__(
        self,
        transaction: Transaction,
        forecast: Callable[[], pd.DataFrame],
        marginal: Callable[[], pd.DataFrame | None] = lambda: None,
    ) -> None:
        self.transaction = transaction
        self.forecast = forecast
        self.marginal = marginal

    # --------------------------------------------------------------------------------------- loading
    def load(self, kind: str, frame: pd.DataFrame, actor: str | Actor, freq: str = "W") -> LoadResult:
        """Store a batch of actuals (or the spend plan, ``kind="budget"``), idempotently."""
        if kind == "budget":
            rows = budget_rows(frame)
            with self.transaction(write=True) as s:
                return ActualsRepository(s).load_budgets(rows, actor)
        typed = actual_rows(kind, frame, freq)
        with self.transaction(write=True) as s:
            return ActualsRepository(s).load(typed, actor)

    # -------------------------------------------------------------------------------------- tracking
    def approved(self, quarter: str) -> StoredProposal:
        with self.transaction() as s:
            repo = ProposalRepository(s)
            heads = repo.list(quarter=quarter, status="approved", limit=100)
            for h in heads:
                p = repo.get(h.id)
                if ProposalParameters.from_json(p.parameters, p.id).request.resolved_domain == "sellout":
                    return p
        raise NotFoundError(
            f"no approved sell-out proposal for {quarter}: plan one (salesplan plan targets --quarter {quarter}) "
            "and approve it, then track it"
        )

    def track(self, quarter: str, as_of: Any = None, level: str | None = None) -> TrackingReport:
        """Plan vs actual vs landing of ``quarter``'s approved sell-out proposal (read only)."""
        p = self.approved(quarter)
        params = ProposalParameters.from_json(p.parameters, p.id)
        plan = rows_to_frame(p.rows, params.months)
        forecast = self.forecast()
        cal = quarter_calendar(quarter, "W", week_start=week_start_of(forecast))
        start, end = cal.starts[0].date(), cal.last_day.date()
        with self.transaction() as s:
            repo = ActualsRepository(s)
            sell = repo.rows("sellout", start, end)
            spend_rows = repo.rows("spend", start, end)
            budgets = repo.budgets(cal.months)
            alerts = AlertRepository(s).list(quarter=quarter, limit=1000)
        notes: list[str] = []
        if not sell:
            notes.append(f"no sell-out actuals of {quarter} loaded yet: the landing is the forecast")
            acts = pd.DataFrame({"unique_id": pd.Series(dtype=str), "level": pd.Series(dtype=str),
                                 "ds": pd.Series(dtype="datetime64[ns]"), "y": pd.Series(dtype=float)})  # fmt: skip
        else:
            bottom = pd.DataFrame(
                [{"unique_id": r.series, "ds": pd.Timestamp(r.period), "y": r.value, **r.attrs} for r in sell]
            )
            acts = rollup_actuals(bottom, forecast, sorted(plan["level"].astype(str).unique()))
        day = None if as_of is None else pd.Timestamp(as_of)
        if day is None and not sell:
            day = cal.first_day - pd.Timedelta(days=1)
        tr = track_sellout(plan, forecast, acts, quarter, day)
        spend = self._spend(budgets, spend_rows, quarter, tr.as_of, notes)
        units, series = tr.units, tr.series
        if level is not None:
            have = sorted(units["level"].unique())
            if level not in have:
                raise ConfigError(f"level {level!r} is not in the proposal (it has {have})")
            units = units[units["level"] == level].reset_index(drop=True)
            series = series[series["unit_id"].isin(set(units["unit_id"]))].reset_index(drop=True)
        return TrackingReport(quarter, tr.as_of, p.id, params.measure, units, series, spend, alerts, notes)

    def _spend(
        self, budgets: Sequence[BudgetRow], rows: Sequence[ActualRow], quarter: str, as_of: pd.Timestamp,
        notes: list[str],
    ) -> pd.DataFrame | None:  # fmt: skip
        if not budgets:
            notes.append("no spend budgets loaded: no expense control (salesplan actuals load --kind budget)")
            return None
        b = pd.DataFrame([vars(x) for x in budgets])
        sp = pd.DataFrame(
            [{"period": pd.Timestamp(r.period), "channel": r.attrs.get("channel"), "region": r.attrs.get("region"),
              "spend": r.value, "outcome": r.outcome} for r in rows],
            columns=["period", "channel", "region", "spend", "outcome"],
        )  # fmt: skip
        return spend_control(b, sp, quarter, as_of)

    def evaluate(self, quarter: str, as_of: Any = None) -> tuple[TrackingReport, list[AlertRecord]]:
        """Track, raise alerts under the stored rules and store them (see ``AlertRepository.sync``)."""
        rep = self.track(quarter, as_of)
        with self.transaction() as s:
            rules = AlertRepository(s).rules()
        found = evaluate_alerts(rep.units, rules, spend=rep.spend, marginal=self.marginal())
        with self.transaction(write=True) as s:
            stored = AlertRepository(s).sync(quarter, found)
        return rep, stored

    # ---------------------------------------------------------------------------------------- alerts
    def alerts(
        self, quarter: str | None = None, status: str | None = None, limit: int = 200
    ) -> list[AlertRecord]:
        with self.transaction() as s:
            return AlertRepository(s).list(quarter=quarter, status=status, limit=limit)

    def set_alert_status(
        self, alert_id: str, status: str, actor: str | Actor, note: str | None = None
    ) -> AlertRecord:
        with self.transaction(write=True) as s:
            return AlertRepository(s).set_status(alert_id, status, actor, note)

    def rules(self) -> AlertRules:
        with self.transaction() as s:
            return AlertRepository(s).rules()

    def set_rules(self, values: dict[str, Any], actor: str | Actor) -> AlertRules:
        with self.transaction(write=True) as s:
            return AlertRepository(s).set_rules(values, actor)

    # ---------------------------------------------------------------------------------------- export
    def export(self, report: TrackingReport, table: str, fmt: str) -> TableExport:
        """``table``: units, series, spend or alerts (xlsx: the one asked for first, then the others)."""
        tables = report_tables(report)
        if table not in tables:
            raise ConfigError(f"table must be one of {', '.join(tables)}, got {table!r}")
        ordered = {table: tables[table], **{k: v for k, v in tables.items() if k != table}}
        return table_export(ordered if fmt == "xlsx" else {table: tables[table]}, fmt,
                            f"tracking_{report.quarter}_{table}")  # fmt: skip


def alerts_frame(alerts: Sequence[AlertRecord]) -> pd.DataFrame:
    cols = ["id", "quarter", "rule", "level", "unit_id", "severity", "status", "message", "action",
            "updated_by", "updated_at"]  # fmt: skip
    return pd.DataFrame(
        [
            {c: (getattr(a, c).isoformat() if c == "updated_at" else getattr(a, c)) for c in cols}
            for a in alerts
        ],
        columns=cols,
    )


def report_tables(report: TrackingReport) -> dict[str, pd.DataFrame]:
    """Every table of a tracked quarter, as exported."""
    out = {"units": report.units[TRACKING_COLUMNS], "series": report.series}
    if report.spend is not None:
        out["spend"] = report.spend[SPEND_COLUMNS]
    out["alerts"] = alerts_frame(report.alerts)
    return out


def marginal_returns(curves: Any) -> pd.DataFrame | None:
    """d outcome / d spend per channel × region at its recent spend (``last_spend``), from the budget
    optimiser's fitted response curves (central difference)."""
    if curves is None:
        return None
    from salesplan.planning.budget import response

    prm = curves.params.reset_index(drop=True)
    x = (
        np.nan_to_num(prm["last_spend"].to_numpy(float), nan=0.0)
        if "last_spend" in prm
        else np.zeros(len(prm))
    )
    h = np.maximum(x * 0.01, 1.0)
    up, down = response(curves, (x + h)[None, :])[0], response(curves, np.maximum(x - h, 0)[None, :])[0]
    return pd.DataFrame(
        {"channel": prm["channel"].astype(str), "region": prm["region"].astype(str),
         "marginal_roi": (up - down) / (x + h - np.maximum(x - h, 0))}
    )  # fmt: skip
