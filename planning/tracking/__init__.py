"""Plan vs actual in a quarter in progress: landing estimates (actual to date + the conditioned forecast of
the rest), pace against the phased plan, expense control against budgets and caps, and the alert rules
with their suggested actions; a bookings proposal lands from won + open pipeline + run-rate of new deals
(``bookings``). Pure functions over frames."""

from salesplan.planning.tracking.alerts import RULE_NAMES, Alert, AlertRules, evaluate_alerts
from salesplan.planning.tracking.bookings import (
    BookingsState,
    new_deal_run_rate,
    open_pipeline,
    place_undated,
    track_bookings,
    unit_membership,
)
from salesplan.planning.tracking.calendar import QuarterCalendar, quarter_calendar
from salesplan.planning.tracking.landing import (
    CONDITIONING,
    LANDING_LEVELS,
    PRIOR_PERIODS,
    SPREAD_FLOOR,
    LandingInputs,
    landing,
    p_hit,
    spread_scale,
)
from salesplan.planning.tracking.sellout import (
    TRACKING_COLUMNS,
    Tracking,
    rollup_actuals,
    track_sellout,
    unplaced_note,
    unplaced_series,
    week_start_of,
)
from salesplan.planning.tracking.spend import SPEND_COLUMNS, spend_control

__all__ = [
    "CONDITIONING",
    "LANDING_LEVELS",
    "PRIOR_PERIODS",
    "RULE_NAMES",
    "SPEND_COLUMNS",
    "SPREAD_FLOOR",
    "TRACKING_COLUMNS",
    "Alert",
    "AlertRules",
    "BookingsState",
    "LandingInputs",
    "QuarterCalendar",
    "Tracking",
    "evaluate_alerts",
    "landing",
    "new_deal_run_rate",
    "open_pipeline",
    "p_hit",
    "place_undated",
    "quarter_calendar",
    "rollup_actuals",
    "spend_control",
    "spread_scale",
    "track_bookings",
    "track_sellout",
    "unit_membership",
    "unplaced_note",
    "unplaced_series",
    "week_start_of",
]
