"""Bookings (won value) per rep, team, region and total: what was booked per quarter, and calibrated
distributions of next quarter's bookings for target setting, using only what the CRM knew on an as-of
date (so the same method replays past quarters for calibration and backtests).

Modules: :mod:`.book` (the as-of view of a CRM: open deals by stage and age, the reps of a quarter, their
ramp) and :mod:`.forecast` (the point forecast, its conformal spread, the actuals a backtest compares
with)."""

from salesplan.planning.bookings.forecast import (
    LEVELS,
    bookings_actuals,
    bookings_distributions,
    quarterly_bookings,
)

__all__ = ["LEVELS", "bookings_actuals", "bookings_distributions", "quarterly_bookings"]
