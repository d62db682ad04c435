"""The tracking benchmark's batch cache is keyed by the code that builds the batches, so a change to the
forecaster or its calibration can never be scored on stale batches."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not an installed package

from benchmarks.tracking import batch_code_fingerprint  # noqa: E402


def test_the_cache_key_follows_the_code_that_builds_the_batches(tmp_path: Path) -> None:
    a, b = tmp_path / "models", tmp_path / "training"
    (a / "forecast").mkdir(parents=True)
    b.mkdir()
    (a / "forecast" / "blend.py").write_text("WEIGHT = 1\n")
    (b / "levels.py").write_text("FOLDS = 3\n")
    (b / "notes.txt").write_text("not code")
    first = batch_code_fingerprint((a, b))
    assert len(first) == 12 and first == batch_code_fingerprint((a, b))
    (b / "notes.txt").write_text("still not code")
    assert batch_code_fingerprint((a, b)) == first  # only Python sources count
    (b / "levels.py").write_text("FOLDS = 2\n")
    assert batch_code_fingerprint((a, b)) != first
    (b / "levels.py").write_text("FOLDS = 3\n")
    assert batch_code_fingerprint((a, b)) == first
    (b / "levels.py").rename(b / "levels2.py")  # a moved file is a change too
    assert batch_code_fingerprint((a, b)) != first


def test_the_default_key_reads_the_installed_models_and_training_packages() -> None:
    assert batch_code_fingerprint() == batch_code_fingerprint((ROOT / "models", ROOT / "training"))
