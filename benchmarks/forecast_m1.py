"""M1 benchmark: whether the default forecaster generalises beyond weekly retail.

    python -m benchmarks.forecast --dataset m1 [--n-jobs 2] [--methods a,b] [--periods YEARLY,...]

Protocol (``../shared/data/m1_competition/SOURCE.md``): the competition's published split — fit on each
series' training part, forecast its horizon (yearly 6, quarterly 8, monthly 18), score on the test part.
Every method gets the same plain ``unique_id, ds, y`` panel per period (the M1 ``type`` attribute is left
out: the statistical peers cannot use it). Scores per period: sMAPE and MASE (scale: the in-sample mean
absolute seasonal difference of the training part, m = 1 / 4 / 12) averaged over series, coverage of the
80 % interval (q10–q90), wall-clock and CPU seconds; paired per-series differences of the default against
each peer with 95 % bootstrap intervals. Methods, all in the same run:

* ``salesplan_default``: exactly what ``salesplan train forecast`` registers
  (``training.forecast_job.production_model`` with the parameters the CLI passes: the data's frequency
  and season length, ``n_jobs``);
* statsforecast ``AutoETS``, ``AutoTheta``, ``AutoARIMA`` and ``Naive`` (yearly) / ``SeasonalNaive``, each
  with its own 80 % interval; ``ClassicalMean``: the plain mean of AutoETS, AutoTheta and (Seasonal)Naive
  (points and interval bounds), its seconds the sum of theirs;
* ``mlforecast_lgbm``: mlforecast + LightGBM with the frequency's lags (``benchmarks.forecast_peers``).

Writes ``benchmarks/results/forecast_m1.json`` (``{"default", "periods": {P: {"methods": {name: {smape,
mase, coverage80, seconds, ...}}, "paired": ...}}, "protocol", "configs"}``) and ``forecast_m1.md``."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd
from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

from benchmarks.forecast_peers import Peer, mean_peer, mlf_peer, sf_peer
from salesplan.contracts.periods import pandas_freq
from salesplan.loaders.m1 import M1_HORIZON, M1_SEASON, PERIODS, load_m1
from salesplan.training.forecast_job import production_model
from salesplan.training.metrics import seasonal_scales, smape

DEFAULT = "salesplan_default"
CLASSICAL = ("AutoETS", "AutoTheta", "SeasonalNaive")  # ClassicalMean's members ("Naive" for yearly)
BOOTSTRAP = 2000


def cpu_seconds() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def default_peer(freq: str, season: int, n_jobs: int, h: int) -> Peer:
    params = {"freq": freq, "season_length": season, "n_jobs": n_jobs}

    def run(train: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
        model = production_model(params)
        return model.fit(train).predict(h)

    return Peer(
        run,
        f"training.forecast_job.production_model({params}) — ColdStartForecaster over the default "
        "SalesplanForecaster, as `salesplan train forecast` registers it",
    )


def peers_for(period: str, n_jobs: int) -> dict[str, Peer]:
    freq = {"YEARLY": "Y", "QUARTERLY": "Q", "MONTHLY": "M"}[period]
    m, h = M1_SEASON[period], M1_HORIZON[period]
    pfreq = pandas_freq(freq)
    naive = ("Naive", Naive()) if m == 1 else ("SeasonalNaive", SeasonalNaive(season_length=m))
    return {
        DEFAULT: default_peer(freq, m, n_jobs, h),
        "AutoETS": sf_peer(AutoETS(season_length=m), pfreq, h, n_jobs),
        "AutoTheta": sf_peer(AutoTheta(season_length=m), pfreq, h, n_jobs),
        "AutoARIMA": sf_peer(AutoARIMA(season_length=m), pfreq, h, n_jobs),
        naive[0]: sf_peer(naive[1], pfreq, h, n_jobs),
        "mlforecast_lgbm": mlf_peer(freq, pfreq, h, n_jobs, [], [], m, difference=True),
    }


def score(fc: pd.DataFrame, test: pd.DataFrame, scales: pd.DataFrame) -> pd.DataFrame:
    """Per series: sMAPE, MASE, interval coverage (NaN without an interval), forecast rows."""
    d = test[["unique_id", "ds", "y"]].merge(fc, on=["unique_id", "ds"], how="left")
    d["yhat"] = d["yhat"].astype(float)
    d["_s"] = smape(d["y"].to_numpy(), d["yhat"].to_numpy())
    d["_a"] = (d["y"] - d["yhat"]).abs()
    has_q = {"q10", "q90"} <= set(d.columns)
    d["_c"] = np.nan
    if has_q:  # a row without both bounds is no interval at all: left out of the coverage, not a miss
        inside = ((d["y"] >= d["q10"]) & (d["y"] <= d["q90"])).astype(float)
        d["_c"] = inside.where(d["q10"].notna() & d["q90"].notna())
    d.loc[d["yhat"].isna(), ["_s", "_a", "_c"]] = np.nan  # a missing forecast scores as missing, counted
    g = d.groupby("unique_id")
    out = pd.DataFrame(
        {
            "smape": g["_s"].mean(),
            "mae": g["_a"].mean(),
            "coverage": g["_c"].mean(),
            "n_fc": g["yhat"].count(),
        }
    )
    sc = scales.set_index("unique_id")["scale"].reindex(out.index)
    out["mase"] = out["mae"] / sc.where(sc > 0)
    return out


def paired(a: pd.Series, b: pd.Series, rng: np.random.Generator) -> dict[str, Any]:
    """Mean of ``a − b`` per series with a 95 % bootstrap interval, and the share of series where a < b."""
    d = (a - b).dropna().to_numpy()
    if not len(d):
        return {}
    boots = rng.choice(d, size=(BOOTSTRAP, len(d)), replace=True).mean(axis=1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {
        "mean_diff": float(d.mean()),
        "ci95": [float(lo), float(hi)],
        "share_default_better": float(np.mean(d < 0)),
        "n_series": len(d),
    }


def run_period(period: str, n_jobs: int, only: list[str] | None) -> dict[str, Any]:
    train = load_m1(period=period, split="train").df[["unique_id", "ds", "y"]]
    test = load_m1(period=period, split="test").df[["unique_id", "ds", "y"]]
    m, h = M1_SEASON[period], M1_HORIZON[period]
    scales = seasonal_scales(train, m)
    peers = peers_for(period, n_jobs)
    wanted = set(only or peers) | ({*CLASSICAL, "Naive"} if not only or "ClassicalMean" in only else set())
    peers = {k: v for k, v in peers.items() if k in wanted}
    forecasts: dict[str, pd.DataFrame] = {}
    per: dict[str, pd.DataFrame] = {}
    table: dict[str, dict[str, Any]] = {}
    for name, peer in peers.items():
        t0, c0 = time.perf_counter(), cpu_seconds()
        fc = peer.run(train, test.drop(columns="y"))
        secs, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        forecasts[name] = fc
        per[name] = score(fc, test, scales)
        table[name] = _row(per[name], secs, cpu, peer.config)
        print(f"  {period} {name}: sMAPE {table[name]['smape']:.2f} MASE {table[name]['mase']:.3f} "
              f"cov {table[name]['coverage80']} {secs:.1f}s", flush=True)  # fmt: skip
    trio = [k for k in (*CLASSICAL, "Naive") if k in forecasts and (k != "SeasonalNaive" or m > 1)]
    if len(trio) == 3:
        fc = mean_peer({k: forecasts[k] for k in trio})
        per["ClassicalMean"] = score(fc, test, scales)
        secs = sum(table[k]["seconds"] for k in trio)
        cpu = sum(table[k]["cpu_seconds"] for k in trio)
        table["ClassicalMean"] = _row(
            per["ClassicalMean"], secs, cpu, f"plain mean of {trio} (points and bounds)"
        )
    rng = np.random.default_rng(0)
    pairs = {}
    if DEFAULT in per:
        for name in per:
            if name != DEFAULT:
                pairs[name] = {
                    metric: paired(per[DEFAULT][metric], per[name][metric], rng)
                    for metric in ("smape", "mase")
                }
    out: dict[str, Any] = {"methods": table, "paired": pairs, "h": h, "season_length": m}
    out["n_series"] = int(train["unique_id"].nunique())
    out["n_test_points"] = len(test)
    if DEFAULT in table and "ClassicalMean" in table:
        out["default_seconds_vs_classical_mean"] = table[DEFAULT]["seconds"] / max(
            table["ClassicalMean"]["seconds"], 1e-9
        )
        out["default_vs_classical_mean"] = {
            k: table[DEFAULT][k] / table["ClassicalMean"][k] for k in ("smape", "mase")
        }
    return out


def _row(per: pd.DataFrame, secs: float, cpu: float, config: str) -> dict[str, Any]:
    cov = per["coverage"]
    weights = per["n_fc"]
    return {
        "smape": float(per["smape"].mean()),
        "mase": float(per["mase"].mean()),
        "coverage80": float((cov * weights).sum() / weights[cov.notna()].sum())
        if cov.notna().any()
        else None,
        "seconds": round(secs, 2),
        "cpu_seconds": round(cpu, 2),
        "missing_forecasts": int((per["n_fc"] == 0).sum()),
        "config": config,
    }


def run(n_jobs: int = 1, only: list[str] | None = None, periods: list[str] | None = None) -> dict[str, Any]:
    start = os.getloadavg()
    result: dict[str, Any] = {"default": DEFAULT, "periods": {}}
    for period in periods or list(PERIODS):
        print(f"M1 {period}", flush=True)
        result["periods"][period] = run_period(period, n_jobs, only)
    result["protocol"] = {
        "dataset": "m1",
        "split": "published train/test (SOURCE.md)",
        "horizons": M1_HORIZON,
        "season_lengths": M1_SEASON,
        "inputs": "plain unique_id, ds, y panel per period; every series starts 1990-01-01 on its grid",
        "n_jobs": n_jobs,
        "loadavg_start": [round(v, 2) for v in start],
        "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "targets": "default below ClassicalMean and every peer on sMAPE and MASE per period; goal <= 0.95 x "
        "ClassicalMean; coverage80 0.77-0.83; default seconds <= 2 x ClassicalMean on MONTHLY",
    }
    return result


def markdown(result: dict[str, Any]) -> str:
    p = result["protocol"]
    lines = [
        "# Forecast benchmark: M1 (published split)",
        "",
        f"Horizons {p['horizons']}, season lengths {p['season_lengths']}, n_jobs={p['n_jobs']}; load average "
        f"(1/5/15 min) at start {p['loadavg_start']}, at end {p['loadavg_end']} on {p['cpu_count']} cores: "
        "seconds are wall-clock on a shared machine.",
    ]
    for period, r in result["periods"].items():
        lines += [
            "",
            f"## {period} ({r['n_series']} series, h={r['h']}, m={r['season_length']})",
            "",
            "| method | sMAPE | MASE | coverage80 | seconds | CPU seconds | sMAPE diff vs default (95 % CI) | default better on |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, row in r["methods"].items():
            cov = "–" if row["coverage80"] is None else f"{row['coverage80']:.3f}"
            pair = r["paired"].get(name, {}).get("smape")
            diff = (
                f"{-pair['mean_diff']:+.2f} [{-pair['ci95'][1]:+.2f}, {-pair['ci95'][0]:+.2f}]"
                if pair
                else "–"
            )
            better = f"{pair['share_default_better']:.0%}" if pair else "–"
            lines.append(
                f"| {name} | {row['smape']:.2f} | {row['mase']:.3f} | {cov} | {row['seconds']:.1f} | "
                f"{row['cpu_seconds']:.1f} | {diff} | {better} |"
            )
        if "default_vs_classical_mean" in r:
            ratio = r["default_vs_classical_mean"]
            lines.append(
                f"\ndefault / ClassicalMean: sMAPE {ratio['smape']:.3f}, MASE {ratio['mase']:.3f}; seconds "
                f"{r['default_seconds_vs_classical_mean']:.2f}x"
            )
    lines += ["", "## How each method was configured", ""]
    first = next(iter(result["periods"].values()))
    for name, row in first["methods"].items():
        lines.append(f"- **{name}**: {row['config']}")
    lines.append(
        "\nsMAPE diff = peer − default per series (positive: the default is better), mean with a 95 % "
        "bootstrap interval over series."
    )
    return "\n".join(lines) + "\n"
