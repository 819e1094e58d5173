#!/usr/bin/env bash
# make demo: build (or reuse) the ERP database "crm" with demo data under
# var/, then run the ERP with its web client and the sync API until Ctrl-C.
#   DEMO_REBUILD=1 .ci/demo.sh   rebuilds the database from scratch
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
DB_DIR="$ROOT/var/db"
DB=crm
CONF="$ROOT/var/trytond.conf"
READY="$DB_DIR/$DB.ready"
PASSFILE="$ROOT/var/demo-password"
ERP_PORT="${CRM_ERP_PORT:-8000}"
API_PORT="${CRM_API_PORT:-5000}"

log() { printf '[demo] %s\n' "$*"; }

SAO_ROOT="$(.ci/sao.sh)"
mkdir -p "$DB_DIR"
cat > "$CONF" <<CONF
[database]
uri = sqlite://
path = $DB_DIR

[web]
listen = 127.0.0.1:$ERP_PORT
root = $SAO_ROOT
CONF
export TRYTOND_CONFIG="$CONF"

if [[ ! -s "$PASSFILE" ]]; then
    "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(9))' > "$PASSFILE"
    chmod 600 "$PASSFILE"
fi
export TRYTONPASSFILE="$PASSFILE"
export CRM_DEMO_PASSWORD="$(cat "$PASSFILE")"

if [[ "${DEMO_REBUILD:-0}" == 1 || ! -f "$READY" ]]; then
    # no ready marker: a first run, or an earlier run stopped half way
    log "creating the ERP database '$DB' (about a minute)"
    rm -f "$DB_DIR/$DB.sqlite" "$READY"
    : > "$DB_DIR/$DB.sqlite"
    "$VENV/bin/trytond-admin" -d "$DB" --all --email admin@example.com
    log "activating crm_module"
    "$VENV/bin/trytond-admin" -d "$DB" -u crm_module --activate-dependencies
    log "loading the Chinese (zh_CN) translations"
    "$VENV/bin/trytond-admin" -d "$DB" --all -l zh_CN
    log "loading the demo data"
    "$VENV/bin/python" -m fixtures.load_demo "$DB"
    touch "$READY"
else
    log "reusing the ERP database '$DB' (DEMO_REBUILD=1 make demo rebuilds it)"
    "$VENV/bin/trytond-admin" -d "$DB" -u crm_module
fi

export CRM_ERP_URL="http://127.0.0.1:$ERP_PORT" CRM_ERP_DATABASE="$DB"
"$VENV/bin/flask" --app sync_api db upgrade

pids=()
stop() {
    trap - INT TERM EXIT
    log "stopping"
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$VENV/bin/trytond" -d "$DB" &
pids+=($!)
"$VENV/bin/flask" --app sync_api run --host 127.0.0.1 --port "$API_PORT" &
pids+=($!)

for _ in $(seq 1 60); do
    curl -fs -o /dev/null "http://127.0.0.1:$ERP_PORT/" && break
    sleep 0.5
done
cat <<MSG

  ERP web client : http://127.0.0.1:$ERP_PORT/
                   database "$DB", user "admin" or "zhang" (Chinese),
                   password "$CRM_DEMO_PASSWORD" (kept in var/demo-password)
                   Customer Relationship > Customers by Tier / Customer Evaluations
  Sync API       : http://127.0.0.1:$API_PORT/health

  Press Ctrl-C to stop.
MSG
wait
