"""The one results writer of the benchmarks (benchmarks/results_io.py): where the files go and what they hold.
Every test writes into ``tmp_path``, never into the committed ``benchmarks/results``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not an installed package

from benchmarks.results_io import RESULTS, write_results  # noqa: E402


def test_the_default_folder_is_benchmarks_results() -> None:
    assert RESULTS == ROOT / "benchmarks" / "results"


def test_json_round_trips_with_a_trailing_newline(tmp_path: Path) -> None:
    result = {"b": [1, 2.5, None], "a": {"nested": "ü", "flag": True}}
    path = write_results("bench", result, folder=tmp_path)
    assert path == tmp_path / "bench.json"
    text = path.read_text()
    assert json.loads(text) == result
    assert text == json.dumps(result, indent=2) + "\n"  # indented by 2, keys in the order given
    assert text.endswith("}\n") and not text.endswith("\n\n")


def test_markdown_only_when_given(tmp_path: Path) -> None:
    write_results("plain", {"x": 1}, folder=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.json"]
    write_results("table", {"x": 1}, "# Table\n\n| a |\n", folder=tmp_path)
    assert (tmp_path / "table.md").read_text() == "# Table\n\n| a |\n"
    assert not (tmp_path / "plain.md").exists()


def test_a_markdown_function_runs_after_the_json_is_written(tmp_path: Path) -> None:
    seen = []

    def render() -> str:
        seen.append(json.loads((tmp_path / "late.json").read_text()))
        return "md"

    write_results("late", {"x": 1}, render, folder=tmp_path)
    assert seen == [{"x": 1}] and (tmp_path / "late.md").read_text() == "md"

    def broken() -> str:
        raise KeyError("a table that fails to render")

    with pytest.raises(KeyError):
        write_results("kept", {"x": 2}, broken, folder=tmp_path)
    assert json.loads((tmp_path / "kept.json").read_text()) == {"x": 2}  # the figures survive
    assert not (tmp_path / "kept.md").exists()


def test_echo_prints_the_markdown_it_wrote_rendered_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = []

    def render() -> str:
        calls.append(1)
        return "| a |"

    write_results("quiet", {"x": 1}, render, folder=tmp_path)
    assert capsys.readouterr().out == ""
    write_results("loud", {"x": 1}, render, folder=tmp_path, echo=True)
    assert capsys.readouterr().out == "| a |\n" and (tmp_path / "loud.md").read_text() == "| a |"
    assert len(calls) == 2  # once per call, for the file and the screen alike


def test_default_is_applied(tmp_path: Path) -> None:
    result = {"path": Path("/data/walmart"), "n": np.int64(7)}
    saved = json.loads(write_results("as_str", result, folder=tmp_path).read_text())
    assert saved == {"path": "/data/walmart", "n": "7"}  # str is the default
    as_float = write_results(
        "as_float", {"n": np.int64(7), "x": np.float32(0.5)}, default=float, folder=tmp_path
    )
    assert json.loads(as_float.read_text()) == {"n": 7.0, "x": 0.5}
    with pytest.raises(TypeError):  # None: a value JSON cannot hold is an error, not a string
        write_results("strict", {"n": np.int64(7)}, default=None, folder=tmp_path)


def test_a_missing_folder_is_created(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    path = write_results("deep", [1, 2], "md\n", folder=folder)
    assert path == folder / "deep.json" and path.read_text() == "[\n  1,\n  2\n]\n"
    assert (folder / "deep.md").read_text() == "md\n"
    write_results("deep", [3], folder=folder)  # an existing folder and file are fine: overwritten
    assert json.loads(path.read_text()) == [3]
