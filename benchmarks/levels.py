"""Calibration of the batch forecast's distributions at every hierarchy level and frequency, on held-out
origins of the model that ships.

    python -m benchmarks.levels --dataset simulated|simulated_monthly|avocado|m5_tiny|online_retail [--n-jobs 2]

Protocol: the training job's model (``training.forecast_job``: the backtested part of the production
model, with the data's frequency and season) is backtested on ``n`` rolling origins of ``h`` periods
(``SETS``). For each origin k from the fourth on, ``training.forecast_levels.forecast_all_levels`` is
calibrated on the three origins before it (as the training job calibrates the batch on its three, less the
folds ``representative_folds`` leaves out) and
turns origin k's bottom forecasts into every level at the data's frequency and each coarser one; those are
scored against origin k's actuals summed the same way: 80 % and 90 % interval coverage, the share of rows
whose point forecast lies inside its own P10–P90, the bias and WAPE of the point forecast (the mean).
Whole periods only in the main table (a 13-week window holds two or three whole months, no whole quarter);
partial periods are summarised apart. The method's constants (mean-correction bounds, ``min_samples``, the
between-origin inflation) were set on simulated seeds 42 and 5; the simulated rows here use seeds 11 and 12.
Writes ``benchmarks/results/levels_<dataset>.json`` and ``.md``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from benchmarks.results_io import write_results
from salesplan.contracts import SelloutDataset, coarser
from salesplan.models.forecast import full_history
from salesplan.models.hierarchy import aggregate, to_periods
from salesplan.training.backtest import BacktestResult
from salesplan.training.forecast_job import backtested_part, model_params, production_model, run_backtest
from salesplan.training.forecast_levels import forecast_all_levels, level_setup
from salesplan.training.level_calibration import representative_folds

QUANTILES = (0.05, 0.1, 0.5, 0.9, 0.95)
CALIB = 3
SETS: dict[str, tuple[int, int]] = {  # h, origins
    "simulated": (13, 8),
    "simulated_monthly": (6, 8),
    "avocado": (13, 6),
    "m5_tiny": (91, 6),
    "online_retail": (28, 8),
}


def datasets(name: str) -> list[tuple[str, SelloutDataset]]:
    if name == "simulated_monthly":  # monthly base: months → quarters, years
        from salesplan.simulator import SimConfig, simulate

        cfg = [SimConfig(seed=s, n_weeks=520, freq="M") for s in (11, 12)]
        return [(f"simulated monthly seed {c.seed}", simulate(c).sellout) for c in cfg]
    if name == "simulated":
        from salesplan.simulator import SimConfig, simulate

        return [(f"simulated seed {s}", simulate(SimConfig(seed=s, n_weeks=260)).sellout) for s in (11, 12)]
    from salesplan.loaders import load

    ds = load(name)
    assert isinstance(ds, SelloutDataset)
    return [(name, ds)]


def level_actuals(held: pd.DataFrame, ds: SelloutDataset) -> pd.DataFrame:
    """The held-out rows' actuals summed to every level and coarser frequency (``whole``: a full period)."""
    setup = level_setup(ds)
    base = aggregate(held[["unique_id", "ds", "y"]], setup.hierarchy, ["y"], keys=setup.keys)
    base = base[["unique_id", "level", "ds", "y"]]
    parts = [base.assign(freq=setup.base, whole=True)]
    for f in coarser(setup.base):
        per = to_periods(base, f, ["y"], ["unique_id", "level"], week_start=setup.week_start, base=setup.base)
        per = per.rename(columns={"period_start": "ds"})
        parts.append(
            per.assign(freq=f, whole=per["coverage"] >= 1 - 1e-9)[
                ["unique_id", "level", "ds", "y", "freq", "whole"]
            ]
        )
    return pd.concat(parts, ignore_index=True)


def shipped_backtest(ds: SelloutDataset, h: int, n: int, n_jobs: int) -> tuple[BacktestResult, int]:
    """The training job's model (the backtested part of the production model, with the data's frequency
    and season) backtested on ``n`` origins of ``h`` periods, and its ``full_history``."""
    params = {**model_params(ds, None), "n_jobs": n_jobs}
    model = backtested_part(production_model(params))
    return run_backtest(ds, model, h, n, int(params["season_length"])), full_history(model)


def held_out_levels(
    bt: BacktestResult, ds: SelloutDataset, need: int, size_power: float | str | None = None
) -> Iterator[tuple[pd.Timestamp, pd.DataFrame, pd.DataFrame]]:
    """Per origin from the ``CALIB + 1``-th on: its cutoff, the all-levels frame ``forecast_all_levels``
    makes of its bottom forecasts calibrated on the ``CALIB`` origins before (less the folds
    ``representative_folds`` leaves out, as ``build_batch`` chooses them), and that frame's rows with the
    origin's actuals summed the same way (``level_actuals``)."""
    f = bt.forecasts
    for k in range(CALIB, len(bt.cutoffs)):
        calib_cuts = bt.cutoffs[k - CALIB : k]
        calib = dataclasses.replace(bt, forecasts=f[f["cutoff"].isin(calib_cuts)], cutoffs=calib_cuts)
        calib, _ = representative_folds(calib, ds.df, need)
        held = f[f["cutoff"] == bt.cutoffs[k]]
        asof = dataclasses.replace(ds, df=ds.df[ds.df["ds"] <= bt.cutoffs[k]])
        out = forecast_all_levels(
            held[["unique_id", "ds", "yhat"]], calib, asof, quantiles=QUANTILES, size_power=size_power
        )
        m = out.merge(level_actuals(held, asof), on=["unique_id", "level", "freq", "ds"], how="inner")
        yield bt.cutoffs[k], out, m


def score(name: str, ds: SelloutDataset, h: int, n: int, n_jobs: int) -> tuple[pd.DataFrame, float]:
    """Held-out rows of every level and frequency: forecast distribution and actual."""
    t0 = time.perf_counter()
    bt, need = shipped_backtest(ds, h, n, n_jobs)
    secs = time.perf_counter() - t0
    print(f"{name}: backtest {secs:.0f} s, {bt.forecasts['unique_id'].nunique()} series", flush=True)
    rows = []
    for cutoff, out, m in held_out_levels(bt, ds, need):
        widened = int(out.attrs["salesplan"]["interval_widened_to_mean"])
        rows.append(
            m.assign(cutoff=cutoff, partial=m["coverage"] < 1 - 1e-9, widened_share=widened / len(out))
        )
    return pd.concat(rows, ignore_index=True), secs


def table(r: pd.DataFrame) -> pd.DataFrame:
    r = r.assign(
        in80=(r["y"] >= r["q10"]) & (r["y"] <= r["q90"]),
        in90=(r["y"] >= r["q05"]) & (r["y"] <= r["q95"]),
        inside=(r["q10"] <= r["yhat"] + 1e-9) & (r["yhat"] <= r["q90"] + 1e-9),
        err=r["yhat"] - r["y"],
        abs=(r["yhat"] - r["y"]).abs(),
    )
    g = r.groupby(["freq", "level"], sort=False)
    return pd.DataFrame(
        {
            "n": g.size(),
            "coverage80": g["in80"].mean(),
            "coverage90": g["in90"].mean(),
            "mean_inside_p10_p90": g["inside"].mean(),
            "bias": g["err"].sum() / g["y"].sum(),
            "wape": g["abs"].sum() / g["y"].sum(),
        }
    ).round(4)


def _numbers(row: Mapping[Any, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in row.items() if k not in ("freq", "level")}


def run(dataset: str, n_jobs: int) -> dict[str, Any]:
    load_start = os.getloadavg()
    h, n = SETS[dataset]
    out: dict[str, Any] = {"dataset": dataset, "h": h, "origins": n, "calibration_origins": CALIB, "sets": {}}
    for name, ds in datasets(dataset):
        r, secs = score(name, ds, h, n, n_jobs)
        whole, partial = r[~r["partial"]], r[r["partial"]]
        t = table(whole)
        out["sets"][name] = {
            "freq": ds.spec.freq,
            "backtest_seconds": round(secs, 1),
            "whole": {f"{r['freq']}|{r['level']}": _numbers(r) for r in t.reset_index().to_dict("records")},
            "partial": {
                str(r["freq"]): _numbers(r)
                for r in table(partial.assign(level="all")).reset_index().to_dict("records")
            },
            "overall_whole": table(whole.assign(freq="all", level="all")).iloc[0].to_dict(),
            # rows whose P10–P90 had to be widened to hold their own mean (step 5 of forecast_levels):
            # "mean inside" is 1 by construction, this says how often the construction was needed
            "widened_share": round(float(r.groupby("cutoff")["widened_share"].first().mean()), 4),
        }
    out["loadavg_start"] = [round(v, 2) for v in load_start]
    out["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Batch distributions by level and frequency: {result['dataset']}",
        "",
        f"h = {result['h']} periods, {result['origins']} origins; each origin from the "
        f"{result['calibration_origins'] + 1}th on is forecast with quantiles calibrated on the "
        f"{result['calibration_origins']} before it. Load average at start {result['loadavg_start']}, "
        f"at end {result['loadavg_end']}.",
    ]
    for name, s in result["sets"].items():
        lines += ["", f"## {name} ({s['freq']}; backtest {s['backtest_seconds']} s)", ""]
        lines += ["| freq | level | n | coverage80 | coverage90 | mean inside P10–P90 | bias | WAPE |"]
        lines += ["|---|---|---:|---:|---:|---:|---:|---:|"]
        for key, v in s["whole"].items():
            f, lv = key.split("|")
            lines.append(
                f"| {f} | {lv} | {int(v['n'])} | {v['coverage80']:.3f} | {v['coverage90']:.3f} | "
                f"{v['mean_inside_p10_p90']:.3f} | {v['bias']:+.3f} | {v['wape']:.3f} |"
            )
        o = s["overall_whole"]
        lines.append(
            f"| all | all | {int(o['n'])} | {o['coverage80']:.3f} | {o['coverage90']:.3f} | "
            f"{o['mean_inside_p10_p90']:.3f} | {o['bias']:+.3f} | {o['wape']:.3f} |"
        )
        if "widened_share" in s:
            lines += [
                "",
                f"P10–P90 widened to hold its own mean: {s['widened_share']:.2%} of the forecast rows.",
            ]
        if s["partial"]:
            lines += ["", "Partial periods (the held-out window covers part of the period):", ""]
            for f, v in s["partial"].items():
                lines.append(
                    f"- {f}: n = {int(v['n'])}, coverage80 {v['coverage80']:.3f}, mean inside {v['mean_inside_p10_p90']:.3f}"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="simulated", choices=sorted(SETS))
    p.add_argument("--n-jobs", type=int, default=1)
    args = p.parse_args(argv)
    result = run(args.dataset, args.n_jobs)
    write_results(f"levels_{args.dataset}", result, lambda: markdown(result), default=str, echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
