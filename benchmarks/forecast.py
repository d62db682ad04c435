"""Sell-out forecasting benchmark: the salesplan default against statsforecast/mlforecast peers on the
same rolling-origin folds, in one process.

    python -m benchmarks.forecast --dataset walmart|dominicks|simulated|m1 [--n-jobs 2] [--methods a,b]

Protocol (weekly retail sets): h = 13 weeks, 3 non-overlapping origins covering the last 39 weeks, each
method refit on all data before each origin. Scored series: alive at the origin with 13 weeks of actuals
after it and 40 weeks of history (the same set for every method). The default is exactly what ``salesplan
train forecast`` registers (``production_model`` with the data's frequency and season); the peers get the
same inputs (known-future regressors, calendar, series attributes) and their documented settings
(``benchmarks.forecast_peers``; each method's ``config`` is written with its scores). ``--dataset m1``
runs the M1 protocol of ``benchmarks.forecast_m1``. Writes benchmarks/results/forecast_<dataset>.json and
.md and prints the table."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from statsforecast.models import MSTL, AutoETS, AutoTheta, Naive, SeasonalNaive

from benchmarks.forecast_peers import Peer, mlf_peer, sf_peer
from benchmarks.results_io import write_results
from salesplan.contracts import SelloutSpec
from salesplan.errors import DataNotFoundError
from salesplan.models.forecast.panel import pandas_freq
from salesplan.training.backtest import origins
from salesplan.training.forecast_job import production_model
from salesplan.training.metrics import evaluate, seasonal_scales

H, N_ORIGINS, SEED = 13, 3, 0
MIN_HISTORY = 40
"""Weeks of history a series needs at an origin to be scored (the same for every method; the default
itself forecasts any series with one week or more)."""
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


def default_peer(spec: SelloutSpec, n_jobs: int) -> Peer:
    params = {"freq": spec.freq, "season_length": spec.season, "n_jobs": n_jobs}

    def run(train: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
        model = production_model(params).fit(train, spec)
        weights = getattr(getattr(model, "base_", model), "weights", None)
        if weights is not None:
            print(f"    default pooled weights: {weights.round(2).to_dict()}", flush=True)
        return model.predict(H, future)

    return Peer(
        run,
        f"training.forecast_job.production_model({params}) fitted with the data's spec — what `salesplan "
        "train forecast` registers",
    )


def methods_for(
    dataset: str, df: pd.DataFrame, spec: SelloutSpec, first_train: int, n_jobs: int
) -> dict[str, Peer]:
    pfreq = pandas_freq(spec.freq, df["ds"])
    season = spec.season
    out: dict[str, Peer] = {"salesplan_default": default_peer(spec, n_jobs)}
    if dataset == "dominicks":
        out["Naive"] = sf_peer(Naive(), pfreq, H, n_jobs)
    else:
        out["SeasonalNaive"] = sf_peer(SeasonalNaive(season_length=season), pfreq, H, n_jobs)
    # seasonal ETS at m=52 costs ~0.5 s per series (> 1 h for Walmart's 3 folds on 2 cores); the peer is
    # the non-seasonal AutoETS and MSTL below is the seasonal ETS-based peer (statsforecast's documented
    # choice for long seasons)
    out["AutoETS"] = sf_peer(AutoETS(season_length=1), pfreq, H, n_jobs, "; non-seasonal (m=52 too slow)")
    theta_m = season if first_train >= 2 * season else 1
    out["AutoTheta"] = sf_peer(AutoTheta(season_length=theta_m), pfreq, H, n_jobs)
    if first_train >= 2 * season:
        out["MSTL"] = sf_peer(
            MSTL(season_length=season, trend_forecaster=AutoETS(model="ZZN")), pfreq, H, n_jobs
        )
    regs = [c for c in ("price", *spec.regressors) if c in df.columns]
    statics = [
        c for c in (*spec.static_cols, *(spec.hierarchy.columns if spec.hierarchy else ())) if c in df.columns
    ]
    out["mlforecast_lgbm"] = mlf_peer(spec.freq, pfreq, H, n_jobs, regs, statics, season)
    return out


def run(
    dataset: str, n_jobs: int = 1, only: list[str] | None = None, sim_scale: str = "small"
) -> dict[str, Any]:
    load_start = os.getloadavg()
    df, spec, m, notes = load(dataset, sim_scale)
    cutoffs = origins(df["ds"].unique(), H, N_ORIGINS, H)
    dates = np.sort(df["ds"].unique())
    need = MIN_HISTORY
    first_train = int((dates <= np.datetime64(cutoffs[0])).sum())
    methods = methods_for(dataset, df, spec, first_train, n_jobs)
    if only:
        methods = {k: v for k, v in methods.items() if k in only}
    rows: dict[str, list[pd.DataFrame]] = {k: [] for k in methods}
    configs = {k: v.config for k, v in methods.items()}
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
            fc = fn.run(train, future)
            secs[name] += time.perf_counter() - t0
            cpu[name] += _cpu_seconds() - c0
            fc = fc.merge(test[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")
            fc = fc.merge(scales, on="unique_id").assign(cutoff=cutoff)
            for c in ("yhat", "q10", "q90"):
                if c in fc.columns:
                    fc[c] = fc[c].clip(lower=0.0)  # units and sales are non-negative for every method alike
            rows[name].append(fc)
            print(f"  {name}: {time.perf_counter() - t0:.1f}s", flush=True)
    table = {}
    for name, parts in rows.items():
        met = evaluate(pd.concat(parts, ignore_index=True)).iloc[0]
        table[name] = {
            "mase": float(met["mase"]),
            "wape": float(met["wape"]),
            "smape": float(met["smape"]),
            "bias": float(met["bias"]),
            "coverage80": float(met["coverage80"]) if "coverage80" in met.index else None,
            "pinball": float(met["pinball"]) if "pinball" in met.index else None,
            "pinball80": float(met["pinball80"]) if "pinball80" in met.index else None,
            "interval_share": float(met["interval_share"]) if "interval_share" in met.index else None,
            "seconds": round(secs[name], 1),
            "cpu_seconds": round(cpu[name], 1),
            "config": configs[name],
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
        "| method | MASE | WAPE | sMAPE | bias | coverage80 | rows with an interval | pinball80 | seconds | CPU seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def num(v: float | None, fmt: str) -> str:
        return "–" if v is None else format(v, fmt)

    for name, r in result["methods"].items():
        lines.append(
            f"| {name} | {r['mase']:.3f} | {r['wape']:.3f} | {num(r.get('smape'), '.2f')} | {r['bias']:+.3f} | "
            f"{num(r['coverage80'], '.3f')} | {num(r.get('interval_share'), '.0%')} | "
            f"{num(r.get('pinball80'), '.3f')} | {r['seconds']:.0f} | "
            f"{r.get('cpu_seconds', float('nan')):.0f} |"
        )
    lines.append(
        "\ncoverage80 and pinball80 are over the rows that have an interval (a peer may give none for short "
        "series: *rows with an interval*); pinball80 is the q10 and q90 pinball losses averaged, over the "
        "series' seasonal-naive MAE, then over series (the 80 % interval's own score, the same two quantiles "
        "for every method; lower is better)"
    )
    for key, v in ratios(result).items():
        metric, _, ref = key.partition("_vs_")
        lines.append(f"\n{metric.upper()} default / {ref.replace('_', ' ')} = {v:.3f}")
    configs = [f"- **{name}**: {r['config']}" for name, r in result["methods"].items() if r.get("config")]
    if configs:
        lines += ["", "## How each method was configured", "", *configs]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, choices=["walmart", "dominicks", "simulated", "m1"])
    ap.add_argument("--periods", default="", help="m1 only: comma-separated YEARLY,QUARTERLY,MONTHLY")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--methods", default="", help="comma-separated subset of method names")
    ap.add_argument("--sim-scale", default="small", choices=["small", "medium", "large"])
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    only = [m for m in args.methods.split(",") if m]
    if args.dataset == "m1":
        return _main_m1(args.n_jobs, only, [p for p in args.periods.upper().split(",") if p])
    try:
        result = run(args.dataset, args.n_jobs, only, args.sim_scale)
    except DataNotFoundError as exc:
        print(f"skipped {args.dataset}: {exc}")
        return 0
    name = (
        args.dataset
        if args.dataset != "simulated" or args.sim_scale == "small"
        else f"simulated_{args.sim_scale}"
    )
    write_results(f"forecast_{name}", result, lambda: markdown(result), default=None, echo=True)
    return 0


def _main_m1(n_jobs: int, only: list[str], periods: list[str]) -> int:
    from benchmarks import forecast_m1

    try:
        result = forecast_m1.run(n_jobs, only or None, periods or None)
    except DataNotFoundError as exc:
        print(f"skipped m1: {exc}")
        return 0
    write_results("forecast_m1", result, lambda: forecast_m1.markdown(result), default=None, echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
