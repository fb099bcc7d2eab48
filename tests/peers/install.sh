#!/usr/bin/env bash
# Installs the third-party FTP servers that tests/peers/peers.py starts, so
# that tests can run Wharf's FTP client against real peers on 127.0.0.1:
#
#   proftpd    Debian's proftpd-basic (proftpd-core + proftpd-mod-crypto for
#              mod_tls), installed normally; apt never starts it (policy-rc.d),
#              and peers.py runs it in the foreground with a config of its own.
#   vsftpd     \ Debian's packages, but NOT installed: they conflict with
#   pure-ftpd  / proftpd-core and with each other (all "Provides: ftp-server").
#              `apt-get download` + `dpkg -x` into $WHARF_PEERS_DIR/root
#              (default ~/.cache/wharf-peers/root); their shared libraries
#              (libwrap0, libcap2, libssl3, libpam0g, libsodium23, ...) are
#              installed with apt.
#   pyftpdlib  from PyPI, with `python3 -m pip` ($PYTHON overrides python3).
#
# Idempotent: when everything is present it only checks and exits 0 at once.
# Needs root (or passwordless sudo) to install anything; without it, it
# reports what is missing and exits 0, like scripts/install-test-deps.sh: the
# tests then fail with a message that names the missing piece.
#
# Usage: bash tests/peers/install.sh        (from anywhere)
set -euo pipefail

log() { printf 'peers/install: %s\n' "$*" >&2; }

PEERS_DIR="${WHARF_PEERS_DIR:-${HOME:-/root}/.cache/wharf-peers}"
ROOT="$PEERS_DIR/root"
PYTHON="${PYTHON:-python3}"
STAMP="$PEERS_DIR/installed.txt"

# Packages that must be *installed* (dpkg status "installed").
# proftpd-basic brings proftpd-core, proftpd-mod-crypto (mod_tls) and mod_wrap.
APT_PKGS=(
    proftpd-basic proftpd-mod-crypto
    # runtime libraries of the unpacked vsftpd and pure-ftpd
    libc6 libcap2 libssl3 libwrap0 libnsl2 libpam0g libpam-modules libpam-runtime
    libsodium23 libcrypt1
    # tools peers.py uses
    openssl passwd util-linux mount
)
# Packages that are only downloaded and unpacked into $ROOT.
UNPACKED_PKGS=(vsftpd pure-ftpd)

# ---------------------------------------------------------------- checks


missing_apt=()
check_apt() {
    missing_apt=()
    local p
    # One dpkg-query for all: much faster than one per package.
    local status
    status="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${APT_PKGS[@]}" 2>/dev/null || true)"
    for p in "${APT_PKGS[@]}"; do
        grep -qx "$p installed" <<<"$status" || missing_apt+=("$p")
    done
    [ -f /usr/lib/proftpd/mod_tls.so ] || {
        case " ${missing_apt[*]:-} " in *" proftpd-mod-crypto "*) ;; *) missing_apt+=(proftpd-mod-crypto) ;; esac
    }
}

unpacked_ok() {
    [ -x "$ROOT/usr/sbin/vsftpd" ] && [ -x "$ROOT/usr/sbin/pure-ftpd" ] &&
        [ -x "$ROOT/usr/bin/pure-pw" ] && [ -f "$STAMP" ] || return 1
    # Every shared library of the unpacked binaries must resolve.
    ! LC_ALL=C ldd "$ROOT/usr/sbin/vsftpd" "$ROOT/usr/sbin/pure-ftpd" "$ROOT/usr/bin/pure-pw" \
        2>&1 | grep -q 'not found'
}

pyftpdlib_ok() {
    command -v "$PYTHON" >/dev/null 2>&1 &&
        "$PYTHON" -c 'import pyftpdlib' >/dev/null 2>&1
}

check_apt
need_unpack=0; unpacked_ok || need_unpack=1
need_pip=0; pyftpdlib_ok || need_pip=1

if [ "${#missing_apt[@]}" -eq 0 ] && [ "$need_unpack" -eq 0 ] && [ "$need_pip" -eq 0 ]; then
    log "already installed: $(tr '\n' ' ' <"$STAMP")proftpd $(dpkg-query -W -f='${Version}' proftpd-core), pyftpdlib $("$PYTHON" -c 'import pyftpdlib; print(pyftpdlib.__ver__)' 2>/dev/null || echo '?') -- nothing to do"
    exit 0
fi

# ---------------------------------------------------------------- privileges

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        log "not root and no passwordless sudo; missing:" \
            "${missing_apt[*]:-}" \
            "$([ "$need_unpack" -eq 1 ] && echo "unpacked ${UNPACKED_PKGS[*]} in $ROOT")" \
            "$([ "$need_pip" -eq 1 ] && echo "pyftpdlib (pip)")"
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# Wait up to 5 minutes for another apt/dpkg to release its lock.
APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)

apt_updated=0
apt_update() {
    [ "$apt_updated" -eq 1 ] && return 0
    log "apt-get update"
    "${SUDO[@]}" apt-get "${APT_OPTS[@]}" update -qq
    apt_updated=1
}

# apt-get update is needed only when apt knows no candidate for a package
# (fresh machine with empty lists); a failed install/download is retried once
# after an update (stale lists pointing at versions no longer on the mirror).
need_update_for() {
    local p cand
    for p in "$@"; do
        cand="$(LC_ALL=C apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
        if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
            return 0
        fi
    done
    return 1
}

apt_retry() { # apt_retry CMD...: run, and on failure update lists and run again
    if ! "$@"; then
        if [ "$apt_updated" -eq 0 ]; then
            log "failed; refreshing the package lists and trying again"
            apt_update
            "$@"
        else
            return 1
        fi
    fi
}

t0=$(date +%s)

# ---------------------------------------------------------------- apt install
if [ "${#missing_apt[@]}" -gt 0 ] || [ "$need_unpack" -eq 1 ]; then
    if need_update_for "${missing_apt[@]}" $([ "$need_unpack" -eq 1 ] && echo "${UNPACKED_PKGS[@]}"); then
        apt_update
    fi
fi

if [ "${#missing_apt[@]}" -gt 0 ]; then
    log "apt-get install ${missing_apt[*]}"
    # policy-rc.d keeps the proftpd service from being started by the install.
    apt_retry "${SUDO[@]}" apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends \
        "${missing_apt[@]}" >/dev/null
fi

# ---------------------------------------------------------------- unpacked servers
if [ "$need_unpack" -eq 1 ]; then
    mkdir -p "$PEERS_DIR/debs"
    rm -f "$PEERS_DIR"/debs/*.deb
    log "apt-get download ${UNPACKED_PKGS[*]} -> $PEERS_DIR/debs"
    # APT::Sandbox::User=root: the _apt user may not be able to write to $HOME.
    (cd "$PEERS_DIR/debs" &&
        apt_retry "${SUDO[@]}" apt-get "${APT_OPTS[@]}" -o APT::Sandbox::User=root \
            download -qq "${UNPACKED_PKGS[@]}" >/dev/null)
    rm -rf "$ROOT.new"
    mkdir -p "$ROOT.new"
    : >"$PEERS_DIR/installed.new"
    for deb in "$PEERS_DIR"/debs/*.deb; do
        log "dpkg -x $(basename "$deb") -> $ROOT"
        dpkg-deb -x "$deb" "$ROOT.new"
        printf '%s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" \
            >>"$PEERS_DIR/installed.new"
    done
    rm -rf "$ROOT"
    mv "$ROOT.new" "$ROOT"
    mv "$PEERS_DIR/installed.new" "$STAMP"
    if ! unpacked_ok; then
        log "unpacked servers still miss shared libraries:"
        LC_ALL=C ldd "$ROOT/usr/sbin/vsftpd" "$ROOT/usr/sbin/pure-ftpd" 2>&1 | grep 'not found' >&2 || true
        exit 1
    fi
fi

# ---------------------------------------------------------------- pyftpdlib
if [ "$need_pip" -eq 1 ]; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        log "no $PYTHON on PATH: cannot install pyftpdlib"
        exit 1
    fi
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        log "apt-get install python3-pip"
        need_update_for python3-pip && apt_update
        apt_retry "${SUDO[@]}" apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends \
            python3-pip >/dev/null
    fi
    pip_opts=(--quiet --disable-pip-version-check --root-user-action=ignore)
    [ "$(id -u)" -ne 0 ] && pip_opts+=(--user)
    log "$PYTHON -m pip install pyftpdlib"
    if ! "$PYTHON" -m pip install "${pip_opts[@]}" pyftpdlib; then
        # PEP 668: Debian's own interpreter refuses pip installs outside a venv.
        log "pip refused (externally managed environment?); retrying with --break-system-packages"
        "$PYTHON" -m pip install "${pip_opts[@]}" --break-system-packages pyftpdlib
    fi
    pyftpdlib_ok || { log "pyftpdlib is still not importable by $PYTHON"; exit 1; }
fi

check_apt
if [ "${#missing_apt[@]}" -gt 0 ]; then
    log "still missing after install: ${missing_apt[*]}"
    exit 1
fi
log "done in $(( $(date +%s) - t0 )) s: $(tr '\n' ' ' <"$STAMP")proftpd $(dpkg-query -W -f='${Version}' proftpd-core), pyftpdlib $("$PYTHON" -c 'import pyftpdlib; print(pyftpdlib.__ver__)')"
