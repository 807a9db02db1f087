#!/usr/bin/env bash
# Builds, on this machine, what benches/device/run.sh runs on a lent GPU machine (which
# has no Rust toolchain and reaches no registry): the release `grin` and `compare`
# binaries and the GPU test binaries, stripped, into .devbin/ (ignored by git; the
# device call carries it). Also downloads Debian's Vulkan/EGL/GL loader packages into
# .gl/ once (the NVIDIA containers have the driver's ICD but no loader).
#
#   bash benches/device/build.sh [--base REV]
#
# Then carry ".devbin" and ".gl" in the device call and run benches/device/run.sh.
# With --base REV, `compare` of commit REV is built too, into .devbin-base/ (carry
# it as well): run.sh then times that commit's GPU frames and this tree's in one call,
# interleaved.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = --base ]; then
  rev=$(git rev-parse --short "${2:?--base needs a commit}")
  wt=$(mktemp -d)
  git worktree add -q --detach "$wt" "$rev"
  # The same target folder: only the workspace's own crates build again.
  root=$PWD
  (cd "$wt" && CARGO_TARGET_DIR="$root/target" cargo build --release -p benches --bin compare)
  rm -rf .devbin-base && mkdir -p .devbin-base
  cp target/release/compare .devbin-base/
  strip .devbin-base/compare
  echo "$rev" > .devbin-base/rev
  git worktree remove --force "$wt"
fi

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

cargo build --release -p app -p benches --bin grin --bin compare
rm -rf .devbin && mkdir -p .devbin
cp target/release/grin target/release/compare .devbin/
# Test binaries: `cargo test --no-run` prints where each one is.
exe=$(cargo test --release -p renderer-core --test gpu --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
cp "$exe" .devbin/test-gpu
# The shader module tests (WGSL parses and validates) and the kernel probe (each shader
# leaf function against the CPU's) are in the library's unit tests.
exe=$(cargo test --release -p renderer-core --lib --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
cp "$exe" .devbin/test-probe
strip .devbin/*
# Where the binaries were built: tests find assets through this path.
pwd > .devbin/built-in
du -sh .devbin .gl
