"""Alert rules a manager can read and set, and the alerts they raise on a tracking table, each naming the
unit, the evidence and a suggested action drawn from the product's own numbers:

- ``p_hit_below``: the updated P(hit) fell below the threshold → re-phase / re-balance towards the units
  landing above their target (named, with their expected surplus);
- ``pace_behind``: actual to date behind the phased plan by more than the threshold → what the rest of the
  quarter must sell per period against what the forecast expects;
- ``spend_over_cap`` / ``spend_forecast_over_cap``: a cap breached, or the run rate breaching it by quarter
  end → move the excess to the channel of the same region with the highest marginal return (the budget
  optimiser's ``marginal_roi``), i.e. towards equal marginal returns;
- ``pipeline_coverage_below``: open pipeline / remaining gap under ``y``× (bookings) → review the 5 open
  deals with the highest expected value (deal scores × amount)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError

__all__ = ["RULE_NAMES", "Alert", "AlertRules", "evaluate_alerts"]

RULE_NAMES = (
    "p_hit_below",
    "pace_behind",
    "spend_over_cap",
    "spend_forecast_over_cap",
    "pipeline_coverage_below",
)


@dataclass(frozen=True)
class AlertRules:
    """Thresholds (``None`` switches a rule off). ``p_hit_below``: probability; ``pace_behind``: fraction
    behind the phased plan; ``pipeline_coverage_below``: open pipeline ÷ remaining gap; the spend rules
    flag soft and hard caps (hard = critical). ``min_elapsed``: periods before pace and P(hit) alerts fire
    (the first week is noise)."""

    p_hit_below: float | None = 0.3
    pace_behind: float | None = 0.1
    spend_over_cap: bool = True
    spend_forecast_over_cap: bool = True
    pipeline_coverage_below: float | None = 1.5
    min_elapsed: int = 2

    def __post_init__(self) -> None:
        # typed here, where the CLI, the API and the stored rules all pass: a rule stored as the text
        # "0.5" or the number 5 for a yes/no rule would break every later evaluation
        checks = [
            ("p_hit_below", 0.0, 1.0),
            ("pace_behind", 0.0, 1.0),
            ("pipeline_coverage_below", 0.0, 100.0),
        ]
        for name, lo, hi in checks:
            v = _number(name, getattr(self, name), f"a number between {lo} and {hi}, or off")
            if v is not None and not lo <= v <= hi:
                raise ConfigError(f"alert rule {name} must be between {lo} and {hi} (or off), got {v}")
            object.__setattr__(self, name, v)
        for name in ("spend_over_cap", "spend_forecast_over_cap"):
            v = getattr(self, name)
            if isinstance(v, str) and v.strip().lower() in ("true", "false"):
                v = v.strip().lower() == "true"
            if not isinstance(v, bool):
                raise ConfigError(f"alert rule {name} is on or off: true or false, got {v!r}")
            object.__setattr__(self, name, v)
        n = _number("min_elapsed", self.min_elapsed, "a whole number of periods from 0 to 52")
        if n is None or n != int(n) or not 0 <= n <= 52:
            raise ConfigError(
                f"min_elapsed must be a whole number of periods from 0 to 52, got {self.min_elapsed!r}"
            )
        object.__setattr__(self, "min_elapsed", int(n))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AlertRules:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown alert rule(s) {unknown}; the rules are {sorted(known)}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(name: str, v: Any, what: str) -> float | None:
    """``v`` as a float (numbers and numeric text), None for off; a clear error for anything else."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ConfigError(f"alert rule {name} takes {what}, got {v!r}")
    try:
        out = float(v)
    except ValueError:
        raise ConfigError(f"alert rule {name} takes {what}, got {v!r}") from None
    if not np.isfinite(out):
        raise ConfigError(f"alert rule {name} takes {what}, got {v!r}")
    return out


@dataclass(frozen=True)
class Alert:
    rule: str
    level: str
    unit_id: str
    severity: str  # "warning" | "critical"
    message: str
    action: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _num(x: Any) -> float | None:
    v = float(x)
    return None if not np.isfinite(v) else round(v, 4)


def _surplus_siblings(units: pd.DataFrame, row: pd.Series) -> str:
    sib = units[(units["parent_id"] == row["parent_id"]) & (units["unit_id"] != row["unit_id"])]
    sib = sib.assign(surplus=sib["landing_p50"] - sib["target"])
    sib = sib[sib["surplus"] > 0].nlargest(3, "surplus")
    if sib.empty:
        return "no sibling is landing above target: escalate to the parent's owner"
    names = ", ".join(f"{u} (+{s:,.0f})" for u, s in zip(sib["unit_id"], sib["surplus"], strict=True))
    return f"re-balance towards siblings landing above target: {names}"


def _unit_alerts(units: pd.DataFrame, rules: AlertRules) -> list[Alert]:
    out: list[Alert] = []
    for _, r in units.iterrows():
        if int(r["elapsed"]) < rules.min_elapsed or int(r["elapsed"]) >= int(r["periods"]):
            continue
        left = int(r["periods"]) - int(r["elapsed"])
        gap = float(r["target"] - r["actual_to_date"])
        need = gap / left
        expect = float(r["landing_p50"] - r["actual_to_date"]) / left
        ev = {k: _num(r[k]) for k in ("target", "actual_to_date", "plan_to_date", "pace", "landing_p10",
                                       "landing_p50", "landing_p90", "p_hit", "p_hit_at_approval")}  # fmt: skip
        ev |= {"elapsed": int(r["elapsed"]), "periods": int(r["periods"]), "needed_per_period": _num(need),
               "expected_per_period": _num(expect)}  # fmt: skip
        if rules.p_hit_below is not None and float(r["p_hit"]) < rules.p_hit_below:
            was = r.get("p_hit_at_approval")
            since = f" (was {float(was):.0%} at approval)" if was is not None and np.isfinite(was) else ""
            out.append(Alert(
                "p_hit_below", str(r["level"]), str(r["unit_id"]),
                "critical" if float(r["p_hit"]) < rules.p_hit_below / 2 else "warning",
                f"P(hit) of {r['unit_id']} is {float(r['p_hit']):.0%}{since}, below {rules.p_hit_below:.0%}; "
                f"landing {float(r['landing_p50']):,.0f} (P10–P90 {float(r['landing_p10']):,.0f}–"
                f"{float(r['landing_p90']):,.0f}) against a target of {float(r['target']):,.0f}",
                _surplus_siblings(units, r), ev,
            ))  # fmt: skip
        pace = float(r["pace"])
        if rules.pace_behind is not None and np.isfinite(pace) and pace < -rules.pace_behind:
            out.append(Alert(
                "pace_behind", str(r["level"]), str(r["unit_id"]),
                "critical" if pace < -2 * rules.pace_behind else "warning",
                f"{r['unit_id']} is {-pace:.0%} behind its phased plan ({float(r['actual_to_date']):,.0f} of "
                f"{float(r['plan_to_date']):,.0f} to date)",
                f"re-phase: the {left} remaining period(s) need {need:,.0f} each to hit target, the forecast "
                f"expects {expect:,.0f}; move the shortfall into later months or re-balance the target",
                ev,
            ))  # fmt: skip
    return out


def _spend_alerts(spend: pd.DataFrame, rules: AlertRules, marginal: pd.DataFrame | None) -> list[Alert]:
    out: list[Alert] = []
    for _, r in spend.iterrows():
        status = str(r["status"])
        now = status in ("over_soft", "over_hard")
        if (
            status == "ok"
            or (now and not rules.spend_over_cap)
            or (not now and not rules.spend_forecast_over_cap)
        ):
            continue
        hard = status.endswith("hard")
        cap = float(r["hard_cap"] if hard else r["soft_cap"])
        amount = float(r["spend_to_date"] if now else r["forecast_spend"])
        excess = amount - cap
        unit = f"{r['channel']}/{r['region']}"
        action = f"hold {unit} at its cap: cut {excess:,.0f} of planned spend"
        if marginal is not None and len(marginal):
            m = marginal[(marginal["region"] == r["region"]) & (marginal["channel"] != r["channel"])]
            m = m[np.isfinite(m["marginal_roi"].astype(float))]
            if len(m):
                best = m.loc[m["marginal_roi"].astype(float).idxmax()]
                worst = m.loc[m["marginal_roi"].astype(float).idxmin()]
                own = marginal[(marginal["region"] == r["region"]) & (marginal["channel"] == r["channel"])]
                own_roi = float(own["marginal_roi"].iloc[0]) if len(own) else float("nan")
                if not np.isfinite(own_roi) or float(best["marginal_roi"]) > own_roi:
                    action = (
                        f"move {excess:,.0f} from {r['channel']} to {best['channel']} in {r['region']} "
                        f"(marginal return {own_roi:.2f} vs {float(best['marginal_roi']):.2f}: towards equal "
                        "marginal returns)"
                    )
                else:  # the over-spender earns the most at the margin: fund it, do not starve it
                    action = (
                        f"{r['channel']} has the highest marginal return in {r['region']} ({own_roi:.2f}): raise "
                        f"its cap by {excess:,.0f} funded from {worst['channel']} (marginal return "
                        f"{float(worst['marginal_roi']):.2f}), or cut {excess:,.0f} to hold the cap"
                    )
        what = "is over" if now else "is forecast to exceed"
        out.append(Alert(
            "spend_over_cap" if now else "spend_forecast_over_cap", "channel/region", unit,
            "critical" if hard else "warning",
            f"spend on {unit} {what} its {'hard' if hard else 'soft'} cap: {amount:,.0f} against {cap:,.0f}",
            action,
            {k: _num(r[k]) for k in ("budget", "soft_cap", "hard_cap", "spend_to_date", "forecast_spend",
                                     "cost_per_outcome", "planned_cost_per_outcome")} | {"status": status},
        ))  # fmt: skip
    return out


def _coverage_alerts(units: pd.DataFrame, pipeline: pd.DataFrame, deals: pd.DataFrame | None,
                     rules: AlertRules) -> list[Alert]:  # fmt: skip
    out: list[Alert] = []
    thr = rules.pipeline_coverage_below
    if thr is None:
        return out
    pl = pipeline.set_index("unit_id")["open_pipeline"]
    for _, r in units.iterrows():
        gap = float(r["target"] - r["actual_to_date"])
        if gap <= 0 or r["unit_id"] not in pl.index:
            continue
        cov = float(pl[r["unit_id"]]) / gap
        if cov >= thr:
            continue
        action = "build pipeline: not enough open deals close this quarter to cover the gap"
        if deals is not None and len(deals):
            d = deals[deals["unit_id"] == r["unit_id"]].nlargest(5, "expected_value")
            if len(d):
                names = d["deal"] if "deal" in d.columns else d["opportunity_id"]
                ids = ", ".join(
                    f"{o}: {v:,.0f} expected" if "deal" in d.columns else f"{o} ({v:,.0f})"
                    for o, v in zip(names, d["expected_value"], strict=True)
                )
                action = f"review the {len(d)} open deals with the highest expected value: {ids}"
        out.append(Alert(
            "pipeline_coverage_below", str(r["level"]), str(r["unit_id"]), "warning",
            f"open pipeline of {r['unit_id']} covers {cov:.1f}× the remaining gap of {gap:,.0f} "
            f"(rule: {thr:.1f}×)",
            action, {"open_pipeline": _num(pl[r["unit_id"]]), "gap": _num(gap), "coverage": _num(cov)},
        ))  # fmt: skip
    return out


def evaluate_alerts(
    units: pd.DataFrame | None,
    rules: AlertRules,
    *,
    spend: pd.DataFrame | None = None,
    marginal: pd.DataFrame | None = None,
    pipeline: pd.DataFrame | None = None,
    deals: pd.DataFrame | None = None,
) -> list[Alert]:
    """Every alert the rules raise. ``units``: a tracking table (``sellout.TRACKING_COLUMNS``); ``spend``:
    :func:`spend_control`'s table; ``marginal``: ``channel, region, marginal_roi``; ``pipeline``:
    ``unit_id, open_pipeline`` (closing in the rest of the quarter); ``deals``: ``unit_id, opportunity_id,
    expected_value`` and optional ``deal`` (a readable name: the suggested review lists it)."""
    out: list[Alert] = []
    if units is not None and len(units):
        out += _unit_alerts(units, rules)
        if pipeline is not None:
            out += _coverage_alerts(units, pipeline, deals, rules)
    if spend is not None and len(spend):
        out += _spend_alerts(spend, rules, marginal)
    return out
