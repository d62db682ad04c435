"""Study of a size power for the batch's level bands: how a unit's error scale follows its size (not shipped).

    python -m benchmarks.size_power

The batch (``training.forecast_levels``) pools each level's backtest errors relative to a normaliser of the
unit's mean. The rule before it was ``max(mean, ref / 2)`` (``ref``: the level's median mean): relative
above half the median, absolute below, so a product a tenth of the median size got five times the
median's relative band. On the tracking benchmark's cached batches (simulated seeds 5, 6, 11-16) the
smallest quarter of units at the product levels had relative bands 2.5 times the others' and fell below
P10 1 % of the time, while units just below half the median under-covered. The candidates
(``level_calibration.SIZE_POWERS``) are that rule and the power law ``ref · (mean / ref) ** (1 − power)``
for power 0.25 and 0.5; ``auto`` picks one per batch by leave-one-origin-out interval score on the
batch's own backtest (``choose_size_power``, ``forecast_all_levels(size_power="auto")``). Not the default:
it evened coverage across sizes here, but the landing (``planning.tracking.landing``), whose constants
were chosen on the floor's band shape, over-covered with it on the tracking benchmark's scored worlds
(weeks 4 / 8 / 12: 0.791 / 0.795 / 0.836 → 0.830 / 0.837 / 0.867; its calibration set then moved its
own rule's choice of ``SPREAD_FLOOR`` from 1 to 0), so the two are to be chosen together.

Protocol: as ``benchmarks.levels`` (the training job's model backtested on 8 origins; from the fourth on,
each origin's bottom forecasts turned into every level by ``forecast_all_levels`` calibrated on the three
before it, whole periods scored), on the **calibration** worlds only: simulated seeds 5 and 42 weekly and
seed 5 monthly (``benchmarks.levels`` scores seeds 11 and 12 and online retail; the tracking and target
backtests score seeds 11-16 and 101-108). Scored per frequency × level: 80 % interval score (width + 10
× miss, over Σ|y|; lower is better), coverage, and coverage by size quartile within the level (units
ranked by their mean over the level's median of the period). Writes
``benchmarks/results/size_power.json`` and ``.md``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.levels import held_out_levels, shipped_backtest
from benchmarks.results_io import write_results
from salesplan.contracts import SelloutDataset
from salesplan.models.forecast.conformal import interval_score
from salesplan.training.backtest import BacktestResult
from salesplan.training.level_calibration import SIZE_POWERS

__all__ = ["main"]

VARIANTS: list[tuple[str, Any]] = [*((str(p), p) for p in SIZE_POWERS), ("auto", "auto")]


def worlds() -> list[tuple[str, SelloutDataset, int, int]]:
    from salesplan.simulator import SimConfig, simulate

    return [
        ("seed 5 weekly", simulate(SimConfig(seed=5, n_weeks=260)).sellout, 13, 8),
        ("seed 42 weekly", simulate(SimConfig(seed=42, n_weeks=260)).sellout, 13, 8),
        ("seed 5 monthly", simulate(SimConfig(seed=5, n_weeks=520, freq="M")).sellout, 6, 8),
    ]


def held_out(bt: BacktestResult, ds: SelloutDataset, need: int, power: Any) -> tuple[pd.DataFrame, list[Any]]:
    """Whole-period rows of every level from the fourth origin on, with the batch's distribution calibrated
    on the three origins before (``power``: a candidate, or ``"auto"`` for ``choose_size_power``)."""
    rows, picks = [], []
    for _, out, m in held_out_levels(bt, ds, need, size_power=power):
        picks.append(out.attrs["salesplan"]["size_power"])
        rows.append(m[m["coverage"] >= 1 - 1e-9])
    return pd.concat(rows, ignore_index=True), picks


def scores(r: pd.DataFrame) -> dict[str, dict[str, Any]]:
    r = r.assign(in80=(r["y"] >= r["q10"]) & (r["y"] <= r["q90"]))
    r = r.assign(size=r["yhat"] / r.groupby(["freq", "level", "ds"])["yhat"].transform("median"))
    out: dict[str, dict[str, Any]] = {}
    for (freq, level), g in r.groupby(["freq", "level"], sort=True):
        quart: list[float] = []
        if g["unique_id"].nunique() >= 8:
            q = pd.qcut(g["size"].rank(method="first"), 4, labels=False).to_numpy()
            quart = [round(float(g["in80"].to_numpy()[q == i].mean()), 3) for i in range(4)]
        out[f"{freq} {level}"] = {
            "rows": len(g),
            "interval_score": round(
                interval_score(g["q10"].to_numpy(), g["q90"].to_numpy(), g["y"].to_numpy()), 4
            ),
            "coverage80": round(float(g["in80"].mean()), 4),
            "coverage80_by_size_quartile": quart,
        }
    return out


def markdown(res: dict[str, Any]) -> str:
    names = [n for n, _ in VARIANTS]
    lines = ["# Size power of the batch's level bands (study; not shipped: module doc)", "",
             f"Load average at start {res['loadavg_start']}, end {res['loadavg_end']}. Calibration worlds only "
             "(module doc). Interval score at 80 % relative to the rule before (None); coverage by size quartile "
             "(smallest first) where a level has 8 units or more.", "",
             "| world | freq level | " + " | ".join(f"{n}: rel. score, cov (by size)" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]  # fmt: skip
    for world, block in res["worlds"].items():
        base = block["None"]["levels"]
        for key in base:
            cells = []
            for n in names:
                v = block[n]["levels"][key]
                rel = (
                    v["interval_score"] / base[key]["interval_score"]
                    if base[key]["interval_score"]
                    else np.nan
                )
                quart = "/".join(f"{c:.2f}" for c in v["coverage80_by_size_quartile"])
                cells.append(f"{rel:.3f}, {v['coverage80']:.3f}" + (f" ({quart})" if quart else ""))
            lines.append(f"| {world} | {key} | " + " | ".join(cells) + " |")
    lines += ["", "Mean relative interval score over a world's levels, and the auto choice per origin:", "",
              "| world | " + " | ".join(names) + " | auto picked |", "|---|" + "---|" * (len(names) + 1)]  # fmt: skip
    for world, block in res["worlds"].items():
        rel = " | ".join(f"{block[n]['mean_relative_score']:.4f}" for n in names)
        lines.append(f"| {world} | {rel} | {block['auto']['picks']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    start = [round(v, 2) for v in os.getloadavg()]
    res: dict[str, Any] = {"candidates": [str(p) for p in SIZE_POWERS], "worlds": {}}
    for world, ds, h, n in worlds():
        bt, need = shipped_backtest(ds, h, n, n_jobs=2)  # one backtest, every variant calibrated on it
        block: dict[str, Any] = {}
        for name, power in VARIANTS:
            r, picks = held_out(bt, ds, need, power)
            block[name] = {"levels": scores(r), "picks": [str(p) for p in picks]}
            print(f"{world} {name}: done", flush=True)
        base = block["None"]["levels"]
        for name, _ in VARIANTS:
            lv = block[name]["levels"]
            rel = [
                lv[k]["interval_score"] / base[k]["interval_score"] for k in base if base[k]["interval_score"]
            ]
            block[name]["mean_relative_score"] = round(float(np.mean(rel)), 4)
        res["worlds"][world] = block
    res["loadavg_start"], res["loadavg_end"] = start, [round(v, 2) for v in os.getloadavg()]
    write_results("size_power", res, lambda: markdown(res), default=None, echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
