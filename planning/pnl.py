"""Contribution P&L of a plan per region and quarter: revenue (targets or forecast), cost of goods,
promotion and marketing spend (from the budget), and sales compensation at the planned attainment
through a pay curve with accelerators — so a target proposal shows what it costs, not just what it asks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.planning.types import Allocation, BudgetPlan, PnL

KEYS = ["region", "quarter"]


@dataclass(frozen=True)
class PayCurve:
    """Variable pay as a multiple of target variable pay, by attainment. Rate 1 per unit of attainment up
    to the first accelerator, then each ``(from_attainment, rate)`` applies above its start; nothing is
    paid below ``threshold`` and the multiple is capped at ``cap``. Default: linear to 100 %, 2× above."""

    threshold: float = 0.0
    accelerators: tuple[tuple[float, float], ...] = ((1.0, 2.0),)
    cap: float = 3.0

    def __post_init__(self) -> None:
        starts = [a for a, _ in self.accelerators]
        if (
            starts != sorted(starts)
            or any(a <= 0 for a in starts)
            or any(r < 0 for _, r in self.accelerators)
        ):
            raise ConfigError(
                f"accelerators must be increasing (start > 0, rate ≥ 0) pairs, got {self.accelerators}"
            )
        if self.threshold < 0 or self.cap <= 0:
            raise ConfigError(f"threshold must be ≥ 0 and cap > 0, got {self.threshold}, {self.cap}")

    def payout(self, attainment: np.ndarray | float) -> np.ndarray:
        """Variable-pay multiple at each attainment (1.0 at 100 % with the default curve)."""
        a = np.maximum(np.asarray(attainment, dtype=float), 0.0)
        edges = [0.0, *(s for s, _ in self.accelerators), np.inf]
        rates = [1.0, *(r for _, r in self.accelerators)]
        out = sum(
            r * np.clip(a - lo, 0, hi - lo) for r, lo, hi in zip(rates, edges[:-1], edges[1:], strict=True)
        )
        return np.minimum(np.where(a < self.threshold, 0.0, out), self.cap)


@dataclass(frozen=True)
class PnLInputs:
    """``revenue``: ``region, quarter, revenue`` (optionally ``product``). ``cogs_rate``: one rate, or a
    frame ``region[, product], rate``. ``marketing`` / ``promotion``: ``region, quarter, spend`` (missing =
    0); ``promotion_rate`` adds promotion as a share of revenue. ``comp``: ``region, quarter, ote`` (the
    quarter's on-target earnings) with optional ``variable_share`` (default 0.5) and ``attainment``
    (default: revenue / ``target`` when given, else 1.0 = at target)."""

    revenue: pd.DataFrame
    cogs_rate: float | pd.DataFrame = 0.0
    marketing: pd.DataFrame | None = None
    promotion: pd.DataFrame | None = None
    promotion_rate: float = 0.0
    comp: pd.DataFrame | None = None
    pay_curve: PayCurve = field(default_factory=PayCurve)


def _need(df: pd.DataFrame, cols: list[str], what: str) -> pd.DataFrame:
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise DataValidationError(
            [Problem(c, "column missing", fix=f"{what} needs {cols}") for c in miss], what
        )
    out = df.copy()
    out["quarter"] = out["quarter"].astype(str)
    return out


def _by_key(df: pd.DataFrame | None, col: str, what: str) -> pd.Series:
    if df is None:
        return pd.Series(dtype=float)
    return _need(df, [*KEYS, col], what).groupby(KEYS)[col].sum()


def project(inputs: PnLInputs) -> PnL:
    """P&L lines per region × quarter and the total per quarter."""
    rev = _need(inputs.revenue, [*KEYS, "revenue"], "revenue")
    if isinstance(inputs.cogs_rate, pd.DataFrame):
        on = [c for c in ("region", "product") if c in inputs.cogs_rate.columns and c in rev.columns]
        if not on:
            raise ConfigError("cogs_rate frame needs a region and/or product column shared with revenue")
        rev = rev.merge(inputs.cogs_rate[[*on, "rate"]], on=on, how="left")
        if rev["rate"].isna().any():
            miss = rev.loc[rev["rate"].isna(), on].drop_duplicates().head(5).to_dict("records")
            raise DataValidationError(
                [Problem("rate", f"no COGS rate for {miss}", fix="add a rate per key")], "cogs_rate"
            )
    else:
        rev["rate"] = float(inputs.cogs_rate)
    rev["cogs"] = rev["revenue"] * rev["rate"]
    lines = rev.groupby(KEYS)[["revenue", "cogs"]].sum()
    lines["gross_margin"] = lines["revenue"] - lines["cogs"]
    lines["promotion"] = _by_key(inputs.promotion, "spend", "promotion").reindex(lines.index).fillna(0.0)
    lines["promotion"] += inputs.promotion_rate * lines["revenue"]
    lines["marketing"] = _by_key(inputs.marketing, "spend", "marketing").reindex(lines.index).fillna(0.0)
    lines["sales_comp"] = 0.0
    if inputs.comp is not None:
        c = _need(inputs.comp, [*KEYS, "ote"], "comp")
        vs = c["variable_share"].to_numpy(dtype=float) if "variable_share" in c else np.full(len(c), 0.5)
        if "attainment" in c:
            att = c["attainment"].to_numpy(dtype=float)
        elif "target" in c:
            r = lines["revenue"].reindex(pd.MultiIndex.from_frame(c[KEYS])).to_numpy()
            att = np.where(c["target"] > 0, r / c["target"].to_numpy(dtype=float), 1.0)
        else:
            att = np.ones(len(c))
        c["sales_comp"] = c["ote"] * (1 - vs) + c["ote"] * vs * inputs.pay_curve.payout(att)
        lines["sales_comp"] = c.groupby(KEYS)["sales_comp"].sum().reindex(lines.index).fillna(0.0)
    lines["contribution_margin"] = lines["gross_margin"] - lines[
        ["promotion", "marketing", "sales_comp"]
    ].sum(axis=1)
    lines["cm_pct"] = lines["contribution_margin"] / lines["revenue"].where(lines["revenue"] != 0)
    lines = lines.reset_index()
    total = lines.groupby("quarter")[lines.columns[2:-1]].sum()
    total["cm_pct"] = total["contribution_margin"] / total["revenue"].where(total["revenue"] != 0)
    return PnL(lines=lines, total=total.reset_index())


def revenue_from_allocation(allocation: Allocation, level: str = "region") -> pd.DataFrame:
    """``region, quarter, revenue`` from the targets of one level of an allocation."""
    t = allocation.targets
    sel = t[t["level"] == level]
    if sel.empty:
        raise ConfigError(
            f"no units at level {level!r}; levels are {sorted(t['level'].astype(str).unique())}"
        )
    return pd.DataFrame(
        {"region": sel["unit_id"], "quarter": sel["quarter"].astype(str), "revenue": sel["target"]}
    )


def marketing_from_budget(plan: BudgetPlan, quarters: Mapping[str, int]) -> pd.DataFrame:
    """``region, quarter, spend`` from a budget plan's per-period spend × periods in each quarter
    (e.g. ``{"2026Q1": 13}`` for weekly spend)."""
    per = plan.allocation.groupby("region")["spend"].sum()
    return pd.DataFrame(
        [
            {"region": r, "quarter": q, "spend": float(v) * k}
            for q, k in quarters.items()
            for r, v in per.items()
        ]
    )
