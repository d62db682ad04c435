"""Data contracts: one validator per frame kind, each returning a clean typed frame or raising one
``DataValidationError`` that lists every problem; and the forecast frames (``contracts.forecast``) every
layer reads, with the one rule that names quantile columns."""

from salesplan.contracts.crm import (
    EVENT_RANK,
    OUTCOME_EVENTS,
    OUTCOMES,
    STAGES,
    CRMData,
    StageMap,
    validate_crm,
)
from salesplan.contracts.forecast import (
    MODEL_COLUMNS,
    PERIOD_COLUMNS,
    QUANTILES,
    forecast_columns,
    history_columns,
    is_quantile_col,
    quantile_col,
    quantile_cols,
    quantile_level,
    quantile_levels,
)
from salesplan.contracts.sellout import (
    FREQS,
    SEASON_LENGTH,
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
    "MODEL_COLUMNS",
    "OUTCOMES",
    "OUTCOME_EVENTS",
    "PERIOD_COLUMNS",
    "QUANTILES",
    "SEASON_LENGTH",
    "SPEND_REQUIRED",
    "STAGES",
    "CRMData",
    "Freq",
    "Hierarchy",
    "SelloutDataset",
    "SelloutSpec",
    "StageMap",
    "fill_gaps",
    "forecast_columns",
    "history_columns",
    "is_quantile_col",
    "period_index",
    "quantile_col",
    "quantile_cols",
    "quantile_level",
    "quantile_levels",
    "validate_crm",
    "validate_sellout",
    "validate_spend",
]
