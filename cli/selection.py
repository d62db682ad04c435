"""``salesplan plan select``: market × product candidates ranked by the margin the champion's batch
forecast expects, and the featured portfolio picked exactly (the same ``serving.selection_service`` as
``GET /api/v1/selection``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, cast

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import clean_errors, console, progress
from salesplan.cli.plan import plan_app
from salesplan.serving.selection_service import Selection

__all__ = ["print_selection", "select_cmd"]


def _pct(x: float | None) -> str:
    return "–" if x is None or pd.isna(x) else f"{float(x):+.0%}"


def print_selection(sel: Selection, top: int = 15) -> None:
    """The top of the ranking and the portfolio with the reason of each pick."""
    r = sel.ranking
    t = Table(
        title=f"ranking {r.level}, {r.span[0]}..{r.span[1]} ({r.coverage:.0%} of the asked span; "
        f"{len(r.table):,} candidates; margin: {sel.margin_source})"
    )
    for c in (
        "market",
        "product",
        "category",
        "exp. margin",
        "P10",
        "P90",
        "vs LY",
        "trend",
        "risk",
        "flags",
    ):
        t.add_column(c, justify="left" if c in ("market", "product", "category", "flags") else "right")
    for _, row in r.table.head(top).iterrows():
        flags = ", ".join(f for f, on in (("new", row["cold_start"]), ("declining", row["declining"])) if on)
        t.add_row(
            row["market"], row["product"], row["category"], f"{row['contribution']:,.0f}",
            f"{row['contribution_p10']:,.0f}", f"{row['contribution_p90']:,.0f}", _pct(row["growth"]),
            _pct(row["trend"]), f"{row['risk']:.2f}" if pd.notna(row["risk"]) else "–", flags,
        )  # fmt: skip
    console.print(t)
    p = sel.portfolio
    pt = Table(title=f"featured portfolio: {len(p.picks)} picks, expected margin {p.expected_margin:,.0f}")
    for c in ("market", "product", "exp. margin", "why"):
        pt.add_column(c, justify="right" if c == "exp. margin" else "left")
    for _, row in p.picks.head(top).iterrows():
        pt.add_row(row["market"], row["product"], f"{row['contribution']:,.0f}", row["reason"])
    console.print(pt)
    if len(p.picks) > top:
        console.print(f"… and {len(p.picks) - top} more picks (--out writes them all)")


@plan_app.command("select")
@clean_errors
def select_cmd(
    market: Annotated[str, typer.Option(help="Hierarchy column of the markets, e.g. store.")] = "store",
    product: Annotated[str, typer.Option(help="Hierarchy column of the products, e.g. product.")] = "product",
    category: Annotated[
        str | None, typer.Option(help="Category column (default: the product's parent).")
    ] = None,
    horizon: Annotated[str, typer.Option(help="Q (next 13 weeks) or Y (next year).")] = "Q",
    periods: Annotated[int, typer.Option(help="How many quarters (years).")] = 1,
    slots: Annotated[int, typer.Option(help="Featured slots per market.")] = 3,
    max_per_category: Annotated[
        int | None, typer.Option(help="Most picks of one category per market.")
    ] = None,
    total_slots: Annotated[int | None, typer.Option(help="Most picks overall.")] = None,
    max_category_share: Annotated[
        float | None, typer.Option(help="Most of the portfolio one category may take, e.g. 0.4.")
    ] = None,
    min_margin: Annotated[float, typer.Option(help="Expected margin a pick must reach.")] = 0.0,
    exclude_declining: Annotated[bool, typer.Option(help="Leave declining products out.")] = False,
    risk_aversion: Annotated[float, typer.Option(help="0: by expected margin; 1: by its P10.")] = 0.0,
    products: Annotated[
        Path | None, typer.Option(help="Products table: product (market), price, unit_cost or unit_margin.")
    ] = None,
    margin_rate: Annotated[
        float | None, typer.Option(help="Margin rate instead of unit costs, e.g. 0.3.")
    ] = None,
    model: Annotated[str, typer.Option(help="Registry alias or version of salesplan-forecast.")] = "champion",
    top: Annotated[int, typer.Option(help="Rows shown.")] = 15,
    out: Annotated[
        Path | None, typer.Option(help="Write ranking and picks (.csv: two files; .xlsx).")
    ] = None,
) -> None:
    """Rank market × product by expected margin next quarter (or year) with P10/P90, growth, trend, risk,
    new and declining flags, and pick the featured portfolio exactly (HiGHS MILP) with a reason per pick."""
    from salesplan.io import read_table
    from salesplan.models.batch import load_batch
    from salesplan.models.registry import FORECAST_MODEL
    from salesplan.planning.selection import PortfolioRules, SelectionRequest
    from salesplan.serving.selection_service import margins_input, run_selection

    req = SelectionRequest(  # the request checks the horizon's value itself
        market=market,
        product=product,
        category=category,
        horizon=cast(Literal["Q", "Y"], horizon),
        periods=periods,
    )
    rules = PortfolioRules(
        slots_per_market=slots,
        max_per_category=max_per_category,
        total_slots=total_slots,
        max_category_share=max_category_share,
        min_margin=min_margin,
        exclude_declining=exclude_declining,
        risk_aversion=risk_aversion,
    )
    table = read_table(products) if products else None
    margins_input(table, margin_rate=margin_rate)  # refuses a missing margin input before any download
    with progress(f"loading the batch forecast of {FORECAST_MODEL}@{model}"):
        batch = load_batch(alias=model)
    margins, source = margins_input(table, margin_rate=margin_rate, future=batch.future)
    sel = run_selection(
        batch.forecast, batch.history, batch.info.get("hierarchy"), req, rules, margins, source
    )
    print_selection(sel, top)
    if out is not None:
        write_selection(sel, out)


def write_selection(sel: Selection, out: Path) -> None:
    """Ranking and picks to ``out`` (.xlsx: two sheets; otherwise ``<out>`` and ``<out stem>_picks``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".xlsx":
        with pd.ExcelWriter(out, engine="openpyxl") as xw:
            sel.ranking.table.to_excel(xw, sheet_name="ranking", index=False)
            sel.portfolio.picks.to_excel(xw, sheet_name="picks", index=False)
            sel.portfolio.left_out.to_excel(xw, sheet_name="left out", index=False)
        console.print(f"wrote {out}")
        return
    picks = out.with_name(f"{out.stem}_picks{out.suffix or '.csv'}")
    sel.ranking.table.to_csv(out, index=False)
    sel.portfolio.picks.to_csv(picks, index=False)
    console.print(f"wrote {out} and {picks}")
