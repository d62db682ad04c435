"""Loaders of the real public data sets under ``SALESPLAN_DATA_DIR``: each turns one source's files and
quirks into a validated contract object, so nothing above this package knows a source's layout.

Sell-out sets return a ``SelloutDataset`` (frame already through ``validate_sellout``); CRM sets return a
validated ``CRMData``. ``load(name, ...)`` dispatches by name; ``available()`` says which sets are present.
Activity exports (Salesforce Task/Event-like) map onto the activity contract with ``load_activity_export``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from salesplan.contracts import CRMData, SelloutDataset
from salesplan.errors import ConfigError
from salesplan.loaders._common import DATASET_DIRS, DATASET_FILES, base_dir
from salesplan.loaders.activities import (
    CHANNEL_WORDS,
    SALESFORCE_EVENT_MAP,
    SALESFORCE_TASK_MAP,
    load_activity_export,
    read_activity_folder,
)
from salesplan.loaders.avocado import METRO_REGION, load_avocado
from salesplan.loaders.dominicks import load_dominicks
from salesplan.loaders.m1 import M1_HORIZON, M1_SEASON, load_m1
from salesplan.loaders.m5_tiny import load_m5_tiny
from salesplan.loaders.maven import MAVEN_STAGE_MAP, load_maven
from salesplan.loaders.online_retail import load_online_retail
from salesplan.loaders.salvirt import load_salvirt
from salesplan.loaders.walmart import load_walmart

LOADERS: dict[str, Callable[..., SelloutDataset | CRMData]] = {
    "walmart": load_walmart,
    "dominicks": load_dominicks,
    "avocado": load_avocado,
    "online_retail": load_online_retail,
    "m5_tiny": load_m5_tiny,
    "m1": load_m1,
    "maven": load_maven,
    "salvirt": load_salvirt,
}
SELLOUT_SETS: tuple[str, ...] = ("walmart", "dominicks", "avocado", "online_retail", "m5_tiny", "m1")
CRM_SETS: tuple[str, ...] = ("maven", "salvirt")


def load(name: str, data_dir: Path | None = None, **kw: Any) -> SelloutDataset | CRMData:
    """Load data set ``name`` (a key of ``LOADERS``); ``kw`` go to its ``load_<name>``."""
    if name not in LOADERS:
        raise ConfigError(f"unknown data set {name!r}; choose one of {sorted(LOADERS)}")
    return LOADERS[name](data_dir, **kw)


def available(data_dir: Path | None = None) -> dict[str, bool]:
    """Which data sets have their folder and every file their loader reads (no file is parsed)."""
    root = base_dir(data_dir)
    return {
        name: all((root / DATASET_DIRS[name] / f).is_file() for f in DATASET_FILES[name]) for name in LOADERS
    }


__all__ = [
    "CHANNEL_WORDS",
    "CRM_SETS",
    "DATASET_DIRS",
    "LOADERS",
    "M1_HORIZON",
    "M1_SEASON",
    "MAVEN_STAGE_MAP",
    "METRO_REGION",
    "SALESFORCE_EVENT_MAP",
    "SALESFORCE_TASK_MAP",
    "SELLOUT_SETS",
    "available",
    "load",
    "load_activity_export",
    "load_avocado",
    "load_dominicks",
    "load_m1",
    "load_m5_tiny",
    "load_maven",
    "load_online_retail",
    "load_salvirt",
    "load_walmart",
    "read_activity_folder",
]
