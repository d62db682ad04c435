"""``TrackingService``: the one plan-vs-actual workflow the CLI, the API and the web page call.

Load actuals and the spend plan (validated through the contracts, stored idempotently), track a quarter
(the approved sell-out proposal against the actuals, with the champion batch's conditioned landing and the
spend against budgets and caps), evaluate and store the alerts, change an alert's status, read and set
the rules, and export any table to CSV or Excel. A bookings proposal is tracked from the won deals loaded
(``--kind bookings``), the CRM's open deals with their scores and the run-rate of new deals
(``planning.tracking.bookings``), and its alerts include the pipeline-coverage rule. Where the forecast
batch, the CRM with its scores and the marginal returns come from is injected (the running service's
loaded champion and planning data, or the registry and a CRM folder for the CLI)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesplan.contracts.periods import DAYS
from salesplan.errors import ConfigError, DataValidationError, NotFoundError, Problem, SalesplanError
from salesplan.planning.funnel import data_end
from salesplan.planning.funnel.paths import to_date
from salesplan.planning.tracking import (
    SPEND_COLUMNS,
    TRACKING_COLUMNS,
    AlertRules,
    BookingsState,
    Tracking,
    evaluate_alerts,
    new_deal_run_rate,
    quarter_calendar,
    rollup_actuals,
    spend_control,
    track_bookings,
    track_sellout,
    unplaced_note,
    week_start_of,
)
from salesplan.serving.db.actuals import ActualRow, ActualsRepository, BudgetRow, LoadResult
from salesplan.serving.db.alerts import AlertRecord, AlertRepository
from salesplan.serving.db.engine import Transaction
from salesplan.serving.db.proposal_frames import rows_to_frame
from salesplan.serving.db.proposal_parameters import ProposalParameters
from salesplan.serving.db.records import Actor, StoredProposal
from salesplan.serving.db.repository import ProposalRepository
from salesplan.serving.tracking_bookings import CRMState, deals_per_unit, open_deals
from salesplan.serving.tracking_rows import actual_rows, budget_rows

__all__ = ["KINDS", "CRMState", "TableExport", "TrackingReport", "TrackingService", "table_export"]

Kind = Literal["sellout", "bookings", "spend", "budget"]
KINDS: tuple[str, ...] = ("sellout", "bookings", "spend", "budget")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class TableExport:
    content: bytes
    media_type: str
    filename: str


@dataclass(frozen=True)
class TrackingReport:
    """A tracked quarter: ``units`` (``TRACKING_COLUMNS``), ``series`` (cumulative plan, actual and
    landing fan per unit and period), ``spend`` (``SPEND_COLUMNS``, None without budgets or spend), the
    quarter's stored ``alerts`` and what was left out (``notes``). A bookings report (``domain``) also
    has ``deals``: the open deals that can still book this quarter, one row per deal and unit it counts
    in (``unit_id, opportunity_id, deal, amount, p_win, expected_close_date, expected_value``)."""

    quarter: str
    as_of: pd.Timestamp
    proposal_id: str
    measure: str
    units: pd.DataFrame
    series: pd.DataFrame
    spend: pd.DataFrame | None
    alerts: list[AlertRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    domain: str = "sellout"
    deals: pd.DataFrame | None = None


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


class TrackingService:
    """Every tracking operation over a transaction factory; ``forecast`` gives the champion batch's
    forecast frame, ``marginal`` the marginal return per channel × region (or None)."""

    def __init__(
        self,
        transaction: Transaction,
        forecast: Callable[[], pd.DataFrame],
        marginal: Callable[[], pd.DataFrame | None] = lambda: None,
        crm: Callable[[], CRMState] | None = None,
    ) -> None:
        self.transaction = transaction
        self.forecast = forecast
        self.marginal = marginal
        self.crm = crm

    # --------------------------------------------------------------------------------------- loading
    def load(self, kind: str, frame: pd.DataFrame, actor: str | Actor, freq: str = "W") -> LoadResult:
        """Store a batch of actuals (or the spend plan, ``kind="budget"``), idempotently."""
        if kind == "budget":
            rows = budget_rows(frame)
            with self.transaction(write=True) as s:
                res = ActualsRepository(s).load_budgets(rows, actor)
            return replace(res, quarters=_quarters(pd.Timestamp(f"{r.month}-01") for r in rows))
        typed = actual_rows(kind, frame, freq)
        champion = self._champion() if kind == "sellout" else None
        if champion is not None and freq == "W":
            self._check_week_start(typed, champion)
        with self.transaction(write=True) as s:
            res = ActualsRepository(s).load(typed, actor)
        if champion is not None:
            loaded = pd.DataFrame([{"unique_id": r.series, **r.attrs} for r in typed])
            res = replace(res, notes=tuple(unplaced_note(loaded, champion)))
        return replace(res, quarters=_quarters(pd.Timestamp(r.period) for r in typed))

    def _champion(self) -> pd.DataFrame | None:
        """The champion batch's forecast, None without one (loading needs no champion; its checks do)."""
        try:
            forecast = self.forecast()
        except SalesplanError:
            return None
        return None if forecast.empty else forecast

    @staticmethod
    def _check_week_start(rows: Sequence[ActualRow], forecast: pd.DataFrame) -> None:
        """Refuse weekly sell-out actuals dated on another weekday than the champion batch's weeks start
        on: tracking matches each row to a week by its start date, so a Tuesday-dated week would be stored
        and then never counted. Without a champion batch there is nothing to match yet, and no check."""
        if not (forecast["freq"] == "W").any():
            return
        start = week_start_of(forecast)
        off = [r for r in rows if r.period.weekday() != start]
        if off:
            day = DAYS[start]
            raise DataValidationError(
                [Problem("ds", f"weekly actuals must be dated by the week's first day, a {day} in the champion's "
                         f"forecast (so tracking can match them to its weeks)",
                         rows=tuple(f"{r.series}/{r.period}" for r in off[:5]), n_rows=len(off),
                         fix=f"date each week by its {day}, e.g. ds - pd.to_timedelta((ds.dt.dayofweek - {start}) % 7, 'D')")],
                "sell-out actuals",
            )  # fmt: skip

    # -------------------------------------------------------------------------------------- tracking
    def approved(self, quarter: str, domain: str | None = None) -> StoredProposal:
        """The quarter's approved proposal of ``domain`` (sellout or bookings; None: sell-out if there is
        one, else bookings)."""
        if domain not in (None, "sellout", "bookings"):
            raise ConfigError(f"domain must be sellout or bookings, got {domain!r}")
        found: dict[str, StoredProposal] = {}
        with self.transaction() as s:
            repo = ProposalRepository(s)
            for h in repo.list(quarter=quarter, status="approved", limit=100):
                p = repo.get(h.id)
                found.setdefault(ProposalParameters.from_json(p.parameters, p.id).request.resolved_domain, p)
        for d in (domain,) if domain else ("sellout", "bookings"):
            if d in found:
                return found[d]
        what = "bookings" if domain == "bookings" else "sell-out"
        nor = " (nor a bookings one)" if domain is None else ""
        raise NotFoundError(
            f"no approved {what} proposal for {quarter}{nor}: plan one (salesplan plan targets --quarter "
            f"{quarter}) and approve it, then track it"
        )

    def track(
        self, quarter: str, as_of: Any = None, level: str | None = None, domain: str | None = None
    ) -> TrackingReport:
        """Plan vs actual vs landing of ``quarter``'s approved proposal (read only)."""
        as_of = _as_of_day(as_of)
        p = self.approved(quarter, domain)
        params = ProposalParameters.from_json(p.parameters, p.id)
        plan = rows_to_frame(p.rows, params.months)
        if params.request.resolved_domain == "bookings":
            return self._track_bookings(p, params, plan, quarter, as_of, level)
        forecast = self.forecast()
        cal = quarter_calendar(quarter, "W", week_start=week_start_of(forecast))
        start, end = cal.starts[0].date(), cal.last_day.date()
        with self.transaction() as s:
            repo = ActualsRepository(s)
            sell = repo.rows("sellout", start, end)
            spend_rows = repo.rows("spend", start, end)
            budgets = repo.budgets(cal.months)
            alerts = AlertRepository(s).list(quarter=quarter, domain="sellout", limit=1000)
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
            notes.extend(unplaced_note(bottom, forecast))
        day = None if as_of is None else pd.Timestamp(as_of)
        if day is None and not sell:
            day = cal.first_day - pd.Timedelta(days=1)
        tr = track_sellout(plan, forecast, acts, quarter, day)
        spend = self._spend(budgets, spend_rows, quarter, tr.as_of, notes)
        units, series, _ = _only_level(tr, level, None)
        return TrackingReport(quarter, tr.as_of, p.id, params.measure, units, series, spend, alerts, notes)

    def _track_bookings(
        self, p: StoredProposal, params: ProposalParameters, plan: pd.DataFrame, quarter: str, as_of: Any,
        level: str | None,
    ) -> TrackingReport:  # fmt: skip
        """Won to date (loaded actuals) + open pipeline + run-rate of new deals, per unit of the plan."""
        if self.crm is None:
            raise ConfigError(
                "tracking a bookings proposal needs the CRM with its open deals: give the CLI --crm DIR "
                "(or serve with planning data that has a crm/ folder)"
            )
        state = self.crm()
        cal = quarter_calendar(quarter, "W")
        notes: list[str] = []
        end = data_end(state.crm)
        if as_of is None:
            day = min(max(end, cal.first_day - pd.Timedelta(days=1)), cal.last_day)
        else:
            day = pd.Timestamp(as_of).normalize()
            if day < end - pd.Timedelta(days=7):
                notes.append(f"open deals are the CRM's as of {end.date()}, later than as_of {day.date()}")
            elif day > end + pd.Timedelta(days=7) and end < cal.last_day:
                notes.append(
                    f"the CRM runs to {end.date()}, before as_of {day.date()}: deals won or lost since are not "
                    "known, so the landing counts no win in between and too few open deals may remain; "
                    f"track with a newer CRM extract, or as of {end.date()}"
                )
        with self.transaction() as s:
            repo = ActualsRepository(s)
            won_rows = repo.rows("bookings", cal.first_day.date(), day.date())
            spend_rows = repo.rows("spend", cal.starts[0].date(), cal.last_day.date())
            budgets = repo.budgets(cal.months)
            alerts = AlertRepository(s).list(quarter=quarter, domain="bookings", limit=1000)
        if not won_rows:
            notes.append(
                f"no bookings actuals of {quarter} loaded yet (salesplan actuals load --kind bookings)"
            )
        won = pd.DataFrame(
            [{"opportunity_id": r.series, "close_date": pd.Timestamp(r.period), "amount": r.value, **r.attrs}
             for r in won_rows],
            columns=["opportunity_id", "close_date", "amount", "rep_id", "team", "region"],
        )  # fmt: skip
        deals = open_deals(state, notes, quarter, day)
        if end > cal.last_day:  # the CRM is past the quarter: nothing open can book in it any more
            deals = deals.iloc[:0]
            notes.append(f"{quarter} is over (the CRM runs to {end.date()}): the landing is what was booked")
        rates = new_deal_run_rate(state.crm, quarter, day)
        tr = track_bookings(plan, BookingsState(won, deals, rates, state.shock), quarter, day)
        spend = self._spend(budgets, spend_rows, quarter, tr.as_of, notes)
        units, series, per_unit = _only_level(tr, level, deals_per_unit(plan, tr, deals))
        return TrackingReport(quarter, tr.as_of, p.id, params.measure or "bookings", units, series, spend,
                              alerts, notes, "bookings", per_unit)  # fmt: skip

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

    def evaluate(
        self, quarter: str, as_of: Any = None, domain: str | None = None
    ) -> tuple[TrackingReport, list[AlertRecord]]:
        """Track, raise alerts under the stored rules and store them (see ``AlertRepository.sync``); a
        bookings proposal also gets the pipeline-coverage rule from its open deals."""
        rep = self.track(quarter, as_of, domain=domain)
        with self.transaction() as s:
            rules = AlertRepository(s).rules()
        pipeline = rep.units[["unit_id", "open_pipeline"]] if rep.domain == "bookings" else None
        found = evaluate_alerts(rep.units, rules, spend=rep.spend, marginal=self.marginal(), pipeline=pipeline,
                                deals=rep.deals)  # fmt: skip
        with self.transaction(write=True) as s:
            stored = AlertRepository(s).sync(quarter, found, domain=rep.domain)
        return rep, stored

    # ---------------------------------------------------------------------------------------- alerts
    def alerts(
        self,
        quarter: str | None = None,
        status: str | None = None,
        limit: int = 200,
        domain: str | None = None,
    ) -> list[AlertRecord]:
        with self.transaction() as s:
            return AlertRepository(s).list(quarter=quarter, status=status, limit=limit, domain=domain)

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
        """``table``: units, series, spend, alerts or (bookings) deals (xlsx: the one asked for first, then
        the others)."""
        tables = report_tables(report)
        if table not in tables:
            raise ConfigError(f"table must be one of {', '.join(tables)}, got {table!r}")
        ordered = {table: tables[table], **{k: v for k, v in tables.items() if k != table}}
        return table_export(ordered if fmt == "xlsx" else {table: tables[table]}, fmt,
                            f"tracking_{report.quarter}_{table}")  # fmt: skip


def _as_of_day(value: Any) -> pd.Timestamp | None:
    """The tracking date (None: the latest actuals), or ``to_date``'s clear error for text that is not a day."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_date(value, "as_of").normalize()


def _quarters(days: Iterable[pd.Timestamp]) -> tuple[str, ...]:
    return tuple(sorted({str(pd.Timestamp(d).to_period("Q")) for d in days}))


def _only_level(
    tr: Tracking, level: str | None, deals: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    units, series = tr.units, tr.series
    if level is None:
        return units, series, deals
    have = sorted(units["level"].unique())
    if level not in have:
        raise ConfigError(f"level {level!r} is not in the proposal (it has {have})")
    units = units[units["level"] == level].reset_index(drop=True)
    keep = set(units["unit_id"])
    series = series[series["unit_id"].isin(keep)].reset_index(drop=True)
    return units, series, None if deals is None else deals[deals["unit_id"].isin(keep)].reset_index(drop=True)


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
    extra = [c for c in report.units.columns if c not in TRACKING_COLUMNS]
    out = {"units": report.units[[*TRACKING_COLUMNS, *extra]], "series": report.series}
    if report.spend is not None:
        out["spend"] = report.spend[SPEND_COLUMNS]
    if report.deals is not None:
        out["deals"] = report.deals
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
