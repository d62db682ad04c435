"""The tracking benchmark's calibration varies the landing's three constants through the parameters the
shipped code takes, and picks the candidate its rule names."""

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
    assert spread_scale(calm, np.ones((3, 4)), None) == pytest.approx(1.0)  # shipped: floored at 1
    assert (
        spread_scale(calm, np.ones((3, 4)), None, floor=0.0) < 0.9
    ).all()  # unfloored: calm weeks narrow it
    assert bt.SPREAD_FLOORS == (0.0, 1.0) and bt.SPREAD_FLOOR == 1.0
    # the benchmark's replay hands its floor through track_sellout to the landing (as it does conditioning)
    params = inspect.signature(bt.replay_sellout).parameters
    assert params["spread_floor"].default == bt.SPREAD_FLOOR
    assert "spread_floor" in inspect.signature(track_sellout).parameters


def test_the_cap_candidates_reach_the_landing() -> None:
    assert bt.RHO_CAP in bt.RHO_CAPS and 1.0 in bt.RHO_CAPS  # uncapped is a candidate
    params = inspect.signature(bt.replay_sellout).parameters
    assert params["rho_cap"].default == bt.RHO_CAP
    assert "rho_cap" in inspect.signature(track_sellout).parameters


def _candidate(c: float, floor: float, cap: float, pooled: float, levels: dict[str, float]) -> dict[str, Any]:
    return {
        "conditioning": c, "spread_floor": floor, "rho_cap": cap,
        "landing_coverage80": dict.fromkeys(("0", "4", "8", "12"), pooled),
        "landing_p50_wape": dict.fromkeys(("0", "4", "8", "12"), 0.1),
        "by_level_coverage80": {lv: dict.fromkeys(("4", "8", "12"), v) for lv, v in levels.items()},
    }  # fmt: skip


def test_write_calibration_picks_per_level_among_candidates_inside_the_pooled_band(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled 0.80 with the totals at 0.60 loses to pooled 0.82 with every level near 0.80; a candidate
    with every level at 0.80 but pooled at 0.76 (outside 0.77–0.83) loses to both."""

    def fake(n_quarters: int) -> dict[str, Any]:
        cands = [
            _candidate(0.5, 1.0, 1.0, 0.80, {"total": 0.60, "store": 0.80}),
            _candidate(0.25, 0.0, 0.75, 0.82, {"total": 0.78, "store": 0.82}),
            _candidate(0.75, 1.0, 0.5, 0.76, {"total": 0.80, "store": 0.80}),
        ]
        return {f"{v['conditioning']}|{v['spread_floor']}|{v['rho_cap']}": v for v in cands}

    monkeypatch.setattr(bt, "calibrate", fake)
    monkeypatch.setattr(bt, "RESULTS", tmp_path)
    monkeypatch.setattr(bt, "CONDITIONING", 0.5)
    monkeypatch.setattr(bt, "SPREAD_FLOOR", 1.0)
    res = bt.write_calibration(4)
    assert res["chosen"] == {"conditioning": 0.25, "spread_floor": 0.0, "rho_cap": 0.75}
    saved = json.loads((tmp_path / "tracking_calibration.json").read_text())
    assert saved["chosen"] == res["chosen"] and set(saved["calibrate"]) == {"0.5|1.0|1.0", "0.25|0.0|0.75",
                                                                           "0.75|1.0|0.5"}  # fmt: skip
    table = (tmp_path / "tracking_calibration.md").read_text()
    assert "| 0.25 | 0.0 | 0.75 | 0.820 / 0.820 / 0.820 / 0.820 |" in table and "| total |" in table
    # none inside the pooled band: the pooled gap decides
    only_out = {k: v for k, v in fake(4).items() if k != "0.25|0.0|0.75"}
    only_out["0.5|1.0|1.0"]["landing_coverage80"] = dict.fromkeys(("0", "4", "8", "12"), 0.70)
    assert min(only_out, key=lambda k: bt.calibration_gap(only_out[k])) == "0.75|1.0|0.5"
