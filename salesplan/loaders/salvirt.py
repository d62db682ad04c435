"""Salvirt B2B opportunities (Bohanec et al. 2017): 448 real, anonymised ICT deals with 22 categorical
qualification attributes and Won/Lost — the deal-win model's accuracy and calibration set (see SOURCE.md).
No dates, amounts, accounts or stage history: only reps and opportunities."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from salesplan.contracts import CRMData, validate_crm
from salesplan.loaders._common import dataset_file, read_csv, source_problem

NAME = "salvirt"
log = logging.getLogger(__name__)
#: The 20 categorical attributes besides Product and Seller, as in the file.
ATTRIBUTES: tuple[str, ...] = (
    "Authority",
    "Comp_size",
    "Competitors",
    "Purch_dept",
    "Partnership",
    "Budgt_alloc",
    "Forml_tend",
    "RFI",
    "RFP",
    "Growth",
    "Posit_statm",
    "Source",
    "Client",
    "Scope",
    "Strat_deal",
    "Cross_sale",
    "Up_sale",
    "Deal_type",
    "Needs_def",
    "Att_t_client",
)
#: Attribute columns renamed to a contract name rather than plain snake_case.
CONTRACT_NAMES: dict[str, str] = {"Source": "lead_source"}


def snake_case(name: str) -> str:
    """``Comp_size`` → ``comp_size``, ``RFI`` → ``rfi``, ``AttTClient`` → ``att_t_client``."""
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()


def load_salvirt(data_dir: Path | None = None, *, dedupe: bool = False) -> CRMData:
    """Reps and opportunities as validated ``CRMData`` (accounts and stage_events empty).

    ``opportunity_id`` is "SV" + the 1-based source row number (SV0001 …), assigned BEFORE any dedupe so an
    id always names the same source row. rep_id = Seller, product = Product, outcome = Status (won/lost),
    the other 20 attributes as snake_case columns (Source → ``lead_source``, the contract's name).
    ``dup_group`` numbers groups of identical rows (all 23 columns): 83 rows repeat an earlier one, so
    cross-validation should keep a group in one fold (SOURCE.md). ``dedupe=True`` keeps the first row of
    each group instead.
    """
    path = dataset_file(NAME, "b2b_sales_opportunities.csv", data_dir)
    raw = read_csv(path, required=("Product", "Seller", "Status", *ATTRIBUTES), dtype=str)
    source_cols = ["Product", "Seller", *ATTRIBUTES, "Status"]
    status = raw["Status"].str.strip().str.lower()
    bad = ~status.isin(["won", "lost"])
    if bad.any():
        source_problem(
            path,
            "Status",
            "status other than Won/Lost",
            (raw.index[bad] + 1).astype(str),
            fix="restore the original file (every deal is Won or Lost)",
        )
    opps = pd.DataFrame(
        {
            "opportunity_id": [f"SV{i:04d}" for i in range(1, len(raw) + 1)],
            "rep_id": raw["Seller"].str.strip(),
            "product": raw["Product"].str.strip(),
            "outcome": status,
        }
    )
    for col in ATTRIBUTES:
        opps[CONTRACT_NAMES.get(col, snake_case(col))] = raw[col].str.strip()
    opps["dup_group"] = raw.groupby(source_cols, sort=False).ngroup().to_numpy()
    duplicated = raw.duplicated(source_cols, keep="first").to_numpy()
    if dedupe:
        opps = opps.loc[~duplicated].reset_index(drop=True)
        log.info("%s: %d exact-duplicate rows dropped, %d deals kept", NAME, int(duplicated.sum()), len(opps))
    else:
        log.info(
            "%s: %d rows repeat an earlier row exactly (kept; see dup_group)", NAME, int(duplicated.sum())
        )
    reps = pd.DataFrame({"rep_id": sorted(opps["rep_id"].unique(), key=_seller_order)})
    reps["name"] = reps["rep_id"]
    crm = CRMData(reps=reps, opportunities=opps)
    return validate_crm(crm, source=f"{NAME} ({path})")


def _seller_order(rep: str) -> tuple[int, str]:
    """ "Seller 2" before "Seller 10"."""
    digits = re.sub(r"\D", "", rep)
    return (int(digits) if digits else 0, rep)
