'use strict';
// `npm run prebuild`: the shipped prebuilds, cross-compiled from any x86-64 Linux
// machine with zig (fetched on demand, scripts/zig.js) by scripts/build-addon.js.
// One Node-API binary per platform serves every supported Node version; build/ is
// never touched, so a dev build, or a test suite that has it loaded, keeps working.
//
//   node scripts/prebuild.js                        the shipped prebuilds (SHIPPED below)
//   node scripts/prebuild.js linux-x64 win32-x64    the named ones
//   node scripts/prebuild.js --check                compile and link every other target
//                                                   (npm run check:cross); nothing is kept
const path = require('node:path');
const { buildAddon } = require('./build-addon');

const root = path.join(__dirname, '..');

// Names are node-gyp-build's <platform>-<arch> directories; `file` is where the loader
// looks (a libc tag on Linux, none on Windows). Targets without a file are only
// compiled and linked, so the sources stay portable to them.
const TARGETS = {
  // glibc 2.17 (CentOS 7, 2014) is as old as zig's libc stubs allow for arm64 and far
  // below every distribution Node 18 supports; scripts/audit-prebuilds.js enforces it.
  'linux-x64': { triple: 'x86_64-linux-gnu.2.17', gypOs: 'linux', arch: 'x64', file: 'prebuilds/linux-x64/node.napi.glibc.node' },
  'linux-arm64': { triple: 'aarch64-linux-gnu.2.17', gypOs: 'linux', arch: 'arm64', file: 'prebuilds/linux-arm64/node.napi.glibc.node' },
  'win32-x64': { triple: 'x86_64-windows-gnu', gypOs: 'win', arch: 'x64', file: 'prebuilds/win32-x64/node.napi.node' },
  'darwin-x64': { triple: 'x86_64-macos', gypOs: 'mac', arch: 'x64' },
  'darwin-arm64': { triple: 'aarch64-macos', gypOs: 'mac', arch: 'arm64' },
  'linux-x64-musl': { triple: 'x86_64-linux-musl', gypOs: 'linux', arch: 'x64' },
  'linux-arm64-musl': { triple: 'aarch64-linux-musl', gypOs: 'linux', arch: 'arm64' },
};
const SHIPPED = Object.keys(TARGETS).filter((name) => TARGETS[name].file);
const CHECKED = Object.keys(TARGETS).filter((name) => !TARGETS[name].file);

async function main(args) {
  const names = args.includes('--check') ? CHECKED : args.length > 0 ? args : SHIPPED;
  const unknown = names.filter((name) => !TARGETS[name]);
  if (unknown.length > 0) throw new Error(`prebuild: unknown target ${unknown.join(', ')}; known: ${Object.keys(TARGETS).join(', ')}`);
  for (const name of names) {
    const { triple, gypOs, arch, file } = TARGETS[name];
    const started = Date.now();
    const { size } = await buildAddon({ triple, gypOs, arch, output: file ? path.join(root, file) : null });
    const what = file ?? 'compiled and linked, not kept';
    console.log(`prebuild: ${name} (${triple}) → ${what}, ${(size / 1024).toFixed(0)} KiB, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

module.exports = { TARGETS, SHIPPED };

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
