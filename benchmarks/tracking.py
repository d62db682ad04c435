"""Landing-estimate backtest (issue #21): replay past quarters as a sales-ops team lived them, and check
the landing P10–P90 at weeks 4, 8 and 12 against the quarter's actual total.

    python -m benchmarks.tracking [--sets simulated,walmart,maven,simulated_bookings] [--quarters 4]
    python -m benchmarks.tracking --calibration   # CONDITIONING on the calibration set

Sell-out (simulator, Walmart). For each replayed quarter the champion is built exactly as ``salesplan
train forecast`` builds it (``training.forecast_job``: the production blend fitted on every week that
ended before the quarter, its backtest on ``ORIGINS`` (3) origins calibrating the batch (the folds
``training.level_calibration.representative_folds`` keeps: early quarters lose their oldest), ``build_batch``
giving every level weekly and quarterly) — the defaults a user gets, nothing tuned here. Then
``planning.tracking.track_sellout`` (what ``salesplan track`` and the API run) takes the weeks sold so
far and gives every unit's landing P10/P50/P90. Per level and week: ``landing_coverage80`` (share of
quarter totals inside P10–P90; 95 % cluster-bootstrap interval over quarters) and ``landing_p50_wape``
(Σ|actual − P50| / Σ actual); week 0 (the forecast alone) is the reference the P50 error should fall from.
The landing's period correlation is read off each unit's own quarter forecast and its spread is re-scaled
up (never down) per level by the elapsed weeks' surprises (``spread_scale``, whose prior weight was not
fitted); its two constants, ``CONDITIONING`` and ``SPREAD_FLOOR``, were chosen together on the
``calibrate`` set (simulated seeds 5 and 6, not scored here;
``benchmarks/results/tracking_calibration.json``), so nothing was fitted on these sets. The floor was
added after this benchmark's Walmart replay had been seen (its stores' landing narrowed after calm
first weeks, then missed the holiday weeks); the choice was made on the calibration set's figures, and
the same rule on the same set dropped it again (conditioning 0.25, floor 0) once the batch's mean
correction was shared out by size. Batches are
cached per data set and quarter under ``SALESPLAN_TRACKING_CACHE``, in a folder named after a hash of the
code that builds them (``batch_code_fingerprint``: ``models/`` and ``training/``), so a change to the
forecaster or the batch's calibration never scores stale batches.

- simulated: six small worlds pooled (``SCORED_SEEDS`` 11–16: not seeds any forecaster or landing
  constant was chosen on), levels total → region → store → store/product, quarters 2025Q4–2026Q3.
- walmart: weekly sales summed per store (45 series; the 3,300 store × department series would take the
  champion hours per quarter on this machine), levels total → store type → store, quarters 2011Q4–2012Q3.
- maven (bookings): won value per region → team → rep, landing from ``planning.tracking.track_bookings``
  (what ``salesplan track`` runs for a bookings proposal: won so far + the open deals with scores refitted
  as of the day + the run-rate of new deals; see ``benchmarks/tracking_bookings.py``), beside the peers
  ``independent`` and ``forecast_asof`` (``bookings_distributions`` as of the day); quarters 2017Q3–2017Q4
  (the CRM's closes start in March 2017; a quarter-week without enough history is listed in ``skipped``).
- simulated_bookings: the same on the simulator's CRM (seed 11, small), quarters 2025Q3–2026Q2 (their
  deals had closed by the data's end; eight earlier quarters fit the quarter shock).

``track_10k_reps_seconds``: ``track_sellout`` for 10,000 units × 13 weeks from frames already in memory
(the median of 5 runs). Writes ``benchmarks/results/tracking.json`` and ``.md`` with the load average."""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.results_io import RESULTS, write_results
from salesplan.contracts import Hierarchy, SelloutDataset, SelloutSpec, validate_sellout
from salesplan.planning.track_record import cluster_bootstrap
from salesplan.planning.tracking import (
    CONDITIONING,
    SPREAD_FLOOR,
    quarter_calendar,
    rollup_actuals,
    track_sellout,
)

WEEKS = (0, 4, 8, 12)
ORIGINS = 3
"""Backtest origins calibrating each champion batch: ``salesplan train forecast``'s default (``--origins``;
the runs before issue #21's fix used 2)."""


def _champion_batch(train: SelloutDataset, periods: int, future: pd.DataFrame | None) -> pd.DataFrame:
    from salesplan.training.forecast_job import default_batch

    return default_batch(train, n_origins=ORIGINS, future=future, periods=periods).forecast


def batch_code_fingerprint(roots: tuple[Path, ...] | None = None) -> str:
    """12 hex digits of the SHA-256 of every ``.py`` file under ``roots`` (default: the installed
    ``salesplan.models`` and ``salesplan.training`` packages), paths and contents, in sorted order: the
    cache folder of the batches they build."""
    if roots is None:
        import salesplan.models
        import salesplan.training

        roots = tuple(Path(p).resolve() for m in (salesplan.models, salesplan.training) for p in m.__path__)
    digest = hashlib.sha256()
    for root in roots:
        for f in sorted(root.rglob("*.py")):
            digest.update(str(f.relative_to(root)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def _batch(ds: SelloutDataset, q: str, with_future: bool, cache: Path | None) -> pd.DataFrame:
    """The champion's batch at the start of ``q`` (cached by data set and quarter when ``cache`` is set:
    the landing's variants are scored on the same batches)."""
    path = None if cache is None else cache / batch_code_fingerprint() / f"{ds.name}_{q}_o{ORIGINS}.parquet"
    if path is not None and path.exists():
        return pd.read_parquet(path)
    df = ds.df
    cal = quarter_calendar(q, "W", week_start=int(pd.Timestamp(df["ds"].min()).dayofweek))
    first = cal.starts[0]
    train = SelloutDataset(df[df["ds"] < first].reset_index(drop=True), ds.spec, ds.name)
    future = None
    if with_future:
        future = df[df["ds"] >= first].drop(columns=["y", *(c for c in ("revenue",) if c in df.columns)])
        future = future.reset_index(drop=True)
    t0 = time.perf_counter()
    fc = _champion_batch(train, len(cal.starts), future)
    print(f"  {ds.name} {q}: champion batch in {time.perf_counter() - t0:.0f} s", flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fc.to_parquet(path)
    return fc


def replay_sellout(
    ds: SelloutDataset, quarters: list[str], with_future: bool, cache: Path | None = None,
    conditioning: float = CONDITIONING, spread_floor: float = SPREAD_FLOOR,
) -> pd.DataFrame:  # fmt: skip
    """One row per quarter × week × unit: level, actual quarter total, landing P10/P50/P90."""
    df = ds.df
    out = []
    hcols = list(ds.spec.hierarchy.columns) if ds.spec.hierarchy else []
    for q in quarters:
        cal = quarter_calendar(q, "W", week_start=int(pd.Timestamp(df["ds"].min()).dayofweek))
        fc = _batch(ds, q, with_future, cache)
        levels = [str(lv) for lv in fc["level"].unique()]
        acts = rollup_actuals(df[df["ds"].isin(cal.starts)][["unique_id", "ds", "y", *hcols]], fc, levels)
        qrows = fc[(fc["freq"] == "Q") & (fc["period"].astype(str) == q)]
        plan = pd.DataFrame({"level": qrows["level"].astype(str), "unit_id": qrows["unique_id"].astype(str),
                             "parent_id": None, "target": qrows["q50"].to_numpy(float), "p_hit": 0.5})  # fmt: skip
        share = pd.Series(cal.share, index=cal.starts)
        truth = acts.assign(w=acts["y"] * acts["ds"].map(share)).groupby("unique_id")["w"].sum()
        for k in WEEKS:
            as_of = cal.ends[k - 1] if k else cal.first_day - pd.Timedelta(days=1)
            tr = track_sellout(
                plan, fc, acts, q, as_of, conditioning=conditioning, spread_floor=spread_floor
            ).units
            out.append(tr.assign(quarter=q, week=k, actual=tr["unit_id"].map(truth).fillna(0.0).to_numpy())[
                ["quarter", "week", "level", "unit_id", "actual", "landing_p10", "landing_p50", "landing_p90"]])  # fmt: skip
    return pd.concat(out, ignore_index=True)


def summarise(rows: pd.DataFrame) -> dict[str, Any]:
    rows = rows.assign(inside=((rows["landing_p10"] <= rows["actual"]) & (rows["actual"] <= rows["landing_p90"])).astype(float),
                       err=(rows["actual"] - rows["landing_p50"]).abs())  # fmt: skip

    def block(r: pd.DataFrame) -> dict[str, Any]:
        cov, wape, ci = {}, {}, {}
        for k, g in r.groupby("week"):
            cov[str(k)] = round(float(g["inside"].mean()), 4)
            ci[str(k)] = [round(v, 4) for v in cluster_bootstrap(g, "inside")]
            wape[str(k)] = round(float(g["err"].sum() / max(g["actual"].abs().sum(), 1e-9)), 4)
        return {"landing_coverage80": cov, "coverage80_ci95": ci, "landing_p50_wape": wape,
                "units": int(r["unit_id"].nunique()), "quarters": sorted(r["quarter"].unique().tolist())}  # fmt: skip

    res = block(rows)
    res["by_level"] = {str(lv): block(g) for lv, g in rows.groupby("level")}
    return res


CACHE = Path(os.environ.get("SALESPLAN_TRACKING_CACHE", "/tmp/salesplan-tracking-batches"))
SIM_QUARTERS = ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]


def _sim(seed: int) -> SelloutDataset:
    from salesplan.simulator import SimConfig, simulate

    w = simulate(SimConfig(seed=seed, scale="small", activities=False))
    return SelloutDataset(w.sellout.df, w.sellout.spec, f"simulated-seed{seed}")


SCORED_SEEDS = (11, 12, 13, 14, 15, 16)
"""Simulated worlds scored (pooled; a (world, quarter) pair is one bootstrap cluster). Seed 11 alone was
scored until the landing's spread scale was added; 12 and 13 were added then, before their results were
seen, so that a level's coverage rests on 12 quarters rather than 4 (``by_world`` keeps each world's);
14–16 were added while a correlation cap for the landing was tried (not shipped: commit 1ff571d), after
11–13's figures had been seen and before theirs, so that an aggregate level (one total per world) rests
on 24 quarters: at 12, one quarter in or out moved a total's coverage by 0.08."""


def simulated(n_quarters: int, conditioning: float = CONDITIONING) -> dict[str, Any]:
    parts = []
    for seed in SCORED_SEEDS:
        ds = _sim(seed)
        rows = replay_sellout(ds, SIM_QUARTERS[-n_quarters:], True, CACHE, conditioning)
        parts.append(rows.assign(quarter=f"{ds.name}:" + rows["quarter"]))
    res = summarise(pd.concat(parts, ignore_index=True))
    res["by_world"] = {
        f"seed{seed}": {k: v for k, v in summarise(r).items() if k != "by_level"}
        for seed, r in zip(SCORED_SEEDS, parts, strict=True)
    }
    return res


CALIBRATION_SEEDS = (5, 6)
"""Simulated worlds the landing's constants are chosen on (the scored worlds are ``SCORED_SEEDS``)."""


SPREAD_FLOORS = (0.0, 1.0)
"""``SPREAD_FLOOR`` candidates: the elapsed weeks may narrow the landing (0) or only widen it (1)."""


def calibrate(n_quarters: int) -> dict[str, Any]:
    """The landing's two constants on the calibration set (simulated seeds ``CALIBRATION_SEEDS``, pooled;
    not scored): coverage and P50 WAPE over weeks 4, 8 and 12 for each ``CONDITIONING`` candidate with
    each ``SPREAD_FLOOR`` candidate (keys ``"<conditioning>|<floor>"``)."""
    worlds = [_sim(seed) for seed in CALIBRATION_SEEDS]
    out = {}
    for floor in SPREAD_FLOORS:
        for c in (0.0, 0.25, 0.5, 0.75, 1.0):
            rows = [replay_sellout(ds, SIM_QUARTERS[-n_quarters:], True, CACHE, c, floor) for ds in worlds]
            s = summarise(pd.concat([r.assign(quarter=f"{ds.name}:" + r["quarter"]) for ds, r in
                                     zip(worlds, rows, strict=True)], ignore_index=True))  # fmt: skip
            out[f"{c}|{floor}"] = {
                "conditioning": c,
                "spread_floor": floor,
                "landing_coverage80": s["landing_coverage80"],
                "landing_p50_wape": s["landing_p50_wape"],
                "by_level_coverage80": {lv: b["landing_coverage80"] for lv, b in s["by_level"].items()},
            }
    return out


def walmart(n_quarters: int, conditioning: float = CONDITIONING) -> dict[str, Any]:
    from salesplan.loaders import load

    ds = load("walmart")
    assert isinstance(ds, SelloutDataset)
    df = ds.df.groupby(["store_type", "store", "ds"], as_index=False, observed=True)["y"].sum()
    df = df.assign(unique_id=df["store"].astype(str))
    spec = SelloutSpec(freq="W", hierarchy=Hierarchy({"geo": ["store_type", "store"]}))
    frame = validate_sellout(df[["unique_id", "ds", "y", "store_type", "store"]], spec)
    stores = SelloutDataset(frame, spec, "walmart-stores")
    quarters = ["2011Q4", "2012Q1", "2012Q2", "2012Q3"][-n_quarters:]
    return summarise(replay_sellout(stores, quarters, False, CACHE, conditioning))


def maven(n_quarters: int) -> dict[str, Any]:
    from benchmarks.tracking_bookings import by_method, replay_bookings
    from salesplan.contracts import CRMData
    from salesplan.loaders import load

    crm = load("maven")
    assert isinstance(crm, CRMData)
    # the CRM's closes start in March 2017: 2017Q3 is the first quarter with a whole earlier quarter to
    # measure conversion and run rates on (as of its first day)
    rows, skipped = replay_bookings(crm, ["2017Q3", "2017Q4"][-n_quarters:], WEEKS)
    return {**by_method(rows, summarise), "skipped": skipped}


def simulated_bookings(n_quarters: int) -> dict[str, Any]:
    from benchmarks.tracking_bookings import by_method, replay_bookings
    from salesplan.simulator import SimConfig, simulate

    crm = simulate(SimConfig(seed=11, scale="small", activities=False)).crm
    rows, skipped = replay_bookings(crm, ["2025Q3", "2025Q4", "2026Q1", "2026Q2"][-n_quarters:], WEEKS)
    return {**by_method(rows, summarise), "skipped": skipped}


def time_10k(n: int = 10_000, weeks: int = 13, repeats: int = 5) -> float:
    """``track_sellout`` over ``n`` units from frames in memory (the service's state after loading)."""
    cal = quarter_calendar("2027Q1")
    rng = np.random.default_rng(0)
    ids = [f"R{i:05d}" for i in range(n)]
    mu = rng.uniform(10, 100, n)
    wk = pd.DataFrame({"unique_id": np.repeat(ids, len(cal.starts)), "ds": np.tile(cal.starts, n)})
    m = np.repeat(mu, len(cal.starts))
    fc = pd.concat([
        wk.assign(level="rep", freq="W", period="", q10=m * 0.7, q50=m, q90=m * 1.3, yhat=m),
        pd.DataFrame({"unique_id": ids, "level": "rep", "freq": "Q", "period": "2027Q1", "ds": cal.first_day,
                      "q10": mu * 11, "q50": mu * 13, "q90": mu * 15, "yhat": mu * 13}),
    ])  # fmt: skip
    done = wk[wk["ds"] <= cal.starts[weeks // 2]]
    acts = done.assign(y=rng.poisson(np.repeat(mu, len(cal.starts))[: len(done)]).astype(float))
    plan = pd.DataFrame({"level": "rep", "unit_id": ids, "parent_id": None, "target": mu * 13, "p_hit": 0.5})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        track_sellout(plan, fc, acts, "2027Q1")
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


SETS: dict[str, Callable[[int], dict[str, Any]]] = {
    "simulated": simulated,
    "walmart": walmart,
    "maven": maven,
    "simulated_bookings": simulated_bookings,
}
EXTRA: dict[str, Callable[[int], dict[str, Any]]] = {"calibrate": calibrate}
CALIBRATION_RULE = "candidate whose coverage at weeks 4, 8, 12 is closest to 0.80 (mean squared gap)"


def write_calibration(n_quarters: int) -> dict[str, Any]:
    """``calibrate`` on the calibration set, the candidate pair its rule picks, and
    ``benchmarks/results/tracking_calibration.json`` and ``.md`` (``--calibration``)."""
    start = [round(v, 2) for v in os.getloadavg()]
    t0 = time.perf_counter()
    cal = calibrate(n_quarters)
    gap = {k: sum((v["landing_coverage80"][w] - 0.8) ** 2 for w in ("4", "8", "12")) for k, v in cal.items()}
    chosen = cal[min(gap, key=lambda k: gap[k])]
    res = {"calibrate": cal, "seconds": round(time.perf_counter() - t0, 1), "seeds": list(CALIBRATION_SEEDS),
           "quarters": SIM_QUARTERS[-n_quarters:], "backtest_origins": ORIGINS,
           "chosen": {"conditioning": chosen["conditioning"], "spread_floor": chosen["spread_floor"]},
           "shipped": {"conditioning": CONDITIONING, "spread_floor": SPREAD_FLOOR}, "rule": CALIBRATION_RULE,
           "landing": "equicorrelated Gaussian conditional scaled by CONDITIONING, spread scaled by spread_scale "
                      "(floored at SPREAD_FLOOR)",
           "loadavg_start": start, "loadavg_end": [round(v, 2) for v in os.getloadavg()]}  # fmt: skip
    lines = ["# Landing constants CONDITIONING and SPREAD_FLOOR on the calibration set (simulated seeds "
             f"{' and '.join(map(str, CALIBRATION_SEEDS))}, not scored)", "",
             f"Batches calibrated on {ORIGINS} backtest origins (shipped default); the landing's spread scaled by "
             "the elapsed weeks' surprises (spread_scale), never below SPREAD_FLOOR. Rule: "
             f"{CALIBRATION_RULE}. Chosen: conditioning {chosen['conditioning']}, floor {chosen['spread_floor']}; "
             f"shipped: {CONDITIONING}, {SPREAD_FLOOR}.", "",
             "| conditioning | spread floor | coverage80 w0/4/8/12 | P50 WAPE w0/4/8/12 |", "|---|---|---|---|"]  # fmt: skip
    for v in cal.values():
        cv, wp = v["landing_coverage80"], v["landing_p50_wape"]
        lines.append(f"| {v['conditioning']} | {v['spread_floor']} | " + " / ".join(f"{cv[w]:.3f}" for w in
                     ("0", "4", "8", "12")) + " | " + " / ".join(f"{wp[w]:.3f}" for w in ("0", "4", "8", "12"))
                     + " |")  # fmt: skip
    lines += ["", "Per level, shipped conditioning, coverage80 at weeks 4 / 8 / 12:", "",
              "| level | " + " | ".join(f"floor {f}" for f in SPREAD_FLOORS) + " |",
              "|---|" + "---|" * len(SPREAD_FLOORS)]  # fmt: skip
    per = {f: cal[f"{CONDITIONING}|{f}"]["by_level_coverage80"] for f in SPREAD_FLOORS}
    for lv in per[SPREAD_FLOORS[0]]:
        lines.append(f"| {lv} | " + " | ".join(" / ".join(f"{per[f][lv][w]:.3f}" for w in ("4", "8", "12"))
                                                for f in SPREAD_FLOORS) + " |")  # fmt: skip
    write_results("tracking_calibration", res, "\n".join(lines) + "\n", default=None, folder=RESULTS)
    print("\n".join(lines))
    return res


def markdown(res: dict[str, Any]) -> str:
    lines = ["# Landing estimate backtest (issue #21)", "",
             f"Load average at start {res['loadavg_start']}, end {res['loadavg_end']}. "
             "Coverage target 0.77–0.83 (P10–P90); week 0 = the forecast alone.", "",
             "| set | level | week | coverage80 | 95 % CI | P50 WAPE |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name in SETS:
        if name not in res:
            continue
        r = res[name]
        if "error" in r:
            lines.append(f"| {name} | – | – | {r['error']} | | |")
            continue
        blocks = [(name, lv, b) for lv, b in [("all", r), *r["by_level"].items()]]
        blocks += [(f"{name} ({m})", "all", b) for m, b in r.get("peers", {}).items()]
        blocks += [(f"{name} {w}", "all", b) for w, b in r.get("by_world", {}).items()]
        for label, lv, b in blocks:
            for k in b["landing_coverage80"]:
                lo, hi = b["coverage80_ci95"][k]
                lines.append(f"| {label} | {lv} | {k} | {b['landing_coverage80'][k]:.3f} | {lo:.2f}–{hi:.2f} | "
                             f"{b['landing_p50_wape'][k]:.3f} |")  # fmt: skip
    lines += ["", f"track 10k reps × 13 weeks: {res['track_10k_reps_seconds']:.3f} s (median of 5)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--quarters", type=int, default=4)
    ap.add_argument("--out", default="tracking")
    ap.add_argument(
        "--origins", type=int, default=3, help="backtest origins calibrating each batch (shipped: 3)"
    )
    ap.add_argument(
        "--calibration", action="store_true",
        help="only choose CONDITIONING on the calibration set (writes tracking_calibration.json/.md)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    global ORIGINS
    ORIGINS = args.origins
    if args.calibration:
        write_calibration(args.quarters)
        return 0
    res: dict[str, Any] = {"loadavg_start": [round(v, 2) for v in os.getloadavg()]}
    for name in args.sets.split(","):
        print(f"{name} …", flush=True)
        t0 = time.perf_counter()
        try:
            res[name] = {**SETS, **EXTRA}[name](args.quarters)
        except FileNotFoundError as exc:
            res[name] = {"error": f"data set missing: {exc}"}
        res[name]["seconds"] = round(time.perf_counter() - t0, 1)
    res["track_10k_reps_seconds"] = round(time_10k(), 4)
    res["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    write_results(args.out, res, lambda: markdown(res), default=None, folder=RESULTS, echo=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
