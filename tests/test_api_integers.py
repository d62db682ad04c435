"""JSON Schema's ``integer`` at the API edge: the schema allows ``3.0`` (a number with no fraction), so the
strict ints that refuse ``"3"`` and ``true`` must take it (schemathesis found a PATCH with ``"version":
280.0`` refused with a 422 the schema does not allow)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from salesplan.serving.routers.budgets import AllocateIn
from salesplan.serving.routers.proposal_models import Version


@pytest.mark.parametrize(("raw", "value"), [("3", 3), ("3.0", 3), ("280.0", 280)])
def test_integral_numbers_are_integers(raw: str, value: int) -> None:
    assert TypeAdapter(Version).validate_json(raw) == value


@pytest.mark.parametrize("raw", ['"3"', "true", "2.5", "0", "0.0"])
def test_strings_booleans_fractions_and_out_of_range_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Version).validate_json(raw)


def test_budget_periods_take_an_integral_float_and_refuse_a_string() -> None:
    assert AllocateIn.model_validate_json('{"total": 1000, "periods": 13.0}').periods == 13
    with pytest.raises(ValidationError):
        AllocateIn.model_validate_json('{"total": 1000, "periods": "13"}')
