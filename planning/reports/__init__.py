"""Self-contained HTML reports of planning results — funnel and productivity, a target proposal, a budget
plan — one string each with every chart a base64 PNG, so a page opens offline and can be mailed. The
shared page style, palette and figure/table helpers are :mod:`.charts`, for any page that wants to look
the same (the ``salesplan report`` page does)."""

from salesplan.planning.reports.budget import budget_report, curves_chart
from salesplan.planning.reports.funnel import funnel_report
from salesplan.planning.reports.targets import allocation_chart, fan_chart, phasing_chart, target_report

__all__ = [
    "allocation_chart",
    "budget_report",
    "curves_chart",
    "fan_chart",
    "funnel_report",
    "phasing_chart",
    "target_report",
]
