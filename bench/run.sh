#!/usr/bin/env bash
# Wharf benchmark suite: one command, from the repository root:
#
#     bash bench/run.sh
#
# It builds the release binaries (wharfd, wharf, and the load generator in
# bench/loadgen), installs the peers (tests/peers/install.sh: vsftpd,
# pure-ftpd, ProFTPD, pyftpdlib) and curl/lftp when missing, installs
# matplotlib into a venv for the chart, then runs bench/bench.py, which starts
# every contender itself on 127.0.0.1, measures, stops each by PID and writes
# bench/out/report.md, report.json and report.png (report.svg without
# matplotlib).
#
# Sizes come from the environment (see bench/README.md):
#     BENCH_BIG_MB=1024   big file for single-stream RETR/STOR and the clients
#     BENCH_QUICK=1       smoke run: small sizes, 1 run each (a minute or two)
#     BENCH_RUNS, BENCH_HEAVY_RUNS, BENCH_BURSTS, BENCH_IDLE, BENCH_SERVERS,
#     BENCH_SKIP, BENCH_WORK (default /var/tmp/wharf-bench), BENCH_OUT
#     BENCH_SFTP_MB, BENCH_SFTP_RUNS, BENCH_SFTP_SERVERS, BENCH_SFTP_IDLE,
#     BENCH_SFTP_CIPHER   the SFTP comparison (bench/sftp_bench.py)
#     BENCH_LOGIN_CLIENTS, BENCH_LOGIN_FLOOD, BENCH_LOGIN_RUNS, BENCH_LOGIN_SERVERS,
#     WHARFD_BEFORE       the password-login comparison (bench/login_bench.py)
#     BENCH_TREE_RUNS, BENCH_TREE_FILES, BENCH_TREE_DIRS, BENCH_MID_FILES, BENCH_TREE_SERVERS,
#     BENCH_TREE_FTPS, BENCH_TREE_CASE_TIMEOUT   the many-files comparison (bench/trees_bench.py)
#     BENCH_GUAR_RUNS, BENCH_GUAR_APPE_SECS, BENCH_GUAR_APPE_KB, BENCH_GUAR_APPE_SERVERS,
#     BENCH_GUAR_CLIENTS, BENCH_GUAR_UPLOAD_MB, BENCH_GUAR_STORES
#                         the costs of the guarantees (bench/guarantees_bench.py)
#     BENCH_CONSOLE_ACCOUNTS, BENCH_CONSOLE_SESSIONS, BENCH_CONSOLE_RUNS
#                         the admin console's timings (bench/console_bench.py)
#
# Needs root (the peers run sessions as a system account; apt installs).
set -euo pipefail

cd "$(dirname "$0")/.."
REPO="$PWD"
log() { printf 'bench/run: %s\n' "$*" >&2; }
t0=$(date +%s)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wharf-target}"

# 1000 clients and 10,000 idle sessions need descriptors: raise the soft
# limit to the hard one (servers started from here inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open files limit: $(ulimit -n)"

# ---------------------------------------------------------------- build
log "cargo build --release -p wharfd -p wharf"
cargo build --release -p wharfd -p wharf
log "cargo build --release (bench/loadgen)"
cargo build --release --manifest-path bench/loadgen/Cargo.toml
export WHARFD="$CARGO_TARGET_DIR/release/wharfd"
export WHARF="$CARGO_TARGET_DIR/release/wharf"
export LOADGEN="$CARGO_TARGET_DIR/release/wharf-bench-loadgen"

# ---------------------------------------------------------------- peers and clients
bash tests/peers/install.sh
missing=()
for tool in curl lftp dd; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
# The SFTP comparison (bench/sftp_bench.py) needs OpenSSH's sshd and
# sftp-server; the script starts its own sshd (own config, 127.0.0.1, a free
# port) and never uses the packaged service.
case ",${BENCH_SKIP:-}," in
    *,sftp,*) ;;
    *) [ -x /usr/sbin/sshd ] && [ -x /usr/lib/openssh/sftp-server ] || missing+=(openssh-server) ;;
esac
if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
          apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# ---------------------------------------------------------------- matplotlib (chart only)
VENV="${BENCH_VENV:-$HOME/.cache/wharf-bench/venv}"
CHART_PY=python3
if python3 -c 'import matplotlib' >/dev/null 2>&1; then
    CHART_PY=python3
elif [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import matplotlib' >/dev/null 2>&1; then
    CHART_PY="$VENV/bin/python"
else
    log "installing matplotlib into $VENV"
    if python3 -m venv "$VENV" >/dev/null 2>&1 &&
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check matplotlib >/dev/null 2>&1; then
        CHART_PY="$VENV/bin/python"
    else
        log "matplotlib could not be installed: the chart will be an SVG (report.svg)"
    fi
fi

# ---------------------------------------------------------------- run
OUT="${BENCH_OUT:-$REPO/bench/out}"
export BENCH_OUT="$OUT"
mkdir -p "$OUT"
python3 bench/bench.py
# SFTP: wharfd --sftp-listen against sshd + sftp-server with the same `sftp`
# client (bench/out/sftp-report.md); BENCH_SKIP=sftp skips it.
python3 bench/sftp_bench.py
# Password logins (issue 20): the 200-client password burst (first and
# repeated logins apart) and RSS around a flood of 1,000 password sessions,
# against the peers (bench/out/login-report.md); BENCH_SKIP=login skips it.
# WHARFD_BEFORE=/path/to/another/wharfd adds that build beside this one.
python3 bench/login_bench.py
"$CHART_PY" bench/login_bench.py --render || true    # the PNG chart, with matplotlib
# FTPS (issue 20): PROT P RETR/STOR of the big file against wharfd and the
# peers with TLS (their settings: bench/ftps/), TLS 1.3 and 1.2, beside two
# TLS limit lines (the load generator's rustls pair, a Python pipe) and
# openssl speed (bench/out/ftps-report.md); BENCH_SKIP=ftps skips it.
python3 bench/ftps_bench.py
# Many files (issue 20): lftp mirror (serial and --parallel=8, both ways) of
# 10,000 files of 4 KiB and 1,000 of 1 MiB against wharfd and the peers,
# plain and FTPS, and wharf mirror -j 8 (bench/out/trees-report.md);
# BENCH_SKIP=trees skips it.
python3 bench/trees_bench.py
# What the guarantees cost (issue 20): APPE alone and with a second
# appender (against vsftpd and pure-ftpd), and upload bursts with quota
# metering on SQLite, PostgreSQL and two instances sharing PostgreSQL
# (bench/out/guarantees-report.md); BENCH_SKIP=guarantees skips it.
bash tests/scale/install.sh
python3 bench/guarantees_bench.py
# The admin console with 1000 accounts and 200 live sessions: time per page
# and API call (bench/out/console-report.md); BENCH_SKIP=console skips it.
WHARFD="$CARGO_TARGET_DIR/release/wharfd" python3 bench/console_bench.py
"$CHART_PY" bench/chart.py "$OUT" || python3 bench/chart.py "$OUT" --svg
python3 bench/report.py "$OUT" >/dev/null     # re-render: the report links the chart that exists
log "done in $(( $(date +%s) - t0 )) s: $OUT/report.md, report.json, $(ls "$OUT" | grep -E '^report\.(png|svg)$' | tr '\n' ' ')"
