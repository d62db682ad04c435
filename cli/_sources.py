"""Where a command's data comes from: a user's files, a named real data set, or the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from salesplan.contracts import CRMData, SelloutDataset, SelloutSpec, StageMap, validate_crm
from salesplan.errors import ConfigError

FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Your sell-out file (.csv/.parquet): unique_id, ds (each period dated by its first day), y, "
        "plus the columns named by --hierarchy, --promo-cols, --exog-cols; validated as 'data validate' does.",
    ),
]
HierarchyOpt = Annotated[
    str | None,
    typer.Option(
        help="Hierarchy of --data, e.g. 'geo=region,store;product=category,product' (none: the levels are "
        "the total and each series)."
    ),
]
PromoOpt = Annotated[str | None, typer.Option(help="Comma-separated promotion columns of --data.")]
ExogOpt = Annotated[str | None, typer.Option(help="Comma-separated known-future regressors of --data.")]
StaticOpt = Annotated[str | None, typer.Option(help="Comma-separated static series attributes of --data.")]


def file_spec(
    data: Path | None,
    freq: str,
    hierarchy: str | None,
    promo_cols: str | None,
    exog_cols: str | None,
    static_cols: str | None,
    season: int | None,
) -> SelloutSpec | None:
    """The contract a user's file is validated against (``None`` without ``--data``)."""
    named = {"--hierarchy": hierarchy, "--promo-cols": promo_cols, "--exog-cols": exog_cols}
    given = [n for n, v in {**named, "--static-cols": static_cols}.items() if v]
    if data is None:
        if given:
            raise ConfigError(
                f"{', '.join(given)} describe the columns of a --data file; give --data PATH too"
            )
        return None
    from salesplan.cli.data import sellout_spec_from_options

    if season is not None and season < 1:
        raise ConfigError(f"--season must be >= 1, got {season}")
    return sellout_spec_from_options(
        freq, hierarchy, promo_cols, exog_cols, static_cols, False, False, season
    )


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
    spec: SelloutSpec | None = None,
) -> tuple[SelloutDataset, str, pd.DataFrame | None]:
    """A validated sell-out data set, a short name of where it came from, and its known future regressors
    when the source has them (the simulator's planned prices and promotions; ``freq``: the simulated
    sell-out's frequency). A user's file (``data``, CSV or Parquet) is validated against ``spec`` (its
    frequency, hierarchy and regressor columns; by default a plain weekly ``unique_id, ds, y`` panel)."""
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
    from salesplan.contracts import check_freq, validate_sellout
    from salesplan.io import read_table

    assert data is not None
    spec = spec if spec is not None else SelloutSpec(freq=check_freq(freq, "--freq"))
    df = validate_sellout(read_table(data), spec, source=str(data))
    return SelloutDataset(df, spec, data.stem), data.stem, None
