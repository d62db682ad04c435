"""What ``pip install .`` puts into site-packages: one top-level name, ``salesplan``, holding every layer
(the links salesplan/<layer> -> ../<layer> become real files) and the service's data files; no
benchmarks, no tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_only_salesplan(tmp_path: Path) -> None:
    leftover = ROOT / "build"  # setuptools builds in-tree without isolation: remove what this test made
    had_build = leftover.exists()
    try:
        _check_wheel(tmp_path)
    finally:
        if not had_build:
            shutil.rmtree(leftover, ignore_errors=True)


def _check_wheel(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(ROOT)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = tmp_path.glob("salesplan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"salesplan", next(t for t in top if t.endswith(".dist-info"))}
    for module in ("models/forecast/base.py", "training/tracking.py", "planning/allocation/engine.py",
                   "serving/app.py", "cli/app.py", "errors.py"):  # fmt: skip
        assert f"salesplan/{module}" in names, module
    for data in ("serving/alembic.ini", "serving/migrations/versions/0002_proposal_parameters_v2.py",
                 "serving/web/static/app.js", "serving/web/templates/base.html"):  # fmt: skip
        assert f"salesplan/{data}" in names, data
    assert not [n for n in names if n.startswith(("benchmarks/", "tests/")) or "/tests/" in n]
