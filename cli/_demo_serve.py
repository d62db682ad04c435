"""Step 8 of the demo: the real service (``salesplan serve`` in a subprocess) on the demo's stores, each
endpoint called once over HTTP with API keys made the way ``salesplan apikey create`` makes them.

The server always stops at the end (also on errors or Ctrl+C): a demo must not leave a process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pandas as pd
from rich.rule import Rule

from salesplan.cli._common import console
from salesplan.errors import ServiceUnavailableError

if TYPE_CHECKING:
    import httpx

    from salesplan.contracts import CRMData

HOST = "127.0.0.1"
READY_TIMEOUT_S = 300.0  # start-up loads both champions, the batch forecast and scores every open deal
STOP_TIMEOUT_S = 20.0
LOG_TAIL_LINES = 30
Figure = Callable[[Any], str]
DEMO_KEYS = {"planner": "planner", "approver": "planner", "crm": "crm", "analyst": "analyst"}
"""Key name (after ``demo-``) → role."""


def free_port() -> int:
    """A TCP port free on the loopback right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def log_tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    return "\n".join(lines[-n:]) or "(empty)"


def server_env(data: Path, cache: Path, database_url: str) -> dict[str, str]:
    """This process's environment (MLflow store and artifact root as the demo used them) plus the service's
    own settings: the demo's database, its simulated world as planning data and a model cache in its folder."""
    env = dict(os.environ)
    env["SALESPLAN_DATABASE_URL"] = database_url
    env["SALESPLAN_PLANNING_DATA"] = str(data.resolve())
    env["SALESPLAN_MODEL_CACHE_DIR"] = str(cache.resolve())
    return env


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    stopped: str = ""


@contextmanager
def running_server(port: int, env: dict[str, str], log_path: Path) -> Iterator[Server]:
    """``salesplan serve`` on ``HOST:port`` with its output in ``log_path``; stopped on exit, whatever happens."""
    cmd = [sys.executable, "-m", "salesplan", "serve", "--host", HOST, "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        server = Server(proc)
        try:
            yield server
        finally:
            server.stopped = stop_server(proc)


def stop_server(proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it has not exited in time; says which."""
    if proc.poll() is not None:
        return f"had already exited with code {proc.returncode}"
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"killed: still running {STOP_TIMEOUT_S:.0f} s after SIGTERM"
    # uvicorn re-raises the signal it caught once shutdown is complete, so -SIGTERM is the clean exit.
    if proc.returncode in (0, -signal.SIGTERM):
        return "shut down cleanly on SIGTERM"
    return f"exited with code {proc.returncode} on SIGTERM"


def wait_ready(
    client: httpx.Client, proc: subprocess.Popen[bytes], log_path: Path, key: str | None = None
) -> dict[str, Any]:
    """Poll /ready until the service answers. It loads everything before it accepts connections, so its
    first answer is final: 200 is ready, 503 names what is missing (to a ``key`` that may see details)."""
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        code = proc.poll()
        if code is not None:
            raise ServiceUnavailableError(
                f"the server exited with code {code} before it was ready; the end of its log {log_path}:\n"
                f"{log_tail(log_path)}"
            )
        try:
            res = client.get("/ready", timeout=10.0, headers={"X-API-Key": key} if key else None)
        except httpx.TransportError:
            res = None
        if res is not None:
            body: dict[str, Any] = res.json()
            if res.status_code == 200:
                return body
            raise ServiceUnavailableError(
                f"the server started but is not ready: {body.get('detail', res.text[:500])}; the end of its "
                f"log {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise ServiceUnavailableError(
                f"the server on {client.base_url} did not answer /ready within {READY_TIMEOUT_S:.0f} s; the "
                f"end of its log {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.5)


class Caller:
    """Calls one endpoint, prints one line (method, path, status, one key figure) and insists on the
    expected status: a demo that shows an error as if it were an answer would mislead."""

    def __init__(self, client: httpx.Client, log_path: Path) -> None:
        self.client = client
        self.log_path = log_path

    def __call__(
        self,
        method: str,
        path: str,
        figure: Figure,
        *,
        key: str | None = None,
        expected: int = 200,
        params: dict[str, Any] | None = None,
        json: Any = None,
        note: str = "",
    ) -> Any:
        url = f"{path}?{urlencode(params)}" if params else path
        res = self.client.request(
            method, url, json=json, headers={"X-API-Key": key} if key else None, timeout=300.0
        )
        try:
            body = res.json()
        except ValueError:
            body = res.text
        if res.status_code != expected:
            detail = body.get("detail", body) if isinstance(body, dict) else str(body)[:300]
            raise ServiceUnavailableError(
                f"{method} {url} answered {res.status_code}, expected {expected}: {detail}; the server's log "
                f"is {self.log_path}"
            )
        console.print(
            f"  {method:<5} {url}  {res.status_code}{note}  {figure(body)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return body


def serve_demo(out: Path, crm: CRMData, spend: pd.DataFrame, quarter: str) -> None:
    """Create the demo's keys, run the service on the demo's stores, call every endpoint once, stop it."""
    import httpx

    from salesplan.cli.serve import create_key
    from salesplan.serving.settings import ServingSettings

    console.print(Rule("9. serve: the API on the demo's models, data and database, each endpoint once"))
    database_url = ServingSettings().database_url
    # --replace: a second run of the demo rotates its keys (names are unique among active keys)
    keys = {
        name: create_key(role, f"demo-{name}", actor="demo", replace=True)[0]
        for name, role in DEMO_KEYS.items()
    }
    console.print(
        "created API keys demo-planner, demo-approver (a second planner: nobody approves their own "
        "proposal), demo-crm and demo-analyst (models status and /ready details are analyst-only) in "
        f"{database_url}, as 'salesplan apikey create --replace' does",
        soft_wrap=True,
        highlight=False,
    )
    port = free_port()
    base = f"http://{HOST}:{port}"
    log_path = out / "serve.log"
    env = server_env(out / "data", out / "model-cache", database_url)
    console.print(f"starting 'salesplan serve --host {HOST} --port {port}' (log: {log_path})", soft_wrap=True)
    started = time.monotonic()
    with running_server(port, env, log_path) as server, httpx.Client(base_url=base) as client:
        wait_ready(client, server.proc, log_path, keys["analyst"])
        console.print(f"ready after {time.monotonic() - started:.0f} s on {base}", highlight=False)
        _call_everything(Caller(client, log_path), keys, crm, spend, quarter)
    state = "port still open!" if port_open(port) else "port closed"
    console.print(f"server stopped: {server.stopped}; {state}", highlight=False)
    env_line = " ".join(
        f"{k}={env[k]}"
        for k in ("SALESPLAN_DATABASE_URL", "SALESPLAN_PLANNING_DATA", "MLFLOW_TRACKING_URI")
        if env.get(k)
    )
    console.print(
        "the demo's server has stopped; to keep the service running on the demo's stores:\n"
        "  salesplan serve      (from a folder whose salesplan.env points at the demo: step 10), or anywhere:\n"
        f"  {env_line} salesplan serve\n"
        "then open the planner page http://127.0.0.1:8000/app (API docs http://127.0.0.1:8000/docs) and sign in "
        f"with the demo's planner key {keys['planner']}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _call_everything(
    call: Caller, keys: dict[str, str], crm: CRMData, spend: pd.DataFrame, quarter: str
) -> None:
    from salesplan.models.deals.fastpath import open_deal_fields
    from salesplan.planning.funnel import data_end

    planner, crm_key = keys["planner"], keys["crm"]
    call("GET", "/health", lambda b: f"status {b['status']}")
    call("GET", "/ready", _ready_figure, key=keys["analyst"])
    call("GET", "/api/v1/me", lambda b: f"{b['name']} ({b['role']}, {len(b['permissions'])} permissions)",
         key=planner)  # fmt: skip
    call("GET", "/api/v1/models", _models_figure, key=keys["analyst"])

    as_of = data_end(crm)
    deals = open_deal_fields(crm, as_of=as_of)[:5]
    if not deals:
        raise ServiceUnavailableError("the simulated CRM has no open deal to score")
    call("POST", "/api/v1/deals/score", _deal_figure, key=crm_key, json=deals[0])
    call("POST", "/api/v1/deals/score:batch", _batch_figure, key=crm_key, json={"deals": deals})
    call(
        "GET", "/api/v1/pipeline", _pipeline_figure, key=planner, params={"quarter": quarter, "by": "region"}
    )
    call("GET", "/api/v1/funnel", _funnel_figure, key=planner, params={"by": "team"})

    levels = call("GET", "/api/v1/forecasts/levels", _levels_figure, key=planner)
    q = pd.Period(quarter, freq="Q")
    first, last = q.start_time.date().isoformat(), q.end_time.date().isoformat()
    monday = pd.offsets.Week(weekday=0).rollforward(q.start_time)  # the quarter's first whole week
    call("GET", "/api/v1/forecasts", lambda b: _forecast_figure(b, quarter), key=planner,
         params={"level": "region", "freq": "Q", "start": first, "end": last})  # fmt: skip
    bottom = next(lv["units"] for lv in levels["levels"] if lv["name"] == levels["bottom"])
    weeks = {"start": monday.date().isoformat(), "end": (monday + pd.Timedelta(days=13)).date().isoformat()}
    what_if = {"ids": [bottom[0]], **weeks, "promo": 1, "promo_depth": 0.2}
    call("POST", "/api/v1/forecasts/what-if", _what_if_figure, key=planner, json=what_if)

    body = {"quarter": quarter, "by": ["region", "store"], "probability": 0.6, "note": "demo, via the API"}
    p = call("POST", "/api/v1/targets/proposals", _proposal_figure, key=planner, json=body, expected=201)
    url = f"/api/v1/targets/proposals/{p['id']}"
    store = next(r for r in p["rows"] if r["level"] == "store" and r["target"] > 0)
    new = round(store["target"] * 0.9, 2)
    patch = {"version": p["version"], "overrides": {store["unit_id"]: new}}
    patched = call("PATCH", url, lambda b: _patch_figure(b, store, new), key=planner, json=patch)
    call("POST", f"{url}:approve", lambda b: f"{b['status']} by {b['approved_by']}, version {b['version']}",
         key=keys["approver"], json={"version": patched["version"], "reason": "demo: second pair of eyes"})  # fmt: skip
    call("GET", "/api/v1/targets/proposals", _list_figure, key=planner, params={"quarter": quarter})
    call("GET", "/api/v1/targets/track-record", _track_figure, key=planner, params={"domain": "bookings"})

    weekly = spend.groupby("period")["spend"].sum().sort_index().tail(13).mean()
    budget = {"total": round(float(weekly) * 13, 2), "periods": 13}
    call("POST", "/api/v1/budgets/allocate", _budget_figure, key=planner, json=budget)
    call(
        "GET", url, lambda b: f"crm key refused: {b['detail']}", key=crm_key, expected=403, note=" (expected)"
    )


def _ready_figure(b: dict[str, Any]) -> str:
    checks = b["checks"]
    models = ", ".join(f"{k} v{c['version']}" for k, c in checks.items() if c.get("version"))
    return (
        f"{b['status']}: {models}; planning data {'loaded' if checks['planning_data']['ok'] else 'missing'}"
    )


def _models_figure(b: dict[str, Any]) -> str:
    return ", ".join(f"{name} v{s['version']} ({s['source']})" for name, s in b.items())


def _deal_figure(b: dict[str, Any]) -> str:
    why = b["reasons"][0]["text"] if b.get("reasons") else ""
    return f"{b['opportunity_id']}: p_win {b['p_win']:.2f}, score {b['score']}, grade {b['grade']} — {why}"


def _batch_figure(b: dict[str, Any]) -> str:
    grades = Counter(r["grade"] for r in b["results"])
    return f"{len(b['results'])} deals scored, grades " + " ".join(
        f"{g}×{n}" for g, n in sorted(grades.items())
    )


def _pipeline_figure(b: dict[str, Any]) -> str:
    rows = b["rows"]
    return (
        f"{len(rows)} regions, {sum(r['n_deals'] for r in rows)} deals: expected "
        f"{_money(sum(r['expected_value'] for r in rows))} of {_money(sum(r['pipeline_value'] for r in rows))}"
    )


def _funnel_figure(b: dict[str, Any]) -> str:
    last = b["stages"][-1]
    cum = [r["cumulative"] for r in b["rows"] if r["next_stage"] == last and r.get("cumulative") is not None]
    reach = f"; P(Find → {last}) by team {min(cum):.0%}–{max(cum):.0%}" if cum else ""
    return f"{len(b['stages'])} stages × {len({r.get('team') for r in b['rows']})} teams{reach}"


def _levels_figure(b: dict[str, Any]) -> str:
    bottom = next(lv for lv in b["levels"] if lv["name"] == b["bottom"])
    return f"{len(b['levels'])} levels, bottom {b['bottom']} ({len(bottom['units'])} series)"


def _forecast_figure(b: dict[str, Any], quarter: str) -> str:
    rows = [r for r in b["rows"] if r["period"] == quarter]
    return f"{quarter} P50 by region: " + ", ".join(f"{r['unique_id']} {_money(r['q50'])}" for r in rows)


def _what_if_figure(b: dict[str, Any]) -> str:
    s = b["summary"]
    lift = f"{s['lift_pct']:+.1f}%" if s["lift_pct"] is not None else "n/a"
    uid = next(r["unique_id"] for r in b["rows"] if r["changed"])
    return (
        f"{uid} on promotion {b['weeks'][0]}..{b['weeks'][-1]}: {_money(s['baseline'])} → "
        f"{_money(s['scenario'])} units ({lift})"
    )


def _proposal_figure(b: dict[str, Any]) -> str:
    c = b["company"]
    return (
        f"draft {b['id'][:8]} v{b['version']}: total target {_money(c['target'])} {b['measure']} "
        f"at P(hit) {c['p_hit']:.2f}, {len(b['rows'])} rows"
    )


def _patch_figure(b: dict[str, Any], store: dict[str, Any], new: float) -> str:
    total = next(r["target"] for r in b["rows"] if r["unit_id"] == "total")
    return (
        f"{store['unit_id']} {_money(store['target'])} → {_money(new)}, siblings re-balanced, total holds at "
        f"{_money(total)}; version {b['version']}"
    )


def _list_figure(b: dict[str, Any]) -> str:
    states = Counter(p["status"] for p in b["items"])
    return f"{b['total']} proposals: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))


def _track_figure(b: dict[str, Any]) -> str:
    return f"{b['quarters'][0]}–{b['quarters'][-1]}: " + ", ".join(
        f"{r['level']} hit {r['hit_rate']:.0%} vs {r['promised']:.0%} promised" for r in b["levels"]
    )


def _budget_figure(b: dict[str, Any]) -> str:
    uplift = f"{b['uplift']:+.1%}" if b["uplift"] is not None else "n/a"
    return (
        f"{_money(b['total'])} over {b['periods']} weeks: expected outcome {_money(b['expected_outcome'])} vs "
        f"{_money(b['proportional_outcome'])} split like last spend ({uplift})"
    )
