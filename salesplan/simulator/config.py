"""Simulation settings: a preset scale plus explicit overrides, resolved once into plain numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from salesplan.contracts import FREQS
from salesplan.errors import ConfigError

Scale = Literal["tiny", "small", "medium", "large"]

MIN_WEEKS_BY_FREQ = {"Q": 260, "Y": 520}
"""Default weeks of history at coarse frequencies, so a quarterly world has ~19 whole quarters and a yearly
one 9 whole years (the presets' 156 weeks give 11 quarters and 2 whole years)."""
MAX_HORIZON = 104
"""Weeks of planned future a world can show (the simulator always draws this many, see
``sellout.FUTURE_GRID``, so the horizon never changes the history)."""

# products, stores, weeks, reps, opportunities ("tiny": a world whose models train in seconds, for a first
# try on a laptop and for CI; the demo and the benchmarks use "small" and up). Tiny shrinks the sell-out only:
# the forecaster's cost grows with its series, while the deal model fits small's 1,500 deals in seconds and the
# sales-process analysis needs that many to find its top three inefficiencies
PRESETS: dict[str, tuple[int, int, int, int, int]] = {
    "tiny": (4, 3, 156, 15, 1_500),
    "small": (12, 6, 156, 15, 1_500),
    "medium": (100, 50, 156, 60, 10_000),
    "large": (400, 125, 156, 200, 40_000),
}


@dataclass(frozen=True)
class SimConfig:
    """What world to simulate. ``scale`` picks sizes; any explicit ``n_*`` overrides the preset.

    The effect sizes are knobs so a test can switch one effect off (e.g. ``cannibalisation=0``) and
    check that a model's estimate follows; the defaults are plausible retail / B2B values.

    ``freq``: the sell-out's frequency (D, W, M, Q, Y): the weekly world split into days or summed into
    whole calendar months, quarters or years, with its truth (``simulator.periods``); CRM and spend stay
    as they are. ``horizon`` stays in weeks (the planned future shows the whole periods it covers)."""

    seed: int = 0
    scale: Scale = "small"
    n_products: int | None = None
    n_stores: int | None = None
    n_weeks: int | None = None
    n_reps: int | None = None
    n_opportunities: int | None = None
    end: str = "2026-11-23"
    horizon: int = 13
    promo_lift: float = 1.3
    post_promo_dip: tuple[float, float] = (0.15, 0.07)
    cannibalisation: float = 0.12
    launch_share: float = 0.12
    discontinue_share: float = 0.1
    intermittent_share: float = 0.2
    freq: str = "W"
    crm_post_outcome_columns: bool = (
        False  # CRM: planted post-outcome columns + field history (simulator.crm)
    )
    activities: bool = True  # sales activities of the CRM's deals, with planted habits (simulator.activities)
    validate: bool = True

    def __post_init__(self) -> None:
        if self.scale not in PRESETS:
            raise ConfigError(f"scale must be one of {sorted(PRESETS)}, got {self.scale!r}")
        try:
            end = pd.Timestamp(self.end)
        except (ValueError, TypeError):
            raise ConfigError(f"end {self.end!r} is not a date; use ISO like '2026-11-23'") from None
        if end.dayofweek != 0:
            raise ConfigError(f"end {self.end} is a {end.day_name()}; weeks start on Mondays, pass a Monday")
        for name in ("n_products", "n_stores", "n_reps", "n_opportunities"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"{name} must be >= 1, got {v}")
        if self.n_weeks is not None and self.n_weeks < 60:
            raise ConfigError(
                f"n_weeks must be >= 60 (launches, promotions and seasons need room), got {self.n_weeks}"
            )
        if self.freq not in FREQS:
            raise ConfigError(f"freq must be one of {list(FREQS)} (days ... years), got {self.freq!r}")
        if not 0 <= self.horizon <= MAX_HORIZON:
            raise ConfigError(
                f"horizon (weeks of planned future after end) must be in [0, {MAX_HORIZON}], got {self.horizon}"
            )
        if self.promo_lift <= 0:
            raise ConfigError(f"promo_lift is a multiplier and must be > 0, got {self.promo_lift}")
        if not all(0 <= d < 1 for d in self.post_promo_dip) or len(self.post_promo_dip) != 2:
            raise ConfigError(f"post_promo_dip must be two fractions in [0, 1), got {self.post_promo_dip}")
        if not 0 <= self.cannibalisation < 1:
            raise ConfigError(f"cannibalisation must be in [0, 1), got {self.cannibalisation}")
        for name in ("launch_share", "discontinue_share", "intermittent_share"):
            if not 0 <= getattr(self, name) <= 0.5:
                raise ConfigError(f"{name} must be in [0, 0.5], got {getattr(self, name)}")

    def _pick(self, value: int | None, i: int) -> int:
        return int(value) if value is not None else PRESETS[self.scale][i]

    @property
    def products(self) -> int:
        return self._pick(self.n_products, 0)

    @property
    def stores(self) -> int:
        return self._pick(self.n_stores, 1)

    @property
    def weeks(self) -> int:
        if self.n_weeks is None and self.freq in MIN_WEEKS_BY_FREQ:
            return max(PRESETS[self.scale][2], MIN_WEEKS_BY_FREQ[self.freq])
        return self._pick(self.n_weeks, 2)

    @property
    def reps(self) -> int:
        return self._pick(self.n_reps, 3)

    @property
    def opportunities(self) -> int:
        return self._pick(self.n_opportunities, 4)

    @property
    def end_ts(self) -> pd.Timestamp:
        return pd.Timestamp(self.end)

    @property
    def weeks_index(self) -> pd.DatetimeIndex:
        """Monday week starts, oldest first, the last being ``end``."""
        return pd.date_range(end=self.end_ts, periods=self.weeks, freq="7D")

    @property
    def asof(self) -> pd.Timestamp:
        """Last day of the last week: the CRM history is censored here (deals still running are open)."""
        return self.end_ts + pd.Timedelta(days=6)
