"""Simulator and contract-validator speed: ``python -m benchmarks.simulator``.

Goal (foundation issue): 100 products × 50 stores × 156 weeks (+ CRM + spend) generate in seconds. Peer in
the same run: utilsforecast's ``generate_series`` for the same number of weekly series and length — a bare
synthetic panel with none of our structure (prices, promotions, hierarchy, CRM), i.e. a floor, not a rival.
Writes ``benchmarks/results/simulator.json`` and ``simulator.md``."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.results_io import write_results
from salesplan.contracts import validate_crm, validate_sellout
from salesplan.simulator import SimConfig, simulate
from salesplan.simulator.config import Scale


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best of ``repeat`` wall-clock seconds (the machine is shared: the minimum is the stable figure)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    from utilsforecast.data import generate_series

    rows: dict[str, dict[str, Any]] = {}
    scales: tuple[Scale, ...] = ("small", "medium")
    for scale in scales:
        secs, world = timed(partial(simulate, SimConfig(seed=0, scale=scale, validate=False)))
        df = world.sellout.df
        rows[f"simulate {scale} (no validation)"] = {
            "seconds": secs,
            "rows": len(df),
            "series": int(df["unique_id"].nunique()),
            "opportunities": len(world.crm.opportunities),
        }
        s_val, _ = timed(partial(validate_sellout, world.sellout.df, world.sellout.spec), repeat=2)
        c_val, _ = timed(partial(validate_crm, world.crm), repeat=2)
        rows[f"validate sell-out {scale}"] = {"seconds": s_val, "rows": len(df)}
        rows[f"validate CRM {scale}"] = {"seconds": c_val, "rows": len(world.crm.stage_events)}
        full, _ = timed(partial(simulate, SimConfig(seed=0, scale=scale)), repeat=1)
        rows[f"simulate {scale} (validated, as the CLI runs it)"] = {"seconds": full, "rows": len(df)}
    n_series = rows["simulate medium (no validation)"]["series"]
    secs, peer = timed(
        lambda: generate_series(n_series, freq="W-MON", min_length=156, max_length=156, seed=0)
    )
    rows[f"peer: utilsforecast generate_series ({n_series} × 156 weeks)"] = {
        "seconds": secs,
        "rows": len(peer),
    }
    lines = ["| run | seconds | rows |", "|---|---|---|"]
    lines += [f"| {k} | {v['seconds']:.2f} | {v['rows']:,} |" for k, v in rows.items()]
    table = "\n".join(lines)
    write_results(
        "simulator", rows, "# Simulator and validator speed (2 cores)\n\n" + table + "\n", default=None
    )
    print(table)


if __name__ == "__main__":
    main()
