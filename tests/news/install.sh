#!/usr/bin/env bash
# Installs what tests/news needs on Debian 12, and nothing when it is all there:
#
#   inn2        INN 2.7: innd + nnrpd, run privately on 127.0.0.1 by inn.py
#               (apt never starts it: policy-rc.d; inn.py uses no systemd)
#   openssl     throw-away CA + server certificate for NNTPS / STARTTLS
#   util-linux  setpriv (innd refuses to run as root; it runs as user news)
#
# inn2's postinst fails when the host name has no domain part ("vm"):
#   innconfval: hostname does not resolve or domain not set in inn.conf
# We let that happen, add "domain: localdomain" to /etc/news/inn.conf and
# finish with dpkg --configure -a.
#
# Idempotent and quick (one dpkg-query) when installed. apt-get update runs only
# when the package lists are missing or do not know a package (or a download
# fails with stale lists). Waits for another apt/dpkg to release its lock (the
# apt steps are tests/common/apt.sh's).
# Needs root (or passwordless sudo); without it, it reports what is missing and
# exits 1.  Usage: bash tests/news/install.sh
set -euo pipefail

log() { printf 'news/install: %s\n' "$*" >&2; }

PKGS=(inn2 openssl util-linux)

# shellcheck source=../common/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../common/apt.sh"

check() {
    check_pkgs
    # The binaries inn.py runs must be there too.
    local f
    for f in /usr/lib/news/bin/innd /usr/lib/news/bin/nnrpd /usr/lib/news/bin/rnews \
             /usr/lib/news/bin/makedbz /usr/lib/news/bin/ctlinnd; do
        [ -x "$f" ] || { case " ${missing[*]:-} " in *" inn2 "*) ;; *) missing+=(inn2) ;; esac; }
    done
    return 0
}

version() { dpkg-query -W -f='${Version}' inn2 2>/dev/null || echo '?'; }

check
if [ "${#missing[@]}" -eq 0 ]; then
    log "already installed: inn2 $(version), openssl, setpriv -- nothing to do"
    exit 0
fi
require_installer

t0=$(date +%s)
# Update only when the lists do not know one of the packages.
update_if_unknown

fix_inn_postinst() {
    # inn2's postinst: "innconfval: hostname does not resolve or domain not set"
    [ -f /etc/news/inn.conf ] || return 1
    if ! grep -q '^domain:' /etc/news/inn.conf; then
        log "inn2's postinst failed (host name '$(hostname)' has no domain): adding 'domain: localdomain' to /etc/news/inn.conf"
        echo 'domain:                      localdomain' | "${SUDO[@]}" tee -a /etc/news/inn.conf >/dev/null
    fi
    log "dpkg --configure -a"
    retry_locked "${SUDO[@]}" dpkg --configure -a || { printf '%s\n' "$LAST_OUT" >&2; return 1; }
}

install_missing
check
if [ "${#missing[@]}" -ne 0 ]; then
    # inn2 unpacked but its postinst failed (or an earlier run left it half-configured)
    fix_inn_postinst || true
    check
    if [ "${#missing[@]}" -ne 0 ]; then  # e.g. dpkg had been interrupted before: one more go
        apt_install || true
        fix_inn_postinst || true
        check
    fi
fi
fail_if_missing
log "installed inn2 $(version) (+ openssl, util-linux) in $(( $(date +%s) - t0 )) s$([ "$updated" -eq 1 ] && echo ', after apt-get update')"
