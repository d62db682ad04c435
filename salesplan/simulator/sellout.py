"""Weekly sell-out of stores × products with known causal structure, generated on a dense
(store, product, week) grid in numpy and then cut to each series' life (launch .. discontinuation).

log E[units] = base(store size × product popularity × channel) + trend + category season + holiday
             + elasticity · log(price / reference price) + log promo_lift·promo + log post-promo dip
             + log(1 − cannibalisation · share of category siblings on promo) + log launch ramp;
units ~ negative binomial (gamma-Poisson) around that mean."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.contracts import Hierarchy, SelloutSpec
from salesplan.simulator.calendar import HOLIDAY_LIFTS, fourier, holiday_weeks
from salesplan.simulator.config import MAX_HORIZON, SimConfig

SPEC = SelloutSpec(
    freq="W",
    hierarchy=Hierarchy({"geo": ["region", "store"], "product": ["category", "product"]}),
    promo_cols=("promo", "promo_depth"),
    exog_cols=("holiday",),
    static_cols=("channel",),
)
REGION_NAMES = ("North", "South", "East", "West", "Central", "Coastal")
CATEGORY_NAMES = (
    "Beverages", "Snacks", "Dairy", "Bakery", "Frozen", "Household",
    "Personal Care", "Pantry", "Pet", "Baby", "Produce", "Deli",
)  # fmt: skip
CHANNELS = ("store", "online", "wholesale")
CHANNEL_LEVEL = np.log([1.0, 0.6, 1.8])  # online sells less per "store", wholesale more
CHANNEL_PRICE = np.array([1.0, 0.95, 0.8])
PROMO_BLOCK = 8  # at most one promotion per 8-week block: leaves room for the 2-week post-promo dip
PROMO_DEPTHS = np.array([0.1, 0.15, 0.2, 0.25, 0.3, 0.35])
LAUNCH_TAU = 4.0  # weeks: launch ramp 1 − exp(−(weeks since launch + 1) / tau)
FUTURE_GRID = MAX_HORIZON
"""Weeks of future every world is drawn with, whatever ``SimConfig.horizon`` shows of them: the random
draws then never depend on the horizon, so one seed gives the same history for any planned horizon (it
used to change the history: the demo's 18-week world and the CLI's 13-week world of the same seed
differed, and so did their backtest scores)."""
MEDIAN_UNITS = 6.0


@dataclass
class SelloutResult:
    """The frame plus the ground truth behind it (per product, per series, per week)."""

    df: pd.DataFrame
    expected: np.ndarray  # noise-free mean per row of ``df``
    future: pd.DataFrame  # planned regressors after ``end`` (no y): what a forecaster may use
    future_expected: np.ndarray  # noise-free mean per row of ``future``
    future_y: np.ndarray  # what will actually sell per row of ``future`` (for scoring forecasts)
    elasticity: pd.Series
    holiday_lifts: pd.Series
    holidays: pd.Series  # holiday name per week ("" if none)
    seasonality: pd.DataFrame  # category × week, multiplicative
    series: pd.DataFrame  # per unique_id: start, end, launch/discontinue dates, base level, ...
    regions: tuple[str, ...]


def n_regions_for(n_stores: int) -> int:
    return int(np.clip(round(np.sqrt(n_stores) / 1.5), 1 if n_stores < 2 else 2, len(REGION_NAMES)))


def _names(prefix: str, n: int) -> np.ndarray:
    w = max(2 if prefix == "S" else 3, len(str(n)))
    return np.array([f"{prefix}{i + 1:0{w}d}" for i in range(n)])


def _cat(codes: np.ndarray, names: Sequence[str] | np.ndarray) -> np.ndarray:
    """Strings by integer code as an object array sharing one str per level: millions of rows cost
    a pointer each, not a new string each (and no categorical dtype leaks to users)."""
    return np.asarray(list(names), dtype=object)[codes]


def _balanced(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Assign n items to k groups, every group non-empty (when n >= k)."""
    return rng.permutation(np.arange(n) % k)


def _promotions(rng: np.random.Generator, n_r: int, n_p: int, n_t: int) -> tuple[np.ndarray, np.ndarray]:
    """Promo flag and depth per (region, product, week): ≤ 1 event of 1–2 weeks per 8-week block,
    with a random phase per series so calendars do not line up."""
    n_b = n_t // PROMO_BLOCK + 2
    has = rng.random((n_r, n_p, n_b)) < 0.45
    start = rng.integers(0, PROMO_BLOCK - 3, (n_r, n_p, n_b))
    dur = rng.integers(1, 3, (n_r, n_p, n_b))
    depth = rng.choice(PROMO_DEPTHS, (n_r, n_p, n_b))
    phase = rng.integers(0, PROMO_BLOCK, (n_r, n_p, 1))
    t = np.arange(n_t)[None, None, :] + phase
    block, off = t // PROMO_BLOCK, t % PROMO_BLOCK
    s = np.take_along_axis(start, block, 2)
    on = np.take_along_axis(has, block, 2) & (off >= s) & (off < s + np.take_along_axis(dur, block, 2))
    return on, np.where(on, np.take_along_axis(depth, block, 2), 0.0)


def _some(rng: np.random.Generator, n: int, share: float, exclude: np.ndarray | None = None) -> np.ndarray:
    """Exactly round(share · n) items (at least one when share > 0): every small world shows the effect."""
    pool = np.flatnonzero(~exclude) if exclude is not None else np.arange(n)
    k = min(pool.size, max(int(share > 0), round(share * n)))
    out = np.zeros(n, dtype=bool)
    out[rng.choice(pool, k, replace=False)] = True
    return out


def _weeks(rng: np.random.Generator, n_t: int, after: int, before_end: int, size: int) -> np.ndarray:
    """Random week indices at least ``after`` weeks in and ``before_end`` weeks before the end, both
    margins shrunk proportionally when the history is short (60 weeks still works)."""
    lo = min(after, n_t * after // 156)
    hi = max(lo + 1, n_t - min(before_end, n_t * before_end // 156))
    return rng.integers(lo, hi, size)


def _lag(a: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(a)
    out[..., k:] = a[..., :-k]
    return out


def simulate_sellout(cfg: SimConfig, rng: np.random.Generator) -> SelloutResult:
    """Generate the sell-out frame (unvalidated) and its truth."""
    n_s, n_p, n_t = cfg.stores, cfg.products, cfg.weeks
    n_all = n_t + FUTURE_GRID  # the grid runs on into the future (prices, promos, holidays), cut below
    n_keep = n_t + cfg.horizon
    weeks = pd.date_range(start=cfg.weeks_index[0], periods=n_all, freq="7D")
    n_r = n_regions_for(n_s)
    n_c = int(np.clip(round(n_p / 8), 2 if n_p > 1 else 1, len(CATEGORY_NAMES)))
    regions, categories = REGION_NAMES[:n_r], CATEGORY_NAMES[:n_c]
    store_names, product_names = _names("S", n_s), _names("P", n_p)

    # --- structure: region and channel per store, category per product
    store_region = _balanced(rng, n_s, n_r)
    store_channel = rng.choice(len(CHANNELS), n_s, p=[0.6, 0.2, 0.2])
    store_channel[rng.permutation(n_s)[: min(n_s, 3)]] = np.arange(min(n_s, 3))
    prod_cat = _balanced(rng, n_p, n_c)

    # --- levels: store size × product popularity × channel; a share of slow movers
    store_size = rng.normal(0, 0.45, n_s)
    popularity = rng.normal(0, 0.9, n_p)
    slow = _some(rng, n_p, cfg.intermittent_share)
    popularity[slow] = rng.normal(np.log(0.25 / MEDIAN_UNITS), 0.4, slow.sum())
    base = (
        np.log(MEDIAN_UNITS)
        + store_size[:, None]
        + popularity[None, :]
        + CHANNEL_LEVEL[store_channel][:, None]
    )  # (S, P)
    years = (np.arange(n_all) - (n_t - 1) / 2) / 52.0
    slope = rng.normal(0.03, 0.08, n_p)[None, :] + rng.normal(0, 0.04, n_s)[:, None]

    # --- season (category Fourier shape) and holidays
    four = fourier(weeks, 2)
    coef = rng.normal(0, 0.16, (n_c, four.shape[1]))
    season_c = coef @ four.T  # (C, T) in logs
    hol = holiday_weeks(weeks)
    hol_lift = np.array([HOLIDAY_LIFTS.get(h, 1.0) for h in hol.to_numpy()])
    holiday = (hol.to_numpy() != "").astype(float)

    # --- prices: list price with permanent changes, store price zones per quarter, promo discounts
    list_price = np.exp(rng.normal(np.log(6.0), 0.7, n_p))
    n_changes = rng.poisson(1.5, n_p)
    change = np.zeros((n_p, n_all))
    rows = np.repeat(np.arange(n_p), n_changes)
    change[rows, rng.integers(8, n_all, rows.size)] += rng.normal(0.04, 0.07, rows.size)
    perm = np.cumsum(change, axis=1)  # (P, T) log multiplier
    zone = rng.normal(0, 0.03, (n_s, 1, 1)) + rng.normal(0, 0.06, (n_s, n_p, n_all // 13 + 1))
    zone = np.repeat(zone, 13, axis=2)[:, :, :n_all]
    zone_dev = zone - zone[:, :, :1]  # deviations from the series' starting zone price
    ref_price = np.round(
        list_price[None, :] * CHANNEL_PRICE[store_channel][:, None] * np.exp(zone[:, :, 0]), 2
    )
    regular = np.round(ref_price[:, :, None] * np.exp(perm[None, :, :] + zone_dev), 2)
    promo_r, depth_r = _promotions(rng, n_r, n_p, n_all)
    promo, depth = promo_r[store_region], depth_r[store_region]  # (S, P, T)
    price = np.where(promo, np.round(regular * (1 - depth), 2), regular)

    # --- cannibalisation: share of the other products of the category on promo in the region
    onehot = np.eye(n_c)[prod_cat]  # (P, C)
    cat_on = np.einsum("rpt,pc->rct", promo_r.astype(float), onehot)  # (R, C, T)
    cat_n = onehot.sum(axis=0)[prod_cat]  # products in own category
    others = (cat_on[:, prod_cat, :] - promo_r) / np.maximum(cat_n - 1, 1)[None, :, None]
    cannib = np.where(promo_r, 1.0, 1.0 - cfg.cannibalisation * others)  # (R, P, T)

    # --- series life: product launches, new stores, discontinuations and delistings
    start = np.zeros((n_s, n_p), dtype=int)
    end = np.full((n_s, n_p), n_t - 1)
    launched = _some(rng, n_p, cfg.launch_share)
    start[:, launched] = _weeks(rng, n_t, 26, 40, launched.sum())[None, :]
    if n_s >= 5:
        new_store = rng.random(n_s) < 0.1
        start[new_store, :] = np.maximum(
            start[new_store, :], _weeks(rng, n_t, 20, 60, new_store.sum())[:, None]
        )
    disc = _some(rng, n_p, cfg.discontinue_share, exclude=launched)
    end[:, disc] = _weeks(rng, n_t, 52, 13, disc.sum())[None, :]
    delist = rng.random((n_s, n_p)) < 0.03
    end[delist] = np.minimum(end[delist], _weeks(rng, n_t, 60, 8, delist.sum()))
    end = np.minimum(np.maximum(end, start + 26), n_t - 1)  # ≥ half a year of life where history allows
    end_all = np.where(end == n_t - 1, n_all - 1, end)  # series alive at the end run on into the future

    # --- the mean (promo terms at region level, then one gather per store), then NB noise
    elasticity = rng.uniform(-2.5, -0.8, n_p)
    dip1, dip2 = cfg.post_promo_dip
    after1 = _lag(promo_r, 1) & ~promo_r
    after2 = _lag(promo_r, 2) & ~_lag(promo_r, 1) & ~promo_r
    promo_terms = (
        np.log(cfg.promo_lift) * promo_r
        + np.log1p(-dip1) * after1
        + np.log1p(-dip2) * after2
        + np.log(cannib)
    )
    log_mu = promo_terms[store_region]  # (S, P, T), accumulated in place below
    log_mu += base[:, :, None]
    log_mu += slope[:, :, None] * years[None, None, :]
    log_mu += season_c[prod_cat][None, :, :] + np.log(hol_lift)[None, None, :]
    log_mu += elasticity[None, :, None] * np.log(price / ref_price[:, :, None])
    t_idx = np.arange(n_all)[None, None, :]
    alive = (t_idx >= start[:, :, None]) & (t_idx <= end_all[:, :, None])
    sid, pid, tid = np.nonzero(alive)
    st = start[sid, pid]
    ramp = np.where(st > 0, 1 - np.exp(-(tid - st + 1) / LAUNCH_TAU), 1.0)  # launch / new-store ramp
    mu = np.exp(log_mu[alive]) * ramp
    disp = np.exp(rng.normal(np.log(12.0), 0.5, n_p))  # NB size per product: variance mu + mu²/size
    lam = mu * rng.gamma(disp[pid], 1.0 / disp[pid])
    y = rng.poisson(lam).astype(float)

    keep = tid < n_keep  # the planned future the config shows
    sid, pid, tid, mu, y = sid[keep], pid[keep], tid[keep], mu[keep], y[keep]
    series_ix = sid * n_p + pid
    uid_names = np.char.add(np.char.add(store_names[:, None], "/"), product_names[None, :]).ravel()
    pr = price[alive][keep]
    frame = pd.DataFrame(
        {
            "unique_id": _cat(series_ix, uid_names),
            "ds": weeks.to_numpy()[tid],
            "y": y,
            "revenue": np.round(y * pr, 2),
            "price": pr,
            "promo": promo[alive][keep].astype(float),
            "promo_depth": depth[alive][keep],
            "holiday": holiday[tid],
            "channel": _cat(store_channel[sid], list(CHANNELS)),
            "region": _cat(store_region[sid], list(regions)),
            "store": _cat(sid, store_names),
            "category": _cat(prod_cat[pid], list(categories)),
            "product": _cat(pid, product_names),
        }  # the column order validate_sellout returns
    )
    hist = tid < n_t
    df = frame[hist].reset_index(drop=True)
    future = frame[~hist].drop(columns=["y", "revenue"]).reset_index(drop=True)
    wk = weeks.to_numpy()
    series = pd.DataFrame(
        {
            "store": np.repeat(store_names, n_p),
            "product": np.tile(product_names, n_s),
            "start": wk[start.ravel()],
            "end": wk[end.ravel()],  # last history week
            "launch_date": pd.to_datetime(
                np.where(start.ravel() > 0, wk[start.ravel()], np.datetime64("NaT"))
            ),
            "discontinue_date": pd.to_datetime(
                np.where(end.ravel() < n_t - 1, wk[end.ravel()], np.datetime64("NaT"))
            ),
            "base_level": np.exp(base.ravel()),
            "reference_price": ref_price.ravel(),
            "intermittent": np.tile(slow, n_s),
            "nb_size": np.tile(disp, n_s),
        },
        index=pd.Index(uid_names, name="unique_id"),
    )
    return SelloutResult(
        df=df,
        expected=mu[hist],
        future=future,
        future_expected=mu[~hist],
        future_y=y[~hist],
        elasticity=pd.Series(elasticity, index=pd.Index(product_names, name="product"), name="elasticity"),
        holiday_lifts=pd.Series(HOLIDAY_LIFTS, name="holiday_lift"),
        holidays=pd.Series(hol.to_numpy()[:n_keep], index=weeks[:n_keep], name="holiday"),
        seasonality=pd.DataFrame(
            np.exp(season_c[:, :n_keep]), index=pd.Index(categories, name="category"), columns=weeks[:n_keep]
        ),
        series=series,
        regions=regions,
    )
