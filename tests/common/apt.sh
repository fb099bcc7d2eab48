# shellcheck shell=bash
# The apt-get steps of the install scripts of tests/mail and tests/news, sourced
# by them after they define log() (their prefix) and PKGS (the Debian packages):
#
#   SUDO               () as root, (sudo -n) with passwordless sudo, else (none): sudo.sh
#   check_pkgs         missing=(the PKGS dpkg does not list as installed)
#   require_installer  exit 1, saying why, when apt-get cannot run here
#   retry_locked CMD   CMD, retried for up to 10 minutes while another apt/dpkg
#                      holds its lock; its output in LAST_OUT
#   apt_update         apt-get update, once per run (updated=1 after it)
#   update_if_unknown  apt_update when the package lists do not know a missing package
#   install_missing    apt-get install the missing packages; when that fails on
#                      stale lists, apt-get update and try once more
#   apt_install        apt-get install the missing packages, once
#   fail_if_missing    exit 1 with the last apt output when packages are missing
export DEBIAN_FRONTEND=noninteractive

# shellcheck source=sudo.sh
. "$(dirname "${BASH_SOURCE[0]}")/sudo.sh"

APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
LAST_OUT=""
updated=0
missing=()

check_pkgs() {
    missing=()
    local status p
    status="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null || true)"
    for p in "${PKGS[@]}"; do
        grep -qx "$p installed" <<<"$status" || missing+=("$p")
    done
}

require_installer() {
    if [ "${SUDO[*]:-}" = none ]; then
        log "not root and no passwordless sudo: cannot install: ${missing[*]}"
        exit 1
    fi
    command -v apt-get >/dev/null 2>&1 || { log "no apt-get: cannot install: ${missing[*]}"; exit 1; }
}

retry_locked() {
    local i rc
    for i in $(seq 1 40); do
        if LAST_OUT="$("$@" 2>&1)"; then return 0; else rc=$?; fi
        if grep -qi 'could not get lock\|unable to acquire the dpkg\|unable to lock\|dpkg frontend lock\|is locked by another process' <<<"$LAST_OUT"; then
            log "apt/dpkg lock busy, waiting 15 s ($i/40)"
            sleep 15
            continue
        fi
        return "$rc"
    done
    return 1
}

apt_update() {
    [ "$updated" -eq 1 ] && return 0
    log "apt-get update"
    retry_locked "${SUDO[@]}" apt-get "${APT_OPTS[@]}" update -q ||
        { printf '%s\n' "$LAST_OUT" >&2; log "apt-get update failed"; exit 1; }
    updated=1
}

update_if_unknown() {
    local p cand
    for p in "${missing[@]}"; do
        cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
        if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then apt_update; return 0; fi
    done
}

apt_install() {
    log "apt-get install ${missing[*]}"
    retry_locked "${SUDO[@]}" apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${missing[@]}"
}

install_missing() {
    if ! apt_install; then
        if [ "$updated" -eq 0 ] && grep -q 'Unable to fetch\|Failed to fetch\|Unable to locate package\|has no installation candidate' <<<"$LAST_OUT"; then
            log "package lists look stale"
            apt_update
            apt_install || true
        fi
    fi
    return 0
}

fail_if_missing() {
    if [ "${#missing[@]}" -ne 0 ]; then
        printf '%s\n' "$LAST_OUT" | tail -n 30 >&2
        log "still not installed: ${missing[*]}"
        exit 1
    fi
}
