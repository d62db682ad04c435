"""What every HTML report of the package shares: the page style, the palette, matplotlib figures (the
``Figure`` class on an Agg canvas, no pyplot state) embedded as base64 PNG so a page opens offline and can
be mailed, tables, and amounts formatted one way."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BLUE", "CSS", "GREEN", "GREY", "RED", "embed_png", "fmt_amount", "html_table", "new_figure"]

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;
text-align:right}th{background:#f5f5f5}img{max-width:100%}.note{color:#666;font-size:.85em}"""
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


def html_table(df: pd.DataFrame, digits: int = 3) -> str:
    """``df`` as an HTML table: ``digits`` significant digits below 10,000, whole numbers above, – for NaN."""
    return df.to_html(
        index=False, float_format=lambda x: f"{x:,.{digits}g}" if abs(x) < 1e4 else f"{x:,.0f}", na_rep="–"
    )


def fmt_amount(x: float | None) -> str:
    """A whole amount with thousands separators; – when missing or not finite."""
    return "–" if x is None or not np.isfinite(x) else f"{x:,.0f}"
