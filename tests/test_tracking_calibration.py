"""The tracking benchmark's calibration varies the landing's two constants through the parameters the
shipped code takes, and picks the pair its rule names."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not an installed package

import benchmarks.tracking as bt  # noqa: E402
from salesplan.planning.tracking import spread_scale, track_sellout  # noqa: E402


def test_the_floor_candidates_reach_spread_scale_and_the_landing() -> None:
    calm = 0.5 * np.ones((3, 4))
    assert spread_scale(calm, np.ones((3, 4)), None, floor=1.0) == pytest.approx(1.0)  # floored at 1
    assert (spread_scale(calm, np.ones((3, 4)), None) < 0.9).all()  # shipped, unfloored: calm weeks narrow it
    assert bt.SPREAD_FLOORS == (0.0, 1.0) and bt.SPREAD_FLOOR == 0.0
    # the benchmark's replay hands its floor through track_sellout to the landing (as it does conditioning)
    params = inspect.signature(bt.replay_sellout).parameters
    assert params["spread_floor"].default == bt.SPREAD_FLOOR
    assert "spread_floor" in inspect.signature(track_sellout).parameters


def test_write_calibration_picks_the_pair_closest_to_80_percent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake(n_quarters: int) -> dict[str, Any]:
        out = {}
        for floor in bt.SPREAD_FLOORS:
            for c in (0.25, 0.5):
                cov = 0.8 if (c, floor) == (0.25, 0.0) else 0.7
                out[f"{c}|{floor}"] = {
                    "conditioning": c, "spread_floor": floor,
                    "landing_coverage80": dict.fromkeys(("0", "4", "8", "12"), cov),
                    "landing_p50_wape": dict.fromkeys(("0", "4", "8", "12"), 0.1),
                    "by_level_coverage80": {"total": dict.fromkeys(("4", "8", "12"), cov)},
                }  # fmt: skip
        return out

    monkeypatch.setattr(bt, "calibrate", fake)
    monkeypatch.setattr(bt, "RESULTS", tmp_path)
    monkeypatch.setattr(bt, "CONDITIONING", 0.5)
    res = bt.write_calibration(4)
    assert res["chosen"] == {"conditioning": 0.25, "spread_floor": 0.0}
    saved = json.loads((tmp_path / "tracking_calibration.json").read_text())
    assert saved["chosen"] == res["chosen"] and set(saved["calibrate"]) == {
        "0.25|0.0",
        "0.5|0.0",
        "0.25|1.0",
        "0.5|1.0",
    }
    table = (tmp_path / "tracking_calibration.md").read_text()
    assert "| 0.25 | 0.0 | 0.800 / 0.800 / 0.800 / 0.800 |" in table and "| total |" in table
