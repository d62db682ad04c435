"""The end-to-end demo on the simulator: each step prints what it produced, so a new user sees the loop."""

from __future__ import annotations

from pathlib import Path

from rich.rule import Rule

from salesplan.cli._common import console, progress
from salesplan.cli.data import _crm_summary, _sellout_summary, _spend_summary
from salesplan.contracts import validate_crm, validate_sellout, validate_spend
from salesplan.errors import DataNotFoundError
from salesplan.io import find_table, read_crm, read_table


def run_demo(out: Path, seed: int, scale: str) -> None:
    from salesplan.simulator import SimConfig, simulate

    console.print(Rule("1. simulate"))
    with progress(f"simulating a {scale} world (seed {seed})"):
        world = simulate(SimConfig(seed=seed, scale=scale))  # type: ignore[arg-type]
        world.write(out / "data", fmt="parquet")
    console.print(f"wrote the simulated world to {out / 'data'}")

    console.print(Rule("2. validate (read back from disk, as a user's files would be)"))
    spec = world.sellout.spec
    sellout = validate_sellout(read_table(out / "data" / "sellout.parquet"), spec, source="sellout.parquet")
    crm = validate_crm(read_crm(out / "data" / "crm"), source="crm/")
    spend_path = find_table(out / "data", "spend")
    if spend_path is None:
        raise DataNotFoundError(f"{out / 'data'}: the simulator wrote no spend table")
    spend = validate_spend(read_table(spend_path), source=spend_path.name)
    console.print(_sellout_summary(sellout, spec))
    console.print(_crm_summary(crm))
    console.print(_spend_summary(spend))
    console.print("[green]all three data sets meet their contracts[/]")
