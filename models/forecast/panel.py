"""Panel helpers every forecaster shares: which columns a model may use (``Roles``), the contract and
pandas frequency of a panel, horizon steps, rolling-origin splits and the future grid. Split from
``base.py`` (which re-imports them, so models pickled with ``base.Roles`` still load)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesplan.contracts import FREQS, SelloutSpec
from salesplan.contracts.periods import pandas_freq as contract_pandas_freq
from salesplan.errors import ConfigError

__all__ = [
    "NOT_FEATURES",
    "Roles",
    "add_step",
    "future_grid",
    "infer_freq",
    "origin_splits",
    "pandas_freq",
    "resolve_roles",
]

_GAP_DAYS = {"D": 1.0, "W": 7.0, "M": 30.4, "Q": 91.3, "Y": 365.2}
NOT_FEATURES = ("unique_id", "ds", "y", "revenue")  # revenue = y · price: not known in advance


@dataclass
class Roles:
    """Which columns of a sell-out frame a model may use, and how."""

    regressors: list[str] = field(default_factory=list)  # known-future numeric (price, promo, exog)
    statics: list[str] = field(default_factory=list)  # one value per series (hierarchy, attributes)
    promo: list[str] = field(default_factory=list)
    hierarchy: dict[str, list[str]] = field(default_factory=dict)


def resolve_roles(df: pd.DataFrame, spec: SelloutSpec | None) -> Roles:
    """Roles from the spec when given; otherwise numeric columns that vary within a series are regressors
    and everything else (strings, per-series constants) is static."""
    if spec is not None:
        regs = [c for c in ("price", *spec.regressors) if c in df.columns]
        hier = spec.hierarchy.to_dict() if spec.hierarchy else {}
        statics = [c for c in (*spec.static_cols, *(spec.hierarchy.columns if spec.hierarchy else ()))]
        return Roles(regs, [c for c in statics if c in df.columns], list(spec.promo_cols), hier)
    regs, statics = [], []
    for c in df.columns:
        if c in NOT_FEATURES:
            continue
        numeric = pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        varies = bool((df.groupby("unique_id", sort=False)[c].nunique(dropna=False) > 1).any())
        (regs if numeric and varies else statics).append(c)
    promo = [c for c in regs if "promo" in c or c in ("deal", "feat")]
    return Roles(regs, statics, promo, {})


def pandas_freq(freq: str, ds: pd.Series) -> str:
    """Pandas offset alias of the contract freq (``salesplan.contracts.periods.pandas_freq``); weekly
    dates keep the weekday of ``ds`` (Monday → ``W-MON``)."""
    if freq not in FREQS:
        raise ConfigError(
            f"freq must be one of {list(FREQS)} (days, weeks, months, quarters, years), got {freq!r}"
        )
    return contract_pandas_freq(freq, int(ds.iloc[0].dayofweek) if freq == "W" else 0)


def infer_freq(ds: pd.Series, ids: pd.Series) -> str:
    """The contract frequency of a panel without a spec: the one whose period length is closest to the
    median gap between consecutive dates of a series (a plain ``unique_id, ds, y`` frame)."""
    d = pd.DataFrame({"u": ids.to_numpy(), "ds": pd.to_datetime(ds).to_numpy()}).sort_values(["u", "ds"])
    gaps = d.groupby("u", sort=False)["ds"].diff().dt.days.dropna()
    if gaps.empty:
        raise ConfigError(
            "cannot infer the frequency of series with a single date each; pass freq= (D, W, M, Q or Y) "
            "or a SelloutSpec"
        )
    med = float(gaps.median())
    return min(_GAP_DAYS, key=lambda f: abs(np.log(med / _GAP_DAYS[f])))


def add_step(fc: pd.DataFrame) -> pd.DataFrame:
    """Horizon step 1..h of each row within its series (and cutoff, when present)."""
    keys = ["unique_id", "cutoff"] if "cutoff" in fc.columns else ["unique_id"]
    fc = fc.sort_values([*keys, "ds"])
    return fc.assign(step=fc.groupby(keys, sort=False).cumcount() + 1)


def origin_splits(
    data: pd.DataFrame, h: int, n_windows: int, min_train: int
) -> list[tuple[int, pd.DataFrame, pd.DataFrame]]:
    """``(window, train, test)`` per rolling origin, oldest first: window ``w`` cuts each series ``w × h``
    periods before its own last period (so series that end on different dates are each backtested from
    their own end) and tests on the next ``h``. A series joins the windows that leave it ``min_train``
    periods of training; windows no series can join are skipped. ``data`` sorted by ``unique_id, ds``."""
    pos = data.groupby("unique_id", sort=False).cumcount(ascending=False).to_numpy()  # 0 = last period
    n = data.groupby("unique_id", sort=False)["y"].transform("size").to_numpy()
    out = []
    for w in range(n_windows, 0, -1):
        ok = n - w * h >= max(min_train, 1)
        train = data[ok & (pos >= w * h)]
        test = data[ok & (pos < w * h) & (pos >= (w - 1) * h)]
        if len(test):
            out.append((w, train, test))
    return out


def future_grid(last_ds: pd.Series, h: int, pfreq: str) -> pd.DataFrame:
    """``unique_id, ds`` for the ``h`` periods after each series' last date."""
    offset = pd.tseries.frequencies.to_offset(pfreq)
    uids = np.repeat(last_ds.index.to_numpy(), h)
    ds = [d + k * offset for d in last_ds for k in range(1, h + 1)]
    return pd.DataFrame({"unique_id": uids.astype(str), "ds": pd.DatetimeIndex(ds)})
