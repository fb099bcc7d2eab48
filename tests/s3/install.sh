#!/usr/bin/env bash
# Installs the S3 server the object-storage tests start: moto's standalone
# server (PyPI `moto[server]`, which brings boto3 for the tests' own
# checks). The tests run `moto_server -H 127.0.0.1 -p PORT` themselves and
# stop it by PID (tests/interop/conftest.py).
#
# Why moto: it is a real implementation of the S3 HTTP protocol (signed
# requests, multipart uploads with ListMultipartUploads, paged ListObjectsV2
# with start-after), installs from PyPI with pip alone (no binary download),
# and runs in memory on loopback, so every test starts from an empty bucket.
#
# Idempotent: when moto_server and boto3 are there it only checks.
# Usage: bash tests/s3/install.sh        ($PYTHON overrides python3)
set -euo pipefail

log() { printf 's3/install: %s\n' "$*" >&2; }
PYTHON="${PYTHON:-python3}"

present() {
    command -v moto_server >/dev/null 2>&1 &&
        "$PYTHON" -c 'import boto3, moto.server' >/dev/null 2>&1
}

if present; then
    exit 0
fi
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    log "no pip for $PYTHON: cannot install moto[server]; the S3 tests will fail"
    exit 0
fi
pip_opts=(--quiet --disable-pip-version-check)
if [ "$(id -u)" -ne 0 ]; then
    pip_opts+=(--user)
fi
log "pip install moto[server]"
if ! "$PYTHON" -m pip install "${pip_opts[@]}" 'moto[server]'; then
    log "pip refused (externally managed environment?); retrying with --break-system-packages"
    "$PYTHON" -m pip install "${pip_opts[@]}" --break-system-packages 'moto[server]' || true
fi
hash -r
if ! present; then
    log "moto_server is still not available; the S3 tests will fail"
fi
exit 0
