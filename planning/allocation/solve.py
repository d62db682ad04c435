"""Solving the parents whose proportional split breaks a bound, and exact rounding to cents.

All binding parents of one tree depth go into one sparse linear programme (HiGHS through scipy's
``linprog``): start from the split clipped to the bounds and move the other children as little as
possible relative to their proportional amounts; :func:`solve_exact` is the same LP's optimum in closed
form (linear time, for large batches). :func:`round_exact` then rounds to whole cents by largest remainder
within each parent, so every parent's sum is exact and every bound still holds."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

__all__ = ["fix_sum", "round_exact", "solve_exact", "solve_highs"]


def _moves(
    groups: np.ndarray, need: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, ...]:
    """The LP's data per child: start c = clip(d, lo, hi), direction and size of the gap of its parent,
    room to move that way and weight w (its proportional amount; a tiny floor so zero-potential units move
    last)."""
    c0 = np.clip(d, lo, hi)
    gap = need[groups] - np.bincount(groups, weights=c0, minlength=len(need))[groups]
    up = gap >= 0
    room = np.where(up, hi - c0, c0 - lo)
    w = np.maximum(d, 1e-9 * np.maximum(need[groups], 1.0))
    return c0, np.abs(gap), up, room, w


_HIGHS_TOL = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def solve_highs(
    groups: np.ndarray, need: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """One sparse HiGHS LP for all binding parents: minimise Σ_g z_g subject to 0 ≤ m_i ≤ room_i,
    m_i ≤ z_g·w_i and Σ_{i∈g} m_i = gap_g; x = c ± m. Scaled to shares of the parent's total."""
    c0, gap, up, room, w = _moves(groups, need, d, lo, hi)
    g_ids, gi = np.unique(groups, return_inverse=True)
    n, ng = len(d), len(g_ids)
    scale = np.maximum(need[groups], 1.0)
    rows = np.arange(n)
    a_ub = sparse.hstack(
        [sparse.eye(n, format="csr"), sparse.csr_matrix((-w / scale, (rows, gi)), shape=(n, ng))]
    )
    a_eq = sparse.hstack(
        [sparse.csr_matrix((np.ones(n), (gi, rows)), shape=(ng, n)), sparse.csr_matrix((ng, ng))]
    )
    ub = np.concatenate([np.where(np.isfinite(room), room / scale, np.inf), np.full(ng, np.inf)])
    bnd = [(0.0, None if not np.isfinite(v) else float(v)) for v in ub]
    b_eq = np.bincount(gi, weights=gap / scale, minlength=ng) / np.bincount(gi, minlength=ng)
    res = linprog(
        np.r_[np.zeros(n), np.ones(ng)],
        A_ub=a_ub.tocsr(),
        b_ub=np.zeros(n),
        A_eq=a_eq.tocsr(),
        b_eq=b_eq,
        bounds=bnd,
        method="highs",
        options=_HIGHS_TOL,
    )
    if res.status != 0:  # feasibility was proven by the sums; a numerically hard batch (a zero-potential
        # unit that must absorb a gap, caps that meet the need exactly) goes to the closed form instead
        return solve_exact(groups, need, d, lo, hi)
    m = np.minimum(res.x[:n] * scale, room)
    return np.clip(np.where(up, c0 + m, c0 - m), lo, hi)


def solve_exact(
    groups: np.ndarray, need: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """The same LP's optimum in closed form: m_i = min(z·w_i, room_i) with z the root of the increasing
    piecewise-linear Σ m_i(z) = gap, found between the sorted breakpoints room_i / w_i of each parent."""
    c0, gap, up, room, w = _moves(groups, need, d, lo, hi)
    b = room / w
    order = np.lexsort((b, groups))
    g, bs, ws, rs = groups[order], b[order], w[order], room[order]
    start = np.searchsorted(g, g, side="left")
    end = np.searchsorted(g, g, side="right")
    cw, cr = np.cumsum(ws), np.cumsum(np.where(np.isfinite(rs), rs, 0.0))
    ninf = np.cumsum(~np.isfinite(rs))
    base_w = np.where(start > 0, cw[start - 1], 0.0)
    base_r = np.where(start > 0, cr[start - 1], 0.0)
    base_n = np.where(start > 0, ninf[start - 1], 0)
    r_le = np.where(ninf - base_n > 0, np.inf, cr - base_r)  # Σ room of breakpoints ≤ this one
    w_gt = cw[end - 1] - cw  # Σ w after this one
    # Σ m at z = this breakpoint
    s_at = r_le + np.where(w_gt > 0, np.where(np.isfinite(bs), bs, 0.0) * w_gt, 0.0)
    s_at = np.where(np.isfinite(bs) | (w_gt == 0), s_at, np.inf)
    ok = s_at >= gap[order] * (1 - 1e-12)
    heads = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    pos = np.where(ok, np.arange(len(g)), len(g))
    k = np.minimum(np.repeat(np.minimum.reduceat(pos, heads), np.diff(np.r_[heads, len(g)])), end - 1)
    r_lt = np.where(k > start, cr[np.maximum(k - 1, 0)] - base_r, 0.0)
    w_ge = cw[end - 1] - np.where(k > start, cw[np.maximum(k - 1, 0)], base_w)
    z = np.where(w_ge > 0, (gap[order] - r_lt) / np.where(w_ge > 0, w_ge, 1.0), 0.0)
    m = np.empty(len(d))
    m[order] = np.minimum(np.maximum(z, 0.0) * ws, rs)
    return np.clip(np.where(up, c0 + m, c0 - m), lo, hi)


def fix_sum(
    x: np.ndarray, groups: np.ndarray, need: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Remove the solver's tolerance-sized residual per parent (Σ x must equal the need before rounding),
    spreading it over the children that still have room that way, in proportion to that room."""
    n = len(need)
    for _ in range(3):
        r = need - np.bincount(groups, weights=x, minlength=n)
        rg = r[groups]
        room = np.where(rg > 0, hi - x, x - lo)
        room = np.where(np.isfinite(room), room, np.maximum(np.abs(x), 1.0) * 1e6)
        tot = np.bincount(groups, weights=room, minlength=n)[groups]
        x = np.clip(x + np.where(tot > 0, rg * room / np.where(tot > 0, tot, 1.0), 0.0), lo, hi)
    return x


def round_exact(x: np.ndarray, par: np.ndarray, need: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integer cents summing to ``need[parent]`` per parent: floor, then +1 cent by largest remainder
    (units already at their cap are skipped, so bounds hold)."""
    fl = np.floor(x + 1e-9)
    frac = np.where(fl + 1 <= hi, x - fl, -1.0)
    rem = need - np.bincount(par, weights=fl, minlength=len(need))
    order = np.lexsort((-frac, par))
    ps = par[order]
    start = np.searchsorted(ps, ps, side="left")
    rank = np.arange(len(order)) - start
    add = np.zeros(len(x))
    add[order] = (rank < rem[ps]).astype(float)
    return fl + add
