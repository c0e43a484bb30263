#!/usr/bin/env bash
# `npm run test:browser`: the browser entry (dist/browser.mjs) in headless Chromium.
#   1. installs Debian's chromium with apt-get when /usr/bin/chromium is missing (as root,
#      else through sudo; `apt-get update` first only when the install cannot find it)
#   2. builds dist/ (npm run build:ts) when dist/browser.mjs is missing or older than lib/;
#      the .wasm modules must be built already (npm run build:wasm)
#   3. runs scripts/browser-check.js: playwright-core drives that chromium (nothing is
#      downloaded) over a local HTTP server; TAP lines, then "# pass N" / "# fail N"
#
#   CHROMIUM=/usr/bin/chromium   the browser to use (skips the install when it exists)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
fail() { echo "test:browser: $*" >&2; exit 1; }

# ---- 1. chromium ------------------------------------------------------------------------
if [[ ! -x "$CHROMIUM" ]]; then
  [[ "$CHROMIUM" == /usr/bin/chromium ]] || fail "CHROMIUM=$CHROMIUM is not an executable"
  command -v apt-get >/dev/null || fail "no $CHROMIUM and no apt-get to install it; set CHROMIUM to a Chromium or Chrome"
  sudo=()
  [[ $EUID -ne 0 ]] && sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  echo "test:browser: apt-get install chromium"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium ||
    { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium; } ||
    fail "apt-get could not install chromium"
fi

# ---- 2. build ----------------------------------------------------------------------------
if [[ ! -f dist/browser.mjs || -n "$(find lib tsconfig.browser.json scripts/build-browser.js -newer dist/browser.mjs -print -quit)" ]]; then
  echo "test:browser: npm run build:ts"
  npm run --silent build:ts
fi
for module in dist/fused_attention.wasm dist/fused_attention_relaxed.wasm; do
  [[ -f "$module" ]] || fail "$module is missing: run npm run build:wasm (see README, The WebAssembly backend)"
done

# ---- 3. the checks -----------------------------------------------------------------------
exec node scripts/browser-check.js
