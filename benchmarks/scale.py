"""Scale benchmark: fit the production forecaster (default blend with cold start; predict 13 weeks) on the simulator at growing series
counts, on the local engine and on a Dask LocalCluster, with peak memory.

    python -m benchmarks.scale [--sizes 1000,10000,50000] [--workers 2] [--max-series 5000] [--keep]

Both engines fit the same partitions (``models.forecast.PartitionedForecaster``, chunks of at most
``--max-series`` series by category), so they do the same work; what differs is where. Peak memory is
sampled every 50 ms over this process and all its children (the Dask workers and statsforecast's forked
processes), as the sum of RSS and the sum of PSS; PSS splits pages shared between processes, so it is the
real footprint and what the 8 GiB goal is checked against. Writes ``benchmarks/results/scale.json`` and
``scale.md``."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import threading
import time
from typing import Any

import pandas as pd
import psutil
from sklearn.base import clone

from benchmarks.results_io import RESULTS, write_results
from salesplan.contracts import SelloutSpec
from salesplan.engine import close_clients, dask_client
from salesplan.models.forecast import Forecaster, PartitionedForecaster
from salesplan.simulator import SimConfig, SimulatedWorld, simulate
from salesplan.training.forecast_job import alive, production_model

H = 13
WARM_SERIES = 60


class PeakMemory:
    """Peak memory of this process tree while the block runs: the sum of RSS (counts pages shared between
    forked workers once per process, so it overstates) and the sum of PSS (each shared page split among
    the processes that map it: the tree's real footprint)."""

    def __init__(self) -> None:
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _tree(self) -> tuple[int, int]:
        rss = pss = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                info = p.memory_full_info()
                rss += info.rss
                pss += info.pss
        return rss, pss

    def _sample(self) -> None:
        rss, pss = self._tree()
        self.peak = max(self.peak, rss)
        self.peak_pss = max(self.peak_pss, pss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def world_of(n_series: int, seed: int = 0) -> SimulatedWorld:
    """A simulated world with about ``n_series`` series (stores × products), 2 years of history."""
    n_stores = max(2, min(200, n_series // 50))
    n_products = max(1, round(n_series / n_stores))
    return simulate(
        SimConfig(seed=seed, n_products=n_products, n_stores=n_stores, n_weeks=104, validate=False)
    )


def warm(base: Forecaster, few: pd.DataFrame, spec: SelloutSpec) -> None:
    clone(base).fit(few, spec)


def run_one(world: SimulatedWorld, engine: str, workers: int, max_series: int) -> dict[str, float]:
    df = alive(world.sellout.df)
    # the same cores either way: one process whose LightGBM/statsforecast use ``workers`` threads/processes,
    # or ``workers`` single-threaded Dask worker processes each fitting whole partitions
    params = {"n_jobs": workers} if engine == "local" else None
    base = production_model(params)
    model = PartitionedForecaster(
        base,
        partition_by="category",
        max_series=max_series,
        engine=engine,
        workers=workers,
    )
    # Before the clock, every process that will fit has imported and JIT-compiled the models once on a few
    # series (statsforecast compiles with numba on first use): the steady state of a long-running cluster
    # or training process, and the same for both engines.
    few = df[df["unique_id"].isin(df["unique_id"].drop_duplicates().iloc[:WARM_SERIES])]
    if engine == "dask":
        dask_client(workers).run(warm, base, few, world.sellout.spec)  # on every worker
    else:
        warm(base, few, world.sellout.spec)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        model.fit(df, world.sellout.spec)
        fc = model.predict(H, world.future)
        seconds = time.perf_counter() - t0
    if engine == "dask":  # fresh workers for each size, and none idling in the next local run's memory
        close_clients()
    assert fc["unique_id"].nunique() == df["unique_id"].nunique()
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(mem.peak / 2**20, 1),
        "peak_pss_mb": round(mem.peak_pss / 2**20, 1),
    }


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Scale benchmark",
        "",
        f"Default forecaster fit + {H}-week predict on the simulator (104 weeks of history), partitions of "
        f"at most {res['protocol']['max_series']} series by category. Local: one process, n_jobs="
        f"{res['protocol']['workers']}; Dask: LocalCluster with {res['protocol']['workers']} single-threaded "
        f"worker processes. Load average at start: {res['protocol']['loadavg']}.",
        "",
        "Memory is summed over the process tree (Dask workers and statsforecast's forked processes included): "
        "RSS counts pages shared between processes once per process, PSS splits them, so PSS is the real "
        "footprint.",
        "",
        "| series | rows | local s | dask s | local s per 1k series | local peak PSS / RSS MB | "
        "dask peak PSS / RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in res["sizes"].items():
        lines.append(
            f"| {int(n):,} | {r['rows']:,} | {r['local_s']} | {r['dask_s']} | "
            f"{r['local_s'] / (int(n) / 1000):.2f} | {r['local_peak_pss_mb']:,} / {r['local_peak_rss_mb']:,} | "
            f"{r['dask_peak_pss_mb']:,} / {r['dask_peak_rss_mb']:,} |"
        )
    sizes = sorted(res["sizes"], key=int)
    lines += ["", "Cost against series count (time ratio for the series ratio):", ""]
    for a, b in itertools.pairwise(sizes):
        ra, rb = res["sizes"][a], res["sizes"][b]
        lines.append(
            f"- {int(a):,} → {int(b):,} ({int(b) / int(a):g}× the series): local "
            f"{rb['local_s'] / ra['local_s']:.2f}×, dask {rb['dask_s'] / ra['dask_s']:.2f}×"
        )
    top = headline(res)[sizes[-1]] if sizes else None
    if top is not None:
        gib = top["peak_rss_mb"] / 1024
        lines += ["", f"Peak memory at {int(sizes[-1]):,} series (PSS sum, larger engine): {gib:.2f} GiB "
                  f"({'within' if gib <= 8 else 'over'} the 8 GiB goal)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-series", type=int, default=5000)
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the sizes an earlier run measured (same protocol) in the results",
    )
    args = ap.parse_args()
    res: dict[str, Any] = {
        "protocol": {
            "model": "PartitionedForecaster(production model: cold start over the default blend)",
            "local_n_jobs": args.workers,
            "h": H,
            "history_weeks": 104,
            "workers": args.workers,
            "max_series": args.max_series,
            "memory": "peak sum over the process tree of RSS and of PSS, sampled every 50 ms; Dask cluster "
            "closed after each Dask run",
            "warm_up": f"each fitting process fits the model on {WARM_SERIES} series before the clock",
            "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "sizes": {},
    }
    previous = RESULTS / "scale.json"
    if args.keep and previous.exists():  # sizes measured by an earlier run with the same protocol stay
        old = json.loads(previous.read_text())
        same = {k: v for k, v in old["detail"]["protocol"].items() if k != "loadavg"} == {
            k: v for k, v in res["protocol"].items() if k != "loadavg"
        }
        if same:
            res["sizes"] = old["detail"]["sizes"]
    for n in [int(s) for s in args.sizes.split(",")]:
        world = world_of(n)
        rows = len(world.sellout.df)
        local = run_one(world, "local", args.workers, args.max_series)
        dask = run_one(world, "dask", args.workers, args.max_series)
        res["sizes"][str(n)] = {
            "n_series": int(world.sellout.df["unique_id"].nunique()),
            "rows": rows,
            "local_s": local["seconds"],
            "dask_s": dask["seconds"],
            "local_peak_rss_mb": local["peak_rss_mb"],
            "local_peak_pss_mb": local["peak_pss_mb"],
            "dask_peak_rss_mb": dask["peak_rss_mb"],
            "dask_peak_pss_mb": dask["peak_pss_mb"],
        }
        print(json.dumps({n: res["sizes"][str(n)]}), flush=True)
        write(res)  # after every size: a long run stopped part-way still leaves what it measured
    close_clients()
    print(markdown(res))


def headline(res: dict[str, Any]) -> dict[str, Any]:
    """The issue's shape, ``{"<n>": {local_s, dask_s, peak_rss_mb}}``, from the detail. ``peak_rss_mb`` is the
    resident memory of the larger engine's process tree with shared pages counted once (its PSS sum): the
    plain RSS sum (``rss_sum_mb``) counts the training process's pages once more for every forked
    statsforecast process that shares them, which is memory the machine never needed."""
    return {
        n: {
            "local_s": r["local_s"],
            "dask_s": r["dask_s"],
            "peak_rss_mb": max(r["local_peak_pss_mb"], r["dask_peak_pss_mb"]),
            "rss_sum_mb": max(r["local_peak_rss_mb"], r["dask_peak_rss_mb"]),
        }
        for n, r in res["sizes"].items()
    }


def write(res: dict[str, Any]) -> None:
    # the shape first, details under "detail"
    write_results(
        "scale", {**headline(res), "detail": res}, lambda: markdown(res), default=None, folder=RESULTS
    )


if __name__ == "__main__":
    main()
