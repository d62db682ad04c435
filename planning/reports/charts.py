"""What every HTML report of the package shares: the page style, the palette, matplotlib figures (the
``Figure`` class on an Agg canvas, no pyplot state) embedded as base64 PNG so a page opens offline and can
be mailed, tables, and amounts formatted one way."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BLUE",
    "CSS",
    "GREEN",
    "GREY",
    "RED",
    "embed_png",
    "fmt_amount",
    "fmt_number",
    "fmt_value",
    "html_table",
    "month_names",
    "new_figure",
]

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;
text-align:right}th{background:#f5f5f5}img{max-width:100%}.note{color:#666;font-size:.85em}
.tbl{max-width:100%;overflow-x:auto}"""
BLUE, GREY, RED, GREEN = "#4C72B0", "#999999", "#C44E52", "#55A868"


def embed_png(fig: Figure) -> str:
    """``fig`` as an ``<img>`` tag holding the PNG itself, so the page needs no side files."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def new_figure(w: float = 7.0, h: float = 3.6) -> Figure:
    """A fresh figure of ``w`` × ``h`` inches; matplotlib is imported here, so only reports pay for it."""
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def fmt_number(x: float, digits: int = 3) -> str:
    """The one way reports write a number: never in scientific notation (a planner reads "4,530", not
    "4.53e+03"); whole numbers with thousands separators from 100 up, else ``digits`` significant digits in
    fixed point (no trailing zeros); values too small to show say so; – when missing or not finite."""
    if x is None or (isinstance(x, float | np.floating) and not np.isfinite(x)):
        return "–"
    v = float(x)
    if v == 0 or (float(v).is_integer() and abs(v) < 1e15):
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    smallest = 10.0 ** -(digits + 1)
    if abs(v) < smallest:
        return f"< {smallest:.{digits + 1}f}" if v > 0 else f"> -{smallest:.{digits + 1}f}"
    decimals = min(digits + 2, max(0, digits - 1 - math.floor(math.log10(abs(v)))))
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_value(v: object, digits: int = 3) -> str:
    """Any cell or fact as words a planner reads: numbers through :func:`fmt_number`, yes/no for flags, –
    for missing (never "None" or "nan"), mappings as "key value, ..." and lists joined (never a raw dict)."""
    if v is None or (isinstance(v, float | np.floating) and not np.isfinite(v)):
        return "–"
    if v is pd.NA or v is pd.NaT:
        return "–"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | float | np.integer | np.floating):
        return fmt_number(float(v), digits)
    if isinstance(v, Mapping):
        return ", ".join(f"{k} {fmt_value(x, digits)}" for k, x in v.items()) or "–"
    if isinstance(v, Sequence) and not isinstance(v, str):
        return ", ".join(fmt_value(x, digits) for x in v) or "–"
    return str(v)


def month_names(quarter: str) -> tuple[str, str, str]:
    """The three months of ``quarter`` ("2027Q1" → 2027-01, 2027-02, 2027-03): column names of phasing."""
    m0 = pd.Period(quarter, freq="Q").asfreq("M", "start")
    return (str(m0), str(m0 + 1), str(m0 + 2))


def html_table(df: pd.DataFrame, digits: int = 3) -> str:
    """``df`` as an HTML table whose every cell goes through :func:`fmt_value` (no scientific notation, no
    None/nan, no raw dicts), in a box that scrolls sideways instead of widening the page."""
    cells = df.astype(object).map(lambda v: fmt_value(v, digits))
    body = cells.to_html(index=False, escape=True)
    return f"<div class='tbl'>{body}</div>"


def fmt_amount(x: float | None) -> str:
    """A whole amount with thousands separators; – when missing or not finite."""
    return "–" if x is None or not np.isfinite(x) else f"{x:,.0f}"
