"""Every issue's numeric targets against the figures the benchmarks committed, in one table.

    python -m benchmarks.targets   # reads benchmarks/results/*.json; writes targets.json and targets.md

Nothing is measured here: each row reads one figure a benchmark wrote (``forecast_*.json``,
``planning.json``, ``tracking.json``, ``selection.json``, ``deals_*.json``) and compares it with the bound
the issue states, so a closing note or the README quotes the results instead of copying them by hand. A
figure a results file lacks is "no figure", never "met". ``kind``: ``target`` (what the issue requires),
``goal`` (what it aims for beyond that) or ``per level`` (figures the issue asks to report per level,
checked against the same band as the pooled one). Hit rates at the top levels rest on few quarters (the
simulated total on 24, Walmart's on 7, a standard error of 0.10 and 0.19 at a promise of 0.6): their
``±0.05`` rows say whether the point estimate is inside, and the 95 % interval beside them says how much
that can mean."""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.results_io import RESULTS, write_results

BAND80 = (0.77, 0.83)
"""The issues' 80 % interval coverage band (forecast and landing P10–P90)."""

Results = dict[str, Any]
Reader = Callable[[Results], "Reading"]


@dataclass(frozen=True)
class Reading:
    """A figure and the bounds it must meet (``lo ≤ value ≤ hi``; ``strict``: ``<`` and ``>``)."""

    value: float | None
    lo: float | None = None
    hi: float | None = None
    strict: bool = False
    context: str = ""


@dataclass(frozen=True)
class Check:
    issue: int
    what: str
    source: str
    read: Reader
    kind: str = "target"


@dataclass(frozen=True)
class Row:
    issue: int
    kind: str
    what: str
    figure: float | None
    bound: str
    status: str
    context: str
    source: str


def status(r: Reading) -> str:
    if r.value is None:
        return "no figure"
    v = float(r.value)
    low_ok = r.lo is None or (v > r.lo if r.strict else v >= r.lo)
    high_ok = r.hi is None or (v < r.hi if r.strict else v <= r.hi)
    return "met" if low_ok and high_ok else "not met"


def bound_text(r: Reading) -> str:
    lt, gt = ("<", ">") if r.strict else ("≤", "≥")
    if r.lo is not None and r.hi is not None:
        return f"{r.lo:g} – {r.hi:g}"
    if r.hi is not None:
        return f"{lt} {r.hi:g}"
    return f"{gt} {r.lo:g}" if r.lo is not None else ""


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _value(
    path: tuple[str, ...], lo: float | None = None, hi: float | None = None, strict: bool = False
) -> Reader:
    """The figure at ``path`` (source first) against fixed bounds."""
    return lambda res: Reading(_get(res, *path), lo, hi, strict)


def _gap(a: tuple[str, ...], b: tuple[str, ...], hi: float) -> Reader:
    """The figure at ``a`` minus the one at ``b`` (paths, source first), at most ``hi``."""

    def read(res: Results) -> Reading:
        x, y = _get(res, *a), _get(res, *b)
        return Reading(None if x is None or y is None else x - y, hi=hi)

    return read


def _best_margin(path: tuple[str, ...], key: str, lo: float | None = None, hi: float | None = None) -> Reader:
    """The default's margin over its closest peer (``margins`` at ``path``: per peer, default − peer): the
    smallest AUC gain (``lo``) or the largest Brier difference (``hi``)."""

    def read(res: Results) -> Reading:
        vals = [m[key] for m in (_get(res, *path) or {}).values() if m.get(key) is not None]
        worst = (min(vals) if lo is not None else max(vals)) if vals else None
        return Reading(worst, lo, hi)

    return read


# ---------------------------------------------------------------- #18 forecasting
def _m1(period: str, metric: str, versus: str, hi: float) -> Reader:
    def read(res: Results) -> Reading:
        table = _get(res, "forecast_m1", "periods", period, "methods") or {}
        default = _get(res, "forecast_m1", "default")
        mine = _get(table, str(default), metric)
        peers = {k: v[metric] for k, v in table.items() if k != default and v.get(metric) is not None}
        if versus == "ClassicalMean":
            other, who = peers.get("ClassicalMean"), "ClassicalMean"
        else:
            singles = {k: v for k, v in peers.items() if k != "ClassicalMean"}
            who = min(singles, key=singles.__getitem__) if singles else ""
            other = singles.get(who)
        value = None if mine is None or not other else mine / other
        return Reading(
            value, hi=hi, strict=hi == 1.0, context=f"{mine:.3f} vs {who} {other:.3f}" if value else ""
        )

    return read


def _coverage(source: str, *path: str) -> Reader:
    return _value((source, *path), *BAND80)


def _vs_best_peer(source: str, metric: str, hi: float) -> Reader:
    return lambda res: Reading(_get(res, source, "ratios", f"{metric}_vs_best_peer"), hi=hi, strict=hi == 1.0)


def forecasting() -> Iterator[Check]:
    for period in ("YEARLY", "QUARTERLY", "MONTHLY"):
        p = period.lower()
        for metric, name in (("smape", "sMAPE"), ("mase", "MASE")):
            yield Check(
                18,
                f"M1 {p}: {name} / ClassicalMean",
                "forecast_m1",
                _m1(period, metric, "ClassicalMean", 1.0),
            )
            yield Check(
                18, f"M1 {p}: {name} / best single peer", "forecast_m1", _m1(period, metric, "peer", 1.0)
            )
            yield Check(18, f"M1 {p}: {name} / ClassicalMean", "forecast_m1", _m1(period, metric, "ClassicalMean", 0.95), "goal")  # fmt: skip
        yield Check(18, f"M1 {p}: P10–P90 coverage", "forecast_m1", _coverage("forecast_m1", "periods", period, "methods", "salesplan_default", "coverage80"))  # fmt: skip
    for data in ("walmart", "dominicks"):
        src = f"forecast_{data}"
        for metric in ("mase", "wape"):
            yield Check(18, f"{data}: {metric.upper()} / best peer", src, _vs_best_peer(src, metric, 1.0))
        yield Check(
            18, f"{data}: P10–P90 coverage", src, _coverage(src, "methods", "salesplan_default", "coverage80")
        )
    yield Check(18, "walmart: MASE / best peer", "forecast_walmart", _vs_best_peer("forecast_walmart", "mase", 0.90), "goal")  # fmt: skip


# ---------------------------------------------------------------- #19 honest targets
def _hit(data: str, level: str, promise: str) -> Reader:
    def read(res: Results) -> Reading:
        block = (
            _get(res, "planning", "shipped_defaults", data, level)
            if promise == "0.6"
            else _get(res, "planning", "other_promises", promise, data, level)
        )
        if not block:
            return Reading(None)
        ci = block.get("ci95") or [None, None]
        gap = block["hit_rate"] - block["promised"]
        context = f"hit {block['hit_rate']:.3f} vs promised {block['promised']:.3f}, 95 % CI {ci[0]:.2f}–{ci[1]:.2f}, {block['quarters']} quarter(s)"  # fmt: skip
        if block["quarters"] < 2:
            context += " (one quarter: the interval is a point)"
        if data == "maven":  # the issue: the promise inside the 95 % interval
            return Reading(block["promised"], ci[0], ci[1], context=context)
        return Reading(gap, -0.05, 0.05, context=context)

    return read


def targets_honest() -> Iterator[Check]:
    levels = {
        "simulated": ("total", "region", "team", "rep"),
        "simulated_sellout": ("total", "region", "store"),
        "walmart": ("total", "store_type", "store"),
        "maven": ("total", "region", "team", "rep"),
    }
    for promise in ("0.6", "0.5", "0.8"):
        for data, lvls in levels.items():
            for level in lvls:
                what = (
                    f"{data} {level} @ {promise}: promise inside the 95 % CI"
                    if data == "maven"
                    else f"{data} {level} @ {promise}: hit − promised"
                )
                yield Check(19, what, "planning", _hit(data, level, promise))
    for data in ("simulated", "maven"):
        yield Check(19, f"pipeline P10–P90 coverage, {data}", "planning",
                    _value(("planning", "pipeline_band_coverage", data), 0.70, 0.90))  # fmt: skip
    yield Check(19, "10k-rep allocation seconds (bounded)", "planning",
                _value(("planning", "allocation", "bounded", "seconds"), hi=1.0, strict=True))  # fmt: skip


# ---------------------------------------------------------------- #21 tracking
def _wape_falls(data: str) -> Reader:
    def read(res: Results) -> Reading:
        w = _get(res, "tracking", data, "landing_p50_wape") or {}
        if any(w.get(k) is None for k in ("0", "4", "8", "12")):
            return Reading(None)
        seq = [float(w[k]) for k in ("0", "4", "8", "12")]
        rises = sum(b >= a for a, b in itertools.pairwise(seq))
        return Reading(rises, hi=0, context=" → ".join(f"{v:.3f}" for v in seq))

    return read


def tracking(results: Results) -> Iterator[Check]:
    for data in ("simulated", "walmart"):
        for week in ("4", "8", "12"):
            yield Check(21, f"{data}: landing P10–P90 coverage, week {week}", "tracking",
                        _coverage("tracking", data, "landing_coverage80", week))  # fmt: skip
        yield Check(21, f"{data}: landing P50 WAPE rises (steps)", "tracking", _wape_falls(data))
    for data in ("simulated", "walmart"):
        levels = sorted((_get(results, "tracking", data, "by_level") or {}).keys())
        for level in levels:
            for week in ("4", "8", "12"):
                yield Check(21, f"{data} {level}: landing coverage, week {week}", "tracking",
                            _coverage("tracking", data, "by_level", level, "landing_coverage80", week), "per level")  # fmt: skip
    yield Check(21, "track 10k reps × 13 weeks, seconds", "tracking",
                _value(("tracking", "track_10k_reps_seconds"), hi=1.0, strict=True))  # fmt: skip


# ---------------------------------------------------------------- #23 selection
def _gain(data: str) -> Reader:
    def read(res: Results) -> Reading:
        g = _get(res, "selection", data, "gain_vs_last_year_top") or {}
        ci = g.get("ci95") or [float("nan")] * 2
        context = f"95 % CI {ci[0]:+.2%} – {ci[1]:+.2%}" if g else ""
        return Reading(g.get("point"), lo=0.0, strict=True, context=context)

    return read


def selection() -> Iterator[Check]:
    for data in ("walmart", "dominicks"):
        yield Check(
            23, f"{data}: realised margin gain over last year's top sellers", "selection", _gain(data)
        )
    yield Check(23, "promotion uplift 80 % band coverage (Dominick's)", "selection",
                _value(("selection", "promotion_uplift_coverage80"), 0.75, 0.85))  # fmt: skip
    yield Check(23, "MILP, 5,000 candidates, seconds", "selection",
                _value(("selection", "milp_5000_seconds"), hi=2.0, strict=True))  # fmt: skip


# ---------------------------------------------------------------- #25 deals
def deals(results: Results) -> Iterator[Check]:
    for world in sorted((_get(results, "deals_simulated", "worlds") or {}).keys()):
        src = ("deals_simulated", "worlds", world)
        yield Check(25, f"simulated world {world}: AUC − best peer's", "deals_simulated",
                    _best_margin((*src, "margins"), "auc_diff", lo=0.005))  # fmt: skip
        yield Check(25, f"simulated world {world}: Brier − best peer's", "deals_simulated",
                    _best_margin((*src, "margins"), "brier_diff", hi=0.0))  # fmt: skip
        yield Check(25, f"simulated world {world}: test ECE", "deals_simulated",
                    _value((*src, "test_ece"), hi=0.02, strict=True))  # fmt: skip
        yield Check(25, f"simulated world {world}: fit time / LightGBM's", "deals_simulated",
                    _value((*src, "fit_ratio_to_lightgbm_untuned"), hi=2.0))  # fmt: skip
    yield Check(25, "salvirt: AUC − best peer's", "deals_salvirt", _best_margin(("deals_salvirt", "margins"), "auc_diff", lo=0.005))  # fmt: skip
    yield Check(25, "salvirt: Brier − best peer's", "deals_salvirt", _best_margin(("deals_salvirt", "margins"), "brier_diff", hi=0.0))  # fmt: skip

    def salvirt_ece(res: Results) -> Reading:
        methods = _get(res, "deals_salvirt", "methods") or {}
        peers = [v["ece"] for k, v in methods.items() if k not in ("deal_scorer", "prior")]
        mine = _get(methods, "deal_scorer", "ece")
        return Reading(None if mine is None or not peers else mine - min(peers), hi=0.0)

    yield Check(25, "salvirt: ECE − best peer's", "deals_salvirt", salvirt_ece)

    maven = ("deals_maven", "methods")
    yield Check(25, "maven: Brier − prior's", "deals_maven",
                _gap((*maven, "deal_scorer", "brier"), (*maven, "prior", "brier"), hi=0.002))  # fmt: skip
    yield Check(25, "planted leakage columns let through", "deals_leakage",
                _gap(("deals_leakage", "planted"), ("deals_leakage", "planted_refused"), hi=0.0))  # fmt: skip
    yield Check(25, "honest columns refused", "deals_leakage",
                _value(("deals_leakage", "honest_refused"), hi=0.0))  # fmt: skip
    yield Check(25, "single-deal score, ms", "deals_simulated",
                _value(("deals_simulated", "scoring", "single_ms"), hi=2.0, strict=True))  # fmt: skip


# ---------------------------------------------------------------- table
SOURCES = (
    "forecast_m1", "forecast_walmart", "forecast_dominicks", "planning", "tracking", "selection",
    "deals_simulated", "deals_salvirt", "deals_maven", "deals_leakage",
)  # fmt: skip


def load(folder: Path = RESULTS) -> Results:
    """Every source's JSON (a missing file is an empty entry: its rows say "no figure")."""
    return {s: json.loads((folder / f"{s}.json").read_text()) if (folder / f"{s}.json").exists() else {} for s in SOURCES}  # fmt: skip


def checks(results: Results) -> list[Check]:
    """The rows: fixed ones, plus one per level (tracking) and per world (deals) the results hold."""
    return [*forecasting(), *targets_honest(), *tracking(results), *selection(), *deals(results)]


def scorecard(results: Results, items: list[Check] | None = None) -> list[Row]:
    rows = []
    for c in items if items is not None else checks(results):
        r = c.read(results)
        rows.append(
            Row(c.issue, c.kind, c.what, r.value, bound_text(r), status(r), r.context, f"{c.source}.json")
        )
    return rows


def markdown(rows: list[Row]) -> str:
    lines = ["# Targets against the committed benchmark results", "",
             "Generated by `python -m benchmarks.targets` from `benchmarks/results/*.json` (see its docstring).", ""]  # fmt: skip
    for issue in sorted({r.issue for r in rows}):
        mine = [r for r in rows if r.issue == issue]
        for kind in ("target", "goal", "per level"):
            part = [r for r in mine if r.kind == kind]
            if not part:
                continue
            met = sum(r.status == "met" for r in part)
            lines += [f"## #{issue}: {kind}s ({met} of {len(part)} met)", "",
                      "| what | figure | bound | status | context | source |", "|---|---|---|---|---|---|"]  # fmt: skip
            for r in part:
                fig = "–" if r.figure is None else f"{r.figure:.4g}"
                lines.append(f"| {r.what} | {fig} | {r.bound} | {r.status} | {r.context} | {r.source} |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    rows = scorecard(load(args.results))
    write_results(
        "targets", [asdict(r) for r in rows], lambda: markdown(rows) + "\n", default=None, folder=args.results
    )
    for issue in sorted({r.issue for r in rows}):
        part = [r for r in rows if r.issue == issue and r.kind == "target"]
        miss = [r.what for r in part if r.status != "met"]
        print(
            f"#{issue}: {len(part) - len(miss)} of {len(part)} targets met"
            + (f"; not: {'; '.join(miss)}" if miss else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
