"""The deals benchmark's margins: paired deal-bootstrap intervals that are exactly zero for a copy of the
default, exclude zero for a clearly worse peer, and resample a deal's snapshots together."""

from __future__ import annotations

import numpy as np

from salesplan.models.deals.compare import margin_intervals


def _world(n_deals: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_deals), 3)  # three snapshots per deal
    z = np.repeat(rng.normal(0, 1.5, n_deals), 3)
    y = (np.repeat(rng.random(n_deals), 3) < 1 / (1 + np.exp(-z))).astype(int)
    return z, y, g


def test_margins_are_zero_for_a_copy_and_exclude_zero_for_a_noisy_peer() -> None:
    z, y, g = _world()
    rng = np.random.default_rng(1)
    good = 1 / (1 + np.exp(-z))
    noisy = 1 / (1 + np.exp(-(z + rng.normal(0, 2.0, len(z)))))
    pooled = {
        "default": np.vstack([good, good]),
        "copy": np.vstack([good, good]),
        "noisy": np.vstack([noisy, noisy]),
    }
    m = margin_intervals(y, pooled, g, "default", ["copy", "noisy"], n_boot=60)
    c, n = m["copy"], m["noisy"]
    assert c["auc_diff"] == c["auc_diff_lo"] == c["auc_diff_hi"] == 0.0
    assert c["brier_diff"] == c["brier_diff_lo"] == c["brier_diff_hi"] == 0.0
    assert 0 < n["auc_diff_lo"] <= n["auc_diff"] <= n["auc_diff_hi"]
    assert n["brier_diff_lo"] <= n["brier_diff"] <= n["brier_diff_hi"] < 0


def test_deal_bootstrap_is_wider_than_treating_snapshots_as_independent() -> None:
    """Snapshots of one deal share its outcome: resampling deals must give a wider interval than pretending
    each row is a deal of its own."""
    z, y, g = _world(400, 2)
    rng = np.random.default_rng(3)
    a = 1 / (1 + np.exp(-(z + rng.normal(0, 1.0, len(z)))))
    b = 1 / (1 + np.exp(-(z + np.repeat(rng.normal(0, 1.0, len(z) // 3), 3))))
    pooled = {"default": a[None, :], "peer": b[None, :]}
    by_deal = margin_intervals(y, pooled, g, "default", ["peer"], n_boot=80)["peer"]
    by_row = margin_intervals(y, pooled, np.arange(len(y)), "default", ["peer"], n_boot=80)["peer"]
    assert by_deal["auc_diff"] == by_row["auc_diff"]
    width = lambda r: r["auc_diff_hi"] - r["auc_diff_lo"]  # noqa: E731
    assert width(by_deal) > 1.2 * width(by_row)
