"""``simulate``: one consistent world (sell-out, CRM, spend on the same calendar and regions) plus its
ground truth, every frame passed through the same validators real data goes through."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from salesplan.contracts import (
    CRMData,
    SelloutDataset,
    check_freq,
    validate_activities,
    validate_crm,
    validate_reps,
    validate_sellout,
    validate_spend,
)
from salesplan.io import write_crm, write_table
from salesplan.simulator import crm as crm_mod
from salesplan.simulator.activities import ActivityResult, simulate_activities
from salesplan.simulator.commerce import Commerce, simulate_commerce
from salesplan.simulator.config import SimConfig
from salesplan.simulator.crm import simulate_crm
from salesplan.simulator.crm_ahead import crm_ahead
from salesplan.simulator.periods import resample_sellout
from salesplan.simulator.sellout import SPEC, simulate_sellout
from salesplan.simulator.spend import simulate_spend
from salesplan.simulator.truth import SimTruth


@dataclass
class SimulatedWorld:
    """Frames in their contracts plus the truth behind them. ``future`` holds the planned regressors
    (price, promo, promo_depth, holiday, hierarchy) of the ``config.horizon`` weeks after ``end`` (at
    ``config.freq``: the whole periods they cover), in the ``X_df`` shape forecasters take; what then
    actually sold is in ``truth.future_units``."""

    config: SimConfig
    sellout: SelloutDataset
    crm: CRMData
    spend: pd.DataFrame
    truth: SimTruth
    future: pd.DataFrame
    activity: ActivityResult | None = None
    """Sales activities of the CRM's deals (``activity.activities``), everyone who logs them
    (``activity.reps``: AEs, managers, CSMs with role and location group) and their truth (planted habits,
    cadence effect, post-sale rates); None with ``SimConfig(activities=False)``."""

    def write(self, folder: str | Path, fmt: str = "parquet") -> Path:
        """sellout.<fmt>, crm/ (CSV tables), spend.csv, truth.json and truth/ (per-row truth tables)."""
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        write_table(self.sellout.df, root / f"sellout.{fmt}")
        write_crm(self.crm, root / "crm")
        write_table(self.spend, root / "spend.csv")
        t = self.truth
        write_table(self.future, root / f"future.{fmt}")
        write_table(t.expected_units, root / "truth" / f"expected_units.{fmt}")
        write_table(t.future_units, root / "truth" / f"future_units.{fmt}")
        write_table(t.series.reset_index(), root / "truth" / "series.csv")
        deals = t.stage_probs.assign(
            win_probability=t.win_probability, initial_expected_close_date=t.initial_expected_close
        ).join(t.deal_fate)
        write_table(deals.reset_index(), root / "truth" / "deals.csv")
        spec = self.sellout.spec
        meta = {
            "config": asdict(self.config),
            "spec": {"freq": spec.freq, "hierarchy": spec.hierarchy.to_dict() if spec.hierarchy else {}},
        }
        (root / "truth.json").write_text(json.dumps({**meta, **t.to_dict()}, indent=2, default=str))
        if self.activity is not None:
            write_table(self.activity.activities, root / "activities" / f"activities.{fmt}")
            write_table(self.activity.reps, root / "activities" / "reps.csv")
            (root / "truth" / "activities.json").write_text(
                json.dumps(self.activity.truth.to_dict(), indent=2, default=str)
            )
        self.commerce().write(root)
        return root

    def commerce(self) -> Commerce:
        """Unit costs, key accounts with outlets and promotion candidates with their truth
        (``simulator.commerce``; its own random stream, so nothing above changes)."""
        t = self.truth
        weekly = self.config.freq == "W"  # candidates are weeks of promotion
        return simulate_commerce(
            self.config.seed, self.sellout.df, self.future if weekly else self.future.iloc[:0], t.future_units, t.series, t.elasticity,
            t.promo_lift, t.post_promo_dip, t.cannibalisation,
        )  # fmt: skip


def _conversion_averages(p: np.ndarray) -> dict[str, float]:
    """Population P(next | reached) per transition: E[p1·…·p_s] / E[p1·…·p_{s−1}]."""
    reach = np.concatenate([np.ones((len(p), 1)), np.cumprod(p, axis=1)], axis=1).mean(axis=0)
    return {name: float(reach[i + 1] / reach[i]) for i, name in enumerate(crm_mod.TRANSITIONS)}


def simulate(config: SimConfig | None = None) -> SimulatedWorld:
    """Generate a world. Independent random streams per part, so e.g. more opportunities leave the
    sell-out unchanged for the same seed, and the planned horizon or the frequency never change the
    weekly history it is built from."""
    cfg = config or SimConfig()
    streams = np.random.SeedSequence(cfg.seed).spawn(4)  # children by index: the first three never change
    s_rng, c_rng, m_rng, p_rng = (np.random.default_rng(s) for s in streams)
    so = resample_sellout(simulate_sellout(cfg, s_rng), cfg, p_rng)
    spec = replace(SPEC, freq=check_freq(cfg.freq))
    cr = simulate_crm(cfg, c_rng, so.regions)
    sp = simulate_spend(cfg, m_rng, so.regions)
    ahead = crm_ahead(cfg, cr, cfg.asof + pd.Timedelta(weeks=cfg.horizon))

    raw = so.df
    if cfg.validate:
        df = validate_sellout(raw, spec, source="simulated sell-out")
        same = (df["ds"].to_numpy() == raw["ds"].to_numpy()) & (
            df["unique_id"] == raw["unique_id"]
        ).to_numpy()
        if not same.all():  # the validator sorts; ours is presorted so truth rows stay aligned
            raise RuntimeError("simulated sell-out was not in (unique_id, ds) order")
        crm = validate_crm(cr.crm, source="simulated CRM")
        ahead = validate_crm(ahead, source="simulated CRM after the history")
        spend = validate_spend(sp.df, source="simulated spend")
    else:
        df = raw
        crm, spend = cr.crm, sp.df
    activity = None
    if cfg.activities:
        activity = simulate_activities(cfg, cr.crm, cr.stage_probs, cr.fate, cr.rep_skill)
        if cfg.validate:
            people = validate_reps(activity.reps, source="simulated activity reps")
            acts = validate_activities(
                activity.activities, crm=crm, reps=people, source="simulated activities"
            )
            activity = replace(activity, activities=acts, reps=people)
    expected = pd.DataFrame({"unique_id": df["unique_id"], "ds": df["ds"], "expected": so.expected})

    hol = so.holidays[(so.holidays != "") & (so.holidays.index <= cfg.end_ts)]
    p = cr.stage_probs.to_numpy()
    truth = SimTruth(
        elasticity=so.elasticity,
        promo_lift=cfg.promo_lift,
        post_promo_dip=cfg.post_promo_dip,
        cannibalisation=cfg.cannibalisation,
        holiday_lift=float(np.exp(np.log(so.holiday_lifts[hol.to_numpy()]).mean())) if len(hol) else 1.0,
        holiday_lifts=so.holiday_lifts,
        holidays=so.holidays,
        seasonality=so.seasonality,
        expected_units=expected,
        future_units=so.future[["unique_id", "ds"]].assign(expected=so.future_expected, y=so.future_y),
        series=so.series,
        win_probability=pd.Series(p.prod(axis=1), index=cr.stage_probs.index, name="win_probability"),
        stage_probs=cr.stage_probs,
        stage_conversion=_conversion_averages(p),
        stage_intercepts=dict(zip(crm_mod.TRANSITIONS, map(float, crm_mod.INTERCEPTS), strict=True)),
        driver_effects=dict(crm_mod.EFFECTS),
        amount_ref=crm_mod.AMOUNT_REF,
        stage_duration_days=dict(crm_mod.STAGE_DAYS),
        lost_stall_factor=crm_mod.LOST_STALL,
        slip_rate_per_month=dict(crm_mod.SLIP_RATE),
        ramp=crm_mod.RAMP.copy(),
        rep_skill=cr.rep_skill,
        initial_expected_close=cr.initial_expected_close,
        deal_fate=cr.fate,
        spend_response=sp.response,
        asof=cfg.asof,
        crm_ahead=ahead,
    )
    name = f"simulated-{cfg.scale}-seed{cfg.seed}"
    notes = [
        f"{df['unique_id'].nunique()} series × up to {df['ds'].nunique()} periods ({cfg.freq}) "
        f"from {cfg.weeks} simulated weeks ending {cfg.end}",
        "price and promotions are planned (known-future); truth in world.truth",
    ]
    return SimulatedWorld(
        config=cfg,
        sellout=SelloutDataset(
            df=df, spec=spec, name=name if cfg.freq == "W" else f"{name}-{cfg.freq}", notes=notes
        ),
        crm=crm,
        spend=spend,
        truth=truth,
        future=so.future,
        activity=activity,
    )
