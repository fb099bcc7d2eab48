#!/usr/bin/env bash
# The one test command for Wharf: formatting, lints, unit/integration tests,
# then interop tests that drive the real `wharfd` binary with Python's ftplib,
# curl, lftp, wget and raw sockets.
#
#   bash scripts/test.sh            # from anywhere inside the repo
#
# Environment:
#   CARGO_TARGET_DIR   default: $HOME/.cache/wharf-target
#   PYTEST_ARGS        extra arguments for pytest (e.g. "-k curl -x")
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wharf-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "install test dependencies"
bash scripts/install-test-deps.sh

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --workspace

step "cargo build -p wharfd -p wharf (and the client's exercise example)"
cargo build -p wharfd -p wharf
cargo build -p ftp-client --example exercise
cargo build -p mail --example pop3_drop
export WHARF_POP3_DROP="$CARGO_TARGET_DIR/debug/examples/pop3_drop"
export WHARFD="$CARGO_TARGET_DIR/debug/wharfd"
export WHARF="$CARGO_TARGET_DIR/debug/wharf"
export WHARF_EXERCISE="$CARGO_TARGET_DIR/debug/examples/exercise"
for bin in "$WHARFD" "$WHARF" "$WHARF_EXERCISE"; do
    if [ ! -x "$bin" ]; then
        echo "test.sh: $bin was not built" >&2
        exit 1
    fi
done

step "fuzz every parser a peer feeds (FUZZ_SECONDS=${FUZZ_SECONDS:-15} s each)"
bash scripts/fuzz.sh

step "interop tests (pytest tests/interop) against $WHARFD"
# shellcheck disable=SC2086  # PYTEST_ARGS is deliberately word-split
python3 -m pytest -q tests/interop tests/peers ${PYTEST_ARGS:-}

step "scale-out tests (pytest tests/scale): PostgreSQL accounts, two instances, PROXY protocol"
# shellcheck disable=SC2086
python3 -m pytest -q tests/scale ${PYTEST_ARGS:-}

step "interop tests on S3 storage (ftplib, curl and SFTP suites again, WHARF_TEST_STORAGE=s3, moto) and S3-specific tests"
# shellcheck disable=SC2086
# (of the two-session tests, those whose operations an object store has;
# the SFTP suite whole: what S3 cannot do is asserted refused there)
WHARF_TEST_STORAGE=s3 python3 -m pytest -q tests/interop/test_ftplib.py tests/interop/test_curl.py \
    tests/interop/test_sftp.py tests/interop/test_s3.py \
    tests/interop/test_two_sessions.py::test_stou_never_replaces_a_file_stored_meanwhile \
    tests/interop/test_two_sessions.py::test_rest_is_cleared_by_other_commands \
    tests/interop/test_two_sessions.py::test_lowered_quota_stops_a_running_upload ${PYTEST_ARGS:-}

step "news client tests (pytest tests/news) against INN"
# shellcheck disable=SC2086
python3 -m pytest -q tests/news ${PYTEST_ARGS:-}

step "mail client tests (pytest tests/mail) against dovecot + postfix"
# shellcheck disable=SC2086
python3 -m pytest -q tests/mail ${PYTEST_ARGS:-}

step "all tests passed"
