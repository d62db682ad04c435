"""Where and how a benchmark writes its result.

Every benchmark leaves ``benchmarks/results/<stem>.json`` (the figures, read back by ``benchmarks.targets``
and by later runs that merge into them) and, mostly, ``<stem>.md`` (the table a reader looks at). Writing
them in one place keeps the files of every benchmark alike (the same folder, indentation and trailing
newline) instead of fifteen copies that drift apart.

The markdown may be handed over as a function: it is then called after the JSON is on disk, so a table that
fails to render never costs a long run its measured figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["RESULTS", "write_results"]

RESULTS: Path = Path(__file__).resolve().parent / "results"


def write_results(
    stem: str,
    result: Any,
    markdown: str | Callable[[], str] | None = None,
    *,
    default: Callable[[Any], Any] | None = str,
    folder: Path | None = None,
    echo: bool = False,
) -> Path:
    """Write ``result`` to ``<folder>/<stem>.json`` (indented by 2, ending in a newline; ``default`` turns
    what JSON cannot hold into what it can, ``None`` lets such a value raise) and, when ``markdown`` is
    given, ``<folder>/<stem>.md``; a callable ``markdown`` is called only once the JSON is written.
    ``folder`` (``benchmarks/results`` when ``None``) is created if missing; ``echo`` also prints the
    markdown (rendered once for both). Returns the JSON's path."""
    folder = RESULTS if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(result, indent=2, default=default) + "\n")
    if markdown is not None:
        text = markdown if isinstance(markdown, str) else markdown()
        (folder / f"{stem}.md").write_text(text)
        if echo:
            print(text)
    return path
