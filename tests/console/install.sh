#!/usr/bin/env bash
# Installs what the admin-console tests (tests/console/) need:
#   Debian: chromium and chromium-driver (the real browser, headless)
#   PyPI:   selenium (drives it), openapi-core (checks every API answer
#           against docs/openapi.yaml)
#   npm:    axe-core, whose axe.min.js the browser test injects to check
#           each page's accessibility (into tests/console/node_modules)
#
# Idempotent: when everything is there it only checks.
# Usage: bash tests/console/install.sh        ($PYTHON overrides python3)
set -euo pipefail

log() { printf 'console/install: %s\n' "$*" >&2; }
PYTHON="${PYTHON:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# shellcheck source=../common/apt.sh
. "$HERE/../common/apt.sh"

PKGS=(chromium chromium-driver)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
check_pkgs
if [ "${#missing[@]}" -gt 0 ]; then
    require_installer
    install_missing || true
    check_pkgs
    fail_if_missing
fi

pip_needed=()
"$PYTHON" -c 'import selenium' >/dev/null 2>&1 || pip_needed+=(selenium)
"$PYTHON" -c 'import openapi_core' >/dev/null 2>&1 || pip_needed+=(openapi-core)
if [ "${#pip_needed[@]}" -gt 0 ]; then
    pip_opts=(--quiet --disable-pip-version-check)
    if [ "$(id -u)" -ne 0 ]; then
        pip_opts+=(--user)
    fi
    log "pip install ${pip_needed[*]}"
    if ! "$PYTHON" -m pip install "${pip_opts[@]}" "${pip_needed[@]}"; then
        log "pip refused (externally managed environment?); retrying with --break-system-packages"
        "$PYTHON" -m pip install "${pip_opts[@]}" --break-system-packages "${pip_needed[@]}"
    fi
fi

if [ ! -f "$HERE/node_modules/axe-core/axe.min.js" ]; then
    log "npm install axe-core"
    (cd "$HERE" && npm install --silent --no-audit --no-fund --no-save axe-core@4)
fi
