# shellcheck shell=bash
# Sourced by the install scripts: how to run a command as root here.
#   SUDO=()          we are root
#   SUDO=(sudo -n)   passwordless sudo works
#   SUDO=(none)      neither: the caller reports what it cannot install
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        SUDO=(none)
    fi
fi
