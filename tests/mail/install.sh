#!/usr/bin/env bash
# Installs what tests/mail needs on Debian 12, and nothing when it is all there:
#
#   dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd
#               IMAP, POP3 and LMTP, run privately on 127.0.0.1 by mailserver.py
#   postfix     the SMTP server; it hands each message to dovecot's LMTP, so what
#               is sent over SMTP can be read back over POP3 and IMAP
#   openssl     the throw-away CA and server certificate made for each run
#
# apt never starts a service here (policy-rc.d says no), and mailserver.py uses
# no systemd. postfix asks one debconf question; we preseed "No configuration"
# (mailserver.py writes its own main.cf in a temp dir).
#
# Idempotent: one dpkg-query when everything is installed. apt-get update runs
# only when the package lists do not know a package or a download fails.
# Waits for another apt/dpkg to release its lock. Needs root (or passwordless
# sudo); without it, it says what is missing and exits 1.
#   Usage: bash tests/mail/install.sh
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log() { printf 'mail/install: %s\n' "$*" >&2; }

PKGS=(dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix openssl)
BINS=(/usr/sbin/dovecot /usr/sbin/postfix /usr/lib/postfix/sbin/master /usr/bin/openssl)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        SUDO=(none)
    fi
fi

missing=()
check() {
    missing=()
    local status p f
    status="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null || true)"
    for p in "${PKGS[@]}"; do
        grep -qx "$p installed" <<<"$status" || missing+=("$p")
    done
    for f in "${BINS[@]}"; do
        [ -x "$f" ] || log "expected program missing: $f"
    done
}

check
if [ "${#missing[@]}" -eq 0 ]; then
    log "already installed: dovecot $(dpkg-query -W -f='${Version}' dovecot-core), postfix $(dpkg-query -W -f='${Version}' postfix) -- nothing to do"
    exit 0
fi
if [ "${SUDO[*]:-}" = none ]; then
    log "not root and no passwordless sudo: cannot install: ${missing[*]}"
    exit 1
fi
command -v apt-get >/dev/null 2>&1 || { log "no apt-get: cannot install: ${missing[*]}"; exit 1; }

t0=$(date +%s)
APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
LAST_OUT=""

# "$@", retried for up to 10 minutes while another apt/dpkg holds its lock
retry_locked() {
    local i rc
    for i in $(seq 1 40); do
        if LAST_OUT="$("$@" 2>&1)"; then return 0; else rc=$?; fi
        if grep -qi 'could not get lock\|unable to acquire the dpkg\|unable to lock\|is locked by another process' <<<"$LAST_OUT"; then
            log "apt/dpkg lock busy, waiting 15 s ($i/40)"
            sleep 15
            continue
        fi
        return "$rc"
    done
    return 1
}

updated=0
apt_update() {
    [ "$updated" -eq 1 ] && return 0
    log "apt-get update"
    retry_locked "${SUDO[@]}" apt-get "${APT_OPTS[@]}" update -q ||
        { printf '%s\n' "$LAST_OUT" >&2; log "apt-get update failed"; exit 1; }
    updated=1
}

for p in "${missing[@]}"; do
    cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then apt_update; break; fi
done

echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections

install() {
    log "apt-get install ${missing[*]}"
    retry_locked "${SUDO[@]}" apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${missing[@]}"
}

if ! install; then
    if [ "$updated" -eq 0 ] && grep -q 'Unable to fetch\|Failed to fetch\|Unable to locate package\|has no installation candidate' <<<"$LAST_OUT"; then
        log "package lists look stale"
        apt_update
        install || true
    fi
fi
check
if [ "${#missing[@]}" -ne 0 ]; then
    printf '%s\n' "$LAST_OUT" | tail -n 30 >&2
    log "still not installed: ${missing[*]}"
    exit 1
fi
log "installed dovecot + postfix in $(( $(date +%s) - t0 )) s$([ "$updated" -eq 1 ] && echo ', after apt-get update')"
