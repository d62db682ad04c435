"""`salesplan serve`: several workers share a listening socket whose accepted connections have TCP_NODELAY
(without it, each two-part response waits out the client's ~40 ms delayed ACK)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from salesplan.serving.runner import listening_socket


def test_accepted_connections_inherit_tcp_nodelay() -> None:
    server = listening_socket("127.0.0.1", 0)
    server.listen(1)
    client = socket.create_connection(server.getsockname()[:2])
    conn, _ = server.accept()
    try:
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        for s in (conn, client, server):
            s.close()


def test_serve_with_two_workers_answers_and_stops(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "SALESPLAN_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "SALESPLAN_LOAD_MODELS": "false",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}",
    }
    cmd = [sys.executable, "-m", "salesplan", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        pids: set[int] = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                assert r.status_code == 200
                break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            out = proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""
            pytest.fail(f"salesplan serve --workers 2 did not answer /health: {out[-2000:]}")
        children = psutil.Process(proc.pid).children()
        # multiprocessing's resource tracker is a child too; the workers are the spawned ones
        pids.update(c.pid for c in children if "spawn_main" in " ".join(c.cmdline()))
        assert len(pids) == 2, f"expected 2 worker processes under the supervisor, found {children}"
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode in (0, -15), proc.stdout.read().decode()[-2000:] if proc.stdout else ""
