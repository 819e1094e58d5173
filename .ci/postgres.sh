#!/usr/bin/env bash
# Private PostgreSQL cluster for tests and the demo.
#   .ci/postgres.sh start|stop|status|url|psql [psql args...]
# Listens on 127.0.0.1:${PGPORT_CRM:-5433} only; data in var/postgres/data,
# unix socket in var/postgres/run, log in var/postgres/postgres.log.
# Role crm/crm (LOGIN CREATEDB); loopback auth is "trust" (test cluster only).
# `url` prints the TRYTOND_DATABASE__URI value: postgresql://crm:crm@127.0.0.1:PORT/
# `status` exits 0 when running, 3 when not.
#
# The server refuses to run as root, so as root every server command runs as
# the Debian "postgres" user (runuser) and var/postgres is owned by it. If that
# user cannot reach the repository (e.g. a clone under /root, mode 0700), the
# cluster lives in /tmp/crm-pg-<hash of repo path> instead and var/postgres is
# a symlink to it. As a non-root user the cluster simply runs as that user.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${PGPORT_CRM:-5433}"
HOST=127.0.0.1
ROLE=crm
ROLE_PW=crm
SUPERUSER=postgres

log() { printf '[postgres] %s\n' "$*"; }
die() { printf '[postgres] ERROR: %s\n' "$*" >&2; exit 1; }

url() { printf 'postgresql://%s:%s@%s:%s/\n' "$ROLE" "$ROLE_PW" "$HOST" "$PORT"; }

HASH="$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)"
LINK="$ROOT/var/postgres"
FALLBACK="/tmp/crm-pg-$HASH"

if (( EUID == 0 )); then AS_ROOT=1; else AS_ROOT=0; fi

# run a command as the cluster owner, from a directory it can read
as_owner() {
    if (( AS_ROOT )); then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# --- where the cluster lives ---------------------------------------------
resolve_base() {
    if [[ -L "$LINK" ]]; then
        BASE="$(readlink -f "$LINK")"
    elif [[ -d "$LINK" ]]; then
        BASE="$LINK"
    else
        BASE=""   # not decided yet (start decides)
    fi
}

choose_base() {
    mkdir -p "$ROOT/var"
    if (( AS_ROOT )) && ! runuser -u postgres -- test -x "$ROOT/var" 2>/dev/null; then
        log "user postgres cannot reach $ROOT/var; using $FALLBACK (symlinked as var/postgres)"
        mkdir -p "$FALLBACK"
        ln -sfn "$FALLBACK" "$LINK"
        BASE="$FALLBACK"
    else
        mkdir -p "$LINK"
        BASE="$LINK"
    fi
}

set_paths() {
    PGDATA="$BASE/data"
    LOGFILE="$BASE/postgres.log"
    SOCKDIR="$BASE/run"
    # unix socket paths are limited to 107 bytes
    if (( ${#SOCKDIR} + 20 > 107 )); then
        SOCKDIR="/tmp/crm-pg-sock-$HASH"
    fi
}

pg_bin() {
    local ver=""
    if [[ -n "${PGDATA:-}" && -f "$PGDATA/PG_VERSION" ]]; then
        ver="$(cat "$PGDATA/PG_VERSION")"
        if [[ -x "/usr/lib/postgresql/$ver/bin/pg_ctl" ]]; then
            PGBIN="/usr/lib/postgresql/$ver/bin"; return 0
        fi
    fi
    local d
    d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
    [[ -n "$d" && -x "$d/pg_ctl" ]] || return 1
    PGBIN="$d"
}

is_running() {
    [[ -n "${BASE:-}" && -f "$PGDATA/PG_VERSION" ]] || return 1
    pg_bin || return 1
    as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

super_psql() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U "$SUPERUSER" -d postgres "$@"
}

# --- commands -----------------------------------------------------------
cmd_start() {
    if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        log "PostgreSQL server not installed, installing"
        "$ROOT/.ci/system-deps.sh" postgres
    fi
    resolve_base
    [[ -n "$BASE" ]] || choose_base
    set_paths
    pg_bin || die "no PostgreSQL binaries under /usr/lib/postgresql"

    mkdir -p "$SOCKDIR"
    if (( AS_ROOT )); then
        chown postgres:postgres "$BASE" "$SOCKDIR"
        chmod 0755 "$BASE"
    fi

    if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
        local locale=C
        if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
        log "initdb $PGDATA ($("$PGBIN/postgres" --version | awk '{print $3}'), UTF8, locale $locale)"
        rm -rf "$PGDATA"
        as_owner "$PGBIN/initdb" -D "$PGDATA" -U "$SUPERUSER" -E UTF8 --locale="$locale" \
            --auth-local=trust --auth-host=trust >"$BASE/initdb.log" 2>&1 \
            || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
    fi

    if is_running; then
        log "already running ($PGDATA)"
    else
        # someone else on the port?
        if "$PGBIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 2 >/dev/null 2>&1; then
            die "port $PORT on $HOST is used by another server; set PGPORT_CRM to a free port"
        fi
        log "starting on $HOST:$PORT"
        # test cluster: durability off for speed
        local opts="-c listen_addresses=$HOST -c port=$PORT -c unix_socket_directories=$SOCKDIR"
        opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        opts+=" -c max_connections=200"
        if (( AS_ROOT )); then touch "$LOGFILE"; chown postgres:postgres "$LOGFILE"; fi
        if ! as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOGFILE" -w -t 60 -o "$opts" start >/dev/null; then
            tail -n 20 "$LOGFILE" >&2 || true
            die "pg_ctl start failed (log: $LOGFILE)"
        fi
    fi

    local i
    for ((i = 0; i < 60; i++)); do
        "$PGBIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 1 && break
        sleep 0.5
    done
    "$PGBIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 1 || die "server not ready on $HOST:$PORT (log: $LOGFILE)"

    if [[ "$(super_psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]]; then
        log "creating role $ROLE (LOGIN CREATEDB)"
        super_psql -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE_PW'"
    fi
    log "ready: $(url)"
}

cmd_stop() {
    resolve_base
    if [[ -z "$BASE" ]]; then log "not running (no cluster)"; return 0; fi
    set_paths
    if is_running; then
        as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
        log "stopped"
    else
        log "not running"
    fi
}

cmd_status() {
    resolve_base
    if [[ -z "$BASE" ]]; then log "stopped (no cluster in $LINK)"; return 3; fi
    set_paths
    if is_running; then
        log "running, data $PGDATA, port $PORT, $(url)"
    else
        log "stopped, data $PGDATA"
        return 3
    fi
}

cmd_psql() {
    pg_bin || die "PostgreSQL not installed"
    exec env PGPASSWORD="$ROLE_PW" "$PGBIN/psql" -X -h "$HOST" -p "$PORT" -U "$ROLE" -d postgres "$@"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) url ;;
    psql) shift; cmd_psql "$@" ;;
    *) echo "usage: $0 start|stop|status|url|psql [args]" >&2; exit 2 ;;
esac
