"""Ground truth of a simulated world: the parameters that generated it, so tests and benchmarks can
score models against what is actually true instead of against noisy data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts import CRMData
from salesplan.errors import ConfigError
from salesplan.simulator.crm import FUNNEL
from salesplan.simulator.spend import adstock, hill


@dataclass
class SimTruth:
    """What generated the data. Sell-out effects are multiplicative on expected units:
    ``mu · (price / reference_price)^elasticity · promo_lift^promo · (1 − dip_k) k weeks after a promo ·
    holiday lift · (1 − cannibalisation · share of category siblings on promo)``."""

    # --- sell-out
    elasticity: pd.Series  # by product (constant log-log elasticity)
    promo_lift: float  # multiplicative lift in promo weeks beyond the price effect (display/feature)
    post_promo_dip: tuple[float, float]  # fraction lost 1 and 2 weeks after a promotion ends
    cannibalisation: float  # max fraction lost when every category sibling (same region) is on promo
    holiday_lift: float  # geometric mean lift over the holiday weeks of the history
    holiday_lifts: pd.Series  # by holiday name
    holidays: pd.Series  # holiday name per week start, history and planned future ("" when none)
    seasonality: pd.DataFrame  # category × week (history and future), multiplicative yearly shape
    expected_units: pd.DataFrame  # unique_id, ds, expected: noise-free mean of y, row-aligned with sell-out
    future_units: pd.DataFrame  # unique_id, ds, expected, y: the weeks after ``end``, row-aligned with future
    series: pd.DataFrame  # per unique_id: start, end, launch_date, discontinue_date, base_level, ...
    # --- CRM
    win_probability: pd.Series  # by opportunity_id: P(eventually won) at creation
    stage_probs: pd.DataFrame  # by opportunity_id: P(next | reached) for Find→Meet, Meet→Pitch, Pitch→Sign
    stage_conversion: dict[str, float]  # population average of the three conversions
    stage_intercepts: dict[str, float]  # a_s of p_s = sigmoid(a_s + x·β)
    driver_effects: dict[str, float]  # β in log-odds (see ``amount_ref`` for the log-amount centring)
    amount_ref: float
    stage_duration_days: dict[str, float]  # true mean days in a stage before moving on
    lost_stall_factor: float  # lost deals stay this many times longer in their last stage
    slip_rate_per_month: dict[str, float]  # expected close-date pushes per open month, by final outcome
    ramp: np.ndarray  # productivity share by month of tenure (index 0 = first month; ≥ len → 1.0)
    rep_skill: pd.Series  # by rep_id, in log-odds (multiplied by driver_effects["rep_skill"])
    initial_expected_close: pd.Series  # by opportunity_id, before any slip
    deal_fate: pd.DataFrame  # by opportunity_id: final_outcome, final_close_date, furthest_stage (uncensored)
    # --- spend
    spend_response: pd.DataFrame  # channel, region, beta, alpha, half, theta, baseline
    asof: pd.Timestamp = field(default_factory=lambda: pd.Timestamp("NaT"))
    crm_ahead: CRMData | None = None
    """The CRM at the end of the planned horizon (``asof`` + ``horizon`` weeks): the history's deals gone
    on along their paths plus the deals created since (``simulator.crm_ahead``); a quarter in progress
    reads it as of a day (``in_progress.world_bookings``)."""

    @property
    def launch_date(self) -> pd.Series:
        """First week of series that started part-way (launches, new stores); NaT otherwise."""
        return self.series["launch_date"]

    @property
    def discontinue_date(self) -> pd.Series:
        """Last week of series that ended early (discontinued or delisted); NaT otherwise."""
        return self.series["discontinue_date"]

    def p_win_from_stage(
        self, opportunity_ids: Sequence[str] | pd.Index, stage: str | Sequence[str]
    ) -> np.ndarray:
        """Oracle P(win | stage reached, drivers): product of the remaining conversions. ``stage`` is
        one stage for all deals or one per deal; Sign/Deliver/Operate/Won give 1, Lost gives 0."""
        probs = self.stage_probs.reindex(pd.Index(opportunity_ids))
        if probs.isna().any().any():
            missing = probs.index[probs.isna().any(axis=1)][:5].tolist()
            raise ConfigError(f"unknown opportunity id(s) {missing}; pass ids of this simulated world")
        n = len(probs)
        stages = (
            np.full(n, stage, dtype=object) if isinstance(stage, str) else np.asarray(stage, dtype=object)
        )
        if stages.shape != (n,):
            raise ConfigError(f"stage must be one name or one per opportunity ({n}), got {stages.shape}")
        rank = {s: i for i, s in enumerate(FUNNEL)} | {"Won": 3, "Lost": -1}
        unknown = sorted(set(map(str, pd.unique(stages))) - set(rank))
        if unknown:
            raise ConfigError(f"unknown stage(s) {unknown}; use {[*FUNNEL, 'Won', 'Lost']}")
        r = pd.Series(stages).map(rank).to_numpy(dtype=int)
        p = probs.to_numpy()
        tail = np.where(np.arange(3)[None, :] >= np.maximum(r, 0)[:, None], p, 1.0).prod(axis=1)
        return np.where(r < 0, 0.0, tail)

    def expected_outcome(
        self, channel: str, region: str, spend_per_period: np.ndarray | Sequence[float], steady: bool = True
    ) -> np.ndarray:
        """Noise-free outcome per period. ``steady=True``: each value is a spend held constant forever
        (adstock s / (1 − theta)), the curve a budget optimiser should maximise; ``steady=False``: the
        values are one spend path and carry-over runs through it from zero."""
        row = self.spend_response[
            (self.spend_response["channel"] == channel) & (self.spend_response["region"] == region)
        ]
        if len(row) != 1:
            raise ConfigError(
                f"no response curve for channel {channel!r}, region {region!r}; "
                f"known: {sorted(set(self.spend_response['channel']))} × {sorted(set(self.spend_response['region']))}"
            )
        beta, alpha, half, theta, baseline = (
            float(row[c].iloc[0]) for c in ("beta", "alpha", "half", "theta", "baseline")
        )
        s = np.asarray(spend_per_period, dtype=float)
        a = s / (1 - theta) if steady else adstock(s, theta)
        return baseline + beta * hill(a, alpha, half)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready scalars and parameters (the large per-row tables are written separately)."""
        sr = self.spend_response
        return {
            "elasticity": {str(k): float(v) for k, v in self.elasticity.items()},
            "promo_lift": self.promo_lift,
            "post_promo_dip": list(self.post_promo_dip),
            "cannibalisation": self.cannibalisation,
            "holiday_lift": self.holiday_lift,
            "holiday_lifts": {str(k): float(v) for k, v in self.holiday_lifts.items()},
            "stage_conversion": self.stage_conversion,
            "stage_intercepts": self.stage_intercepts,
            "driver_effects": self.driver_effects,
            "amount_ref": self.amount_ref,
            "stage_duration_days": self.stage_duration_days,
            "lost_stall_factor": self.lost_stall_factor,
            "slip_rate_per_month": self.slip_rate_per_month,
            "ramp": [float(x) for x in self.ramp],
            "rep_skill": {str(k): float(v) for k, v in self.rep_skill.items()},
            "spend_response": sr.to_dict(orient="records"),
            "asof": str(self.asof.date()) if not pd.isna(self.asof) else None,
            "n_launched_series": int(self.series["launch_date"].notna().sum()),
            "n_discontinued_series": int(self.series["discontinue_date"].notna().sum()),
        }
