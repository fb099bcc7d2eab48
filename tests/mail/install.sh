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
# Waits for another apt/dpkg to release its lock (the apt steps are
# tests/common/apt.sh's). Needs root (or passwordless sudo); without it, it
# says what is missing and exits 1.
#   Usage: bash tests/mail/install.sh
set -euo pipefail

log() { printf 'mail/install: %s\n' "$*" >&2; }

PKGS=(dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix openssl)
BINS=(/usr/sbin/dovecot /usr/sbin/postfix /usr/lib/postfix/sbin/master /usr/bin/openssl)

# shellcheck source=../common/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../common/apt.sh"

check() {
    check_pkgs
    local f
    for f in "${BINS[@]}"; do
        [ -x "$f" ] || log "expected program missing: $f"
    done
}

check
if [ "${#missing[@]}" -eq 0 ]; then
    log "already installed: dovecot $(dpkg-query -W -f='${Version}' dovecot-core), postfix $(dpkg-query -W -f='${Version}' postfix) -- nothing to do"
    exit 0
fi
require_installer

t0=$(date +%s)
update_if_unknown

echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections

install_missing
check
fail_if_missing
log "installed dovecot + postfix in $(( $(date +%s) - t0 )) s$([ "$updated" -eq 1 ] && echo ', after apt-get update')"
