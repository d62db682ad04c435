"""Run every command of the README's tested command-line examples, as written, and check each exits 0.

The commands are read from README.md itself: the fenced block right after the line
``<!-- readme-test -->`` (one command a line; ``\\`` continues a line; ``#`` starts a comment). They run
from the repository root (or ``README_TEST_DIR``) against the demo's workspace, which ``make demo`` wrote
(``demo_out/`` and the ``./salesplan.env`` pointing at it), with every workspace variable removed from
the environment: the point is that a new user needs no exports.

``salesplan serve`` (and anything else that starts a server) is checked by starting it as written, waiting
until ``/health`` answers 200 on its ``--port`` (default 8000), then stopping it (SIGTERM to its process
group); every other command must exit 0 by itself. Run by ``make readme-test`` (after ``make test`` in
``.ci/run``), not by pytest: it needs the demo's workspace and takes minutes."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from salesplan.cli.workspace import WORKSPACE_LAYOUT

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- readme-test -->"
SERVER_START_S = 240.0
# the environment a new user does not have: each command must find the workspace from ./salesplan.env
WORKSPACE_VARS = ("MLFLOW_TRACKING_URI", *WORKSPACE_LAYOUT)


def readme_commands(readme: Path) -> list[str]:
    """The commands of the fenced block after the marker (continuations joined, comments dropped)."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    try:
        start = lines.index(MARKER)
    except ValueError:
        raise SystemExit(f"{readme}: no line {MARKER!r} marking the tested command block") from None
    fence = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
    commands: list[str] = []
    pending = ""
    for raw in lines[fence + 1 : end]:
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line and not pending:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append((pending + line).strip())
        pending = ""
    if not commands:
        raise SystemExit(f"{readme}: the block after {MARKER!r} has no commands")
    return commands


def is_server(command: str) -> bool:
    words = shlex.split(command)
    return words[:2] == ["salesplan", "serve"] and "--help" not in words


def server_port(command: str) -> int:
    match = re.search(r"--port[ =](\d+)", command)
    return int(match.group(1)) if match else 8000


def run_server(command: str, env: dict[str, str], cwd: Path) -> tuple[bool, str]:
    """Start it, wait for /health, stop it; (ok, what happened)."""
    url = f"http://127.0.0.1:{server_port(command)}/health"
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + SERVER_START_S
    ok, detail = False, f"no answer from {url} within {SERVER_START_S:.0f} s"
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        ok, detail = True, f"started, {url} answered 200, stopped"
                        break
            except OSError:
                time.sleep(1)
        if proc.poll() is not None and not ok:
            detail = f"exited with {proc.returncode} before answering {url}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    return ok, detail + ("" if ok else "\n" + output[-3000:])


def main() -> int:
    cwd = Path(os.environ.get("README_TEST_DIR", ROOT)).resolve()
    if not (cwd / "salesplan.env").is_file():
        print(
            f"{cwd}: no salesplan.env, so the README's commands cannot find the demo's workspace. "
            "Fix: run 'make demo' here (it writes one pointing at demo_out/ when none exists)",
            file=sys.stderr,
        )
        return 1
    env = {k: v for k, v in os.environ.items() if k not in WORKSPACE_VARS}
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("COLUMNS", "160")
    commands = readme_commands(ROOT / "README.md")
    print(f"{len(commands)} README commands, run from {cwd} with no workspace variables exported")
    failures = 0
    for i, command in enumerate(commands, 1):
        started = time.monotonic()
        if is_server(command):
            ok, detail = run_server(command, env, cwd)
        else:
            res = subprocess.run(
                ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, check=False
            )
            ok = res.returncode == 0
            detail = f"exit {res.returncode}" + ("" if ok else f"\n{(res.stdout + res.stderr)[-3000:]}")
        took = time.monotonic() - started
        print(f"[{i:>2}/{len(commands)}] {'ok  ' if ok else 'FAIL'} {took:5.0f} s  {command}", flush=True)
        if not ok:
            failures += 1
            print("       " + detail.replace("\n", "\n       "), flush=True)
    print(f"{len(commands) - failures} of {len(commands)} README commands passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
