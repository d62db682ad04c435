"""Typed values the repositories take and return (never ORM objects), normalised on construction.

Money (``target``, ``forecast_q50``, ``last_period_actual``) is ``Decimal`` with exactly two places, both
in and out: floats and ints are accepted at run time and converted through their shortest ``repr`` then
rounded half-up to the cent (what PostgreSQL's NUMERIC(18,2) would do), so what you hand in is what you
read back. ``p_hit`` and the monthly ``phasing`` values are floats stored as given (phasing may hold
amounts or shares; the planning layer decides). JSON fields are copied through ``json`` so tuples become
lists up front and a stored value compares equal to the one created.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from salesplan.errors import ConfigError

ProposalStatus = Literal["draft", "approved", "rejected", "superseded"]
Role = Literal["planner", "crm", "analyst", "admin"]

CENT = Decimal("0.01")
MAX_MONEY = Decimal("1e16")  # NUMERIC(18,2) holds 16 digits before the point
# ASCII digits only: Python's \d also matches fullwidth and other Unicode digits ("２０２７Q1").
QUARTER_RE = re.compile(r"[0-9]{4}Q[1-4]")
MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
KEY_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._@+-]{0,98}[A-Za-z0-9._@+-])?")
"""API key names: 1–100 printable ASCII characters (letters, digits, space, ``. _ @ + -``), starting with a
letter or digit and not ending in a space. They name the person or system that acts (audit log, approvals,
``apikey list``), so no control characters, ANSI escapes or look-alike Unicode."""


def to_money(value: Any, what: str) -> Decimal:
    """Exact cents from a Decimal, int or float (floats via their shortest repr, so 0.1 stays 0.10)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    cents = number.quantize(CENT, rounding=ROUND_HALF_UP)
    if abs(cents) >= MAX_MONEY:
        raise ConfigError(f"{what} = {value!r} does not fit NUMERIC(18,2) (|x| < 1e16)")
    return cents


def _optional_money(value: Any, what: str) -> Decimal | None:
    return None if value is None else to_money(value, what)


def _finite_float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return number


def json_copy(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Deep copy through JSON: fails early (with the field name) on values the database could not store."""
    try:
        copied = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be JSON-serialisable (no NaN/inf, no objects): {exc}") from None
    return dict(copied)


def check_quarter(quarter: str) -> str:
    if not isinstance(quarter, str) or not QUARTER_RE.fullmatch(quarter):
        raise ConfigError(f"quarter must look like '2027Q1', got {quarter!r}")
    return quarter


def check_one_of(value: Any, allowed: tuple[str, ...], what: str) -> str:
    """``value`` when it is one of ``allowed`` (a kind, role, status or domain), else the error naming them."""
    if value not in allowed:
        raise ConfigError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def check_key_name(name: Any) -> str:
    if not isinstance(name, str) or not KEY_NAME_RE.fullmatch(name):
        shown = printable(name) if isinstance(name, str) else repr(name)
        raise ConfigError(
            f"API key name {shown!r} is not allowed: use 1-100 letters, digits, spaces or . _ @ + - "
            "(starting with a letter or digit), e.g. 'north-planning' or 'ana@example.com'"
        )
    return name


def printable(text: str) -> str:
    """``text`` safe to print on a terminal or in a log: control characters (ANSI escapes included) shown
    as ``\\xNN`` / ``\\uNNNN`` instead of being interpreted."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def principal(name: str) -> str:
    """Who a name stands for, for the four-eyes rule: case and surrounding spaces do not make another
    person ("Ana " and "ana" are one)."""
    return " ".join(name.split()).casefold()


def _text(value: Any, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise ConfigError(f"{what} is longer than {max_len} characters: {value[:40]!r}…")
    return value


@dataclass(frozen=True)
class Actor:
    """Who does something: the name the audit log and the proposal show, and the API key it came with
    (none from the CLI, which has the database itself)."""

    name: str
    key_id: str | None = None

    @classmethod
    def of(cls, who: str | Actor) -> Actor:
        return who if isinstance(who, Actor) else cls(who)


@dataclass(frozen=True)
class ProposalRowData:
    """One unit's target in a proposal (see the module docstring for number handling)."""

    level: str
    unit_id: str
    target: Decimal
    parent_id: str | None = None
    forecast_q50: Decimal | None = None
    p_hit: float | None = None
    last_period_actual: Decimal | None = None
    phasing: Mapping[str, float] = field(default_factory=dict)
    overridden: bool = False

    def __post_init__(self) -> None:
        where = f"row ({self.level!r}, {self.unit_id!r})"
        _text(self.level, f"{where}: level", 64)
        _text(self.unit_id, f"{where}: unit_id", 200)
        if self.parent_id is not None:
            _text(self.parent_id, f"{where}: parent_id", 200)
        set_ = object.__setattr__
        set_(self, "target", to_money(self.target, f"{where}: target"))
        set_(self, "forecast_q50", _optional_money(self.forecast_q50, f"{where}: forecast_q50"))
        set_(
            self,
            "last_period_actual",
            _optional_money(self.last_period_actual, f"{where}: last_period_actual"),
        )
        if self.p_hit is not None:
            p_hit = _finite_float(self.p_hit, f"{where}: p_hit")
            if not 0.0 <= p_hit <= 1.0:
                raise ConfigError(f"{where}: p_hit must be a probability in [0, 1], got {p_hit}")
            set_(self, "p_hit", p_hit)
        phasing: dict[str, float] = {}
        for month, amount in dict(self.phasing).items():
            if not isinstance(month, str) or not MONTH_RE.fullmatch(month):
                raise ConfigError(f"{where}: phasing keys must be months like '2027-01', got {month!r}")
            phasing[month] = _finite_float(amount, f"{where}: phasing[{month}]")
        set_(self, "phasing", phasing)
        set_(self, "overridden", bool(self.overridden))


@dataclass(frozen=True)
class NewProposal:
    """What a planner submits; the repository adds id (unless given), status, timestamps and version."""

    quarter: str
    method: str
    author: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    input_models: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
    id: str | None = None
    scope: str | None = None
    """What it plans besides the quarter (``"sellout:region,store"``): one approved proposal per quarter and
    scope. Default: read from the stored request (``parameters["request"]``), else ``""``."""

    def __post_init__(self) -> None:
        check_quarter(self.quarter)
        _text(self.method, "method", 64)
        _text(self.author, "author", 200)
        if self.id is not None:
            _text(self.id, "id", 36)
        scope = self.scope if self.scope is not None else scope_of(self.parameters)
        if not isinstance(scope, str) or len(scope) > 200:
            raise ConfigError(f"scope must be a string of at most 200 characters, got {scope!r}")
        object.__setattr__(self, "scope", scope)
        object.__setattr__(self, "parameters", json_copy(self.parameters, "parameters"))
        object.__setattr__(self, "input_models", json_copy(self.input_models, "input_models"))


def scope_of(parameters: Mapping[str, Any]) -> str:
    """``"<domain>:<levels>"`` of a stored request (``{"request": {"by": [...], "domain": ...}}``), the
    domain resolved as ``planning.proposals.resolve_domain`` does; ``""`` when there is no request."""
    request = parameters.get("request") if isinstance(parameters, Mapping) else None
    if not isinstance(request, Mapping) or not request.get("by"):
        return ""
    by = [str(b) for b in request["by"]]
    domain = request.get("domain")
    if domain not in ("sellout", "bookings"):
        domain = "bookings" if {"team", "rep"} & set(by) else "sellout"
    return f"{domain}:{','.join(by)}"


@dataclass(frozen=True)
class ProposalHeader:
    """A stored proposal without its rows (what lists return). ``superseded_by``: the proposal whose
    approval replaced this approved one (same quarter and scope)."""

    id: str
    quarter: str
    method: str
    parameters: dict[str, Any]
    input_models: dict[str, Any]
    status: ProposalStatus
    author: str
    created_at: datetime
    updated_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    version: int
    note: str | None
    scope: str
    superseded_by: str | None


@dataclass(frozen=True)
class StoredProposal(ProposalHeader):
    """A stored proposal with its rows, in the order they were submitted."""

    rows: list[ProposalRowData]

    @property
    def header(self) -> ProposalHeader:
        return ProposalHeader(**{k: v for k, v in self.__dict__.items() if k != "rows"})


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as the service sees it: never the key itself, nor its hash."""

    id: str
    name: str
    role: Role
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class AuditRecord:
    """One audit_log row."""

    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    actor_key_id: str | None = None
