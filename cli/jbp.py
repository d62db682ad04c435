"""``salesplan jbp build|list|show|agree|review|export``: key-account joint business plans through the same
``serving.jbp_service`` as ``/api/v1/accounts/{id}/jbp`` and the Selection & accounts page. Building reads
the champion's batch and forecaster (the what-ifs of the promotion and price levers) and the planning data
folder (accounts, outlets, products, sell-out); the other commands read the stored versions only."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import clean_errors, console, progress
from salesplan.cli._plan_io import app_database, default_author
from salesplan.cli.app import app
from salesplan.errors import ConfigError

if TYPE_CHECKING:
    from salesplan.planning.jbp import JointBusinessPlan
    from salesplan.serving.db.jbps import JbpRecord
    from salesplan.serving.jbp_service import AccountData, JbpService

__all__ = ["jbp_app", "jbp_service", "print_plan", "print_review"]

jbp_app = typer.Typer(
    help="Key-account joint business plans: build, agree, review, export.", no_args_is_help=True
)
app.add_typer(jbp_app, name="jbp")

IdArg = Annotated[str, typer.Argument(help="The plan id (or its first 8+ characters).")]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        help="Planning data folder: accounts, outlets, products, sellout (default: SALESPLAN_PLANNING_DATA)."
    ),
]
ModelOpt = Annotated[str, typer.Option(help="Registry alias or version of salesplan-forecast.")]
ByOpt = Annotated[str | None, typer.Option("--by", "--author", help="Who does this (default: $USER).")]


SHORT = {"sales_per_outlet": "sales per outlet", "growth": "growth vs LY", "promo_share": "promo share",
         "margin_rate": "margin rate"}  # fmt: skip


def _money(x: Any) -> str:
    return "–" if x is None or pd.isna(x) else f"{float(x):,.0f}"


def _pct(x: Any) -> str:
    return "–" if x is None or pd.isna(x) else f"{float(x):.0%}"


def account_loader(data: Path | None, model: str = "champion") -> Callable[[], AccountData]:
    """Loads the account data on first use (the registry's batch and forecaster, the data folder)."""

    @functools.cache
    def load() -> AccountData:
        from salesplan.models.batch import load_batch
        from salesplan.models.registry import FORECAST_MODEL, load_forecaster
        from salesplan.serving.jbp_service import load_account_data
        from salesplan.serving.settings import ServingSettings

        folder = data or ServingSettings().planning_data
        if folder is None:
            raise ConfigError("no planning data: pass --data DIR (a folder 'salesplan simulate' wrote) or set "
                              "SALESPLAN_PLANNING_DATA")  # fmt: skip
        with progress(f"loading {FORECAST_MODEL}@{model}, its batch and the accounts of {folder}"):
            batch = load_batch(alias=model)
            estimator, _ = load_forecaster(batch.ref.version)
            stamps: dict[str, dict[str, str | None]] = {
                FORECAST_MODEL: {"version": batch.ref.version, "run_id": batch.ref.run_id}
            }
            return load_account_data(Path(folder), batch.forecast, batch.future, batch.info.get("hierarchy"),
                                     model=estimator, models=stamps)  # fmt: skip

    return load


@contextmanager
def jbp_service(loader: Callable[[], AccountData] | None = None) -> Iterator[JbpService]:
    """The ``JbpService`` on ``SALESPLAN_DATABASE_URL`` (at the current schema: ``salesplan db upgrade``),
    with the approval rules of ``SALESPLAN_MAKER_CHECKER``."""
    from salesplan.serving.jbp_service import JbpService
    from salesplan.serving.settings import ServingSettings

    def no_data() -> AccountData:
        raise ConfigError("this command reads stored plans only")

    with app_database("plans") as transaction:
        yield JbpService(transaction, loader or no_data, four_eyes=ServingSettings().maker_checker)


def print_plan(plan: JointBusinessPlan, rec: JbpRecord | None = None) -> None:
    """The plan's summary: the numbers that head it, quarters, gaps to peers, levers, investments, P&L."""
    a = plan.account
    head = (
        f"{a.get('name')} ({a.get('account_id')}, {a.get('segment')}, {len(a.get('stores', []))} outlet(s))"  # type: ignore[arg-type]
    )
    if rec is not None:
        head += f": plan {rec.id[:8]} version {rec.version} [bold]{rec.status}[/]"
    console.print(head, soft_wrap=True)
    opp = plan.benchmark.opportunity
    gap = f"{_money(opp)} per quarter" if pd.notna(opp) else "not sized (no other account in its segment)"
    console.print(f"joint target {_money(plan.target)} with P(hit) {_pct(plan.p_hit)} (baseline alone "
                  f"{_pct(plan.p_hit_baseline)}); opportunity vs top-quartile peers {gap}", soft_wrap=True)  # fmt: skip
    t = Table(title="baseline, levers and target")
    for c in ("quarter", "baseline P10", "P50", "P90", "levers", "plan P50", "target", "P(hit)"):
        t.add_column(c, justify="left" if c == "quarter" else "right")
    for r in plan.quarters.to_dict("records"):
        t.add_row(str(r["quarter"]), *(_money(r[c]) for c in ("baseline_p10", "baseline_p50", "baseline_p90",
                  "levers", "plan_p50", "target")), _pct(r["p_hit"]))  # fmt: skip
    console.print(t)
    g = Table(title=f"against peers ({plan.benchmark.peer_scope})")
    for c in ("metric", "account", "peer median", "top quartile", "per quarter"):
        g.add_column(c, justify="left" if c == "metric" else "right")
    for r in plan.benchmark.gaps.to_dict("records"):
        f = _money if r["metric"] == "sales_per_outlet" else _pct
        g.add_row(SHORT.get(str(r["metric"]), str(r["metric"])), f(r["account"]), f(r["peer_median"]), f(r["peer_top_quartile"]),
                  _money(r["opportunity"]))  # fmt: skip
    console.print(g)
    lv = Table(title="levers (who pays what)")
    for c in ("quarter", "lever", "sell-out", "supplier", "account", "net"):
        lv.add_column(c, justify="left" if c in ("quarter", "lever") else "right")
    for r in plan.levers.to_dict("records"):
        lv.add_row(str(r["quarter"]), f"{r['lever']} ({r['source']})", _money(r["revenue"]),
                   _money(r["cost_supplier"]), _money(r["cost_account"]), _money(r["net_margin_supplier"]))  # fmt: skip
    console.print(lv)
    for r in plan.levers.drop_duplicates("lever").to_dict("records"):
        console.print(f"  {r['lever']}: {r['detail']}", soft_wrap=True)
    sides = plan.investments.groupby("side")["amount"].sum()
    console.print("investments: " + ("; ".join(f"{k} {_money(v)}" for k, v in sides.items()) or "none"))
    p = Table(title="P&L of the account (supplier)")
    for c in ("quarter", "sell-out", "gross margin", "trade investment", "fees", "contribution", "%"):
        p.add_column(c, justify="left" if c == "quarter" else "right")
    for r in plan.pnl.to_dict("records"):
        p.add_row(str(r["quarter"]), _money(r["revenue"]), _money(r["gross_margin"]), _money(r["promotion"]),
                  _money(r["marketing"]), _money(r["contribution_margin"]), _pct(r["cm_pct"]))  # fmt: skip
    console.print(p)
    for note in plan.assumptions:
        console.print(f"- {note}", soft_wrap=True)


def print_review(review: pd.DataFrame) -> None:
    t = Table(title="quarterly review")
    for c in ("quarter", "target", "weeks sold", "actual", "plan to date", "landing P50", "P(hit)", "status"):
        t.add_column(c, justify="left" if c in ("quarter", "status") else "right")
    for r in review.to_dict("records"):
        t.add_row(str(r["quarter"]), _money(r["target"]), f"{r['weeks_elapsed']}/{r['weeks']}",
                  _money(r["actual_to_date"]), _money(r["plan_to_date"]), _money(r["landing_p50"]),
                  _pct(r["p_hit"]), str(r["status"]))  # fmt: skip
    console.print(t)


@jbp_app.command("build")
@clean_errors
def build_cmd(
    account: Annotated[str, typer.Argument(help="Account id, e.g. A01.")],
    data: DataOpt = None,
    model: ModelOpt = "champion",
    target: Annotated[
        float | None, typer.Option(help="Joint target over the plan (default: at --confidence).")
    ] = None,
    confidence: Annotated[float, typer.Option(help="P(hit) the default target is set at.")] = 0.5,
    promo_weeks: Annotated[int, typer.Option(help="Weeks of promotion of the best seller per quarter.")] = 2,
    promo_depth: Annotated[float, typer.Option(help="Price cut of the promotion.")] = 0.2,
    price_change: Annotated[float, typer.Option(help="Shelf price change, e.g. -0.03.")] = 0.0,
    featured_products: Annotated[int, typer.Option(help="Best sellers given featured placement.")] = 2,
    feature_lift: Annotated[float, typer.Option(help="Assumed uplift of featured placement.")] = 0.08,
    new_outlets: Annotated[int, typer.Option(help="Outlets the account adds in the first quarter.")] = 0,
    service_from: Annotated[float, typer.Option(help="On-shelf availability today.")] = 0.95,
    service_to: Annotated[float, typer.Option(help="On-shelf availability agreed.")] = 0.95,
    note: Annotated[str | None, typer.Option(help="Kept with the plan.")] = None,
    by: ByOpt = None,
    save: Annotated[bool, typer.Option(help="Store as the account's next version (draft).")] = True,
) -> None:
    """Draft a joint business plan for one account: baseline, gap to peers, levers, joint target and P(hit),
    investments per side, P&L; stored as the account's next version unless --no-save."""
    from salesplan.planning.jbp import LeverSettings

    settings = LeverSettings(promo_weeks=promo_weeks, promo_depth=promo_depth, price_change=price_change,
                             featured_products=featured_products, feature_lift=feature_lift,
                             new_outlets=new_outlets, service_from=service_from, service_to=service_to)  # fmt: skip
    with jbp_service(account_loader(data, model)) as service:
        if save:
            rec, plan = service.create(account, settings, author=by or default_author(), target=target,
                                       confidence=confidence, note=note)  # fmt: skip
            print_plan(plan, rec)
            console.print(f"stored plan {rec.id} (draft); agree it with 'salesplan jbp agree {rec.id[:8]} "
                          "--signatory NAME' (someone else)", soft_wrap=True)  # fmt: skip
        else:
            print_plan(service.build(account, settings, target=target, confidence=confidence))


@jbp_app.command("list")
@clean_errors
def list_cmd(
    account: Annotated[str | None, typer.Option(help="Only this account's versions.")] = None,
    status: Annotated[str | None, typer.Option(help="draft, agreed or superseded.")] = None,
) -> None:
    """Stored plans, newest version of each account first."""
    if status is not None and status not in ("draft", "agreed", "superseded"):
        raise ConfigError(f"status must be draft, agreed or superseded, got {status!r}")
    with jbp_service() as service:
        rows = service.list(account, cast("Literal['draft', 'agreed', 'superseded'] | None", status))
    t = Table(title=f"{len(rows)} joint business plan(s)")
    for c in ("id", "account", "v", "status", "quarters", "target", "P(hit)", "author", "agreed by"):
        t.add_column(
            c, justify="right" if c in ("v", "target", "P(hit)") else "left", no_wrap=c in ("id", "status")
        )
    for r in rows:
        agreed = f"{r.agreed_by} / {r.account_signatory}" if r.agreed_by else "–"
        name = f"{r.account_id} {r.plan.get('account', {}).get('name', '')}".strip()
        t.add_row(r.id[:8], name, str(r.version), r.status, r.quarters, _money(r.target), _pct(r.p_hit), r.author,
                  agreed)  # fmt: skip
    console.print(t)


@jbp_app.command("show")
@clean_errors
def show_cmd(jbp_id: IdArg) -> None:
    """One stored plan: its tables as stored."""
    from salesplan.serving.jbp_service import plan_tables

    with jbp_service() as service:
        rec = service.get(jbp_id)
    console.print(f"plan {rec.id}: account {rec.account_id} version {rec.version} [bold]{rec.status}[/], "
                  f"{rec.quarters}, target {_money(rec.target)}, P(hit) {_pct(rec.p_hit)}, by {rec.author}"
                  + (f", agreed by {rec.agreed_by} and {rec.account_signatory} {rec.agreed_at:%Y-%m-%d}"
                     if rec.agreed_at else ""), soft_wrap=True)  # fmt: skip
    for name, df in plan_tables(rec.plan).items():
        if name in ("quarters", "levers", "investments", "pnl"):
            console.print(f"[bold]{name}[/]")
            console.print(df.drop(columns=[c for c in ("detail",) if c in df.columns]).to_string(
                index=False, float_format=lambda x: f"{x:,.2f}"))  # fmt: skip


@jbp_app.command("agree")
@clean_errors
def agree_cmd(
    jbp_id: IdArg,
    signatory: Annotated[str, typer.Option(help="Who agreed on the account's side.")],
    by: ByOpt = None,
) -> None:
    """Agree a draft (not by its author); the account's agreed plan before it is superseded."""
    with jbp_service() as service:
        rec = service.agree(jbp_id, by=by or default_author(), signatory=signatory)
    console.print(f"plan {rec.id} of {rec.account_id} version {rec.version} agreed by {rec.agreed_by} and "
                  f"{rec.account_signatory}", soft_wrap=True)  # fmt: skip


@jbp_app.command("review")
@clean_errors
def review_cmd(jbp_id: IdArg, data: DataOpt = None, model: ModelOpt = "champion") -> None:
    """Plan vs actual per plan quarter (loaded actuals, else the sell-out history), with the landing."""
    with jbp_service(account_loader(data, model)) as service:
        print_review(service.review(jbp_id))


@jbp_app.command("export")
@clean_errors
def export_cmd(
    jbp_id: IdArg,
    out: Annotated[Path, typer.Option(help="File to write: .csv, .xlsx or .html (the one-pager).")],
    data: DataOpt = None,
    model: ModelOpt = "champion",
    review: Annotated[bool, typer.Option(help="Include the quarterly review (needs the batch).")] = False,
) -> None:
    """Write a stored plan as CSV (its quarters), Excel (every table) or a self-contained HTML one-pager."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("csv", "xlsx", "html"):
        raise ConfigError(f"{out}: write a .csv, .xlsx or .html file")
    loader = account_loader(data, model) if review else None
    with jbp_service(loader) as service:
        export = service.export(jbp_id, cast("Literal['csv', 'xlsx', 'html']", fmt), with_review=review)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(export.content)
    console.print(f"wrote {out}", soft_wrap=True)
