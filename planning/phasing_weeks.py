"""Weekly phasing of a phased unit tree, to the cent, where the data are weekly (#19).

Weeks do not nest in months, so a week that straddles a month boundary is cut into two **pieces**, one in
each month (a week straddling the quarter's start or end keeps only its days inside the quarter). Every
month of every unit is split over its pieces exactly as :func:`planning.phasing.phase_tree` splits a
quarter over its months, with the same guarantees:

- each unit's pieces of a month sum to its month (so its weeks sum to its quarter, and a straddling week
  is the sum of its two pieces, consistent with the months when both are shown);
- at every level the children's pieces sum to their parent's pieces (× (1 + o) with over-assignment), so
  a region's week is its stores' weeks;
- shape: a unit's own weekly shape (the forecast's weekly means, or last year's weeks) shrunk toward its
  parent's final shape, ``(n·own + k·parent) / (n + k)`` with the same ``k = SHRINK_K`` and evidence as
  the months (a unit with little history borrows its parent's weeks; the root with none splits by days).

A week's own value is spread over its days, so a piece of a straddling week weighs its share of days."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.planning.phasing import SHRINK_K, balance_margins, round_margins, split_cents, unit_tree

__all__ = [
    "WeekShape",
    "phase_weeks",
    "week_pieces",
    "weekly_record",
    "weekly_wide",
    "weeks_from_record",
]

WeekShape = Literal["forecast", "last_year", "even"]


def week_pieces(quarter: object, week_start: int = 0) -> pd.DataFrame:
    """The quarter's week pieces in time order: ``week`` (the week's first day), ``w`` (1..n), ``month``
    (``2027-01``), ``m`` (1..3) and ``days`` inside both the quarter and the month."""
    try:
        q = pd.Period(str(quarter), freq="Q")
    except (ValueError, TypeError):
        raise ConfigError(f"quarter {quarter!r} not understood; use e.g. '2026Q1'") from None
    if not 0 <= int(week_start) <= 6:
        raise ConfigError(f"week_start is a weekday 0 (Monday) … 6 (Sunday), got {week_start}")
    days = pd.date_range(q.start_time.normalize(), q.end_time.normalize(), freq="D")
    week = days - pd.to_timedelta((days.dayofweek - int(week_start)) % 7, unit="D")
    month = days.to_period("M")
    first = q.asfreq("M", "start")
    frame = pd.DataFrame(
        {"week": week, "month": month.astype(str), "m": (month - first).map(lambda d: d.n) + 1}
    )
    out = frame.groupby(["week", "month", "m"], as_index=False).size().rename(columns={"size": "days"})
    out["w"] = pd.factorize(out["week"])[0] + 1
    return out[["week", "w", "month", "m", "days"]]


def _own(
    ids: pd.Series, pieces: pd.DataFrame, shape: WeekShape, source: pd.DataFrame | None, value: str | None,
    shares: pd.DataFrame | None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Own weight per unit and piece (NaN: none) and own evidence (inf for given shares)."""
    own = np.full((len(ids), len(pieces)), np.nan)
    n = np.zeros(len(ids))
    if shares is not None:
        need = [c for c in ("unit_id", "week", "month", "weight") if c not in shares.columns]
        if need:
            raise DataValidationError([Problem(c, "column missing") for c in need], "weekly shares")
        key = pd.MultiIndex.from_arrays([shares["unit_id"].astype(str), pd.to_datetime(shares["week"]),
                                         shares["month"].astype(str)])  # fmt: skip
        got = pd.Series(pd.to_numeric(shares["weight"], errors="coerce").to_numpy(), index=key)
        got = got.groupby(level=[0, 1, 2]).sum()
        want = pd.MultiIndex.from_arrays([
            np.repeat(ids.to_numpy(), len(pieces)), np.tile(pieces["week"].to_numpy(), len(ids)),
            np.tile(pieces["month"].to_numpy(), len(ids)),
        ])  # fmt: skip
        own = got.reindex(want).to_numpy(float).reshape(len(ids), len(pieces))
        has = ~np.isnan(own).all(axis=1)
        own = np.where(has[:, None], np.nan_to_num(np.maximum(own, 0.0)), np.nan)
        return own, np.where(has, np.inf, 0.0)
    if shape == "even" or source is None or source.empty:
        return own, n
    col = value or ("yhat" if shape == "forecast" else "y")
    idc = "unit_id" if "unit_id" in source.columns else "unique_id"
    shift = pd.Timedelta(weeks=52 if shape == "last_year" else 0)  # 52 weeks keep the weekday
    src = pd.DataFrame({"unit_id": source[idc].astype(str), "week": pd.to_datetime(source["ds"]) + shift,
                        "v": pd.to_numeric(source[col], errors="coerce")}).dropna()  # fmt: skip
    weeks = set(pieces["week"])
    src = src[src["week"].isin(weeks)]
    per = src.groupby(["unit_id", "week"])["v"].sum()
    want = pd.MultiIndex.from_arrays(
        [np.repeat(ids.to_numpy(), len(pieces)), np.tile(pieces["week"].to_numpy(), len(ids))]
    )
    v = per.reindex(want).to_numpy(float).reshape(len(ids), len(pieces))
    has = ~np.isnan(v).all(axis=1) & (np.nansum(np.maximum(v, 0.0), axis=1) > 0)
    own = np.where(
        has[:, None], np.maximum(np.nan_to_num(v), 0.0) * pieces["days"].to_numpy(float) / 7, np.nan
    )
    ev = src.groupby("unit_id")["v"].size() if shape == "last_year" else src.groupby("unit_id")["v"].sum()
    n = np.where(has, ev.reindex(ids.to_numpy()).fillna(0.0).clip(lower=0.0).to_numpy(float), 0.0)
    return own, n


def phase_weeks(
    units: pd.DataFrame,
    months: pd.DataFrame,
    quarter: object,
    shape: WeekShape = "forecast",
    *,
    source: pd.DataFrame | None = None,
    value: str | None = None,
    week_start: int = 0,
    shrink: float = SHRINK_K,
    shares: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Week pieces of every unit (module doc): ``unit_id, week, w, month, m, target, shape, own_weight``.

    ``units``: ``unit_id, parent_id`` (the tree); ``months``: the unit's months (``unit_id, m, target``,
    :func:`phase_tree`'s output, or wide ``m1..m3``) — the weeks add up to them. ``source``: the weekly
    shape (``unique_id``/``unit_id``, ``ds`` = week start, ``yhat`` for the forecast, ``y`` of last year's
    weeks for ``last_year``); ``shares`` (``unit_id, week, month, weight``) gives each unit's pieces
    outright (fully trusted): re-phasing keeps a stored proposal's weekly shape."""
    if shape not in ("forecast", "last_year", "even"):
        raise ConfigError(f"shape must be 'forecast', 'last_year' or 'even', got {shape!r}")
    if shrink < 0:
        raise ConfigError(f"shrink is the parent's weight and must be ≥ 0, got {shrink}")
    u, ids, par, depth = unit_tree(units, "weekly phasing")
    wide_m = months if "m1" in months.columns else months.pivot_table(index="unit_id", columns="m",
                                                                      values="target", aggfunc="sum")  # fmt: skip
    if "m1" not in wide_m.columns:
        wide_m.columns = [f"m{int(c)}" for c in wide_m.columns]
        wide_m = wide_m.reset_index()
    mcents = np.rint(
        wide_m.assign(unit_id=wide_m["unit_id"].astype(str)).set_index("unit_id")[["m1", "m2", "m3"]]
        .reindex(ids).fillna(0.0).to_numpy(float) * 100
    )  # fmt: skip
    pieces = week_pieces(quarter, week_start)
    own, n = _own(ids, pieces, shape, source, value, shares)
    with np.errstate(invalid="ignore"):  # given shares: inf / inf, trusted fully
        w_own = np.where(np.isinf(n), 1.0, n / (n + shrink)) if shrink > 0 else np.ones(len(u))
    cells = np.zeros((len(u), len(pieces)))
    for m in (1, 2, 3):
        idx = np.flatnonzero(pieces["m"].to_numpy() == m)
        days = pieces["days"].to_numpy(float)[idx]
        o = own[:, idx]
        tot = np.nansum(o, axis=1)
        has = ~np.isnan(o).all(axis=1) & (tot > 0)
        o = np.where(has[:, None], np.nan_to_num(o) / np.where(has, tot, 1.0)[:, None], 0.0)
        final = np.zeros((len(u), len(idx)))
        for d in range(int(depth.max()) + 1 if len(u) else 0):
            at = np.flatnonzero(depth == d)
            if d == 0:
                final[at] = np.where(has[at, None], o[at], days / days.sum())
                cells[np.ix_(at, idx)] = split_cents(mcents[at, m - 1] / 100, final[at]) * 100
                continue
            p = par[at]
            w = np.where(has[at], w_own[at], 0.0)[:, None]
            final[at] = w * o[at] + (1 - w) * final[p]
            groups, g = np.unique(p, return_inverse=True)
            kids = np.bincount(g, weights=mcents[at, m - 1])
            cols = np.rint(split_cents(kids / 100, cells[np.ix_(groups, idx)]) * 100)
            x = balance_margins(mcents[at, m - 1, None] * final[at], mcents[at, m - 1], cols, g)
            cells[np.ix_(at, idx)] = round_margins(x, mcents[at, m - 1], cols, g)
    given = "given" if shares is not None else shape
    has_any = ~np.isnan(own).all(axis=1)
    label = np.where(has_any, given, np.where(depth > 0, "parent", "even"))
    k = len(pieces)
    return pd.DataFrame(
        {
            "unit_id": np.repeat(ids.to_numpy(), k),
            "week": np.tile(pieces["week"].to_numpy(), len(u)),
            "w": np.tile(pieces["w"].to_numpy(), len(u)),
            "month": np.tile(pieces["month"].to_numpy(), len(u)),
            "m": np.tile(pieces["m"].to_numpy(), len(u)),
            "target": (cells / 100).ravel(),
            "shape": np.repeat(label, k),
            "own_weight": np.repeat(np.where(has_any, w_own, 0.0), k),
        }
    )


def weekly_wide(pieces: pd.DataFrame) -> pd.DataFrame:
    """``unit_id`` and one column per week (``w1`` … ``wN``: a straddling week's two pieces summed)."""
    w = pieces.pivot_table(index="unit_id", columns="w", values="target", aggfunc="sum", sort=False)
    w.columns = [f"w{int(c)}" for c in w.columns]
    return w.round(2).reset_index()


def weekly_record(pieces: pd.DataFrame, week_start: int) -> dict[str, object]:
    """The stored form of a proposal's weekly phasing (JSON): the pieces (week, month) and each unit's
    cents per piece, which later re-phasing keeps as the unit's weekly shape (:func:`weeks_from_record`)."""
    first = pieces[pieces["unit_id"] == pieces["unit_id"].iloc[0]]
    return {
        "week_start": int(week_start),
        "pieces": [[pd.Timestamp(w).date().isoformat(), str(m)] for w, m in zip(first["week"], first["month"],
                                                                                 strict=True)],
        "units": {str(u): [round(float(v), 2) for v in g["target"]] for u, g in pieces.groupby("unit_id", sort=False)},
    }  # fmt: skip


def weeks_from_record(record: dict[str, object], rows: pd.DataFrame, quarter: object) -> pd.DataFrame:
    """Week pieces of a stored proposal's current rows (``unit_id, parent_id, m1..m3``): each unit's
    months (overrides included) split by the weekly shape stored at creation, adding up both ways."""
    pieces = record.get("pieces")
    units = record.get("units")
    if not isinstance(pieces, list) or not isinstance(units, dict):
        raise ConfigError("the stored weekly phasing is malformed; re-create the proposal")
    wk = [pd.Timestamp(p[0]) for p in pieces]
    mo = [str(p[1]) for p in pieces]
    shares = pd.DataFrame(
        [(str(u), w, m, float(v)) for u, vals in units.items() for w, m, v in zip(wk, mo, vals, strict=True)],
        columns=["unit_id", "week", "month", "weight"],
    )
    start = record.get("week_start", 0)
    return phase_weeks(
        rows, rows, quarter, shares=shares, week_start=int(start) if isinstance(start, int) else 0
    )
