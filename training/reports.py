"""Small artifacts the training jobs log next to their metrics: reliability tables and plots.
Matplotlib with the Agg backend (no display); files go to a temporary folder, then to MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Per equal-width probability bin: deals, mean predicted, observed win rate (what 'calibrated' means)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    b = np.minimum((p * n_bins).astype(int), n_bins - 1)
    df = pd.DataFrame({"bin": b, "p": p, "y": y})
    out = df.groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"), observed=("y", "mean"))
    out.index = [f"{i / n_bins:.1f}-{(i + 1) / n_bins:.1f}" for i in out.index]
    return out.rename_axis("p_bin").reset_index()


def reliability_plot(table: pd.DataFrame, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="perfect")
    ax.scatter(
        table["mean_predicted"],
        table["observed"],
        s=20 + 200 * table["n"] / table["n"].max(),
        color="#1f6feb",
        alpha=0.8,
        label="bins (size = deals)",
    )
    ax.set(xlabel="predicted P(win)", ylabel="observed win rate", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
