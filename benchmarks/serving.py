"""Serving benchmark: the real API under load on loopback, against ``mlflow models serve`` in the same run.

    python -m benchmarks.serving            # writes benchmarks/results/serving.{json,md}

Self-contained: a temporary MLflow store, a simulated world (1,000 reps so a bookings proposal covers 1,000
reps), the deal champion trained on it, the world written as the service's planning data, an admin key.

- server: uvicorn 1 worker, uvicorn 2 workers, ``salesplan serve --workers 2`` (2 uvicorn workers on a listening
  socket with TCP_NODELAY), and
  gunicorn with 2 uvicorn workers are probed with the same load; the fastest serves the measured runs.
  Why the variants: ``uvicorn --workers N`` binds ``socket.socket(family)`` (proto 0) and asyncio only sets
  TCP_NODELAY on accepted sockets whose proto is IPPROTO_TCP, so every response split in two writes (headers,
  body) waits out the client's delayed ACK (~40 ms). Linux copies TCP_NODELAY from the listening socket to the
  accepted ones, which is what gunicorn relies on and what ``salesplan serve --workers 2`` (serving.runner) does.
- score_single: 10,000 ``POST /deals/score`` (different open deals) from 50 closed-loop clients (aiohttp;
  httpx's AsyncClient was the bottleneck, see serving_load._session);
  score_single_open_loop_200rps: a request every 5 ms for 30 s, latency from its scheduled start (no
  coordinated omission); score_batch_10k: one 10,000-deal batch with reasons (median of 4 after 2 warm-ups,
  request sent to answer received);
  proposal_create / forecast_get: E's endpoints when the app has them, else skipped with the reason.
- mlflow_serve_baseline: the same registered model served by ``mlflow models serve --env-manager local -w 2``
  (the pyfunc scores a one-row feature frame with ``score_frame``) under the same 50-client load; the
  1-worker MLflow server (no delayed-ACK penalty) is measured too, and the better of the two is the peer.
Every load is bounded in requests and seconds. The machine is shared: ``os.getloadavg()`` is recorded."""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from benchmarks.results_io import RESULTS, write_results
from benchmarks.serving_load import (
    HOST,
    Proc,
    closed_loop,
    free_port,
    open_loop,
    run_async,
    timed,
    wait_until,
)


def server_cmd(variant: str, port: int) -> list[str]:
    py = sys.executable
    uv = [py, "-m", "uvicorn", "salesplan.serving.app:create_app", "--factory", "--host", HOST, "--port", str(port),
          "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return {
        "uvicorn-1": [*uv, "--workers", "1"],
        "uvicorn-2": [*uv, "--workers", "2"],
        # `salesplan serve --workers 2`: uvicorn's supervisor on a TCP_NODELAY socket (serving.runner)
        "salesplan-serve-2": [py, "-m", "salesplan", "serve", "--host", HOST, "--port", str(port), "--workers", "2"],
        "gunicorn-2": [py, "-m", "gunicorn", "salesplan.serving.app:create_app()", "-k", "uvicorn.workers.UvicornWorker",
                       "-w", "2", "-b", f"{HOST}:{port}", "--log-level", "warning"],
    }[variant]  # fmt: skip


def prepare(root: Path, n_reps: int, n_opportunities: int, forecast: bool) -> dict[str, Any]:
    """World, deal champion, planning-data folder, admin key and request bodies, all under ``root``."""
    from salesplan.models.deals.fastpath import open_deal_fields
    from salesplan.models.deals.features import features_asof
    from salesplan.serving.db.engine import make_engine, migrate, session_factory
    from salesplan.serving.db.repository import ApiKeyRepository
    from salesplan.simulator import SimConfig, simulate
    from salesplan.training.deals_job import train_deals

    os.chdir(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlruns.db'}"
    t = time.perf_counter()
    world = simulate(SimConfig(seed=0, scale="small", n_reps=n_reps, n_opportunities=n_opportunities))
    trained = train_deals(world.crm, source="benchmark")
    if forecast:  # the batch forecast behind GET /forecasts
        from salesplan.training.forecast_job import train_forecast

        train_forecast(world.sellout, h=13, source="benchmark", future=world.future)
    world.write(root / "world", fmt="parquet")
    db = f"sqlite:///{root / 'app.db'}"
    engine = make_engine(db)
    migrate(engine)
    with session_factory(engine).begin() as session:
        key, _ = ApiKeyRepository(session).create("benchmark", "admin")
    engine.dispose()
    X = features_asof(world.crm)
    deals = open_deal_fields(world.crm, as_of=X["snapshot_ts"].iloc[0])
    batch = [{**deals[i % len(deals)], "opportunity_id": f"B{i:05d}"} for i in range(10_000)]
    feats = json.loads(
        X.assign(snapshot_ts=X["snapshot_ts"].astype(str)).to_json(orient="split", index=False)
    )
    env = {**os.environ, "SALESPLAN_DATABASE_URL": db, "SALESPLAN_MODEL_CACHE_DIR": str(root / "cache"),
           "SALESPLAN_PLANNING_DATA": str(root / "world"), "SALESPLAN_REGISTRY_TIMEOUT_S": "120",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    return {
        "env": env, "key": key, "version": trained.ref.version, "model": trained.scorer.model_name,
        "single": [json.dumps(d).encode() for d in deals],
        "batch": json.dumps({"deals": batch}).encode(),
        "mlflow": [json.dumps({"dataframe_split": {"columns": feats["columns"], "data": [row]}}).encode()
                   for row in feats["data"]],
        "n_open": len(deals), "n_reps": int(world.crm.reps["rep_id"].nunique()),
        "quarter": str((X["snapshot_ts"].iloc[0] + pd.offsets.QuarterBegin(startingMonth=1)).to_period("Q")),
        "setup_s": round(time.perf_counter() - t, 1),
    }  # fmt: skip


def app_paths() -> dict[str, set[str]]:
    """Routes and methods the app declares (to know whether E's endpoints exist yet)."""
    from salesplan.serving.app import create_app
    from salesplan.serving.settings import ServingSettings

    spec = create_app(ServingSettings(database_url="sqlite://", load_models=False)).openapi()
    return {p: {m.upper() for m in ops} for p, ops in spec["paths"].items()}


def start_api(variant: str, prep: dict[str, Any], root: Path) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(server_cmd(variant, port), prep["env"], root / f"server-{variant}.log")
    base = f"http://{HOST}:{port}"

    def ready(r: httpx.Response) -> bool:
        checks = r.json().get("checks", {})
        return bool(checks.get("salesplan-deals", {}).get("ok") and checks.get("planning_data", {}).get("ok"))

    try:
        wait_until(f"{base}/ready", ready, 300, proc, {"X-API-Key": prep["key"]})  # checks: operators only
        proc.settle()
    except Exception:
        proc.stop()
        raise
    return proc, base


def measure_api(proc: Proc, base: str, prep: dict[str, Any], args: argparse.Namespace, paths: dict) -> dict:
    headers = {"X-API-Key": prep["key"], "Content-Type": "application/json"}
    url = f"{base}/api/v1/deals/score"
    bodies = prep["single"]
    run_async(closed_loop(url, bodies, headers, 100, args.clients, 60))  # warm every worker
    out = {
        "score_single": proc.load(closed_loop(url, bodies, headers, args.requests, args.clients, args.max_s)),
        "score_single_open_loop_200rps": proc.load(
            open_loop(url, bodies, headers, args.rate, args.open_seconds)
        ),
    }
    with httpx.Client(timeout=60, headers=headers) as c:
        answers: list[httpx.Response] = []

        def batch() -> None:  # request sent → whole answer received; parsing it is the caller's cost
            answers.append(c.post(f"{url}:batch", content=prep["batch"]))

        ms = timed(batch, 6)[2:]  # the first calls build each worker's caches
        # a wrong answer is counted and shown, not asserted: one bad call must not throw away the whole run
        ok = [complete_batch(r) for r in answers[2:]]
        bad = [r for r, good in zip(answers[2:], ok, strict=True) if not good]
        good_ms = [m for m, good in zip(ms, ok, strict=True) if good]
        out["score_batch_10k"] = {
            "ms": round(statistics.median(good_ms), 1) if good_ms else None,
            "runs_ms": [round(m, 1) for m in ms],
            "errors": len(bad),
            **({"first_error": f"{bad[0].status_code}: {bad[0].text[:300]}"} if bad else {}),
        }
        proposal = {
            "quarter": prep["quarter"],
            "by": ["region", "team", "rep"],
            "mode": "probability",
            "probability": 0.6,
            "method": "blended",
            "over_assignment": 0.1,
            "note": "benchmark",
        }
        out["proposal_create"] = endpoint(
            c, "POST", f"{base}/api/v1/targets/proposals", paths, 201, 20, proposal
        )
        out["proposal_create"]["n_reps"] = prep["n_reps"]
        out["forecast_get"] = endpoint(
            c, "GET", f"{base}/api/v1/forecasts?level=region&freq=W", paths, 200, 50
        )
    return out  # fmt: skip


def complete_batch(r: httpx.Response) -> bool:
    """200 with a score and reasons for each of the 10,000 deals sent."""
    if r.status_code != 200:
        return False
    results = r.json().get("results", [])
    return len(results) == 10_000 and bool(results[0].get("reasons"))


def endpoint(
    c: httpx.Client, method: str, url: str, paths: dict, status: int, n: int, body: Any = None
) -> dict:
    """p50/p99 of ``n`` sequential calls of another team's endpoint, or why it was skipped."""
    path = httpx.URL(url).path
    if method not in paths.get(path, set()):
        return {"skipped": f"{method} {path} not measured (not in the app, or --no-forecast)"}
    first = c.request(method, url, json=body)
    if first.status_code != status:
        return {"skipped": f"{method} {path} answered {first.status_code}: {first.text[:300]}"}
    ms = timed(lambda: c.request(method, url, json=body).raise_for_status(), n)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "n": n}  # fmt: skip


def mlflow_baseline(prep: dict[str, Any], root: Path, workers: int, args: argparse.Namespace) -> dict:
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/salesplan-deals/{prep['version']}",
           "--env-manager", "local", "-w", str(workers), "-h", HOST, "-p", str(port)]  # fmt: skip
    proc = Proc(cmd, prep["env"], root / f"mlflow-{workers}.log")
    try:
        wait_until(f"http://{HOST}:{port}/ping", lambda r: r.status_code == 200, 300, proc)
        proc.settle()
        url, headers = f"http://{HOST}:{port}/invocations", {"Content-Type": "application/json"}
        run_async(closed_loop(url, prep["mlflow"], headers, 100, args.clients, 60))
        out = proc.load(closed_loop(url, prep["mlflow"], headers, args.requests, args.clients, args.max_s))
    finally:
        proc.stop()
    return {**out, "workers": workers}


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="salesplan-serving-bench-") as tmp:
        root = Path(tmp)
        paths = app_paths()
        prep = prepare(
            root, args.n_reps, args.n_opportunities, "GET" in paths.get("/api/v1/forecasts", set())
        )
        print(f"setup {prep['setup_s']} s: {prep['n_open']} open deals, model {prep['model']}", flush=True)
        probes: dict[str, Any] = {}
        headers = {"X-API-Key": prep["key"], "Content-Type": "application/json"}
        for variant in args.variants:
            proc, base = start_api(variant, prep, root)
            try:
                url = f"{base}/api/v1/deals/score"
                run_async(closed_loop(url, prep["single"], headers, 100, args.clients, 60))
                probes[variant] = proc.load(
                    closed_loop(url, prep["single"], headers, args.probe, args.clients, args.max_s)
                )
            finally:
                proc.stop()
            print(f"probe {variant}: {probes[variant]}", flush=True)
        best = max(probes, key=lambda v: probes[v]["rps"] if probes[v]["errors"] == 0 else -1)
        proc, base = start_api(best, prep, root)
        try:
            result = measure_api(proc, base, prep, args, paths)
        finally:
            proc.stop()
        print(f"api ({best}): {json.dumps(result)}", flush=True)
        baselines = {w: mlflow_baseline(prep, root, w, args) for w in (2, 1)}
        print(f"mlflow: {baselines}", flush=True)
    peer = max(baselines.values(), key=lambda b: b["rps"] if b["errors"] == 0 else -1)
    result["mlflow_serve_baseline"] = baselines[2]
    result["mlflow_serve_baseline_1_worker"] = baselines[1]
    result["server"] = {"chosen": best, "probes": probes, "probe_requests": args.probe}
    result["setup"] = {"n_reps": prep["n_reps"], "open_deals": prep["n_open"], "model": prep["model"],
                       "requests": args.requests, "clients": args.clients, "setup_s": prep["setup_s"]}  # fmt: skip
    result["loadavg"] = {"start": load_start, "end": os.getloadavg(), "cpus": os.cpu_count()}
    errors = [result["score_single"]["errors"], result["score_single_open_loop_200rps"]["errors"],
              result["score_batch_10k"]["errors"], baselines[2]["errors"]]  # fmt: skip
    prop = result["proposal_create"]
    result["targets"] = {
        "zero_errors": "met" if sum(errors) == 0 else f"missed ({sum(errors)} errors)",
        "single_rps_5x_mlflow": _met(result["score_single"]["rps"] >= 5 * peer["rps"],
                                     f"{result['score_single']['rps'] / peer['rps']:.1f}x"),
        "open_loop_p99_under_50ms": _met(result["score_single_open_loop_200rps"]["p99_ms"] < 50,
                                         f"{result['score_single_open_loop_200rps']['p99_ms']} ms"),
        "batch_10k_under_1s": "missed (no complete answer)" if result["score_batch_10k"]["ms"] is None
        else _met(result["score_batch_10k"]["ms"] < 1000, f"{result['score_batch_10k']['ms']} ms"),
        "proposal_1000_reps_p50_under_500ms": "skipped" if "skipped" in prop
        else _met(prop["p50_ms"] < 500, f"{prop['p50_ms']} ms"),
    }  # fmt: skip
    return result


def _met(ok: bool, value: str) -> str:
    return f"{'met' if ok else 'missed'} ({value})"


def markdown(r: dict[str, Any]) -> str:
    def row(name: str, d: dict[str, Any]) -> str:
        if "skipped" in d:
            return f"| {name} | skipped: {d['skipped']} | | | | |"
        cells = [d.get("rps", ""), d.get("p50_ms", d.get("ms", "")), d.get("p99_ms", ""), d.get("errors", ""),
                 d.get("server_cpu_ms_per_req", "")]  # fmt: skip
        return f"| {name} | " + " | ".join(str(c) for c in cells) + " |"

    lines = [
        "# Serving benchmark", "",
        f"Server: {r['server']['chosen']} (fastest of the probes below); {r['setup']['requests']:,} requests from "
        f"{r['setup']['clients']} clients; model {r['setup']['model']}; {r['setup']['open_deals']} open deals; "
        f"{r['setup']['n_reps']} reps. Load average {r['loadavg']['start']} → {r['loadavg']['end']} on "
        f"{r['loadavg']['cpus']} CPUs shared with other work (client and servers on the same machine).", "",
        "| measure | req/s | p50 ms (batch: ms) | p99 ms | errors | server CPU ms/req |", "|---|---|---|---|---|---|",
        row("score_single (closed loop)", r["score_single"]),
        row("score_single open loop 200 req/s", r["score_single_open_loop_200rps"]),
        row("score_batch_10k (median of 4)", r["score_batch_10k"]),
        row("proposal_create (1,000 reps)", r["proposal_create"]),
        row("forecast_get", r["forecast_get"]),
        row("mlflow models serve, 2 workers", r["mlflow_serve_baseline"]),
        row("mlflow models serve, 1 worker", r["mlflow_serve_baseline_1_worker"]),
        "", "Server variants (probe of the same closed-loop load):", "",
        "| variant | req/s | p50 ms | p99 ms | errors | server CPU ms/req |", "|---|---|---|---|---|---|",
        *[row(v, d) for v, d in r["server"]["probes"].items()],
        "", "Targets:", *[f"- {k}: {v}" for k, v in r["targets"].items()], "",
    ]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--probe", type=int, default=2000, help="requests per server-variant probe")
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--open-seconds", type=float, default=30.0)
    ap.add_argument("--max-s", type=float, default=120.0, help="time bound of each closed-loop load")
    ap.add_argument("--n-reps", type=int, default=1_000)
    ap.add_argument("--n-opportunities", type=int, default=20_000)
    ap.add_argument(
        "--variants", nargs="+", default=["uvicorn-1", "uvicorn-2", "salesplan-serve-2", "gunicorn-2"]
    )
    ap.add_argument(
        "--no-forecast", action="store_true", help="skip training the forecast (and forecast_get)"
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    args.out = args.out.resolve()
    # a killed benchmark still stops its servers and removes its temporary folder (finally blocks run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args)
    write_results("serving", result, lambda: markdown(result), default=float, folder=args.out, echo=True)


if __name__ == "__main__":
    main()
