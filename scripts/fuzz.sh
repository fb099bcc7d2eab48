#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a short while (FUZZ_SECONDS each,
# default 15) and fails if any finds a crash. Installs cargo-fuzz if missing.
# The machine's toolchain is stable; cargo-fuzz needs nightly flags, which
# RUSTC_BOOTSTRAP=1 allows.
#
#   bash scripts/fuzz.sh              # all targets, 15 s each
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh command
#
# A crash leaves its input in fuzz/artifacts/TARGET/; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-…
# and turn it into a regression test next to the parser.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/wharf-fuzz-target}"
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-15}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

cd fuzz
cargo fuzz build
for target in "${targets[@]}"; do
    echo "==> fuzz $target for ${seconds}s"
    log="$(mktemp)"
    if ! cargo fuzz run "$target" -- -max_total_time="$seconds" -max_len=4096 >"$log" 2>&1; then
        tail -40 "$log" >&2
        rm -f "$log"
        echo "fuzz.sh: $target found a crash; see fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E "^Done" "$log" || true
    rm -f "$log"
done
