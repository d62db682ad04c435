"""Where the CLI's proposal commands get planning inputs: the forecast batch of a registered forecaster
(sell-out) or a CRM with its open deals scored by the deal champion (bookings), each loaded once per
command, on first use. The service's counterpart reads the same things from its loaded state
(``salesplan.serving.plan_inputs``); both feed the one ``ProposalService``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from salesplan.cli._common import console, progress
from salesplan.errors import ConfigError, ModelNotFoundError
from salesplan.models.registry import CHAMPION, DEALS_MODEL, FORECAST_MODEL, ModelRef
from salesplan.serving.proposal_service import ModelStamps, PlanDomain, SourcedInputs

if TYPE_CHECKING:
    from salesplan.contracts import CRMData
    from salesplan.models.batch import BatchForecast
    from salesplan.serving.db.records import StoredProposal

__all__ = ["NoInputs", "RegistryInputs"]


def _stamp(ref: ModelRef) -> dict[str, str | None]:
    return {"version": str(ref.version), "run_id": ref.run_id}


class NoInputs:
    """For commands that only read or decide (list, show, approve, reject): no planning inputs at hand."""

    def plan_inputs(
        self, quarter: str, by: tuple[str, ...], domain: PlanDomain, ramp: tuple[float, ...]
    ) -> SourcedInputs:
        raise ConfigError("this command does not load planning inputs")


class RegistryInputs:
    """Planning inputs from the registry: ``forecast_alias`` names the forecaster whose batch a sell-out
    plan reads (alias or version), ``crm`` the CRM a bookings plan reads, scored by ``deals_alias``."""

    def __init__(
        self,
        forecast_alias: str = CHAMPION,
        crm: CRMData | None = None,
        deals_alias: str = CHAMPION,
        quiet_scores: bool = False,
    ) -> None:
        self.forecast_alias = forecast_alias
        self.crm = crm
        self.deals_alias = deals_alias
        self.quiet_scores = quiet_scores
        self._batch: BatchForecast | None = None
        self._scores: tuple[pd.DataFrame | None, ModelStamps] | None = None

    @classmethod
    def of_stored(cls, p: StoredProposal) -> RegistryInputs:
        """The inputs a stored proposal was built from, as far as the registry still has them (its exact
        forecaster version; bookings need the CRM, which a stored proposal does not name)."""
        forecast = p.input_models.get(FORECAST_MODEL)
        version = forecast.get("version") if isinstance(forecast, dict) else None
        return cls(forecast_alias=str(version) if version else CHAMPION, quiet_scores=True)

    def batch(self) -> BatchForecast:
        if self._batch is None:
            from salesplan.models.batch import load_batch

            with progress(f"loading the forecast batch of {FORECAST_MODEL}@{self.forecast_alias}"):
                self._batch = load_batch(alias=self.forecast_alias)
        return self._batch

    def scores(self) -> tuple[pd.DataFrame | None, ModelStamps]:
        """Scores of the CRM's open deals by the deal champion, or none (historical win rates) when there
        is no deal model yet."""
        if self._scores is None:
            from salesplan.models.deals.features import features_asof
            from salesplan.models.registry import load_deal_scorer

            crm = self.need_crm()
            try:
                with progress("scoring open deals"):
                    scorer, ref = load_deal_scorer(self.deals_alias)
                    self._scores = scorer.score_frame(features_asof(crm)), {DEALS_MODEL: _stamp(ref)}
            except ModelNotFoundError as exc:
                if not self.quiet_scores:
                    console.print(
                        f"[yellow]no deal scores:[/] {exc}; open deals count at historical win rates",
                        soft_wrap=True,
                    )
                self._scores = None, {}
        return self._scores

    def need_crm(self) -> CRMData:
        if self.crm is None:
            raise ConfigError("a bookings plan needs the CRM: give --simulated, --data DIR or --dataset NAME")
        return self.crm

    def plan_inputs(
        self, quarter: str, by: tuple[str, ...], domain: PlanDomain, ramp: tuple[float, ...]
    ) -> SourcedInputs:
        from salesplan.planning.proposals import bookings_inputs, check_quarter_range, sellout_inputs
        from salesplan.serving.plan_inputs import batch_span, crm_span

        if domain == "sellout":
            batch = self.batch()
            check_quarter_range(quarter, *batch_span(batch), f"the forecast batch v{batch.ref.version}")
            with progress("building the plan inputs"):
                plan = sellout_inputs(quarter, by, batch.forecast, batch.history)
            return SourcedInputs(plan, {batch.ref.name: _stamp(batch.ref)})
        crm = self.need_crm()
        check_quarter_range(quarter, *crm_span(crm), "the CRM")
        scores, models = self.scores()
        with progress("building the bookings distributions"):
            plan = bookings_inputs(quarter, by, crm, scores=scores, ramp=ramp)
        return SourcedInputs(plan, models)

    def history(self, domain: PlanDomain) -> pd.DataFrame:
        """Quarterly actuals of the top unit (``period, y``) for the report's fan chart: complete quarters
        of the CRM's won value, or the batch's total history."""
        if domain == "sellout":
            h = self.batch().history
            return h[(h["level"] == "total") & (h["freq"] == "Q")][["period", "y"]]
        from salesplan.cli._plan_io import crm_end
        from salesplan.planning.bookings import quarterly_bookings

        crm = self.need_crm()
        b = quarterly_bookings(crm)
        complete = pd.PeriodIndex(b["quarter"], freq="Q").end_time <= crm_end(
            crm
        )  # the running one is partial
        won = b[complete].groupby("quarter")["won_value"].sum()
        return pd.DataFrame({"period": won.index.astype(str), "y": won.to_numpy()})
