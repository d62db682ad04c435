"""Scale benchmark: fit the production forecaster (default blend with cold start; predict 13 weeks) on the simulator at growing series
counts, on the local engine and on a Dask LocalCluster, with peak memory.

    python -m benchmarks.scale [--sizes 1000,10000,50000] [--workers 2] [--max-series 5000] [--keep]

Both engines fit the same partitions (``training.engine.PartitionedForecaster``, chunks of at most
``--max-series`` series by category), so they do the same work; what differs is where. Peak RSS is sampled
every 50 ms over this process and all its children (the Dask workers are child processes), so the Dask
figure includes the workers' memory. Writes ``benchmarks/results/scale.json`` and ``scale.md``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from salesplan.simulator import SimConfig, simulate
from training.engine import PartitionedForecaster, close_clients, dask_client
from training.forecast_job import alive, production_model

RESULTS = Path(__file__).resolve().parent / "results"
H = 13


class PeakRSS:
    """Peak resident memory of this process tree while the block runs."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _tree_rss(self) -> int:
        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self.peak = self._tree_rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def world_of(n_series: int, seed: int = 0) -> Any:
    """A simulated world with about ``n_series`` series (stores × products), 2 years of history."""
    n_stores = max(2, min(200, n_series // 50))
    n_products = max(1, round(n_series / n_stores))
    return simulate(
        SimConfig(seed=seed, n_products=n_products, n_stores=n_stores, n_weeks=104, validate=False)
    )


def run_one(world: Any, engine: str, workers: int, max_series: int) -> dict[str, float]:
    df = alive(world.sellout.df)
    # the same cores either way: one process whose LightGBM/statsforecast use ``workers`` threads/processes,
    # or ``workers`` single-threaded Dask worker processes each fitting whole partitions
    params = {"n_jobs": workers} if engine == "local" else None
    model = PartitionedForecaster(
        production_model(params),
        partition_by="category",
        max_series=max_series,
        engine=engine,
        workers=workers,
    )
    if engine == "dask":
        dask_client(workers)  # start the cluster before the clock: a running cluster is the steady state
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        model.fit(df, world.sellout.spec)
        fc = model.predict(H, world.future)
        seconds = time.perf_counter() - t0
    assert fc["unique_id"].nunique() == df["unique_id"].nunique()
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(mem.peak / 2**20, 1)}


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Scale benchmark",
        "",
        f"Default forecaster fit + {H}-week predict on the simulator (104 weeks of history), partitions of "
        f"at most {res['protocol']['max_series']} series by category. Local: one process, n_jobs="
        f"{res['protocol']['workers']}; Dask: LocalCluster with {res['protocol']['workers']} single-threaded "
        f"worker processes. Load average at start: {res['protocol']['loadavg']}.",
        "",
        "| series | rows | local s | dask s | local peak RSS MB | dask peak RSS MB (incl. workers) | local s per 1k series |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in res["sizes"].items():
        lines.append(
            f"| {int(n):,} | {r['rows']:,} | {r['local_s']} | {r['dask_s']} | {r['local_peak_rss_mb']:,} | "
            f"{r['peak_rss_mb']:,} | {r['local_s'] / (int(n) / 1000):.2f} |"
        )
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
            "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "sizes": {},
    }
    out: dict[str, Any] = {}
    previous = RESULTS / "scale.json"
    if args.keep and previous.exists():  # sizes measured by an earlier run with the same protocol stay
        old = json.loads(previous.read_text())
        same = {k: v for k, v in old["detail"]["protocol"].items() if k != "loadavg"} == {
            k: v for k, v in res["protocol"].items() if k != "loadavg"
        }
        if same:
            res["sizes"] = old["detail"]["sizes"]
            out = {k: v for k, v in old.items() if k != "detail"}
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
            "peak_rss_mb": dask["peak_rss_mb"],
            "local_peak_rss_mb": local["peak_rss_mb"],
        }
        out[str(n)] = {
            "local_s": local["seconds"],
            "dask_s": dask["seconds"],
            "peak_rss_mb": max(local["peak_rss_mb"], dask["peak_rss_mb"]),
        }
        print(json.dumps({n: res["sizes"][str(n)]}), flush=True)
        write(out, res)  # after every size: a long run stopped part-way still leaves what it measured
    close_clients()
    print(markdown(res))


def write(out: dict[str, Any], res: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    # the shape first ({"<n>": {local_s, dask_s, peak_rss_mb}}), details under "detail"
    (RESULTS / "scale.json").write_text(json.dumps({**out, "detail": res}, indent=2) + "\n")
    (RESULTS / "scale.md").write_text(markdown(res))


if __name__ == "__main__":
    main()
