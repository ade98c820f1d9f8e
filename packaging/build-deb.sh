#!/usr/bin/env bash
# Build target/debian/centerscope_<version>_amd64.deb:
#   1. cargo build --release --locked   (skipped with --no-build: CI packages the binary that
#                                         `cargo test --release --locked` already built)
#   2. the built binary writes the man pages and shell completions from its clap definitions
#      (`centerscope dist --out target/release/dist`, a hidden command)
#   3. cargo deb --no-build [--fast] packages them with the assets listed in Cargo.toml
#      ([package.metadata.deb]).
# Needs cargo-deb: `cargo install cargo-deb --locked --version 3.8.0`.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
deb_args=()
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --fast) deb_args+=(--fast) ;;  # lighter xz compression: bigger .deb, much less CPU (CI)
    *) echo "usage: $0 [--no-build] [--fast]" >&2; exit 2 ;;
  esac
done

if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-deb: cargo-deb is missing; install it with: cargo install cargo-deb --locked --version 3.8.0" >&2
  exit 1
fi

if [ "$build" = 1 ]; then
  cargo build --release --locked
fi
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/release/centerscope"
if [ ! -x "$bin" ]; then
  echo "build-deb: $bin is missing; run without --no-build (or cargo build --release --locked)" >&2
  exit 1
fi

dist="$target_dir/release/dist"
rm -rf "$dist"
# A fixed date in the man pages: the last commit's, so rebuilding the same commit gives the same files.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" \
  "$bin" dist --out "$dist"
gzip -9n "$dist"/man/*.1

cargo deb --no-build --locked "${deb_args[@]}"
ls -l "$target_dir"/debian/centerscope_*.deb
