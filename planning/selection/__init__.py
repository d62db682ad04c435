"""Product and market selection: rank market × product candidates by expected margin (``ranking``),
turn forecasts into margin (``margins``) and pick the featured portfolio exactly (``portfolio``)."""

from salesplan.planning.selection.margins import Margins, unit_margins
from salesplan.planning.selection.portfolio import Portfolio, PortfolioRules, pick_portfolio
from salesplan.planning.selection.ranking import (
    SelectionRanking,
    SelectionRequest,
    default_category,
    find_level,
    rank_candidates,
)

__all__ = [
    "Margins",
    "Portfolio",
    "PortfolioRules",
    "SelectionRanking",
    "SelectionRequest",
    "default_category",
    "find_level",
    "pick_portfolio",
    "rank_candidates",
    "unit_margins",
]
