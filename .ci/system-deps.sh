#!/usr/bin/env bash
# Install the Debian packages the CI / demo needs, only when missing.
#   .ci/system-deps.sh [postgres] [browser] [node]
# postgres: PostgreSQL server (Debian "postgresql", 15 on bookworm)
# browser:  chromium, chromium-driver, fonts-wqy-zenhei (Selenium / screenshots)
# node:     Debian nodejs + npm, only if no `npm` is on PATH (the machine
#           image normally ships Node.js 20 with npm 11; used by .ci/sao.sh)
# A second run with everything present does no apt call at all.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[system-deps] %s\n' "$*"; }

# true when every named Debian package is installed
pkgs_installed() {
    local st
    for p in "$@"; do
        st="$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)"
        [[ "$st" == ii* ]] || return 1
    done
}

have_postgres_server() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
        && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}

want_postgres=0
want_browser=0
want_node=0
for arg in "$@"; do
    case "$arg" in
        postgres|postgresql) want_postgres=1 ;;
        browser|chromium) want_browser=1 ;;
        node|npm) want_node=1 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "usage: $0 [postgres] [browser] [node]" >&2; exit 2 ;;
    esac
done

missing=()
if (( want_postgres )); then
    if have_postgres_server; then
        log "postgres: present ($(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1))"
    else
        missing+=(postgresql)
    fi
fi
if (( want_browser )); then
    for p in chromium chromium-driver fonts-wqy-zenhei; do
        if pkgs_installed "$p"; then
            log "browser: $p present"
        else
            missing+=("$p")
        fi
    done
fi
if (( want_node )); then
    if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
        log "node: present ($(command -v node))"
    else
        missing+=(nodejs npm)
    fi
fi

if (( ${#missing[@]} == 0 )); then
    log "nothing to install"
    exit 0
fi

SUDO=()
if (( EUID != 0 )); then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        echo "[system-deps] missing ${missing[*]} and not root (no sudo)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

log "installing: ${missing[*]}"
start=$SECONDS
"${SUDO[@]}" "${APT[@]}" update -qq
"${SUDO[@]}" "${APT[@]}" install --no-install-recommends "${missing[@]}"
log "installed ${missing[*]} in $((SECONDS - start))s"

# sanity checks after install
if (( want_postgres )) && ! have_postgres_server; then
    echo "[system-deps] postgresql installed but no /usr/lib/postgresql/*/bin/initdb" >&2
    exit 1
fi
if (( want_browser )); then
    for b in /usr/bin/chromium /usr/bin/chromedriver; do
        [[ -x "$b" ]] || { echo "[system-deps] $b missing after install" >&2; exit 1; }
    done
fi
