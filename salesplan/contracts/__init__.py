"""Data contracts: one validator per frame kind, each returning a clean typed frame or raising one
``DataValidationError`` that lists every problem."""

from salesplan.contracts.crm import (
    EVENT_RANK,
    OUTCOME_EVENTS,
    OUTCOMES,
    STAGES,
    CRMData,
    StageMap,
    validate_crm,
)
from salesplan.contracts.sellout import (
    FREQS,
    Freq,
    Hierarchy,
    SelloutDataset,
    SelloutSpec,
    fill_gaps,
    period_index,
    validate_sellout,
)
from salesplan.contracts.spend import SPEND_REQUIRED, validate_spend

__all__ = [
    "EVENT_RANK",
    "FREQS",
    "OUTCOMES",
    "OUTCOME_EVENTS",
    "SPEND_REQUIRED",
    "STAGES",
    "CRMData",
    "Freq",
    "Hierarchy",
    "SelloutDataset",
    "SelloutSpec",
    "StageMap",
    "fill_gaps",
    "period_index",
    "validate_crm",
    "validate_sellout",
    "validate_spend",
]
