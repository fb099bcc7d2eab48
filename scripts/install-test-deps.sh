#!/usr/bin/env bash
# Installs what the Wharf test suite needs, and nothing when it is all present.
#
#   Debian packages: curl, lftp, wget, rclone, iproute2, systemd (its
#                    systemd-socket-activate and systemd-analyze; nothing is
#                    started), man-db, zsh and fish (which check the man pages
#                    and shell completions), lintian (checks the .deb packages)
#                    (and python3 / pip when missing)
#   tests/*/install.sh: the real FTP, news and mail servers the clients meet
#   cargo:           cargo-deb (for the package test)
#   PyPI:            pytest (only when `python3 -c 'import pytest'` fails),
#                    moto[server] (tests/s3/install.sh),
#                    paramiko + openssh-client (tests/sftp/install.sh),
#                    selenium + openapi-core, chromium + chromium-driver and
#                    npm axe-core (tests/console/install.sh)
#
# Idempotent and quick when everything is there. Without root (and without
# passwordless sudo) it reports what is missing; it exits 1 when PostgreSQL
# (tests/scale/install.sh) cannot be installed, and 0 otherwise: the tests
# themselves then fail with a clear message naming the missing tool.
set -euo pipefail

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

# shellcheck source=../tests/common/sudo.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/common/sudo.sh"

# command name -> Debian package
declare -A PKG_OF=(
    [curl]=curl
    [lftp]=lftp
    [rclone]=rclone
    [wget]=wget
    [ss]=iproute2
    [python3]=python3
    [systemd-socket-activate]=systemd
    [systemd-analyze]=systemd
    [man]=man-db
    [zsh]=zsh
    [fish]=fish
    [lintian]=lintian
)

missing=()
for cmd in curl lftp wget rclone ss python3 systemd-socket-activate systemd-analyze man zsh fish lintian; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG_OF[$cmd]}")
done
# one package may provide several commands
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

need_pytest=0
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import pytest' >/dev/null 2>&1; then
    need_pytest=1
fi

install_cargo_deb() {
    # cargo-deb builds the .deb packages that tests/interop/test_service.py
    # installs (scripts/build-deb.sh); compiled once, a few minutes.
    if ! command -v cargo-deb >/dev/null 2>&1 && command -v cargo >/dev/null 2>&1; then
        log "cargo install --locked cargo-deb"
        cargo install --quiet --locked cargo-deb || log "cargo install cargo-deb failed"
    fi
}

install_peers() {
    install_cargo_deb
    # The real FTP servers the client is tested against (vsftpd, pure-ftpd,
    # ProFTPD, pyftpdlib); quick when they are there already.
    bash "$(dirname "${BASH_SOURCE[0]}")/../tests/peers/install.sh" || log "tests/peers/install.sh failed"
    # INN, the news server the NNTP client is tested against.
    bash "$(dirname "${BASH_SOURCE[0]}")/../tests/news/install.sh" || log "tests/news/install.sh failed"
    # PostgreSQL, for the scale-out tests (two instances sharing accounts).
    # Fatal when it fails: without PostgreSQL tests/scale cannot run (it then
    # fails too, but this says why first).
    if ! bash "$(dirname "${BASH_SOURCE[0]}")/../tests/scale/install.sh"; then
        log "tests/scale/install.sh failed: PostgreSQL is missing, so tests/scale cannot run"
        exit 1
    fi
    # dovecot + postfix, the mail servers the SMTP/POP3/IMAP clients are tested against.
    bash "$(dirname "${BASH_SOURCE[0]}")/../tests/mail/install.sh" || log "tests/mail/install.sh failed"
    # moto, the S3 server the object-storage backend is tested against.
    bash "$(dirname "${BASH_SOURCE[0]}")/../tests/s3/install.sh" || log "tests/s3/install.sh failed"
    # OpenSSH's sftp/scp and paramiko, the clients the SFTP front-end meets.
    bash "$(dirname "${BASH_SOURCE[0]}")/../tests/sftp/install.sh" || log "tests/sftp/install.sh failed"
    # Chromium + chromedriver, selenium, openapi-core and axe-core: the admin
    # console's browser and API tests.
    bash "$(dirname "${BASH_SOURCE[0]}")/../tests/console/install.sh" || log "tests/console/install.sh failed"
}

if [ "${#missing[@]}" -eq 0 ] && [ "$need_pytest" -eq 0 ]; then
    install_peers
    exit 0
fi

apt_updated=0
apt_install() {
    if [ "${SUDO[*]:-}" = none ]; then
        log "not root and no passwordless sudo: cannot install: $*"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "no apt-get on this machine: cannot install: $*"
        return 1
    fi
    # Wait up to 5 minutes for another apt/dpkg to release its lock.
    local apt_opts=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get "${apt_opts[@]}" update -qq
        apt_updated=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get "${apt_opts[@]}" install -y -qq \
        --no-install-recommends "$@" >/dev/null
}

if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}" || log "continuing without: ${missing[*]}"
fi

if [ "$need_pytest" -eq 1 ] && command -v python3 >/dev/null 2>&1; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        # Debian's python3 comes without pip; bring it in.
        apt_install python3-pip || true
    fi
    if python3 -m pip --version >/dev/null 2>&1; then
        log "pip install pytest"
        pip_opts=(--quiet --disable-pip-version-check)
        if [ "$(id -u)" -ne 0 ]; then
            pip_opts+=(--user)
        fi
        if ! python3 -m pip install "${pip_opts[@]}" pytest; then
            # PEP 668: Debian's own interpreter refuses pip installs outside a venv.
            log "pip refused (externally managed environment?); retrying with --break-system-packages"
            python3 -m pip install "${pip_opts[@]}" --break-system-packages pytest ||
                apt_install python3-pytest ||
                true
        fi
    else
        apt_install python3-pytest || true
    fi
    if ! python3 -c 'import pytest' >/dev/null 2>&1; then
        log "pytest is still not importable by $(command -v python3)"
    fi
fi

install_peers
exit 0
