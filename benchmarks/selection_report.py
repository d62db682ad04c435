"""The markdown table of ``benchmarks/selection.py``'s results (kept apart: the benchmark's own file holds
its steps)."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown"]


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Selection benchmark",
        "",
        f"load average at start {res['loadavg_start']}, end {res['loadavg_end']}",
        "",
    ]
    lines += [
        "| data set | forecaster | selection margin | last year's top | same quarter LY | gain vs LY top (95 % CI) | precision@N (sel / LY top) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("walmart", "dominicks"):
        r = res.get(name)
        if not isinstance(r, dict) or "selection" not in r:
            continue
        g = r["gain_vs_last_year_top"]
        lines.append(
            f"| {name} | {r['forecaster']} | {r['realised_margin']:,.0f} | {r['baseline_last_year_top']:,.0f} | "
            f"{r['same_quarter_last_year']['realised_margin']:,.0f} | {g['point']:+.2%} [{g['ci95'][0]:+.2%}, {g['ci95'][1]:+.2%}] | "
            f"{r['precision_at_n']:.3f} / {r['last_year_top']['precision_at_n']:.3f} |"
        )
    for name in ("walmart", "dominicks"):
        r = res.get(name)
        if not isinstance(r, dict) or "realised_units" not in r:
            continue
        gu, gm = (
            r["realised_units"]["gain_vs_last_year_top"],
            r["realised_unit_margins"]["gain_vs_last_year_top"],
        )
        ratio = r.get("realised_over_forecast_units", {})
        lines += [
            "",
            f"{name} decomposition (diagnostics that use the quarter's actuals; gain vs LY top, oracle "
            f"{r['oracle_margin'] / r['baseline_last_year_top'] - 1:+.2%}): the ranking with the quarter's realised "
            f"units in place of the forecast {gu['point']:+.2%} [{gu['ci95'][0]:+.2%}, {gu['ci95'][1]:+.2%}] (the "
            f"gap left to the oracle is the margin input's), with its realised unit margins in place of planned "
            f"price − unit cost {gm['point']:+.2%} [{gm['ci95'][0]:+.2%}, {gm['ci95'][1]:+.2%}] (the gap left is "
            f"the forecast's); realised / forecast units {ratio.get('promoted', float('nan')):.2f} on promoted "
            f"weeks, {ratio.get('other', float('nan')):.2f} on the others (mean over origins)",
        ]
    lines += [
        "",
        f"MILP portfolio, 5,000 candidates, every rule on: {res['milp_5000_seconds']:.3f} s (median of 3)",
    ]
    if res.get("promotion_uplift_coverage80") is not None:
        lines.append(
            f"Promotion uplift 80 % band coverage on held-out Dominick's deal weeks: {res['promotion_uplift_coverage80']:.3f}"
        )
        u = res.get("dominicks", {}).get("promotion_uplift")
        if isinstance(u, dict) and "coverage80_ci95" in u:
            lo, hi = u["coverage80_ci95"]
            lines.append(
                f"(95 % CI {lo:.3f}–{hi:.3f}, {u['deal_weeks']:,} deal weeks; below band {u['below_band']:.3f}, "
                f"above {u['above_band']:.3f}; mean uplift predicted {u['mean_predicted_uplift']:,.0f}, "
                f"realised {u['mean_realised_uplift']:,.0f})"
            )
    return "\n".join(lines) + "\n"
