#!/usr/bin/env bash
# Installs what tests/scale needs on Debian, and nothing when it is all there:
#
#   postgresql  the server binaries (initdb, pg_ctl, postgres) and psql; the
#               tests run a private cluster on 127.0.0.1 as user postgres
#               (apt's own cluster is not used and need not run)
#   util-linux  runuser (initdb and postgres refuse to run as root)
#
# Idempotent and quick (one dpkg-query) when installed. Needs root (or
# passwordless sudo); without it, it reports what is missing and exits 1.
#   Usage: bash tests/scale/install.sh
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log() { printf 'scale/install: %s\n' "$*" >&2; }

PKGS=(postgresql util-linux)

# shellcheck source=../common/sudo.sh
. "$(dirname "${BASH_SOURCE[0]}")/../common/sudo.sh"

missing=()
for p in "${PKGS[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
    [ "$status" = installed ] || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "${SUDO[*]:-}" = none ]; then
    log "not root and no passwordless sudo: cannot install: ${missing[*]}"
    exit 1
fi
apt_opts=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
log "apt-get install ${missing[*]}"
if ! "${SUDO[@]}" apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    log "apt-get update, then retrying"
    "${SUDO[@]}" apt-get "${apt_opts[@]}" update -qq
    "${SUDO[@]}" apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
