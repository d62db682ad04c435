"""planning: target proposals, allocation, bookings, budget, funnel and their reports, on the core only.
The root publishes nothing itself: import the module or subpackage that holds the concept
(``planning.proposals``, ``planning.allocation``, ``planning.bookings``, ``planning.budget``,
``planning.funnel``, ``planning.reports``, ...)."""

__all__: list[str] = []
