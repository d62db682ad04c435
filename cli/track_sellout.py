"""The sell-out track record: past quarters planned as ``salesplan plan targets`` plans sell-out, each from a
forecaster trained as ``salesplan train forecast`` trains it (the production model, its rolling-origin
backtest calibrating the quantiles, the batch of every level) on the data before the quarter, then scored
on what sold. It lives in the CLI layer because it needs both the training job and planning.

Each quarter refits the default forecaster (``n_origins`` + 1 fits), so a replay takes minutes on a few
dozen series and much longer on thousands: ``store_level`` (Walmart stores, departments summed) is how
the benchmark keeps Walmart's replay tractable, and says so."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from salesplan.contracts import Hierarchy, SelloutDataset, SelloutSpec
from salesplan.planning.proposals import PlanInputs, ProposalRequest, sellout_inputs
from salesplan.planning.track_record import TrackRecord, replay_targets
from salesplan.training.forecast_job import default_batch
from salesplan.training.forecast_levels import history_levels

__all__ = ["SelloutReplay", "last_day", "store_level"]


def last_day(dataset: SelloutDataset) -> pd.Timestamp:
    """The last day the data cover: a weekly row's week runs six days past its date."""
    end = pd.Timestamp(dataset.df["ds"].max())
    return end + pd.Timedelta(days=6) if dataset.spec.freq == "W" else end


def store_level(dataset: SelloutDataset, geo: Sequence[str] = ("store_type", "store")) -> SelloutDataset:
    """Sales summed over the product dimension to one series per bottom geo unit (e.g. Walmart's store),
    keeping the geo hierarchy and the regressors that are per store and week."""
    spec = dataset.spec
    df = dataset.df
    key = list(geo)
    per_store = [c for c in (*spec.exog_cols, *spec.promo_cols) if c in df.columns]
    agg = df.groupby([*key, "ds"], as_index=False, observed=True).agg(
        y=("y", "sum"), **{c: (c, "first") for c in per_store}, **{c: (c, "first") for c in spec.static_cols}
    )
    agg["unique_id"] = agg[key[-1]].astype(str)
    hier = Hierarchy(levels={"geo": key})
    new = SelloutSpec(
        freq=spec.freq, hierarchy=hier, promo_cols=spec.promo_cols, exog_cols=spec.exog_cols,
        static_cols=spec.static_cols, allow_negative=spec.allow_negative,
    )  # fmt: skip
    return SelloutDataset(agg, new, f"{dataset.name} (store level)", [*dataset.notes, "summed to stores"])


class SelloutReplay:
    """Quarters of one sell-out data set, each planned from a forecaster trained on the data before it."""

    def __init__(
        self,
        dataset: SelloutDataset,
        quarters: Sequence[str],
        *,
        n_origins: int = 3,
        on_stage: Callable[[str], None] | None = None,
    ) -> None:
        self.dataset, self.quarters = dataset, [str(pd.Period(str(q), freq="Q")) for q in quarters]
        self.n_origins, self.on_stage = n_origins, on_stage
        self._batches: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        q_hist = history_levels(dataset, ["Q"])
        self._actual = q_hist[q_hist["freq"] == "Q"]

    def _say(self, what: str) -> None:
        if self.on_stage is not None:
            self.on_stage(what)

    def batch(self, q: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The forecast and history frames of the batch a forecaster trained before ``q`` writes."""
        if q not in self._batches:
            start = pd.Period(q, freq="Q").start_time
            df = self.dataset.df
            # whole periods before the quarter only: a week that straddles its first day is forecast
            known = (
                df["ds"] + pd.Timedelta(days=7) <= start
                if self.dataset.spec.freq == "W"
                else df["ds"] < start
            )
            before = SelloutDataset(df[known].reset_index(drop=True), self.dataset.spec, self.dataset.name)
            future = df[~known].drop(columns=["y"])  # planned prices, promotions, holidays
            self._say(f"{q}: backtesting the default forecaster on data before {start.date()}")
            built = default_batch(
                before, n_origins=self.n_origins, future=future, on_stage=lambda t: self._say(f"{q}: {t}")
            )
            self._batches[q] = (built.forecast, built.history)
        return self._batches[q]

    def inputs_for(self, q: str, request: ProposalRequest) -> PlanInputs:
        forecast, history = self.batch(q)
        return sellout_inputs(q, request.by, forecast, history)

    def actuals_for(self, q: str) -> pd.Series:
        a = self._actual[self._actual["period"].astype(str) == q]
        return a.groupby(a["unique_id"].astype(str))["y"].sum()

    def record(self, request: ProposalRequest) -> TrackRecord:
        return replay_targets(self.quarters, lambda q: self.inputs_for(q, request), self.actuals_for, request)
