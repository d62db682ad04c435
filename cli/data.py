"""``salesplan data validate|describe``: check a file against its contract before anything else reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import typer
from rich.table import Table

from salesplan.cli._common import clean_errors, console
from salesplan.cli.app import app
from salesplan.contracts import (
    FREQ_NAMES,
    FREQS,
    CRMData,
    Hierarchy,
    SelloutSpec,
    fill_gaps,
    validate_crm,
    validate_sellout,
    validate_spend,
)
from salesplan.errors import ConfigError
from salesplan.io import read_crm, read_table, write_table

data_app = typer.Typer(
    help="Validate and describe data files (sell-out, CRM folders, spend).", no_args_is_help=True
)
app.add_typer(data_app, name="data")

Kind = Literal["sellout", "crm", "spend"]


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def parse_hierarchy(text: str | None) -> Hierarchy | None:
    """Parse ``"geo=region,store;product=category,product"`` into a ``Hierarchy``."""
    if not text:
        return None
    levels: dict[str, list[str]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise ConfigError(
                f"--hierarchy part {part!r} has no '='; write e.g. 'geo=region,store;product=category,product'"
            )
        dim, cols = part.split("=", 1)
        levels[dim.strip()] = list(_split(cols))
    return Hierarchy(levels)


def sellout_spec_from_options(
    freq: str,
    hierarchy: str | None,
    promo_cols: str | None,
    exog_cols: str | None,
    static_cols: str | None,
    allow_gaps: bool,
    allow_negative: bool,
    season_length: int | None = None,
) -> SelloutSpec:
    freq = freq.upper()
    if freq not in FREQS:
        raise ConfigError(
            f"--freq must be one of {list(FREQS)} (days, weeks, calendar months, quarters, years), got {freq!r}"
        )
    return SelloutSpec(
        freq=freq,
        season_length=season_length,
        hierarchy=parse_hierarchy(hierarchy),
        promo_cols=_split(promo_cols),
        exog_cols=_split(exog_cols),
        static_cols=_split(static_cols),
        allow_gaps=allow_gaps,
        allow_negative=allow_negative,
    )


def sellout_summary(df: pd.DataFrame, spec: SelloutSpec) -> Table:
    """Size, span and hierarchy of a validated sell-out table, as ``data validate`` and ``demo`` print it."""
    t = Table(title="sell-out", show_header=False)
    t.add_row("rows", f"{len(df):,}")
    t.add_row("series", f"{df['unique_id'].nunique():,}")
    t.add_row(
        "periods",
        f"{df['ds'].nunique():,} {FREQ_NAMES[spec.freq]} ({spec.freq}) from {df['ds'].min():%Y-%m-%d} to "
        f"{df['ds'].max():%Y-%m-%d}",
    )
    n = df.groupby("unique_id").size()
    t.add_row("periods per series", f"min {n.min():,}, median {int(n.median()):,}, max {n.max():,}")
    t.add_row("season length", f"{spec.season} periods")
    t.add_row("units", f"{df['y'].sum():,.0f} in all; {(df['y'] == 0).mean():.1%} zero rows")
    if "revenue" in df.columns:
        t.add_row("revenue", f"{df['revenue'].sum():,.0f}")
    if spec.hierarchy:
        for col in spec.hierarchy.columns:
            t.add_row(f"  {col}", f"{df[col].nunique():,} values")
    for col in spec.regressors:
        t.add_row(f"  regressor {col}", f"mean {df[col].mean():.3g}")
    return t


def crm_summary(crm: CRMData) -> Table:
    """Rows per CRM table and the outcome mix, as ``data validate`` and ``demo`` print it."""
    t = Table(title="CRM", show_header=False)
    for name, frame in crm.frames().items():
        t.add_row(name, f"{len(frame):,} rows")
    counts = crm.opportunities["outcome"].value_counts()
    t.add_row("outcomes", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    if "amount" in crm.opportunities.columns:
        t.add_row("amount", f"{crm.opportunities['amount'].sum():,.0f} in all")
    return t


def spend_summary(df: pd.DataFrame) -> Table:
    """Channels, regions, periods and totals of a spend table, as ``data validate`` and ``demo`` print it."""
    t = Table(title="spend", show_header=False)
    t.add_row("rows", f"{len(df):,}")
    t.add_row("channels", ", ".join(sorted(df["channel"].unique())))
    t.add_row("regions", f"{df['region'].nunique()}")
    t.add_row("periods", f"{df['period'].min():%Y-%m-%d} .. {df['period'].max():%Y-%m-%d}")
    t.add_row("spend / outcome", f"{df['spend'].sum():,.0f} / {df['outcome'].sum():,.0f}")
    return t


@data_app.command("validate")
@clean_errors
def validate_cmd(
    path: Annotated[Path, typer.Argument(help="A .csv/.parquet file, or a CRM folder for --kind crm.")],
    kind: Annotated[str, typer.Option(help="Contract to check: sellout, crm or spend.")] = "sellout",
    freq: Annotated[
        str, typer.Option(help="Sell-out frequency: D, W, M, Q or Y (each period dated by its first day).")
    ] = "W",
    season_length: Annotated[
        int | None, typer.Option(help="Periods per season if not the frequency's default (7, 52, 12, 4, 1).")
    ] = None,
    hierarchy: Annotated[
        str | None, typer.Option(help="e.g. 'geo=region,store;product=category,product'.")
    ] = None,
    promo_cols: Annotated[str | None, typer.Option(help="Comma-separated promotion columns.")] = None,
    exog_cols: Annotated[str | None, typer.Option(help="Comma-separated known-future regressors.")] = None,
    static_cols: Annotated[str | None, typer.Option(help="Comma-separated static series attributes.")] = None,
    allow_gaps: Annotated[bool, typer.Option(help="Accept missing periods inside a series.")] = False,
    fill: Annotated[
        bool,
        typer.Option(
            "--fill-gaps",
            help="Add missing periods inside each series with y=0 (no sale), promotions 0, price and "
            "attributes carried over, then validate (use with --out).",
        ),
    ] = False,
    allow_negative: Annotated[bool, typer.Option(help="Accept negative units (returns).")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the clean frame here (.csv or .parquet).")] = None,
    infer: Annotated[
        bool,
        typer.Option(
            help="Guess the hierarchy, promotion, regressor and static columns not given as options "
            "(printed with the equivalent flags)."
        ),
    ] = True,
) -> None:
    """Check a file against its contract; prints a summary, or every problem found and exits 1."""
    if kind == "sellout":
        spec = sellout_spec_from_options(
            freq, hierarchy, promo_cols, exog_cols, static_cols, allow_gaps, allow_negative, season_length
        )
        raw = read_table(path)
        if infer:
            given = {"hierarchy": hierarchy, "promo": promo_cols, "exog": exog_cols, "static": static_cols}
            spec = _inferred(raw, spec, [role for role, value in given.items() if value is None])
        if fill:
            raw = _filled(raw, spec, path)
        df = validate_sellout(raw, spec, source=str(path))
        console.print(sellout_summary(df, spec))
        if out:
            write_table(df, out)
    elif kind == "crm":
        crm = validate_crm(read_crm(path), source=str(path))
        console.print(crm_summary(crm))
    elif kind == "spend":
        df = validate_spend(read_table(path), source=str(path))
        console.print(spend_summary(df))
        if out:
            write_table(df, out)
    else:
        raise ConfigError(f"--kind must be sellout, crm or spend, got {kind!r}")
    console.print(f"[green]OK[/]: {path} meets the {kind} contract", soft_wrap=True)


def _inferred(raw: pd.DataFrame, spec: SelloutSpec, open_roles: list[str]) -> SelloutSpec:
    """``spec`` with the roles left open guessed from the data (``salesplan.contracts.infer``), said aloud."""
    from salesplan.contracts.infer import infer_sellout_roles

    if not open_roles:
        return spec
    roles = infer_sellout_roles(raw, spec, open_roles=open_roles)
    if roles.empty:
        return spec
    parts = []
    if roles.hierarchy:
        parts.append("hierarchy " + "; ".join(" → ".join(c) for c in roles.hierarchy.levels.values()))
    for what, cols in (("promotions", roles.promo_cols), ("regressors", roles.exog_cols),
                       ("static", roles.static_cols)):  # fmt: skip
        if cols:
            parts.append(f"{what} {', '.join(cols)}")
    console.print(f"inferred from the data: {'; '.join(parts)}", soft_wrap=True, highlight=False)
    console.print(
        f"equivalent flags (pass them to change a guess, or --no-infer): {roles.flags()}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    return roles.apply(spec)


def _filled(raw: pd.DataFrame, spec: SelloutSpec, path: Path) -> pd.DataFrame:
    """The frame with every gap inside a series filled (``fill_gaps``: y=0, promotions and revenue 0, price
    and attributes carried over, other known-future columns left missing). It is validated first with
    gaps allowed, so a bad date is reported as such, not as a gap."""
    from dataclasses import replace

    ok = validate_sellout(raw, replace(spec, allow_gaps=True), source=str(path))
    carry = ["price", *spec.static_cols, *(spec.hierarchy.columns if spec.hierarchy else [])]
    filled = fill_gaps(ok, spec.freq, carry=carry, zero=[*spec.promo_cols, "revenue"])
    added = len(filled) - len(ok)
    console.print(f"filled {added:,} missing periods with y=0", soft_wrap=True)
    return filled


@data_app.command("describe")
@clean_errors
def describe_cmd(
    path: Annotated[Path, typer.Argument(help="A .csv/.parquet file or a CRM folder.")],
) -> None:
    """Describe any table (columns, types, missing values, ranges) or a CRM folder, without validating it."""
    if path.is_dir():
        crm = read_crm(path)
        for name, frame in crm.frames().items():
            _describe_frame(frame, f"{path}/{name}")
        return
    _describe_frame(read_table(path), str(path))


def _describe_frame(df: pd.DataFrame, title: str) -> None:
    console.print(f"{title}: {len(df):,} rows × {df.shape[1]} columns", soft_wrap=True)
    t = Table()
    for col in ("column", "type", "missing", "distinct", "min", "max"):
        t.add_column(col)
    for col in df.columns:
        s = df[col]
        lo = hi = ""
        if pd.api.types.is_numeric_dtype(s) and s.notna().any():
            lo, hi = f"{s.min():.4g}", f"{s.max():.4g}"
        elif s.notna().any():
            vals = s.dropna().astype(str)
            lo, hi = vals.min()[:24], vals.max()[:24]
        t.add_row(str(col), str(s.dtype), f"{s.isna().sum():,}", f"{s.nunique():,}", lo, hi)
    console.print(t)
