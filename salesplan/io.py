"""Reading and writing frames: CSV and Parquet in, the same out. The only file I/O of the core."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts import CRMData
from salesplan.errors import ConfigError, DataNotFoundError, DataValidationError, Problem

__all__ = [
    "CRM_TABLES",
    "TABLE_SUFFIXES",
    "find_table",
    "finite_or_none",
    "jsonable",
    "read_crm",
    "read_table",
    "records",
    "write_crm",
    "write_table",
]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".csv.gz", ".csv.zip")
CRM_TABLES = ("reps", "accounts", "opportunities", "stage_events", "close_date_changes", "field_history")


def finite_or_none(v: Any) -> float | None:
    """A finite float, or None for blanks, text and NaN/inf (tables print a dash, JSON gets null)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON, deeply: numpy → Python, NaN/inf/NaT → None, timestamps → ISO dates,
    periods → their label, tuples and arrays → lists, mapping keys → str. The API's answers and the
    stored proposal parameters both go through it, so a value reads back the way it was written.
    Scalars are tested first, cheapest first: the deal-scoring batch calls this for every cell."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, pd.Period):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    return str(value)


def records(df: pd.DataFrame, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows of ``df`` as JSON-safe dicts (only ``columns`` when given, in that order)."""
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    return [
        {c: jsonable(v) for c, v in zip(cols, row, strict=True)}
        for row in df[cols].itertuples(index=False, name=None)
    ]


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in (".csv.gz", ".csv.zip"):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def read_table(path: str | Path) -> pd.DataFrame:
    """Read one CSV (optionally gz/zip) or Parquet file; a missing or unreadable file is a clean error."""
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"{p}: file not found")
    if p.is_dir():
        raise DataValidationError(
            [Problem(None, "is a folder, expected a .csv or .parquet file")], source=str(p)
        )
    suffix = _suffix(p)
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if suffix in (".csv", ".csv.gz", ".csv.zip", ".txt"):
            return pd.read_csv(p, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataValidationError(
            [
                Problem(
                    None,
                    f"cannot be read as {suffix.lstrip('.')}: {msg}",
                    fix="check that the file is a valid CSV with a header row, or a Parquet file",
                )
            ],
            source=str(p),
        ) from None
    raise DataValidationError(
        [Problem(None, f"unsupported file type {suffix!r}", fix=f"use one of {list(TABLE_SUFFIXES)}")],
        source=str(p),
    )


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write CSV or Parquet by the file suffix (no suffix: CSV), creating parent folders. Any other suffix
    is an error: CSV text in a file named ``.xlsx`` would not open where the name says it should."""
    p = Path(path)
    suffix = _suffix(p)
    if suffix not in ("", ".csv", ".csv.gz", ".csv.zip", ".parquet", ".pq"):
        raise ConfigError(f"cannot write {p.name}: tables are written as .csv or .parquet, not {suffix}")
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".parquet", ".pq"):
        df.to_parquet(p, index=False)
    else:
        df.to_csv(p, index=False)
    return p


def find_table(folder: Path, name: str) -> Path | None:
    """``folder/name`` as .parquet, .csv or .csv.gz, whichever exists first."""
    for s in (".parquet", ".csv", ".csv.gz"):
        cand = folder / f"{name}{s}"
        if cand.exists():
            return cand
    return None


def read_crm(folder: str | Path) -> CRMData:
    """Read a CRM folder holding reps, opportunities and optionally accounts and stage_events (.csv/.parquet)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataNotFoundError(
            f"{root}: CRM data is a folder with reps.csv, opportunities.csv and optionally accounts.csv, "
            "stage_events.csv (or .parquet)"
        )
    frames: dict[str, pd.DataFrame] = {}
    for name in CRM_TABLES:
        path = find_table(root, name)
        if path is None:
            if name in ("reps", "opportunities"):
                raise DataNotFoundError(f"{root}: no {name}.csv or {name}.parquet in the CRM folder")
            continue
        frames[name] = read_table(path)
    return CRMData(**frames)


def write_crm(crm: CRMData, folder: str | Path, fmt: str = "csv") -> Path:
    """Write the four CRM frames as ``<name>.<fmt>`` into ``folder``."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for name, df in crm.frames().items():
        write_table(df, root / f"{name}.{fmt}")
    return root
