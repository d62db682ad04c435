"""The one joint-business-plan workflow behind ``salesplan jbp ...``, ``/api/v1/accounts/...`` and the
accounts section of the Selection & accounts page: build a plan for an account (the forecaster's what-if
for the promotion and price levers, ``planning.jbp`` for the rest), store it as the account's next version
(draft), agree it (four eyes, the account's signatory named; the agreed plan before it is superseded),
review it against actuals and export it (CSV, Excel, a self-contained HTML one-pager).

The doors differ only in where the data come from (:class:`AccountData`, loaded on first use): the running
service's champion, batch and planning data, or the registry and a data folder read by the CLI. A stored
plan is the JSON of what was built, so reading, exporting and reviewing it never depend on today's
models."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataNotFoundError, NotFoundError, SalesplanError
from salesplan.io import find_table, jsonable, read_table, records
from salesplan.models.forecast.base import Forecaster
from salesplan.models.forecast.whatif import Scenario, what_if
from salesplan.planning.jbp import (
    FULL_COVERAGE,
    JbpInputs,
    JointBusinessPlan,
    LeverSettings,
    WhatIfEffect,
    account_row,
    build_plan,
    quarterly_sales,
    review_plan,
    top_products,
)
from salesplan.planning.promotions import post_promo_dip
from salesplan.planning.reports.jbp import jbp_report
from salesplan.serving.db.actuals import ActualsRepository
from salesplan.serving.db.engine import Transaction
from salesplan.serving.db.jbps import JbpRecord, JbpRepository, JbpStatus, NewJbp
from salesplan.serving.db.records import Actor
from salesplan.serving.selection_service import load_products
from salesplan.serving.tracking_service import TableExport, table_export

__all__ = [
    "ACCOUNTS_TABLE",
    "MIN_ID_PREFIX",
    "OUTLETS_TABLE",
    "AccountData",
    "JbpService",
    "load_account_data",
    "plan_json",
    "plan_tables",
]

MIN_ID_PREFIX = 8
ACCOUNTS_TABLE, OUTLETS_TABLE = "accounts", "outlets"
"""``accounts.csv`` (account_id, name, segment) and ``outlets.csv`` (account_id, store) in the planning data
folder, what ``salesplan simulate`` writes; a real CRM's chains and store groups exported the same way."""
Format = Literal["csv", "xlsx", "html"]
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class AccountData:
    """What plans are built from: ``accounts``/``outlets`` tables, ``sales`` (``planning.jbp.quarterly_sales``
    of the sell-out), the batch ``forecast`` (store level, quarter and week rows are used), the bottom-level
    ``future`` regressors and ``sellout`` history (weekly actuals of past weeks; the dip), the forecaster for
    the what-ifs (None: those levers are left out, with why) and the model stamps stored with a plan."""

    accounts: pd.DataFrame
    outlets: pd.DataFrame
    sales: pd.DataFrame
    forecast: pd.DataFrame
    future: pd.DataFrame | None = None
    sellout: pd.DataFrame | None = None
    model: Forecaster | None = None
    hierarchy: Mapping[str, Sequence[str]] | None = None
    models: dict[str, dict[str, str | None]] = field(default_factory=dict)
    store_col: str = "store"
    product_col: str = "product"
    promo_col: str = "promo"

    def store_rows(self, freq: str) -> pd.DataFrame:
        f = self.forecast
        return f[(f["level"] == self.store_col) & (f["freq"] == freq)]


def load_account_data(
    folder: Path,
    forecast: pd.DataFrame,
    future: pd.DataFrame | None,
    hierarchy: Mapping[str, Sequence[str]] | None,
    *,
    sellout: pd.DataFrame | None = None,
    model: Forecaster | None = None,
    models: dict[str, dict[str, str | None]] | None = None,
) -> AccountData:
    """The account data of a planning-data folder and a batch: the accounts, outlets and products tables
    and the sell-out (read from the folder unless given). Errors name the missing table and the fix."""
    tables = {}
    for name in (ACCOUNTS_TABLE, OUTLETS_TABLE):
        path = find_table(Path(folder), name)
        if path is None:
            raise DataNotFoundError(
                f"no {name}.csv in {folder}: joint business plans need the key accounts (accounts.csv: "
                "account_id, name, segment) and their outlets (outlets.csv: account_id, store)"
            )
        tables[name] = read_table(path).astype({"account_id": str})
    products = load_products(Path(folder))
    if products is None:
        raise DataNotFoundError(
            f"no products.csv (product, price, unit_cost) in {folder}: needed for margins"
        )
    if sellout is None:
        path = find_table(Path(folder), "sellout")
        if path is None:
            raise DataNotFoundError(f"no sellout.parquet or sellout.csv in {folder}")
        sellout = read_table(path)
    sales = quarterly_sales(sellout, products)
    return AccountData(tables[ACCOUNTS_TABLE], tables[OUTLETS_TABLE].astype({"store": str}), sales, forecast,
                       future, sellout, model, hierarchy, models or {})  # fmt: skip


def plan_json(plan: JointBusinessPlan, settings: LeverSettings, confidence: float) -> dict[str, Any]:
    """A plan as stored: every table as records, the numbers that head it, the settings it was built with."""
    b = plan.benchmark
    return jsonable({
        "schema": 1, "account": plan.account, "target": plan.target, "p_hit": plan.p_hit,
        "p_hit_baseline": plan.p_hit_baseline, "price_per_unit": plan.price_per_unit,
        "margin_rate": plan.margin_rate, "confidence": confidence, "settings": settings.to_dict(),
        "opportunity": b.opportunity, "peer_scope": b.peer_scope, "history_quarters": list(b.quarters),
        "quarters": records(plan.quarters), "gaps": records(b.gaps),
        "peers": records(b.metrics[b.metrics["peer"] | (b.metrics["account_id"] == plan.account["account_id"])]),
        "levers": records(plan.levers), "investments": records(plan.investments), "pnl": records(plan.pnl),
        "assumptions": plan.assumptions,
    })  # fmt: skip


def plan_tables(plan: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """A stored plan's tables (what the exports hold), the one-line summary first."""
    head = {k: plan.get(k) for k in ("target", "p_hit", "p_hit_baseline", "opportunity", "margin_rate")}
    acc = plan.get("account", {})
    summary = pd.DataFrame([{"account_id": acc.get("account_id"), "name": acc.get("name"),
                             "segment": acc.get("segment"), **head}])  # fmt: skip
    out = {"summary": summary}
    for name in ("quarters", "gaps", "levers", "investments", "pnl", "peers", "review"):
        if name in plan:
            out[name] = pd.DataFrame(plan[name])
    return out


class JbpService:
    """Every joint-business-plan operation, over a transaction factory and the account data."""

    def __init__(
        self, transaction: Transaction, data: Callable[[], AccountData], *, four_eyes: bool = True
    ) -> None:
        self.transaction = transaction
        self._data = data
        self.four_eyes = four_eyes

    def data(self) -> AccountData:
        return self._data()

    # ----------------------------------------------------------------------------------------- accounts
    def accounts(self) -> pd.DataFrame:
        """Every account with its segment, outlets and its latest plan (version, status), if any."""
        d = self.data()
        acc = d.accounts.assign(account_id=d.accounts["account_id"].astype(str))
        with self.transaction() as session:
            latest = {p.account_id: p for p in JbpRepository(session).latest_per_account()}
        acc["latest_version"] = [latest[a].version if a in latest else None for a in acc["account_id"]]
        acc["latest_status"] = [latest[a].status if a in latest else None for a in acc["account_id"]]
        return acc.reset_index(drop=True)

    # --------------------------------------------------------------------------------------------- build
    def build(self, account_id: str, settings: LeverSettings | None = None, *, target: float | None = None,
              confidence: float = 0.5) -> JointBusinessPlan:  # fmt: skip
        """The plan, not stored (the what-ifs run here: one per lever and plan quarter)."""
        d = self.data()
        s = settings or LeverSettings()
        account_row(d.accounts, account_id)
        stores = sorted(
            d.outlets.loc[d.outlets["account_id"].astype(str) == str(account_id), "store"].astype(str)
        )
        fq = d.store_rows("Q")
        quarters = sorted(
            fq.loc[fq["coverage"].astype(float) >= FULL_COVERAGE, "period"].astype(str).unique()
        )
        promo, price = self._what_ifs(d, stores, quarters, s)
        inputs = JbpInputs(account_id=str(account_id), accounts=d.accounts, outlets=d.outlets, sales=d.sales,
                           forecast=fq, settings=s, promo=promo, price=price, target=target,
                           confidence=confidence)  # fmt: skip
        return build_plan(inputs)

    def _what_ifs(self, d: AccountData, stores: list[str], quarters: list[str],
                  s: LeverSettings) -> tuple[dict[str, WhatIfEffect], dict[str, WhatIfEffect]]:  # fmt: skip
        """Promotion of the account's best seller for ``promo_weeks`` from each quarter's first week, and the
        price change over each whole quarter, through ``models.forecast.whatif`` (as ``forecast what-if``)."""
        promo: dict[str, WhatIfEffect] = {}
        price: dict[str, WhatIfEffect] = {}
        fut = d.future
        if d.model is None or fut is None or not stores:
            return promo, price
        recent = tuple(sorted(d.sales["quarter"].astype(str).unique())[-4:])
        best, _ = top_products(d.sales, stores, recent, 1)
        f = fut[fut[d.store_col].astype(str).isin(stores)]
        dip = post_promo_dip(d.sellout, d.promo_col) if d.sellout is not None else (0.0, 0.0)
        for q in quarters:
            per = pd.Period(q, freq="Q")
            weeks = sorted(pd.to_datetime(f.loc[(pd.to_datetime(f["ds"]) >= per.start_time)
                                                & (pd.to_datetime(f["ds"]) <= per.end_time), "ds"]).unique())  # fmt: skip
            if not weeks:
                continue
            if s.promo_weeks > 0 and best:
                ids = tuple(
                    sorted(f.loc[f[d.product_col].astype(str) == best[0], "unique_id"].astype(str).unique())
                )
                if ids:
                    n = min(s.promo_weeks, len(weeks))
                    sc = Scenario(ids=ids, start=pd.Timestamp(weeks[0]), end=pd.Timestamp(weeks[n - 1]) + pd.Timedelta(days=6),
                                  promo=1, promo_depth=s.promo_depth or None)  # fmt: skip
                    r = what_if(d.model, fut, sc, d.hierarchy)
                    base, new = r.totals(changed=True)
                    weekly = base / n if n else 0.0
                    promo[q] = WhatIfEffect(base, new, r.siblings_diff, -(dip[0] + dip[1]) * weekly, n)
            if s.price_change != 0:
                ids = tuple(sorted(f["unique_id"].astype(str).unique()))
                sc = Scenario(ids=ids, start=pd.Timestamp(weeks[0]), end=pd.Timestamp(weeks[-1]) + pd.Timedelta(days=6),
                              price_change=s.price_change)  # fmt: skip
                r = what_if(d.model, fut, sc, d.hierarchy)
                base, new = r.totals(changed=True)
                price[q] = WhatIfEffect(base, new, r.siblings_diff, 0.0, len(weeks))
        return promo, price

    def create(self, account_id: str, settings: LeverSettings | None = None, *, author: str | Actor,
               target: float | None = None, confidence: float = 0.5,
               note: str | None = None) -> tuple[JbpRecord, JointBusinessPlan]:  # fmt: skip
        """Build and store as the account's next version (a draft)."""
        s = settings or LeverSettings()
        plan = self.build(account_id, s, target=target, confidence=confidence)
        qs = plan.quarters["quarter"].astype(str).tolist()
        new = NewJbp(account_id=str(account_id), quarters=qs[0] if len(qs) == 1 else f"{qs[0]}-{qs[-1]}",
                     target=Decimal(str(round(plan.target, 2))), p_hit=float(np.clip(plan.p_hit, 0, 1)),
                     plan=plan_json(plan, s, confidence), input_models=self.data().models,
                     author=Actor.of(author).name, note=note)  # fmt: skip
        with self.transaction(write=True) as session:
            rec = JbpRepository(session).create(new, author)
        return rec, plan

    # ---------------------------------------------------------------------------------------------- read
    def get(self, jbp_id: str) -> JbpRecord:
        """By id or a unique prefix of at least ``MIN_ID_PREFIX`` characters."""
        with self.transaction() as session:
            repo = JbpRepository(session)
            return repo.get(self._resolve(repo, jbp_id))

    def _resolve(self, repo: JbpRepository, jbp_id: str) -> str:
        if len(jbp_id) >= 36 or len(jbp_id) < MIN_ID_PREFIX:
            return jbp_id
        hits = repo.ids_with_prefix(jbp_id)
        if len(hits) > 1:
            raise ConfigError(f"plan id prefix {jbp_id!r} is ambiguous; give more characters")
        return hits[0] if hits else jbp_id

    def list(self, account_id: str | None = None, status: JbpStatus | None = None,
             limit: int = 100) -> builtins.list[JbpRecord]:  # fmt: skip
        with self.transaction() as session:
            return JbpRepository(session).list(account_id, status, limit)

    def latest(self, account_id: str) -> tuple[JbpRecord | None, builtins.list[JbpRecord]]:
        """The agreed plan of the account (else its newest draft) and every version, newest first."""
        account_row(self.data().accounts, account_id)
        versions = self.list(str(account_id), limit=1000)
        agreed = [v for v in versions if v.status == "agreed"]
        return (agreed[0] if agreed else (versions[0] if versions else None)), versions

    def history(self, jbp_id: str) -> builtins.list[Any]:
        with self.transaction() as session:
            repo = JbpRepository(session)
            return repo.history(self._resolve(repo, jbp_id))

    # ------------------------------------------------------------------------------------------- decide
    def agree(self, jbp_id: str, *, by: str | Actor, signatory: str) -> JbpRecord:
        with self.transaction(write=True) as session:
            repo = JbpRepository(session)
            return repo.agree(self._resolve(repo, jbp_id), by, signatory, four_eyes=self.four_eyes)

    # ------------------------------------------------------------------------------------------- review
    def review(self, jbp_id: str) -> pd.DataFrame:
        """Plan vs actual per plan quarter: weekly actuals of the account's series from the actuals table
        (``salesplan actuals load``), else from the sell-out history, valued at the plan's price per unit."""
        rec = self.get(jbp_id)
        d = self.data()
        stores = [str(s) for s in rec.plan["account"].get("stores", [])]
        price = float(rec.plan["price_per_unit"])
        fw = d.store_rows("W")
        fw = fw[fw[d.store_col].astype(str).isin(stores)]
        if fw.empty:
            raise NotFoundError(f"the batch forecast has no weekly rows of the outlets of account {rec.account_id} "
                                "(the plan's quarters may be past the batch's horizon); retrain the forecaster")  # fmt: skip
        weekly = fw.groupby("ds", as_index=False)[["q10", "q50", "q90"]].sum()
        weekly = pd.DataFrame({"ds": weekly["ds"], "p10": weekly["q10"] * price, "p50": weekly["q50"] * price,
                               "p90": weekly["q90"] * price})  # fmt: skip
        start, end = pd.to_datetime(weekly["ds"]).min(), pd.to_datetime(weekly["ds"]).max()
        acts = self._actuals(d, stores, start, end)
        return review_plan(
            pd.DataFrame(rec.plan["quarters"]), weekly, acts.assign(actual=acts["units"] * price)
        )

    def _actuals(
        self, d: AccountData, stores: builtins.list[str], start: pd.Timestamp, end: pd.Timestamp
    ) -> pd.DataFrame:
        """Units per week of the stores: loaded actuals over the sell-out history where both have a week."""
        parts = []
        if d.sellout is not None and d.store_col in d.sellout.columns:
            s = d.sellout[d.sellout[d.store_col].astype(str).isin(stores)]
            ds = pd.to_datetime(s["ds"])
            s = s[(ds >= start) & (ds <= end)]
            parts.append(pd.DataFrame({"unique_id": s["unique_id"].astype(str), "ds": pd.to_datetime(s["ds"]),
                                       "units": s["y"].astype(float), "rank": 0}))  # fmt: skip
        with self.transaction() as session:
            rows = ActualsRepository(session).rows("sellout", start.date(), end.date())
        ids = set(d.future["unique_id"].astype(str)) if d.future is not None else set()
        store_of = (dict(zip(d.future["unique_id"].astype(str), d.future[d.store_col].astype(str), strict=False))
                    if d.future is not None else {})  # fmt: skip
        mine = [r for r in rows if (r.series in ids and store_of.get(r.series) in stores)
                or str(r.attrs.get(d.store_col)) in stores]  # fmt: skip
        if mine:
            parts.append(pd.DataFrame({"unique_id": [r.series for r in mine],
                                       "ds": pd.to_datetime([r.period for r in mine]),
                                       "units": [r.value for r in mine], "rank": 1}))  # fmt: skip
        if not parts:
            return pd.DataFrame({"ds": pd.Series(dtype="datetime64[ns]"), "units": pd.Series(dtype=float)})
        a = pd.concat(parts).sort_values("rank").drop_duplicates(["unique_id", "ds"], keep="last")
        return a.groupby("ds", as_index=False).agg(units=("units", "sum"))

    # ------------------------------------------------------------------------------------------- export
    def export(self, jbp_id: str, fmt: Format = "csv", *, with_review: bool = True) -> TableExport:
        """CSV (the quarters table), an Excel workbook (a sheet per table) or the HTML one-pager."""
        rec = self.get(jbp_id)
        plan = dict(rec.plan)
        if with_review:
            with contextlib.suppress(SalesplanError):  # a stored plan exports without today's data
                plan["review"] = records(self.review(rec.id))
        stem = f"jbp-{rec.account_id}-v{rec.version}"
        if fmt == "html":
            return TableExport(jbp_report(rec.header(), plan).encode(), HTML, f"{stem}.html")
        tables = plan_tables(plan)
        if fmt == "csv":
            return table_export({"quarters": tables["quarters"]}, "csv", stem)
        return table_export(tables, fmt, stem)
