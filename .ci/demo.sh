#!/usr/bin/env bash
# make demo: build (or reuse) the ERP database "crm" with demo data under
# var/, then run the ERP with its web client, the sync API, its sync worker
# and the ERP's scheduled actions (trytond-cron) until Ctrl-C. The demo's
# sales go through the API: the ERP is built
# with its company and customers, the servers start, the fixture sales
# lines are pushed to the API, the worker brings their monthly summaries
# into the ERP, and only then are the evaluations computed.
#   DEMO_REBUILD=1 .ci/demo.sh   rebuilds the databases from scratch
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
DB_DIR="$ROOT/var/db"
DB=crm
CONF="$ROOT/var/trytond.conf"
READY="$DB_DIR/$DB.ready"
PASSFILE="$ROOT/var/demo-password"
ERP_KEY_FILE="$ROOT/var/erp-key"
API_KEY_FILE="$ROOT/var/api-key"
ERP_REPORTS_KEY_FILE="$ROOT/var/erp-reports-key"
FINANCE_KEY_FILE="$ROOT/var/finance-api-key"
API_DB="$ROOT/var/sync_api.sqlite"
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

need_sales=0
if [[ "${DEMO_REBUILD:-0}" == 1 || ! -f "$READY" ]]; then
    # no ready marker: a first run, or an earlier run stopped half way
    log "creating the ERP database '$DB' (about a minute)"
    rm -f "$DB_DIR/$DB.sqlite" "$READY" "$ERP_KEY_FILE" "$API_KEY_FILE" \
        "$ERP_REPORTS_KEY_FILE" "$FINANCE_KEY_FILE"
    # The API's ledger belongs to the ERP it fed: start both anew.
    rm -f "$API_DB" "$API_DB-wal" "$API_DB-shm"
    : > "$DB_DIR/$DB.sqlite"
    "$VENV/bin/trytond-admin" -d "$DB" --all --email admin@example.com
    log "activating crm_module"
    "$VENV/bin/trytond-admin" -d "$DB" -u crm_module --activate-dependencies
    log "loading the Chinese (zh_CN) translations"
    "$VENV/bin/trytond-admin" -d "$DB" --all -l zh_CN
    log "loading the demo company and customers"
    "$VENV/bin/python" -m fixtures.load_demo "$DB" --phase base
    log "making the ERP application key of the sync API (crm_sync)"
    "$VENV/bin/python" -m fixtures.load_demo "$DB" --phase erp-key \
        | tail -n 1 > "$ERP_KEY_FILE"
    chmod 600 "$ERP_KEY_FILE"
    need_sales=1
else
    log "reusing the ERP database '$DB' (DEMO_REBUILD=1 make demo rebuilds it)"
    "$VENV/bin/trytond-admin" -d "$DB" -u crm_module
fi

if [[ ! -s "$ERP_REPORTS_KEY_FILE" ]]; then
    # also for a demo database made before the reports existed
    log "making the user finance and its ERP key of the reports (crm_reports)"
    "$VENV/bin/python" -m fixtures.load_demo "$DB" --phase reports-key \
        | tail -n 1 > "$ERP_REPORTS_KEY_FILE"
    chmod 600 "$ERP_REPORTS_KEY_FILE"
fi

export CRM_ERP_URL="http://127.0.0.1:$ERP_PORT" CRM_ERP_DATABASE="$DB"
export CRM_ERP_KEY="$(cat "$ERP_KEY_FILE")"
export CRM_ERP_REPORTS_KEY="$(cat "$ERP_REPORTS_KEY_FILE")"
export CRM_API_DATABASE_URI="sqlite:///$API_DB"
"$VENV/bin/flask" --app sync_api db upgrade
if [[ ! -s "$API_KEY_FILE" ]]; then
    "$VENV/bin/flask" --app sync_api keys create --name demo --scope admin \
        2>/dev/null | tail -n 1 > "$API_KEY_FILE"
    chmod 600 "$API_KEY_FILE"
fi
API_KEY="$(cat "$API_KEY_FILE")"
if [[ ! -s "$FINANCE_KEY_FILE" ]]; then
    "$VENV/bin/flask" --app sync_api keys create --name finance \
        --scope reports:read 2>/dev/null | tail -n 1 > "$FINANCE_KEY_FILE"
    chmod 600 "$FINANCE_KEY_FILE"
fi

pids=()
cron_pid=
stop() {
    trap - INT TERM EXIT
    log "stopping"
    kill "${pids[@]}" 2>/dev/null || true
    # trytond-cron leads its own process group: stop its worker processes too
    if [[ -n "$cron_pid" ]]; then
        kill -- -"$cron_pid" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$VENV/bin/trytond" -d "$DB" &
pids+=($!)
"$VENV/bin/gunicorn" --config python:sync_api.gunicorn_conf --workers 2 --bind "127.0.0.1:$API_PORT" \
    --access-logfile - "sync_api:create_app()" &
pids+=($!)
"$VENV/bin/flask" --app sync_api sync run &
pids+=($!)

for _ in $(seq 1 120); do
    curl -fs -o /dev/null "http://127.0.0.1:$ERP_PORT/" \
        && curl -fs -o /dev/null "http://127.0.0.1:$API_PORT/health" && break
    sleep 0.5
done

if (( need_sales )); then
    log "pushing the demo sales lines through the API"
    "$VENV/bin/python" -m fixtures.push_demo_sales \
        --url "http://127.0.0.1:$API_PORT" --key "$API_KEY"
    log "computing the evaluations from the synced summaries"
    "$VENV/bin/python" -m fixtures.load_demo "$DB" --phase evaluations
    touch "$READY"
fi

# The ERP's scheduled actions, once the demo data is complete: complaint
# escalation every 15 minutes, reminders and the yearly draft evaluation
# once a day (on a new database each runs within a minute). trytond-cron
# forks worker processes that outlive a TERM sent to it alone, so it runs
# in its own process group (setsid) and stop() ends the whole group.
setsid "$VENV/bin/trytond-cron" -d "$DB" &
cron_pid=$!
pids+=("$cron_pid")

cat <<MSG

  ERP web client : http://127.0.0.1:$ERP_PORT/
                   database "$DB", user "admin" or "zhang" (Chinese),
                   password "$CRM_DEMO_PASSWORD" (kept in var/demo-password)
                   Customer Relationship > Customers by Tier / Customer Evaluations
  Sync API       : http://127.0.0.1:$API_PORT/health
                   http://127.0.0.1:$API_PORT/api/v1/openapi.json
                   demo key (scope admin, kept in var/api-key):
                   $API_KEY
                   curl -H "Authorization: Bearer \$(cat var/api-key)" \\
                        http://127.0.0.1:$API_PORT/api/v1/sync/status
  Finance reports: key of scope reports:read in var/finance-api-key (README
                   "Reports for finance"), e.g. the tiers as a spreadsheet:
                   curl -H "Authorization: Bearer \$(cat var/finance-api-key)" \\
                        -OJ "http://127.0.0.1:$API_PORT/api/v1/reports/tiers?format=xlsx"
                   ERP user "finance" (group CRM Finance), same password
  Scheduled      : trytond-cron: complaint escalations every 15 minutes,
                   reminders and the yearly draft evaluation daily

  Press Ctrl-C to stop.
MSG
wait
