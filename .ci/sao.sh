#!/usr/bin/env bash
# Install sao, the Tryton web client, into var/sao and print that folder
# (the one holding index.html) on stdout: use it as trytond's [web] root.
#   .ci/sao.sh            install if missing, then print the path
#   .ci/sao.sh --update   also ask the registry for a newer release of the series
# Env: SAO_VERSION (default 8.0: newest 8.0.x; or an exact version like 8.0.11).
# Progress goes to stderr, so  SAO_ROOT="$(.ci/sao.sh)"  works in a Makefile.
# Method (crm_module/doc/design.md, stack facts): npm pack tryton-sao@<spec>,
# unpack, then
# `npm install --omit=dev --legacy-peer-deps` inside the unpacked folder.
# An existing install of a matching version is reused without any network call.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPEC="${SAO_VERSION:-8.0}"
DEST="$ROOT/var/sao"
STAMP="$DEST/.sao-version"
UPDATE=0

log() { printf '[sao] %s\n' "$*" >&2; }
die() { printf '[sao] ERROR: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
    case "$arg" in
        --update) UPDATE=1 ;;
        -h|--help) sed -n '2,10p' "$0" >&2; exit 0 ;;
        *) echo "usage: $0 [--update]" >&2; exit 2 ;;
    esac
done

# does installed version $1 satisfy SPEC? (exact "X.Y.Z" or series "X.Y")
matches_spec() {
    local v="$1"
    if [[ "$SPEC" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
        [[ "$v" == "$SPEC" ]]
    else
        [[ "$v" == "$SPEC".* ]]
    fi
}

installed=""
if [[ -f "$DEST/index.html" && -f "$STAMP" ]]; then
    installed="$(cat "$STAMP")"
fi

NPM_FLAGS=(--loglevel=error --no-audit --no-fund --no-update-notifier)

want=""
if [[ -n "$installed" ]] && matches_spec "$installed"; then
    if (( UPDATE )); then
        command -v npm >/dev/null 2>&1 || "$ROOT/.ci/system-deps.sh" node >&2
        want="$(npm view "tryton-sao@$SPEC" version "${NPM_FLAGS[@]}" 2>/dev/null | tail -n1 | awk '{print $NF}' | tr -d "'")"
        [[ -n "$want" ]] || die "cannot resolve tryton-sao@$SPEC on the npm registry"
    else
        want="$installed"
    fi
fi

if [[ -n "$installed" && "$installed" == "$want" ]]; then
    log "sao $installed already installed"
    printf '%s\n' "$DEST"
    exit 0
fi

command -v npm >/dev/null 2>&1 || "$ROOT/.ci/system-deps.sh" node >&2

start=$SECONDS
mkdir -p "$ROOT/var"
WORK="$(mktemp -d "$ROOT/var/.sao-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "npm pack tryton-sao@${want:-$SPEC}"
tgz="$(cd "$WORK" && npm pack "tryton-sao@${want:-$SPEC}" "${NPM_FLAGS[@]}" | tail -n1)"
[[ -f "$WORK/$tgz" ]] || die "npm pack produced no tarball (got '$tgz')"
tar -xzf "$WORK/$tgz" -C "$WORK"
[[ -f "$WORK/package/index.html" ]] || die "no index.html in $tgz"
version="$(node -p 'require(process.argv[1]).version' "$WORK/package/package.json")"
matches_spec "$version" || die "got tryton-sao $version, which does not match $SPEC"

log "npm install --omit=dev --legacy-peer-deps (tryton-sao $version)"
(cd "$WORK/package" && npm install --omit=dev --legacy-peer-deps "${NPM_FLAGS[@]}" >&2)
[[ -f "$WORK/package/node_modules/jquery/dist/jquery.js" ]] || die "npm install left no node_modules/jquery"
[[ -f "$WORK/package/dist/tryton-sao.js" ]] || die "no dist/tryton-sao.js in the package"
printf '%s\n' "$version" > "$WORK/package/.sao-version"

rm -rf "$DEST"
mv "$WORK/package" "$DEST"
log "installed sao $version in $DEST ($((SECONDS - start))s)"
printf '%s\n' "$DEST"
