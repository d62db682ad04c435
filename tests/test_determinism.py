"""Same seed and data, same numbers, across processes: two fresh interpreters with different string-hash
seeds (``PYTHONHASHSEED``: set and dict-of-set orders differ between them, as between the demo and a CLI
run) simulate a world, backtest a blend with a LightGBM member and build the batch of every level, and
must agree to the last digit. One process running twice cannot catch an order that depends on string
hashes; this can."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # two interpreters, each a small backtest and batch (~10 s on a quiet machine)

SCRIPT = """
import hashlib
import pandas as pd
from salesplan.models.forecast import GlobalLGBM, WindowAverage
from salesplan.simulator import SimConfig, simulate
from salesplan.training.batch_outputs import build_batch
from salesplan.training.forecast_job import alive, backtested_part, model_params, production_model, run_backtest

world = simulate(SimConfig(seed=4, n_products=3, n_stores=2))
data = world.sellout
params = model_params(data, {"members": [WindowAverage(), GlobalLGBM(n_estimators=25, n_jobs=2)]})
model = production_model(params)
bt = run_backtest(data, backtested_part(model), 6, 2, data.spec.season)
live = alive(data.df)
final = model.fit(live, data.spec)
ids = sorted(live["unique_id"].astype(str).unique())
batch = build_batch(final, bt, data, h=6, future=world.future, series=ids)
for name, frame in (("backtest", bt.forecasts), ("levels", batch.forecast), ("history", batch.history)):
    digest = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    print(name, hashlib.sha256(digest).hexdigest())
"""


def _start(hash_seed: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    cmd = [sys.executable, "-c", SCRIPT]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _output(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_two_processes_with_different_hash_seeds_give_the_same_batch() -> None:
    first, second = _start("1"), _start("2")  # side by side: the wall time of one
    a, b = _output(first), _output(second)
    assert a.count("\n") == 3 and a == b, (a, b)
