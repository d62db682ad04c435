"""What every loader shares: finding a data set's folder under ``SALESPLAN_DATA_DIR`` and reading its CSVs
with errors that say which file is wrong and how to fix it, so the loaders only hold data-set knowledge."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from salesplan.config import get_settings
from salesplan.errors import DataNotFoundError, DataValidationError, Problem

#: Folder of each data set under the data directory (as described in ``<data_dir>/README.md``).
DATASET_DIRS: dict[str, str] = {
    "walmart": "walmart_recruiting",
    "dominicks": "dominicks_bayesm",
    "avocado": "avocado_hab",
    "online_retail": "online_retail_uci_top40",
    "m5_tiny": "m5_tiny_ca1_foods3",
    "m1": "m1_competition",
    "maven": "maven_crm",
    "salvirt": "salvirt_b2b",
}

#: Files each loader reads; ``available`` checks them all.
DATASET_FILES: dict[str, tuple[str, ...]] = {
    "walmart": ("train.csv.zip", "features.csv", "stores.csv"),
    "dominicks": ("orangejuice_store_brand_week.csv",),
    "avocado": ("avocado.csv",),
    "online_retail": ("online_retail_sales.csv",),
    "m5_tiny": ("m5_subset.csv",),
    "m1": ("m1_meta.csv", "m1_long.csv.gz"),
    "maven": ("sales_pipeline.csv", "sales_teams.csv", "accounts.csv", "products.csv"),
    "salvirt": ("b2b_sales_opportunities.csv",),
}

_HOW_TO_FIX = (
    "set SALESPLAN_DATA_DIR to the folder holding the shared data sets (default ../shared/data) "
    "or pass data_dir=..."
)


def base_dir(data_dir: Path | str | None) -> Path:
    """The data root: the argument if given, else ``get_settings().data_dir``."""
    return Path(data_dir) if data_dir is not None else Path(get_settings().data_dir)


def dataset_dir(name: str, data_dir: Path | str | None = None) -> Path:
    """The folder of data set ``name``; raises ``DataNotFoundError`` naming the path when it is missing."""
    root = base_dir(data_dir)
    folder = root / DATASET_DIRS[name]
    if not folder.is_dir():
        raise DataNotFoundError(
            f"data set {name!r}: folder {folder} not found (data root {root.resolve()}); {_HOW_TO_FIX}"
        )
    return folder


def dataset_file(name: str, filename: str, data_dir: Path | str | None = None) -> Path:
    """One file of data set ``name``; raises ``DataNotFoundError`` naming the path when it is missing."""
    path = dataset_dir(name, data_dir) / filename
    if not path.is_file():
        raise DataNotFoundError(
            f"data set {name!r}: file {path} not found; the folder exists but is incomplete. "
            f"Restore the file or {_HOW_TO_FIX}"
        )
    return path


def read_csv(path: Path, required: Sequence[str] = (), **kwargs: Any) -> pd.DataFrame:
    """Read a source CSV; unreadable files and missing expected columns raise ``DataValidationError``."""
    try:
        df = pd.read_csv(path, **kwargs)
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        ValueError,
        OSError,
        zipfile.BadZipFile,
    ) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataValidationError(
            [Problem(None, f"cannot be read as CSV: {msg}", fix="restore the original file of the data set")],
            source=str(path),
        ) from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataValidationError(
            [
                Problem(
                    None,
                    f"missing expected column(s) {missing} (found {list(df.columns)})",
                    fix="the loader expects the original file described in SOURCE.md; restore it",
                )
            ],
            source=str(path),
        )
    return df


def source_problem(
    path: Path, column: str | None, message: str, rows: Iterable[object], fix: str
) -> NoReturn:
    """Raise one ``DataValidationError`` for a quirk of the source the loader cannot handle."""
    sample = [str(r) for r in rows]
    raise DataValidationError(
        [Problem(column, message, rows=tuple(sample[:5]), n_rows=len(sample), fix=fix)], source=str(path)
    )
