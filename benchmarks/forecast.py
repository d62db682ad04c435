"""Sell-out forecasting benchmark: the salesplan default against statsforecast/mlforecast peers on the
same rolling-origin folds, in one process.

    python -m benchmarks.forecast --dataset walmart|dominicks|simulated [--n-jobs 2] [--methods a,b]

Protocol: h = 13 weeks, 3 non-overlapping origins covering the last 39 weeks, each method refit on all
data before each origin. Scored series: alive at the origin with 13 weeks of actuals after it and the
history the default needs (the same set for every method). Writes benchmarks/results/forecast_<dataset>
.json and .md and prints the table."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean
from mlforecast.utils import PredictionIntervals
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoETS, AutoTheta, Naive, SeasonalNaive

from salesplan.contracts import SelloutSpec
from salesplan.errors import DataNotFoundError
from salesplan.models.forecast.base import pandas_freq
from salesplan.models.forecast.ensemble import SalesplanForecaster
from salesplan.models.forecast.global_lgbm import month, week_of_year
from salesplan.training.backtest import origins
from salesplan.training.metrics import evaluate, seasonal_scales

RESULTS = Path(__file__).parent / "results"
H, N_ORIGINS, SEED = 13, 3, 0
Runner = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]


def load(dataset: str, sim_scale: str) -> tuple[pd.DataFrame, SelloutSpec, int, list[str]]:
    """Frame, spec, MASE season m, notes. Raises DataNotFoundError when the data folder is absent."""
    if dataset == "walmart":
        from salesplan.loaders.walmart import load_walmart

        ds = load_walmart()
        n = ds.df.groupby("unique_id").size()
        full = n.index[n == n.max()]
        note = f"{len(full)} of {len(n)} store×dept series with the full {n.max()}-week history"
        return ds.df[ds.df["unique_id"].isin(full)].reset_index(drop=True), ds.spec, 52, [*ds.notes, note]
    if dataset == "dominicks":
        from salesplan.loaders.dominicks import load_dominicks

        ds = load_dominicks(gaps="interpolate")
        return ds.df, ds.spec, 1, ds.notes
    if dataset == "simulated":
        from salesplan.simulator import SimConfig, simulate

        world = simulate(SimConfig(seed=SEED, scale=sim_scale))  # type: ignore[arg-type]
        return world.sellout.df, world.sellout.spec, 52, [f"simulate(SimConfig(seed=0, scale={sim_scale!r}))"]
    raise SystemExit(f"unknown dataset {dataset!r}; use walmart, dominicks or simulated")


def fold_split(
    df: pd.DataFrame, dates: np.ndarray, cutoff: pd.Timestamp, need: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    """Train (to ``cutoff``), test (the next H dates) and the scored series: alive at the origin, ``need``
    periods of history, H actuals after it (the same set for every method)."""
    end = dates[np.searchsorted(dates, np.datetime64(cutoff)) + H]
    train, test = df[df["ds"] <= cutoff], df[(df["ds"] > cutoff) & (df["ds"] <= end)]
    n_tr = train.groupby("unique_id").size()
    last = train.groupby("unique_id")["ds"].max()
    n_te = test.groupby("unique_id").size().reindex(n_tr.index).fillna(0)
    return train, test, n_tr.index[(n_tr >= need) & (last == cutoff) & (n_te == H)]


def _regressors(spec: SelloutSpec, df: pd.DataFrame) -> list[str]:
    return [c for c in ("price", *spec.regressors) if c in df.columns]


def sf_runner(model: Any, pfreq: str, n_jobs: int) -> Runner:
    """A statsforecast peer as its users run it: ``forecast`` with its own 80 % interval (level=[80])."""

    def run(train: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
        sf = StatsForecast(models=[model], freq=pfreq, n_jobs=n_jobs, fallback_model=Naive())
        fc = sf.forecast(df=train[["unique_id", "ds", "y"]], h=H, level=[80])
        a = str(model)
        return pd.DataFrame(
            {
                "unique_id": fc["unique_id"].astype(str),
                "ds": fc["ds"],
                "yhat": fc[a],
                "q10": fc[f"{a}-lo-80"],
                "q50": fc[a],
                "q90": fc[f"{a}-hi-80"],
            }
        )

    return run


def mlf_runner(spec: SelloutSpec, pfreq: str, n_jobs: int, lags: list[int], statics: list[str]) -> Runner:
    """mlforecast + LightGBM peer: lags, rolling means, calendar, known-future regressors, mlforecast's
    own conformal intervals (2 windows of h)."""

    def run(train: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
        regs = _regressors(spec, train)
        usable = [k for k in lags if k < train.groupby("unique_id").size().min() - 2 * H]
        # mlforecast types lag transforms as callables; its RollingMean is a (typed) estimator instead
        transforms: dict[int, list[Any]] = {1: [RollingMean(window_size=4), RollingMean(window_size=13)]}
        mlf = MLForecast(
            models={
                "lgbm": lgb.LGBMRegressor(
                    n_estimators=500,
                    learning_rate=0.05,
                    num_leaves=63,
                    random_state=SEED,
                    n_jobs=n_jobs,
                    verbose=-1,
                )
            },
            freq=pfreq,
            lags=usable,
            lag_transforms=transforms,
            date_features=[week_of_year, month],
            num_threads=n_jobs,
        )
        cols = ["unique_id", "ds", "y", *regs, *statics]
        data = train[cols].copy()
        for c in statics:
            if not pd.api.types.is_numeric_dtype(data[c]):
                data[c] = data[c].astype(str).astype("category")
        mlf.fit(data, static_features=statics, prediction_intervals=PredictionIntervals(n_windows=2, h=H))
        X = future[["unique_id", "ds", *regs]] if regs else None
        fc = mlf.predict(H, X_df=X, level=[80])
        return pd.DataFrame(
            {
                "unique_id": fc["unique_id"].astype(str),
                "ds": fc["ds"],
                "yhat": fc["lgbm"],
                "q10": fc["lgbm-lo-80"],
                "q50": fc["lgbm"],
                "q90": fc["lgbm-hi-80"],
            }
        )

    return run


def default_runner(spec: SelloutSpec, n_jobs: int) -> Runner:
    def run(train: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
        model = SalesplanForecaster(n_jobs=n_jobs).fit(train, spec)
        print(f"    default weights: {model.weights.round(2).to_dict()}", flush=True)
        return model.predict(H, future)

    return run


def methods_for(
    dataset: str, df: pd.DataFrame, spec: SelloutSpec, first_train: int, n_jobs: int
) -> dict[str, Runner]:
    pfreq = pandas_freq(spec.freq, df["ds"])
    season = 52
    out: dict[str, Runner] = {"salesplan_default": default_runner(spec, n_jobs)}
    if dataset == "dominicks":
        out["Naive"] = sf_runner(Naive(), pfreq, n_jobs)
    else:
        out["SeasonalNaive"] = sf_runner(SeasonalNaive(season_length=season), pfreq, n_jobs)
    # seasonal ETS at m=52 costs ~0.5 s per series (> 1 h for Walmart's 3 folds on 2 cores); the peer is
    # the non-seasonal AutoETS and MSTL below is the seasonal ETS-based peer
    out["AutoETS"] = sf_runner(AutoETS(season_length=1), pfreq, n_jobs)
    out["AutoTheta"] = sf_runner(
        AutoTheta(season_length=season if first_train >= 2 * season else 1), pfreq, n_jobs
    )
    if first_train >= 2 * season:
        out["MSTL"] = sf_runner(
            MSTL(season_length=season, trend_forecaster=AutoETS(model="ZZN")), pfreq, n_jobs
        )
    statics = [c for c in spec.static_cols if c in df.columns]
    out["mlforecast_lgbm"] = mlf_runner(spec, pfreq, n_jobs, [1, 2, 4, 13, 52], statics)
    return out


def run(
    dataset: str, n_jobs: int = 1, only: list[str] | None = None, sim_scale: str = "small"
) -> dict[str, Any]:
    load_start = os.getloadavg()
    df, spec, m, notes = load(dataset, sim_scale)
    cutoffs = origins(df["ds"].unique(), H, N_ORIGINS, H)
    dates = np.sort(df["ds"].unique())
    need = SalesplanForecaster().min_history() if dataset != "dominicks" else 8 + 3 * H
    first_train = int((dates <= np.datetime64(cutoffs[0])).sum())
    methods = methods_for(dataset, df, spec, first_train, n_jobs)
    if only:
        methods = {k: v for k, v in methods.items() if k in only}
    rows: dict[str, list[pd.DataFrame]] = {k: [] for k in methods}
    secs = dict.fromkeys(methods, 0.0)
    cpu = dict.fromkeys(methods, 0.0)
    for cutoff in cutoffs:
        train, test, ok = fold_split(df, dates, cutoff, need)
        train, test = train[train["unique_id"].isin(ok)], test[test["unique_id"].isin(ok)]
        future = test.drop(columns=[c for c in ("y", "revenue") if c in test.columns])
        scales = seasonal_scales(train, m)
        print(f"origin {cutoff.date()}: {len(ok)} series, train {train['ds'].nunique()} weeks", flush=True)
        for name, fn in methods.items():
            t0, c0 = time.perf_counter(), _cpu_seconds()
            fc = fn(train, future)
            secs[name] += time.perf_counter() - t0
            cpu[name] += _cpu_seconds() - c0
            fc = fc.merge(test[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")
            fc = fc.merge(scales, on="unique_id").assign(cutoff=cutoff)
            for c in ("yhat", "q10", "q50", "q90"):
                fc[c] = fc[c].clip(lower=0.0)  # units and sales are non-negative for every method alike
            rows[name].append(fc)
            print(f"  {name}: {time.perf_counter() - t0:.1f}s", flush=True)
    table = {}
    for name, parts in rows.items():
        met = evaluate(pd.concat(parts, ignore_index=True)).iloc[0]
        table[name] = {
            "mase": float(met["mase"]),
            "wape": float(met["wape"]),
            "bias": float(met["bias"]),
            "coverage80": float(met["coverage80"]),
            "pinball": float(met["pinball"]),
            "seconds": round(secs[name], 1),
            "cpu_seconds": round(cpu[name], 1),
        }
    protocol = {
        "dataset": dataset,
        "h": H,
        "n_origins": N_ORIGINS,
        "step": H,
        "cutoffs": [str(c.date()) for c in cutoffs],
        "mase_m": m,
        "quantiles": [0.1, 0.5, 0.9],
        "n_jobs": n_jobs,
        "seed": SEED,
        "scored_series": "alive at the origin, 13 weeks of actuals after it, >= "
        f"{need} weeks of history (same set for all methods)",
        "notes": notes,
        # the machine is shared: 1/5/15-minute load averages at start and end, to read `seconds` against
        "loadavg_start": [round(v, 2) for v in load_start],
        "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    }
    result = {"protocol": protocol, "default": "salesplan_default", "methods": table}
    return {**result, "ratios": ratios(result)}


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) and its finished worker processes: on a shared machine
    wall-clock seconds depend on the others' load, CPU seconds much less."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


STAT_PEERS = ("SeasonalNaive", "Naive", "AutoETS", "AutoTheta", "MSTL")


def ratios(result: dict[str, Any]) -> dict[str, float]:
    """Default's MASE and WAPE over the best peer's and over the mean of the statistical peers'."""
    table, d = result["methods"], result["methods"].get(result["default"])
    peers = {k: v for k, v in table.items() if k != result["default"]}
    stats = [v for k, v in peers.items() if k in STAT_PEERS]
    out: dict[str, float] = {}
    if d and peers:
        for metric in ("mase", "wape"):
            out[f"{metric}_vs_best_peer"] = d[metric] / min(v[metric] for v in peers.values())
            if stats:
                out[f"{metric}_vs_stat_mean"] = d[metric] / float(np.mean([v[metric] for v in stats]))
    return out


def markdown(result: dict[str, Any]) -> str:
    p = result["protocol"]
    lines = [
        f"# Forecast benchmark: {p['dataset']}",
        "",
        f"h={p['h']}, {p['n_origins']} origins ({', '.join(p['cutoffs'])}), MASE m={p['mase_m']}, "
        f"n_jobs={p['n_jobs']}",
        "",
        f"load average (1/5/15 min) at start {p.get('loadavg_start')}, at end {p.get('loadavg_end')} "
        f"on {p.get('cpu_count')} cores: seconds are wall-clock on a shared machine",
        "",
        "| method | MASE | WAPE | bias | coverage80 | pinball | seconds | CPU seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["methods"].items():
        lines.append(
            f"| {name} | {r['mase']:.3f} | {r['wape']:.3f} | {r['bias']:+.3f} | {r['coverage80']:.3f} | "
            f"{r['pinball']:.3f} | {r['seconds']:.0f} | {r.get('cpu_seconds', float('nan')):.0f} |"
        )
    for key, v in ratios(result).items():
        metric, _, ref = key.partition("_vs_")
        lines.append(f"\n{metric.upper()} default / {ref.replace('_', ' ')} = {v:.3f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, choices=["walmart", "dominicks", "simulated"])
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--methods", default="", help="comma-separated subset of method names")
    ap.add_argument("--sim-scale", default="small", choices=["small", "medium", "large"])
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    try:
        result = run(args.dataset, args.n_jobs, [m for m in args.methods.split(",") if m], args.sim_scale)
    except DataNotFoundError as exc:
        print(f"skipped {args.dataset}: {exc}")
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = (
        args.dataset
        if args.dataset != "simulated" or args.sim_scale == "small"
        else f"simulated_{args.sim_scale}"
    )
    (RESULTS / f"forecast_{name}.json").write_text(json.dumps(result, indent=2))
    md = markdown(result)
    (RESULTS / f"forecast_{name}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
