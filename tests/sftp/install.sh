#!/usr/bin/env bash
# Installs the SFTP clients the SFTP tests (tests/interop/test_sftp.py) use
# against wharfd: OpenSSH's `sftp`, `scp` and `ssh` (Debian openssh-client)
# and paramiko (PyPI). curl and lftp come from scripts/install-test-deps.sh.
#
# Idempotent: when everything is there it only checks.
# Usage: bash tests/sftp/install.sh        ($PYTHON overrides python3)
set -euo pipefail

log() { printf 'sftp/install: %s\n' "$*" >&2; }
PYTHON="${PYTHON:-python3}"

# shellcheck source=../common/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../common/apt.sh"

if ! command -v sftp >/dev/null 2>&1 || ! command -v scp >/dev/null 2>&1; then
    missing=(openssh-client)
    install_missing || log "could not install openssh-client; the SFTP tests will fail"
fi
if "$PYTHON" -c 'import paramiko' >/dev/null 2>&1; then
    exit 0
fi
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    log "no pip for $PYTHON: cannot install paramiko; the SFTP tests will fail"
    exit 0
fi
pip_opts=(--quiet --disable-pip-version-check)
if [ "$(id -u)" -ne 0 ]; then
    pip_opts+=(--user)
fi
log "pip install paramiko"
if ! "$PYTHON" -m pip install "${pip_opts[@]}" paramiko; then
    log "pip refused (externally managed environment?); retrying with --break-system-packages"
    "$PYTHON" -m pip install "${pip_opts[@]}" --break-system-packages paramiko || true
fi
