"""The one exceptions module: every error a user can cause is a ``SalesplanError`` with a message
that says what is wrong, where, and how to fix it. The CLI and the API turn these into clean output."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class SalesplanError(Exception):
    """Base of every error salesplan raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One finding of a validator: which column, which rows (a sample of keys), what is wrong, what to do."""

    column: str | None
    message: str
    rows: Sequence[str] = field(default_factory=tuple)
    n_rows: int = 0
    fix: str = ""

    def __str__(self) -> str:
        where = f"[{self.column}] " if self.column else ""
        text = f"{where}{self.message}"
        if self.n_rows:
            sample = ", ".join(str(r) for r in self.rows)
            more = f" (+{self.n_rows - len(self.rows)} more)" if self.n_rows > len(self.rows) else ""
            text += f" — {self.n_rows} row(s), e.g. {sample}{more}"
        if self.fix:
            text += f". Fix: {self.fix}"
        return text


class DataValidationError(SalesplanError, ValueError):
    """A frame broke its contract. Lists *every* problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem], source: str = "input") -> None:
        self.problems = list(problems)
        self.source = source
        lines = [f"{source}: {len(self.problems)} problem(s) found:"]
        lines += [f"  {i}. {p}" for i, p in enumerate(self.problems, 1)]
        super().__init__("\n".join(lines))


class DataNotFoundError(SalesplanError, FileNotFoundError):
    """A data file or folder is missing (e.g. ``SALESPLAN_DATA_DIR`` points elsewhere)."""


class ConfigError(SalesplanError, ValueError):
    """A setting or parameter has an invalid value."""


class InsufficientDataError(SalesplanError, ValueError):
    """Too little data for what was asked (history shorter than the horizon, too few closed deals, ...)."""


class NotFittedError(SalesplanError, ValueError):
    """A model was used before ``fit``. Subclasses ValueError like scikit-learn's NotFittedError."""


class InfeasibleError(SalesplanError, ValueError):
    """Planning bounds or constraints cannot all hold at once; the message names the ones in conflict."""


class ModelNotFoundError(SalesplanError, LookupError):
    """A registered model, alias or version does not exist in the tracking store."""


class ConflictError(SalesplanError):
    """A stored object changed underneath (optimistic locking) or cannot change (approved proposal)."""


class NotFoundError(SalesplanError, LookupError):
    """A named object does not exist (unknown proposal id, API key, series); the API answers 404."""


class ServiceUnavailableError(SalesplanError):
    """A dependency (database, model registry) is down; the client may retry later (the API answers 503)."""


class ForbiddenError(SalesplanError, PermissionError):
    """The caller may not do this to this object (e.g. approve a proposal they wrote or edited: four eyes);
    the API answers 403."""
