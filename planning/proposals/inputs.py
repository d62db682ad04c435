"""What a target proposal is built from, gathered and checked per domain: quarter distributions of every
unit, the unit tree with last quarter's / last year's actuals, and the monthly shape for phasing.

Sell-out: the batch Forecast frame (Q rows give the quarter distributions, M rows the monthly shape) and
the history frame (actuals per level and period). Bookings: the CRM through
:func:`planning.bookings.bookings_distributions`, monthly shape from last year's bookings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts import CRMData
from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.planning.distributions import QuarterDistribution, from_quantile_frame, quantile_columns
from salesplan.planning.proposals.tree import TOTAL, check_tree, infer_tree, tree_from_columns
from salesplan.planning.tracking.sellout import week_start_of

__all__ = ["FORECAST_COLS", "HISTORY_COLS", "PlanInputs", "bookings_inputs", "sellout_inputs"]

FORECAST_COLS = ("unique_id", "level", "freq", "period", "ds", "yhat")
HISTORY_COLS = ("unique_id", "level", "freq", "period", "y")


@dataclass(frozen=True)
class PlanInputs:
    """``units``: ``unit_id, parent_id, level, last_period_actual, last_year_actual`` (+ ``tenure_months,
    last_quota`` for bookings), top → bottom. ``monthly``: the phasing shape frame (``unique_id, ds,
    yhat`` for ``monthly_shape='forecast'``, ``unit_id, ds, y`` of last year for ``'last_year'``)."""

    domain: str
    measure: str
    dist: QuarterDistribution
    units: pd.DataFrame
    months: tuple[str, str, str]
    monthly: pd.DataFrame | None
    monthly_shape: str
    last_period: str | None
    ramp: tuple[float, ...] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    weekly: pd.DataFrame | None = None
    """Weekly shape (``unique_id, ds, yhat`` of the quarter's weeks) where the data are weekly: the
    proposal then carries weekly phasing too (:mod:`planning.phasing_weeks`)."""
    week_start: int = 0


def _months(quarter: str) -> tuple[str, str, str]:
    m0 = pd.Period(quarter, freq="Q").asfreq("M", "start")
    return (str(m0), str(m0 + 1), str(m0 + 2))


def _require(df: pd.DataFrame, cols: Sequence[str], source: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataValidationError(
            [
                Problem(
                    c, "column missing", fix=f"pass the batch {source} frame (salesplan.contracts.forecast)"
                )
                for c in missing
            ],
            source,
        )


def _history_lookup(
    history: pd.DataFrame | None, quarter: str, ids: pd.Series
) -> tuple[pd.DataFrame, str | None, bool | None]:
    """Last whole quarter's actual before ``quarter`` (the latest the history has) and the same quarter
    last year, per unit id (NaN where the history has none); that last quarter's label; and whether the
    history holds the whole quarter a year back at all (``season_seen``; None without a history).

    Why ``season_seen`` matters: a forecast for a season the data have never shown (a Q4 with holidays
    after nine months of history) cannot know its peak, and its backtest origins saw it even less, so its
    P(hit) is not backed. Replayed on the simulator (the target backtest's 8 worlds, the batch at the
    quarter's start) the total missed such a quarter (2024Q4, 43 weeks of history) by 21 % on average
    (|actual / forecast − 1|; 0.51-1.41), twice the 10 % of the quarters with a year behind them;
    ``planning.proposals.build`` therefore refuses a sell-out target *at a promised probability* for them
    (growth needs last year's actual too; a typed value still works, with the caveat shown)."""
    out = pd.DataFrame({"last_period_actual": np.nan, "last_year_actual": np.nan}, index=ids.to_numpy())
    if history is None or history.empty:
        return out, None, None
    _require(history, HISTORY_COLS, "history")
    q = pd.Period(quarter, freq="Q")
    h = history[history["freq"] == "Q"]
    h = h.assign(unique_id=h["unique_id"].astype(str), period=h["period"].astype(str))
    y = h.groupby(["period", "unique_id"])["y"].sum()
    before = sorted(p for p in y.index.get_level_values(0).unique() if pd.Period(p, freq="Q") < q)
    last = before[-1] if before else None
    if last is not None:
        out["last_period_actual"] = y.xs(last).reindex(out.index).to_numpy()
    ly = str(q - 4)
    seen = ly in y.index.get_level_values(0)
    if seen:
        out["last_year_actual"] = y.xs(ly).reindex(out.index).to_numpy()
    return out, last, seen


def sellout_inputs(
    quarter: str,
    by: Sequence[str],
    forecast: pd.DataFrame,
    history: pd.DataFrame | None,
    *,
    tree: pd.DataFrame | None = None,
) -> PlanInputs:
    """Distributions, tree, actuals and monthly shape of the sell-out units of ``total`` + ``by``."""
    _require(forecast, FORECAST_COLS, "forecast")
    if len(quantile_columns(forecast)) < 2:
        raise DataValidationError(
            [Problem(None, "fewer than two quantile columns (qNN)", fix="pass the batch Forecast frame")],
            "forecast",
        )
    have = sorted(forecast["level"].astype(str).unique())
    unknown = [b for b in by if b not in have]
    if unknown:
        raise ConfigError(
            f"unknown level(s) {unknown} in by; the forecast has levels {have}. Fix: name hierarchy levels "
            f"of one dimension top → bottom, e.g. ('region', 'store'), or use ('region', 'team', 'rep') "
            "with CRM data for bookings"
        )
    chain = [TOTAL, *by]
    if TOTAL not in have:
        raise ConfigError("the forecast has no 'total' level; pass the batch Forecast frame of every level")
    f = forecast[forecast["level"].isin(chain)]
    fq = f[f["freq"] == "Q"]
    qrows = fq[fq["period"].astype(str) == quarter]
    avail = sorted(fq["period"].astype(str).unique())
    if qrows.empty:
        raise ConfigError(
            f"quarter {quarter} is not in the forecast (it has {avail}). Fix: pick one of those, or run the "
            "forecast job further ahead"
        )
    if "coverage" in qrows.columns and (pd.to_numeric(qrows["coverage"], errors="coerce") < 1 - 1e-9).any():
        cov = float(pd.to_numeric(qrows["coverage"], errors="coerce").min())
        whole = sorted(fq.loc[fq["coverage"] >= 1 - 1e-9, "period"].astype(str).unique())
        raise ConfigError(
            f"quarter {quarter} is only {cov:.0%} covered by the forecast (the rest is before the data end "
            f"or after the horizon), so its total is not a quarter's. Fix: plan a quarter the forecast "
            f"covers whole ({whole or 'none'}) or run the forecast job further ahead"
        )
    dup = qrows["unique_id"].astype(str).duplicated(keep=False)
    if dup.any():
        raise DataValidationError(
            [Problem("unique_id", "a unit appears twice in the quarter (ids shared between levels?)",
                     rows=qrows.loc[dup, "unique_id"].astype(str).head(5).tolist(), n_rows=int(dup.sum()),
                     fix="pass one run's Forecast frame")],
            "forecast",
        )  # fmt: skip
    dist = from_quantile_frame(qrows, source=f"forecast {quarter}")
    how = "given"
    if tree is None:
        tree = tree_from_columns(f, by)
        how = "hierarchy columns"
        if tree is None:
            tree, how = infer_tree([history, f], by), "inferred from the frames' sums"
    t = check_tree(tree, by)
    in_q = set(dist.unit_ids)
    gone = t.loc[~t["unit_id"].isin(in_q), "unit_id"].tolist()  # in the history only: discontinued
    t = t[t["unit_id"].isin(in_q)].reset_index(drop=True)
    orphan = t.loc[t["parent_id"].notna() & ~t["parent_id"].isin(set(t["unit_id"])), "unit_id"].tolist()
    if orphan or t.empty:
        raise ConfigError(
            f"unit(s) {orphan[:5]} have a forecast for {quarter} but their parent does not; pass the "
            "Forecast frame of every level from one run"
        )
    extra = sorted(in_q - set(t["unit_id"]))
    if extra:
        raise ConfigError(f"forecast unit(s) {extra[:5]} are not in the tree; pass a tree with every unit")
    acts, last, seen = _history_lookup(history, quarter, t["unit_id"])
    units = t.assign(
        last_period_actual=acts["last_period_actual"].to_numpy(),
        last_year_actual=acts["last_year_actual"].to_numpy(),
    )
    months = _months(quarter)
    fm = f[(f["freq"] == "M") & f["period"].astype(str).isin(months)]
    monthly = (
        fm[["unique_id", "ds", "yhat"]].assign(unique_id=fm["unique_id"].astype(str)) if len(fm) else None
    )
    q = pd.Period(quarter, freq="Q")
    ds = pd.to_datetime(f["ds"])
    fw = f[(f["freq"] == "W") & (ds > q.start_time - pd.Timedelta(days=7)) & (ds <= q.end_time)]
    weekly = (
        fw[["unique_id", "ds", "yhat"]].assign(unique_id=fw["unique_id"].astype(str), ds=ds[fw.index])
        if len(fw)
        else None
    )
    return PlanInputs(
        domain="sellout",
        measure="units",
        dist=dist,
        units=units,
        months=months,
        monthly=monthly,
        monthly_shape="forecast" if monthly is not None else "even",
        last_period=last,
        weekly=weekly,
        week_start=week_start_of(forecast),
        notes={
            "tree": how,
            "units_without_forecast": gone,
            "season_seen": seen,
        },
    )


def _won_by_month(crm: CRMData, units: pd.DataFrame, quarter: str) -> pd.DataFrame | None:
    """Won value per unit (rep, team, region, total) and close month in the same quarter last year."""
    o = crm.opportunities
    if not {"rep_id", "outcome", "close_date"} <= set(o.columns):
        return None
    ly = pd.Period(quarter, freq="Q") - 4
    close = pd.to_datetime(o["close_date"])
    w = o[(o["outcome"] == "won") & (close >= ly.start_time) & (close < (ly + 1).start_time)]
    if w.empty:
        return None
    value = pd.to_numeric(w["won_value"], errors="coerce") if "won_value" in w.columns else w["amount"]
    d = pd.DataFrame({"ds": pd.to_datetime(w["close_date"]), "y": value.fillna(w["amount"]).astype(float)})
    reps = crm.reps.assign(rep_id=crm.reps["rep_id"].astype(str)).set_index("rep_id")
    rep = w["rep_id"].astype(str)
    keys = {"rep": rep, "total": pd.Series(TOTAL, index=w.index)}
    for col in ("team", "region"):
        own = w[col] if col in w.columns else pd.Series(np.nan, index=w.index)
        keys[col] = rep.map(reps[col]).fillna(own).astype(str) if col in reps.columns else own.astype(str)
    parts = [d.assign(unit_id=keys[lv].to_numpy()) for lv in units["level"].unique()]
    out = pd.concat(parts, ignore_index=True)
    return out[out["unit_id"].isin(set(units["unit_id"]))]


def bookings_inputs(
    quarter: str,
    by: Sequence[str],
    crm: CRMData,
    *,
    scores: pd.DataFrame | None,
    ramp: Sequence[float],
    as_of: Any = None,
) -> PlanInputs:
    """Distributions and tree from :func:`planning.bookings.bookings_distributions` (ramp applied there,
    in the point forecast, so the allocation must not ramp again), with the data known on ``as_of``
    (default: the end of the CRM; a replay passes the quarter's first day)."""
    from salesplan.planning.bookings import (
        bookings_distributions,  # B's module; loaded only for bookings plans
    )

    dists, tree = bookings_distributions(
        crm, quarter, as_of=as_of, scores=scores, levels=tuple(by), ramp=tuple(ramp)
    )
    order = [TOTAL, *by]
    lv0 = dists[TOTAL].levels
    same = all(np.array_equal(dists[n].levels, lv0) for n in order)
    vals = [dists[n].values if same else dists[n].quantile(lv0) for n in order]
    ids = [u for n in order for u in dists[n].unit_ids]
    clash = sorted({u for u in ids if ids.count(u) > 1})
    if clash:
        raise ConfigError(f"unit id(s) {clash[:5]} are used at two levels of {order}; rename teams/regions")
    dist = QuarterDistribution(tuple(ids), lv0, np.vstack(vals))
    t = tree.copy()
    t["parent_id"] = t["parent_id"].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    # rows show the last whole quarter (as in sell-out); same quarter last year drives growth mode
    if "last_quarter_actual" in t.columns:
        t["last_period_actual"] = t["last_quarter_actual"]
    keep = [
        "unit_id",
        "parent_id",
        "level",
        "last_period_actual",
        "last_year_actual",
        "tenure_months",
        "last_quota",
    ]
    units = t[[c for c in keep if c in t.columns]].copy()
    for c in ("last_period_actual", "last_year_actual"):
        if c not in units.columns:
            units[c] = np.nan
    col = "last_quarter" if "last_quarter" in t.columns else "last_period"
    last = str(t[col].iat[0]) if col in t.columns and len(t) else None
    monthly = _won_by_month(crm, units, quarter)
    return PlanInputs(
        domain="bookings",
        measure="won_value",
        dist=dist,
        units=units.reset_index(drop=True),
        months=_months(quarter),
        monthly=monthly,
        monthly_shape="last_year" if monthly is not None else "even",
        last_period=last,
        ramp=(1.0,),
        notes={"ramp_applied_in": "bookings point forecast (tenure per rep)"},
    )
