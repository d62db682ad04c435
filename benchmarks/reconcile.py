"""Reconciliation benchmark: bottom-up against MinT-shrink (and the unreconciled base forecasts) on the
same rolling-origin folds as the forecast benchmark.

    python -m benchmarks.reconcile --dataset simulated|walmart [--n-jobs 2]

Per origin the default blend forecasts the bottom series (as the batch does) and, fitted on every upper
level's aggregated series (sums of actuals; no regressors: a sum of prices means nothing), gives each upper
level its own base forecast. ``models.hierarchy.choose_method`` then scores ``bottom_up`` and
``mint_shrink`` (non-negative; W from the errors of earlier folds, so the first origin only feeds W) by the
per-level WAPE, averaged over levels. This is the backtest behind the batch's bottom-up choice
(``training/forecast_levels.py``, which says where the latest run stands against it). Writes ``benchmarks/results/reconcile_<dataset>.json`` and ``.md``."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.forecast import N_ORIGINS, H, fold_split, load
from benchmarks.results_io import write_results
from salesplan.contracts.sellout import Hierarchy
from salesplan.errors import DataNotFoundError
from salesplan.models.forecast.ensemble import SalesplanForecaster
from salesplan.models.hierarchy import aggregate, bottom_level, choose_method
from salesplan.training.backtest import origins

METHODS = ("bottom_up", "mint_shrink")


def fold(
    train: pd.DataFrame, test: pd.DataFrame, spec: Any, hier: Hierarchy, n_jobs: int
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Base forecasts of every level for one origin (``unique_id, ds, level, y, yhat``) and fit seconds."""
    bottom = bottom_level(hier).name
    future = test.drop(columns=[c for c in ("y", "revenue") if c in test.columns])
    t0 = time.perf_counter()
    low = SalesplanForecaster(n_jobs=n_jobs).fit(train, spec).predict(H, future)[["unique_id", "ds", "yhat"]]
    t1 = time.perf_counter()
    agg_train = aggregate(train, hier, ["y"])
    upper = agg_train[agg_train["level"] != bottom][["unique_id", "ds", "y"]]
    high = SalesplanForecaster(n_jobs=n_jobs).fit(upper).predict(H)[["unique_id", "ds", "yhat"]]
    t2 = time.perf_counter()
    actual = aggregate(test, hier, ["y"])[["unique_id", "ds", "level", "y"]]
    out = actual.merge(pd.concat([low, high], ignore_index=True), on=["unique_id", "ds"], how="left")
    if out["yhat"].isna().any():
        missing = out.loc[out["yhat"].isna(), "unique_id"].unique()[:5]
        raise RuntimeError(f"no base forecast for {list(missing)}")
    return out, {"bottom_s": round(t1 - t0, 1), "upper_s": round(t2 - t1, 1)}


def run(dataset: str, n_jobs: int, sim_scale: str) -> dict[str, Any]:
    df, spec, _, notes = load(dataset, sim_scale)
    hier = spec.hierarchy
    if hier is None:
        raise SystemExit(f"{dataset} has no hierarchy to reconcile")
    dates = np.sort(df["ds"].unique())
    cutoffs = origins(dates, H, N_ORIGINS, H)
    need = SalesplanForecaster().min_history()
    # one summing matrix for all folds: the bottom series scorable at every origin (alive at it, the
    # history the default needs, 13 weeks of actuals after it), as in the forecast benchmark
    ok: set[str] | None = None
    for cutoff in cutoffs:
        here = set(fold_split(df, dates, cutoff, need)[2])
        ok = here if ok is None else ok & here
    assert ok is not None
    df = df[df["unique_id"].isin(ok)]
    keys = df[["unique_id", *hier.columns]].drop_duplicates("unique_id").reset_index(drop=True)
    frames, seconds = [], []
    for cutoff in cutoffs:
        train, test, _ = fold_split(df, dates, cutoff, need)
        print(f"origin {pd.Timestamp(cutoff).date()}: {len(ok)} bottom series", flush=True)
        out, secs = fold(train, test, spec, hier, n_jobs)
        frames.append(out.assign(cutoff=cutoff))
        seconds.append(secs)
        print(f"  {secs}", flush=True)
    backtest = pd.concat(frames, ignore_index=True)
    choice = choose_method(backtest, hier, methods=METHODS, bottom_keys=keys)
    scores = choice.scores.round(4)
    return {
        "protocol": {
            "dataset": dataset, "h": H, "n_origins": N_ORIGINS,
            "cutoffs": [str(pd.Timestamp(c).date()) for c in cutoffs],
            "scored_cutoffs": "all but the first (W needs the errors of an earlier fold)",
            "metric": "WAPE per level (sum|y - yhat| / sum|y|), mean over levels",
            "base": "default blend on bottom series (with regressors) and on the upper levels' sums (without)",
            "bottom_series": len(ok), "n_jobs": n_jobs, "notes": notes, "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "chosen": choice.method,
        "wape_by_level": {lv: row.to_dict() for lv, row in scores.iterrows()},
        "seconds": seconds,
    }  # fmt: skip


def markdown(res: dict[str, Any]) -> str:
    p = res["protocol"]
    names = ["base", *METHODS]
    lines = [
        f"# Reconciliation benchmark: {p['dataset']}", "",
        f"h={p['h']}, origins {', '.join(p['cutoffs'])} ({p['scored_cutoffs']}); {p['metric']}; base: {p['base']}.",
        "", "| level | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
        *[f"| {lv} | " + " | ".join(f"{row[n]:.4f}" for n in names) + " |" for lv, row in res["wape_by_level"].items()],
        "", f"Chosen (lowest mean WAPE, ties to the simpler): **{res['chosen']}**", "",
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, choices=["walmart", "simulated"])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--sim-scale", default="small", choices=["small", "medium", "large"])
    args = ap.parse_args()
    try:
        res = run(args.dataset, args.n_jobs, args.sim_scale)
    except DataNotFoundError as exc:
        raise SystemExit(f"skipped: {exc}") from None
    write_results(f"reconcile_{args.dataset}", res, lambda: markdown(res), default=str, echo=True)


if __name__ == "__main__":
    main()
