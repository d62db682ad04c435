#!/usr/bin/env bash
# A throwaway local PostgreSQL for tests and development, without systemd:
#   scripts/pg.sh start   # install if missing, init + start (or reuse); prints the SQLAlchemy URL on stdout
#   scripts/pg.sh url     # print the URL
#   scripts/pg.sh status  # exit 0 if the server runs
#   scripts/pg.sh stop    # stop it (the data stay in the data dir for a fast next start)
# Env: SALESPLAN_PG_PORT (default 55432), SALESPLAN_PG_DIR (default /tmp/salesplan-pg-<port>).
# Listens on 127.0.0.1 only with trust auth for role/database `salesplan`: for tests, never production.
# fsync is off: a crash may lose this database, which is fine for a test server and much faster.
set -euo pipefail

PORT="${SALESPLAN_PG_PORT:-55432}"
DATA="${SALESPLAN_PG_DIR:-/tmp/salesplan-pg-${PORT}}"
LOCK="/tmp/salesplan-pg-${PORT}.lock"
DB=salesplan
URL="postgresql+psycopg://${DB}@127.0.0.1:${PORT}/${DB}"

log() { echo "pg.sh: $*" >&2; }
die() { log "$*"; exit 1; }

find_bindir() {
    local d
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    # Debian keeps the server binaries off PATH; take the newest major version.
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
        if [[ -x "$d/pg_ctl" && -x "$d/initdb" ]]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

install_postgres() {
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed and we are not root: install the 'postgresql' package"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is unavailable"
    log "installing PostgreSQL with apt-get (once)…"
    # policy-rc.d 101 keeps the package from starting its own cluster: there is no init system here.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    local rc=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2 || rc=$?
    [[ $created_policy == 1 ]] && rm -f "$policy"
    [[ $rc == 0 ]] || die "apt-get install postgresql failed (exit $rc)"
}

# initdb refuses to run as root: as root we run the server as an unprivileged system user.
server_user() {
    if [[ "$(id -u)" != 0 ]]; then
        id -un
    elif id postgres >/dev/null 2>&1; then
        echo postgres
    else
        id salesplan-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin salesplan-pg
        echo salesplan-pg
    fi
}

as_user() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u "$RUN_AS" -- "$@"
    else
        "$@"
    fi
}

running() { [[ -f "$DATA/PG_VERSION" ]] && as_user "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

psql_admin() { as_user "$BIN/psql" -X -q -h "$DATA" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

init_cluster() {
    log "initialising a cluster in $DATA (user $RUN_AS)"
    mkdir -p "$DATA"
    chown "$RUN_AS" "$DATA"
    chmod 700 "$DATA"
    as_user "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
    cat >>"$DATA/postgresql.conf" <<CONF
# salesplan test server (scripts/pg.sh)
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
max_connections = 60
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    cat >"$DATA/pg_hba.conf" <<HBA
local all all trust
host  all all 127.0.0.1/32 trust
HBA
}

ensure_role_and_db() {
    psql_admin <<SQL
SELECT 'CREATE ROLE $DB LOGIN CREATEDB' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB')\gexec
SELECT 'CREATE DATABASE $DB OWNER $DB' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB')\gexec
SQL
}

cmd_start() {
    if ! BIN="$(find_bindir)"; then
        install_postgres
        BIN="$(find_bindir)" || die "PostgreSQL binaries not found after install (looked on PATH and /usr/lib/postgresql/*/bin)"
    fi
    if ! running; then
        if port_taken; then
            die "port $PORT on 127.0.0.1 is taken by another process; set SALESPLAN_PG_PORT to a free port"
        fi
        [[ -f "$DATA/PG_VERSION" ]] || init_cluster
        log "starting PostgreSQL on 127.0.0.1:$PORT"
        # 9>&-: the server must not inherit the lock's descriptor, or it would hold the lock forever.
        as_user "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 -s start >&2 9>&- ||
            die "pg_ctl start failed; last lines of $DATA/server.log: $(tail -n 5 "$DATA/server.log" 2>/dev/null)"
    fi
    ensure_role_and_db
    echo "$URL"
}

cmd_stop() {
    BIN="$(find_bindir)" || exit 0 # nothing installed, nothing running
    if running; then
        log "stopping PostgreSQL on port $PORT"
        as_user "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 -s stop >&2
    fi
}

case "${1:-}" in
    start | stop | status)
        RUN_AS="$(server_user)"
        exec 9>"$LOCK" # start/stop of the same port never interleave
        flock 9
        case "$1" in
            start) cmd_start ;;
            stop) cmd_stop ;;
            status) BIN="$(find_bindir)" || exit 1; running ;;
        esac
        ;;
    url) echo "$URL" ;;
    *)
        echo "usage: $0 start|stop|status|url" >&2
        exit 2
        ;;
esac
