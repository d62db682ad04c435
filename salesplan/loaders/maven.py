"""Maven Analytics "CRM + Sales Opportunities": 8,800 opportunities of a fictitious B2B hardware seller
(2017) with reps → managers → regional offices, accounts and a list-price table (see SOURCE.md). Outcomes are
close to random with respect to the features: use it for CRM plumbing, funnel and roll-ups, not for lift."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from salesplan.contracts import EVENT_RANK, STAGES, CRMData, StageMap, validate_crm
from salesplan.errors import ConfigError
from salesplan.loaders._common import dataset_file, read_csv, source_problem

NAME = "maven"
SOURCE_STAGES: tuple[str, ...] = ("Prospecting", "Engaging", "Won", "Lost")
#: Maven's deal_stage → canonical stages. Prospecting is finding/qualifying the lead; "Engaging" is an active
#: sales conversation, taken as Pitch. Override with ``load_maven(stage_map=StageMap({...}))``.
MAVEN_STAGE_MAP = StageMap({"Prospecting": "Find", "Engaging": "Pitch", "Won": "Won", "Lost": "Lost"})
#: Product names of the pipeline that differ from products.csv.
PRODUCT_FIXES: dict[str, str] = {"GTXPro": "GTX Pro"}
#: Typos of accounts.csv (SOURCE.md), corrected so sector/country values join with other data.
ACCOUNT_FIXES: dict[str, dict[str, str]] = {
    "sector": {"technolgy": "technology"},
    "office_location": {"Philipines": "Philippines"},
}
WON_STAGES = ("Won", "Sign", "Deliver", "Operate")


def load_maven(data_dir: Path | None = None, *, stage_map: StageMap | None = None) -> CRMData:
    """The Maven CRM as validated ``CRMData``.

    - reps: the 35 sales agents (rep_id = name = sales_agent, manager, team = manager, region = regional
      office, role "AE"); 5 of them have no opportunities.
    - opportunities: ``amount`` is the product's LIST price (products.sales_price) for every deal. The
      source's close_value cannot be a feature: it is 0 for every lost deal and missing for open ones, so it
      encodes the label. It is kept only as ``won_value`` (outcome-derived; never use it as an input).
      ``created_date`` = engage_date, so Prospecting deals (never engaged) have none. ``stage`` is the
      current canonical stage: open deals their mapped deal_stage, won deals the stage a win ranks with
      (Sign, or the map's own target for Won), lost deals the stage they were lost from (all were engaged).
      ``account_id`` is missing for 1,425 open deals, as in the source.
    - stage_events: the Engaging stage at engage_date and Won/Lost at close_date, under their source names
      mapped by ``stage_map``. Prospecting has no timestamp in the source, so it has no event row.
    """
    smap = stage_map or MAVEN_STAGE_MAP
    _check_stage_map(smap)
    pipe_path = dataset_file(NAME, "sales_pipeline.csv", data_dir)
    teams = read_csv(
        dataset_file(NAME, "sales_teams.csv", data_dir),
        required=("sales_agent", "manager", "regional_office"),
    )
    accounts_raw = read_csv(dataset_file(NAME, "accounts.csv", data_dir), required=("account",))
    products_path = dataset_file(NAME, "products.csv", data_dir)
    products = read_csv(products_path, required=("product", "series", "sales_price"))
    pipe = read_csv(
        pipe_path,
        required=(
            "opportunity_id",
            "sales_agent",
            "product",
            "account",
            "deal_stage",
            "engage_date",
            "close_date",
            "close_value",
        ),
    )
    bad_stage = ~pipe["deal_stage"].isin(SOURCE_STAGES)
    if bad_stage.any():
        source_problem(
            pipe_path,
            "deal_stage",
            f"deal stages other than {list(SOURCE_STAGES)}",
            pipe.loc[bad_stage, "opportunity_id"],
            fix="restore the original sales_pipeline.csv",
        )

    reps = pd.DataFrame(
        {
            "rep_id": teams["sales_agent"],
            "name": teams["sales_agent"],
            "manager": teams["manager"],
            "team": teams["manager"],
            "region": teams["regional_office"],
            "role": "AE",
        }
    )
    accounts = accounts_raw.rename(columns={"account": "account_id"})
    for col, fixes in ACCOUNT_FIXES.items():
        if col in accounts.columns:
            accounts[col] = accounts[col].replace(fixes)

    opps = _opportunities(pipe, products, reps, smap, products_path)
    events = _events(pipe)
    crm = CRMData(reps=reps, opportunities=opps, accounts=accounts, stage_events=events)
    return validate_crm(crm, smap, source=f"{NAME} ({pipe_path.parent})")


def _check_stage_map(smap: StageMap) -> None:
    """The map must cover exactly Maven's four stages and keep the outcomes outcomes."""
    keys = set(smap.mapping)
    if keys != set(SOURCE_STAGES):
        raise ConfigError(
            f"maven: stage_map must map exactly {list(SOURCE_STAGES)}; got {sorted(keys)}. "
            f"Start from salesplan.loaders.maven.MAVEN_STAGE_MAP.mapping and change the targets"
        )
    m = smap.mapping
    problems = []
    if m["Lost"] != "Lost":
        problems.append(f"'Lost' must map to 'Lost' (got {m['Lost']!r})")
    if m["Won"] not in WON_STAGES:
        problems.append(f"'Won' must map to one of {list(WON_STAGES)} (got {m['Won']!r})")
    for s in ("Prospecting", "Engaging"):
        if m[s] not in STAGES:
            problems.append(f"{s!r} must map to a funnel stage {list(STAGES)} (got {m[s]!r})")
    if not problems and EVENT_RANK[m["Prospecting"]] > EVENT_RANK[m["Engaging"]]:
        problems.append("'Prospecting' must not map to a later funnel stage than 'Engaging'")
    if not problems and m["Won"] != "Won" and EVENT_RANK[m["Won"]] <= EVENT_RANK[m["Engaging"]]:
        problems.append("'Won' must map to a later funnel stage than 'Engaging'")
    if problems:
        raise ConfigError("maven: invalid stage_map: " + "; ".join(problems))


def _opportunities(
    pipe: pd.DataFrame, products: pd.DataFrame, reps: pd.DataFrame, smap: StageMap, products_path: Path
) -> pd.DataFrame:
    product = pipe["product"].replace(PRODUCT_FIXES)
    price = products.set_index("product")["sales_price"].astype(float)
    series = products.set_index("product")["series"]
    unknown = ~product.isin(price.index)
    if unknown.any():
        source_problem(
            products_path,
            "product",
            "pipeline products without a list price in products.csv",
            sorted(product[unknown].unique()),
            fix="add them to products.csv or to salesplan.loaders.maven.PRODUCT_FIXES",
        )
    stage_raw = pipe["deal_stage"]
    outcome = stage_raw.map({"Won": "won", "Lost": "lost", "Prospecting": "open", "Engaging": "open"})
    won_stage = "Sign" if smap.mapping["Won"] == "Won" else smap.mapping["Won"]
    current = stage_raw.map(
        {
            "Prospecting": smap.mapping["Prospecting"],
            "Engaging": smap.mapping["Engaging"],
            "Won": won_stage,
            "Lost": smap.mapping["Engaging"],
        }
    )
    rep = reps.set_index("rep_id")
    return pd.DataFrame(
        {
            "opportunity_id": pipe["opportunity_id"],
            "rep_id": pipe["sales_agent"],
            "account_id": pipe["account"],
            "product": product,
            "product_series": product.map(series),
            "outcome": outcome,
            "stage": current,
            "created_date": pd.to_datetime(pipe["engage_date"], format="%Y-%m-%d"),
            "close_date": pd.to_datetime(pipe["close_date"], format="%Y-%m-%d"),
            "amount": product.map(price),
            "won_value": pd.to_numeric(pipe["close_value"]),
            "region": pipe["sales_agent"].map(rep["region"]),
            "team": pipe["sales_agent"].map(rep["team"]),
        }
    )


def _events(pipe: pd.DataFrame) -> pd.DataFrame:
    """Engaging rows first so a same-day engage and close keep funnel order after the stable sort."""
    engaged = pipe[pipe["engage_date"].notna()]
    closed = pipe[pipe["deal_stage"].isin(["Won", "Lost"])]
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "opportunity_id": engaged["opportunity_id"],
                    "stage": "Engaging",
                    "ts": engaged["engage_date"],
                }
            ),
            pd.DataFrame(
                {
                    "opportunity_id": closed["opportunity_id"],
                    "stage": closed["deal_stage"],
                    "ts": closed["close_date"],
                }
            ),
        ],
        ignore_index=True,
    ).assign(ts=lambda d: pd.to_datetime(d["ts"], format="%Y-%m-%d"))
