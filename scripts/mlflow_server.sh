#!/usr/bin/env bash
# A shared MLflow tracking server for a team: PostgreSQL backend store + a local artifact root, on loopback.
#   scripts/mlflow_server.sh start   # starts PostgreSQL (scripts/pg.sh) and the server; prints the tracking URI
#   scripts/mlflow_server.sh url     # print the tracking URI
#   scripts/mlflow_server.sh status  # exit 0 if the server answers /health
#   scripts/mlflow_server.sh stop    # stop the MLflow server (PostgreSQL keeps running: `scripts/pg.sh stop`)
# Then: export MLFLOW_TRACKING_URI=$(scripts/mlflow_server.sh url); salesplan train forecast --simulated ...
# Env: SALESPLAN_MLFLOW_PORT (default 5055), SALESPLAN_MLFLOW_HOST (default 127.0.0.1: loopback only; put a
# reverse proxy with authentication in front before opening it to a network), SALESPLAN_MLFLOW_DIR (artifacts,
# logs and pid; default /tmp/salesplan-mlflow-<port>), SALESPLAN_MLFLOW_DB (database name, default mlflow),
# SALESPLAN_PG_PORT (the PostgreSQL of scripts/pg.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PORT="${SALESPLAN_MLFLOW_PORT:-5055}"
HOST="${SALESPLAN_MLFLOW_HOST:-127.0.0.1}"
DIR="${SALESPLAN_MLFLOW_DIR:-/tmp/salesplan-mlflow-${PORT}}"
PIDFILE="$DIR/server.pid"
LOGFILE="$DIR/server.log"
URI="http://${HOST}:${PORT}"
DB="${SALESPLAN_MLFLOW_DB:-mlflow}"

log() { echo "mlflow_server.sh: $*" >&2; }
die() { log "$*"; exit 1; }

python_bin() {
    if [[ -x "$ROOT/.venv/bin/python" ]]; then echo "$ROOT/.venv/bin/python"; else command -v python3; fi
}

healthy() { "$(python_bin)" - "$URI" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/health", timeout=2).read()
PY
}

create_db() {
    # The `salesplan` role of pg.sh may create databases; MLflow gets its own one so its schema
    # (migrated by MLflow on first start) never mixes with the application's tables.
    "$(python_bin)" - "$1" "$DB" <<'PY'
import sys
import psycopg
url, db = sys.argv[1].replace("postgresql+psycopg://", "postgresql://"), sys.argv[2]
with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone() is None:
        conn.execute(f'CREATE DATABASE "{db}"')
PY
}

cmd_start() {
    if healthy; then
        echo "$URI"
        return 0
    fi
    local pg_url backend mlflow_bin
    pg_url="$(bash "$HERE/pg.sh" start)" || die "PostgreSQL did not start (see scripts/pg.sh output above)"
    create_db "$pg_url" || die "could not create database '$DB' on $pg_url"
    backend="${pg_url%/*}/$DB"
    mkdir -p "$DIR/artifacts"
    mlflow_bin="$(dirname "$(python_bin)")/mlflow"
    [[ -x "$mlflow_bin" ]] || mlflow_bin="$(command -v mlflow)" || die "mlflow is not installed: run 'make install'"
    log "starting MLflow on $URI (backend $backend, artifacts $DIR/artifacts)"
    # --serve-artifacts: clients upload/download artifacts through the server, so they need no shared disk.
    # MLFLOW_SERVER_ENABLE_JOB_EXECUTION: off unless set, for MLflow 3's server-side (GenAI) jobs would start
    # a job runner and seven huey consumer processes beside it (about 20 s of CPU at start) that salesplan
    # never uses
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}" nohup "$mlflow_bin" server \
        --backend-store-uri "$backend" \
        --artifacts-destination "$DIR/artifacts" \
        --serve-artifacts \
        --host "$HOST" --port "$PORT" --workers 1 \
        >"$LOGFILE" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 120); do
        if healthy; then
            echo "$URI"
            return 0
        fi
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || die "server exited; last lines of $LOGFILE: $(tail -n 20 "$LOGFILE")"
        sleep 1
    done
    die "server did not answer $URI/health within 120 s; see $LOGFILE"
}

cmd_stop() {
    [[ -f "$PIDFILE" ]] || return 0
    local pid
    pid="$(cat "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
        log "stopping MLflow server (pid $pid)"
        # The server runs workers in its process group: stop the children, then the parent.
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) healthy ;;
    url) echo "$URI" ;;
    *)
        echo "usage: $0 start|stop|status|url" >&2
        exit 2
        ;;
esac
