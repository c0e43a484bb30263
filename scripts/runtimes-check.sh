#!/usr/bin/env bash
# `npm run test:runtimes`: the packed package under Bun and Deno, with Node as the baseline.
#   1. fetches Bun (@oven/bun-linux-x64) and Deno (@deno/linux-x64-glibc) from the npm registry
#      into .cache/runtimes/
#   2. builds dist/ and, when missing or older than its sources, the linux-x64 prebuild
#   3. packs the package and installs the tarball into a fresh project with npm, install script
#      included: it must find the prebuild and compile nothing; and into another with bun add,
#      which blocks the install script
#   4. runs, under node, bun and deno, test/runtimes/smoke.mjs (the ESM entry: native backend,
#      attention, attentionAsync, MultiHeadAttention, a KvCache decode step, each against the
#      float64 oracle) and the emulated suite test/emulated/*.test.mjs (node:test, the CommonJS entry:
#      every ISA x 1 and 2 threads), both against the installed package; the smoke test again
#      on the WebAssembly backend (FUSED_ATTENTION_BACKEND=wasm) under each runtime; and once
#      more under deno without --allow-env, where the wasm backend must run and say why
# Ends with "# pass N" / "# fail N" totals over every check and exits non-zero on any failure.
#
#   FA_BUN_VERSION=1.4.5    the Bun to test with
#   FA_DENO_VERSION=2.9.6   the Deno to test with
#   FA_RUNTIMES_CACHE=.cache/runtimes
#   KEEP=1                  keep the project directory and print its path
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bun_version="${FA_BUN_VERSION:-1.4.5}"
deno_version="${FA_DENO_VERSION:-2.9.6}"
cache="${FA_RUNTIMES_CACHE:-$root/.cache/runtimes}"
# The least Deno needs for the native addon: files (package.json, the prebuild), dlopen, and
# the FUSED_ATTENTION_* and node-gyp-build variables. Without --allow-sys the loader cannot read
# the process report, so it skips its glibc/musl check (nothing else changes).
deno_permissions=(--allow-read --allow-ffi --allow-env)
start=$SECONDS
label=test:runtimes
source "$root/scripts/check-lib.sh"

[[ "$(uname -s)" == Linux && "$(uname -m)" == x86_64 ]] || fail "needs x86-64 Linux with glibc (the runtimes' npm packages and the prebuild)"

# ---- 1. runtimes ----------------------------------------------------------------------
# Bun's default build needs AVX2; its baseline build runs on any x86-64.
bun_package=@oven/bun-linux-x64
grep -qw avx2 /proc/cpuinfo || bun_package=@oven/bun-linux-x64-baseline
bun="$cache/${bun_package#@oven/}-$bun_version/bun"
deno="$cache/deno-$deno_version/deno"
fetch_npm_file "$bun_package" "$bun_version" bin/bun "$bun"
fetch_npm_file @deno/linux-x64-glibc "$deno_version" deno "$deno"
export DENO_DIR="$cache/deno-dir" DENO_NO_UPDATE_CHECK=1 BUN_INSTALL_CACHE_DIR="$cache/bun-install-cache" NO_COLOR=1

# ---- 2. build ------------------------------------------------------------------------
prebuild="prebuilds/linux-x64/node.napi.glibc.node"
fresh_prebuild linux-x64 "$prebuild"

# ---- 3. pack and install -------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/fa-runtimes.XXXXXX")"
cleanup() { if [[ "${KEEP:-0}" == 1 ]]; then echo "test:runtimes: kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
# The nested npm reads its own configuration, not the one `npm run` exported; the smoke
# test must find the native backend without being told to.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(npm_|FUSED_ATTENTION_|INIT_CWD$)' || true)
# dist/ and the prebuild are fresh, so prepack (which rebuilds every prebuild) is skipped.
tarball="$work/$(npm pack --silent --ignore-scripts --pack-destination "$work" | tail -1)"
[[ -f "$tarball" ]] || fail "npm pack wrote no tarball"
new_project() { # new_project <dir>: a package.json and the tests (smoke.mjs imports the oracle from ../oracle)
  mkdir -p "$1/test"
  echo '{ "name": "fa-runtimes-smoke", "version": "1.0.0", "private": true }' >"$1/package.json"
  cp -R test/runtimes test/oracle test/emulated "$1/test/"
}
project="$work/project"
new_project "$project"
echo "test:runtimes: npm install $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
(cd "$project" && npm install "$tarball" --prefer-offline --no-audit --no-fund --no-update-notifier --foreground-scripts) >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "npm install of the tarball failed"; }

record() { # record <ok> <name>
  if [[ "$1" == 1 ]]; then pass=$((pass + 1)); echo "ok - $2"; else failed=$((failed + 1)); echo "not ok - $2"; fi
  total=$((total + 1))
}
installed="$project/node_modules/fused-attention"
installed_ok=0
grep -q '^> node-gyp-build' "$work/install.log" && [[ -f "$installed/$prebuild" && ! -e "$installed/build" ]] && installed_ok=1
record $installed_ok "npm install ran the install script, which found $prebuild and compiled nothing"
[[ $installed_ok == 1 ]] || sed 's/^/  /' "$work/install.log"
# Bun's own installer runs no install script of a dependency it does not trust ("Blocked 1
# postinstall"): the package must still find its prebuild when it loads.
bun_project="$work/bun-project"
new_project "$bun_project"
(cd "$bun_project" && "$bun" add --no-progress "$tarball") >"$work/bun-add.log" 2>&1 ||
  { sed 's/^/  /' "$work/bun-add.log" >&2; fail "bun add of the tarball failed"; }
echo "test:runtimes: bun add $(basename "$tarball"): $(grep -m1 -i 'blocked' "$work/bun-add.log" || echo 'it ran the install script')"

# ---- 4. the smoke test and the emulated suite under each runtime ------------------------
# counts <format> <log>: "passed failed" from a run's output, empty when it has no summary.
counts() {
  case "$1" in
    tap) awk '/^# pass /{p=$3} /^# fail /{f=$3} END{if (p != "" && f != "") print p, f}' "$2" ;;
    bun) awk '/^ *[0-9]+ pass$/{p=$1} /^ *[0-9]+ fail$/{f=$1} END{if (p != "" && f != "") print p, f}' "$2" ;;
    # Deno's TAP nests node:test's tests as subtests; a leaf is a result line that does not close a plan.
    deno-tap) awk '/^ *ok /{if (prev !~ /^ *1\.\.[0-9]+$/) p++} /^ *not ok /{if (prev !~ /^ *1\.\.[0-9]+$/) f++}
                   /^ *(not )?ok |^ *1\.\./{prev=$0} END{if (p + f > 0) print p + 0, f + 0}' "$2" ;;
  esac
}
run_checks() { # run_checks <label> <counts format> <project directory> <command...>
  local label="$1" format="$2" dir="$3" log="$work/${1// /-}.log" code result p f
  shift 3
  echo "== $label: $*"
  set +e
  (cd "$dir" && timeout 300 "$@") >"$log" 2>&1
  code=$?
  set -e
  result="$(counts "$format" "$log")"
  p="${result% *}" f="${result#* }"
  # The smoke tests' few lines always; of a suite that failed, the failures (node, deno: "not ok"
  # then the error; bun: the error then "(fail)"), or its end when it stopped without a summary.
  # Indented, so only this script's own totals start a line with "# pass" (.ci/run adds those up).
  if [[ "$label" == *smoke* ]]; then
    sed 's/^/  /' "$log"
  elif [[ -z "$result" ]]; then
    tail -n 40 "$log" | sed 's/^/  /'
  elif [[ $code -ne 0 ]]; then
    grep -E -B 12 -A 12 '^ *not ok |^\(fail\) ' "$log" | head -n 120 | sed 's/^/  /'
  fi
  if [[ -z "$result" ]]; then
    echo "test:runtimes: $label ended without a summary (exit $code)" >&2
    p=0 f=1
  elif [[ $code -ne 0 && $f -eq 0 ]]; then
    echo "test:runtimes: $label exited with $code$([[ $code == 124 ]] && echo ' (timed out: something kept it alive)')" >&2
    f=1
  fi
  echo "   $label: $p passed, $f failed"
  pass=$((pass + p)) failed=$((failed + f)) total=$((total + p + f))
}
smoke=(test/runtimes/smoke.mjs)
# The emulated suite (node:test) against the installed package: every ISA x 1 and 2 threads.
suite=(env FUSED_ATTENTION_PACKAGE_DIR="$installed" FUSED_ATTENTION_BACKEND=native)

wasm=(env FUSED_ATTENTION_BACKEND=wasm)
run_checks "node smoke" tap "$project" node "${smoke[@]}"
run_checks "node smoke, wasm" tap "$project" "${wasm[@]}" node "${smoke[@]}" --backend wasm
run_checks "node suite" tap "$project" "${suite[@]}" node --test --test-reporter=tap test/emulated/
run_checks "bun smoke" tap "$project" "$bun" "${smoke[@]}"
run_checks "bun smoke, bun add" tap "$bun_project" "$bun" "${smoke[@]}"
run_checks "bun smoke, wasm" tap "$project" "${wasm[@]}" "$bun" "${smoke[@]}" --backend wasm
run_checks "bun suite" bun "$project" "${suite[@]}" "$bun" test ./test/emulated/
run_checks "deno smoke" tap "$project" "$deno" run --no-lock "${deno_permissions[@]}" "${smoke[@]}"
run_checks "deno smoke, wasm" tap "$project" "${wasm[@]}" "$deno" run --no-lock "${deno_permissions[@]}" "${smoke[@]}" --backend wasm
# As the README says: without --allow-env nothing throws, the WebAssembly backend runs and says why.
run_checks "deno smoke, no --allow-env" tap "$project" "$deno" run --no-lock --allow-read --allow-ffi "${smoke[@]}" --backend wasm --reason 'Requires env access'
# --allow-run: the loading test starts a child (process.execPath -e) to try FUSED_ATTENTION_ISA.
run_checks "deno suite" deno-tap "$project" "${suite[@]}" "$deno" test --no-lock --reporter=tap "${deno_permissions[@]}" --allow-run test/emulated/

print_totals "Node $(node -v), Bun $bun_version, Deno $deno_version"
