"""Markdown tables of the deal-win benchmark results (``benchmarks.deals``)."""

from __future__ import annotations

from typing import Any


def _methods_table(methods: dict[str, Any], fit: dict[str, float] | None, default: str) -> list[str]:
    lines = ["| method | AUC | Brier | log loss | ECE | fit s |", "|---|---|---|---|---|---|"]
    for k, v in methods.items():
        label = f"**{k}** (default)" if k == default else k
        secs = "" if not fit or k not in fit else f"{fit[k]:.2f}"
        lines.append(
            f"| {label} | {v['auc']:.4f} | {v['brier']:.4f} | {v['logloss']:.4f} | {v['ece']:.4f} | {secs} |"
        )
    if fit and "lightgbm_final_fit" in fit:
        lines.append(f"| (tuned LightGBM's final fit alone) | | | | | {fit['lightgbm_final_fit']:.2f} |")
    return lines


def _cv_notes(res: dict[str, Any]) -> list[str]:
    out = []
    if "fit_ratio_to_lightgbm_untuned" in res:
        out.append(
            f"Fit time of the default: {res['fit_ratio_to_lightgbm_untuned']:.2f} × the untuned LightGBM, "
            f"{res['fit_ratio_to_lightgbm_final_fit']:.2f} × the tuned LightGBM's final fit, "
            f"{res['fit_ratio_to_lightgbm_tuned_with_search']:.3f} × the tuned LightGBM with its search."
        )
    if "self_reported_ece" in res and "test_ece" in res:
        out.append(
            f"ECE the default reports for itself (nested cross-fit, all rows) {res['self_reported_ece']:.4f}; "
            f"its pooled out-of-fold ECE {res['test_ece']:.4f}."
        )
    for peer, m in (res.get("margins") or {}).items():
        out.append(
            f"Margin over {peer}: AUC {m['auc_diff']:+.4f} [{m['auc_diff_lo']:+.4f}, {m['auc_diff_hi']:+.4f}], "
            f"Brier {m['brier_diff']:+.4f} [{m['brier_diff_lo']:+.4f}, {m['brier_diff_hi']:+.4f}] "
            "(default − peer, 95 % deal-bootstrap interval)."
        )
    h = res.get("driver_headroom")
    if h:
        out.append(
            f"Headroom: the default's logistic design alone {h['design']['auc']:.4f} AUC out of fold; with the "
            f"simulator's true P(win | stage, drivers) as one more column {h['design_plus_truth']['auc']:.4f} "
            f"({h['auc_headroom']:+.4f}: what knowing the drivers exactly adds to this design)."
        )
    if "default_choice" in res:
        c = res["default_choice"]
        out.append(
            f"Default's choice on all rows: {c['model']} {c.get('weights', {})} + {c['calibration']} calibration."
        )
    return out


def markdown(name: str, res: dict[str, Any], default: str) -> str:
    if name == "leakage":
        return _leakage(res)
    lines = [f"# Deal-win benchmark: {name}", ""]
    if "scheme" in res:
        lines += [f"Scheme: {res['scheme']}.", ""]
    if "worlds" in res:
        lines += ["Means over the worlds:", ""]
    lines += _methods_table(res["methods"], res.get("fit_seconds"), default)
    lines += ["", *_cv_notes(res)]
    for seed, w in res.get("worlds", {}).items():
        lines += [
            "",
            f"## World {seed} ({w['n_rows']:,} snapshots of {w['n_deals']:,} deals; {w['scheme']})",
            "",
        ]
        lines += [*_methods_table(w["methods"], w["fit_seconds"], default), "", *_cv_notes(w)]
    if "time_split" in res:
        t = res["time_split"]
        lines += [
            "",
            f"## Time split of world {next(iter(res['worlds']))} (train before {t['split_date']})",
            "",
        ]
        rows = {**t["methods"], "oracle (true P(win | stage))": t["oracle"]}
        lines += _methods_table(rows, t["fit_seconds"], default)
        pl = t["pipeline"]
        lines += ["", f"Pipeline ({pl['n_deals']} deals open on the split date): actual won {pl['actual_won_value']:,.0f}; "
                  f"model {pl['model_expected']:,.0f} (rel. error {pl['model_rel_error']:.3f}); naive "
                  f"{pl['naive_expected']:,.0f} (rel. error {pl['naive_rel_error']:.3f}); oracle rel. error "
                  f"{pl['oracle_rel_error']:.3f}. Self-reported ECE {t['self_reported_ece']:.4f}. The API's "
                  f"single-deal path (CRM fields → features → score, reasons): {t['api_fast_path_single_ms']:.2f} ms."]  # fmt: skip
    if "pipeline" in res:
        pl = res["pipeline"]
        lines += ["", f"Pipeline ({pl['n_deals']} deals open on the split date): actual won {pl['actual_won_value']:,.0f}; "
                  f"model {pl['model_expected']:,.0f} (rel. error {pl['model_rel_error']:.3f}); naive "
                  f"{pl['naive_expected']:,.0f} (rel. error {pl['naive_rel_error']:.3f})"]  # fmt: skip
    s = res.get("scoring")
    if s:
        lines += ["", f"Scoring: one deal {s['single_ms']:.2f} ms (median; p95 {s['single_p95_ms']:.2f} ms), "
                  f"10,000 deals {s['batch10k_ms']:.0f} ms (median of 3), with reasons."]  # fmt: skip
    lines += ["", f"Load average at start {res.get('loadavg_start')}, at end {res.get('loadavg_end')} "
              "(timings under load are re-measured on a quiet machine).", "", "Targets:"]  # fmt: skip
    lines += [f"- {k}: {'met' if v else 'MISSED'}" for k, v in res.get("targets", {}).items()]
    return "\n".join(lines) + "\n"


def _leakage(res: dict[str, Any]) -> str:
    lines = ["# Deal leakage guard: planted post-outcome columns", "",
             "| path | planted | planted refused | honest | honest refused |", "|---|---|---|---|---|"]  # fmt: skip
    lines.append(f"| CRM with field history | {res['planted']} | {res['planted_refused']} | {res['honest']} | {res['honest_refused']} |")  # fmt: skip
    p = res["plain_table"]
    lines.append(f"| plain table (signals only) | {p['planted']} | {p['planted_refused']} | {p['honest']} | {p['honest_refused']} |")  # fmt: skip
    lines += ["", res["notes"], ""]
    for path in ("crm", "plain_table_columns"):
        rows = res.get(path, {})
        if rows:
            lines += [
                f"Verdicts ({path}):",
                "",
                "| column | truth | verdicts over the worlds |",
                "|---|---|---|",
            ]
            lines += [f"| {c} | {v['truth']} | {', '.join(v['verdicts'])} |" for c, v in rows.items()] + [""]
    lines += [f"Load average at start {res.get('loadavg_start')}, at end {res.get('loadavg_end')}."]
    return "\n".join(lines) + "\n"
