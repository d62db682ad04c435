"""Marketing spend per channel × region × week and the revenue it drove, through geometric adstock
and a saturating Hill curve: outcome = (baseline + beta · a^alpha / (a^alpha + half^alpha)) · noise,
a_t = spend_t + theta · a_{t-1}. Spend is flighted and experimented with so the curves are identifiable."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from salesplan.simulator.config import SimConfig

# channel: (adstock theta, Hill alpha, typical weekly spend per region)
CHANNEL_PARAMS: dict[str, tuple[float, float, float]] = {
    "search": (0.1, 1.2, 20_000.0),
    "social": (0.3, 1.5, 10_000.0),
    "display": (0.4, 1.8, 8_000.0),
    "tv": (0.7, 2.2, 40_000.0),
    "email": (0.2, 1.0, 2_000.0),
}
NOISE_SD = 0.06  # multiplicative log-normal noise on the outcome


@dataclass
class SpendResult:
    df: pd.DataFrame
    response: pd.DataFrame  # channel, region, beta, alpha, half, theta, baseline


def hill(a: np.ndarray, alpha: float | np.ndarray, half: float | np.ndarray) -> np.ndarray:
    """Saturating share in [0, 1): a^alpha / (a^alpha + half^alpha), written to stay finite at a = 0."""
    a = np.maximum(np.asarray(a, dtype=float), 0.0)
    return 1.0 / (1.0 + (np.asarray(half) / np.maximum(a, 1e-12)) ** alpha)


def adstock(spend: np.ndarray, theta: float) -> np.ndarray:
    """Geometric carry-over along the last axis: a_t = s_t + theta · a_{t−1}."""
    return np.asarray(lfilter([1.0], [1.0, -theta], spend, axis=-1))


def simulate_spend(cfg: SimConfig, rng: np.random.Generator, regions: tuple[str, ...]) -> SpendResult:
    """Weekly spend and outcome for every channel and region over the sell-out history."""
    weeks = cfg.weeks_index
    n_t, n_g = len(weeks), len(regions)
    region_size = np.exp(rng.normal(0, 0.3, n_g))
    q4 = np.where(weeks.month.to_numpy() >= 10, 1.3, 1.0)
    frames, params = [], []
    for ch, (theta, alpha, typical) in CHANNEL_PARAMS.items():  # five channels: a loop over columns
        level = typical * region_size[:, None]  # (G, 1)
        drift = np.exp(np.cumsum(rng.normal(0, 0.08, (n_g, n_t)), axis=1))
        drift /= drift.mean(axis=1, keepdims=True)
        noise = np.exp(rng.normal(0, 0.35, (n_g, n_t)))
        spend = level * drift * noise * q4[None, :]
        if ch == "tv":  # flights: 4-week bursts on or off
            on = rng.random((n_g, n_t // 4 + 1)) < 0.6
            spend *= np.repeat(on, 4, axis=1)[:, :n_t] * 1.6
        experiment = rng.random((n_g, n_t))  # budget tests: dark weeks and heavy-ups
        spend = np.where(experiment < 0.05, 0.0, np.where(experiment > 0.95, spend * 2.5, spend))
        spend = np.round(spend, 0)
        half = level[:, 0] / (1 - theta) * rng.uniform(0.7, 1.4, n_g)
        beta = level[:, 0] * rng.uniform(3.0, 7.0, n_g)
        baseline = beta * rng.uniform(0.1, 0.4, n_g)
        mean = baseline[:, None] + beta[:, None] * hill(adstock(spend, theta), alpha, half[:, None])
        outcome = np.round(mean * np.exp(rng.normal(0, NOISE_SD, (n_g, n_t))), 2)
        frames.append(
            pd.DataFrame(
                {
                    "period": np.tile(weeks.to_numpy(), n_g),
                    "channel": ch,
                    "region": np.repeat(np.asarray(regions), n_t),
                    "spend": spend.ravel(),
                    "outcome": outcome.ravel(),
                }
            )
        )
        params.append(
            pd.DataFrame(
                {
                    "channel": ch,
                    "region": list(regions),
                    "beta": beta,
                    "alpha": alpha,
                    "half": half,
                    "theta": theta,
                    "baseline": baseline,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True).sort_values(["period", "channel", "region"], kind="stable")
    return SpendResult(df=df.reset_index(drop=True), response=pd.concat(params, ignore_index=True))
