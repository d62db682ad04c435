"""The README's tested command block (run for real by ``make readme-test``) is parsed as the script parses
it, and every line names a command the CLI has, with options it accepts: a renamed command or option fails
here, in seconds, before the minutes-long README run."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path
from typing import Any

import typer

from salesplan.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("readme_test", ROOT / "scripts" / "readme_test.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_test"] = module
    spec.loader.exec_module(module)
    return module


def test_every_readme_command_names_a_cli_command_and_its_options() -> None:
    script = _script()
    commands = script.readme_commands(ROOT / "README.md")
    assert len(commands) >= 10 and any(script.is_server(c) for c in commands)
    group = typer.main.get_command(app)
    for line in commands:
        words = shlex.split(line)
        assert words[0] == "salesplan", line
        cmd: Any = group  # typer may ship its own click: groups are told by their commands, not their class
        args = words[1:]
        while hasattr(cmd, "commands") and args and args[0] in cmd.commands:
            cmd, args = cmd.commands[args[0]], args[1:]
        runs = not hasattr(cmd, "commands") or cmd.invoke_without_command  # e.g. `salesplan forecast --out`
        assert runs, f"{line}: not a command"
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        for word in args:
            if word.startswith("--"):
                assert word.split("=", 1)[0] in known, f"{line}: {word} is not an option of this command"
