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
# fails with stale lists). Waits for another apt/dpkg to release its lock.
# Needs root (or passwordless sudo); without it, it reports what is missing and
# exits 1.  Usage: bash tests/news/install.sh
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log() { printf 'news/install: %s\n' "$*" >&2; }

PKGS=(inn2 openssl util-linux)

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
    local status p
    status="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null || true)"
    for p in "${PKGS[@]}"; do
        grep -qx "$p installed" <<<"$status" || missing+=("$p")
    done
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

if [ "${SUDO[*]:-}" = none ]; then
    log "not root and no passwordless sudo: cannot install: ${missing[*]}"
    exit 1
fi
command -v apt-get >/dev/null 2>&1 || { log "no apt-get: cannot install: ${missing[*]}"; exit 1; }

t0=$(date +%s)
APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)

# run "$@", retrying for up to 10 minutes while another apt/dpkg holds a lock
with_lock_retry() {
    local i out rc
    for i in $(seq 1 40); do
        if out="$("$@" 2>&1)"; then
            LAST_OUT="$out"; return 0
        else
            rc=$?
        fi
        LAST_OUT="$out"
        if grep -qi 'could not get lock\|unable to acquire the dpkg\|unable to lock\|dpkg frontend lock\|is locked by another process' <<<"$out"; then
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
    with_lock_retry "${SUDO[@]}" apt-get "${APT_OPTS[@]}" update -q || {
        printf '%s\n' "$LAST_OUT" >&2; log "apt-get update failed"; exit 1; }
    updated=1
}

# Update only when the lists do not know one of the packages.
need_update=0
for p in "${missing[@]}"; do
    cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then need_update=1; fi
done
[ "$need_update" -eq 1 ] && apt_update

install() {
    log "apt-get install ${missing[*]}"
    with_lock_retry "${SUDO[@]}" apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${missing[@]}"
}

fix_inn_postinst() {
    # inn2's postinst: "innconfval: hostname does not resolve or domain not set"
    [ -f /etc/news/inn.conf ] || return 1
    if ! grep -q '^domain:' /etc/news/inn.conf; then
        log "inn2's postinst failed (host name '$(hostname)' has no domain): adding 'domain: localdomain' to /etc/news/inn.conf"
        echo 'domain:                      localdomain' | "${SUDO[@]}" tee -a /etc/news/inn.conf >/dev/null
    fi
    log "dpkg --configure -a"
    with_lock_retry "${SUDO[@]}" dpkg --configure -a || { printf '%s\n' "$LAST_OUT" >&2; return 1; }
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
    # inn2 unpacked but its postinst failed (or an earlier run left it half-configured)
    fix_inn_postinst || true
    check
    if [ "${#missing[@]}" -ne 0 ]; then  # e.g. dpkg had been interrupted before: one more go
        install || true
        fix_inn_postinst || true
        check
    fi
fi
if [ "${#missing[@]}" -ne 0 ]; then
    printf '%s\n' "$LAST_OUT" | tail -n 30 >&2
    log "still not installed: ${missing[*]}"
    exit 1
fi
log "installed inn2 $(version) (+ openssl, util-linux) in $(( $(date +%s) - t0 )) s$([ "$updated" -eq 1 ] && echo ', after apt-get update')"
