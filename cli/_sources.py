"""Where a command's data comes from: a user's files, a named real data set, or the simulator."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from salesplan.contracts import CRMData, SelloutDataset, StageMap, validate_crm
from salesplan.errors import ConfigError


def _one_source(data: Path | None, simulated: bool, dataset: str | None) -> None:
    given = [name for name, v in (("--data", data), ("--simulated", simulated), ("--dataset", dataset)) if v]
    if len(given) != 1:
        raise ConfigError(
            f"give exactly one data source: --data PATH, --simulated or --dataset NAME (got {given or 'none'})"
        )


def check_scale(scale: str) -> None:
    """The simulator's presets are the only valid ``--scale`` values."""
    from salesplan.simulator import PRESETS

    if scale not in PRESETS:
        raise ConfigError(f"--scale must be one of {list(PRESETS)}, got {scale!r}")


def crm_source(
    data: Path | None,
    simulated: bool,
    dataset: str | None,
    seed: int = 42,
    scale: str = "small",
    stage_map: StageMap | None = None,
) -> tuple[CRMData, str]:
    """A validated CRM and a short name of where it came from (``stage_map`` for files and Maven)."""
    _one_source(data, simulated, dataset)
    if simulated:
        from salesplan.simulator import SimConfig, simulate

        check_scale(scale)
        return simulate(SimConfig(seed=seed, scale=scale)).crm, f"simulated-{scale}-seed{seed}"  # type: ignore[arg-type]
    if dataset:
        from salesplan.loaders import CRM_SETS, load

        if dataset not in CRM_SETS:
            raise ConfigError(f"--dataset for CRM must be one of {sorted(CRM_SETS)}, got {dataset!r}")
        crm = load(dataset, stage_map=stage_map) if stage_map is not None else load(dataset)
        assert isinstance(crm, CRMData)
        return crm, dataset
    from salesplan.io import read_crm

    assert data is not None
    return validate_crm(read_crm(data), stage_map, source=str(data)), data.name


def sellout_source(
    data: Path | None,
    simulated: bool,
    dataset: str | None,
    seed: int = 42,
    scale: str = "small",
    freq: str = "W",
) -> tuple[SelloutDataset, str, pd.DataFrame | None]:
    """A validated sell-out data set, a short name of where it came from, and its known future regressors
    when the source has them (the simulator's planned prices and promotions; ``freq``: the simulated
    sell-out's frequency)."""
    _one_source(data, simulated, dataset)
    if simulated:
        from salesplan.contracts import check_freq
        from salesplan.simulator import SimConfig, simulate

        check_scale(scale)
        check_freq(freq, "--freq")
        world = simulate(SimConfig(seed=seed, scale=scale, freq=freq))  # type: ignore[arg-type]
        return world.sellout, world.sellout.name, world.future
    if dataset:
        from salesplan.loaders import SELLOUT_SETS, load

        if dataset not in SELLOUT_SETS:
            raise ConfigError(
                f"--dataset for sell-out must be one of {sorted(SELLOUT_SETS)}, got {dataset!r}"
            )
        ds = load(dataset)
        assert isinstance(ds, SelloutDataset)
        return ds, dataset, None
    raise ConfigError(
        "sell-out from your own file: validate it with 'salesplan data validate PATH --out clean.parquet ...' "
        "and use the Python API (models.forecast) for now; the CLI trains on --simulated or --dataset"
    )
