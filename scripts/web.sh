#!/usr/bin/env bash
# Build the dashboard (web/) into api/web_dist, where the API serves it at / and from where
# `pip install` carries it. Installs Debian's nodejs and npm (Node 18) when node is missing
# (as root); runs `npm ci` when package-lock.json changed and `npm run build` (type check, then
# Vite) when web/'s sources changed. About a minute and 290 MB of node_modules (most of it the
# bundled Chinese font) on a first run.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[web] %s\n' "$*"; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [[ "$(id -u)" -ne 0 ]]; then
        log "WARNING: node and npm are missing: the dashboard is not built (install nodejs and npm)" >&2
        exit 0
    fi
    log "installing nodejs and npm"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
    || { echo "[web] ERROR: the dashboard needs Node.js >= 18 (found $(node --version))" >&2; exit 1; }

sources_hash() {
    find web -path web/node_modules -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
}
stamp="api/web_dist/.built-from"
want="$(sources_hash)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi
lock="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
if [[ ! -f web/node_modules/.offsite-lock || "$(cat web/node_modules/.offsite-lock)" != "$lock" ]]; then
    log "installing the dashboard's packages (npm ci)"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock" > web/node_modules/.offsite-lock
fi
log "building the dashboard into api/web_dist"
(cd web && npm run --silent build -- --logLevel warn)
echo "$want" > "$stamp"
