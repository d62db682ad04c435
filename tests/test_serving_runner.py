"""`salesplan serve`: several workers share a listening socket whose accepted connections have TCP_NODELAY
(without it, each two-part response waits out the client's ~40 ms delayed ACK), and a revoked key stops
working in every worker within a second."""

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

from salesplan.serving.db.engine import make_engine, migrate, session_factory, transaction
from salesplan.serving.db.repository import ApiKeyRepository
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


def test_serve_with_two_workers_answers_revokes_within_a_second_and_stops(tmp_path: Path) -> None:
    """Two workers, each with its own key cache: a key both have cached stops working in both within a
    second of its revocation (it used to keep working for up to 30 s)."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(url)  # salesplan db upgrade
    engine = make_engine(url)
    sessions = session_factory(engine)
    with transaction(sessions, write=True) as s:
        key, record = ApiKeyRepository(s).create("crm-sync", "crm")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "SALESPLAN_DATABASE_URL": url,
        "SALESPLAN_LOAD_MODELS": "false",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}",
        # 40 refusals from one address would be throttled (429) after 30: this test counts refusals
        "SALESPLAN_AUTH_FAILURES_PER_MINUTE": "1000",
    }
    cmd = [sys.executable, "-m", "salesplan", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def me() -> int:  # a new connection each time, so both workers' accept loops get requests
        return httpx.get(f"{base}/api/v1/me", headers={"X-API-Key": key}, timeout=10).status_code

    try:
        pids: set[int] = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"{base}/health", timeout=5)
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

        assert [me() for _ in range(40)] == [200] * 40  # cached by both workers by now
        with transaction(sessions, write=True) as s:
            ApiKeyRepository(s).revoke(record.id, actor="test")
        revoked_at = time.monotonic()  # committed
        time.sleep(max(0.0, revoked_at + 1.0 - time.monotonic()))
        assert [me() for _ in range(40)] == [401] * 40  # one second later, no worker takes it
    finally:
        engine.dispose()
        proc.terminate()
        proc.wait(30)
    assert proc.returncode in (0, -15), proc.stdout.read().decode()[-2000:] if proc.stdout else ""
