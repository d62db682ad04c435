"""The house rules of docs/ARCHITECTURE.md, checked on the code itself: one installed namespace, imports
that point one way, no private name imported from another module.

Every ``import`` in every module counts, including those inside functions (the CLI imports upper layers
lazily; a lazy import is still an arrow)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# folder on disk -> installed package; the links salesplan/<name> -> ../<name> make the second resolve
FOLDERS = {
    "salesplan": "salesplan",
    "models": "salesplan.models",
    "training": "salesplan.training",
    "planning": "salesplan.planning",
    "serving": "salesplan.serving",
    "cli": "salesplan.cli",
}
LAYERS = ("models", "training", "planning", "serving", "cli")
ALLOWED: dict[str, set[str]] = {
    # layer -> the layers it may import (besides itself)
    "core": set(),
    "models": {"core"},
    "training": {"core", "models"},
    "planning": {"core"},
    "serving": {"core", "models", "planning"},
    "cli": {"core", "models", "training", "planning", "serving"},
    "benchmarks": {"core", "models", "training", "planning", "serving", "cli"},
}


def layer_of(module: str) -> str | None:
    """``salesplan.models.forecast`` -> ``models``; core modules -> ``core``; not ours -> None."""
    parts = module.split(".")
    if parts[0] == "benchmarks":
        return "benchmarks"
    if parts[0] != "salesplan":
        return None
    if module == "salesplan.__main__":
        return "cli"  # `python -m salesplan` is the CLI's second door
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "core"


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (absolute)
    names: tuple[str, ...]  # names taken with `from target import ...`
    where: str  # file:line


def module_files() -> Iterator[tuple[str, Path]]:
    for folder, package in FOLDERS.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            if folder == "salesplan" and rel.parts and rel.parts[0] in LAYERS:
                continue  # the links: the same files are read from their own folder
            parts = [p for p in rel.parts if p != "__init__"]
            yield ".".join([package, *parts]), path
    for path in sorted((ROOT / "benchmarks").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        yield ".".join(p for p in rel.parts if p != "__init__"), path


def imports() -> list[Import]:
    found = []
    for module, path in module_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                found += [Import(module, a.name, (), where) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                found.append(Import(module, target, tuple(a.name for a in node.names), where))
    return found


ALL = imports()


def test_every_module_is_read() -> None:
    modules = {m for m, _ in module_files()}
    assert {
        "salesplan.errors",
        "salesplan.models.forecast",
        "salesplan.serving.app",
        "salesplan.cli.app",
    } <= modules
    assert len(ALL) > 500


def test_no_generic_top_level_names() -> None:
    """Nothing imports ``models``, ``training``, ``planning``, ``serving`` or ``cli`` as top-level names:
    installed, only ``salesplan`` exists."""
    bad = [f"{i.where} imports {i.target}" for i in ALL if i.target.split(".")[0] in {*LAYERS, "cli"}]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_one_way(layer: str) -> None:
    bad = []
    for i in ALL:
        if layer_of(i.source) != layer:
            continue
        to = layer_of(i.target)
        if to is None or to == layer:
            continue
        if to not in ALLOWED[layer]:
            bad.append(f"{i.where}: {i.source} ({layer}) imports {i.target} ({to})")
    assert not bad, "\n".join(bad)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_crosses_a_module() -> None:
    """``from a.b import _helper`` couples two modules through something the first did not publish. A
    private *module* (``pkg/_common.py``) may serve the modules of its own package, and no one else."""
    modules = {m for m, _ in module_files()}
    bad = []
    for i in ALL:
        if layer_of(i.target) is None:
            continue
        targets = [i.target] + [f"{i.target}.{n}" for n in i.names if f"{i.target}.{n}" in modules]
        bad += [
            f"{i.where}: {i.source} takes {n} from {i.target}"
            for n in i.names
            if _private(n) and f"{i.target}.{n}" not in modules
        ]
        for t in targets:
            parts = t.split(".")
            for k, part in enumerate(parts):
                owner = ".".join(parts[:k])  # the package that holds the private module
                if _private(part) and not (i.source == owner or i.source.startswith(owner + ".")):
                    bad.append(f"{i.where}: {i.source} imports {t}, private to {owner}")
    assert not bad, "\n".join(bad)


def test_public_modules_declare_all() -> None:
    """Each package's ``__init__`` says what it publishes."""
    missing = []
    for module, path in module_files():
        if path.name != "__init__.py" or module == "benchmarks":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
        }
        names |= {
            n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
        }
        if "__all__" not in names:
            missing.append(module)
    assert not missing, f"packages without __all__: {missing}"
