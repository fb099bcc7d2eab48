#!/usr/bin/env bash
# Builds the Debian packages of wharfd and wharf with cargo-deb (installed
# by scripts/install-test-deps.sh) into $CARGO_TARGET_DIR/debian/:
#
#   bash scripts/build-deb.sh                      # release build
#   WHARF_DEB_PROFILE=dev bash scripts/build-deb.sh  # from the debug build (tests)
#
# Before cargo-deb runs, the binaries write what is generated from their clap
# definitions (man pages wharfd(8) and wharf(1), completions for bash, zsh
# and fish) to $CARGO_TARGET_DIR/PROFILE-DIR/deb-assets/, where the
# [package.metadata.deb] assets of crates/wharfd and crates/wharf expect
# them; wharfd.toml(5) is written by hand (packaging/man/). Prints the paths
# of the two .deb files.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wharf-target}"
profile="${WHARF_DEB_PROFILE:-release}"
case "$profile" in
    dev) dir=debug ;;
    *) dir="$profile" ;;
esac

cargo build --quiet --profile "$profile" -p wharfd -p wharf
bin="$CARGO_TARGET_DIR/$dir"
assets="$bin/deb-assets"
rm -rf "$assets"
mkdir -p "$assets"
"$bin/wharfd" manpage | gzip -9n >"$assets/wharfd.8.gz"
"$bin/wharf" manpage | gzip -9n >"$assets/wharf.1.gz"
gzip -9n <packaging/man/wharfd.toml.5 >"$assets/wharfd.toml.5.gz"
for b in wharfd wharf; do
    "$bin/$b" completions bash >"$assets/$b.bash"
    "$bin/$b" completions zsh >"$assets/_$b"
    "$bin/$b" completions fish >"$assets/$b.fish"
done

out="$CARGO_TARGET_DIR/debian"
mkdir -p "$out"
for pkg in wharfd wharf; do
    cargo deb --quiet --no-build --profile "$profile" -p "$pkg" -o "$out/" >/dev/null
done
ls -1 "$out"/wharfd_*.deb "$out"/wharf_*.deb
