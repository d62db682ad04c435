"""What a planner asks for when proposing quarterly targets: the one definition of every parameter and
of its domain. The API takes it as its request body (its JSON schema is this model's), the CLI and the
web page build it, benchmarks and backtests replay it, and the store keeps it verbatim as the proposal's
``request``: one set of ranges and messages, whoever asks.

Friendly messages: a value out of range says what the parameter means, its range and an example, so the
same text reads well as an API ``422`` detail and as a CLI error (:meth:`ProposalRequest.checked` turns a
``ValidationError`` into a :class:`~salesplan.errors.ConfigError`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from salesplan.errors import ConfigError
from salesplan.planning.types import RAMP_BY_QUARTER

__all__ = [
    "BOOKINGS_LEVELS",
    "MAX_AMOUNT",
    "METHODS",
    "MODES",
    "QUARTER_HORIZON",
    "QUARTER_PATTERN",
    "Amounts",
    "Domain",
    "Method",
    "Mode",
    "ProposalRequest",
    "Range",
    "check_quarter_range",
    "explain",
    "resolve_domain",
]

Mode = Literal["probability", "growth", "value"]
Method = Literal["top_down", "bottom_up", "blended"]
Domain = Literal["auto", "sellout", "bookings"]
MODES: tuple[str, ...] = ("probability", "growth", "value")
METHODS: tuple[str, ...] = ("top_down", "bottom_up", "blended")
BOOKINGS_LEVELS = ("region", "team", "rep")
MAX_AMOUNT = 1e15
"""Largest target, floor, cap or override accepted (money is stored as NUMERIC(18, 2))."""
QUARTER_PATTERN = r"^[0-9]{4}Q[1-4]$"
_QUARTER = re.compile(QUARTER_PATTERN)  # ASCII digits only: \d would also take fullwidth ones


QUARTER_HORIZON = 8
"""How many quarters before the first and after the last quarter of its data a plan may ask for: two years
each way (next year's plan; backtests of the last two). Further out there is nothing to plan from, and
years past 2262 do not even fit pandas' timestamps (a 500 in the hardening probe, now a 422)."""


def _quarter(v: str) -> str:
    if not _QUARTER.fullmatch(v):
        raise ValueError(f"must look like 2027Q1, got {v!r}")
    return v


def _quarter_index(year: int, q: int) -> int:
    return year * 4 + q - 1


def _quarter_name(index: int) -> str:
    return f"{index // 4:04d}Q{index % 4 + 1}"


def check_quarter_range(
    quarter: str, first: Any, last: Any, what: str, horizon: int = QUARTER_HORIZON
) -> str:
    """``quarter`` if it lies within ``horizon`` quarters of the quarters holding ``first`` and ``last``
    (dates: the data's span), else a :class:`~salesplan.errors.ConfigError` naming the allowed range (the
    API's 422). ``what`` names the data, e.g. "the forecast batch"."""
    _quarter(quarter)
    index = _quarter_index(int(quarter[:4]), int(quarter[5]))
    lo = _quarter_index(first.year, (first.month - 1) // 3 + 1) - horizon
    hi = _quarter_index(last.year, (last.month - 1) // 3 + 1) + horizon
    if not lo <= index <= hi:
        raise ConfigError(
            f"quarter {quarter} is outside what can be planned from {what}: its data run "
            f"{_quarter_name(lo + horizon)}–{_quarter_name(hi - horizon)}, so ask for a quarter from "
            f"{_quarter_name(lo)} to {_quarter_name(hi)} (± {horizon} quarters)"
        )
    return quarter


@dataclass(frozen=True)
class Range:
    """``Annotated[float, Range(...)]``: a finite float in [lo, hi] (open where asked). The error says the
    range and an example that explains the parameter; the bounds also go into the JSON schema, so clients
    and schemathesis see the domain the server enforces."""

    lo: float
    hi: float
    example: str
    lo_open: bool = False
    hi_open: bool = False

    def check(self, v: float) -> float:
        lo_ok = v > self.lo if self.lo_open else v >= self.lo
        hi_ok = v < self.hi if self.hi_open else v <= self.hi
        if not (math.isfinite(v) and lo_ok and hi_ok):
            span = f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
            raise ValueError(f"must be in {span} ({self.example}), got {v:g}")
        return float(v)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # strict: a JSON true or "1" is not a number (the hardening probe saw booleans taken as 1.0)
        strict_float = core_schema.float_schema(strict=True)
        return core_schema.no_info_after_validator_function(self.check, strict_float)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["exclusiveMinimum" if self.lo_open else "minimum"] = self.lo
        out["exclusiveMaximum" if self.hi_open else "maximum"] = self.hi
        return out


Probability = Annotated[
    float, Range(0, 1, "P(hit) of the company target, e.g. 0.6", lo_open=True, hi_open=True)
]
Growth = Annotated[float, Range(-1, 10, "0.08 = +8 % on last year's quarter", lo_open=True)]
Amount = Annotated[float, Range(0, MAX_AMOUNT, "an amount, e.g. 250000")]
OverAssignment = Annotated[
    float, Range(0, 1, "0.1 = the leaf units' targets add up to 110 % of their parents'")
]
MaxChange = Annotated[float, Range(0, 10, "0.2 = each unit within ±20 % of last quarter", lo_open=True)]
RampFactor = Annotated[float, Range(0, 1, "0.25 = a new rep's first quarter at 25 %")]
Level = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$", examples=["region"])]
UnitId = Annotated[str, Field(min_length=1, max_length=200)]
Amounts = Annotated[dict[UnitId, Amount], Field(max_length=10_000)]


class ProposalRequest(BaseModel):
    """Quarter, levels and how to set the company target (``mode``) and split it (``method``), with
    bounds. ``domain``: ``auto`` plans bookings when ``by`` names team or rep levels, sell-out otherwise."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"quarter": "2027Q1", "by": ["region", "store"], "mode": "probability", "probability": 0.6,
                 "method": "blended", "over_assignment": 0.0},
                {"quarter": "2027Q1", "by": ["region", "team", "rep"], "mode": "growth", "growth": 0.08},
            ]
        },
    )  # fmt: skip

    quarter: Annotated[
        str,
        AfterValidator(_quarter),
        Field(json_schema_extra={"pattern": QUARTER_PATTERN}, examples=["2027Q1"]),
    ]
    by: tuple[Level, ...] = Field(
        min_length=1, max_length=6, description="Levels under the total, top → bottom"
    )
    domain: Domain = "auto"
    mode: Mode = "probability"
    probability: Probability = 0.6
    growth: Growth | None = None
    value: Amount | None = Field(default=None, description="The company target (mode value)")
    method: Method = "blended"
    over_assignment: OverAssignment = Field(
        default=0.0,
        description="Applied once, at the leaf level: the leaves' targets add up to (1 + this) × their "
        "parents' (every level above adds up exactly). 0 by default: any over-assignment lowers the leaves' "
        "P(hit), which every row shows.",
    )
    max_change: MaxChange | None = None
    floors: Amounts = Field(default_factory=dict, description="unit_id → lowest target")
    caps: Amounts = Field(default_factory=dict, description="unit_id → highest target")
    ramp: tuple[RampFactor, ...] = Field(
        default=RAMP_BY_QUARTER, min_length=1, max_length=24, description="New reps' productivity by quarter"
    )
    overrides: Amounts = Field(default_factory=dict, description="unit_id → fixed target")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.by)) != len(self.by) or "total" in self.by:
            raise ValueError(
                f"`by` must name the levels under 'total', top → bottom, each once, e.g. region,store; got "
                f"{','.join(self.by)}"
            )
        if self.mode == "growth" and self.growth is None:
            raise ValueError("mode growth needs `growth` (e.g. 0.08 for +8 % on last year's quarter)")
        if self.mode == "value" and self.value is None:
            raise ValueError("mode value needs `value` (the company target)")
        if self.mode == "value" and self.method == "bottom_up":
            raise ValueError(
                "mode value fixes the company target but method bottom_up derives it from the units; use "
                "method top_down or blended, or mode probability or growth"
            )
        bad = sorted(k for k in set(self.floors) & set(self.caps) if self.floors[k] > self.caps[k])
        if bad:
            raise ValueError(f"`floors` above `caps` for {bad[:5]}; lower the floor or raise the cap")
        if self.domain == "sellout" and {"team", "rep"} & set(self.by):
            raise ValueError(
                f"`by` {','.join(self.by)} names CRM levels; sell-out plans use hierarchy columns"
            )
        return self

    @property
    def resolved_domain(self) -> Literal["sellout", "bookings"]:
        """The domain actually planned (see :func:`resolve_domain`)."""
        return resolve_domain(self.by, self.domain)

    @classmethod
    def checked(cls, **values: Any) -> ProposalRequest:
        """Build from Python values; a bad one is a ``ConfigError`` listing every problem (the CLI's way in)."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError("invalid proposal request: " + explain(exc)) from None


def resolve_domain(
    by: tuple[str, ...] | list[str], domain: Domain = "auto"
) -> Literal["sellout", "bookings"]:
    """Bookings when asked, or when ``by`` names teams or reps; sell-out otherwise."""
    if domain != "auto":
        return domain
    return "bookings" if {"team", "rep"} & set(by) else "sellout"


def explain(exc: ValidationError, names: Mapping[str, str] | None = None) -> str:
    """Pydantic's errors as one line a person reads: ``field: message``; ``names`` renames fields (the CLI
    says ``--max-change`` where the API says ``max_change``), also where a message quotes one in backticks."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()))
        head, _, rest = loc.partition(".")
        field = (names or {}).get(head, head) + (f"[{rest}]" if rest else "") if loc else ""
        msg = str(e.get("msg", "")).removeprefix("Value error, ")
        msg = re.sub(r"`(\w+)`", lambda m: (names or {}).get(m.group(1), m.group(1)), msg)
        parts.append(f"{field}: {msg}" if field else msg)
    return "; ".join(parts)
