"""Planning benchmark: allocation speed at scale, budget optimiser speed and quality.

    python -m benchmarks.planning

- allocation: 10 regions → 500 teams → 10,000 reps, 4 quarters (44,040 units), top-down on a blend of
  forecast and last year, with ramp of new reps; unbounded; with bounds (capacity on 5 % of reps at 95 %
  of their forecast or the −20 % floor, ±20 % vs last quota, floors of 90 % of last quota for reps in
  their first quarter); with one team override; and with every binding parent forced through HiGHS. Times
  are the median of 3 runs; every run's totals are checked to the cent.
- budget: 20 channels × 10 regions of Hill curves (seeded), optimiser time (median of 3) and the gap to a
  brute-force grid optimum; on the simulator (small world, seed 0) the curves are fitted from the spend
  history and the plan is scored on the *true* curves against the proportional-to-last-quarter split and
  the true optimum.

- target_methods: past quarters replayed with the data known at each quarter start, targets at hit
  probability 0.6 (and 0.5 / 0.8), hit rate against the promise and fairness, on the simulator, Maven and
  Walmart (see :mod:`benchmarks.target_methods`).

    python -m benchmarks.planning --only target_methods   # one section; the others are kept from the file

The allocation methods compared on simple conformal distributions (``target_methods``) are not what ships;
the shipped defaults' track record is :mod:`benchmarks.target_backtest`, which writes its keys
(``shipped_defaults``, ``other_promises``, ``pipeline_band_coverage``) into the same file.

Writes ``benchmarks/results/planning.json`` (keys ``allocation``, ``budget``, ``target_methods``; sections
not run and other keys are kept from the file) and ``planning.md``, and prints the table."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import target_methods as tb
from benchmarks.results_io import RESULTS, write_results
from salesplan.planning.allocation import allocate, check_totals
from salesplan.planning.budget import (
    curves_from_params,
    fit_response,
    grid_optimum,
    optimise_budget,
    response,
)
from salesplan.planning.fairness import fairness_report
from salesplan.planning.types import AllocationConfig

QUARTERS = ("2026Q1", "2026Q2", "2026Q3", "2026Q4")


def _timed(fn: Callable[[], Any], runs: int = 3) -> tuple[Any, float]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, float(np.median(times))


def rep_tree(n_regions: int = 10, n_teams: int = 500, n_reps: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Region → team → rep units for four quarters, with potentials, tenure, capacity and last quota."""
    rng = np.random.default_rng(seed)
    regions = [f"R{i:02d}" for i in range(n_regions)]
    teams = [f"T{i:03d}" for i in range(n_teams)]
    reps = [f"P{i:05d}" for i in range(n_reps)]
    fc = rng.gamma(2.0, 60_000.0, n_reps)
    rep_rows = pd.DataFrame(
        {
            "unit_id": reps,
            "parent_id": [teams[i % n_teams] for i in range(n_reps)],
            "level": "rep",
            "forecast_q50": fc,
            "last_year": fc * rng.lognormal(0, 0.2, n_reps),
            "tenure_months": rng.integers(0, 60, n_reps).astype(float),
            "last_quota": fc * 1.15 * rng.lognormal(0, 0.1, n_reps),
        }
    )
    base = pd.concat(
        [
            pd.DataFrame({"unit_id": regions, "parent_id": None, "level": "region"}),
            pd.DataFrame(
                {
                    "unit_id": teams,
                    "parent_id": [regions[i % n_regions] for i in range(n_teams)],
                    "level": "team",
                }
            ),
            rep_rows,
        ],
        ignore_index=True,
    )
    return pd.concat([base.assign(quarter=q) for q in QUARTERS], ignore_index=True)


def bench_allocation() -> dict[str, Any]:
    u = rep_tree()
    leaf = (u["level"] == "rep").to_numpy()
    rng = np.random.default_rng(1)
    bounded = u.copy()
    pick = leaf & (rng.random(len(u)) < 0.05)
    bounded.loc[pick, "capacity"] = np.maximum(
        bounded.loc[pick, "forecast_q50"] * 0.95, bounded.loc[pick, "last_quota"] * 0.8
    )
    new = leaf & ~pick & (bounded["tenure_months"] < 3).to_numpy()
    bounded.loc[new, "floor"] = bounded.loc[new, "last_quota"] * 0.9
    reps_fc = u[leaf].assign(r=lambda f: f["parent_id"].str[1:].astype(int) % 10)
    tops = {
        f"R{r:02d}": float(v)
        for r, v in (reps_fc.groupby("r")["forecast_q50"].sum() / 4 * 1.05 / 1.21).items()
    }
    cfg = AllocationConfig(weights={"forecast_q50": 0.7, "last_year": 0.3})
    cfg_b = AllocationConfig(weights={"forecast_q50": 0.7, "last_year": 0.3}, max_change=0.2)
    q1 = bounded[(bounded["quarter"] == "2026Q1") & (bounded["parent_id"] == "T007")]
    t007 = round(float(q1["last_quota"].sum()) / 1.1, 2)  # a team target at its reps' last quota
    runs = {
        "unbounded": lambda: allocate(u, tops, cfg),
        "bounded": lambda: allocate(bounded, tops, cfg_b),
        "bounded_override": lambda: allocate(bounded, tops, cfg_b, overrides={("2026Q1", "T007"): t007}),
    }
    out: dict[str, Any] = {"units": len(u), "reps": int(leaf.sum() // 4), "quarters": 4, "levels": 3}
    for name, fn in runs.items():
        a, t = _timed(fn)
        out[name] = {
            "seconds": round(t, 3),
            "bound_parents": a.lp_parents,
            "totals_exact": bool(check_totals(a)["ok"].all()),
            "bounds_held": bool(
                (
                    (a.targets["target"] >= a.targets["lower"]) & (a.targets["target"] <= a.targets["upper"])
                ).all()
            ),
        }
    a, t = _timed(
        lambda: allocate(
            bounded, tops, AllocationConfig(weights=cfg_b.weights, max_change=0.2, solver="highs")
        ),
        runs=1,
    )
    exact = allocate(bounded, tops, AllocationConfig(weights=cfg_b.weights, max_change=0.2, solver="exact"))
    out["bounded_all_highs"] = {
        "seconds": round(t, 3),
        "bound_parents": a.lp_parents,
        "totals_exact": bool(check_totals(a)["ok"].all()),
        "max_abs_diff_vs_closed_form": float(np.abs(a.targets["target"] - exact.targets["target"]).max()),
    }
    fr, t = _timed(lambda: fairness_report(exact))
    q1 = fr.by_quarter.iloc[0]
    out["fairness"] = {
        "seconds": round(t, 3),
        "gini": round(float(q1["gini"]), 4),
        "cv": round(float(q1["cv"]), 4),
        "share_above_p50": round(float(q1["share_above_p50"]), 4),
    }
    out["target_under_1s"] = (
        "met" if out["bounded"]["seconds"] < 1.0 and out["unbounded"]["seconds"] < 1.0 else "missed"
    )
    return out


def bench_budget() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    ch, rg = [f"ch{i:02d}" for i in range(20)], [f"rg{i}" for i in range(10)]
    params = pd.DataFrame([(c, r) for c in ch for r in rg], columns=["channel", "region"])
    n = len(params)
    typical = rng.lognormal(8, 0.8, n)
    params = params.assign(
        theta=rng.uniform(0, 0.7, n),
        alpha=rng.uniform(0.8, 2.2, n),
        baseline=typical * rng.uniform(0.5, 2, n),
    )
    params["half"] = typical / (1 - params["theta"]) * rng.uniform(0.6, 1.6, n)
    params["beta"] = typical * rng.uniform(2, 6, n)
    last = {
        (c, r): float(v)
        for c, r, v in zip(
            params["channel"], params["region"], typical * rng.lognormal(0, 0.5, n), strict=True
        )
    }
    curves = curves_from_params(params, last)
    budget = float(sum(last.values()))
    plan, t = _timed(lambda: optimise_budget(curves, budget, n_boot=0))
    _, grid_best = grid_optimum(curves, budget, steps=1000)
    base = float(response(curves, np.zeros(n)).sum())
    out: dict[str, Any] = {
        "synthetic_200": {
            "items": n,
            "seconds": round(t, 3),
            "converged": plan.converged,
            "uplift_vs_proportional": round(plan.uplift, 4),
            "gap_to_grid_optimum_incremental": round(
                (plan.expected_outcome - base) / (grid_best - base) - 1, 5
            ),
        }
    }
    from salesplan.simulator import SimConfig, simulate

    world = simulate(SimConfig(seed=0, scale="small"))
    truth = world.truth
    fitted, t_fit = _timed(lambda: fit_response(world.spend), runs=1)
    last_s = dict(
        zip(
            zip(fitted.params["channel"], fitted.params["region"], strict=True),
            fitted.params["last_spend"],
            strict=True,
        )
    )
    b = float(fitted.params["last_spend"].sum())
    plan, t_opt = _timed(lambda: optimise_budget(fitted, b))
    true_curves = curves_from_params(truth.spend_response, last_s)
    best = optimise_budget(true_curves, b)
    _, grid_true = grid_optimum(true_curves, b, steps=2000)

    def true_outcome(alloc: pd.DataFrame, col: str) -> float:
        return float(
            sum(
                truth.expected_outcome(c, r, [s])[0]
                for c, r, s in zip(alloc["channel"], alloc["region"], alloc[col], strict=True)
            )
        )

    t_plan, t_prop = (
        true_outcome(plan.allocation, "spend"),
        true_outcome(plan.allocation, "proportional_spend"),
    )
    base_true = float(response(true_curves, np.zeros(len(true_curves.params))).sum())
    out["simulator_small"] = {
        "items": len(fitted.params),
        "fit_seconds": round(t_fit, 3),
        "optimise_seconds": round(t_opt, 3),
        "models": fitted.params["model"].value_counts().to_dict(),
        "min_r2": round(float(fitted.params["r2"].min()), 3),
        "budget_per_week": round(b, 2),
        "true_outcome_proportional": round(t_prop, 2),
        "true_outcome_fitted_plan": round(t_plan, 2),
        "true_optimum": round(best.expected_outcome, 2),
        "grid_optimum": round(grid_true, 2),
        "uplift_vs_proportional": round(t_plan / t_prop - 1, 4),
        "gap_to_true_optimum": round(t_plan / best.expected_outcome - 1, 5),
        "gap_to_true_optimum_incremental": round(
            (t_plan - base_true) / (best.expected_outcome - base_true) - 1, 5
        ),
        "optimiser_vs_grid_on_true_curves": round(
            (best.expected_outcome - base_true) / (grid_true - base_true) - 1, 6
        ),
        "predicted_outcome": round(plan.expected_outcome, 2),
        "predicted_range_q10_q90": [round(v, 2) for v in plan.outcome_range],
    }
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = ["# Planning benchmark", ""]
    if "allocation" in res and "budget" in res:
        lines += _markdown_allocation(res)
    if "target_methods" in res:
        lines += tb.markdown(res["target_methods"])
    return "\n".join(lines) + "\n"


def _markdown_allocation(res: dict[str, Any]) -> list[str]:
    a, b = res["allocation"], res["budget"]
    lines = [
        f"Allocation: {a['reps']:,} reps × {a['quarters']} quarters × {a['levels']} levels "
        f"({a['units']:,} units); median of 3 runs.",
        "",
        "| allocation run | seconds | parents with binding bounds | totals exact to the cent |",
        "|---|---|---|---|",
    ]
    for k in ("unbounded", "bounded", "bounded_override", "bounded_all_highs"):
        r = a[k]
        lines.append(f"| {k} | {r['seconds']:.3f} | {r['bound_parents']} | {r['totals_exact']} |")
    lines += [
        "",
        f"HiGHS vs closed form, max |diff| {a['bounded_all_highs']['max_abs_diff_vs_closed_form']:.2f}; "
        f"fairness report {a['fairness']['seconds']:.3f} s (Q1 Gini {a['fairness']['gini']}, CV {a['fairness']['cv']}). "
        f"Target < 1 s: {a['target_under_1s']}.",
        "",
    ]
    s, m = b["synthetic_200"], b["simulator_small"]
    lines += [
        "| budget | value |",
        "|---|---|",
        f"| 20 channels × 10 regions: optimise seconds | {s['seconds']:.3f} |",
        f"| 20 × 10: gap to grid optimum (incremental outcome) | {s['gap_to_grid_optimum_incremental']:+.3%} |",
        f"| 20 × 10: uplift over proportional split | {s['uplift_vs_proportional']:+.2%} |",
        f"| simulator: fit seconds ({m['items']} curves, min R² {m['min_r2']}) | {m['fit_seconds']:.2f} |",
        f"| simulator: uplift over proportional (true curves) | {m['uplift_vs_proportional']:+.2%} |",
        f"| simulator: gap to true optimum (total / incremental) | {m['gap_to_true_optimum']:+.3%} / {m['gap_to_true_optimum_incremental']:+.3%} |",
        f"| simulator: optimiser on true curves vs grid optimum | {m['optimiser_vs_grid_on_true_curves']:+.4%} |",
        f"| simulator: predicted outcome (q10–q90) | {m['predicted_outcome']:,.0f} ({m['predicted_range_q10_q90'][0]:,.0f}–{m['predicted_range_q10_q90'][1]:,.0f}) |",
    ]
    return lines


SECTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "allocation": bench_allocation,
    "budget": bench_budget,
    "target_methods": tb.bench_target_backtest,
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Planning benchmark (allocation, budget, target backtest)")
    ap.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only this section")
    args = ap.parse_args(argv)
    path = RESULTS / "planning.json"
    res: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for name in args.only or list(SECTIONS):
        res[name] = SECTIONS[name]()
    write_results("planning", res, lambda: markdown(res), default=str, folder=RESULTS, echo=True)


if __name__ == "__main__":
    main()
