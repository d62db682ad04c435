"""Load generation for the serving benchmark: server processes it starts and stops by their own process
group, closed- and open-loop aiohttp clients on loopback, and the latency summary."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np

HOST = "127.0.0.1"


def run_async(coro: Any) -> Any:
    """Run a load on uvloop when installed (it comes with uvicorn[standard]): the client shares the two
    cores with the servers, so its own cost per request matters to every server measured alike."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Proc:
    """A server process group this benchmark started (stopped by its own id only)."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.p = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=self.log, start_new_session=True)

    def cpu_s(self) -> float:
        """CPU seconds used so far by the live processes of the group (server-side cost per request under a
        shared machine's contention, where wall-clock latency mostly measures the queue for a core)."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.p.pid:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def settle(self, timeout: float = 240.0) -> None:
        """Wait until every worker finished starting (the group is nearly idle), so a load measures serving,
        not a second worker still loading its models."""
        end = time.monotonic() + timeout
        last = self.cpu_s()
        while time.monotonic() < end:
            time.sleep(2.0)
            now = self.cpu_s()
            if now - last < 0.1:
                return
            last = now

    def load(self, coro: Any) -> dict[str, Any]:
        """Run one load; adds the server's CPU ms per request."""
        before = self.cpu_s()
        out: dict[str, Any] = run_async(coro)
        out["server_cpu_ms_per_req"] = round((self.cpu_s() - before) * 1000 / max(out["n"], 1), 2)
        out["loadavg"] = os.getloadavg()
        return out

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(10)
        self.log.close()


def wait_until(url: str, ok: Any, timeout: float, proc: Proc, headers: dict[str, str] | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.p.poll() is not None:
            raise RuntimeError(f"server exited with {proc.p.returncode}; see {proc.log.name}")
        try:
            r = httpx.get(url, timeout=5, headers=headers)
            if ok(r):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s; see {proc.log.name}")


def summary(lat: list[float], errors: int, wall: float) -> dict[str, Any]:
    a = np.asarray(lat) * 1000 if lat else np.array([np.nan])
    return {
        "n": len(lat) + errors, "errors": errors, "rps": round((len(lat) + errors) / wall, 1),
        "p50_ms": round(float(np.percentile(a, 50)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2),
        "wall_s": round(wall, 2),
    }  # fmt: skip


def _session(connections: int, headers: dict[str, str], timeout_s: float = 30.0) -> aiohttp.ClientSession:
    """The load client. aiohttp, not httpx: httpx's AsyncClient spends far more client CPU per request at
    50 concurrent connections (encode/httpx#3215); measured here it capped every server at ~85-125 req/s
    with the servers' own CPU at ~3 ms/request (a quarter of a core), i.e. it measured the client."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    return aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
    )


async def _post(session: aiohttp.ClientSession, url: str, body: bytes) -> bool:
    try:
        async with session.post(url, data=body) as r:
            await r.read()
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def closed_loop(
    url: str, bodies: list[bytes], headers: dict[str, str], n: int, clients: int, max_s: float
) -> dict[str, Any]:
    """``clients`` connections each sending its next request when the last answered; n requests or max_s."""
    lat: list[float] = []
    errors = 0
    counter = iter(range(n))
    deadline = time.perf_counter() + max_s
    async with _session(clients, headers) as session:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                t = time.perf_counter()
                if await _post(session, url, bodies[i % len(bodies)]):
                    lat.append(time.perf_counter() - t)
                else:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return summary(lat, errors, time.perf_counter() - start)


async def open_loop(
    url: str, bodies: list[bytes], headers: dict[str, str], rate: float, seconds: float, grace: float = 10.0
) -> dict[str, Any]:
    """A request every 1/rate s whatever the answers; latency counted from the scheduled start. Requests
    still unanswered ``grace`` s after the last one was due are cancelled and counted as errors."""
    lat: list[float] = []
    errors = 0
    async with _session(200, headers) as session:

        async def one(i: int, scheduled: float) -> None:
            nonlocal errors
            if await _post(session, url, bodies[i % len(bodies)]):
                lat.append(time.perf_counter() - scheduled)
            else:
                errors += 1

        start = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, scheduled)))
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        out = summary(lat, errors + len(pending), time.perf_counter() - start)
        out["target_rps"], out["unanswered"] = rate, len(pending)
        return out


def timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out
