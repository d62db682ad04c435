"""``salesplan plan backtest``: the track record of the shipped target method. Past quarters are planned
again exactly as ``salesplan plan targets`` would have planned them at each quarter's first day (same
request, the CRM as it stood, deal scores refitted on what had closed by then), then compared with what
was booked: per level, the share of targets hit against the P(hit) they promised, with 95 % intervals that
resample whole quarters. The result is stored for the API and the planner page's track-record panel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from salesplan.cli._common import ScaleOpt, SeedOpt, SimOpt, clean_errors, console, progress
from salesplan.cli._plan_io import crm_end, log_to_project_run
from salesplan.cli.plan import make_request, plan_app
from salesplan.errors import ConfigError, ModelNotFoundError

if TYPE_CHECKING:
    from salesplan.contracts import CRMData
    from salesplan.models.deals import DealScorer
    from salesplan.planning.proposals import ProposalRequest
    from salesplan.planning.track_record import TrackRecord

LEVELS = ("region", "team", "rep")
DomainOpt = Annotated[
    str,
    typer.Option(help="bookings (a CRM), sellout (a sell-out set), or auto: sellout for sell-out sources."),
]


@plan_app.command("backtest")
@clean_errors
def backtest_cmd(
    probability: Annotated[float, typer.Option(help="Hit probability the targets promise.")] = 0.6,
    quarters: Annotated[int, typer.Option(help="How many recent complete quarters to replay.")] = 4,
    method: Annotated[str, typer.Option(help="Allocation: blended, top_down or bottom_up.")] = "blended",
    over_assignment: Annotated[
        float, typer.Option(help="Over-assignment at the leaf level, as `plan targets` takes it.")
    ] = 0.0,
    domain: DomainOpt = "auto",
    by: Annotated[
        str | None,
        typer.Option(help="Levels top → bottom (default region,team,rep; sell-out: the data's geo levels)."),
    ] = None,
    sum_products: Annotated[
        bool, typer.Option(help="Sell-out: sum the product dimension first (one series per store; faster).")
    ] = False,
    origins: Annotated[
        int, typer.Option(help="Sell-out: backtest origins per retrained forecaster (the training default).")
    ] = 3,
    simulated: SimOpt = False,
    data: Annotated[Path | None, typer.Option(help="A CRM folder (bookings).")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="A real set: maven (bookings), walmart, ... (sell-out).")
    ] = None,
    seed: SeedOpt = 42,
    scale: ScaleOpt = "small",
    out: Annotated[Path, typer.Option(help="Folder for the per-unit rows and the summary (CSV).")] = Path(
        "plan_out"
    ),
) -> None:
    """Track record of targets set by the shipped method: each past quarter planned again as of its first
    day (bookings: deal scores refitted; sell-out: the forecaster retrained), promised vs realised hit rate
    per level, stored for the API and the planner page."""
    from salesplan.loaders import SELLOUT_SETS
    from salesplan.serving.settings import ServingSettings
    from salesplan.serving.track_record import TrackRecordService

    if not 1 <= quarters <= 20:
        raise ConfigError(f"--quarters must be between 1 and 20, got {quarters}")
    if domain not in ("auto", "bookings", "sellout"):
        raise ConfigError(f"--domain must be auto, bookings or sellout, got {domain!r}")
    if not 1 <= origins <= 10:
        raise ConfigError(f"--origins must be between 1 and 10, got {origins}")
    sellout = domain == "sellout" or (domain == "auto" and dataset in SELLOUT_SETS)
    if dataset in SELLOUT_SETS and not sellout:
        raise ConfigError(f"--dataset {dataset} is sell-out data; bookings need a CRM (--dataset maven)")
    levels = tuple(b.strip() for b in by.split(",") if b.strip()) if by else None
    service = TrackRecordService(ServingSettings().track_record_dir)
    if sellout:
        record, payload = _sellout(probability, method, over_assignment, levels, sum_products, origins,
                                   quarters, simulated, data, dataset, seed, scale)  # fmt: skip
    else:
        record, payload = _bookings(probability, method, over_assignment, levels or LEVELS, quarters,
                                    simulated, data, dataset, seed, scale)  # fmt: skip
    print_track_record(payload, probability)
    out.mkdir(parents=True, exist_ok=True)
    record.rows.to_csv(out / "track_record_rows.csv", index=False)
    record.by_level.to_csv(out / "track_record_summary.csv", index=False)
    stored = service.save(payload)
    console.print(
        f"wrote {out / 'track_record_rows.csv'}, {out / 'track_record_summary.csv'}; "
        f"the API and the planner page read {stored}",
        soft_wrap=True,
    )
    log_to_project_run([out / "track_record_summary.csv"], {})


def _bookings(
    probability: float, method: str, oa: float, levels: tuple[str, ...], quarters: int,
    simulated: bool, data: Path | None, dataset: str | None, seed: int, scale: str,
) -> tuple[TrackRecord, dict[str, Any]]:  # fmt: skip
    from salesplan.cli._sources import crm_source
    from salesplan.serving.track_record import past_quarters

    with progress("reading the CRM"):
        crm, source = crm_source(data, simulated, dataset, seed, scale)
    qs = past_quarters(crm_end(crm), quarters)
    request = make_request(
        quarter=qs[-1], by=levels, probability=probability, method=method, over_assignment=oa
    )
    return bookings_track_record(crm, source, request, qs)


def bookings_track_record(
    crm: CRMData, source: str, request: ProposalRequest, quarters: list[str]
) -> tuple[TrackRecord, dict[str, Any]]:
    """``request`` replayed on ``quarters`` of ``crm`` (deal scores refitted with the champion's parameters
    before each), the pipeline's quarter shock fitted on the same quarters, and the stored form of both:
    what `plan backtest` and the demo run."""
    from salesplan.serving.track_record import BookingsReplay, record_json

    template, scorer = deal_template()
    with progress(f"replaying {len(quarters)} quarters on {source}", total=len(quarters)) as advance:
        seen: list[str] = []

        def step(q: str) -> None:
            if seen:
                advance(1)
            seen.append(q)

        replay = BookingsReplay(crm, quarters, template=template, on_quarter=step)
        record = replay.record(request)
    with progress("fitting the pipeline's quarter shock on the same quarters"):
        shock = replay.shock()
    return record, record_json(
        record, domain="bookings", source=source, inputs=f"deal scores: {scorer}", shock=shock
    )


def _sellout(
    probability: float, method: str, oa: float, levels: tuple[str, ...] | None, sum_products: bool,
    origins: int, quarters: int, simulated: bool, data: Path | None, dataset: str | None, seed: int,
    scale: str,
) -> tuple[TrackRecord, dict[str, Any]]:  # fmt: skip
    from salesplan.cli._sources import sellout_source
    from salesplan.cli.track_sellout import SelloutReplay, last_day, store_level
    from salesplan.serving.track_record import past_quarters, record_json

    with progress("reading the sell-out data"):
        ds, source, _ = sellout_source(data, simulated, dataset, seed, scale)
    hier = ds.spec.hierarchy
    geo = list(hier.levels.get("geo", [])) if hier is not None else []
    if sum_products:
        if not geo:
            raise ConfigError("--sum-products needs a geo hierarchy (e.g. region, store) in the data")
        ds, source = store_level(ds, geo), f"{source} (products summed per {geo[-1]})"
    if levels is None:
        if not geo:
            raise ConfigError("give --by: the data have no geo hierarchy to plan over")
        levels = tuple(geo)
    qs = past_quarters(last_day(ds), quarters)
    request = make_request(
        quarter=qs[-1], by=levels, probability=probability, method=method, over_assignment=oa
    )
    with progress(f"replaying {len(qs)} quarters on {source} (the forecaster retrained for each)"):
        record = SelloutReplay(ds, qs, n_origins=origins, on_stage=lambda s: console.print(f"  {s}")).record(
            request
        )
    what = f"forecaster: the default, retrained before each quarter ({origins} backtest origins)"
    return record, record_json(record, domain="sellout", source=source, inputs=what)


def deal_template() -> tuple[DealScorer | None, str]:
    """The deal champion's parameters to refit per quarter, else the shipped defaults."""
    from salesplan.models.registry import load_deal_scorer

    try:
        with progress("loading the deal champion's parameters"):
            champion, ref = load_deal_scorer("champion")
    except (ModelNotFoundError, ConfigError):
        return None, "DealScorer() defaults refitted on the deals closed before each quarter"
    return champion, f"the deal champion's parameters (v{ref.version}) refitted before each quarter"


def print_track_record(payload: dict[str, object], probability: float) -> None:
    qs = payload["quarters"]
    assert isinstance(qs, list) and isinstance(payload["levels"], list)
    t = Table(
        title=f"track record on {payload['source']}, {qs[0]}–{qs[-1]}: targets asked for P(hit) {probability:.0%}"
    )
    for col in ("level", "units", "quarters", "promised", "hit rate", "hit rate 95 %", "gap"):
        t.add_column(col, justify="left" if col == "level" else "right")
    for r in payload["levels"]:
        lo, hi = r["hit_ci95"]
        t.add_row(
            r["level"], str(r["units"]), str(r["quarters"]), f"{r['promised']:.1%}", f"{r['hit_rate']:.1%}",
            f"{lo:.0%}–{hi:.0%}", f"{r['hit_rate'] - r['promised']:+.1%}",
        )  # fmt: skip
    console.print(t)
    skipped = payload.get("skipped") or {}
    assert isinstance(skipped, dict)
    for q, why in skipped.items():
        console.print(f"[yellow]skipped {q}:[/] {why}", soft_wrap=True)
    console.print(f"method: {payload['method']}", soft_wrap=True)
    from salesplan.planning.pipeline_shock import MIN_QUARTERS

    shock = payload.get("pipeline_shock")
    if isinstance(shock, dict):
        console.print(
            f"pipeline quarter shock (deals' shared swing in win log-odds, used by the weighted pipeline's "
            f"bands): mean {shock['mean']:+.2f}, sd {shock['sd']:.2f} over {shock['quarters']} quarters"
            + (
                " (too few quarters: deals treated as independent)"
                if shock["quarters"] < MIN_QUARTERS
                else ""
            ),
            soft_wrap=True,
        )
